"""``responses record reply|referral|conversion|suppression``: what customers did, from the back office.

The same services as the web app's endpoints, so a file of sign-ups imported here counts exactly
as the API's would. ``referral``, ``conversion`` and ``suppression`` take either options for one
record or ``--file`` with one JSON object a line (the API's body: ``{"code", "email", "name"}``,
``{"code" | "referee_email", "value", "currency"}``, ``{"email", "reason"}``); a bad line is
reported as ``FILE:LINE: reason``, the others are recorded, and the exit code is 1 if any was bad.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from referral_automation.cli.app import app
from referral_automation.cli.common import (
    ConfigDirOption,
    DatabaseUrlOption,
    JsonOption,
    NowOption,
    console,
    err_console,
    open_database,
    parse_now,
    print_json,
    settings_for,
    user_errors,
)
from referral_automation.errors import Problem, ReferralAutomationError

responses_app = typer.Typer(help="What customers did: replies, referrals, conversions, suppressions.")
record_app = typer.Typer(help="Record responses by hand or from a file (back-office imports).", no_args_is_help=True)
responses_app.add_typer(record_app, name="record")
app.add_typer(responses_app, name="responses")

SOURCE = "cli"
FileOption = Annotated[
    Path | None, typer.Option("--file", help="One JSON object a line, as the API's body, instead of the options.")
]


class SuppressionReason(StrEnum):
    unsubscribed = "unsubscribed"
    bounced = "bounced"
    spam_reported = "spam_reported"


def _reasons(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors())


def _lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, object or None, problem or None) for each non-blank line of ``path``, streamed."""
    try:
        handle = path.open(encoding="utf-8", errors="strict")
    except OSError as error:
        raise ReferralAutomationError(f"{path}: cannot read the file: {error.strerror or error}") from error
    with handle:
        number = 0
        while True:
            number += 1
            try:
                line = handle.readline()
            except UnicodeDecodeError:
                yield number, None, "not UTF-8 text"
                return  # the decoder cannot find the next line again
            if not line:
                return
            if line.strip():
                yield number, *_object(line)


def _object(line: str) -> tuple[dict[str, Any] | None, str | None]:
    try:
        document = json.loads(line)
    except (ValueError, RecursionError) as error:
        return None, f"not JSON: {error}"
    return (document, None) if isinstance(document, dict) else (None, "expected a JSON object")


