"""The multi-armed test: regret of the bandit against baselines in simulated worlds, and its speed.

    python benchmarks/bandit.py                      # 100 seeds (400 for the delay study), two processes (~13 min)
    python benchmarks/bandit.py --seeds 20 --delay-seeds 20   # a quick look
    python benchmarks/bandit.py --processes 1 --no-micro
    python benchmarks/bandit.py --refreshes-per-day 4 --no-micro --no-sql   # refreshes within the day

Every run goes through ``services.bandit.simulator``: the real refresh and pick, day by day, in
a world of 3 messages × 2 incentives (``simulator.WORLDS``, shared with the tests), 20,000 sends
at 500 a day, conversions arriving after an exponential delay of 3 days on average. Regret is in
expected value (the best arm's expected profit minus the chosen arm's, per send); "gap captured"
is (profit of the policy - profit of uniform) / (profit of always-best - profit of uniform),
from the mean regrets over the seeds. Each seed's world randomness is shared by all policies. The
delay study (Thompson with no delay, 3 and 7 days) runs more seeds than the baselines' tables: the
ratio of two noisy means is the target with the least room, and its 90 % interval (seeds
resampled) is printed beside it.

The micro-benchmarks time one pick (6 and 100 arms) and the pure refresh of 100 arms from the
aggregate counts of 1,000,000 recorded sends (rows to histories, posteriors, allocation); then
``bandit_refresh.py`` times the refresh from a database of 1,000,000 recorded sends (the query in
front of it included) on SQLite and PostgreSQL (``--no-sql`` skips it, ``--sql-database`` picks one).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
import timeit
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bandit_refresh
from rich.console import Console
from rich.table import Table

from referral_automation.domain.bandit import (
    AgeRow,
    BanditArm,
    BanditSettings,
    allocate,
    histories_from_rows,
    posterior_snapshot,
    refresh,
    summarize,
)
from referral_automation.services.bandit.simulator import WORLDS, benchmark_world, run_policy

SENDS, PER_DAY, DELAY_DAYS = 20_000, 500, 3.0
console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)


@dataclass(frozen=True)
class Contender:
    """A line of a world's table: a simulator policy with its options."""

    label: str
    policy: str
    explore_sends: int | None = None


