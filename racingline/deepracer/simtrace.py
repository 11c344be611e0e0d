"""DeepRacer simulation-trace logs: the per-step CSV files the community's log-analysis notebooks read.

Format: DeepRacer's own ``sim-trace`` CSV, one row per agent step, in the folder layout of a DeepRacer
console model export (``LogFolderType.DROA_SOLUTION_LOGS`` in ``deepracer-utils``), so a racingline run
folder opens as a DeepRacer model folder::

    from deepracer.logs import DeepRacerLog, AnalysisUtils
    log = DeepRacerLog("runs/<run>")            # the run folder (or any folder given to eval --sim-trace)
    log.load_training_trace()                   # racingline train --sim-trace
    log.load_evaluation_trace()                 # racingline eval --sim-trace runs/<run>
    AnalysisUtils.simulation_agg(log.dataframe())

Files (``<N>-iteration.csv``, written whole: a temporary name in the same folder, then a rename)::

    <folder>/sim-trace/training/racingline/training-simtrace/<N>-iteration.csv
    <folder>/sim-trace/evaluation/<YYYYmmddHHMMSS>-<track>/evaluation-simtrace/<N>-iteration.csv

Why this and not the robomaker-log ``SIM_TRACE_LOG:`` lines: ``DeepRacerLog(folder).load_training_trace()``
and ``load_evaluation_trace()`` read these CSV files directly, with their header (so columns are found by
name), a stream per evaluation folder, and no hyperparameter dump to fake (``load_robomaker_logs`` needs
the hyperparameters, sensor list and world name printed by DeepRacer's own simulator first). Each file is
also a plain CSV any pandas notebook reads.

Columns (DeepRacer's ``StepMetrics``, in its order):

==========================  ================================================================================
``episode``                 episode number; an ``N-iteration.csv`` holds episodes ``N*E .. N*E+E-1`` (E:
                            ``episodes_per_file``, 20), so ``episode`` names one episode of a run
``steps``                   agent steps since the reset: 0 on the ``prepare`` row (the car placed at its start),
                            then 1, 2, ... (DeepRacer's ``params["steps"]``)
``X``, ``Y``                car position in the track file's metres
``yaw``                     heading, degrees in (-180, 180], 0 along +x, counter-clockwise positive
``steer``                   front wheels' steering angle, degrees, positive = left (the simulated car's joint,
                            at most 22.9 degrees; not the action's command)
``throttle``                speed, m/s (measured, not the action's target speed)
``action``                  discrete action index; -1 for continuous actions (as DeepRacer logs them)
``reward``                  the env's reward for the step (before any ``VecNormalize`` scaling); 0 on ``prepare``
``done``                    ``True`` on the episode's last step
``all_wheels_on_track``     all four wheels touch the simulated road (half DeepRacer's width)
``progress``                percent of the centerline covered since the start, 0-100 (100 exactly on a lap)
``closest_waypoint``        index of the waypoint nearest the car, in the driven direction's order
``track_len``               centerline length, m
``tstamp``                  simulated time, s: per environment, continuing across its episodes (DeepRacer's
                            Gazebo clock), so differences within an episode are lap times
``episode_status``          ``prepare``, ``in_progress``, then at the end ``lap_complete``, ``off_track``
                            (all wheels off the road, or the car left the simulated area) or ``time_up``
                            (the episode's step limit)
``pause_duration``          0.0 (racingline never pauses the car)
``obstacle_crash_counter``  0 (no objects in this simulator)
``wall_clock``              wall time (Unix seconds) when the step was recorded
==========================  ================================================================================

Memory is bounded: a writer holds at most one unfinished episode per environment plus one unfinished
file (``episodes_per_file`` episodes) per environment; ``rows_held`` and ``peak_rows`` count the rows it holds.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from racingline.io import atomic_write_text

__all__ = [
    "COLUMNS",
    "EPISODE_STATUSES",
    "SimTraceWriter",
    "training_trace_dir",
    "evaluation_trace_dir",
    "evaluation_stream",
    "next_iteration",
    "vec_reset_infos",
]

#: The CSV header: DeepRacer's StepMetrics, in its order.
COLUMNS = (
    "episode", "steps", "X", "Y", "yaw", "steer", "throttle", "action", "reward", "done", "all_wheels_on_track",
    "progress", "closest_waypoint", "track_len", "tstamp", "episode_status", "pause_duration",
    "obstacle_crash_counter", "wall_clock",
)
#: The ``episode_status`` values racingline writes (a subset of DeepRacer's EpisodeStatus).
EPISODE_STATUSES = ("prepare", "in_progress", "lap_complete", "off_track", "time_up")
#: DeepRacer's default ``num_episodes_between_training``: episodes per iteration file.
EPISODES_PER_FILE = 20
#: Folder (under ``sim-trace/training/``) of a run's training logs; DeepRacer's console puts a session name there.
TRAINING_SESSION = "racingline"

_ITERATION_RE = re.compile(r"^(\d+)-iteration\.csv$")


def training_trace_dir(folder: str | os.PathLike) -> Path:
    """The ``training-simtrace`` folder of a model (run) folder."""
    return Path(folder) / "sim-trace" / "training" / TRAINING_SESSION / "training-simtrace"


def evaluation_trace_dir(folder: str | os.PathLike, stream: str) -> Path:
    """The ``evaluation-simtrace`` folder of one evaluation stream (DeepRacer's loader names the stream after it)."""
    return Path(folder) / "sim-trace" / "evaluation" / stream / "evaluation-simtrace"


def evaluation_stream(folder: str | os.PathLike, track: str, *, reverse: bool = False, now: float | None = None) -> Path:
    """A new ``evaluation-simtrace`` folder for one evaluation of ``track``: stream ``<YYYYmmddHHMMSS>-<track>``
    (``-reversed`` when driven the other way; ``-2``, ``-3``... when that stream already exists)."""
    stamp = time.strftime("%Y%m%d%H%M%S", time.localtime(time.time() if now is None else now))
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(track)).strip("._") or "track"
    base = f"{stamp}-{name}" + ("-reversed" if reverse else "")
    stream, n = base, 1
    while (Path(folder) / "sim-trace" / "evaluation" / stream).exists():
        n += 1
        stream = f"{base}-{n}"
    return evaluation_trace_dir(folder, stream)


