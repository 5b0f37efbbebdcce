"""What one rendering may cost: a time limit, and a limit on the size of what it builds.

Templates are untrusted code, and Jinja's sandbox keeps them from the filesystem and from
Python's internals, not from spending: ``{% for a in range(100000) %}{% for b in range(100000) %}``
runs for hours, ``{{ 9**(9**9) }}`` computes a number of 370 million digits, ``'x' * 10**8``
builds 100 MB. Any of them would hang ``validate``, ``preview`` and the send flow. So:

- **Time.** Each ``render`` call (the ``_context/`` files and the three parts of one email) gets a
  deadline, checked wherever a template can repeat work: at every iteration of a ``{% for %}``
  (each loop's iterable is wrapped at compile time, see ``instrument``), at every call (macros,
  ``loop()`` of recursive loops, globals, methods), at every intercepted operator. Loops over a
  few items are only checked when they start: nesting them is what takes time, and each inner
  loop starts often. The default, 2 s, is a thousand times what the shipped emails take (about
  a millisecond the ordinary way) and short enough that a bad template costs a send run seconds,
  not hours: it fails that one request and the batch goes on.
- **Size.** Operators are intercepted (``intercepted_binops``) and refused *before* computing
  when the result would be too big: ``*`` repeating a text or list, ``+`` and ``~`` joining
  them, ``%`` formatting with a huge width, ``**`` and ``*`` on integers beyond
  ``MAX_INT_BITS`` (Python will not even print more than 4,300 digits). The filters and text
  methods that take a size (``center``, ``indent``, ``replace``, ``wordwrap``, ``join``,
  ``format``, ``batch``, ``slice``, ``ljust``…, ``lipsum``) are checked the same way. What a
  part prints is counted as it is generated, and rendering stops when it passes the limit;
  captured output (``{% set %}`` blocks, macros) is measured before it is joined. The default,
  1,000,000 characters per part, is some fifty times the largest shipped part (an HTML part
  with its styles inlined is about 20 KB) and far beyond what a mail client shows (Gmail clips
  a message at 102 KB), while a million characters cost a few milliseconds to build.

A breach raises ``RenderLimitError`` inside the template, so the renderer reports it like any
template error, with the file and line where it happened: ``mail.subject:3: rendering took
longer than 2 s (time limit)``.

The limits are the renderer's (``EmailRenderer(time_limit=…, output_limit=…)``); the deadline
of the rendering under way is kept per thread by the renderer's ``Guard``, so renderers and
threads never share one. The clock is ``time.monotonic``: a budget of elapsed time, not the
business "now" that is injected from the command line down.

What is not bounded: a single operation Python runs to its end without returning to the
template, on values that are each within the limits (printing a list nested in itself a few
dozen times, ``|string`` of it): the time limit can only act between such steps.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from string import Formatter
from types import FrameType, GeneratorType
from typing import Any

from jinja2 import nodes, pass_context
from jinja2.runtime import Context

#: The defaults (see the module docstring for why these).
TIME_LIMIT = 2.0
OUTPUT_LIMIT = 1_000_000
#: Text the checked operations of one rendering may build in all, in output limits.
SPENDING = 20
#: Integers a template may compute, in bits (about 5,000 decimal digits).
MAX_INT_BITS = 16_384
#: Pieces of output taken from a template at a time (``Guard.collected``).
_CHUNK = 64
#: Loops over at most this many items are checked when they start, not at each item.
_SMALL_LOOP = 64
#: The wrapper every ``{% for %}``'s iterable goes through (``instrument``).
_LOOP_FUNCTION = f"{__name__}.guarded_loop"
#: ``%`` conversions: their widths and precisions (``*`` takes them from the arguments).
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")
_SEQUENCES = (str, list, tuple)


class RenderLimitError(Exception):
    """A rendering went past one of its limits; the message says which, as a marketer reads it."""


class TimeLimitError(RenderLimitError):
    """A rendering ran out of time."""


@dataclass(frozen=True, slots=True)
class RenderLimits:
    """The limits of one renderer: seconds per ``render`` call, characters per part."""

    time_limit: float = TIME_LIMIT
    output_limit: int = OUTPUT_LIMIT

    def __post_init__(self) -> None:
        if not self.time_limit > 0 or self.output_limit < 1:
            raise ValueError(f"render limits must be positive: {self}")


class _Budget:
    """One rendering's deadline and the text its checked operations built so far."""

    __slots__ = ("deadline", "spent")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.spent = 0


