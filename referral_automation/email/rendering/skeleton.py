"""Render an email part once per group of customers, then fill in each customer's words.

Most of an email is the same for every customer of one (campaign, variant, incentive, locale,
step): the layout, the copy, the incentive. Rendering all of it again for each of 100,000
customers cost more than everything else a send does, so a part (subject, HTML or text) is
rendered once with *slots* in place of the customer's values, giving a *skeleton*: the output
as literal text with numbered markers where a slot was printed. Each email then only joins the
literals with its own values, escaped as the template would have escaped them.

Why this is exact, not an approximation:

- the skeleton's key holds, by value, everything that is not a slot, and each slot's truth
  value; templates are deterministic (a sandbox, pure globals only), so an email with the same
  key takes the same path through the template;
- a slot allows only two things: being tested for truth (``{% if customer.company %}``,
  ``first_name or "there"``) and being printed. Anything else (comparing, slicing, ``~``,
  attribute access, a test such as ``is string``, a call, a filter that is not known to be a
  pure function of its text) raises ``Unknowable``, and the part is rendered the ordinary way;
- pure text filters (``ucfirst``, ``nl2br``, ``upper``…) applied to a slot are remembered and
  applied to the customer's value when the email is filled in;
- a template whose printed output could be captured and worked on as a value (``{% set %}``
  blocks, macros, ``{% filter %}``, ``super()``, ``self``, includes, imports) is never
  rendered as a skeleton: a marker inside a captured string could be transformed unseen.

So a template a marketer writes in some way this module does not follow is rendered as before,
only slower; the output never differs (tests compare both ways on hostile data).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from itertools import count
from operator import attrgetter
from typing import Any, NoReturn

from jinja2 import nodes, pass_eval_context
from jinja2.environment import TemplateModule
from jinja2.nodes import EvalContext
from markupsafe import Markup, escape

from referral_automation.email.rendering.context import (
    CampaignView,
    CustomerView,
    IncentiveView,
    IntroductionView,
    MomentView,
    PersonView,
    ReferralView,
    RewardView,
)


class Unknowable(Exception):  # noqa: N818 - not an error: "no skeleton for this part"
    """A template did something with a slot whose result depends on the customer's value."""


def _refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
    raise Unknowable


class Slot:
    """A customer's value while a skeleton renders: its truth is known, nothing else is."""

    __slots__ = ("filters", "index", "truth")

    def __init__(self, index: int, truth: bool | None, filters: tuple[Any, ...] = ()) -> None:
        self.index = index
        self.truth = truth  # None: a filtered value, whose truth is not part of the key
        self.filters = filters

    def __bool__(self) -> bool:
        if self.truth is None:
            raise Unknowable
        return self.truth


# Every other operation a template could apply to a value refuses (comparisons, arithmetic,
# conversions, containers, formatting, hashing); assigning dunders after the class is built
# updates its type slots.
_REFUSED = (
    "__str__",
    "__repr__",
    "__format__",
    "__bytes__",
    "__hash__",
    "__eq__",
    "__ne__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__len__",
    "__iter__",
    "__reversed__",
    "__contains__",
    "__getitem__",
    "__setitem__",
    "__call__",
    "__int__",
    "__float__",
    "__index__",
    "__round__",
    "__abs__",
    "__neg__",
    "__pos__",
    "__invert__",
    "__add__",
    "__radd__",
    "__sub__",
    "__rsub__",
    "__mul__",
    "__rmul__",
    "__truediv__",
    "__rtruediv__",
    "__floordiv__",
    "__rfloordiv__",
    "__mod__",
    "__rmod__",
    "__pow__",
    "__rpow__",
    "__and__",
    "__rand__",
    "__or__",
    "__ror__",
    "__xor__",
    "__rxor__",
    "__lshift__",
    "__rshift__",
    "__getattr__",
)
for _name in _REFUSED:
    setattr(Slot, _name, _refuse)


class SlotModule:
    """A ``_context/`` file rendered for this customer: its ``{% set %}`` names are slots."""

    def __init__(self, names: dict[str, Any]) -> None:
        self.__dict__.update(names)


