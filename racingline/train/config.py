"""Training configs: frozen dataclasses, YAML loading with validation, and ``key=value`` overrides.

A config file is YAML with the sections ``env``, ``ppo``, ``eval``, ``demos`` and ``select`` and a few
top-level keys (see
``configs/seed.yaml`` for every key). Unknown keys and wrong types are :class:`ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from racingline.choices import ACTIVATIONS, DEVICES, LR_SCHEDULES, OBS_MODES, RENDERERS, REWARDS, SIMS, VEC_ENV_KINDS
from racingline.errors import ConfigError
from racingline.io import atomic_write_text
from racingline.resources import CONFIGS_DIR

__all__ = [
    "EnvConfig",
    "PPOConfig",
    "EvalConfig",
    "DemosConfig",
    "SelectConfig",
    "Config",
    "SECTIONS",
    "ConfigError",
    "load_config",
    "config_from_dict",
    "config_to_dict",
    "apply_overrides",
    "save_config",
    "env_kwargs",
    "env_settings",
    "resolve_track_pool",
    "CONFIGS_DIR",
]

#: The project's ``configs/`` folder.


@dataclass(frozen=True)
class EnvConfig:
    """How each training environment is built (keyword arguments of :func:`racingline.make_env`)."""

    #: The simulator: ``carracing`` (Gymnasium's CarRacing, DeepRacer tracks) or ``torcs`` (TORCS:
    #: ``track`` holds TORCS tracks like ``road/g-track-1`` or a race file ``.yaml``; see racingline.torcs).
    sim: str = "carracing"
    #: A track name/path, a glob, ``random`` (CarRacing's procedural tracks), ``generated``, or a list (a pool).
    track: str | list[str] = "random"
    #: Sampling weights of the pool members (same length as ``track``), or null for equal weights.
    track_weights: list[float] | None = None
    #: A ``generated`` pool member makes a new track every this many of its episodes.
    generated_every: int = 1
    #: Road width of ``generated`` tracks, metres: ``[lo, hi]`` (each new track's drawn uniformly), or null
    #: for DeepRacer's 1.07 m.
    generated_width_m: list[float] | None = None
    obs: str = "pixels"
    renderer: str = "fast"
    frame_skip: int = 2
    size: int = 64
    grayscale: bool = True
    frame_stack: int = 4
    continuous: bool = False
    #: ``tiles``, ``progress``, or a DeepRacer reward file: a path ending in ``.py`` that defines
    #: ``reward_function(params)`` (racingline.deepracer; relative as ``action_space`` is; loaded when the
    #: config is read, then held as an absolute path).
    reward: str = "tiles"
    terminate_on_off_track: bool = False
    off_track_penalty: float = -100.0
    #: Agent steps before truncation; null = 60 s of simulated time.
    max_episode_steps: int | None = None
    #: Waypoint index to start from, or ``random``.
    start_waypoint: int | str = 0
    #: Drive the track reversed: true, false or ``random`` (per episode).
    reverse: bool | str = False
    #: A DeepRacer ``model_metadata.json`` (discrete actions or continuous ranges of steering angle and
    #: speed), or null for CarRacing's own actions (``continuous``). A relative path in a config file is
    #: relative to that file's folder; on the command line, to the working folder. Checked when the config
    #: is read; the config then holds the absolute path.
    action_space: str | None = None


@dataclass(frozen=True)
class PPOConfig:
    """Stable-Baselines3 PPO hyperparameters."""

    policy: str = "MlpPolicy"
    learning_rate: float = 1e-4
    #: ``linear`` (decays to 0 over training, the tutorial's) or ``constant``.
    lr_schedule: str = "linear"
    n_steps: int = 512
    batch_size: int = 128
    n_epochs: int = 10
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    #: ``gelu``, ``relu`` or ``tanh``.
    activation: str = "gelu"
    net_arch_pi: list[int] = field(default_factory=lambda: [256])
    net_arch_vf: list[int] = field(default_factory=lambda: [256])
    ortho_init: bool = False
    #: Pixel observations only: average-pool the image by this factor before the network (1 = off).
    pixel_pool: int = 1
    #: With ``pixel_pool``: this many bottom rows of the image go to the network unpooled (CarRacing's
    #: indicator bar is the bottom 8 of 64 rows; 0 = pool every row).
    pixel_full_rows: int = 0
    #: ``auto``, ``cpu`` or ``cuda``.
    device: str = "auto"


@dataclass(frozen=True)
class EvalConfig:
    """Defaults of ``racingline eval`` for runs trained with this config."""

    tracks: list[str] = field(default_factory=lambda: ["rounded_rectangle", "kidney", "s_bend"])
    episodes: int = 1
    #: Agent steps per evaluation episode; null = the env's own limit.
    max_steps: int | None = None


@dataclass(frozen=True)
class DemosConfig:
    """Demonstrations ``racingline train`` records and clones into the policy before PPO starts.

    With ``episodes`` > 0 a new run first records that many episodes of ``driver`` (a line controller,
    ``line:METHOD``; :func:`racingline.record.recorder.record_dataset`) on ``tracks`` into ``RUN/demos/``,
    then clones them (:mod:`racingline.record.bc`) with ``dagger_rounds`` rounds of DAgger, as
    ``racingline record`` followed by ``racingline train --pretrain`` would. A resumed run is not pretrained
    again; ``--pretrain DATASET`` uses that dataset instead of recording one.
    """

    #: Controller episodes recorded (0 = no demonstrations: PPO starts from a fresh policy).
    episodes: int = 0
    #: Who drives them: ``line:METHOD`` (an optimiser of ``racingline line``) or ``line:FILE``.
    driver: str = "line:mincurv"
    #: Tracks they are driven on (a pool spec, as ``env.track``).
    tracks: list[str] = field(default_factory=lambda: ["generated"])
    #: Passes over the demonstrations.
    epochs: int = 20
    #: DAgger rounds after cloning (the policy drives, the controller labels what it sees).
    dagger_rounds: int = 0
    #: Episodes driven in each DAgger round.
    dagger_episodes: int = 16
    #: The cloned Gaussian policy's spread, as a multiple of the residual of its fit (PPO's exploration noise).
    std_scale: float = 1.0
    #: Weigh each action dimension's cloning error by one over its spread in the demonstrations, so the
    #: controller's narrow steering counts as much as its gas (:class:`racingline.record.bc.BehaviourCloning`).
    balance_actions: bool = False


@dataclass(frozen=True)
class SelectConfig:
    """Which save a finished run keeps as ``model.zip`` (:mod:`racingline.train.select`).

    With ``generated`` > 0, every checkpoint and the last model are driven on that many generated tracks in
    both directions, of seeds training never draws (:data:`racingline.train.select.VALIDATION_SEED`
    onwards); the save with the most laps, then the fastest laps, becomes ``model.zip``. The scores are
    in ``RUN/selection.json``; the last model stays a checkpoint (what ``--resume`` continues).
    """

    #: Validation tracks (0 = keep the last model).
    generated: int = 0
    #: Agent steps per validation episode.
    max_steps: int = 1500
    #: Drive the saves deterministically (the mean action) instead of sampling their actions as in training.
    deterministic: bool = False
    #: Also save the policy cloned from demonstrations, before PPO's first step, as a checkpoint, so the
    #: cloned policy is one of the saves to choose from (kept when PPO only made it worse).
    clone: bool = False


@dataclass(frozen=True)
class Config:
    """A whole training config."""

    name: str = "default"
    seed: int = 0
    total_timesteps: int = 2_000_000
    n_envs: int = 9
    #: ``auto`` (``split`` when n_envs > 1), ``split`` (env 0 in the trainer, the rest in subprocesses),
    #: ``subproc`` (all in subprocesses) or ``dummy`` (all in the trainer, one after another).
    vec_env: str = "auto"
    norm_reward: bool = True
    norm_obs: bool = False
    #: Save a checkpoint every this many environment steps (0 = never).
    checkpoint_every: int = 100_000
    env: EnvConfig = field(default_factory=EnvConfig)
    ppo: PPOConfig = field(default_factory=PPOConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    demos: DemosConfig = field(default_factory=DemosConfig)
    select: SelectConfig = field(default_factory=SelectConfig)


#: The config's sections (name -> dataclass).
SECTIONS = {"env": EnvConfig, "ppo": PPOConfig, "eval": EvalConfig, "demos": DemosConfig, "select": SelectConfig}
_CHOICES = {
    "env.sim": SIMS,
    "env.obs": OBS_MODES,
    "env.renderer": RENDERERS,
    "env.reward": REWARDS,
    "ppo.lr_schedule": LR_SCHEDULES,
    "ppo.activation": ACTIVATIONS,
    "ppo.device": DEVICES,
    "vec_env": VEC_ENV_KINDS,
}


@dataclass(frozen=True)
class Range:
    """The valid values of a numeric key (or of each item of a list key): ``lo``..``hi``, ends open or closed."""

    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False

    def __contains__(self, value: float) -> bool:
        above = value > self.lo if self.lo_open else value >= self.lo
        below = value < self.hi if self.hi_open else value <= self.hi
        return above and below

    def __str__(self) -> str:
        def end(x: float) -> str:
            return "inf" if x == math.inf else "-inf" if x == -math.inf else f"{x:g}"

        return f"{'(' if self.lo_open or self.lo == -math.inf else '['}{end(self.lo)}, {end(self.hi)}" \
               f"{')' if self.hi_open or self.hi == math.inf else ']'}"


_AT_LEAST_1 = Range(1)
#: Valid range of every numeric key (for list keys: of each item). Checked when a config is built, so a
#: bad value is one line naming the key, the value and the range, before anything is written.
RANGES: dict[str, Range] = {
    "seed": Range(0, 2**32 - 1),
    "total_timesteps": _AT_LEAST_1,
    "n_envs": Range(1, 256),
    "checkpoint_every": Range(0),
    "env.track_weights": Range(0),
    "env.generated_every": _AT_LEAST_1,
    "env.generated_width_m": Range(0.6, 2.0),
    "env.frame_skip": Range(1, 50),
    "env.size": Range(8, 1024),
    "env.frame_stack": Range(1, 64),
    "env.off_track_penalty": Range(-1e6, 1e6),
    "env.max_episode_steps": _AT_LEAST_1,
    "env.start_waypoint": Range(0),
    "ppo.learning_rate": Range(0, 1, lo_open=True),
    "ppo.n_steps": _AT_LEAST_1,
    "ppo.batch_size": Range(2),  # SB3 normalises advantages over a batch: one sample is not a batch
    "ppo.n_epochs": Range(1, 1000),
    "ppo.gamma": Range(0, 1, lo_open=True),
    "ppo.gae_lambda": Range(0, 1),
    "ppo.clip_range": Range(0, 1, lo_open=True),
    "ppo.ent_coef": Range(0),
    "ppo.vf_coef": Range(0),
    "ppo.max_grad_norm": Range(0, lo_open=True),
    "ppo.net_arch_pi": Range(1, 65536),
    "ppo.net_arch_vf": Range(1, 65536),
    "ppo.pixel_pool": Range(1, 64),
    "ppo.pixel_full_rows": Range(0, 255),
    "eval.episodes": Range(1, 100_000),
    "eval.max_steps": _AT_LEAST_1,
    "demos.episodes": Range(0, 1_000_000),
    "demos.epochs": Range(1, 10_000),
    "demos.dagger_rounds": Range(0, 1000),
    "demos.dagger_episodes": _AT_LEAST_1,
    "demos.std_scale": Range(0, 100, lo_open=True),
    "select.generated": Range(0, 10_000),
    "select.max_steps": _AT_LEAST_1,
}


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if tp is type(None):
        return "null"
    return {int: "an integer", float: "a number", bool: "true/false", str: "a string"}.get(tp, str(tp))


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _check(value: Any, tp: Any) -> tuple[bool, Any]:
    """Whether ``value`` fits type ``tp``; returns (ok, coerced value)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        for arg in typing.get_args(tp):
            ok, v = _check(value, arg)
            if ok:
                return True, v
        return False, value
    if origin is list:
        if not isinstance(value, list):
            return False, value
        (item_tp,) = typing.get_args(tp)
        out = []
        for item in value:
            ok, v = _check(item, item_tp)
            if not ok:
                return False, value
            out.append(v)
        return True, out
    if tp is type(None):
        return value is None, value
    if tp is bool:
        return isinstance(value, bool), value
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return True, value
        number = _as_number(value)  # 2e6, "2e6" (YAML 1.1 reads exponents without a dot as strings)
        if number is not None and number.is_integer():
            return True, int(number)
        return False, value
    if tp is float:
        number = _as_number(value)
        return (number is not None and math.isfinite(number)), (number if number is not None else value)
    if tp is str:
        return isinstance(value, str), value
    return isinstance(value, tp), value


