"""The layout's rules (docs/architecture.md), checked on every import of the package and the flows.

Imports point inward: the command line reaches flows and services, flows reach services, services
reach the adapters and the domain, and the domain reaches only the configuration's models. No two
modules import each other, however indirectly.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT

#: Which top-level parts of ``referral_automation`` each part may import (itself always).
ALLOWED: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "settings": frozenset({"errors"}),
    "config": frozenset({"errors"}),
    "domain": frozenset({"config", "errors"}),
    "db": frozenset({"domain", "errors"}),
    "email": frozenset({"config", "domain", "errors", "settings"}),
    "services": frozenset({"config", "db", "domain", "email", "errors", "settings"}),
    "pipeline": frozenset({"config", "db", "domain", "email", "errors", "services", "settings"}),
    "web": frozenset({"config", "db", "domain", "errors", "services", "settings"}),
    "flows": frozenset({"config", "db", "domain", "email", "errors", "pipeline", "services", "settings"}),
    "cli": frozenset({"config", "db", "domain", "email", "errors", "pipeline", "services", "settings", "web"}),
}
#: Named exceptions, each with its reason.
EXCEPTIONS = {
    # The demo's in-process runner is a worker without Prefect: it builds its run as the flows do.
    ("referral_automation.services.demo.run", "pipeline"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[0] == "flows":  # installed as referral_automation.flows
        parts = ["referral_automation", *parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    files = [*(ROOT / "referral_automation").rglob("*.py"), *(ROOT / "flows").rglob("*.py")]
    return {module_name(path): path for path in files if "migrations" not in path.parts}


def imported(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The package's modules that ``name`` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found = full if full in known else base
                if found in known and found != name:
                    yield found


def part(module: str) -> str:
    pieces = module.split(".")
    return pieces[1] if len(pieces) > 1 else "__init__"


KNOWN = modules()
GRAPH = {name: set(imported(name, path, KNOWN)) for name, path in KNOWN.items()}


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_inward(module: str) -> None:
    """It imports only the parts its own part may reach (the domain: config models alone)."""
    own = part(module)
    if own not in ALLOWED:
        return  # the package's own __init__ and __main__
    wrong = sorted(
        target
        for target in GRAPH[module]
        if part(target) != own and part(target) not in ALLOWED[own] and (module, part(target)) not in EXCEPTIONS
    )
    assert wrong == [], f"{module} may not import {wrong}"


def test_no_two_modules_import_each_other() -> None:
    """It finds no cycle in the imports, however long (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            if component:
                cycles.append(sorted([node, *component]))

    for node in GRAPH:
        if node not in index:
            visit(node)
    assert cycles == []


def test_only_the_command_line_runs_flows_and_never_by_import() -> None:
    """It keeps Prefect out of every process that does not run a flow: nothing imports the flows
    statically (the command line loads one by name when it runs it)."""
    importers = sorted(
        name
        for name, targets in GRAPH.items()
        if part(name) != "flows" and any(part(target) == "flows" for target in targets)
    )
    assert importers == []
