"""PPO training: the vectorised env, the PPO model, run folders, resume and Ctrl-C, in one ``train`` flow.

``train(cfg)`` writes a run folder (``runs/<YYYYmmdd-HHMMSS>-<name>/`` unless given; its layout, resume
point and saving are owned by :class:`racingline.train.runs.RunFolder`)::

    model.zip                         the final Stable-Baselines3 PPO model (also written on Ctrl-C)
    vecnormalize.pkl                  VecNormalize statistics for model.zip (``VecNormalize.load``)
    config.yaml                       the fully resolved config (``racingline.train.config.load_config`` reads it)
    progress.csv                      one row per PPO iteration (rollout + update), see ``PROGRESS_COLUMNS``
    checkpoints/step_<N>.zip          a model every ``checkpoint_every`` env steps (N: 9 digits), and on Ctrl-C
    checkpoints/step_<N>_vecnormalize.pkl   its statistics
    tensorboard/                      TensorBoard logs, only when ``tensorboard`` is installed
    model_metadata.json               the DeepRacer action space trained with (only with ``env.action_space``)

Every model, statistics and config file is written atomically (a temporary name in the same folder,
then a rename), so an interrupt never leaves a half-written file. The environments are always wrapped
in ``VecNormalize`` (a no-op one when the config normalises nothing), so ``vecnormalize.pkl`` always exists.
Note that SB3 keeps image observation spaces channel-first: a pixel model's ``observation_space`` is
``(4, 64, 64)``, and ``model.predict`` transposes ``(64, 64, 4)`` observations itself.

Ctrl-C (SIGINT) stops training after the current env step, saves ``model.zip``, its statistics and a
checkpoint, then raises :class:`TrainingInterrupted` (the CLI exits 130). Subprocess env workers start
with SIGINT ignored, so a terminal's Ctrl-C (sent to the whole process group) reaches only the trainer.

Resuming (``train(resume=RUN)``) loads the run's own ``config.yaml`` and its newest model (the newest
checkpoint, or ``model.zip`` when it has at least as many steps) with its statistics, and continues the
step count up to ``total_timesteps`` (which alone may be raised; the linear learning-rate schedule then
spans the new total). Other changes are refused: a resumed run stays one config.

The callbacks (progress.csv, checkpoints, progress bar) and the Ctrl-C handling live in
:mod:`racingline.train.callbacks`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from racingline.deepracer.reward_file import check_reward_in_env, raise_reward_error
from racingline.errors import ConfigError, ModelError, RacinglineError, RewardError, RunError
from racingline.signals import Interrupted, StopSignals, blocked, raising
from racingline.train.callbacks import (
    PROGRESS_COLUMNS,
    ProgressBar,
    make_callbacks,
)
from racingline.train.config import Config, PPOConfig, apply_overrides, demos_unusable, env_kwargs, load_config, parse_override
from racingline.train.runs import RunFolder, describe, load_vecnormalize

__all__ = [
    "PROGRESS_COLUMNS",  # re-exported from racingline.train.callbacks
    "LinearSchedule",
    "TrainingInterrupted",
    "resolve_config",
    "build_vec_env",
    "build_model",
    "train",
]

_ACTIVATIONS = {"gelu": "GELU", "relu": "ReLU", "tanh": "Tanh"}  # torch.nn class of each of choices.ACTIVATIONS


class TrainingInterrupted(Interrupted):
    """Training stopped by SIGINT (Ctrl-C) or SIGTERM.

    Once training has started, the model, its statistics and a checkpoint were saved first; a new run
    stopped before its first step had nothing to save and its folder was removed (``removed``).
    """

    def __init__(self, run_dir: Path, timesteps: int, signum: int = signal.SIGINT, removed: bool = False) -> None:
        what = f"removed {run_dir}" if removed else f"saved in {run_dir}"
        super().__init__(signum, f"training interrupted at step {timesteps}; {what}")
        self.run_dir = run_dir
        self.timesteps = timesteps
        self.removed = removed


class LinearSchedule:
    """Learning rate decaying linearly from ``start`` to 0 (SB3 calls it with progress remaining, 1 -> 0)."""

    def __init__(self, start: float) -> None:
        self.start = float(start)

    def __call__(self, progress_remaining: float) -> float:
        return self.start * max(0.0, float(progress_remaining))

    def __repr__(self) -> str:
        return f"LinearSchedule({self.start})"


# ---------------------------------------------------------------------------------------------- configs
def resolve_config(
    config: str | os.PathLike = "default",
    sets: Sequence[str] = (),
    *,
    timesteps: int | None = None,
    n_envs: int | None = None,
    seed: int | None = None,
    tracks: Sequence[str] | None = None,
    action_space: str | os.PathLike | None = None,
    reward: str | os.PathLike | None = None,
) -> Config:
    """A config file (or name in ``configs/``), then ``key=value`` overrides, then the named options.

    ``tracks`` replaces ``env.track`` (one name, or a pool) and resets ``env.track_weights`` unless
    ``sets`` gives them. ``action_space`` sets ``env.action_space`` (a DeepRacer ``model_metadata.json``).
    """
    cfg = load_config(config)
    # --set values and the named options are applied together: keys that must agree (env.track and
    # env.track_weights, batch_size and n_envs) are checked once, on the result.
    pairs = dict(parse_override(text) for text in sets)
    named: dict[str, Any] = {}
    if timesteps is not None:
        named["total_timesteps"] = timesteps
    if n_envs is not None:
        named["n_envs"] = n_envs
    if seed is not None:
        named["seed"] = seed
    if tracks:
        named["env.track"] = tracks[0] if len(tracks) == 1 else list(tracks)
        if "env.track_weights" not in pairs:
            named["env.track_weights"] = None
    if action_space is not None:
        named["env.action_space"] = os.fspath(action_space)
    if reward is not None:
        named["env.reward"] = os.fspath(reward)  # a built-in name or a DeepRacer reward file (.py)
    pairs.update(named)
    return apply_overrides(cfg, pairs) if pairs else cfg


# ---------------------------------------------------------------------------------------------- env and model
def build_vec_env(cfg: Config, seed: int | None = None, stats: str | os.PathLike | None = None,
                  kwargs: dict[str, Any] | None = None, record: Any = None):
    """The training ``VecNormalize`` env of ``cfg`` (``make_vec_env``), optionally with saved statistics.

    ``kwargs``: ``env_kwargs(cfg.env)`` when the caller has already resolved the track pool (it is
    resolved once, in this process; workers receive the loaded tracks). Subprocess workers start with
    SIGINT/SIGTERM blocked, ignore Ctrl-C (the training process handles it) and die with this process
    (:mod:`racingline.signals`). ``record``: a :class:`~racingline.record.wrapper.RecordSpec` for env 0.
    """
    from stable_baselines3.common.vec_env import VecNormalize

    from racingline.sim.wrappers import make_vec_env

    if kwargs is None:
        kwargs = env_kwargs(cfg.env)
    venv = make_vec_env(cfg.n_envs, seed=cfg.seed if seed is None else seed, frame_stack=cfg.env.frame_stack,
                        norm_reward=cfg.norm_reward, norm_obs=cfg.norm_obs, gamma=cfg.ppo.gamma,
                        vec_env=cfg.vec_env, record=record, **kwargs)
    if stats is not None:
        return load_vecnormalize(stats, venv.venv if isinstance(venv, VecNormalize) else venv)
    if not isinstance(venv, VecNormalize):
        venv = VecNormalize(venv, norm_obs=False, norm_reward=False, gamma=cfg.ppo.gamma)
    return venv


def _device(ppo: PPOConfig) -> str:
    if ppo.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("ppo.device: 'cuda' requested but no CUDA device is available")
        return "cuda"
    if ppo.device == "auto":  # SB3 itself advises the CPU for MLP policies
        return "cpu" if ppo.policy == "MlpPolicy" else "auto"
    return ppo.device


@contextlib.contextmanager
def _one_torch_thread(device: str) -> Iterator[None]:
    """Run small CPU networks on one thread: measured ~30x faster than two on a busy 2-core machine
    (PPO on features, 1024 steps: 1.1 s vs 35 s), since the env stepping competes for the cores."""
    import torch

    if device != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _tensorboard_available() -> bool:
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        return False
    return True


def _check_policy(cfg: Config) -> None:
    from stable_baselines3 import PPO

    ppo = cfg.ppo
    if ppo.policy not in PPO.policy_aliases:
        raise ConfigError(f"ppo.policy: unknown policy {ppo.policy!r}; choose one of {', '.join(PPO.policy_aliases)}")
    if ppo.pixel_pool > 1 and (cfg.env.obs != "pixels" or ppo.policy != "MlpPolicy"):
        raise ConfigError("ppo.pixel_pool: pooling applies to env.obs 'pixels' with ppo.policy 'MlpPolicy'")
    if ppo.pixel_full_rows and ppo.pixel_pool <= 1:
        raise ConfigError("ppo.pixel_full_rows: applies with ppo.pixel_pool > 1 (the rows it keeps from pooling)")
    if ppo.pixel_full_rows >= cfg.env.size:
        raise ConfigError(f"ppo.pixel_full_rows: {ppo.pixel_full_rows} must be less than the image's "
                          f"{cfg.env.size} rows (env.size)")


def build_model(cfg: Config, venv, tensorboard_log: str | os.PathLike | None = None):
    """A fresh :class:`~racingline.train.sb3.ppo.FastPPO` (SB3's PPO) for ``cfg`` on ``venv``.

    Every ``cfg.ppo`` field is applied; the model is seeded and quiet.
    """
    from torch import nn

    from racingline.train.sb3.policies import POLICIES, PooledFlatten
    from racingline.train.sb3.ppo import FastPPO

    p = cfg.ppo
    _check_policy(cfg)
    policy_kwargs = dict(activation_fn=getattr(nn, _ACTIVATIONS[p.activation]),
                         net_arch=dict(pi=list(p.net_arch_pi), vf=list(p.net_arch_vf)), ortho_init=p.ortho_init)
    if p.pixel_pool > 1:
        policy_kwargs.update(features_extractor_class=PooledFlatten,
                             features_extractor_kwargs={"pool": p.pixel_pool, "full_rows": p.pixel_full_rows})
    return FastPPO(
        POLICIES.get(p.policy, p.policy), venv,
        learning_rate=LinearSchedule(p.learning_rate) if p.lr_schedule == "linear" else p.learning_rate,
        n_steps=p.n_steps, batch_size=p.batch_size, n_epochs=p.n_epochs, gamma=p.gamma, gae_lambda=p.gae_lambda,
        clip_range=p.clip_range, ent_coef=p.ent_coef, vf_coef=p.vf_coef, max_grad_norm=p.max_grad_norm,
        policy_kwargs=policy_kwargs, tensorboard_log=None if tensorboard_log is None else str(tensorboard_log),
        seed=cfg.seed, device=_device(p), verbose=0,
    )


def _load_model(cfg: Config, model_path: Path, venv, tensorboard_log: Path | None):
    from racingline.train.sb3.ppo import FastPPO

    p = cfg.ppo
    lr = LinearSchedule(p.learning_rate) if p.lr_schedule == "linear" else p.learning_rate
    try:
        model = FastPPO.load(model_path, env=venv, device=_device(p), custom_objects={"learning_rate": lr},
                         tensorboard_log=None if tensorboard_log is None else str(tensorboard_log))
    except Exception as exc:
        raise ModelError(f"{model_path}: cannot resume from this model ({describe(exc)})") from None
    model.restart_rollouts()  # start from a fresh reset of the new envs, not the saved observation
    return model


def _reward_error_callback():
    """An SB3 callback raising :class:`RewardError` when an env step reports one (``info["reward_error"]``:
    envs in subprocess workers pass a reward file's error on as data)."""
    from stable_baselines3.common.callbacks import BaseCallback

    class RewardErrorCallback(BaseCallback):
        def _on_step(self) -> bool:
            raise_reward_error(self.locals.get("infos") or ())
            return True

    return RewardErrorCallback()


def _check_eval_tracks(cfg: Config) -> None:
    """The config's evaluation tracks must exist now, not when the run is first evaluated."""
    from racingline.evaluate.rollouts import resolve_eval_tracks

    try:
        if cfg.env.sim == "torcs":  # TORCS tracks, checked against the installed TORCS
            from racingline.torcs.install import find_torcs, resolve_track

            install = find_torcs()
            for track in cfg.eval.tracks:
                resolve_track(install, track)
            return
        resolve_eval_tracks(specs=list(cfg.eval.tracks))
    except RacinglineError as exc:
        raise ConfigError(f"config key 'eval.tracks': {exc}") from None


def _save_config_and_actions(run: RunFolder, cfg: Config) -> None:
    """Write the run's ``config.yaml``; with a DeepRacer action space, first its ``model_metadata.json``
    (what was trained: the action space, the observation as ``sensor``), which the saved config names
    (``env.action_space: model_metadata.json``, relative to the run folder, so the run can be moved).

    A reward file (``env.reward: path.py``) is copied into the run as ``reward_function.py``, a record of
    the reward trained with; the saved config keeps naming the original (a reward module may load files
    beside it, as examples/rewards/follow_racing_line.py does).
    """
    env = cfg.env
    if env.action_space is not None:
        from racingline.deepracer.action_space import load_action_space, write_model_metadata

        space = load_action_space(env.action_space)
        extra = {"frame_skip": cfg.env.frame_skip, "policy": cfg.ppo.policy,
                 "net_arch": {"pi": list(cfg.ppo.net_arch_pi), "vf": list(cfg.ppo.net_arch_vf)}}
        write_model_metadata(space, run.model_metadata, obs=cfg.env.obs, extra=extra)
        # deepracer-utils' log loaders look for a model folder's model/model_metadata.json
        write_model_metadata(space, run.path / "model" / "model_metadata.json", obs=cfg.env.obs, extra=extra)
        env = dataclasses.replace(env, action_space=run.model_metadata.name)
    if isinstance(env.reward, str) and env.reward.endswith(".py"):
        from racingline.io import atomic_write_bytes

        source = Path(env.reward)
        copy = run.path / REWARD_FILE
        if source.resolve() != copy.resolve():
            atomic_write_bytes(copy, source.read_bytes())
    run.save_config(dataclasses.replace(cfg, env=env))


#: The copy of a run's reward file, in the run folder.
REWARD_FILE = "reward_function.py"


# ---------------------------------------------------------------------------------------------- train
def _record_spec(run: RunFolder, cfg: Config, every: int | None) -> Any:
    """The :class:`~racingline.record.wrapper.RecordSpec` of ``--record-every`` (``None`` when not recording)."""
    if every is None:
        return None
    if int(every) < 1:
        raise ConfigError(f"record_every={every}: must be at least 1 (episodes)")
    from racingline.record.wrapper import RecordSpec

    driver = f"training:{run.name}"
    meta = {"driver": driver, "obs": cfg.env.obs, "frame_stack": cfg.env.frame_stack, "config_name": cfg.name,
            "config": {**dataclasses.asdict(cfg.env), "track": None}, "record_every": int(every)}
    return RecordSpec(run.recordings, every=int(every), meta=meta, append=True, episode_meta={"driver": driver})


def _pretrain_dataset(cfg: Config, env_kw: dict[str, Any], pretrain: Any, resume: Any, epochs: int | None,
                      dagger_rounds: int | None) -> Any:
    """The ``--pretrain`` dataset, opened and checked against ``cfg``'s env (``None`` without one).

    Without one, ``epochs`` and ``dagger_rounds`` apply to the config's demonstrations (``demos``), which a
    new run records itself (:func:`_record_demos`).
    """
    if epochs is not None and int(epochs) < 1:
        raise ConfigError(f"pretrain_epochs={epochs}: must be at least 1")
    from racingline.record.dagger import check_dagger

    if pretrain is None:
        if (epochs is not None or dagger_rounds) and not (_own_demos(cfg) and resume is None):
            why = f" ({demos_unusable(cfg)})" if cfg.demos.episodes and demos_unusable(cfg) else ""
            raise ConfigError("pretrain_epochs and dagger_rounds apply only with demonstrations: a dataset "
                              f"(--pretrain) or the config's own (demos.episodes > 0, in a new run){why}")
        return None
    if resume is not None:
        raise ConfigError(f"pretrain {pretrain}: a resumed run is not pretrained again (pretraining happens once, "
                          "when a run starts)")
    from racingline.record.bc import check_pretrain_dataset

    dataset = check_pretrain_dataset(pretrain, cfg, env_kw)
    check_dagger(cfg, dagger_rounds or 0)
    return dataset


def _own_demos(cfg: Config) -> bool:
    """The config asks for demonstrations and its env can use them (:func:`demos_unusable`)."""
    return cfg.demos.episodes > 0 and demos_unusable(cfg) is None


def _dagger_expert(cfg: Config) -> str | None:
    """The line method DAgger's expert drives for a run's own demonstrations: their driver's (``line:METHOD``),
    so DAgger labels what the recorded laps show; ``None`` (DAgger's default) for a line file."""
    from racingline.choices import LINE_METHODS

    method = str(cfg.demos.driver).partition(":")[2]
    return method if method in LINE_METHODS else None


def _record_demos(run: RunFolder, cfg: Config, stop: Any) -> Any:
    """Record the config's demonstrations into ``RUN/demos/`` (:class:`DemosConfig`); the open dataset,
    or ``None`` when stopped first."""
    from racingline.record.dataset import open_dataset
    from racingline.record.recorder import record_dataset

    result = record_dataset(cfg.demos.driver, run.demos, config=cfg, tracks=list(cfg.demos.tracks),
                            episodes=cfg.demos.episodes, seed=cfg.seed, stop=stop)
    if result.interrupted or stop.is_set():
        return None
    return open_dataset(run.demos)


def train(
    cfg: Config | None = None,
    run_dir: str | os.PathLike | None = None,
    resume: str | os.PathLike | None = None,
    progress: bool = True,
    *,
    runs_dir: str | os.PathLike = "runs",
    total_timesteps: int | None = None,
    sim_trace: bool = False,
    record_every: int | None = None,
    pretrain: str | os.PathLike | None = None,
    pretrain_epochs: int | None = None,
    dagger_rounds: int | None = None,
) -> Path:
    """Train PPO for ``cfg`` (default: ``configs/default.yaml``) and return the run folder.

    Args:
        cfg: the config; must be None with ``resume`` (the run's own config is used).
        run_dir: the run folder; default a new ``runs_dir/<timestamp>-<cfg.name>``.
        resume: a run folder (or its name under ``runs_dir``) to continue from its newest model.
        progress: show a progress bar on stderr.
        total_timesteps: overrides ``cfg.total_timesteps`` (with ``resume``: the new total to reach).
        sim_trace: also write DeepRacer simulation-trace CSV logs of every episode into
            ``<run>/sim-trace/`` (:mod:`racingline.deepracer.simtrace`; a resumed run continues them).
        record_every: record every this many episodes of the first env into the Minari dataset
            ``<run>/recordings/`` (:mod:`racingline.record`; a resumed run adds to it).
        pretrain: a dataset (:mod:`racingline.record.dataset`) to clone before PPO starts
            (:mod:`racingline.record.bc`): checked against the config's env before a run folder is made;
            the run records it in ``pretrain.json``. Not with ``resume`` (a run is pretrained once).
            Without it, a new run whose config has ``demos.episodes`` > 0 records its demonstrations
            into ``RUN/demos/`` and clones them (:class:`~racingline.train.config.DemosConfig`).
        pretrain_epochs: passes over the dataset (default ``racingline.record.bc.DEFAULT_PRETRAIN_EPOCHS``,
            or ``demos.epochs`` for the config's demonstrations).
        dagger_rounds: rounds of DAgger after cloning, with the line controller as the expert
            (:mod:`racingline.record.dagger`); default 0, or ``demos.dagger_rounds``.

    With ``select.generated`` > 0 the finished run's saves are driven on validation tracks and the best
    becomes ``model.zip`` (:mod:`racingline.train.select`).

    Raises:
        TrainingInterrupted: on Ctrl-C, after saving ``model.zip``, its statistics and a checkpoint.
        ConfigError, RunError, ModelError, TrackError: unusable inputs, before anything is trained.
    """
    start_model: Path | None = None
    stats: Path | None = None
    done = 0
    if resume is not None:
        if cfg is not None or run_dir is not None:
            raise ConfigError("resume: a resumed run keeps its own config and folder (only total_timesteps may change)")
        run = RunFolder.open(resume, runs_dir)
        cfg = run.load_config()
        start_model, stats, done = run.resume_point()
    else:
        cfg = load_config("default") if cfg is None else cfg
    if total_timesteps is not None:
        cfg = dataclasses.replace(cfg, total_timesteps=int(total_timesteps))
    if done >= cfg.total_timesteps:
        raise RunError(f"{run.path}: already trained {done} of {cfg.total_timesteps} steps; "
                       "pass a larger total (--timesteps) to continue")
    env_kw = env_kwargs(cfg.env)  # tracks resolved once: bad ones fail here, before a run folder is made
    check_reward_in_env(env_kw, cfg.seed)  # a reward file's function that fails at once: before a folder too
    _check_policy(cfg)
    _device(cfg.ppo)
    _check_eval_tracks(cfg)
    dataset = _pretrain_dataset(cfg, env_kw, pretrain, resume, pretrain_epochs, dagger_rounds)
    # From here on SIGINT/SIGTERM stop training cleanly: before the first step a new run's folder is
    # removed; after it the model, its statistics and a checkpoint are saved. Workers start with both
    # signals blocked and ignore Ctrl-C; they die with this process (racingline.signals).
    signals = StopSignals()
    stop = signals.stop
    venv = None
    model = None
    if resume is None:
        run = None
    with signals:
        try:
            if resume is None:
                run = RunFolder.create(cfg.name, runs_dir, run_dir)
            run.clean_temp_files()  # left by a write that was killed
            _save_config_and_actions(run, cfg)
            tb = run.tensorboard if _tensorboard_available() else None
            venv = build_vec_env(cfg, seed=cfg.seed + done, stats=stats, kwargs=env_kw,
                                 record=_record_spec(run, cfg, record_every))
            if not stop.is_set():
                model = build_model(cfg, venv, tb) if start_model is None \
                    else _load_model(cfg, start_model, venv, tb)
            own_demos = dataset is None and _own_demos(cfg) and resume is None
            if dataset is None and resume is None and cfg.demos.episodes and not own_demos:
                print(f"note: training without the config's demonstrations: {demos_unusable(cfg)}",
                      file=sys.stderr, flush=True)
            if own_demos and model is not None and not stop.is_set():
                dataset = _record_demos(run, cfg, stop)
            if dataset is not None and model is not None and not stop.is_set():
                from racingline.record.bc import DEFAULT_PRETRAIN_EPOCHS, pretrain_run

                epochs = cfg.demos.epochs if own_demos else DEFAULT_PRETRAIN_EPOCHS
                rounds = cfg.demos.dagger_rounds if own_demos else 0
                # On all of torch's threads: the env workers wait while the policy is cloned (pixel
                # cloning, one epoch: 3.8 s on two threads, 5.7 s on one).
                try:
                    pretrain_run(run.path, model, venv, dataset, cfg, stop=stop, env_kwargs=env_kw,
                                 epochs=epochs if pretrain_epochs is None else pretrain_epochs,
                                 dagger_rounds=rounds if dagger_rounds is None else dagger_rounds,
                                 dagger_episodes=cfg.demos.dagger_episodes,
                                 std_scale=cfg.demos.std_scale if own_demos else 1.0,
                                 dagger_expert=_dagger_expert(cfg) if own_demos else None)
                except Exception:  # e.g. a damaged episode found while reading: no half-made run is left
                    with contextlib.suppress(Exception):
                        venv.close()
                    run.remove()
                    raise
                if cfg.select.clone and cfg.select.generated and not stop.is_set():
                    with blocked():  # the cloned policy, one of the saves selection chooses from
                        run.save_checkpoint(model, venv)
        except (KeyboardInterrupt, Interrupted):  # a second signal while starting
            stop.set()
        if model is None or stop.is_set() and model.num_timesteps == done:
            # Stopped before the first step: nothing to save.
            if venv is not None:
                with contextlib.suppress(Exception):
                    venv.close()
            removed = resume is None and run is not None and run.path.exists()
            where = run.path if run is not None else Path(runs_dir)
            if removed:
                run.remove()
            raise TrainingInterrupted(where, done, signals.signum or signal.SIGINT, removed=removed)
        try:
            bar = ProgressBar(cfg.total_timesteps, model.num_timesteps, run.name) if progress else None
            callback = make_callbacks(run, cfg.checkpoint_every, stop, bar, sim_trace=sim_trace)
            callback = [_reward_error_callback(), callback]
            with _one_torch_thread(str(model.device)), (bar if bar is not None else contextlib.nullcontext()):
                try:
                    model.learn(cfg.total_timesteps - model.num_timesteps, callback=callback,
                                reset_num_timesteps=start_model is None, tb_log_name="PPO")
                except (KeyboardInterrupt, Interrupted):  # a second signal: stop now, still save
                    stop.set()
                except RewardError as exc:  # the reward file's function failed: keep what was trained
                    with blocked():
                        signals.ignore()
                        run.save(model, venv)
                    raise RewardError(f"{exc}; the model trained so far ({model.num_timesteps} steps) is saved "
                                      f"in {run.path}") from None
                if bar is not None:
                    bar.progress.update(bar.task, completed=model.num_timesteps)
            with blocked():
                signals.ignore()  # signals arriving from now on are dropped: this one saves and exits
                run.save(model, venv)
                if stop.is_set() or cfg.select.generated:
                    run.save_checkpoint(model, venv)
        finally:
            with contextlib.suppress(Exception):
                venv.close()
    if stop.is_set():
        raise TrainingInterrupted(run.path, model.num_timesteps, signals.signum or signal.SIGINT)
    if cfg.select.generated and cfg.env.sim == "carracing":
        _select(run, cfg, model.num_timesteps, progress)
    return run.path


def _select(run: RunFolder, cfg: Config, timesteps: int, progress: bool) -> None:
    """Keep the best save as ``model.zip`` (:mod:`racingline.train.select`). A signal meanwhile leaves the last
    model as ``model.zip`` (each copy is atomic) and stops as training's signals do."""
    from racingline.train.select import select_model

    try:
        with raising():  # from the first line on: a signal stops choosing, never anything after it
            if progress:
                print(f"choosing the model: every save driven on {2 * cfg.select.generated} validation tracks",
                      file=sys.stderr, flush=True)
            kept = select_model(run.path, cfg.select.generated, cfg.select.max_steps,
                                deterministic=cfg.select.deterministic, seed=cfg.seed)["kept"]
            if progress:
                what = (f"{kept['laps']}/{2 * cfg.select.generated} validation laps" if kept["lap_times_s"]
                        else "the only save")
                print(f"kept the save of step {kept['steps']}: {what}", file=sys.stderr, flush=True)
    except Interrupted as exc:
        raise TrainingInterrupted(run.path, timesteps, exc.signum) from None