def next_iteration(trace_dir: str | os.PathLike) -> int:
    """One past the highest ``<N>-iteration.csv`` in ``trace_dir`` (0 when there is none): where a resumed run continues."""
    path = Path(trace_dir)
    if not path.is_dir():
        return 0
    found = [int(m.group(1)) for m in (_ITERATION_RE.match(p.name) for p in path.iterdir()) if m]
    return max(found) + 1 if found else 0


def vec_reset_infos(venv: Any) -> list[dict[str, Any]]:
    """The ``info`` of each env's latest reset in a Stable-Baselines3 ``VecEnv`` (through its wrappers).

    SB3 keeps them in ``reset_infos``, updated on every automatic reset; racingline's
    :class:`~racingline.train.sb3.vec_env.SplitVecEnv` keeps them in its two parts (``local``, ``remote``).
    """
    base = getattr(venv, "unwrapped", venv)
    local = getattr(base, "local", None)
    if local is not None:
        parts = [local, getattr(base, "remote", None)]
        return [dict(info) for part in parts if part is not None for info in part.reset_infos]
    return [dict(info) for info in getattr(base, "reset_infos", [{}] * base.num_envs)]


def _status(info: Mapping[str, Any], done: bool) -> str:
    if not done:
        return "in_progress"
    if info.get("lap_complete"):
        return "lap_complete"
    if info.get("TimeLimit.truncated"):
        return "time_up"
    if info.get("off_track") or info.get("out_of_playfield"):
        return "off_track"
    return "time_up"


def _bool(value: Any) -> str:
    return "True" if value else "False"


