"""``demo``: a sample workspace, two simulated weeks of the whole pipeline, and a summary.

The pipeline steps run as the real Prefect flows (``flow_runner``, as ``run`` does), on a
temporary Prefect server unless ``PREFECT_API_URL`` names one; ``--direct`` calls the services in
this process instead (no Prefect, no run history, a few seconds faster).
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from collections.abc import Mapping
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from referral_automation.cli.app import app
from referral_automation.cli.common import NowOption, console, err_console, parse_now, user_errors
from referral_automation.cli.terminal import visible
from referral_automation.db.session import session_factory
from referral_automation.services.demo import run as demo_service
from referral_automation.services.demo.summary import ARM_KINDS, DemoSummary, summarise
from referral_automation.settings import Settings


@app.command()
def demo(
    ctx: typer.Context,
    customers: Annotated[int, typer.Option("--customers", min=1, max=100_000, help="How many sample customers.")] = 500,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample data and simulated responses.")] = 7,
    workspace: Annotated[
        Path, typer.Option("--workspace", help="Where the sample workspace goes (rebuilt on each run).")
    ] = Path("demo-workspace"),
    now: NowOption = None,
    direct: Annotated[
        bool, typer.Option("--direct", help="Run the steps without Prefect (services in-process).")
    ] = False,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="An empty database to use instead of the workspace's SQLite file."),
    ] = None,
    config_dir: Annotated[
        Path | None,
        typer.Option("--config-dir", help="Config to copy into a new workspace (default: the shipped config/)."),
    ] = None,
) -> None:
    """Build a sample workspace, run detect, send, responses and follow-ups over two simulated weeks, and summarise."""
    start = parse_now(now)
    with user_errors():
        space = demo_service.prepare_workspace(
            workspace, source=demo_service.find_checkout(), config_dir=config_dir, database_url=database_url
        )
        settings = space.settings()
        console.print(f"demo workspace: {space.root}", markup=False)
        from referral_automation.cli.flow_runner import exported, settings_environment

        with exported(settings_environment(settings)):
            debug = bool(ctx.find_root().params.get("debug"))
            runner = demo_service.direct_runner(settings) if direct else _prefect_runner(settings, debug=debug)
            run = demo_service.run_demo(
                space, customers=customers, seed=seed, now=start, run_step=runner, on_step=_print_step
            )
    summary = summarise(session_factory(space.database_url), space.outbox_dir)
    _print_summary(run, summary, seed=seed)


def _prefect_runner(settings: Settings, *, debug: bool) -> demo_service.StepRunner:
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")  # before prefect is imported
    from referral_automation.cli import flow_runner

    if flow_runner.is_ephemeral():
        err_console.print(flow_runner.EPHEMERAL_HINT, markup=False)

    def run(name: str, at: datetime) -> Mapping[str, Any]:
        with nullcontext() if debug else flow_runner.without_tracebacks():
            return flow_runner.run_flow(name, now=at, settings=settings)

    return run


def _print_step(run: demo_service.StepRun) -> None:
    counts = run.counts
    if run.step == "detect":
        what = (
            f"{counts.get('requests_created', 0)} referral requests ({counts.get('pending_approval', 0)} need approval)"
        )
    else:
        what = f"{counts.get('sent', 0)} sent"
        if counts.get("rescheduled"):
            what += f", {counts['rescheduled']} moved to their send window"
    console.print(f"  [dim]{run.at:%a %Y-%m-%d %H:%M} UTC[/dim]  {run.step:<10} {what}")


def _print_summary(run: demo_service.DemoRun, summary: DemoSummary, *, seed: int) -> None:
    finished = run.finished_at or run.started_at
    console.print()
    console.rule("Referral automation demo")
    console.print(
        f"{summary.customers} customers, seed {seed}; simulated from {run.started_at:%Y-%m-%d %H:%M} "
        f"to {finished:%Y-%m-%d %H:%M} UTC in {len(run.runs)} pipeline runs",
        markup=False,
    )
    console.print(_pipeline_table(run, summary))
    console.print(_arms_table(summary))
    _print_next_steps(run, summary)


def _pipeline_table(run: demo_service.DemoRun, summary: DemoSummary) -> Table:
    table = Table(title="Pipeline", title_justify="left")
    table.add_column("stage")
    table.add_column("count", justify="right")
    table.add_column("detail")
    moments = summary.moments
    blocked = ", ".join(f"{guard} {count}" for guard, count in summary.blocked_by.items())
    steps = summary.messages_by_step
    rows = [
        ("customers ingested", summary.customers, ""),
        ("journey events ingested", summary.events, "six months: purchases, NPS, tickets, milestones"),
        ("moments of truth found", sum(moments.values()), f"blocked by a guard: {blocked or 'none'}"),
        ("referral requests", moments.get("requested", 0),
         f"superseded by a better moment: {moments.get('superseded', 0)}"),
        ("approved / rejected", f"{run.approved} / {run.rejected}", f"by the {demo_service.SUCCESS_MANAGER}"),
        ("first asks sent", steps.get(0, 0), "each at 09:00–17:00 on a weekday in the customer's zone"),
        ("follow-ups sent", sum(n for step, n in steps.items() if step > 0),
         ", ".join(f"step {step}: {n}" for step, n in steps.items() if step > 0) or "none due"),
        ("responses recorded", sum(summary.responses.values()),
         ", ".join(f"{kind.replace('_', ' ')} {n}" for kind, n in summary.responses.items())),
        ("time-zone fallbacks", summary.timezone_fallbacks, "unknown zone: UTC used, warning in the audit log"),
    ]  # fmt: skip
    for stage, count, detail in rows:
        table.add_row(stage, str(count), detail)
    statuses = ", ".join(f"{status} {count}" for status, count in summary.requests.items())
    table.add_row("requests by status", str(sum(summary.requests.values())), statuses)
    return table


def _arms_table(summary: DemoSummary) -> Table:
    table = Table(title="Arms: requests with each response", title_justify="left")
    table.add_column("variant / incentive")
    for name in ("asked", *ARM_HEADERS, "refs/asked"):
        table.add_column(name, justify="right")
    for arm in summary.arms:
        referrals = arm.responded.get("referral", 0)
        rate = f"{referrals / arm.sent:.0%}" if arm.sent else "–"
        counts = [str(arm.responded.get(kind.value, 0)) for kind in ARM_KINDS]
        table.add_row(f"{arm.variant} / {arm.incentive}", str(arm.sent), *counts, rate)
    return table


#: Short column names for ``ARM_KINDS`` (the table fits an 80-column terminal).
ARM_HEADERS = ("opened", "clicked", "OK", "refs", "conv")


def _print_next_steps(run: demo_service.DemoRun, summary: DemoSummary) -> None:
    """Where to look next: files, then commands to copy, each working as printed from the workspace
    (plain lines, never cropped)."""
    space = run.workspace
    console.print()
    console.rule("Look further", align="left")
    console.print(f"outbox (one .eml per message): {space.outbox_dir}", markup=False)
    if summary.sample_first_ask:
        console.print(f"a first ask: {summary.sample_first_ask}", markup=False)
    if summary.sample_follow_up:
        console.print(f"a follow-up: {summary.sample_follow_up}", markup=False)
    console.print(f"sample data: {space.data_dir}", markup=False)
    program = invocation(space.root)
    options = f" --database-url {shlex.quote(space.database_url)}" if space.database else ""
    customer = f" --customer {shlex.quote(summary.sample_customer)}" if summary.sample_customer else ""
    commands = [
        f"cd {shlex.quote(str(space.root))}",
        f"{program} requests list{options}",
        *([f"{program} requests show {summary.sample_request[:8]}{options}"] if summary.sample_request else []),
        *([f"{program} customers show {shlex.quote(summary.sample_customer)} --why{options}"]
          if summary.sample_customer else []),
        f"{program} approvals list{options}",
        f"{program} preview customer_referral --variant gratitude{customer}{options}",
        *([f"{program} report{options}"] if _has_command("report") else []),
        f"{program} run all --now {(run.finished_at or run.started_at).isoformat()}{options}",
    ]  # fmt: skip
    console.print()
    for command in commands:
        console.print(visible(f"  {command}"), markup=False)


def invocation(directory: Path) -> str:
    """How to call this program from ``directory``, as typed: its name when it is on PATH, else its
    path from there (``../.venv/bin/referral-automation`` after ``make demo``), or ``python -m``."""
    script = Path(sys.argv[0])
    if script.name == "__main__.py" or not script.is_file():  # python -m referral_automation
        return f"{_path_from(directory, Path(sys.executable))} -m referral_automation"
    found = shutil.which(script.name)
    if found is not None and Path(found).resolve() == script.resolve():
        return script.name
    return _path_from(directory, script)


def _path_from(directory: Path, target: Path) -> str:
    """``target`` relative to ``directory`` when that is shorter, else absolute; always a path a shell runs."""
    absolute = Path(os.path.abspath(target))
    relative = os.path.relpath(absolute, os.path.abspath(directory))
    chosen = relative if len(relative) < len(str(absolute)) else str(absolute)
    return shlex.quote(chosen if "/" in chosen else f"./{chosen}")


def _has_command(name: str) -> bool:
    return any(
        (command.name or getattr(command.callback, "__name__", "")) == name for command in app.registered_commands
    )