#: Views told per customer: every field is a slot, except those named here (keyed by value).
PERSONAL_VIEWS: dict[type, frozenset[str]] = {
    CustomerView: frozenset(),
    MomentView: frozenset({"rule", "kind"}),
    ReferralView: frozenset(),
    IntroductionView: frozenset(),
}
#: Views of the campaign and its incentive: the same for a whole group, keyed by value.
SHARED_VIEWS = (IncentiveView, RewardView, CampaignView, PersonView)
#: Top-level values told per request (the rest, ``variant``, ``step``…, are keyed by value).
PERSONAL_NAMES = frozenset({"request_id", "unsubscribe_link", "first_subject", "first_sent_at"})
#: Filters that are pure functions of their text: applied to the customer's value when filling in.
TEXT_FILTERS = frozenset({"ucfirst", "nl2br", "upper", "lower", "title", "capitalize", "trim", "e", "escape"})
#: Names whose use lets printed output be captured or reread (see the module docstring).
_CAPTURING_NAMES = frozenset({"super", "self", "caller", "varargs", "kwargs", "loop", "lipsum"})
_CAPTURING_NODES = (
    nodes.Macro,
    nodes.CallBlock,
    nodes.FilterBlock,
    nodes.AssignBlock,
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
    nodes.EvalContextModifier,
)
_SCALARS = (str, int, bool)
_REPRESENTED = (float, Decimal, datetime, date)
_MARKER = re.compile("\ue000(\\d+)\ue001")


