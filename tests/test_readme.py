"""The README's examples for marketers work as printed, from the repository's root."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from referral_automation.cli import app
from tests.support import ROOT

EXAMPLES = [
    line.split("  #")[0].strip()
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    if line.startswith(("referral-automation preview", "referral-automation validate"))
]


def test_the_readme_has_examples() -> None:
    """It finds the preview and validate examples (so the test below cannot pass on nothing)."""
    assert sum(example.startswith("referral-automation preview") for example in EXAMPLES) >= 2


@pytest.mark.parametrize("example", EXAMPLES)
def test_an_example_runs_from_the_root(example: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """It runs the example as written from the repository's root (its --out moved to a temporary folder)."""
    monkeypatch.chdir(ROOT)
    for name in ("REFERRAL_DATABASE_URL", "REFERRAL_CONFIG_DIR", "REFERRAL_TEMPLATES_DIR"):
        monkeypatch.delenv(name, raising=False)
    args = shlex.split(example)[1:]
    if "--out" in args:
        args[args.index("--out") + 1] = str(tmp_path / args[args.index("--out") + 1])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
