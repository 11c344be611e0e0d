"""``racingline sweep``: Ray Tune runs the trials, Optuna's TPE sampler proposes them, ASHA stops poor ones early.

A sweep is a base config, a search space (:mod:`racingline.sweep.space`), a number of trials and an objective
(:mod:`racingline.sweep.objective`) scored on the base config's ``eval.tracks`` (held out: keep them out of
``env.track``). Each trial is a normal run folder trained by ``racingline train`` (:mod:`racingline.sweep.trial`),
declaring ``n_envs`` CPUs (and a GPU with ``ppo.device: cuda``) to Ray. The sweep folder's layout is
:class:`racingline.sweep.folder.SweepFolder`'s.

Ctrl-C (or SIGTERM) stops the sweep cleanly: Ray Tune saves its state, each running trial's trainer saves its
model, Ray shuts down, and ``racingline sweep --resume DIR`` (:func:`resume_sweep`, Tune's ``Tuner.restore``)
continues: unfinished trials resume their run folders, the searcher and scheduler keep what they learnt.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from racingline.errors import ConfigError, RacinglineError
from racingline.io import atomic_write_text
from racingline.sweep.cluster import ClusterError, check_address, cluster_cpus, ray_session, require_ray
from racingline.sweep.folder import SweepFolder, trial_name
from racingline.sweep.objective import check_objective
from racingline.sweep.results import TrialRow, collect_rows, write_results
from racingline.sweep.space import SearchSpace, space_from_dict
from racingline.sweep.trial import TrialSettings
from racingline.train.config import Config, config_from_dict, config_to_dict

__all__ = ["SweepSpec", "SweepOutcome", "SweepError", "start_sweep", "resume_sweep", "REPORTS_PER_TRIAL"]

#: Training progress reports per trial (the early-stopping scheduler's look-ups).
REPORTS_PER_TRIAL = 16
#: Seconds the sweep waits, at its end, for stopped trainers to finish saving.
_TRAINER_WAIT_S = 150.0


class SweepError(RacinglineError, ValueError):
    """A sweep folder that cannot be started in or resumed from."""


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep is (saved as ``sweep.yaml``; ``--resume`` reads it back).

    Attributes:
        base: the resolved base config (its ``eval`` section is the held-out evaluation).
        space: the search space.
        trials: how many trials to run.
        objective: one of :data:`racingline.choices.SWEEP_OBJECTIVES`.
        concurrent: most trials at once (``None``: as many as the CPUs allow, ``n_envs`` each).
        seed: the TPE sampler's seed.
        early_stop: stop poor trials early (ASHA on training progress).
        line_gap: score lap times against the best racing line of each track (``laps`` objective).
    """

    base: Config
    space: SearchSpace
    trials: int
    objective: str = "laps"
    concurrent: int | None = None
    seed: int = 0
    early_stop: bool = True
    line_gap: bool = False

    def __post_init__(self) -> None:
        check_objective(self.objective)
        if int(self.trials) < 1:
            raise ConfigError(f"trials={self.trials}: must be at least 1")
        if self.concurrent is not None and int(self.concurrent) < 1:
            raise ConfigError(f"concurrent={self.concurrent}: must be at least 1")

    @property
    def budget(self) -> int:
        """The most env steps a trial can train (the space may vary ``total_timesteps``)."""
        return int(self.space.largest("total_timesteps", self.base.total_timesteps))

    @property
    def cpus_per_trial(self) -> int:
        """The most CPUs a trial declares: its ``n_envs`` (the trainer and its env workers)."""
        return int(self.space.largest("n_envs", self.base.n_envs))

    def to_dict(self) -> dict[str, Any]:
        return {"trials": int(self.trials), "objective": self.objective, "concurrent": self.concurrent,
                "seed": int(self.seed), "early_stop": bool(self.early_stop), "line_gap": bool(self.line_gap),
                "space": self.space.to_dict(), "base": config_to_dict(self.base)}

    @classmethod
    def from_dict(cls, data: Any, source: str) -> SweepSpec:
        if not isinstance(data, dict) or not isinstance(data.get("base"), dict) or "space" not in data:
            raise SweepError(f"{source}: not a racingline sweep settings file")
        base = config_from_dict(data["base"], f"{source}: base")
        fields = {f.name for f in dataclasses.fields(cls)} - {"base", "space"}
        return cls(base=base, space=space_from_dict(data["space"], base, f"{source}: space"),
                   **{k: v for k, v in data.items() if k in fields})


@dataclass
class SweepOutcome:
    """A finished (or interrupted) sweep: its folder, trial rows, best row, and the signal that stopped it."""

    folder: SweepFolder
    spec: SweepSpec
    rows: list[TrialRow]
    best: TrialRow | None
    signum: int | None = None

    @property
    def interrupted(self) -> bool:
        return self.signum is not None or any(r.status == "unfinished" for r in self.rows) \
            or len(self.rows) < self.spec.trials


