"""``racingline sweep``."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import typer

from racingline.cli.common import fail, reports_errors
from racingline.signals import exit_code

_SPACE_HELP = ("Search space YAML: config keys (--set names) mapped to loguniform(lo, hi), uniform(lo, hi), "
               "quniform(lo, hi, q), randint(lo, hi) or choice(\\[a, b, ...]), e.g. "
               "'ppo.learning_rate: loguniform(1e-5, 1e-3)'.")


def register(app: typer.Typer) -> None:
    """Add the sweep command to ``app``."""
    from racingline.choices import SWEEP_OBJECTIVES

    @app.command("sweep")
    @reports_errors
    def sweep(
        config: str | None = typer.Option(
            None, "--config", "-c", metavar="FILE|NAME", help="Base config YAML (or a name in configs/; default: default)."),
        space: Path | None = typer.Option(None, "--space", metavar="FILE", help=_SPACE_HELP),
        trials: int | None = typer.Option(None, "--trials", min=1, help="Trials to run (default 20)."),
        address: str | None = typer.Option(
            None, "--address", metavar="ADDR",
            help="Run on the Ray cluster at ADDR (host:port of `ray start --head`, or auto); default: a local Ray "
                 "started with this machine's cores. On a cluster --out must be on storage every node sees."),
        concurrent: int | None = typer.Option(
            None, "--concurrent", min=1, metavar="K", help="Most trials at once (default: CPUs / n_envs)."),
        out: Path | None = typer.Option(
            None, "--out", metavar="DIR", help="Sweep folder to make (default: sweeps/<timestamp>-<config name>)."),
        resume: Path | None = typer.Option(
            None, "--resume", metavar="DIR",
            help="Continue the sweep in DIR (after Ctrl-C): unfinished trials resume their runs; other options "
                 "but --address and --cpus are its own."),
        sets: list[str] | None = typer.Option(
            None, "--set", metavar="KEY=VALUE", help="Override a key of the base config, as train's --set (repeatable)."),
        timesteps: int | None = typer.Option(None, "--timesteps", min=1, help="Env steps per trial (total_timesteps)."),
        n_envs: int | None = typer.Option(None, "--n-envs", min=1, help="Environments per trial (its CPUs)."),
        objective: str = typer.Option(
            "laps", "--objective", metavar="|".join(SWEEP_OBJECTIVES),
            help="What to maximise on the held-out tracks (the base config's eval.tracks): laps: laps completed, "
                 "then lap time; progress: mean progress %; reward: mean episode reward."),
        line_gap: bool = typer.Option(
            False, "--line-gap/--no-line-gap",
            help="With --objective laps: rank lap times by their ratio to the best racing line driven on each track."),
        early_stop: bool = typer.Option(
            True, "--early-stop/--no-early-stop", help="Stop poor trials early (ASHA on training progress)."),
        seed: int = typer.Option(0, "--seed", min=0, help="Seed of Optuna's TPE sampler."),
        cpus: int | None = typer.Option(
            None, "--cpus", min=1, help="CPUs of the local Ray (default: this machine's); not with --address."),
    ) -> None:
        """Sweep hyperparameters or rewards: Ray Tune runs the trials (each a run folder), Optuna's TPE proposes
        them, ASHA stops poor ones early; writes results.csv, best.yaml and objective.png."""
        if address is not None and cpus is not None:
            fail("--cpus: sizes the local Ray; a cluster at --address has its own CPUs", code=2)
        if resume is not None:
            given = [flag for flag, value in (("--config", config), ("--space", space), ("--trials", trials),
                                              ("--concurrent", concurrent), ("--out", out), ("--set", sets),
                                              ("--timesteps", timesteps), ("--n-envs", n_envs),
                                              ("--objective", objective != "laps"), ("--line-gap", line_gap),
                                              ("--no-early-stop", not early_stop), ("--seed", seed))
                     if value]
            if given:
                fail(f"--resume {resume}: a resumed sweep keeps its own settings; only --address and --cpus may be "
                     f"given (got {', '.join(given)})", code=2)
            _run(None, resume, address, cpus)
            return
        if space is None:
            fail("--space: a search space file is needed to start a sweep (or --resume DIR to continue one)", code=2)
        from racingline.sweep.space import load_space
        from racingline.sweep.tune import SweepSpec

        cfg = _base_config(config, sets, timesteps, n_envs)
        spec = SweepSpec(base=cfg, space=load_space(space, cfg), trials=trials or 20, objective=objective,
                         concurrent=concurrent, seed=seed, early_stop=early_stop, line_gap=line_gap)
        folder = out if out is not None else Path("sweeps") / f"{time.strftime('%Y%m%d-%H%M%S')}-{cfg.name}"
        _run(spec, folder, address, cpus)


def _base_config(config: str | None, sets: list[str] | None, timesteps: int | None, n_envs: int | None):
    """The base config: a file or name, then --set, then --timesteps and --n-envs (checked together, as train's)."""
    from racingline.train.config import apply_overrides, load_config, parse_override

    pairs = dict(parse_override(text) for text in sets or ())
    if timesteps is not None:
        pairs["total_timesteps"] = timesteps
    if n_envs is not None:
        pairs["n_envs"] = n_envs
    cfg = load_config(config or "default")
    return apply_overrides(cfg, pairs) if pairs else cfg


def _run(spec, folder: Path, address: str | None, cpus: int | None) -> None:
    from rich.console import Console

    from racingline.sweep.results import results_table, trial_notes
    from racingline.sweep.tune import held_in_tracks, resume_sweep, start_sweep

    where = f"the Ray cluster at {address}" if address else "a local Ray"
    if spec is None:
        outcome = resume_sweep(folder, address=address, cpus=cpus, lines=True, on_start=lambda: typer.echo(
            f"resuming the sweep in {folder} on {where}", err=True))
    else:
        def started() -> None:
            shared = held_in_tracks(spec)
            if shared:
                typer.echo(f"note: eval tracks {', '.join(shared)} are also training tracks: the objective is not "
                           "held out (set eval.tracks to tracks the base config does not train on)", err=True)
            typer.echo(f"sweep: {spec.trials} trials of {spec.budget} steps ({spec.cpus_per_trial} CPUs each) in "
                       f"{folder} on {where}; Ctrl-C stops it, --resume {folder} continues it", err=True)

        outcome = start_sweep(spec, folder, address=address, cpus=cpus, lines=True, on_start=started)
    f = outcome.folder
    console = Console()
    if not console.is_terminal:  # a log: wide enough for the parameter columns
        console = Console(width=120)
    console.print(results_table(outcome.rows, outcome.spec.space, outcome.spec.objective, title=f"sweep {f.path}"))
    for line in trial_notes(outcome.rows):
        typer.echo(line)
    typer.echo(f"wrote {f.results_csv}")
    if outcome.best is not None:
        typer.echo(f"best: {outcome.best.name} (score {outcome.best.score:.4f}, run {outcome.best.run_dir}); its config: "
                   f"{f.best_config}")
    typer.echo(f"wrote {f.plot}")
    if outcome.interrupted:
        signum = outcome.signum or signal.SIGINT
        finished = sum(r.status != "unfinished" for r in outcome.rows)
        typer.echo(f"error: interrupted by {signal.Signals(signum).name} with {finished} of {outcome.spec.trials} trials "
                   f"finished; continue with: racingline sweep --resume {f.path}", err=True)
        raise typer.Exit(exit_code(signum))