CONTENDERS = [
    Contender("thompson (profit, delay-corrected)", "thompson"),
    Contender("uniform", "uniform"),
    Contender("test-then-commit, 20 % explore", "test_then_commit", SENDS // 5),
    Contender("test-then-commit, 30 % explore", "test_then_commit", SENDS * 3 // 10),
    Contender("thompson on conversion", "thompson_conversion"),
    Contender("thompson, pending as failure", "pending_as_failure"),
    Contender("thompson, fixed 7-day window", "fixed_window_7d"),
]

Job = tuple[str, str, int | None, float, int, int]
Runs = dict[tuple[str, str, float], np.ndarray]

#: The delay study's label in ``Runs``: Thompson at each delay, over the delay study's seeds.
DELAY_STUDY = "delay study"
DELAYS = (0.0, DELAY_DAYS, 7.0)


#: The first days of a test, where a delay's extra regret is (the delay study's last column).
EARLY_DAYS = 14


def run_job(job: Job) -> tuple[float, float, float]:
    """One simulation in a worker: (regret, realised profit, regret of the first ``EARLY_DAYS`` days' sends)."""
    world, policy, explore, delay, seed, refreshes = job
    arms = benchmark_world(world, delay_days=delay)
    run = run_policy(
        arms, sends=SENDS, seed=seed, policy=policy, per_day=PER_DAY, explore_sends=explore, refreshes_per_day=refreshes
    )
    return run.regret, run.profit, sum(run.regret_by_day[:EARLY_DAYS])


def simulate_all(seeds: int, delay_seeds: int, processes: int, refreshes: int = 1) -> Runs:
    """Regret and profit per seed: every world × contender at a 3-day delay over ``seeds`` seeds, and the
    delay study (``DELAY_STUDY``: Thompson at each of ``DELAYS``) over ``delay_seeds`` seeds. Thompson's
    3-day runs serve both, so each seed runs once."""
    wanted = {(w, c, DELAY_DAYS): seeds for w in WORLDS for c in CONTENDERS}
    for world in WORLDS:
        for delay in DELAYS:
            key = (world, CONTENDERS[0], delay)
            wanted[key] = max(wanted.get(key, 0), delay_seeds)
    jobs = [(w, c.policy, c.explore_sends, d, s, refreshes) for (w, c, d), n in wanted.items() for s in range(n)]
    started = time.perf_counter()
    with ProcessPoolExecutor(processes) as pool:
        results = list(pool.map(run_job, jobs, chunksize=8))
    console.print(f"{len(jobs):,} simulations in {time.perf_counter() - started:,.0f} s", style="dim")
    out, first = {}, 0
    for (world, contender, delay), count in wanted.items():
        block = np.array(results[first : first + count])
        first += count
        if delay == DELAY_DAYS:
            out[(world, contender.label, delay)] = block[:seeds]
        if contender is CONTENDERS[0]:
            out[(world, DELAY_STUDY, delay)] = block[:delay_seeds]
    return out


def delay_ratio(runs: Runs, world: str, resamples: int = 2_000) -> tuple[float, float, float]:
    """Thompson's mean regret with a 7-day delay over its mean regret without one, and the ratio's 90 %
    interval from resampling the seeds (each seed's two runs share a world, so they are drawn together)."""
    seven, none = runs[(world, DELAY_STUDY, 7.0)][:, 0], runs[(world, DELAY_STUDY, 0.0)][:, 0]
    picks = np.random.default_rng(0).integers(0, none.size, size=(resamples, none.size))
    ratios = seven[picks].mean(axis=1) / none[picks].mean(axis=1)
    low, high = np.quantile(ratios, [0.05, 0.95])
    return float(seven.mean() / none.mean()), float(low), float(high)


def world_table(world: str, runs: Runs) -> Table:
    arms = benchmark_world(world)
    best, converts = max(arms, key=lambda a: a.profit), max(arms, key=lambda a: a.rate)
    title = (
        f"{world}: rates {min(a.rate for a in arms):.0%}-{max(a.rate for a in arms):.0%}, most profitable "
        f"{best.name} ({best.profit:.2f}/send), best converter {converts.name} ({converts.profit:.2f}/send)"
    )
    table = Table(title=title, title_justify="left")
    for name in ("policy", "mean regret", "p90 regret", "p90/mean", "gap captured", "realised profit"):
        table.add_column(name, justify="left" if name == "policy" else "right")
    uniform = runs[(world, "uniform", DELAY_DAYS)][:, 0].mean()
    for contender in CONTENDERS:
        regret, profit, _early = runs[(world, contender.label, DELAY_DAYS)].T
        mean, p90 = regret.mean(), float(np.quantile(regret, 0.9))
        table.add_row(
            contender.label,
            f"{mean:,.0f}",
            f"{p90:,.0f}",
            f"{p90 / mean:.2f}",
            f"{1 - mean / uniform:.1%}",
            f"{profit.mean():,.0f}",
        )
    return table


def delay_table(runs: Runs) -> Table:
    seeds = len(runs[(next(iter(WORLDS)), DELAY_STUDY, 0.0)])
    table = Table(title=f"thompson's regret by mean conversion delay ({seeds} seeds)", title_justify="left")
    for name in ("world", "no delay", "3 days", "7 days", "7 days / none (90 %)",
                 f"of the extra, days 0-{EARLY_DAYS - 1}", "pending as failure / corrected",
                 "7-day window / corrected"):  # fmt: skip
        table.add_column(name, justify="left" if name == "world" else "right")
    label = CONTENDERS[0].label
    for world in WORLDS:
        none, three, seven = (runs[(world, DELAY_STUDY, d)][:, 0].mean() for d in DELAYS)
        ratio, low, high = delay_ratio(runs, world)
        # the baselines against Thompson on their own seeds
        corrected = runs[(world, label, DELAY_DAYS)][:, 0].mean()
        pending = runs[(world, "thompson, pending as failure", DELAY_DAYS)][:, 0].mean()
        window = runs[(world, "thompson, fixed 7-day window", DELAY_DAYS)][:, 0].mean()
        early = runs[(world, DELAY_STUDY, 7.0)][:, 2].mean() - runs[(world, DELAY_STUDY, 0.0)][:, 2].mean()
        table.add_row(
            world,
            f"{none:,.0f}",
            f"{three:,.0f}",
            f"{seven:,.0f}",
            f"{ratio:.2f} ({low:.2f}-{high:.2f})",
            f"{early / (seven - none):.0%}",
            f"{pending / corrected:.2f}",
            f"{window / corrected:.2f}",
        )
    return table


# --------------------------------------------------------------------------- micro-benchmarks
def _arms(count: int) -> list[BanditArm]:
    return [BanditArm(f"m{k // 2}", f"i{k % 2}", cost=10.0 + 40.0 * (k % 2)) for k in range(count)]


def _rows(arms: list[BanditArm], sends: int, seed: int = 7) -> list[AgeRow]:
    """The refresh query's rows for ``sends`` recorded sends spread over 91 days of age."""
    rng = np.random.default_rng(seed)
    rows = []
    for arm in arms:
        per_age = rng.multinomial(sends // len(arms), np.full(91, 1 / 91))
        rate = rng.uniform(0.02, 0.13)
        seen = rng.binomial(per_age, rate * (1 - np.exp(-(np.arange(91) + 0.5) / 3.0)))
        for age in range(91):
            count = int(seen[age])
            rows.append(AgeRow(arm.variant, arm.incentive, age, int(per_age[age]), count, 3.0 * count, 100.0 * count))
    return rows


def best_of(function: Callable[[], object], repeat: int = 5) -> float:
    """The fastest of ``repeat`` calls, in seconds."""
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        timings.append(time.perf_counter() - started)
    return min(timings)


def micro() -> dict[str, float]:
    """µs per pick (6 and 100 arms) and ms per stage of the pure refresh of 100 arms, 1,000,000 sends."""
    figures = {}
    for count in (6, 100):
        arms = _arms(count)
        allocation = refresh(arms, histories_from_rows(_rows(arms, 1_000_000)), BanditSettings())
        loops = 200_000
        namespace = {"pick": allocation.pick, "rng": random.Random(1)}
        figures[f"pick_{count}"] = min(timeit.repeat("pick(rng)", globals=namespace, number=loops, repeat=5)) / loops
    arms = _arms(100)
    rows = _rows(arms, 1_000_000)
    histories = histories_from_rows(rows)
    settings = BanditSettings()
    snapshot = posterior_snapshot(arms, histories, settings)
    figures["rows"] = float(len(rows))
    figures["histories"] = best_of(lambda: histories_from_rows(rows))
    figures["posteriors"] = best_of(lambda: posterior_snapshot(arms, histories, settings))
    figures["allocation"] = best_of(lambda: refresh(arms, histories, settings, np.random.default_rng(1)))
    figures["allocation"] -= figures["posteriors"]
    figures["refresh"] = best_of(lambda: refresh(arms, histories_from_rows(rows), settings))
    allocation = allocate(snapshot, np.random.default_rng(snapshot.seed()))
    figures["summary"] = best_of(lambda: summarize(allocation))
    return figures


def micro_table(figures: dict[str, float]) -> Table:
    table = Table(title="speed (pure code, one core)", title_justify="left")
    table.add_column("operation")
    table.add_column("time", justify="right")
    lines = [
        ("pick an arm, 6 arms", f"{figures['pick_6'] * 1e6:.2f} µs"),
        ("pick an arm, 100 arms", f"{figures['pick_100'] * 1e6:.2f} µs"),
        (f"rows → histories ({figures['rows']:,.0f} rows: 100 arms × 91 days)", f"{figures['histories'] * 1e3:.1f} ms"),
        ("posteriors (delay estimate, effective sends, prior)", f"{figures['posteriors'] * 1e3:.1f} ms"),
        ("allocation (10,000 Monte Carlo draws, floor, holdout, alias)", f"{figures['allocation'] * 1e3:.1f} ms"),
        ("refresh: 100 arms, 1,000,000 sends, all of the above", f"{figures['refresh'] * 1e3:.1f} ms"),
        ("report lines with 95 % intervals, 100 arms", f"{figures['summary'] * 1e3:.1f} ms"),
    ]
    for line in lines:
        table.add_row(*line)
    return table


# --------------------------------------------------------------------------- targets
def targets(
    runs: Runs,
    figures: dict[str, float] | None,
    database: dict[str, dict[str, float]],
) -> Table:
    table = Table(title="targets (issue 15)", title_justify="left")
    for name in ("target", "figure", "verdict"):
        table.add_column(name, justify="left" if name != "figure" else "right")
    label = CONTENDERS[0].label

    def regret(world: str, contender: str) -> np.ndarray:
        return runs[(world, contender, DELAY_DAYS)][:, 0]

    def row(target: str, figure: str, ok: bool) -> None:
        table.add_row(target, figure, "[green]PASS[/]" if ok else "[red]FAIL[/]")

    for world, floor in (("spread", 0.8), ("low", 0.5)):
        captured = 1 - regret(world, label).mean() / regret(world, "uniform").mean()
        row(f"{world}: gap captured ≥ {floor:.0%}", f"{captured:.1%}", captured >= floor)
    for world in WORLDS:
        ratio = float(np.quantile(regret(world, label), 0.9) / regret(world, label).mean())
        row(f"{world}: p90 regret ≤ 1.5 × mean", f"{ratio:.2f}", ratio <= 1.5)
    for world in WORLDS:
        ratio, low, high = delay_ratio(runs, world)
        row(f"{world}: regret, 7-day delay ≤ 1.4 × no delay", f"{ratio:.3f} ({low:.2f}-{high:.2f})", ratio <= 1.4)
    for world in WORLDS:
        ours = regret(world, label).mean()
        others = {c.label: regret(world, c.label).mean() for c in CONTENDERS[1:5]}
        worst = max(ours / value for value in others.values())
        row(f"{world}: beats uniform, test-then-commit (both), thompson on conversion", f"{worst:.2f} ×", worst < 1)
    if figures is not None:
        for count in (6, 100):
            micro_s = figures[f"pick_{count}"] * 1e6
            row(f"pick ≤ 10 µs, {count} arms", f"{micro_s:.2f} µs", micro_s <= 10)
        seconds = figures["refresh"]
        row("refresh ≤ 1 s, 100 arms, 1,000,000 sends (pure part)", f"{seconds:.3f} s", seconds <= 1)
    for kind, measured in database.items():
        seconds = measured["refresh"]
        name = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[kind]
        row(f"refresh ≤ 1 s, 100 arms, {measured['sends']:,.0f} sends, from {name}", f"{seconds:.3f} s", seconds <= 1)
    return table


def machine() -> str:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{platform.python_implementation()} {platform.python_version()}, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs, load average {load} at start ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=100, help="simulations per world and policy (default 100)")
    parser.add_argument(
        "--delay-seeds", type=int, default=400, help="simulations per world and delay of the delay study (default 400)"
    )
    parser.add_argument("--processes", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--no-micro", action="store_true", help="skip the timing of picks and refreshes")
    parser.add_argument("--no-sql", action="store_true", help="skip the refresh from a database")
    parser.add_argument("--sql-database", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--sql-sends", type=int, default=1_000_000, help="recorded sends of the database refresh")
    parser.add_argument(
        "--refreshes-per-day",
        type=int,
        default=1,
        help="refreshes of the posteriors per simulated day (default 1, day by day; detection runs 96 a day)",
    )
    args = parser.parse_args()
    console.print(machine())
    settings = BanditSettings()
    console.print(
        f"{SENDS:,} sends at {PER_DAY} a day, mean delay {DELAY_DAYS:g} days, {args.seeds} seeds "
        f"({args.delay_seeds} for the delay study), "
        f"{args.refreshes_per_day} refresh(es) a day; the product's "
        f"defaults: holdout {settings.holdout:g}, floor {settings.min_share:g} until {settings.min_settled:g} settled "
        f"sends, prior {settings.prior_sends or 'estimated'} pseudo-sends (within {settings.min_prior_sends:g}-"
        f"{settings.max_prior_sends:g}), {settings.draws:,} draws",
        style="dim",
    )
    figures = None if args.no_micro else micro()  # first, while the machine is quiet
    kinds = [] if args.no_sql else ["sqlite", "postgresql"] if args.sql_database == "both" else [args.sql_database]
    database = {kind: bandit_refresh.measure(kind, args.sql_sends) | {"sends": args.sql_sends} for kind in kinds}
    runs = simulate_all(args.seeds, args.delay_seeds, args.processes, args.refreshes_per_day)
    for world in WORLDS:
        console.print(world_table(world, runs))
    console.print(delay_table(runs))
    if figures is not None:
        console.print(micro_table(figures))
    if database:
        console.print(bandit_refresh.table(database, args.sql_sends))
    console.print(targets(runs, figures, database))


if __name__ == "__main__":
    main()