class SimTraceWriter:
    """Writes DeepRacer simulation-trace CSV files from the env's ``info`` dicts, one file per batch of episodes.

    Feed it, for each environment ``env`` (0 .. ``n_envs`` - 1), the ``info`` of each reset (:meth:`reset`)
    and of each step with the step's reward and action (:meth:`step`). Each file holds the episodes of one
    environment (so its ``tstamp`` runs forward), numbered in the order files are written from
    ``first_iteration`` on. A file is written once it holds ``episodes_per_file`` episodes, and by
    :meth:`close` with the episodes finished so far; an episode still running at :meth:`close` is dropped.

    Episodes of iteration ``N`` are numbered ``N * E + i`` (``E`` = ``episodes_per_file``). deepracer-utils'
    training loader takes ``E`` from iteration 0 (its largest episode + 1) to number episodes across
    iterations (``unique_episode``); so that this holds when iteration 0 is written short (training ended
    before ``E`` episodes), ``pad_first_file`` numbers that file's last episode ``E - 1``.

    Args:
        trace_dir: the ``training-simtrace`` or ``evaluation-simtrace`` folder (made when the first file is written).
        n_envs: environments feeding this writer.
        episodes_per_file: episodes per ``<N>-iteration.csv`` (DeepRacer's ``num_episodes_between_training``).
        first_iteration: the first file's number (:func:`next_iteration` continues a resumed run).
        clock: wall clock for ``wall_clock`` (tests pass a fake one).
    """

    def __init__(self, trace_dir: str | os.PathLike, *, n_envs: int = 1, episodes_per_file: int = EPISODES_PER_FILE,
                 first_iteration: int = 0, pad_first_file: bool = False, clock=time.time) -> None:
        if int(n_envs) < 1:
            raise ValueError(f"n_envs={n_envs}: need at least one environment")
        if int(episodes_per_file) < 1:
            raise ValueError(f"episodes_per_file={episodes_per_file}: must be at least 1")
        if int(first_iteration) < 0:
            raise ValueError(f"first_iteration={first_iteration}: must be >= 0")
        self.trace_dir = Path(trace_dir)
        self.n_envs = int(n_envs)
        self.episodes_per_file = int(episodes_per_file)
        self.first_iteration = int(first_iteration)
        self.pad_first_file = bool(pad_first_file)
        self._next_iteration = self.first_iteration
        self.clock = clock
        self._episode: list[list[str] | None] = [None] * self.n_envs   # rows of each env's running episode
        self._file: list[list[list[str]]] = [[] for _ in range(self.n_envs)]  # finished episodes not yet written
        self._sim_clock = [0.0] * self.n_envs   # simulated seconds of each env's finished episodes
        self._last_time = [0.0] * self.n_envs
        #: Rows held in memory now, and the most ever held (the memory bound, counted).
        self.rows_held = 0
        self.peak_rows = 0
        #: Files written, in order.
        self.written: list[Path] = []
        self.episodes_written = 0

    # ------------------------------------------------------------------ feeding
    def _row(self, env: int, info: Mapping[str, Any], *, steps: int, action: int, reward: float, done: bool,
             status: str, time_s: float) -> list[str]:
        x, y = info["position_m"]
        progress = 100.0 if info.get("lap_complete") else min(100.0, max(0.0, float(info["progress"])))
        return [
            "", str(int(steps)), f"{float(x):.4f}", f"{float(y):.4f}", f"{float(info['heading_deg']):.4f}",
            f"{float(info['steering_deg']):.2f}", f"{float(info['speed_mps']):.2f}", str(int(action)),
            f"{float(reward):.4f}", _bool(done), _bool(int(info["wheels_on_road"]) == 4), f"{progress:.4f}",
            str(int(info["closest_waypoint"])), f"{float(info['track_length_m']):.2f}",
            f"{self._sim_clock[env] + time_s:.3f}", status, "0.0", "0", f"{self.clock():.3f}",
        ]

    def _hold(self, n: int) -> None:
        self.rows_held += n
        self.peak_rows = max(self.peak_rows, self.rows_held)

    def reset(self, env: int, info: Mapping[str, Any]) -> None:
        """Start environment ``env``'s episode from its reset ``info``: the ``prepare`` row. A running episode is dropped."""
        self._drop_running(env)
        self._episode[env] = [self._row(env, info, steps=0, action=-1, reward=0.0, done=False, status="prepare",
                                        time_s=0.0)]
        self._last_time[env] = 0.0
        self._hold(1)

    def step(self, env: int, info: Mapping[str, Any], reward: float, action: int | None, done: bool) -> None:
        """Record environment ``env``'s step: its ``info``, (unnormalised) ``reward``, discrete ``action`` index
        (``None`` for continuous actions) and whether the episode ended.

        Without a :meth:`reset` first (an episode that started before the writer), the episode is skipped.
        """
        rows = self._episode[env]
        if rows is None:
            if done:
                self._sim_clock[env] += float(info.get("lap_time_s", 0.0))
            return
        time_s = float(info.get("lap_time_s", 0.0))
        steps = int(info.get("lap_steps", len(rows)))
        rows.append(self._row(env, info, steps=steps, action=-1 if action is None else int(action), reward=reward,
                              done=done, status=_status(info, done), time_s=time_s))
        self._last_time[env] = time_s
        self._hold(1)
        if done:
            self._finish(env)

    def _finish(self, env: int) -> None:
        rows = self._episode[env]
        self._episode[env] = None
        self._file[env].append(rows)
        self._sim_clock[env] += self._last_time[env] + 1.0  # a second between episodes, as a reset takes in DeepRacer
        if len(self._file[env]) >= self.episodes_per_file:
            self._write(env)

    def _drop_running(self, env: int) -> None:
        rows = self._episode[env]
        if rows is not None:
            self.rows_held -= len(rows)
            self._episode[env] = None

    # ------------------------------------------------------------------ writing
    def _write(self, env: int) -> Path | None:
        episodes = self._file[env]
        if not episodes:
            return None
        iteration = self._next_iteration
        per_file = self.episodes_per_file
        for i, rows in enumerate(episodes):
            last = i == len(episodes) - 1 and iteration == 0 and self.pad_first_file
            number = str(iteration * per_file + (per_file - 1 if last else i))
            for row in rows:
                row[0] = number
        path = self.trace_dir / f"{iteration}-iteration.csv"
        lines = [",".join(COLUMNS)]
        lines += [",".join(row) for rows in episodes for row in rows]
        atomic_write_text(path, "\n".join(lines) + "\n")
        self.rows_held -= sum(len(rows) for rows in episodes)
        self.episodes_written += len(episodes)
        self._file[env] = []
        self._next_iteration += 1
        self.written.append(path)
        return path

    def flush(self) -> list[Path]:
        """Write every environment's finished episodes now (each into its next file); return the files written."""
        return [p for p in (self._write(env) for env in range(self.n_envs)) if p is not None]

    def close(self) -> list[Path]:
        """Write the finished episodes, drop the running ones; return the files written by this call."""
        out = self.flush()
        for env in range(self.n_envs):
            self._drop_running(env)
        return out

    def __enter__(self) -> SimTraceWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
