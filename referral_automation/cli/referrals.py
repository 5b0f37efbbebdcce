"""``referrals held|accept|reject`` and ``rewards list|issue|cancel``: a person's side of referrals.

Held referrals (a throwaway address, a code used far more than usual) count for nothing until
someone accepts them; rewards wait out the refund window and are issued by ``rewards issue``
(run it daily, e.g. from cron or a Prefect deployment), or cancelled when the purchase is refunded.
"""

from __future__ import annotations

from typing import Annotated

import typer

from referral_automation.cli.app import app
from referral_automation.cli.common import (
    ConfigDirOption,
    DatabaseUrlOption,
    JsonOption,
    NowOption,
    console,
    open_database,
    parse_now,
    print_json,
    settings_for,
    user_errors,
    when,
)
from referral_automation.cli.tables import listing
from referral_automation.cli.terminal import cell
from referral_automation.domain.rewards import RewardStatus

referrals_app = typer.Typer(help="Referees' sign-ups held for a person's review.", no_args_is_help=True)
rewards_app = typer.Typer(
    help="The reward ledger: pending until the refund window ends, then issued.", no_args_is_help=True
)
app.add_typer(referrals_app, name="referrals")
app.add_typer(rewards_app, name="rewards")

IdArgument = Annotated[str, typer.Argument(metavar="ID", help="The referral id, or its first 8 characters or more.")]
ByOption = Annotated[str, typer.Option("--by", help="Who decides (kept in the audit log).")]
NoteOption = Annotated[str | None, typer.Option("--note", help="Why (kept in the audit log).")]
LimitOption = Annotated[int, typer.Option("--limit", min=1, max=10000, help="At most this many rows.")]


@referrals_app.command("held")
def held_command(
    limit: LimitOption = 100,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """List referrals waiting for review, the oldest first."""
    from referral_automation.services.referrals.review import list_held

    settings = settings_for(database_url, config_dir)
    with user_errors(), open_database(settings) as sessions:
        held = list_held(sessions, limit=limit)
    if as_json:
        print_json([item.as_json() for item in held])
        return
    if not held:
        console.print("no referrals held for review")
        return
    table = listing(f"Held for review ({len(held)})")
    for column in ("id", "referee", "advocate", "signed up", "why"):
        table.add_column(column, overflow="fold")
    for item in held:
        converted = " (converted)" if item.converted else ""
        cells = (item.referral_id[:8], item.referee_email + converted, item.advocate_customer_id,
                 when(item.signed_up_at), "; ".join(item.reasons))  # fmt: skip
        table.add_row(*(cell(value) for value in cells))
    console.print(table)


def _decide(referral_id: str, *, accept: bool, by: str, note: str | None, now: str | None,
            database_url: str | None, config_dir: object) -> None:  # fmt: skip
    from referral_automation.config import load_config
    from referral_automation.services.referrals.conversions import LedgerPolicy
    from referral_automation.services.referrals.review import decide_referral

    at = parse_now(now)
    settings = settings_for(database_url, config_dir)  # type: ignore[arg-type]
    policy = LedgerPolicy(settings.refund_window_days, settings.default_currency)
    with user_errors(), open_database(settings) as sessions:
        status = decide_referral(
            sessions, referral_id, accept=accept, by=by, note=note, now=at,
            config=load_config(settings.config_dir), policy=policy,
        )  # fmt: skip
    console.print(f"referral {referral_id} {status.value} by {by}", markup=False)


@referrals_app.command("accept")
def accept_command(
    referral_id: IdArgument,
    by: ByOption,
    note: NoteOption = None,
    now: NowOption = None,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Accept a held referral: it counts, and a conversion it had is credited."""
    _decide(referral_id, accept=True, by=by, note=note, now=now, database_url=database_url, config_dir=config_dir)


@referrals_app.command("reject")
def reject_command(
    referral_id: IdArgument,
    by: ByOption,
    note: NoteOption = None,
    now: NowOption = None,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Reject a held referral: it never counts and cannot convert."""
    _decide(referral_id, accept=False, by=by, note=note, now=now, database_url=database_url, config_dir=config_dir)


@rewards_app.command("list")
def rewards_list(
    status: Annotated[RewardStatus | None, typer.Option("--status", help="Only rewards in this status.")] = None,
    limit: LimitOption = 100,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """List ledger lines, the soonest to be issued first."""
    from referral_automation.services.referrals.ledger import list_rewards

    settings = settings_for(database_url, config_dir)
    with user_errors(), open_database(settings) as sessions:
        lines = list_rewards(sessions, status=status, limit=limit)
    if as_json:
        print_json(lines)
        return
    table = listing(f"Rewards ({len(lines)})")
    for column in ("id", "side", "recipient", "reward", "status", "issue after"):
        table.add_column(column, overflow="fold")
    for line in lines:
        reward = f"{line['kind']} {line['value']} {line['currency'] or ''}".strip()
        cells = (
            line["reward_id"][:8],
            line["side"],
            line["recipient"],
            reward,
            line["status"],
            line["issue_after"][:16],
        )
        table.add_row(*(cell(value) for value in cells))
    console.print(table)


@rewards_app.command("issue")
def rewards_issue(
    now: NowOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Issue every pending reward whose refund window has passed."""
    from referral_automation.services.referrals.ledger import issue_due_rewards

    at = parse_now(now)
    settings = settings_for(database_url, config_dir)
    with user_errors(), open_database(settings) as sessions:
        issued = issue_due_rewards(sessions, now=at)
    if as_json:
        print_json({"issued": issued})
    else:
        console.print(f"{issued} rewards issued")


@rewards_app.command("cancel")
def rewards_cancel(
    referee_email: Annotated[str, typer.Option("--referee-email", help="The referee whose purchase was refunded.")],
    by: ByOption,
    note: NoteOption = None,
    now: NowOption = None,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Cancel the pending rewards of a referral whose purchase was refunded (issued ones stay)."""
    from referral_automation.services.referrals.ledger import cancel_rewards

    at = parse_now(now)
    settings = settings_for(database_url, config_dir)
    with user_errors(), open_database(settings) as sessions:
        cancelled = cancel_rewards(sessions, referee_email, by=by, note=note, now=at)
    console.print(f"{cancelled} pending rewards cancelled", markup=False)
