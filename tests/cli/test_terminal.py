"""Hostile text never drives the terminal: every value printed is shown as what it is."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from referral_automation.cli import app
from referral_automation.cli.terminal import visible
from tests.support import ROOT
from tests.support.factories import NOW, add_customer, add_decision, add_request

#: Set the window title, clear the screen; a right-to-left override; Rich markup look-alikes.
HOSTILE = "c\x1b]0;t\x07\x1b[2J\u202e[/][b]"
SHOWN = "c\\x1b]0;t\\x07\\x1b[2J\\u202e[/][b]"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain Zoë 東京", "plain Zoë 東京"),
        ("line\nbreak\rreturn\ttab", "line\\x0abreak\\x0dreturn\\x09tab"),
        ("\x00\x7f\x9b", "\\x00\\x7f\\x9b"),
        ("a\u200bb\u2066c\u2069\ufeff", "a\\u200bb\\u2066c\\u2069\\ufeff"),
        (HOSTILE, SHOWN),
        ("\x1b]0;pwned\x07\x1b[2J\x1b[H\u202eevil", "\\x1b]0;pwned\\x07\\x1b[2J\\x1b[H\\u202eevil"),
    ],
    ids=["printable", "line controls", "nul del csi", "invisible and isolates", "the test's id", "escape sequences"],
)
def test_visible_escapes_what_could_drive_a_terminal(text: str, shown: str) -> None:
    """It shows control, bidirectional and invisible characters as escapes and keeps every printable one."""
    assert visible(text) == shown


@pytest.fixture
def hostile_request(db_url: str, factory: sessionmaker[Session]) -> str:
    add_customer(factory, HOSTILE, first_name="\x1b[31mRed", company="Evil\x1b[0m Corp")
    request_id = add_request(factory, HOSTILE, created_at=NOW - timedelta(hours=1))
    add_decision(factory, request_id, "rejected", by="\x1b[1mMallory", at=NOW, note="\x07bell")
    return request_id


NOW_OPTION = ["--now", NOW.isoformat()]
COMMANDS = [
    ["requests", "list"],
    ["requests", "show", "{request}"],
    ["customers", "show", HOSTILE, "--why", "--config-dir", str(ROOT / "config"), *NOW_OPTION],
    ["approvals", "list", "--config-dir", str(ROOT / "config"), *NOW_OPTION],
    ["audit", "list", *NOW_OPTION],
]


def strings(document: object) -> list[str]:
    """Every string value in a JSON document."""
    if isinstance(document, dict):
        return [text for value in document.values() for text in strings(value)]
    if isinstance(document, list):
        return [text for value in document for text in strings(value)]
    return [document] if isinstance(document, str) else []


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(args[:2]) for args in COMMANDS])
def test_a_hostile_customer_id_is_printed_escaped(db_url: str, hostile_request: str, args: list[str]) -> None:
    """It prints a customer id carrying ESC sequences and a right-to-left override as visible escapes,
    and its Rich-markup look-alikes as text, in tables and in --json alike."""
    args = [arg.format(request=hostile_request[:8]) for arg in args]
    table = CliRunner().invoke(app, [*args, "--database-url", db_url])
    document = CliRunner().invoke(app, [*args, "--database-url", db_url, "--json"])

    for result in (table, document):
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output
        assert "\x07" not in result.output
        assert "\u202e" not in result.output
    if args[0] != "audit":
        assert SHOWN in table.stdout
        assert HOSTILE in strings(json.loads(document.stdout))
