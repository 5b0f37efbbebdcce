"""``simulate``: a policy of the multi-armed test in a synthetic world, beside a uniform split."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from referral_automation.cli.app import app
from referral_automation.cli.common import JsonOption, console, print_json, user_errors
from referral_automation.cli.tables import listing
from referral_automation.cli.terminal import cell, lines

if TYPE_CHECKING:  # the simulator brings numpy: imported when the command runs, not with every command
    from referral_automation.services.bandit.simulator import SimArm, SimulationResult

#: The longest world the command simulates: ten years of days (each day is a refresh).
MAX_DAYS = 3650


@app.command()
def simulate(
    arms: Annotated[
        Path,
        typer.Option(
            "--arms", exists=True, dir_okay=False, help="YAML or JSON list of {name, rate, value, cost, delay_days}."
        ),
    ],
    sends: Annotated[int, typer.Option("--sends", min=1, max=2_000_000, help="How many requests to send in all.")],
    seed: Annotated[int, typer.Option("--seed", min=0, help="The world's and the policy's randomness.")],
    policy: Annotated[
        str,
        typer.Option(
            "--policy",
            help="thompson (the product's), uniform, or a baseline: test_then_commit, thompson_conversion, "
            "pending_as_failure, fixed_window_7d.",
        ),
    ] = "thompson",
    per_day: Annotated[int, typer.Option("--per-day", min=1, max=100_000, help="Sends a day (a refresh a day).")] = 500,
    as_json: JsonOption = False,
) -> None:
    """Run the real selection code day by day in a synthetic world: per arm the share, conversions and profit,
    and the regret against always playing the most profitable arm, beside the same for a uniform split."""
    from referral_automation.services.bandit.arms_file import load_world
    from referral_automation.services.bandit.simulator import POLICIES
    from referral_automation.services.bandit.simulator import simulate as run

    if policy not in POLICIES:
        raise typer.BadParameter(f"{policy!r} is not one of {', '.join(POLICIES)}", param_hint="--policy")
    if math.ceil(sends / per_day) > MAX_DAYS:
        raise typer.BadParameter(
            f"{sends:,} sends at {per_day:,} a day take more than {MAX_DAYS:,} days", param_hint="--per-day"
        )
    with user_errors():
        world = load_world(arms)
    result = run(world, sends=sends, seed=seed, policy=policy, per_day=per_day)
    if as_json:
        print_json(result.to_json())
        return
    console.print(results_table(result, world))
    for line in summary(result):
        console.print(line, markup=False)


def results_table(result: SimulationResult, world: list[SimArm]) -> Table:
    """Per arm what it is worth, then on two lines what the policy and the uniform split did with it."""
    run, uniform = result.run, result.uniform
    table = listing(f"{run.policy} beside a uniform split: {run.sends:,} sends, seed {result.seed}")
    table.add_column("arm", overflow="fold", ratio=1)  # a long name folds; the figures never lose digits
    for header in ("true\nrate", "profit\n/ send"):
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("split", no_wrap=True)
    for header in ("share", "conv.", "profit"):
        table.add_column(header, justify="right", no_wrap=True)
    for mine, theirs, truth in zip(run.arms, uniform.arms, world, strict=True):
        table.add_row(
            cell(mine.name),
            f"{mine.true_rate:.2%}",
            f"{truth.profit:,.2f}",
            lines(run.policy, "uniform"),
            lines(f"{mine.share:.1%}", f"{theirs.share:.1%}"),
            lines(f"{mine.conversions:,}", f"{theirs.conversions:,}"),
            lines(f"{mine.profit:,.0f}", f"{theirs.profit:,.0f}"),
        )
    return table


def summary(result: SimulationResult) -> list[str]:
    """The regrets side by side, and what was realised."""
    run, uniform = result.run, result.uniform
    kept = 1 - run.regret / uniform.regret if uniform.regret > 0 else 0.0
    return [
        f"regret against always playing {result.best_arm} (expected profit lost): {run.policy} {run.regret:,.0f}, "
        f"uniform {uniform.regret:,.0f}; the policy kept {kept:.1%} of what a uniform split loses",
        f"profit realised: {run.policy} {run.profit:,.0f}, uniform {uniform.profit:,.0f}; "
        f"{run.holdout_sends:,} sends came from the holdout",
    ]