def _record_each(
    path: Path | None, single: dict[str, Any], record: Callable[[dict[str, Any]], dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """``record`` the options' one object, or every line of ``path``; (results, problems)."""
    items = _lines(path) if path else iter([(None, single, None)])
    results: list[dict[str, Any]] = []
    problems: list[Problem] = []
    for number, document, problem in items:
        where = str(path) if path else "options"
        if problem is None and document is not None:
            try:
                results.append(record(document))
                continue
            except ValidationError as error:
                problem = _reasons(error)
            except ReferralAutomationError as error:
                problem = str(error)
        problems.append(Problem(where, number, problem or "unreadable"))
    return results, problems


def _finish(
    results: list[dict[str, Any]], problems: list[Problem], as_json: bool, line: Callable[[dict[str, Any]], str]
) -> None:
    for problem in problems:
        err_console.print(str(problem), markup=False)
    if as_json:
        print_json({"recorded": results, "rejected": [str(p) for p in problems]})
    else:
        for result in results:
            console.print(line(result), markup=False)
    if problems:
        raise typer.Exit(1)


@record_app.command("referral")
def record_referral(
    code: Annotated[str | None, typer.Option("--code", help="The advocate's referral code.")] = None,
    email: Annotated[str | None, typer.Option("--email", help="The referee's address.")] = None,
    name: Annotated[str, typer.Option("--name", help="The referee's name.")] = "",
    file: FileOption = None,
    as_json: JsonOption = False,
    now: NowOption = None,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """A referee signed up with a code (held for review when it looks wrong)."""
    from referral_automation.services.referrals.inputs import SignupIn
    from referral_automation.services.referrals.signups import record_signup

    at = parse_now(now)
    settings = settings_for(database_url, config_dir)
    with user_errors(), open_database(settings) as sessions:
        results, problems = _record_each(
            file,
            {"code": code, "email": email, "name": name},
            lambda doc: record_signup(sessions, SignupIn.model_validate(doc), now=at, source=SOURCE).as_json(),
        )
    _finish(results, problems, as_json, _signup_line)


def _signup_line(result: dict[str, Any]) -> str:
    line = f"referral {result['referral_id']} {result['status']} (code of {result['advocate_customer_id']})"
    return line + "".join(f"; {reason}" for reason in result["review_reasons"])


@record_app.command("conversion")
def record_conversion_command(
    code: Annotated[str | None, typer.Option("--code", help="The referral code the referee used.")] = None,
    referee_email: Annotated[str | None, typer.Option("--referee-email", help="The referee's address.")] = None,
    value: Annotated[str | None, typer.Option("--value", help="What the referee's purchase was worth.")] = None,
    currency: Annotated[str | None, typer.Option("--currency", help="ISO 4217 (default: the setting).")] = None,
    customer_id: Annotated[str | None, typer.Option("--customer-id", help="Their id as a customer.")] = None,
    file: FileOption = None,
    as_json: JsonOption = False,
    now: NowOption = None,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """A referee became a customer: rewards for both sides, and the referee added as a customer."""
    from referral_automation.config import load_config
    from referral_automation.services.referrals.conversions import LedgerPolicy, record_conversion
    from referral_automation.services.referrals.inputs import ConversionIn

    at = parse_now(now)
    settings = settings_for(database_url, config_dir)
    policy = LedgerPolicy(settings.refund_window_days, settings.default_currency)
    single = {"code": code, "referee_email": referee_email, "value": value, "currency": currency}
    single["customer_id"] = customer_id
    with user_errors(), open_database(settings) as sessions:
        config = load_config(settings.config_dir)
        results, problems = _record_each(
            file,
            {key: item for key, item in single.items() if item is not None},
            lambda doc: record_conversion(
                sessions, ConversionIn.model_validate(doc), config=config, now=at, policy=policy
            ).as_json(),
        )
    _finish(results, problems, as_json, _conversion_line)


def _conversion_line(result: dict[str, Any]) -> str:
    verb = "converted" if result["created"] else "already converted"
    rewards = ", ".join(f"{r['side']} {r['kind']} {Decimal(r['value']):,}" for r in result["rewards"]) or "no rewards"
    return f"referral {result['referral_id']} {verb}: {result['value']} {result['currency']}; {rewards}"


@record_app.command("suppression")
def record_suppression(
    email: Annotated[str | None, typer.Option("--email", help="The address never to email again.")] = None,
    reason: Annotated[SuppressionReason, typer.Option("--reason", help="Why.")] = SuppressionReason.unsubscribed,
    file: FileOption = None,
    as_json: JsonOption = False,
    now: NowOption = None,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """An address must not be emailed again (unsubscribed by phone, bounced elsewhere, a complaint)."""
    from referral_automation.domain.addresses import parse_mailbox
    from referral_automation.domain.responses import ResponseKind
    from referral_automation.services.responses.unsubscribe import suppress

    at = parse_now(now)
    settings = settings_for(database_url, config_dir)

    def record(document: dict[str, Any]) -> dict[str, Any]:
        try:
            address = parse_mailbox(str(document.get("email") or "")).addr_spec
            kind = ResponseKind(SuppressionReason(document.get("reason") or "unsubscribed").value)
        except ValueError as error:
            raise ReferralAutomationError(f"email or reason: {error}") from error
        added = suppress(sessions, address, reason=kind, source=SOURCE, now=at)
        return {"email": address, "reason": kind.value, "added": added}

    with user_errors(), open_database(settings) as sessions:
        results, problems = _record_each(file, {"email": email, "reason": reason.value}, record)
    _finish(results, problems, as_json, lambda r: f"{r['email']}: {'added' if r['added'] else 'already suppressed'}")


@record_app.command("reply")
def record_reply(
    text: Annotated[str, typer.Option("--text", help="What the customer wrote.")],
    request_id: Annotated[str | None, typer.Option("--request", help="The request it answers.")] = None,
    sender: Annotated[str | None, typer.Option("--from", help="Who wrote (finds their latest request).")] = None,
    subject: Annotated[str, typer.Option("--subject", help="The reply's subject.")] = "",
    as_json: JsonOption = False,
    now: NowOption = None,
    database_url: DatabaseUrlOption = None,
    config_dir: ConfigDirOption = None,
) -> None:
    """A customer's reply (a first word "OK" is replied_ok); it stops the request's follow-ups."""
    from referral_automation.services.links.keys import signing_key
    from referral_automation.services.links.signer import LinkSigner
    from referral_automation.services.responses.inbound import InboundMail, record_inbound

    if request_id is None and sender is None:
        raise typer.BadParameter("give --request ID or --from ADDRESS", param_hint="--request/--from")
    at = parse_now(now)
    settings = settings_for(database_url, config_dir)
    # The operator vouches for the sender: it is matched as an authenticated one would be.
    mail = InboundMail(sender=sender or "", recipients=(), subject=subject, text=text, html=None, authenticated=True)
    with user_errors(), open_database(settings) as sessions:
        signer = LinkSigner(signing_key(sessions, settings.secret_key))
        result = record_inbound(sessions, mail, signer=signer, now=at, request_id=request_id).as_json()
    if as_json:
        print_json(result)
    else:
        request = result["referral_request_id"] or "no request (kept for a person)"
        console.print(f"{result['kind']} recorded on {request}", markup=False)
