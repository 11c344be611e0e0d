"""Each training callback on its own, driving a real tiny PPO on a real env (racingline.train.callbacks)."""

from __future__ import annotations

import csv
import signal
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import VecNormalize

from racingline.signals import Interrupted, StopSignals, exit_code
from racingline.train.callbacks import (
    PROGRESS_COLUMNS,
    CheckpointCallback,
    ProgressBarCallback,
    ProgressCsvCallback,
    StopOnEventCallback,
    make_callbacks,
)
from racingline.train.runs import RunFolder


class FakeBar:
    """Records what the callbacks tell a progress bar."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.stat_calls: list[tuple] = []

    def step(self, timesteps: int) -> None:
        self.steps.append(timesteps)

    def stats(self, sps, rew, prog) -> None:
        self.stat_calls.append((sps, rew, prog))


class SetAt(BaseCallback):
    """Sets ``event`` once the step count reaches ``at``."""

    def __init__(self, event: threading.Event, at: int) -> None:
        super().__init__()
        self.event, self.at = event, at

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.at:
            self.event.set()
        return True


def _rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def _monitor(model):
    return model.get_env().venv.envs[0]  # VecNormalize -> DummyVecEnv -> Monitor


@pytest.fixture
def run(tmp_path) -> RunFolder:
    return RunFolder.create("cb", run_dir=tmp_path / "run")


# ---------------------------------------------------------------------------------------------- progress.csv
def test_progress_csv_writes_one_row_per_rollout(tiny_ppo, run):
    bar = FakeBar()
    n = tiny_ppo.n_steps
    tiny_ppo.learn(3 * n, callback=ProgressCsvCallback(run, bar))
    header, rows = _rows(run.progress)
    assert header == list(PROGRESS_COLUMNS)
    assert [int(r["timesteps"]) for r in rows] == [n, 2 * n, 3 * n]
    times = [float(r["time_s"]) for r in rows]
    assert times == sorted(times) and times[0] > 0
    assert all(float(r["steps_per_s"]) > 0 for r in rows)
    # every row holds its own update's losses (written after the update, not before)
    for col in PROGRESS_COLUMNS[8:]:
        assert all(r[col] != "" for r in rows), col
    assert [float(r["learning_rate"]) for r in rows] == pytest.approx([3e-4] * 3)
    # the episode figures are those of the Monitor's finished episodes
    lengths = _monitor(tiny_ppo).get_episode_lengths()
    assert len(lengths) >= 3  # 50-step episodes: at least three ended in 192 steps
    assert int(rows[-1]["episodes"]) == len(lengths)
    assert float(rows[-1]["ep_len_mean"]) == pytest.approx(np.mean(lengths), rel=1e-5)
    assert 0 <= float(rows[-1]["ep_progress_mean"]) <= 100 and float(rows[-1]["lap_rate"]) == 0
    # the bar got each rollout's rate, mean reward and progress
    assert len(bar.stat_calls) == 3
    assert bar.stat_calls[-1][1] == pytest.approx(float(rows[-1]["ep_rew_mean"]), rel=1e-5)


def test_progress_csv_appends_and_continues_time_and_episodes(tiny_ppo, run):
    n = tiny_ppo.n_steps
    tiny_ppo.learn(2 * n, callback=ProgressCsvCallback(run))
    _, before = _rows(run.progress)
    tiny_ppo.learn(2 * n, callback=ProgressCsvCallback(run), reset_num_timesteps=False)
    header, rows = _rows(run.progress)
    assert header == list(PROGRESS_COLUMNS)  # one header: the file was appended to
    assert rows[:2] == before
    assert [int(r["timesteps"]) for r in rows] == [n, 2 * n, 3 * n, 4 * n]
    assert float(rows[2]["time_s"]) > float(rows[1]["time_s"])
    assert int(rows[-1]["episodes"]) == len(_monitor(tiny_ppo).get_episode_lengths())


# ---------------------------------------------------------------------------------------------- checkpoints
def test_checkpoint_every_n_steps(tiny_ppo, run):
    tiny_ppo.learn(256, callback=CheckpointCallback(run, 100))
    names = sorted(p.name for p in run.checkpoints.iterdir())
    assert names == ["step_000000100.zip", "step_000000100_vecnormalize.pkl",
                     "step_000000200.zip", "step_000000200_vecnormalize.pkl"]
    assert run.checkpoint(100).is_file() and run.vecnormalize_for(run.checkpoint(200)).is_file()
    saved = PPO.load(run.checkpoint(100), device="cpu")
    assert saved.num_timesteps == 100
    # each checkpoint holds the statistics as they were at its step: 100 more observations in the later one
    counts = [VecNormalize.load(str(run.vecnormalize_for(run.checkpoint(s))), tiny_ppo.get_env().venv).obs_rms.count
              for s in (100, 200)]
    assert counts[1] - counts[0] == pytest.approx(100)
    # resumed: the next multiple after the starting count
    tiny_ppo.learn(64, callback=CheckpointCallback(run, 100), reset_num_timesteps=False)
    assert run.checkpoint(300).is_file() and not run.checkpoint(256).exists()
    with zipfile.ZipFile(run.checkpoint(300)) as zf:
        assert "policy.pth" in zf.namelist()


def test_checkpoint_every_zero_saves_nothing(tiny_ppo, run):
    tiny_ppo.learn(128, callback=CheckpointCallback(run, 0))
    assert list(run.checkpoints.iterdir()) == []
    with pytest.raises(ValueError, match="every=-1"):
        CheckpointCallback(run, -1)


# ---------------------------------------------------------------------------------------------- stop
def test_stop_callback_stops_learning_once_the_event_is_set(tiny_ppo):
    stop = threading.Event()
    tiny_ppo.learn(10_000, callback=CallbackList([SetAt(stop, 70), StopOnEventCallback(stop)]))
    assert tiny_ppo.num_timesteps == 70  # stopped right after the step that set it
    assert tiny_ppo._n_updates == 1  # the update of the first rollout only; none on the partial one


def test_stop_callback_set_before_learning_stops_after_one_step(tiny_ppo):
    stop = threading.Event()
    stop.set()
    tiny_ppo.learn(10_000, callback=StopOnEventCallback(stop))
    assert tiny_ppo.num_timesteps == 1


def test_stop_callback_unset_lets_learning_finish(tiny_ppo):
    tiny_ppo.learn(128, callback=StopOnEventCallback(threading.Event()))
    assert tiny_ppo.num_timesteps == 128


@pytest.mark.parametrize("first, second", [(signal.SIGINT, signal.SIGINT), (signal.SIGTERM, signal.SIGINT)])
def test_first_signal_sets_the_event_and_the_second_interrupts(first, second):
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with StopSignals() as signals:
        signal.raise_signal(first)
        assert signals.stop.is_set() and signals.signum == first
        with pytest.raises(Interrupted) as info:
            signal.raise_signal(second)
        assert info.value.signum == first and exit_code(info.value.signum) == 128 + first
        signals.ignore()
        signal.raise_signal(signal.SIGTERM)  # dropped while the final save runs
    assert {s: signal.getsignal(s) for s in previous} == previous


# ---------------------------------------------------------------------------------------------- bar and assembly
def test_progress_bar_callback_follows_every_step(tiny_ppo):
    bar = FakeBar()
    tiny_ppo.learn(64, callback=ProgressBarCallback(bar))
    assert bar.steps == list(range(1, 65))


def test_make_callbacks_assembles_them(tiny_ppo, run):
    plain = make_callbacks(run, 0, threading.Event(), None)
    assert [type(c) for c in plain.callbacks] == [ProgressCsvCallback, CheckpointCallback, StopOnEventCallback]
    bar = FakeBar()
    stop = threading.Event()
    full = make_callbacks(run.path, 64, stop, bar)  # a plain path works too
    assert [type(c) for c in full.callbacks] == [ProgressCsvCallback, CheckpointCallback, ProgressBarCallback,
                                                 StopOnEventCallback]
    tiny_ppo.learn(128, callback=CallbackList([SetAt(stop, 100), full]))
    assert tiny_ppo.num_timesteps == 100 and bar.steps[-1] == 100
    assert sorted(p.name for p in run.checkpoints.glob("*.zip")) == ["step_000000064.zip"]
    _, rows = _rows(run.progress)
    assert [int(r["timesteps"]) for r in rows] == [64]  # the partial rollout makes no row
