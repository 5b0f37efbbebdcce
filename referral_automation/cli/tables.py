"""Tables in the house style, shared by the commands that list and show things.

Every table fits an 80-column terminal: no side borders, a rule under the header, long values
folding inside their own column. Cells are ``Text`` made ``visible`` (``cli.terminal``).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.table import Table

from referral_automation.cli.common import when
from referral_automation.cli.terminal import cell, lines
from referral_automation.services.inspection.story import AuditView


def listing(title: str) -> Table:
    """A table in the house style: a rule under the header, no side borders (room for the values)."""
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))


def facts(rows: list[tuple[str, str]]) -> Table:
    """Label and value, one pair a line; long values fold under their value, never under the label."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column(overflow="fold")
    for label, value in rows:
        grid.add_row(label, cell(value))
    return grid


def audit_table(entries: Sequence[AuditView], *, title: str, subject: bool = True) -> Table | str:
    """Audit lines: when, then who did what (to which subject), with the details on the line below."""
    if not entries:
        return "No audit entries."
    table = listing(title)
    table.add_column("at", no_wrap=True)
    table.add_column("who: what" + (" (about)" if subject else ""), overflow="fold")
    for entry in entries:
        what = f"{entry.actor}: {entry.action}" + (f" ({entry.subject_type} {entry.subject_id})" if subject else "")
        details = "; ".join(f"{key}: {value}" for key, value in entry.details.items())
        table.add_row(cell(when(entry.at)), lines(what, details) if details else cell(what))
    return table
