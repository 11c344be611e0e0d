"""Every choice list of racingline, in one place: each a ``Literal`` type and the tuple of its values.

Config validation, the simulator, training and the CLI all read these; none repeats a list.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = [
    "ObsMode", "OBS_MODES", "Renderer", "RENDERERS", "RewardName", "REWARDS", "Activation", "ACTIVATIONS",
    "LrSchedule", "LR_SCHEDULES", "LineMethod", "LINE_METHODS", "LINE_ORIGINS", "Device", "DEVICES",
    "VecEnvKind", "VEC_ENV_KINDS", "ActionSpaceType", "ACTION_SPACE_TYPES", "DriverKind", "DRIVER_KINDS",
    "RANDOM_TRACK", "GENERATED_TRACK", "SPECIAL_MEMBERS", "SimName", "SIMS",
    "SpaceDistribution", "SPACE_DISTRIBUTIONS", "SweepObjective", "SWEEP_OBJECTIVES",
]

#: What the agent sees: CarRacing's car-centred image, or the physics feature vector.
ObsMode = Literal["pixels", "features"]
OBS_MODES: tuple[str, ...] = get_args(ObsMode)
#: How pixel observations are drawn: NumPy sampling of a pre-rasterised road, or CarRacing's pygame drawing.
Renderer = Literal["fast", "pygame"]
RENDERERS: tuple[str, ...] = get_args(Renderer)
#: Built-in rewards: CarRacing's tile reward, or signed centerline progress.
RewardName = Literal["tiles", "progress"]
REWARDS: tuple[str, ...] = get_args(RewardName)
#: Hidden-layer activations of the PPO networks (torch.nn classes of the same name).
Activation = Literal["gelu", "relu", "tanh"]
ACTIVATIONS: tuple[str, ...] = get_args(Activation)
#: Learning-rate schedule: linear decay to 0 over training, or constant.
LrSchedule = Literal["linear", "constant"]
LR_SCHEDULES: tuple[str, ...] = get_args(LrSchedule)
Device = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[str, ...] = get_args(Device)
#: ``split``: env 0 in the trainer, the rest in subprocesses; ``auto``: split when n_envs > 1.
VecEnvKind = Literal["auto", "split", "subproc", "dummy"]
VEC_ENV_KINDS: tuple[str, ...] = get_args(VecEnvKind)
#: DeepRacer's ``action_space_type`` in ``model_metadata.json``: a list of actions, or steering/speed ranges.
ActionSpaceType = Literal["discrete", "continuous"]
ACTION_SPACE_TYPES: tuple[str, ...] = get_args(ActionSpaceType)

#: Who drives a recording (racingline record --driver): the line controller, a trained model, or a person.
DriverKind = Literal["line", "model", "human"]
DRIVER_KINDS: tuple[str, ...] = get_args(DriverKind)

#: Racing-line optimisers (racingline.lines.optimize): the centerline itself, minimum curvature (a QP),
#: the community's K1999 iteration, the shortest path, and the fastest line by the lap-time estimate.
LineMethod = Literal["centerline", "mincurv", "k1999", "shortest", "mintime"]
LINE_METHODS: tuple[str, ...] = get_args(LineMethod)
#: How a line file was made: an optimiser, or a lap driven by an agent (racingline line extract).
LINE_ORIGINS: tuple[str, ...] = (*LINE_METHODS, "extracted")

#: The simulator of an env (``env.sim``): Gymnasium's CarRacing (Box2D) or TORCS (racingline.torcs).
SimName = Literal["carracing", "torcs"]
SIMS: tuple[str, ...] = get_args(SimName)

#: Distributions of a sweep's search space (racingline.sweep.space), as written in space.yaml:
#: ``loguniform(lo, hi)``, ``uniform(lo, hi)``, ``quniform(lo, hi, q)``, ``randint(lo, hi)`` (both ends
#: included), ``choice([a, b, ...])``.
SpaceDistribution = Literal["loguniform", "uniform", "quniform", "randint", "choice"]
SPACE_DISTRIBUTIONS: tuple[str, ...] = get_args(SpaceDistribution)
#: What a sweep maximises (racingline.sweep.objective): laps completed on the held-out tracks, then lap
#: time; mean progress; or mean episode reward.
SweepObjective = Literal["laps", "progress", "reward"]
SWEEP_OBJECTIVES: tuple[str, ...] = get_args(SweepObjective)

#: Pool member standing for CarRacing's procedural random track (a new one every episode).
RANDOM_TRACK = "random"
#: Pool member standing for a newly generated DeepRacer-like track (:mod:`racingline.tracks.generator`).
GENERATED_TRACK = "generated"
#: Pool members that are not files.
SPECIAL_MEMBERS: tuple[str, ...] = (RANDOM_TRACK, GENERATED_TRACK)