def _build(cls: type, data: Any, where: str, source: str) -> Any:
    prefix = f"{where}." if where else ""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: '{where or 'config'}' must be a mapping of keys to values, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            raise ConfigError(f"{source}: unknown config key '{prefix}{key}'; valid keys: {', '.join(prefix + n for n in names)}")
        if key in SECTIONS and where == "":
            kwargs[key] = _build(SECTIONS[key], value if value is not None else {}, key, source)
            continue
        full = f"{prefix}{key}"
        ok, coerced = _check(value, hints[key])
        if not ok:
            raise ConfigError(f"{source}: config key '{full}' must be {_type_name(hints[key])}, got {value!r}")
        if full == "env.reward" and isinstance(coerced, str) and coerced.strip().lower().endswith(".py"):
            pass  # a DeepRacer reward file: checked (loaded) once the whole config is read
        elif full in _CHOICES and coerced not in _CHOICES[full]:
            also = " or a reward file (.py) defining reward_function(params)" if full == "env.reward" else ""
            raise ConfigError(f"{source}: config key '{full}' must be one of {', '.join(_CHOICES[full])}{also}, "
                              f"got {coerced!r}")
        rng = RANGES.get(full)
        if rng is not None:
            for number in (coerced if isinstance(coerced, list) else [coerced]):
                if isinstance(number, (int, float)) and not isinstance(number, bool) and number not in rng:
                    what = "each item of " if isinstance(coerced, list) else ""
                    raise ConfigError(f"{source}: config key '{full}' must be {what}in {rng}, got {_show(coerced)}")
        if full in ("env.start_waypoint", "env.reverse") and isinstance(coerced, str) and coerced != "random":
            raise ConfigError(f"{source}: config key '{full}' must be {_type_name(hints[key])} "
                              f"('random' for a string), got {coerced!r}")
        kwargs[key] = coerced
    return cls(**kwargs)


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else repr(value) if isinstance(value, str) else str(value)


