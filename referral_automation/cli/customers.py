"""``customers show ID [--why]``: a customer's referral story, and why they were or were not asked."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from referral_automation.cli.app import app
from referral_automation.cli.common import (
    DEFAULT_LIMIT,
    ConfigDirOption,
    DatabaseUrlOption,
    JsonOption,
    LimitOption,
    NowOption,
    console,
    open_database,
    parse_now,
    print_json,
    say_limited,
    settings_for,
    when,
)
from referral_automation.cli.requests import requests_table
from referral_automation.cli.tables import audit_table, facts, listing
from referral_automation.cli.terminal import cell, visible
from referral_automation.domain.statuses import NOT_ASKED
from referral_automation.services.inspection.customers import CustomerStory, RulesVerdict, customer_story

customers_app = typer.Typer(help="Customers: one customer's referral story.", no_args_is_help=True)
app.add_typer(customers_app, name="customers")

#: How a guard's verdict reads in the "why" section.
VERDICT_WORDS = {True: "passes", False: "blocks", None: "off"}


@customers_app.command("show")
def show_command(
    customer_id: Annotated[str, typer.Argument(metavar="ID", help="The customer id (or their email address).")],
    why: Annotated[
        bool, typer.Option("--why", help="Also say what each guard would decide of a moment of truth now.")
    ] = False,
    limit: LimitOption = DEFAULT_LIMIT,
    now: NowOption = None,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Show a customer: consent and suppression, every moment of truth and what became of it, their requests."""
    from referral_automation.config import load_config

    at = parse_now(now)
    settings = settings_for(database_url, config_dir)
    config = load_config(settings.config_dir) if why else None
    with open_database(settings) as sessions:
        story = customer_story(sessions, customer_id, now=at, limit=limit, config=config)
    if as_json:
        print_json(story.as_json())
    else:
        print_story(story, why=why)
    say_limited(story.more_moments, limit, "moments")


def print_story(story: CustomerStory, *, why: bool) -> None:
    customer = story.customer
    console.print(f"Customer {visible(customer.customer_id)}", markup=False, style="bold")
    console.print(facts(_profile(story)))
    console.print(_moments_table(story))
    console.print(requests_table(list(story.requests)) if story.requests else "No referral requests.")
    console.print(audit_table(story.audit, title="Audit (UTC)"))
    if why:
        print_why(story)


def _profile(story: CustomerStory) -> list[tuple[str, str]]:
    customer = story.customer
    who = ", ".join(part for part in (customer.name, customer.company) if part)
    since = "none recorded"
    if story.first_purchase_at is not None:
        since = f"{when(story.first_purchase_at)} UTC ({(story.now - story.first_purchase_at).days} days ago)"
    return [
        ("name", who or "-"),
        ("email", customer.email),
        ("plan", f"{customer.plan or '-'}, lifetime value {customer.lifetime_value:,.2f}"),
        ("zone", f"{customer.timezone}, locale {customer.locale}"),
        ("first purchase", since),
        ("opted in", "yes" if customer.marketing_opt_in else "no: marketing email is not allowed"),
        ("suppressed", customer.suppression or "no"),
    ]


def _moments_table(story: CustomerStory) -> Table | str:
    if not story.moments:
        return "No moments of truth: no event of this customer matched a rule."
    table = listing("Moments of truth (newest first; UTC)")
    table.add_column("at", no_wrap=True)
    table.add_column("moment", overflow="fold", ratio=1)
    table.add_column("what became of it", overflow="fold", ratio=1)
    for line in story.moments:
        moment = line.moment
        table.add_row(cell(when(moment.occurred_at)), cell(f"{moment.rule_id}: {moment.what()}"), cell(line.verdict()))
    return table


def print_why(story: CustomerStory) -> None:
    """The guards' verdicts on a moment of truth now, rule group by rule group, with a headline."""
    console.print()
    console.print(f"Why or why not, as of {when(story.now)} UTC", markup=False, style="bold")
    console.print(Text(_last_asked(story)), soft_wrap=False)
    for verdict in story.verdicts:
        console.print(Text(_headline(verdict)), soft_wrap=False)
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="fold")
        for line in verdict.lines:
            until = f"; until {when(line.until)} UTC" if line.until is not None and line.passed is False else ""
            grid.add_row(cell(f"  {line.guard}"), cell(VERDICT_WORDS[line.passed]), cell(line.detail + until))
        console.print(grid)


def _last_asked(story: CustomerStory) -> str:
    asked = next((r for r in story.requests if r.status not in NOT_ASKED), None)
    if asked is None:
        return "Never asked for a referral (no request that counts for the cool-down)."
    return visible(f"Last asked on {when(asked.created_at)} UTC: request {asked.id[:8]}, {asked.status}.")


def _headline(verdict: RulesVerdict) -> str:
    rules = f"rule{'s' if len(verdict.rules) > 1 else ''} {', '.join(verdict.rules)}"
    if verdict.passes:
        return visible(f"A moment of truth now would lead to a referral request ({rules}):")
    blocking = ", ".join(line.guard for line in verdict.lines if line.passed is False)
    return visible(f"A moment of truth now would be blocked by {blocking} ({rules}):")
