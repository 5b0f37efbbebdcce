"""What the demo's tests compare: its start time and the rows of its summary."""

from __future__ import annotations

NOW = "2026-03-03T08:00:00Z"  # a Tuesday morning in Europe


def counts(output: str) -> list[str]:
    """The summary's table rows, without file paths (which differ between workspaces)."""
    return [line for line in output.splitlines() if line.startswith("│") and "/" not in line.split("│")[1]]