# ---------------------------------------------------------------------------------------------- starting
def _load_eval_tracks(cfg: Config) -> tuple[Any, ...]:
    from racingline.evaluate.rollouts import resolve_eval_tracks

    try:
        return tuple(resolve_eval_tracks(specs=list(cfg.eval.tracks)))
    except RacinglineError as exc:
        raise ConfigError(f"config key 'eval.tracks': {exc}") from None


def held_in_tracks(spec: SweepSpec) -> list[str]:
    """Evaluation tracks that the base config also trains on (the objective is then not held out)."""
    train = spec.base.env.track if isinstance(spec.base.env.track, list) else [spec.base.env.track]
    names = {Path(str(t)).stem for t in train}
    return [t for t in spec.base.eval.tracks if Path(str(t)).stem in names]


def check_new_sweep_folder(out: str | os.PathLike) -> SweepFolder:
    """``out`` can hold a new sweep: not a sweep already (one line pointing at ``--resume``), writable."""
    from racingline.io import check_writable_dir

    folder = SweepFolder(out)
    if folder.tune.exists():  # a sweep.yaml alone: a sweep stopped before Tune started, made again
        raise SweepError(f"{out}: already holds a sweep; continue it with --resume {out} or choose another --out")
    check_writable_dir(folder.path, what="--out")
    return folder


def start_sweep(spec: SweepSpec, out: str | os.PathLike, *, address: str | None = None, cpus: int | None = None,
                lines: bool = False, on_start: Callable[[], None] | None = None) -> SweepOutcome:
    """Run a new sweep into the folder ``out`` (made if missing; must not hold a sweep).

    ``address``: a Ray cluster to run on (``host:port`` or ``auto``); else a local Ray with ``cpus`` CPUs
    (default: this machine's). ``lines``: print one line per finished trial on stderr. ``on_start`` is called
    once the inputs are checked, before Ray starts.

    Raises:
        ConfigError, TrackError, SweepError, MissingExtraError: before anything is written or started;
        ClusterError: Ray cannot start or be reached, or has fewer CPUs than a trial needs.
    """
    eval_tracks = _load_eval_tracks(spec.base)
    require_ray("racingline sweep", optuna=True)
    folder = check_new_sweep_folder(out)
    _check_local_cpus(spec, address, cpus)
    if on_start is not None:
        on_start()
    return _run(folder, spec, eval_tracks, restore=False, address=address, cpus=cpus, lines=lines)


def _check_local_cpus(spec: SweepSpec, address: str | None, cpus: int | None) -> None:
    """A local Ray must have the CPUs of one trial (a cluster's are checked once connected); a cluster's
    address must answer."""
    if address:
        check_address(address)
        return
    have = int(cpus or os.cpu_count() or 1)
    if spec.cpus_per_trial > have:
        raise ClusterError(_too_few_cpus(spec.cpus_per_trial, have, "the local Ray (--cpus, default: this machine's)"))


def _too_few_cpus(need: int, have: int, where: str) -> str:
    return f"n_envs {need}: a trial needs {need} CPUs but {where} has {have}; lower n_envs or add CPUs"


