"""AWS DeepRacer's example 2, "Stay inside the two borders in time trials" (AWS DeepRacer Developer Guide,
"AWS DeepRacer reward function examples"), unchanged.

    racingline train --config deepracer --reward examples/rewards/stay_inside_borders.py

Here ``all_wheels_on_track`` follows racingline's road (half DeepRacer's ``track_width``), so it is the
test that binds; the distance test uses DeepRacer's full width.
"""


def reward_function(params):
    '''
    Example of rewarding the agent to stay inside the two borders of the track
    '''

    # Read input parameters
    all_wheels_on_track = params['all_wheels_on_track']
    distance_from_center = params['distance_from_center']
    track_width = params['track_width']

    # Give a very low reward by default
    reward = 1e-3

    # Give a high reward if no wheels go off the track and
    # the agent is somewhere in between the track borders
    if all_wheels_on_track and (0.5 * track_width - distance_from_center) >= 0.05:
        reward = 1.0

    # Always return a float value
    return float(reward)