def _check_together(cfg: Config, source: str) -> None:
    """Rules between keys (each key's own range is checked as it is read)."""
    env, ppo = cfg.env, cfg.ppo
    if not cfg.name or any(ch in cfg.name for ch in "/\\\0") or cfg.name in (".", ".."):
        raise ConfigError(f"{source}: config key 'name' must be a folder name (no '/'), got {cfg.name!r}")
    tracks = env.track if isinstance(env.track, list) else [env.track]
    if not tracks or any(not str(t).strip() for t in tracks):
        raise ConfigError(f"{source}: config key 'env.track' must name at least one track, got {env.track!r}")
    if env.track_weights is not None:
        if len(env.track_weights) != len(tracks):
            raise ConfigError(f"{source}: config key 'env.track_weights' needs one weight per track "
                              f"({len(tracks)}), got {len(env.track_weights)}")
        if sum(env.track_weights) <= 0:
            raise ConfigError(f"{source}: config key 'env.track_weights' must not all be 0, got {env.track_weights}")
    if env.generated_width_m is not None and (len(env.generated_width_m) != 2
                                              or env.generated_width_m[0] > env.generated_width_m[1]):
        raise ConfigError(f"{source}: config key 'env.generated_width_m' must be [lo, hi] with lo <= hi, "
                          f"got {env.generated_width_m}")
    if env.sim == "torcs":
        from racingline.torcs.config import check_torcs_env

        check_torcs_env(env, source)
    rollout = ppo.n_steps * cfg.n_envs
    if ppo.batch_size > rollout:
        raise ConfigError(f"{source}: config key 'ppo.batch_size' ({ppo.batch_size}) must be at most "
                          f"ppo.n_steps x n_envs ({ppo.n_steps} x {cfg.n_envs} = {rollout}), the steps of one rollout")
    if not cfg.eval.tracks:
        raise ConfigError(f"{source}: config key 'eval.tracks' must name at least one track")
    demos = cfg.demos
    if demos.episodes:
        if not demos.driver.startswith("line:") or demos.driver == "line:":
            raise ConfigError(f"{source}: config key 'demos.driver' must be line:METHOD or line:FILE (the line "
                              f"controller), got {demos.driver!r}")
        if not demos.tracks or any(not str(t).strip() for t in demos.tracks):
            raise ConfigError(f"{source}: config key 'demos.tracks' must name at least one track, got {demos.tracks!r}")


