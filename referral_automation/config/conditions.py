"""Trigger-rule conditions as data (never ``eval`` of strings), and the one walk of their tree.

A condition is a comparison (one field, one operator) or ``all:`` / ``any:`` / ``not:`` of
conditions. ``fold`` is the only code that knows that shape: compiling a condition for
detection, finding the comparisons a cross-file check looks at, and asking whether a rule looks
at the customer all go through it, so a new combinator is added in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any, TypeVar

from pydantic import ConfigDict, Discriminator, Field, Tag, model_validator

from referral_automation.config.base import CUSTOMER_FIELDS, Scalar, Strict
from referral_automation.config.source import Location

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "not_in", "exists")


class Comparison(Strict):
    """A leaf condition: one field (of the event's ``property`` or the ``customer``), one operator."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)

    property: str | None = None
    customer: str | None = None
    eq: Scalar | None = None
    ne: Scalar | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    in_: list[Scalar] | None = Field(None, alias="in")
    not_in: list[Scalar] | None = None
    exists: bool | None = None

    @model_validator(mode="after")
    def _one_field_one_operator(self) -> Comparison:
        if (self.property is None) == (self.customer is None):
            raise ValueError("name exactly one of 'property' (of the event) or 'customer'")
        if self.customer is not None and self.customer not in CUSTOMER_FIELDS:
            known = ", ".join(sorted(CUSTOMER_FIELDS))
            raise ValueError(f"unknown customer field {self.customer!r} (known: {known})")
        given = [op for op in OPERATORS if self.operand(op) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one operator of {', '.join(OPERATORS)}; got {given or 'none'}")
        return self

    def operand(self, op: str) -> Any:
        return getattr(self, "in_" if op == "in" else op)

    def operator(self) -> str:
        """The one operator this comparison uses (a method: ``property`` is a field here)."""
        return next(op for op in OPERATORS if self.operand(op) is not None)


class AllOf(Strict):
    all: list[Condition] = Field(min_length=1)


class AnyOf(Strict):
    any: list[Condition] = Field(min_length=1)


class NotOf(Strict):
    not_: Condition = Field(alias="not")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


#: Union tags (pydantic puts them in error locations; they are not YAML keys).
CONDITION_TAGS = {"all": "all-of", "any": "any-of", "not": "not-of"}
UNION_TAGS = frozenset({*CONDITION_TAGS.values(), "comparison"})


def _condition_kind(value: Any) -> str:
    """Pick the condition model from its key, so errors speak of that model alone."""
    if isinstance(value, dict):
        for key, tag in CONDITION_TAGS.items():
            if key in value:
                return tag
    elif isinstance(value, AllOf):
        return "all-of"
    elif isinstance(value, AnyOf):
        return "any-of"
    elif isinstance(value, NotOf):
        return "not-of"
    return "comparison"


Condition = Annotated[
    Annotated[AllOf, Tag("all-of")]
    | Annotated[AnyOf, Tag("any-of")]
    | Annotated[NotOf, Tag("not-of")]
    | Annotated[Comparison, Tag("comparison")],
    Discriminator(_condition_kind),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()
NotOf.model_rebuild()

T = TypeVar("T")


def fold(
    condition: Condition,
    *,
    leaf: Callable[[Comparison, Location], T],
    all_of: Callable[[Sequence[T]], T],
    any_of: Callable[[Sequence[T]], T],
    not_of: Callable[[T], T],
    loc: Location = (),
) -> T:
    """The condition tree folded bottom-up: each comparison through ``leaf`` (with its location,
    as YAML keys and indexes), each combinator through its function of its children's results."""

    def walk(node: Condition, where: Location) -> T:
        if isinstance(node, AllOf):
            return all_of([walk(child, (*where, "all", i)) for i, child in enumerate(node.all)])
        if isinstance(node, AnyOf):
            return any_of([walk(child, (*where, "any", i)) for i, child in enumerate(node.any)])
        if isinstance(node, NotOf):
            return not_of(walk(node.not_, (*where, "not")))
        return leaf(node, where)

    return walk(condition, loc)


def comparisons(condition: Condition | None, loc: Location = ()) -> Iterator[tuple[Comparison, Location]]:
    """Every comparison of ``condition`` with its location, in the order they are written."""
    if condition is None:
        return iter(())
    found: list[tuple[Comparison, Location]] = fold(
        condition,
        leaf=lambda comparison, where: [(comparison, where)],
        all_of=_concatenated,
        any_of=_concatenated,
        not_of=lambda inner: inner,
        loc=loc,
    )
    return iter(found)


def _concatenated(parts: Sequence[list[tuple[Comparison, Location]]]) -> list[tuple[Comparison, Location]]:
    return [item for part in parts for item in part]


def names_customer(condition: Condition | None) -> bool:
    """Whether a condition looks at the customer (not only at the event's properties)."""
    return any(comparison.customer is not None for comparison, _ in comparisons(condition))
