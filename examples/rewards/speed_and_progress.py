"""A speed and progress reward, from the examples of AWS DeepRacer's reward-function input reference
(AWS DeepRacer Developer Guide, "Input parameters of the AWS DeepRacer reward function"): its ``speed``
example (a high reward at or above a speed threshold while all wheels are on the track) and its
``progress``/``steps`` example (a bonus every 100 steps when the lap is ahead of a target pace), added.

    racingline train --config deepracer --reward examples/rewards/speed_and_progress.py

``TOTAL_NUM_STEPS`` is the docs' 300 steps per lap; at ``configs/deepracer.yaml``'s 16.7 steps/s that is an
18 s lap. ``speed`` is the car's measured speed (m/s) here, DeepRacer's is the action's target speed.
"""


def reward_function(params):
    '''
    Example of using speed and progress: go fast while on the track, and ahead of a lap-time target
    '''

    # Read input variables
    all_wheels_on_track = params['all_wheels_on_track']
    speed = params['speed']
    steps = params['steps']
    progress = params['progress']

    # Set the speed threshold based your action space
    SPEED_THRESHOLD = 1.0

    # Total num of steps we want the car to finish the lap, it will vary depends on the track length
    TOTAL_NUM_STEPS = 300

    if not all_wheels_on_track:
        # Penalize if the car goes off track
        reward = 1e-3
    elif speed < SPEED_THRESHOLD:
        # Penalize if the car goes too slow
        reward = 0.5
    else:
        # High reward if the car stays on track and goes fast
        reward = 1.0

    # Give additional reward if the car pass every 100 steps faster than expected
    if (steps % 100) == 0 and progress > (steps / TOTAL_NUM_STEPS) * 100:
        reward += 10.0

    return float(reward)