def demos_unusable(cfg: Config) -> str | None:
    """Why the config's demonstrations cannot be used (``None`` when they can): the line controller drives
    CarRacing's continuous actions only. A run whose env differs trains without them and says so."""
    env = cfg.env
    if env.sim == "torcs":  # racingline.torcs.expert drives a line optimised per TORCS track
        from racingline.choices import LINE_METHODS

        if str(cfg.demos.driver).partition(":")[2] not in LINE_METHODS:
            return f"demos.driver {cfg.demos.driver!r}: on TORCS the line controller needs a method, not a line file"
        return None
    if env.sim != "carracing":
        return f"the line controller drives CarRacing, not env.sim={env.sim}"
    if env.action_space is not None:
        return "the line controller drives CarRacing's continuous actions, not a DeepRacer action space"
    if not env.continuous:
        return "the line controller drives CarRacing's continuous actions, not discrete ones"
    return None


def config_from_dict(data: dict[str, Any], source: str = "config", *, base: str | Path | None = None) -> Config:
    """Validate a plain dict (as read from YAML) and build a :class:`Config`.

    Raises :class:`ConfigError` naming the key for an unknown key, a wrong type, a value outside its
    range (:data:`RANGES`) or a rule between keys (batch size within a rollout, one weight per track, ...);
    :class:`racingline.deepracer.action_space.ActionSpaceError` naming the file for an unusable
    ``env.action_space``. ``base``: the folder a relative ``env.action_space`` is relative to (default:
    the working folder).
    """
    cfg = _build(Config, data if data is not None else {}, "", source)
    _check_together(cfg, source)
    return _resolve_reward(_resolve_action_space(cfg, base), base)


