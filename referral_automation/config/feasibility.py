"""Whether a condition on an event can ever match, given what ``events.yaml`` says its properties hold.

``score gte 11`` on a 0-10 score, ``eq: "high"`` on an integer, ``in: [11, 12]``: valid YAML and
valid models, but no event ingest accepts can ever meet them, so the rule never fires and nobody
notices. ``never_matches`` finds such conditions and says which comparison makes them so.

The verdicts follow ``domain.conditions.compare`` to the letter (tests/config/test_feasibility.py
holds them to it): equality as in JSON (``true`` is not ``1``, ``3.0`` is ``3``), ordering false for
anything but a number, a property that is absent matches only ``exists: false`` and one that is
``null`` matches ``ne`` and ``not_in`` too. It errs on the side of silence: each comparison is judged
on its own (``all`` of two comparisons that contradict each other is not found), and comparisons
on customer fields or on dotted paths inside a property, which ``events.yaml`` does not describe,
are never judged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from referral_automation.config.conditions import Comparison, Condition, fold
from referral_automation.config.models import EventType, PropertySpec
from referral_automation.config.source import Location

#: Small integer ranges are enumerated to see whether ``in`` / ``not_in`` cover every value.
ENUMERABLE = 1000
COMPLEMENT = {"gt": "lte", "gte": "lt", "lt": "gte", "lte": "gt"}


@dataclass(frozen=True, slots=True)
class Domain:
    """The values ingest lets a property have (``low``/``high`` already whole for integers)."""

    kind: str
    low: float | None
    high: float | None
    optional: bool

    @classmethod
    def of(cls, spec: PropertySpec) -> Domain:
        low, high = spec.min, spec.max
        if spec.type == "integer":
            low = None if low is None else math.ceil(low)
            high = None if high is None else math.floor(high)
        return cls(spec.type, low, high, not spec.required)

    def holds(self, value: Any) -> bool:
        """Whether some event may carry exactly ``value`` here (as ``compare``'s equality sees it)."""
        if self.kind == "boolean" or isinstance(value, bool):
            return self.kind == "boolean" and isinstance(value, bool)
        if self.kind == "string":
            return isinstance(value, str)
        if not isinstance(value, int | float) or not math.isfinite(value):
            return False
        if self.kind == "integer" and value != int(value):
            return False
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def members(self) -> list[Any] | None:
        """Every value, when there are few enough to list (else None)."""
        if self.kind == "boolean":
            return [False, True]
        low, high = self.low, self.high
        if self.kind == "integer" and low is not None and high is not None and high - low < ENUMERABLE:
            return list(range(int(low), int(high) + 1))
        return None

    def only(self, values: Sequence[Any]) -> bool:
        """Whether every value of the domain is one of ``values``."""
        members = self.members()
        return members is not None and all(any(_same(m, v) for v in values) for m in members)

    def ordered(self, op: str, bound: float) -> bool:
        """Whether some value ``v`` of this numeric domain has ``v op bound`` (values are finite)."""
        if op in ("gt", "gte"):
            if bound == math.inf or self.high is None:
                return bound != math.inf
            return self.high > bound if op == "gt" else self.high >= bound
        if bound == -math.inf or self.low is None:
            return bound != -math.inf
        return self.low < bound if op == "lt" else self.low <= bound

    def describe(self) -> str:
        kind = {"integer": "an integer", "number": "a number", "string": "text", "boolean": "true or false"}[self.kind]
        if self.kind in ("integer", "number"):
            if self.low is not None and self.high is not None:
                kind += f" from {_number(self.low)} to {_number(self.high)}"
            elif self.low is not None:
                kind += f" of at least {_number(self.low)}"
            elif self.high is not None:
                kind += f" of at most {_number(self.high)}"
        return kind + (" (or absent)" if self.optional else "")


def _same(value: Any, operand: Any) -> bool:
    return isinstance(value, bool) == isinstance(operand, bool) and bool(value == operand)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a condition can be true, and false, for some event; with the comparisons that say why not."""

    can_true: bool
    can_false: bool
    never_true: tuple[tuple[Location, str], ...] = ()
    never_false: tuple[tuple[Location, str], ...] = ()


UNJUDGED = Verdict(True, True)


def leaf_verdict(comparison: Comparison, domain: Domain) -> tuple[bool, bool]:
    """(can be true, can be false) of one comparison over ``domain``, as ``compare`` decides it."""
    op = comparison.operator()
    x = comparison.operand(op)
    optional = domain.optional
    if op == "exists":
        return (True, optional) if x else (optional, True)
    if op in ("eq", "ne"):
        held, others = domain.holds(x), not domain.only([x])
        eq = (held, others or optional)
        return (others or optional, held or optional) if op == "ne" else eq
    if op in ("in", "not_in"):
        held, others = any(domain.holds(item) for item in x), not domain.only(x)
        return (others or optional, held or optional) if op == "not_in" else (held, others or optional)
    if domain.kind not in ("integer", "number") or math.isnan(x):  # never ordered: not a number
        return False, True
    return domain.ordered(op, x), optional or domain.ordered(COMPLEMENT[op], x)


def judge(condition: Condition, event: str, spec: EventType, loc: Location = ()) -> Verdict:
    """The condition's verdict over the events of type ``event`` that ingest accepts."""

    def leaf(comparison: Comparison, where: Location) -> Verdict:
        name = comparison.property
        if name is None or name not in spec.properties:  # a customer field, or a dotted path
            return UNJUDGED
        domain = Domain.of(spec.properties[name])
        can_true, can_false = leaf_verdict(comparison, domain)
        op = comparison.operator()
        written = f"'{name} {op} {_shown(comparison.operand(op))}'"
        fact = f"{event}'s {name} is {domain.describe()} (events.yaml)"
        at = (*where, op)
        return Verdict(
            can_true,
            can_false,
            () if can_true else ((at, f"{written} is never true: {fact}"),),
            () if can_false else ((at, f"{written} is always true: {fact}"),),
        )

    return fold(condition, leaf=leaf, all_of=_all_of, any_of=_any_of, not_of=_not_of, loc=loc)


def _shown(operand: Any) -> str:
    if isinstance(operand, bool):
        return "true" if operand else "false"
    if isinstance(operand, list):
        return "[" + ", ".join(_shown(item) for item in operand) + "]"
    return repr(operand) if isinstance(operand, str) else _number(operand) if math.isfinite(operand) else str(operand)


def _all_of(parts: Sequence[Verdict]) -> Verdict:
    return Verdict(
        all(p.can_true for p in parts),
        any(p.can_false for p in parts),
        tuple(r for p in parts if not p.can_true for r in p.never_true),
        tuple(r for p in parts for r in p.never_false) if not any(p.can_false for p in parts) else (),
    )


def _any_of(parts: Sequence[Verdict]) -> Verdict:
    return Verdict(
        any(p.can_true for p in parts),
        all(p.can_false for p in parts),
        tuple(r for p in parts for r in p.never_true) if not any(p.can_true for p in parts) else (),
        tuple(r for p in parts if not p.can_false for r in p.never_false),
    )


def _not_of(inner: Verdict) -> Verdict:
    return Verdict(inner.can_false, inner.can_true, inner.never_false, inner.never_true)


def never_matches(
    condition: Condition | None, event: str, spec: EventType | None, loc: Location = ()
) -> list[tuple[Location, str]]:
    """Why no event of type ``event`` can ever meet ``condition`` (empty: some event may)."""
    if condition is None or spec is None:
        return []
    verdict = judge(condition, event, spec, loc)
    return [] if verdict.can_true else list(verdict.never_true)