@dataclass(slots=True)
class Plan:
    """One email's variables split for skeletons: the key, the slot values, and how to build slots."""

    key: tuple[Any, ...]
    values: list[Any]
    #: Rebuilds the variables with slots in place of the values (only when a skeleton is missing).
    build: Callable[[], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Skeleton:
    """A part rendered with slots: literals between markers, and what each marker prints."""

    literals: tuple[str, ...]
    #: For each marker: (slot index, filters to apply, whether the template escaped it).
    prints: tuple[tuple[int, tuple[Any, ...], bool], ...]

    def fill(self, values: Sequence[Any]) -> str:
        """The part for one customer: what rendering the template with ``values`` gives."""
        return "".join(self.pieces(values))

    def pieces(self, values: Sequence[Any]) -> list[str]:
        """The literals with what each marker prints for ``values`` between them (``fill`` joins them)."""
        literals = self.literals
        out = [literals[0]]
        for n, (index, filters, escaped) in enumerate(self.prints, 1):
            value = values[index]
            for apply, args, kwargs in filters:
                value = apply(value, *args, **kwargs)
            if not escaped:
                out.append(str(value))
            elif type(value) is str and not (
                "&" in value or "<" in value or ">" in value or "'" in value or '"' in value
            ):  # cheaper than a regex search on a name or a link
                out.append(value)  # what escape() gives, without building a Markup (most values: names, links)
            elif type(value) is Markup:
                out.append(value)  # escape() would copy it unchanged
            else:
                out.append(escape(value))  # Markup is a str: join takes it as it is
            out.append(literals[n])
        return out


# --------------------------------------------------------------------------- planning
class Planner:
    """Splits an email's variables into a skeleton key and slot values (see the module docstring).

    It runs once per email, so it works by type with precomputed field lists: it must cost far
    less than rendering the parts it saves.
    """

    def __init__(self, constants: dict[str, Any]) -> None:
        #: The renderer's globals: the same objects in every email, so neither key nor slot.
        self.constants = constants
        #: Keys of shared views by identity (the object is kept, so its id cannot be reused).
        self._shared: dict[int, tuple[Any, Any]] = {}
        #: A number for each shared view's key, never given to another: an email's key hashes that
        #: number instead of the view's nested values.
        self._tokens: dict[Any, int] = {}
        self._token_counter = count()

    def plan(self, variables: dict[str, Any], fresh: frozenset[str], reads: Sequence[str] = ()) -> Plan | None:
        """The plan of one email (of the ``reads`` among its variables, all when none are given),
        or None when some value is of a kind skeletons do not handle.

        ``fresh`` names the ``_context/`` files rendered for this email alone (their names become
        slots); a reused one is keyed by the object itself (it is the same for every such email).
        Every value told per customer is a slot, whatever its type: a slot is only ever printed
        (``str`` or ``escape`` of the real value, as Jinja would) or tested for truth (in the key).
        """
        key: list[Any] = []
        values: list[Any] = []
        constants = self.constants
        shared = self._shared
        if not reads:
            reads = tuple(variables)
        try:
            for name in reads:
                value = variables.get(name, _ABSENT)
                if value is _ABSENT or value is constants.get(name, _ABSENT):
                    continue
                kind = type(value)
                spec = _PERSONAL_SPECS.get(kind)
                if spec is not None:
                    items = spec.slots(value)
                    values += items
                    if spec.keyed:
                        key.append((name, kind, *map(bool, items), *[_key_of(getattr(value, f)) for f in spec.keyed]))
                    else:  # most views: no comprehension to run
                        key.append((name, kind, *map(bool, items)))
                elif name in fresh:
                    names = {n: v for n, v in vars(value).items() if n[:1] != "_"}
                    values.extend(names.values())
                    key.append((name, SlotModule, *names, *map(bool, names.values())))
                elif name in PERSONAL_NAMES:
                    values.append(value)
                    key.append((name, bool(value)))
                elif kind is str:
                    key.append((name, (str, value)))  # what _key_of gives, without the call
                elif kind in SHARED_VIEWS:
                    known = shared.get(id(value))
                    key.append((name, known[1] if known is not None and known[0] is value else self._shared_key(value)))
                elif isinstance(value, TemplateModule):  # reused: the same object for every email it fits
                    key.append((name, value))
                else:
                    key.append((name, _key_of(value)))
        except Unknowable:
            return None
        return Plan(
            tuple(key), values, lambda: self._slotted({n: variables[n] for n in reads if n in variables}, fresh)
        )

    def _shared_key(self, value: Any) -> Any:
        known = self._shared.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        if len(self._shared) >= 1000:
            self._shared.clear()
        found = _key_of(value)
        token = self._tokens.get(found)
        if token is None:
            if len(self._tokens) >= 1000:
                self._tokens.clear()  # a view keyed again gets a new number: a new skeleton, never a wrong one
            token = self._tokens[found] = next(self._token_counter)
        self._shared[id(value)] = (value, token)
        return token

    def _slotted(self, variables: dict[str, Any], fresh: frozenset[str]) -> dict[str, Any]:
        """The variables with a ``Slot`` for every value ``plan`` put in ``values``, in the same order."""
        counter = iter(range(1 << 30))

        def slot(value: Any) -> Slot:
            return Slot(next(counter), bool(value))

        slotted: dict[str, Any] = {}
        for name, value in variables.items():
            if value is self.constants.get(name, _ABSENT):
                slotted[name] = value
                continue
            spec = _PERSONAL_SPECS.get(type(value))
            if spec is not None:
                slots = {f: slot(item) for f, item in zip(spec.personal, spec.slots(value), strict=True)}
                slotted[name] = type(value)(**slots, **{f: getattr(value, f) for f in spec.keyed})
            elif name in fresh:
                slotted[name] = SlotModule({n: slot(v) for n, v in vars(value).items() if n[:1] != "_"})
            elif name in PERSONAL_NAMES:
                slotted[name] = slot(value)
            else:
                slotted[name] = value
        return slotted


_ABSENT = object()


@dataclass(frozen=True, slots=True)
class _Spec:
    """A personal view's fields: those that become slots (read in one C call), those keyed by value."""

    personal: tuple[str, ...]
    keyed: tuple[str, ...]
    slots: Callable[[Any], tuple[Any, ...]]


def _spec(kind: type, keyed: frozenset[str]) -> _Spec:
    fields = tuple(kind.__slots__)  # type: ignore[attr-defined]
    personal = tuple(f for f in fields if f not in keyed)
    getter = attrgetter(*personal)
    slots = getter if len(personal) > 1 else (lambda value: (getter(value),))
    return _Spec(personal, tuple(f for f in fields if f in keyed), slots)


_PERSONAL_SPECS: dict[type, _Spec] = {kind: _spec(kind, keyed) for kind, keyed in PERSONAL_VIEWS.items()}


def key_of(value: Any, *, scalars_only: bool = False) -> Any:
    """A hashable stand-in equal only for values that render alike (``1``, ``True``, ``1.0`` differ).

    Raises ``Unknowable`` for a value of another kind (or for any container, ``scalars_only``).
    """
    kind = type(value)
    if value is None or kind in _SCALARS:
        return (kind, value)
    if isinstance(value, _REPRESENTED):
        return (kind, repr(value))
    if scalars_only:
        raise Unknowable
    return _key_of(value)


def _key_of(value: Any) -> Any:
    kind = type(value)
    if value is None or kind in _SCALARS:
        return (kind, value)
    if isinstance(value, _REPRESENTED):
        return (kind, repr(value))
    if kind in SHARED_VIEWS or kind in PERSONAL_VIEWS:
        return (kind, *(_key_of(getattr(value, f)) for f in value.__slots__))
    if kind is dict:
        return (dict, *((_key_of(k), _key_of(v)) for k, v in value.items()))
    if kind is tuple:
        return (tuple, *(_key_of(item) for item in value))
    raise Unknowable


# --------------------------------------------------------------------------- rendering
_PRINTS: ContextVar[list[tuple[Slot, bool]] | None] = ContextVar("skeleton_prints", default=None)


@pass_eval_context
def finalize(eval_ctx: EvalContext, value: Any) -> Any:
    """Jinja's hook on every printed value: a slot prints as a numbered marker."""
    if type(value) is Slot:
        prints = _PRINTS.get()
        if prints is None:
            raise Unknowable
        prints.append((value, eval_ctx.autoescape))
        return f"\ue000{len(prints) - 1}\ue001"
    if type(value) is SlotModule:
        raise Unknowable  # a context file printed whole: its text is not one slot
    return value


def guard(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    """A filter or test that refuses slots; a pure text filter on a slot is deferred to filling in."""
    deferred = name in TEXT_FILTERS

    def guarded(*args: Any, **kwargs: Any) -> Any:
        for position, arg in enumerate(args):
            if type(arg) is Slot:
                if deferred and position == 0 and not _has_slot(args[1:], kwargs):
                    return Slot(arg.index, None, (*arg.filters, (function, args[1:], kwargs)))
                raise Unknowable
        if _has_slot((), kwargs):
            raise Unknowable
        return function(*args, **kwargs)

    pass_arg = getattr(function, "jinja_pass_arg", None)
    if pass_arg is not None:
        guarded.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
        deferred = False  # its first argument is Jinja's context, not the text
    return guarded


def _has_slot(args: Sequence[Any], kwargs: dict[str, Any]) -> bool:
    return any(type(a) is Slot for a in args) or any(type(v) is Slot for v in kwargs.values())


def render_skeleton(render: Callable[[], str]) -> Skeleton:
    """Run ``render`` (a part's template over slot variables) and cut its output at the markers."""
    prints: list[tuple[Slot, bool]] = []
    token = _PRINTS.set(prints)
    try:
        output = render()
    finally:
        _PRINTS.reset(token)
    pieces = _MARKER.split(output)
    literals = tuple(pieces[0::2])
    numbers = [int(n) for n in pieces[1::2]]
    # A marker character in the template's own text would confuse the cut: no skeleton then.
    if numbers != list(range(len(prints))) or any("\ue000" in s or "\ue001" in s for s in literals):
        raise Unknowable
    return Skeleton(literals, tuple((slot.index, slot.filters, escaped) for slot, escaped in prints))


def capturing(tree: nodes.Template) -> bool:
    """Whether a template could capture printed output as a value (then it gets no skeleton)."""
    if any(True for _ in tree.find_all(_CAPTURING_NODES)):
        return True
    if any(node.name in _CAPTURING_NAMES for node in tree.find_all(nodes.Name)):
        return True
    return any(node.name == "random" for node in tree.find_all(nodes.Filter))


def parent_names(tree: nodes.Template) -> list[str] | None:
    """The templates ``tree`` extends, or None when one is named by an expression."""
    parents = []
    for node in tree.find_all(nodes.Extends):
        if not isinstance(node.template, nodes.Const) or not isinstance(node.template.value, str):
            return None
        parents.append(node.template.value)
    return parents


def reads(tree: nodes.Template, names: set[str]) -> tuple[set[str], set[tuple[str, str]]]:
    """Which of ``names`` a template reads whole, and which only by constant attributes.

    Every use of a name counts: one that is not ``name.attribute`` (a filter's argument, an
    assignment, a loop) reads it whole. A local that shadows a name adds reads, never hides one.
    """
    whole: set[str] = set()
    paths: set[tuple[str, str]] = set()
    stack: list[tuple[nodes.Node, nodes.Node | None]] = [(tree, None)]
    while stack:
        node, parent = stack.pop()
        stack.extend((child, node) for child in node.iter_child_nodes())
        if isinstance(node, nodes.Name) and node.ctx == "load" and node.name in names:
            if isinstance(parent, nodes.Getattr) and parent.node is node:
                paths.add((node.name, parent.attr))
            else:
                whole.add(node.name)
    return whole, paths