def read_spec(folder: SweepFolder) -> SweepSpec:
    """The settings of the sweep in ``folder`` (``sweep.yaml``)."""
    if not folder.settings.is_file():
        what = "no such folder" if not folder.path.exists() else f"not a sweep folder (no {SweepFolder.SETTINGS_FILE})"
        raise SweepError(f"{folder.path}: {what}")
    try:
        data = yaml.safe_load(folder.settings.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        raise SweepError(f"{folder.settings}: not valid YAML") from None
    return SweepSpec.from_dict(data, str(folder.settings))


def resume_sweep(out: str | os.PathLike, *, address: str | None = None, cpus: int | None = None,
                 lines: bool = False, on_start: Callable[[], None] | None = None) -> SweepOutcome:
    """Continue the sweep in ``out`` (Ray Tune's ``Tuner.restore``): unfinished trials resume their run
    folders, new trials are proposed until the sweep's number of trials ran. As :func:`start_sweep` otherwise."""
    folder = SweepFolder(out)
    spec = read_spec(folder)
    eval_tracks = _load_eval_tracks(spec.base)
    require_ray("racingline sweep", optuna=True)
    from ray import tune

    if not tune.Tuner.can_restore(str(folder.tune)):
        raise SweepError(f"{out}: Ray Tune saved no state there yet (the sweep stopped before it started); "
                         "start it again without --resume")
    _check_local_cpus(spec, address, cpus)
    if on_start is not None:
        on_start()
    return _run(folder, spec, eval_tracks, restore=True, address=address, cpus=cpus, lines=lines)


# ---------------------------------------------------------------------------------------------- running
def _trainable(spec: SweepSpec, settings: TrialSettings) -> Any:
    from ray import tune
    from ray.tune.execution.placement_groups import PlacementGroupFactory

    base, space = spec.base, spec.space

    def resources(params: dict[str, Any]) -> PlacementGroupFactory:
        n_envs = int(space.overrides(params).get("n_envs", base.n_envs))
        device = space.overrides(params).get("ppo.device", base.ppo.device)
        bundle: dict[str, float] = {"CPU": float(max(1, n_envs))}
        if device == "cuda":
            bundle["GPU"] = 1.0
        return PlacementGroupFactory([bundle])

    from racingline.sweep.trainable import SweepTrial

    return tune.with_resources(tune.with_parameters(SweepTrial, settings=settings), resources)


@contextlib.contextmanager
def _signals(state: dict[str, Any]) -> Iterator[None]:
    """While Tune runs: remember which signal stopped it, and make SIGTERM stop it as Ctrl-C does (Tune
    catches only SIGINT: it ends the run and saves its state)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum: int, frame: Any) -> None:
        state["signum"] = signum
        handler = signal.getsignal(signal.SIGINT)
        if callable(handler):
            handler(signum, frame)

    previous_int = signal.getsignal(signal.SIGINT)

    def on_int(signum: int, frame: Any) -> None:  # installed before Tune's, which calls it on a second Ctrl-C
        state["signum"] = signum
        if callable(previous_int):
            previous_int(signum, frame)

    previous_term = signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_int)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


@contextlib.contextmanager
def _quiet_tune() -> Iterator[None]:
    """Tune's legacy console output at verbosity 0 prints nothing (its newer output prints a banner)."""
    previous = os.environ.get("RAY_AIR_NEW_OUTPUT")
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
        else:
            os.environ["RAY_AIR_NEW_OUTPUT"] = previous


def _wait_for_trainers(folder: SweepFolder) -> None:
    """Wait for the trainers this machine started to end (stopped ones save their model first); kill any
    still running after :data:`_TRAINER_WAIT_S`."""
    deadline = time.monotonic() + _TRAINER_WAIT_S
    running = folder.running_trainers()
    while running and time.monotonic() < deadline:
        time.sleep(0.2)
        running = folder.running_trainers()
    for pid_file, pid in running:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            pid_file.unlink()


def _run(folder: SweepFolder, spec: SweepSpec, eval_tracks: tuple[Any, ...], *, restore: bool, address: str | None,
         cpus: int | None, lines: bool) -> SweepOutcome:
    from ray import tune

    from racingline.sweep.searcher import SweepCallback, make_scheduler, make_searcher

    budget = spec.budget
    settings = TrialSettings(base=spec.base, space=spec.space, objective=spec.objective, sweep_dir=folder.path,
                             budget=budget, report_every=max(1, budget // REPORTS_PER_TRIAL),
                             eval_tracks=eval_tracks, line_gap=spec.line_gap)
    state: dict[str, Any] = {"signum": None}
    try:
        with ray_session(address, cpus, keep_worker_children=True) as ray:
            have = cluster_cpus(ray)
            need = spec.cpus_per_trial
            if need > have:
                where = "the local Ray (--cpus)" if not address else f"the Ray cluster at {address}"
                raise ClusterError(_too_few_cpus(need, have, where))
            if not restore:
                folder.path.mkdir(parents=True, exist_ok=True)
                atomic_write_text(folder.settings, yaml.safe_dump(spec.to_dict(), sort_keys=False))
            folder.runs.mkdir(parents=True, exist_ok=True)
            folder.trials.mkdir(parents=True, exist_ok=True)
            folder.running_trainers()  # pid files a killed sweep left: removed (their processes are gone)
            trainable = _trainable(spec, settings)
            if restore:
                tuner = tune.Tuner.restore(str(folder.tune), trainable, resume_unfinished=True, resume_errored=False)
            else:
                concurrent = spec.concurrent or max(1, have // need)
                tuner = tune.Tuner(
                    trainable, param_space=spec.space.to_tune(),
                    tune_config=tune.TuneConfig(
                        search_alg=make_searcher(spec.seed),
                        scheduler=make_scheduler(budget) if spec.early_stop else None,
                        num_samples=int(spec.trials), max_concurrent_trials=int(concurrent),
                        trial_name_creator=lambda t: trial_name(t.trial_id),
                        trial_dirname_creator=lambda t: trial_name(t.trial_id)),
                    run_config=tune.RunConfig(name=SweepFolder.TUNE_DIR, storage_path=str(folder.path), verbose=0,
                                              checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False),
                                              callbacks=[SweepCallback(str(folder.path), lines)]),
                )
            with _quiet_tune(), _signals(state):
                tuner.fit()
            rows = collect_rows(folder, spec.space)
    finally:
        _wait_for_trainers(folder)
    best = write_results(folder, rows, spec.space, spec.objective)
    return SweepOutcome(folder=folder, spec=spec, rows=rows, best=best, signum=state["signum"])