def _resolve_reward(cfg: Config, base: str | Path | None) -> Config:
    """``cfg`` with a reward file in ``env.reward`` loaded (:class:`racingline.errors.RewardError` naming the
    file when it cannot be) and made absolute; relative to ``base`` as ``env.action_space`` is."""
    given = cfg.env.reward
    if given in REWARDS:
        return cfg
    from racingline.deepracer.reward_file import check_reward_file

    path = Path(given).expanduser()
    shown = given
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
        shown = str(path)
    if not path.exists():
        check_reward_file(shown)  # one line naming the file as given
    return dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, reward=check_reward_file(path)))


def _resolve_action_space(cfg: Config, base: str | Path | None) -> Config:
    """``cfg`` with ``env.action_space`` checked (read and parsed) and made absolute."""
    given = cfg.env.action_space
    if given is None:
        return cfg
    from racingline.deepracer.action_space import load_action_space

    path = Path(given).expanduser()
    shown = given
    if not path.is_absolute():
        if base is not None:
            path = Path(base) / path
            shown = str(path)
        path = Path.cwd() / path
    load_action_space(path, name=shown)
    return dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, action_space=str(path)))


def config_to_dict(cfg: Config) -> dict[str, Any]:
    """The plain-dict form of ``cfg`` (round-trips through :func:`config_from_dict`)."""
    return dataclasses.asdict(cfg)


def resolve_config_path(path_or_name: str | Path) -> Path:
    """A config path, or a name in the project's ``configs/`` (``default`` -> ``configs/default.yaml``)."""
    p = Path(path_or_name)
    if p.is_file():
        return p
    for candidate in (CONFIGS_DIR / f"{path_or_name}.yaml", CONFIGS_DIR / str(path_or_name)):
        if candidate.is_file():
            return candidate
    raise ConfigError(f"{path_or_name}: no such config file (nor a config named so in {CONFIGS_DIR})")


def load_config(path_or_name: str | Path = "default") -> Config:
    """Load and validate a YAML config file (or a config name from ``configs/``)."""
    path = resolve_config_path(path_or_name)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text (UTF-8) file") from None
    if data is None:
        raise ConfigError(f"{path}: the config file is empty (start from one of {CONFIGS_DIR}, e.g. default.yaml)")
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config must be a mapping of keys to values, got {type(data).__name__}")
    return config_from_dict(data, str(path), base=path.parent)


