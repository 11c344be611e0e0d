"""Evaluating a run trained with ``env.sim: torcs``: laps and lap times on TORCS tracks, beside the robots'.

The run's own observation stack is rebuilt around a :class:`~racingline.torcs.env.TorcsEnv` on each track
(:func:`racingline.evaluate.rollouts.wrap_for_model`: saved ``VecNormalize`` statistics, frozen); the
results are racingline's usual :class:`~racingline.evaluate.results.EvalReport`. :func:`compare_with_robots`
puts each track's lap time beside the shipped robots' (racing alone, results-only, from the same grid).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from racingline.errors import ConfigError
from racingline.evaluate.results import EpisodeResult, EvalReport, TrackResult

__all__ = ["run_sim", "evaluate_torcs", "torcs_rollouts", "plot_torcs_trajectories", "compare_with_robots"]


def run_sim(model: str | os.PathLike | None, runs_dir: str | os.PathLike = "runs") -> str:
    """The simulator (``env.sim``) a run was trained on, read from its ``config.yaml`` (the newest run in
    ``runs_dir`` when ``model`` is None); ``carracing`` for a config that predates the key."""
    from racingline.train.config import load_config
    from racingline.train.runs import latest_run, resolve_run_files

    path = Path(model) if model is not None else latest_run(runs_dir)
    return load_config(resolve_run_files(path)[1]).env.sim


def evaluate_torcs(run: Any, tracks: Sequence[str], episodes: int = 1, max_steps: int | None = None,
                   deterministic: bool = True, seed: int = 0,
                   on_episode: Callable[[EpisodeResult], None] | None = None,
                   paths: list[Any] | None = None) -> EvalReport:
    """Drive ``run`` (a :class:`~racingline.train.runs.LoadedRun` trained on TORCS) for ``episodes`` episodes
    on each TORCS track; returns the report (lap times are TORCS's, from a standing start on the grid).

    ``paths``: a list that each episode's :class:`~racingline.evaluate.results.Rollout` (the path driven,
    coloured by speed in pictures) is appended to.

    Raises :class:`~racingline.torcs.install.TorcsError` for an unknown track, :class:`ConfigError` for a run
    not trained on TORCS, :class:`~racingline.errors.ModelError` when the model does not fit the env.
    """
    from racingline.evaluate.rollouts import wrap_for_model
    from racingline.torcs.config import make_torcs_env
    from racingline.torcs.install import find_torcs, resolve_track
    from racingline.train.config import env_settings

    cfg = run.config
    if cfg.env.sim != "torcs":
        raise ConfigError(f"{run.run_dir}: trained on env.sim {cfg.env.sim!r}, not 'torcs'; evaluate it without --sim")
    install = find_torcs()
    names = [resolve_track(install, t) for t in tracks]
    if not deterministic:
        run.model.set_random_seed(seed)
    results = []
    for track in names:
        kw = env_settings(cfg.env)
        kw.pop("sim")
        kw["track_weights"] = None
        if max_steps is not None:
            kw["max_episode_steps"] = int(max_steps)
        venv = wrap_for_model(run, make_torcs_env(track, **kw), seed=seed)
        eps = []
        try:
            for _ in range(int(episodes)):
                eps.append(_episode(run, venv, track, deterministic, paths))
                if on_episode is not None:
                    on_episode(eps[-1])
        finally:
            venv.close()
        length = venv.unwrapped.envs[0].unwrapped.track_length_m(track)
        results.append(TrackResult(track=track, source=None, length_m=length, episodes=eps))
    return EvalReport(model=str(run.model_path), run_dir=str(run.run_dir), deterministic=bool(deterministic),
                      max_steps=max_steps, tracks=results)


def _episode(run: Any, venv: Any, track: str, deterministic: bool, paths: list[Any] | None = None) -> EpisodeResult:
    obs = venv.reset()
    total = 0.0
    reversed_steps = 0
    env = venv.unwrapped.envs[0].unwrapped
    path = [env.state.position_m]
    speeds = [env.state.speed_mps]
    while True:
        action, _ = run.model.predict(obs, deterministic=deterministic)
        obs, rewards, dones, infos = venv.step(action)
        info = infos[0]
        total += float(rewards[0])
        reversed_steps += bool(info.get("reversed", False))
        path.append(tuple(info["position_m"]))
        speeds.append(float(info["speed_mps"]))
        if dones[0]:
            result = EpisodeResult.from_final_info(info, track=track, total_reward=total,
                                                   reversed_steps=reversed_steps)
            if paths is not None:
                from racingline.evaluate.results import Rollout

                paths.append(Rollout(track=env.track_view(track).track, path_m=path, info=dict(info), result=result,
                                     speeds_mps=speeds, sim="torcs"))
            return result


def torcs_rollouts(run: Any, tracks: Sequence[str], *, max_steps: int | None = None) -> list[Any]:
    """One deterministic episode of ``run`` on each TORCS track, as :class:`~racingline.evaluate.results.Rollout`
    objects (the path in TORCS's metres, the track from TORCS's own description)."""
    paths: list[Any] = []
    evaluate_torcs(run, tracks, episodes=1, max_steps=max_steps, deterministic=True, paths=paths)
    return paths


def plot_torcs_trajectories(run: Any, tracks: Sequence[str], out: str | os.PathLike, *, max_steps: int | None = None,
                            cols: int | None = None) -> list[Any]:
    """``racingline plot-trajectories`` of a TORCS run: the grid of driven paths, coloured by speed, over
    the TORCS tracks (whole road width, start line, direction). Written only when every rollout ran."""
    from racingline.evaluate.plots import save_figure, trajectory_figure

    rollouts = torcs_rollouts(run, tracks, max_steps=max_steps)
    save_figure(trajectory_figure(rollouts, cols=cols), out)
    return rollouts


def compare_with_robots(report: EvalReport, robots: Sequence[str] = ("bt", "berniw:1"), *, laps: int = 1
                        ) -> list[dict[str, Any]]:
    """Per track: the agent's median lap time beside each robot's (racing alone for ``laps`` laps) and the
    agent's ratio to the first robot (``ratio`` None when the agent completed no lap)."""
    from racingline.torcs.anchors import robot_lap_times

    tracks = [t.track for t in report.tracks]
    times = robot_lap_times(tracks, robots, laps=laps)
    rows = []
    for t in report.tracks:
        row: dict[str, Any] = {"track": t.track, "agent_lap_s": t.median_lap_time_s,
                               "agent_laps": f"{t.laps_completed}/{len(t.episodes)}"}
        for r in times:
            if r["track"] == t.track:
                row[r["robot"]] = r["time_s"] / laps if r["laps"] >= laps else math.nan
        first = times[0]["robot"] if times else None
        ref = row.get(first) if first is not None else None
        agent = t.median_lap_time_s
        row["ratio"] = agent / ref if agent is not None and ref and not math.isnan(ref) else None
        rows.append(row)
    return rows
