"""``racingline train``."""

from __future__ import annotations

import signal
from pathlib import Path

import typer

from racingline.cli.common import check_output_dir, fail, reports_errors
from racingline.signals import Interrupted, exit_code, raising


def register(app: typer.Typer) -> None:
    """Add the training command(s) to ``app``."""

    @app.command("train")
    @reports_errors
    def train(
        config: str | None = typer.Option(
            None, "--config", "-c", metavar="FILE|NAME",
            help="Config YAML file, or a name in configs/ (default: default, i.e. configs/default.yaml)."),
        timesteps: int | None = typer.Option(
            None, "--timesteps", min=1, help="Total environment steps to train (with --resume: the new total)."),
        n_envs: int | None = typer.Option(None, "--n-envs", min=1, help="Number of parallel environments."),
        seed: int | None = typer.Option(None, "--seed", help="Random seed (env i gets seed + i)."),
        track: list[str] | None = typer.Option(
            None, "--track", metavar="TRACK",
            help="Track name, path or glob; repeat for a pool. Replaces env.track (and env.track_weights)."),
        sets: list[str] | None = typer.Option(
            None, "--set", metavar="KEY=VALUE",
            help="Override any config key, e.g. --set ppo.learning_rate=3e-4 --set env.obs=features (repeatable)."),
        run_dir: Path | None = typer.Option(
            None, "--run-dir", help="Write the run to this folder (must not hold a run) instead of a new one."),
        runs_dir: Path = typer.Option(
            Path("runs"), "--runs-dir", help="Where new run folders <timestamp>-<name> are created."),
        resume: Path | None = typer.Option(
            None, "--resume", metavar="RUN",
            help="Continue RUN (a run folder) from its newest checkpoint with its own config; "
                 "only --timesteps may be given with it."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar on stderr."),
        action_space: Path | None = typer.Option(
            None, "--action-space", metavar="FILE",
            help="A DeepRacer model_metadata.json: the agent picks a steering angle and a speed from its discrete "
                 "actions or continuous ranges (sets env.action_space)."),
        reward: Path | None = typer.Option(
            None, "--reward", metavar="FILE",
            help="A DeepRacer reward file: a .py file defining reward_function(params), called every agent step "
                 "(sets env.reward). It is code and runs with your rights."),
        sim_trace: bool = typer.Option(
            False, "--sim-trace",
            help="Also write DeepRacer simulation-trace CSV logs of every episode into RUN/sim-trace/ "
                 "(open RUN with deepracer-utils' DeepRacerLog)."),
        record_every: int | None = typer.Option(
            None, "--record-every", metavar="N", min=1,
            help="Record every N-th episode of the first environment (observations, actions, rewards, car state) "
                 "into the Minari dataset RUN/recordings/ (see `racingline record --info`)."),
        pretrain: Path | None = typer.Option(
            None, "--pretrain", metavar="DATASET",
            help="Clone the driver of DATASET (a `racingline record` dataset of this config's observations and "
                 "actions) into the policy and critic before PPO starts; recorded in RUN/pretrain.json."),
        pretrain_epochs: int | None = typer.Option(
            None, "--pretrain-epochs", metavar="N", min=1,
            help="Passes over the --pretrain dataset (default 20) or the config's demonstrations (demos.epochs)."),
        dagger_rounds: int | None = typer.Option(
            None, "--dagger-rounds", metavar="N", min=0,
            help="With demonstrations (--pretrain, or the config's demos): N rounds of DAgger after cloning (the "
                 "policy drives, the line controller labels the states it visits, cloning goes on with them); "
                 "default 0, or demos.dagger_rounds."),
    ) -> None:
        """Train a PPO agent; writes model.zip, vecnormalize.pkl, config.yaml, progress.csv and checkpoints."""
        written: list[Path] = []  # the run folder, once training has returned
        try:
            with raising():  # until training installs its own handlers (it saves what exists)
                _train(config, timesteps, n_envs, seed, track, sets, run_dir, runs_dir, resume, progress,
                       action_space, reward, sim_trace=sim_trace, record_every=record_every,
                       pretrain=pretrain, pretrain_epochs=pretrain_epochs, dagger_rounds=dagger_rounds,
                       written=written)
        except (KeyboardInterrupt, Interrupted) as exc:
            signum = getattr(exc, "signum", signal.SIGINT)
            what = f"after the run was written to {written[0]}" if written else "before training started: nothing was written"
            typer.echo(f"error: interrupted by {signal.Signals(signum).name} {what}", err=True)
            raise typer.Exit(exit_code(signum)) from None

    def _train(config, timesteps, n_envs, seed, track, sets, run_dir, runs_dir, resume, progress,
               action_space=None, reward=None, sim_trace=False, record_every=None, pretrain=None,
               pretrain_epochs=None, dagger_rounds=None, written=None) -> None:
        from racingline.train import training

        _check_run_outputs(run_dir, runs_dir, resume)  # before any work: the run's folder can be written
        if resume is not None:
            given = [flag for flag, value in (("--config", config), ("--n-envs", n_envs), ("--seed", seed),
                                              ("--track", track), ("--set", sets), ("--run-dir", run_dir),
                                              ("--action-space", action_space), ("--reward", reward),
                                              ("--pretrain", pretrain), ("--pretrain-epochs", pretrain_epochs),
                                              ("--dagger-rounds", dagger_rounds))
                     if value is not None and not (isinstance(value, (list, tuple)) and not value)]
            if given:
                fail(f"--resume {resume}: a resumed run keeps its own config; only --timesteps may be given "
                     f"(got {', '.join(given)})")
            cfg = None
        else:
            cfg = training.resolve_config(config or "default", sets or (), timesteps=timesteps, n_envs=n_envs,
                                          seed=seed, tracks=track, action_space=action_space, reward=reward)
        try:
            run = training.train(cfg, run_dir=run_dir, resume=resume, progress=progress, runs_dir=runs_dir,
                                 total_timesteps=timesteps if resume is not None else None, sim_trace=sim_trace,
                                 record_every=record_every, pretrain=pretrain, pretrain_epochs=pretrain_epochs,
                                 dagger_rounds=dagger_rounds)
        except training.TrainingInterrupted as exc:
            name = signal.Signals(exc.signum).name
            if exc.removed:
                typer.echo(f"interrupted by {name} before the first step: removed {exc.run_dir}", err=True)
            elif exc.timesteps == 0 and resume is None:
                typer.echo(f"interrupted by {name} before the first step: nothing was written", err=True)
            else:
                typer.echo(f"interrupted by {name} at step {exc.timesteps}: model and statistics saved in "
                           f"{exc.run_dir}", err=True)
            raise typer.Exit(exit_code(exc.signum)) from None
        if written is not None:
            written.append(run)
        typer.echo(f"run written to {run}")


def _check_run_outputs(run_dir: Path | None, runs_dir: Path, resume: Path | None) -> None:
    """The folder the run will be written in can be made and written (else one line naming it).

    ``--run-dir``: that folder; otherwise ``--runs-dir``, where the new run folder is made; with ``--resume``
    the run folder being continued, when it exists (a missing one is reported by training as before).
    """
    if resume is not None:
        folder = next((f for f in (resume, runs_dir / resume) if f.is_dir()), None)
        if folder is not None:
            check_output_dir(folder, "--resume")
    elif run_dir is not None:
        check_output_dir(run_dir, "--run-dir")
    else:
        check_output_dir(runs_dir, "--runs-dir")