def parse_override(text: str) -> tuple[str, Any]:
    """``"ppo.learning_rate=3e-4"`` -> ``("ppo.learning_rate", 3e-4)`` (the value read as YAML)."""
    if "=" not in text:
        raise ConfigError(f"--set {text}: expected key=value, e.g. ppo.learning_rate=3e-4")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() != "" else ""
    except yaml.YAMLError:
        value = raw
    return key.strip(), value


def apply_overrides(cfg: Config, overrides: list[str] | dict[str, Any]) -> Config:
    """Apply ``key=value`` overrides (``ppo.learning_rate=3e-4``, ``env.obs=features``) to ``cfg``.

    Values are parsed as YAML (``true``, ``[a, b]``, ``null``); the result is validated like a file.
    A new ``env.track`` without new ``env.track_weights`` drops the old weights.
    """
    data = config_to_dict(cfg)
    items: list[tuple[str, Any]] = []
    if isinstance(overrides, dict):
        items = list(overrides.items())
    else:
        items = [parse_override(text) for text in overrides]
    keys = {k for k, _ in items}
    if "env.track" in keys and "env.track_weights" not in keys:
        items.append(("env.track_weights", None))  # weights belong to the pool they were written for
    for key, value in items:
        parts = key.split(".")
        node = data
        for i, part in enumerate(parts[:-1]):
            if part not in SECTIONS or not isinstance(node.get(part), dict) or i > 0:
                raise ConfigError(f"--set {key}: unknown config key '{key}'; sections are {', '.join(SECTIONS)}")
            node = node[part]
        if parts[-1] not in node:
            valid = ", ".join((parts[0] + "." if len(parts) > 1 else "") + k for k in node)
            raise ConfigError(f"--set {key}: unknown config key '{key}'; valid keys: {valid}")
        node[parts[-1]] = value
    return config_from_dict(data, "--set")


def save_config(cfg: Config, path: str | Path) -> Path:
    """Write ``cfg`` as YAML, atomically."""
    text = yaml.safe_dump(config_to_dict(cfg), sort_keys=False, default_flow_style=None)
    return atomic_write_text(path, text)


def env_settings(env: EnvConfig) -> dict[str, Any]:
    """Keyword arguments of :func:`racingline.make_env` for ``env`` except the track pool (and frame stack)."""
    kw = dataclasses.asdict(env)
    for key in ("frame_stack", "track", "track_weights"):
        kw.pop(key)
    return kw


def resolve_track_pool(env: EnvConfig) -> tuple[list[Any], list[float] | None]:
    """The config's track spec resolved once, into typed pool members: loaded :class:`~racingline.Track`
    objects, and the special members (:data:`racingline.choices.SPECIAL_MEMBERS`) as strings; with weights.

    Raises :class:`racingline.TrackError` naming the input when a name or glob matches nothing or a file
    is not a valid track, so bad tracks fail here, in the main process, before any worker or folder exists;
    :class:`ConfigError` when ``env.start_waypoint`` is beyond a track's last waypoint.
    """
    from racingline.choices import SPECIAL_MEMBERS
    from racingline.tracks.files import load_track
    from racingline.tracks.pools import expand_track_spec

    if env.sim == "torcs":  # TORCS tracks (or a race file), checked against the installed TORCS
        from racingline.torcs.config import resolve_torcs_pool

        return resolve_torcs_pool(env)
    members, weights = expand_track_spec(env.track, env.track_weights)
    pool = [m if m in SPECIAL_MEMBERS else load_track(m) for m in members]
    if isinstance(env.start_waypoint, int):
        for track in pool:
            if not isinstance(track, str) and env.start_waypoint >= track.n_waypoints:
                raise ConfigError(f"config key 'env.start_waypoint' ({env.start_waypoint}) is beyond track "
                                  f"'{track.name}', whose waypoints are 0-{track.n_waypoints - 1}")
    return pool, weights


def env_kwargs(env: EnvConfig) -> dict[str, Any]:
    """Keyword arguments of :func:`racingline.make_env` for ``env``, with the track pool resolved
    (:func:`resolve_track_pool`). Raises :class:`racingline.TrackError` for unusable tracks."""
    kw = env_settings(env)
    members, weights = resolve_track_pool(env)
    kw["track"] = members if len(members) > 1 else members[0]
    kw["track_weights"] = weights if len(members) > 1 else None
    return kw
