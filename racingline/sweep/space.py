"""A sweep's search space: ``space.yaml`` maps config keys (``--set`` names) to distributions, checked against
the base config like a config file is.

Example ``space.yaml``::

    ppo.learning_rate: loguniform(1e-5, 1e-3)
    ppo.n_steps: choice([128, 256, 512])
    ppo.ent_coef: uniform(0.0, 0.01)
    ppo.n_epochs: randint(3, 10)          # both ends included
    env.frame_skip: choice([2, 3, 4])
    ppo.net_arch_pi: choice([[64], [64, 64]])
    ppo.clip_range: quniform(0.1, 0.3, 0.05)

Every key must be a config key (``eval.*`` excepted: every trial is scored on the same evaluation) and every
value it can take must fit the config (types, :data:`racingline.train.config.RANGES`, choices, rules between
keys): a bad one is a one-line :class:`~racingline.errors.ConfigError` naming the file, the key and the value.
Nothing here imports Ray; :meth:`SearchSpace.to_tune` does, when a sweep starts.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from racingline.choices import SPACE_DISTRIBUTIONS
from racingline.errors import ConfigError, RacinglineError
from racingline.train.config import SECTIONS, Config, apply_overrides, config_to_dict

__all__ = ["Distribution", "SearchSpace", "parse_distribution", "load_space", "space_from_dict"]

_SECTIONS = SECTIONS
_CALL_RE = re.compile(r"^\s*([A-Za-z_]\w*)\s*\((.*)\)\s*$", re.DOTALL)
_FORMS = "loguniform(lo, hi), uniform(lo, hi), quniform(lo, hi, q), randint(lo, hi) or choice([a, b, ...])"
#: Most combinations of the other keys' values tried when a value breaks a rule between keys.
_MAX_COMBINATIONS = 256


@dataclass(frozen=True)
class Distribution:
    """One key's distribution: ``kind`` (one of :data:`racingline.choices.SPACE_DISTRIBUTIONS`), its numeric
    arguments (``lo, hi`` and ``q`` for ``quniform``) or its choices, and the text as written."""

    kind: str
    args: tuple[Any, ...]
    text: str

    @property
    def encoded(self) -> bool:
        """Whether the choices go to Optuna as YAML strings (Optuna's categories must be scalars)."""
        return self.kind == "choice" and any(not _is_scalar(v) for v in self.args)

    def candidates(self) -> list[Any]:
        """Values that stand for the whole range when checking it: both ends, or every choice."""
        if self.kind == "choice":
            return list(self.args)
        lo, hi = self.args[0], self.args[1]
        if self.kind == "quniform":
            q = self.args[2]
            hi = lo + math.floor((hi - lo) / q + 1e-9) * q
        return [lo, hi]

    def largest(self) -> float | None:
        """The largest numeric value this distribution can give (``None`` when no choice is a number)."""
        numbers = [v for v in self.candidates() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        return max(numbers) if numbers else None

    def to_tune(self) -> Any:
        """The Ray Tune domain (``ray.tune.loguniform``, ...), converted to Optuna's by Tune's Optuna searcher."""
        from ray import tune

        if self.kind == "loguniform":
            return tune.loguniform(*self.args)
        if self.kind == "uniform":
            return tune.uniform(*self.args)
        if self.kind == "quniform":
            return tune.quniform(*self.args)
        if self.kind == "randint":
            return tune.randint(self.args[0], self.args[1] + 1)  # Tune's upper end is excluded
        return tune.choice([_encode(v) for v in self.args] if self.encoded else list(self.args))

    def decode(self, value: Any) -> Any:
        """The config value of a sampled ``value`` (choices sent as strings read back; integers as int)."""
        if self.encoded:
            return yaml.safe_load(value)
        if self.kind == "randint":
            return int(value)
        if isinstance(value, float) and self.kind != "choice":
            return float(value)
        return value


@dataclass(frozen=True)
class SearchSpace:
    """The validated search space: config key -> :class:`Distribution`, in file order; ``source`` names the file."""

    entries: dict[str, Distribution]
    source: str = field(default="space", compare=False)

    def to_tune(self) -> dict[str, Any]:
        """Ray Tune's ``param_space``: one domain per key."""
        return {key: dist.to_tune() for key, dist in self.entries.items()}

    def overrides(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The ``--set`` style overrides of a trial's sampled ``params`` (``{"ppo.learning_rate": 3e-4}``)."""
        return {key: dist.decode(params[key]) for key, dist in self.entries.items() if key in params}

    def largest(self, key: str, default: float) -> float:
        """The largest value ``key`` can take in this space, or ``default`` when the space does not vary it."""
        dist = self.entries.get(key)
        value = dist.largest() if dist is not None else None
        return default if value is None else value

    def to_dict(self) -> dict[str, str]:
        """The space as written (key -> expression), to save with a sweep and read back with :func:`space_from_dict`."""
        return {key: dist.text for key, dist in self.entries.items()}


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _encode(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def _number(value: Any, where: str) -> float:
    """A YAML number (YAML 1.1 reads ``1e-5`` as a string: accepted) or a one-line error."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{where}: expected numbers, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{where}: expected numbers, got {value!r}") from None
    if not math.isfinite(number):
        raise ConfigError(f"{where}: expected finite numbers, got {value!r}")
    return number


def parse_distribution(text: Any, where: str = "space") -> Distribution:
    """Read one distribution, e.g. ``"loguniform(1e-5, 1e-3)"`` or ``"choice([2, 3, 4])"``.

    Raises :class:`ConfigError` (one line starting with ``where``) for an unknown form, a wrong number of
    arguments, non-numbers, an empty range (``lo >= hi``), ``loguniform`` bounds not above 0, a ``quniform``
    step not above 0, ``randint`` bounds that are not integers, or an empty or repeating choice list.
    """
    if isinstance(text, list):
        raise ConfigError(f"{where}: a list of values is written choice([...]); got {text!r}")
    if not isinstance(text, str):
        raise ConfigError(f"{where}: expected {_FORMS}, got {text!r} (a fixed value belongs in the base config)")
    shown = " ".join(text.split())
    m = _CALL_RE.match(text)
    if m is None or m.group(1) not in SPACE_DISTRIBUTIONS:
        raise ConfigError(f"{where}: expected {_FORMS}, got {shown!r}")
    kind, inner = m.group(1), m.group(2)
    where = f"{where}: {shown}"
    try:
        args = yaml.safe_load(f"[{inner}]")
    except yaml.YAMLError:
        raise ConfigError(f"{where}: the arguments are not valid YAML") from None
    if kind == "choice":
        if len(args) != 1 or not isinstance(args[0], list):
            raise ConfigError(f"{where}: choice takes one list, e.g. choice([2, 3, 4])")
        values = args[0]
        if not values:
            raise ConfigError(f"{where}: the choice list is empty")
        seen = [_encode(v) for v in values]
        if len(set(seen)) != len(seen):
            raise ConfigError(f"{where}: the choice list repeats a value")
        return Distribution(kind, tuple(values), shown)
    wanted = 3 if kind == "quniform" else 2
    if len(args) != wanted:
        names = "lo, hi, q" if kind == "quniform" else "lo, hi"
        raise ConfigError(f"{where}: {kind} takes {wanted} numbers ({names}), got {len(args)}")
    numbers = [_number(a, where) for a in args]
    lo, hi = numbers[0], numbers[1]
    if not lo < hi:
        raise ConfigError(f"{where}: the range is empty (lo must be below hi); fix the key in the base config instead")
    if kind == "loguniform" and lo <= 0:
        raise ConfigError(f"{where}: loguniform needs lo above 0")
    if kind == "quniform" and numbers[2] <= 0:
        raise ConfigError(f"{where}: quniform needs a step q above 0")
    if kind == "randint":
        if not (lo.is_integer() and hi.is_integer()):
            raise ConfigError(f"{where}: randint takes integer bounds")
        return Distribution(kind, (int(lo), int(hi)), shown)
    return Distribution(kind, tuple(numbers), shown)


# ---------------------------------------------------------------------------------------------- keys
def _key_type(key: str, source: str, base: Config) -> Any:
    """The type annotation of config key ``key`` (``ppo.learning_rate``), or a one-line error for an
    unknown key, a whole section, or an ``eval.*`` key."""
    data = config_to_dict(base)
    parts = key.split(".")
    top = [f.name for f in dataclasses.fields(Config)]
    if len(parts) == 1 and parts[0] in top and parts[0] not in _SECTIONS:
        return typing.get_type_hints(Config)[parts[0]]
    if len(parts) == 2 and parts[0] in _SECTIONS and parts[1] in data[parts[0]]:
        if parts[0] == "eval":
            raise ConfigError(f"{source}: '{key}' cannot vary: every trial is scored on the same evaluation "
                              "(set eval.* in the base config)")
        return typing.get_type_hints(_SECTIONS[parts[0]])[parts[1]]
    if len(parts) == 1 and parts[0] in _SECTIONS:
        raise ConfigError(f"{source}: '{key}' is a section; name its keys, e.g. {key}.{next(iter(data[key]))}")
    valid = [k for k in top if k not in _SECTIONS] + [f"{s}.{k}" for s in _SECTIONS if s != "eval" for k in data[s]]
    raise ConfigError(f"{source}: unknown config key '{key}'; valid keys: {', '.join(valid)}")


def _allows(tp: Any, wanted: type) -> bool:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return any(_allows(a, wanted) for a in typing.get_args(tp))
    return tp is wanted


def _check_kind(key: str, dist: Distribution, tp: Any, where: str) -> None:
    numeric = _allows(tp, float) or _allows(tp, int)
    if dist.kind != "choice" and not numeric:
        raise ConfigError(f"{where}: '{key}' is not a number; use choice([...])")
    if dist.kind in ("uniform", "loguniform") and not _allows(tp, float):
        raise ConfigError(f"{where}: '{key}' is an integer; use randint(lo, hi), or quniform(lo, hi, q) with "
                          "integers")
    if dist.kind == "quniform" and not _allows(tp, float) and not all(float(a).is_integer() for a in dist.args):
        raise ConfigError(f"{where}: '{key}' is an integer; quniform needs integer lo, hi and q for it")


# ---------------------------------------------------------------------------------------------- values
def _check_value(base: Config, key: str, value: Any, others: dict[str, list[Any]]) -> str | None:
    """``None`` when ``key: value`` fits the base config, possibly with some value of the other keys of the
    space (rules between keys); else the config's own one-line reason."""
    try:
        cfg = apply_overrides(base, {key: value})
        _check_tracks(cfg, key)
        return None
    except RacinglineError as exc:
        reason = str(exc).removeprefix("--set: ").removeprefix("--set ")
    others = {k: v for k, v in others.items() if k != key}
    if not others:
        return reason
    for combo in itertools.islice(itertools.product(*others.values()), _MAX_COMBINATIONS):
        try:
            cfg = apply_overrides(base, {key: value, **dict(zip(others, combo))})
            _check_tracks(cfg, key)
            return None
        except RacinglineError:
            continue
    return reason


def _check_tracks(cfg: Config, key: str) -> None:
    """A space that varies the training tracks names tracks that exist (as ``racingline train`` checks)."""
    if key in ("env.track", "env.track_weights"):
        from racingline.train.config import resolve_track_pool

        resolve_track_pool(cfg.env)


#: Keys whose values may name files: relative ones are relative to the working folder (as with ``--set``).
_FILE_KEYS = ("env.reward", "env.action_space")


def _absolute_files(key: str, dist: Distribution) -> Distribution:
    """``dist`` with the files a choice of :data:`_FILE_KEYS` names made absolute, so trials (which run in
    other folders, or on other machines with the same paths) and a resumed sweep find them."""
    if key not in _FILE_KEYS or dist.kind != "choice":
        return dist
    values = tuple(str(Path(v).expanduser().absolute()) if isinstance(v, str) and (key == "env.action_space" or
                   v.strip().lower().endswith(".py")) and not Path(v).expanduser().is_absolute() else v
                   for v in dist.args)
    if values == dist.args:
        return dist
    return Distribution("choice", values, f"choice({_encode(list(values))})")


def space_from_dict(data: Any, base: Config, source: str = "space") -> SearchSpace:
    """Validate a mapping of config keys to distribution texts against ``base`` (see the module docstring)."""
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise ConfigError(f"{source}: a search space is a mapping of config keys to distributions "
                          f"(e.g. 'ppo.learning_rate: loguniform(1e-5, 1e-3)'), got {kind}")
    if not data:
        raise ConfigError(f"{source}: the search space names no key")
    entries: dict[str, Distribution] = {}
    for key, text in data.items():
        key = str(key)
        tp = _key_type(key, source, base)
        where = f"{source}: {key}"
        dist = _absolute_files(key, parse_distribution(text, where))
        _check_kind(key, dist, tp, f"{where}: {dist.text}")
        entries[key] = dist
    others = {k: d.candidates() for k, d in entries.items()}
    for key, dist in entries.items():
        for value in dist.candidates():
            reason = _check_value(base, key, value, others)
            if reason is not None:
                raise ConfigError(f"{source}: {key}: {dist.text}: {reason}")
    return SearchSpace(entries, source)


def load_space(path: str | os.PathLike, base: Config) -> SearchSpace:
    """Read and validate a ``space.yaml`` against the base config ``base``.

    Raises :class:`ConfigError` naming the file (and the key) when it is missing, not YAML, not a mapping,
    or names an unknown key or a value the config refuses.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{path}: no such search-space file")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text (UTF-8) file") from None
    return space_from_dict(data, base, str(path))