class Guard:
    """Holds a renderer's limits and the deadline of the rendering under way (per thread)."""

    def __init__(self, limits: RenderLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._local = threading.local()

    # ------------------------------------------------------------------ time
    def start(self) -> _Budget | None:
        """Begin one rendering's budgets (time, text built); returns what ``stop`` needs to restore."""
        local = self._local
        previous: _Budget | None = getattr(local, "budget", None)
        local.budget = _Budget(self.clock() + self.limits.time_limit)
        return previous

    def stop(self, previous: _Budget | None) -> None:
        self._local.budget = previous

    def _deadline(self) -> float | None:
        budget: _Budget | None = getattr(self._local, "budget", None)
        return None if budget is None else budget.deadline

    def check_time(self) -> None:
        deadline = self._deadline()
        if deadline is not None and self.clock() > deadline:
            raise self._out_of_time()

    def _out_of_time(self) -> TimeLimitError:
        return TimeLimitError(f"rendering took longer than {self.limits.time_limit:g} s (time limit)")

    def loop(self, iterable: Any) -> Any:
        """``iterable`` as a ``{% for %}`` goes through it, checking the time at each item."""
        self.check_time()
        try:
            small = len(iterable) <= _SMALL_LOOP
        except TypeError:  # no len (a generator): check as it goes
            small = False
        return iterable if small else self._timed(iterable)

    def _timed(self, iterable: Iterable[Any]) -> Iterator[Any]:
        deadline = self._deadline()
        if deadline is None:  # not within a render call (a template used directly): a budget of its own
            deadline = self.clock() + self.limits.time_limit
        clock = self.clock
        for item in iterable:
            if clock() > deadline:
                raise self._out_of_time()
            yield item

    # ------------------------------------------------------------------ size
    def too_big(self, what: str, size: float, unit: str = "characters") -> None:
        """Refuse ``what`` if ``size`` passes the limit; else count it as built (``spend``)."""
        if size > self.limits.output_limit:
            limit = _count(self.limits.output_limit)
            raise RenderLimitError(f"{what} would be {_count(size)} {unit}, more than {limit} (size limit)")
        self.spend(int(size))

    def spend(self, size: int) -> None:
        """Count text built by the checked operations; all of one rendering's may add up to
        ``SPENDING`` times the output limit (many values each within the limit still fill memory)."""
        budget: _Budget | None = getattr(self._local, "budget", None)
        if budget is None:  # not within a render call: nothing to add up
            return
        spent = budget.spent = budget.spent + size
        if spent > SPENDING * self.limits.output_limit:
            limit = _count(SPENDING * self.limits.output_limit)
            raise RenderLimitError(f"the rendering built more than {limit} characters in all (size limit)")

    def check_binop(self, operator: str, left: Any, right: Any) -> None:
        """Refuse an operation whose result would be too big, before it is computed."""
        if operator == "*":
            self._check_product(left, right)
        elif operator == "**":
            self._check_power(left, right)
        elif operator == "+":
            if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
                self.too_big("the result of +", len(left) + len(right))
        elif operator == "%" and isinstance(left, str):
            self.check_percent(left, right)

    def _check_product(self, left: Any, right: Any) -> None:
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise RenderLimitError(f"the result of * would have more than {MAX_INT_BITS:,} bits (size limit)")
            return
        for sequence, times in ((left, right), (right, left)):
            if isinstance(sequence, _SEQUENCES) and isinstance(times, int):
                self.too_big("the result of *", weight(sequence) * max(times, 0))

    def _check_power(self, base: Any, exponent: Any) -> None:
        if not (isinstance(base, int) and isinstance(exponent, int)) or exponent <= 0 or abs(base) <= 1:
            return
        if exponent * math.log2(abs(base)) > MAX_INT_BITS:
            raise RenderLimitError(f"the result of ** would have more than {MAX_INT_BITS:,} bits (size limit)")

    def check_percent(self, text: str, values: Any) -> None:
        """``text % values``: refuse widths and precisions beyond the limit (``%0999999999d``)."""
        if "%" not in text:
            return
        for width, precision in _PERCENT_SPEC.findall(text):
            for number in (width, precision):
                if number == "*":
                    self._check_numbers(values)
                elif number:
                    self.too_big("a % format's width", int(number))

    def check_format(self, text: str, args: Iterable[Any], kwargs: Mapping[str, Any]) -> None:
        """``text.format(…)``: refuse a format spec's width beyond the limit (``{:>999999999}``)."""
        for _, _, spec, _ in Formatter().parse(text):
            if not spec:
                continue
            if "{" in spec:  # the width comes from an argument
                self._check_numbers([*args, *kwargs.values()])
            for digits in _DIGITS.findall(spec):
                self.too_big("a format's width", int(digits))

    def _check_numbers(self, values: Any) -> None:
        items = (
            values if isinstance(values, tuple | list) else (values.values() if isinstance(values, dict) else (values,))
        )
        for value in items:
            if isinstance(value, int):
                self.too_big("a format's width", value)

    def joined(self, pieces: Iterator[str]) -> str:
        """The pieces a part generates, joined; stops generating soon after they pass the limit."""
        chunks = self.collected(pieces)
        return chunks[0] if len(chunks) == 1 else "".join(chunks)

    def collected(self, pieces: Iterator[str]) -> list[str]:
        """What a part or a ``_context/`` file generates, joined ``_CHUNK`` pieces at a time and
        measured before more are asked for: the template stops within a chunk of passing the
        limit. Joining and measuring in C costs next to nothing (a Python loop over the pieces
        cost a part a tenth more); a chunk past the limit holds at most ``_CHUNK`` printed values,
        each within the size limit."""
        limit = self.limits.output_limit
        batch = list(islice(pieces, _CHUNK))
        chunk = "".join(batch)
        total = len(chunk)
        chunks = [chunk]
        if len(batch) < _CHUNK and total <= limit:
            return chunks  # most parts: one chunk, the generator already spent
        while total <= limit and (chunk := "".join(islice(pieces, _CHUNK))):
            total += len(chunk)
            chunks.append(chunk)
        if total > limit:
            raise OutputLimitError(limit, pieces)
        return chunks

    def concat(self, pieces: Iterable[str]) -> str:
        """``environment.concat`` for captured output (``{% set %}`` blocks, macros): measured, then joined."""
        if type(pieces) is not list:
            return self.joined(iter(pieces))
        size = sum(map(len, pieces))
        if size > self.limits.output_limit:
            raise RenderLimitError(
                f"the output captured would pass {_count(self.limits.output_limit)} characters (output limit)"
            )
        self.spend(size)
        return "".join(pieces)

    def sized(self, value: str) -> str:
        """The result of ``~``, refused when it passes the limit (its pieces are each within it)."""
        self.too_big("the result of ~", len(value))
        return value


class OutputLimitError(RenderLimitError):
    """A part's output passed the limit; ``where`` is the template line generating it then."""

    def __init__(self, limit: int, pieces: Iterable[str]) -> None:
        super().__init__(f"the output passed {_count(limit)} characters (output limit)")
        self.where = generating_line(pieces)


def weight(sequence: Any) -> int:
    """Characters or items in ``sequence``, counting the text it holds one level down."""
    if isinstance(sequence, str):
        return len(sequence)
    return len(sequence) + sum(len(item) for item in sequence if isinstance(item, _SEQUENCES))


def _count(size: float) -> str:
    return f"{size:,.0f}" if size < 1e18 else f"{size:.1e}"


# --------------------------------------------------------------------------- where output was generated
def generating_line(pieces: Any) -> tuple[str, int] | None:
    """(template file, line) where a render generator is suspended: the innermost template it delegates to."""
    frame: FrameType | None = None
    while isinstance(pieces, GeneratorType) and pieces.gi_frame is not None:
        if "debug_info" in pieces.gi_frame.f_globals:
            frame = pieces.gi_frame
        pieces = pieces.gi_yieldfrom
    if frame is None:
        return None
    return frame.f_code.co_filename, template_line(frame.f_globals["debug_info"], frame.f_lineno)


def template_line(debug_info: str, code_line: int) -> int:
    """A compiled template's line back to the template's own (what ``Template.get_corresponding_lineno`` does)."""
    pairs = [tuple(map(int, pair.split("="))) for pair in debug_info.split("&")] if debug_info else []
    for template, code in reversed(pairs):
        if code <= code_line:
            return template
    return 1


# --------------------------------------------------------------------------- compile time
@pass_context
def guarded_loop(context: Context, iterable: Any) -> Any:
    """What each ``{% for %}`` iterates (see ``instrument``)."""
    guard: Guard = context.environment.guard  # type: ignore[attr-defined]
    return guard.loop(iterable)


def instrument(tree: nodes.Template) -> None:
    """Route every ``{% for %}``'s iterable through ``guarded_loop`` (in place, before code generation)."""
    for loop in tree.find_all(nodes.For):
        call = nodes.Call(nodes.ImportedName(_LOOP_FUNCTION), [loop.iter], [], None, None, lineno=loop.iter.lineno)
        loop.iter = call


# --------------------------------------------------------------------------- filters and methods that take a size
def _lines(text: Any) -> int:
    return str(text).count("\n") + 1


def _check_center(guard: Guard, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    width = kwargs.get("width", args[1] if len(args) > 1 else 80)
    if isinstance(width, int):
        guard.too_big("center", width)


def _check_indent(guard: Guard, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    width = kwargs.get("width", args[1] if len(args) > 1 else 4)
    per_line = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    guard.too_big("indent", len(str(args[0])) + per_line * _lines(args[0]))


def _check_replace(guard: Guard, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if len(args) < 3:
        return
    text, old, new = str(args[0]), str(args[1]), str(args[2])
    count = kwargs.get("count", args[3] if len(args) > 3 else None)
    found = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        found = min(found, count)
    guard.too_big("replace", len(text) + found * max(len(new) - len(old), 0))


def _check_wordwrap(guard: Guard, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    text = str(args[0]) if args else ""
    width = kwargs.get("width", args[1] if len(args) > 1 else 79)
    wrap = kwargs.get("wrapstring", args[4] if len(args) > 4 else None)
    breaks = len(text) // max(width if isinstance(width, int) else 1, 1) + _lines(text)
    guard.too_big("wordwrap", len(text) + breaks * len(str(wrap) if wrap is not None else "\n"))


def _check_join(guard: Guard, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    separator = kwargs.get("d", args[1] if len(args) > 1 else "")
    items = _read_within(guard, "join", args[0] if args else (), len(str(separator)))
    return (items, *args[1:]), kwargs


def _read_within(guard: Guard, what: str, iterable: Any, separator: int) -> list[Any]:
    """The items to join, read one by one (a generator from ``map`` too) and refused as soon as
    their text passes the limit: never more than the limit is held."""
    limit = guard.limits.output_limit
    items: list[Any] = []
    size = 0
    for item in iterable:
        size += (len(item) if isinstance(item, _SEQUENCES) else 1) + separator
        if size > limit:
            raise RenderLimitError(f"{what} would be more than {_count(limit)} characters (size limit)")
        items.append(item)
    guard.spend(size)
    return items


def _check_format(guard: Guard, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if args:
        guard.check_percent(str(args[0]), kwargs or args[1:])


def _check_fill(guard: Guard, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    count = args[1] if len(args) > 1 else kwargs.get("linecount", kwargs.get("slices"))
    if isinstance(count, int):
        guard.too_big("the number of groups", count, unit="groups")


#: Filters that take a size, and how to check one call before it runs (a check may also return
#: the arguments to use, when it had to read a generator).
SIZED_FILTERS: dict[str, Callable[..., Any]] = {
    "center": _check_center,
    "indent": _check_indent,
    "replace": _check_replace,
    "wordwrap": _check_wordwrap,
    "join": _check_join,
    "format": _check_format,
    "batch": _check_fill,
    "slice": _check_fill,
}


def sized_filter(guard: Guard, function: Callable[..., Any], check: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (a Jinja filter) with ``check`` run on its arguments first."""
    pass_arg = getattr(function, "jinja_pass_arg", None)
    skip = 1 if pass_arg is not None else 0

    def checked(*args: Any, **kwargs: Any) -> Any:
        guard.check_time()
        changed = check(guard, args[skip:], kwargs)
        if changed is not None:
            args, kwargs = (*args[:skip], *changed[0]), changed[1]
        return function(*args, **kwargs)

    if pass_arg is not None:
        checked.jinja_pass_arg = pass_arg  # type: ignore[attr-defined]
    return checked


#: ``str`` methods a template can call that take a size: each checked like its filter.
_PADDING_METHODS = frozenset({"center", "ljust", "rjust"})


def check_method(guard: Guard, method: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    """Refuse a call of a text method whose result would be too big (``'x'.ljust(10**9)``); returns
    the arguments to call it with (``join``'s items, read here when they come from a generator)."""
    inner = getattr(method, "__wrapped__", method)  # str.format comes wrapped by the sandbox
    owner = getattr(inner, "__self__", None)
    if not isinstance(owner, str):
        return args
    name = getattr(inner, "__name__", "")
    if name in _PADDING_METHODS or name == "zfill":
        if args and isinstance(args[0], int):
            guard.too_big(name, args[0])
    elif name == "expandtabs":
        size = args[0] if args else kwargs.get("tabsize", 8)
        if isinstance(size, int):
            guard.too_big(name, len(owner) + owner.count("\t") * size)
    elif name == "replace":
        _check_replace(guard, (owner, *args), {"count": args[2]} if len(args) > 2 else kwargs)
    elif name == "join" and args:
        return (_read_within(guard, name, args[0], len(owner)), *args[1:])
    elif name in ("format", "format_map"):
        mapping = args[0] if name == "format_map" and args and isinstance(args[0], Mapping) else {}
        guard.check_format(owner, args if name == "format" else (), kwargs if name == "format" else mapping)
    return args


def bounded_lipsum(guard: Guard, lipsum: Callable[..., str]) -> Callable[..., str]:
    """Jinja's ``lipsum(n, html, min, max)``, refused when it would write too much."""

    def checked(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
        guard.too_big("lipsum", n * max * 8)
        return lipsum(n, html, min, max)

    return checked
