"""``racingline train``."""

from __future__ import annotations

from pathlib import Path

import typer

from racingline.cli.common import fail, reports_errors


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
    ) -> None:
        """Train a PPO agent; writes model.zip, vecnormalize.pkl, config.yaml, progress.csv and checkpoints."""
        from racingline.train import training

        if resume is not None:
            given = [flag for flag, value in (("--config", config), ("--n-envs", n_envs), ("--seed", seed),
                                              ("--track", track), ("--set", sets), ("--run-dir", run_dir))
                     if value]
            if given:
                fail(f"--resume {resume}: a resumed run keeps its own config; only --timesteps may be given "
                     f"(got {', '.join(given)})")
            cfg = None
        else:
            cfg = training.resolve_config(config or "default", sets or (), timesteps=timesteps, n_envs=n_envs,
                                          seed=seed, tracks=track)
        try:
            run = training.train(cfg, run_dir=run_dir, resume=resume, progress=progress, runs_dir=runs_dir,
                                 total_timesteps=timesteps if resume is not None else None)
        except training.TrainingInterrupted as exc:
            typer.echo(f"interrupted at step {exc.timesteps}: model and statistics saved in {exc.run_dir}", err=True)
            raise typer.Exit(130) from None
        typer.echo(f"run written to {run}")
