"""``racingline bench``: the reference pipeline and racingline's modes, measured side by side."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from racingline.cli.common import check_output, fail, reports_errors


def register(app: typer.Typer) -> None:
    """Add the ``bench`` command to ``app``."""

    @app.command("bench")
    @reports_errors
    def bench(
        env_seconds: float = typer.Option(5.0, "--env-seconds", min=0.5,
                                          help="Seconds of stepping per pipeline for agent steps/s."),
        ppo_seconds: float = typer.Option(20.0, "--ppo-seconds", min=1.0,
                                          help="Seconds of PPO training per pipeline (after one warm-up rollout)."),
        ppo: bool = typer.Option(True, "--ppo/--no-ppo", help="Also measure end-to-end PPO training throughput (2 envs)."),
        only: list[str] | None = typer.Option(
            None, "--only", help="Measure only these pipelines (repeatable): stock, pixels-pygame, pixels-fast, features."),
        seed: int = typer.Option(0, "--seed", help="Seed of the track and the actions."),
        json_out: Path | None = typer.Option(None, "--json", help="Also write the figures to this JSON file."),
    ) -> None:
        """Agent steps/s and PPO env-steps/s of the stock pipeline and racingline's modes, with ratios."""
        from rich.console import Console
        from rich.table import Table

        from racingline.bench import PIPELINES, run_bench
        from racingline.io import atomic_write_text

        unknown = [n for n in (only or []) if n not in PIPELINES]
        if unknown:
            fail(f"--only {unknown[0]}: unknown pipeline; choose from {', '.join(PIPELINES)}", code=2)
        check_output(json_out, "--json")  # before minutes of measuring
        console = Console(stderr=True)

        def on_row(r) -> None:
            line = f"measured {r.label}: {r.env_steps_per_s:,.0f} agent steps/s"
            if r.ppo_steps_per_s:
                line += f", PPO {r.ppo_steps_per_s:,.0f} env steps/s"
            if r.config_ppo_steps_per_s:
                line += f" ({r.config_ppo_steps_per_s:,.0f} with configs/{r.ppo_config}.yaml)"
            console.print(line)

        report = run_bench(env_seconds, ppo_seconds, seed, ppo, only or None, on_row=on_row)

        def fmt(value: float | None, ratio: bool = False) -> str:
            if value is None:
                return "-"
            return f"{value:,.1f}x" if ratio else f"{value:,.0f}"

        def share(value: float | None) -> str:
            return "-" if value is None else f"{100 * value:.0f}%"

        table = Table(title="racingline bench (frame skip 2, same track and seed, this machine)")
        for col in ("pipeline", "agent steps/s (1 env)", "vs (a)", "PPO env-steps/s, tutorial settings (2 envs)",
                    "vs (a)", "PPO env-steps/s, racingline config (2 envs)", "vs (a)", "PPO time in updates"):
            table.add_column(col, justify="left" if col == "pipeline" else "right")
        for r in report.rows:
            config = "-" if r.ppo_config is None else f"{fmt(r.config_ppo_steps_per_s)} ({r.ppo_config})"
            shares = share(r.ppo_update_share) + ("" if r.ppo_config is None else f" / {share(r.config_ppo_update_share)}")
            table.add_row(r.label, fmt(r.env_steps_per_s), fmt(r.env_ratio, True), fmt(r.ppo_steps_per_s),
                          fmt(r.ppo_ratio, True), config, fmt(r.config_ppo_ratio, True), shares)
        Console().print(table)
        typer.echo(f"peak memory of this process: {report.max_rss_mib:,.0f} MiB")
        if json_out is not None:
            atomic_write_text(json_out, json.dumps(report.to_dict(), indent=2) + "\n")
            typer.echo(f"wrote {json_out}")
