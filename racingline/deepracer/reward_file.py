"""DeepRacer reward files: a Python file defining ``reward_function(params)``, used as an env's reward.

``env.reward: path/to/reward.py`` (or ``racingline train --reward FILE``) loads the file with
:mod:`importlib` and calls its ``reward_function`` every agent step with DeepRacer's ``params``
(:mod:`racingline.deepracer.params`). The step's reward is exactly the number it returns: no time or
off-track penalty is added (``env.off_track_penalty`` applies to the built-in rewards only).

**A reward file is code: it runs with your rights**, in the training process and in every env worker,
like any Python script you run. Load only files you trust.

Errors are the file's to fix, so each is one line naming the file (:class:`RewardError`):

* a missing file, a folder, a file without a callable ``reward_function``, a syntax error (with its line),
  an exception while the file is imported (with its line): when the config is read, before anything runs;
* an exception inside ``reward_function``: the file, the line of the traceback's last frame in the file,
  the exception and the agent step;
* a return value that is not a finite number (NaN, infinity, a string, None...): the value and the step.

Errors during an env step do not raise inside the env: the step ends the episode and carries the message
in ``info["reward_error"]``, so an env in a subprocess worker passes it on as data (SB3's workers would
turn an exception into an ``EOFError`` and a traceback). Training raises it as :class:`RewardError`
(:func:`raise_reward_error`) after saving what was trained; :func:`check_reward_in_env` runs the function
on a first step in the training process before any run folder exists.
"""

from __future__ import annotations

import hashlib
import importlib.util
import math
import numbers
import os
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from racingline.deepracer.params import ParamsBuilder
from racingline.errors import RewardError

if TYPE_CHECKING:
    from racingline.sim.state import CarState

__all__ = ["RewardError", "FileReward", "is_reward_file", "load_reward_function", "check_reward_file",
           "check_reward_in_env", "raise_reward_error", "REWARD_ERROR_KEY", "FUNCTION_NAME"]

#: The function a reward file must define.
FUNCTION_NAME = "reward_function"
#: The ``info`` key under which an env step reports a reward-function error.
REWARD_ERROR_KEY = "reward_error"

#: Loaded functions by (resolved path, modification time, size): a file is imported once per process
#: (forked workers inherit it), and again when it changes.
_LOADED: dict[tuple[str, int, int], Callable[[dict], Any]] = {}


def is_reward_file(value: object) -> bool:
    """Whether an ``env.reward`` value names a reward file (a path ending in ``.py``) rather than a built-in."""
    return isinstance(value, (str, os.PathLike)) and str(value).strip().lower().endswith(".py")


def _frame_in(path: Path, tb) -> traceback.FrameSummary | None:
    """The traceback's last frame in the file ``path``."""
    target = os.path.realpath(path)
    found = None
    for frame in traceback.extract_tb(tb):
        if frame.filename and os.path.realpath(frame.filename) == target:
            found = frame
    return found


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _user_error(path: Path, exc: BaseException, where: str) -> str:
    frame = _frame_in(path, exc.__traceback__)
    line = f", line {frame.lineno}" if frame is not None and frame.lineno else ""
    func = f" in {frame.name}" if frame is not None and frame.name not in ("<module>", None) else ""
    return f"{path}{line}{func}: {_describe(exc)} ({where})"


def load_reward_function(path: str | os.PathLike) -> Callable[[dict], Any]:
    """Import ``path`` and return its ``reward_function``; :class:`RewardError` (one line) when it cannot."""
    p = Path(path).expanduser()
    if not p.exists():
        raise RewardError(f"{path}: no such reward file")
    if p.is_dir():
        raise RewardError(f"{path}: is a folder, not a reward file (a .py file defining {FUNCTION_NAME}(params))")
    try:
        st = p.stat()
        key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    except OSError as exc:
        raise RewardError(f"{path}: cannot read the reward file ({exc.strerror or exc})") from None
    fn = _LOADED.get(key)
    if fn is not None:
        return fn
    name = "racingline_reward_" + hashlib.sha1(key[0].encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, p)
    if spec is None or spec.loader is None:
        raise RewardError(f"{path}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling in the file look their module up
    try:
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        line = f", line {exc.lineno}" if exc.lineno else ""
        raise RewardError(f"{path}{line}: syntax error: {exc.msg}") from None
    except UnicodeDecodeError:
        sys.modules.pop(name, None)
        raise RewardError(f"{path}: not a text (UTF-8) Python file") from None
    except RewardError:
        sys.modules.pop(name, None)
        raise
    except (Exception, SystemExit) as exc:  # the file's own code failed while it was imported
        sys.modules.pop(name, None)
        raise RewardError(_user_error(p, exc, "while importing the file")) from None
    fn = getattr(module, FUNCTION_NAME, None)
    if fn is None:
        raise RewardError(f"{path}: defines no {FUNCTION_NAME}(params)")
    if not callable(fn):
        raise RewardError(f"{path}: {FUNCTION_NAME} is not a function ({type(fn).__name__})")
    _LOADED[key] = fn
    return fn


def check_reward_file(path: str | os.PathLike) -> str:
    """Load the reward file ``path`` (raising :class:`RewardError`) and return its absolute path."""
    load_reward_function(path)
    return str(Path(path).expanduser().resolve())


def _as_reward(value: Any) -> float | None:
    if isinstance(value, numbers.Real):  # int, float, bool, NumPy scalars
        r = float(value)
        return r if math.isfinite(r) else None
    return None


class FileReward:
    """A :class:`~racingline.sim.rewards.Reward` calling a reward file's ``reward_function(params)``.

    Raises :class:`RewardError` (one line naming the file, the line, the exception and the step) when
    the function raises or returns anything but a finite number; the env turns it into
    ``info["reward_error"]``.
    """

    #: CarRacing's running tile score is not this reward.
    keeps_tile_score = False

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.function = load_reward_function(path)
        self.params = ParamsBuilder()

    def __call__(self, state: CarState, prev: CarState) -> float:
        params = self.params(state)
        try:
            value = self.function(params)
        except Exception as exc:
            raise RewardError(_user_error(self.path, exc, f"agent step {state.steps}")) from None
        reward = _as_reward(value)
        if reward is None:
            shown = repr(value)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            raise RewardError(f"{self.path}: {FUNCTION_NAME} returned {shown} ({type(value).__name__}) at agent "
                              f"step {state.steps}; it must return a finite number")
        return reward

    def __repr__(self) -> str:
        return f"FileReward({str(self.path)!r})"


def raise_reward_error(infos: Mapping[str, Any] | list | tuple) -> None:
    """Raise :class:`RewardError` if an env step's ``info`` (or a list of them) reports a reward error."""
    for info in (infos,) if isinstance(infos, Mapping) else infos:
        message = info.get(REWARD_ERROR_KEY) if isinstance(info, Mapping) else None
        if message:
            raise RewardError(message)


def check_reward_in_env(env_kwargs: Mapping[str, Any], seed: int = 0) -> None:
    """When ``env_kwargs["reward"]`` is a reward file: build one env, reset it and take one step (a sampled
    action), raising :class:`RewardError` if the function fails there. Run in the training process before
    anything is written, so a function that fails at once is one line and no run folder."""
    if not is_reward_file(env_kwargs.get("reward")):
        return
    from racingline.sim.wrappers import make_env

    env = make_env(**{**env_kwargs, "render_mode": None})
    try:
        env.reset(seed=seed)
        env.action_space.seed(seed)
        _, _, _, _, info = env.step(env.action_space.sample())
        raise_reward_error(info)
    finally:
        env.close()
