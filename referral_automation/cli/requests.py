"""``requests list`` and ``requests show``: what was asked of whom, its status and its whole story.

Tables fit an 80-column terminal; every value from the database is printed ``visible``
(``cli.terminal``), since customer ids and event ids come from customers' files and webhooks.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from referral_automation.cli.app import app
from referral_automation.cli.common import (
    DEFAULT_LIMIT,
    ConfigDirOption,
    DatabaseUrlOption,
    JsonOption,
    LimitOption,
    console,
    one_more,
    open_database,
    page,
    print_json,
    settings_for,
    when,
)
from referral_automation.cli.tables import audit_table, facts, listing
from referral_automation.cli.terminal import cell, lines, visible
from referral_automation.domain.statuses import RequestStatus
from referral_automation.services.inspection.requests import RequestSummary, list_requests
from referral_automation.services.inspection.story import RequestStory, request_story

requests_app = typer.Typer(help="Referral requests: list them, or show one's whole story.", no_args_is_help=True)
app.add_typer(requests_app, name="requests")

IdArgument = Annotated[str, typer.Argument(metavar="ID", help="The request id, or its first 8 characters or more.")]


@requests_app.command("list")
def list_command(
    status: Annotated[RequestStatus | None, typer.Option("--status", help="Only requests in this status.")] = None,
    customer: Annotated[str | None, typer.Option("--customer", help="Only this customer's requests.")] = None,
    limit: LimitOption = DEFAULT_LIMIT,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """List referral requests, newest first."""
    settings = settings_for(database_url, config_dir)
    with open_database(settings) as sessions:
        views = list_requests(
            sessions,
            status=None if status is None else status.value,
            customer_id=customer,
            limit=one_more(limit),
        )
    shown = page(views, limit, "requests")
    if as_json:
        print_json([view.as_json() for view in shown])
    elif not shown:
        console.print("no referral requests")
    else:
        console.print(requests_table(shown))


def requests_table(views: list[RequestSummary]) -> Table:
    """A line a request, with its last decision (or why it waits for one) under its status."""
    table = listing(f"Referral requests ({len(views)}, newest first; times in UTC)")
    table.add_column("id", no_wrap=True)
    # Customer ids stay whole up to 32 characters; the decision's words wrap around them.
    longest = max((len(visible(view.customer_id)) for view in views), default=8)
    table.add_column("customer", overflow="fold", min_width=min(longest, 32))
    table.add_column("status / decision", overflow="fold", min_width=16)
    table.add_column("sent / due", no_wrap=True)
    table.add_column("f-u", justify="right")
    for view in views:
        decision = decision_text(view)
        table.add_row(
            cell(view.id[:8]),
            cell(view.customer_id),
            lines(view.status, decision) if decision else cell(view.status),
            cell(when(view.sent_at or _due(view))),
            cell(view.followups_sent),
        )
    return table


def _due(view: RequestSummary) -> datetime | None:
    """When a request that was not sent is due (nothing for those that never will be)."""
    return view.scheduled_for if view.status in (RequestStatus.SCHEDULED, RequestStatus.APPROVED) else None


def decision_text(view: RequestSummary) -> str:
    """The last decision ("approved by Maria at …: note"), or why the request waits for one."""
    if view.last_decision is not None:
        return view.last_decision.summary()
    if view.status == RequestStatus.PENDING_APPROVAL:
        return f"waiting for approval: {view.approval_reason}"
    return ""


@requests_app.command("show")
def show_command(
    request_id: IdArgument,
    as_json: JsonOption = False,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """Show one request: its customer, moment, arm, approvals, messages, responses, follow-ups and audit."""
    settings = settings_for(database_url, config_dir)
    with open_database(settings) as sessions:
        story = request_story(sessions, request_id)
    if as_json:
        print_json(story.as_json())
        return
    print_story(story)


def print_story(story: RequestStory) -> None:
    console.print(f"Referral request {visible(story.request.id)}", markup=False, style="bold")
    console.print(facts(_summary_rows(story)))
    console.print("Messages (UTC)", style="bold")
    console.print(_messages(story))
    if story.responses:
        responses = listing("Responses (UTC)")
        for name in ("at", "kind", "source"):
            responses.add_column(name, no_wrap=name == "at", overflow="fold")
        for response in story.responses:
            responses.add_row(cell(when(response.occurred_at)), cell(response.kind), cell(response.source))
        console.print(responses)
    else:
        console.print("No responses yet.")
    console.print(audit_table(story.audit, title="Audit (UTC)", subject=False))


def _summary_rows(story: RequestStory) -> list[tuple[str, str]]:
    request, customer = story.request, story.customer
    who = ", ".join(part for part in (customer.name, customer.company) if part)
    consent = "opted in" if customer.marketing_opt_in else "not opted in"
    consent += f"; suppressed: {customer.suppression}" if customer.suppression else "; not suppressed"
    rows = [
        ("status", request.status + (f" (last error: {story.last_error})" if story.last_error else "")),
        ("customer", f"{customer.customer_id}" + (f" ({who})" if who else "") + f" <{customer.email}>"),
        ("", f"plan {customer.plan or '-'}, lifetime value {customer.lifetime_value:,.2f}, "
             f"{customer.timezone}, {customer.locale}; {consent}"),
        ("moment", story.moment.words() if story.moment else "(not recorded)"),
        ("campaign", f"{request.campaign}, arm {request.variant} / {request.incentive}"),
        ("code", request.code),
        ("created", f"{when(request.created_at)} UTC"),
        ("scheduled", f"{when(request.scheduled_for)} UTC"),
        ("sent", f"{when(request.sent_at)} UTC" if request.sent_at else "not yet"),
        ("follow-ups", _follow_ups(story)),
    ]  # fmt: skip
    if request.approval_required:
        rows.append(("approval", f"needed: {request.approval_reason}"))
        rows += [("", decision.summary()) for decision in request.decisions]
        if not request.decisions and request.approval_expires_at is not None:
            rows.append(("", f"waiting; expires {when(request.approval_expires_at)} UTC"))
    return rows


def _follow_ups(story: RequestStory) -> str:
    sent = f"{story.request.followups_sent} sent"
    if story.next_followup_at is not None:
        return f"{sent}; next due {when(story.next_followup_at)} UTC"
    return f"{sent}; none to come"


def _messages(story: RequestStory) -> Table | str:
    """Each message in a few lines, its provider id on a line of its own (never folded: it is copied)."""
    if not story.messages:
        return "No messages yet."
    rows: list[tuple[str, str]] = []
    for message in story.messages:
        sent = f" at {when(message.sent_at)} UTC" if message.sent_at else ""
        rows.append((f"step {message.step}", f"{message.status}{sent} via {message.provider}"))
        rows.append(("", f"id {message.provider_message_id or '(none yet)'}"))
        rows.append(("", f"subject {message.subject}"))
        if message.error:
            rows.append(("", f"error {message.error}"))
    return facts(rows)
