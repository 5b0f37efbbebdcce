"""Rendering email templates: Jinja's sandbox, strict about undefined names, built once per run.

Templates are untrusted code (marketers edit them): ``ImmutableSandboxedEnvironment`` (no
attribute access beyond the context, no ``''.__class__``), ``StrictUndefined`` (a typo is an
error naming the file and line, never a blank in a customer's inbox), autoescape for ``.html``.

An email is three files, ``<template>[.<locale>].subject``, ``.html`` and ``.txt``; the locale is
chosen as a whole (``pt-BR`` → ``pt`` → the default files), so a half-translated email never goes
out. Partials whose output appears in both parts are ``.txt`` templates: a macro from a ``.txt``
file is escaped when an ``.html`` template calls it (Jinja alone would trust its output).

Everything compiles when the renderer is built; CSS is inlined into the HTML templates at that
point (see ``inlining``), so rendering an email costs three template renders and nothing more.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from jinja2 import (
    BaseLoader,
    StrictUndefined,
    TemplateAssertionError,
    TemplateNotFound,
    TemplateSyntaxError,
    Undefined,
    meta,
    nodes,
    pass_context,
)
from jinja2.compiler import CodeGenerator, Frame
from jinja2.environment import Template, TemplateModule
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.runtime import Context, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum, missing
from markupsafe import escape

from referral_automation.email.rendering import skeleton
from referral_automation.email.rendering.context import VIEW_TYPES, IntroductionView, SharedViews, locale_chain
from referral_automation.email.rendering.functions import MailtoEncoder, nl2br, tidy_text, ucfirst
from referral_automation.email.rendering.inlining import (
    InlinedSource,
    inline_template_source,
    make_inliner,
    strip_css_comments,
)
from referral_automation.email.rendering.limits import (
    OUTPUT_LIMIT,
    SIZED_FILTERS,
    TIME_LIMIT,
    Guard,
    OutputLimitError,
    RenderLimitError,
    RenderLimits,
    TimeLimitError,
    bounded_lipsum,
    check_method,
    instrument,
    sized_filter,
)
from referral_automation.email.rendering.loading import ConfinedLoader, RefusedTemplateError
from referral_automation.errors import Problem, TemplateError

#: The parts of an email, by file suffix.
PARTS = ("subject", "html", "txt")
TEMPLATE_SUFFIXES = frozenset(PARTS)
STYLESHEET = "_styles.css"
#: Files rendered once per email, before its parts, each becoming a variable named after it.
CONTEXT_FOLDER = "_context"
#: Globals whose result depends on their arguments alone (``lipsum``, ``cycler``, ``namespace`` do not).
PURE_GLOBALS = frozenset({"mailto", "localized", "range", "dict"})
_MISSING = object()
#: Types whose values ``skeleton.key_of`` keys as ``(type, value)``.
_PLAIN_KEYS = frozenset({str, int, bool, type(None)})
#: Reused ``_context/`` renderings kept at most (per renderer).
_REUSED_LIMIT = 1000
#: Renderings of a ``_context/`` file never reused, after which its reuse is not tried any more.
_GIVE_UP = 200
#: Groups of skeletons kept at most (per renderer).
_SKELETON_LIMIT = 2000
#: Where the sandboxes keep the renderer's ``Guard`` (see ``_Sandbox.guard``).
_GUARD_POLICY = "referral_automation.guard"
#: Times a file may run out of time before the renderer stops running it (a stall of the machine
#: can make a good file miss its deadline once; a runaway loop misses it every time, and running
#: it for every email of a batch would cost a send run ``time_limit`` seconds an email).
_RUNAWAY_AFTER = 3
#: The context file whose output is the ready-to-send introduction (see ``IntroductionView``).
INTRODUCTION = "introduction"


@dataclass(frozen=True, slots=True)
class RenderStats:
    """What a renderer's fast paths have done so far (tests and benchmarks read it to see them work)."""

    #: Groups of customers whose parts share skeletons.
    skeleton_groups: int
    #: Parts rendered over slots once per group, and parts that could not be (rendered every time).
    skeletons: int
    ordinary_parts: int
    #: How often each ``_context/`` file was rendered (not reused from an email before).
    context_renders: dict[str, int]
    #: ``_context/`` files whose renderings never repeated, no longer looked up for reuse.
    context_reuse_given_up: frozenset[str]


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


@dataclass(frozen=True, slots=True)
class TemplateFile:
    """What a template file's name says: ``customer_referral/gratitude.de.html``."""

    name: str  # path relative to the templates directory
    template: str  # customer_referral/gratitude
    locale: str | None  # de
    part: str  # html

    @property
    def is_partial(self) -> bool:
        """Layouts and partials (any path segment starting with ``_``) are not emails."""
        return any(segment.startswith("_") for segment in self.name.split("/"))


def parse_template_name(name: str) -> TemplateFile | None:
    """Split a file name into template, locale and part; None if it is no template file."""
    folder, _, base = name.rpartition("/")
    pieces = base.split(".")
    if len(pieces) not in (2, 3) or pieces[-1] not in TEMPLATE_SUFFIXES or not pieces[0]:
        return None
    template = f"{folder}/{pieces[0]}" if folder else pieces[0]
    return TemplateFile(name, template, pieces[1] if len(pieces) == 3 else None, pieces[-1])


class ContextFile(TemplateModule):
    """A rendered ``_context/`` file: its ``{% set %}`` names as attributes, its output as ``str()``."""


class UnknownFunctionError(UndefinedError):
    """A template calls a name nothing defines: ``{{ frobnicate() }}``."""


class _LimitedCodeGenerator(CodeGenerator):
    """Jinja's code generator, with the result of ``~`` measured (see ``limits``)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:  # noqa: N802 - Jinja's visitor name
        self.write("environment.guard.sized(")
        super().visit_Concat(node, frame)
        self.write(")")


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox, plus: a ``.txt`` macro called from an ``.html`` template has its output escaped,
    and the renderer's limits (``limits``) on loops, calls, operators and captured output."""

    code_generator_class = _LimitedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    @property
    def guard(self) -> Guard:
        """The renderer's limits and the deadline of the rendering under way (see ``limits``).

        Kept in Jinja's ``policies`` dict, not as an attribute of its own: the environment has 29
        attributes, and a 30th makes CPython give up its shared-key layout, which slowed every
        ``environment.getattr`` a template makes, and rendering an email by 3 %.
        """
        guard: Guard = self.policies[_GUARD_POLICY]
        return guard

    #: Every template file's name, for ``localized()``.
    template_names: frozenset[str] = frozenset()
    #: Types whose public attributes are all plain data (the context views, imported template
    #: modules): their attributes skip the sandbox's general checks, which cost more than rendering.
    plain_types: frozenset[type] = frozenset({TemplateModule, ContextFile, *VIEW_TYPES})

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        """A plain dict, not Jinja's ChainMap: every ``{% import %}`` compares key sets, slowly on a ChainMap."""
        return {**self.globals, **(d or {})}

    def getattr(self, obj: Any, attribute: str) -> Any:
        kind = type(obj)
        if kind in self.plain_types and not attribute.startswith("_"):
            try:
                return getattr(obj, attribute)
            except AttributeError:
                return self.undefined(obj=obj, name=attribute)
        if kind is dict and not hasattr(dict, attribute):
            try:
                return obj[attribute]
            except KeyError:
                return self.undefined(obj=obj, name=attribute)
        return super().getattr(obj, attribute)

    def _generate(
        self, source: nodes.Template, name: str | None, filename: str | None, defer_init: bool = False
    ) -> str:
        """Refuses unknown filters and tests at compile time, even where Jinja would wait for the
        render to reach them (inside ``{% if %}``): a branch validation's samples never take must
        not fail its first customer."""
        for node in source.find_all((nodes.Filter, nodes.Test)):
            kind, known = ("filter", self.filters) if isinstance(node, nodes.Filter) else ("test", self.tests)
            if node.name not in known:
                raise TemplateAssertionError(f"No {kind} named {node.name!r}.", node.lineno, name, filename)
        instrument(source)
        return super()._generate(source, name, filename, defer_init=defer_init)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.guard.check_binop(operator, left, right)
        return self.binop_table[operator](left, right)

    def concat(self, pieces: Any) -> str:
        return self.guard.concat(pieces)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if isinstance(__obj, Undefined) and __obj._undefined_obj is missing:
            raise UnknownFunctionError(f"no function named {__obj._undefined_name!r}")
        __self.guard.check_time()
        args = check_method(__self.guard, __obj, args, kwargs)
        value = super().call(__context, __obj, *args, **kwargs)
        if isinstance(__obj, Macro) and __context.eval_ctx.autoescape and not __obj._default_autoescape:
            return escape(str(value))
        return value


class _SkeletonSandbox(_Sandbox):
    """The sandbox a skeleton renders in: slots print as markers and refuse everything else."""

    plain_types = _Sandbox.plain_types | {skeleton.SlotModule}

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is skeleton.Slot:
            raise skeleton.Unknowable
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if type(obj) is skeleton.Slot or type(argument) is skeleton.Slot:
            raise skeleton.Unknowable
        return super().getitem(obj, argument)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        if type(__obj) is skeleton.Slot or skeleton._has_slot(args, kwargs):
            raise skeleton.Unknowable
        return super().call(__context, __obj, *args, **kwargs)


@pass_context
def _localized(context: Context, name: str) -> str:
    """``localized("_partials/copy.txt")``: the partial in the email's locale, if it has one."""
    locale = context.get("email_locale") or ""
    stem, dot, suffix = str(name).rpartition(".")
    if locale and dot:
        candidate = f"{stem}.{locale}.{suffix}"
        if candidate in getattr(context.environment, "template_names", ()):
            return candidate
    return str(name)


class _InliningLoader(ConfinedLoader):
    """Files from the templates directory (see ``loading``); HTML ones come back with their CSS inlined."""

    def __init__(self, renderer: EmailRenderer) -> None:
        super().__init__(renderer.templates_dir)
        self.renderer = renderer

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Any]:
        source, filename, uptodate = self._source(environment, template)
        self.renderer.sources[template] = (source, filename)
        return source, filename, uptodate

    def _source(self, environment: Any, template: str) -> tuple[str, str, Any]:
        source, filename, uptodate = super().get_source(environment, template)
        renderer = self.renderer
        renderer.filenames.add(filename)
        if not template.endswith(".html"):
            return source, filename, uptodate
        environment.parse(source, template, filename)  # syntax errors must name the original lines
        inlined = inline_template_source(source, renderer.inliner, renderer.css)
        if inlined is None:
            renderer.inline_each_email = True
            return source, filename, uptodate
        renderer.line_maps[filename] = inlined
        return inlined.source, filename, lambda: True


class _LoadedLoader(BaseLoader):
    """The sources the renderer loaded when it was built (skeletons never see a later edit)."""

    def __init__(self, renderer: EmailRenderer) -> None:
        self.renderer = renderer

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Any]:
        found = self.renderer.sources.get(template)
        if found is None:
            raise TemplateNotFound(template)
        return found[0], found[1], lambda: True


class EmailRenderer:
    """Compiles every template under ``templates_dir`` once and renders emails from them."""

    def __init__(
        self,
        templates_dir: Path,
        *,
        skeletons: bool = True,
        time_limit: float = TIME_LIMIT,
        output_limit: int = OUTPUT_LIMIT,
    ) -> None:
        """``time_limit`` (seconds per ``render`` call) and ``output_limit`` (characters per part)
        bound what a template may cost; see ``limits`` for why the defaults are what they are."""
        self.templates_dir = Path(templates_dir)
        self.guard = Guard(RenderLimits(time_limit, output_limit))
        loader = _InliningLoader(self)
        self.css = strip_css_comments(loader.read_text(STYLESHEET) or "")
        self.inliner = make_inliner(self.css)
        #: True when some HTML template could not be inlined at load time: inline every email instead.
        self.inline_each_email = False
        self.filenames: set[str] = set()
        self.line_maps: dict[str, InlinedSource] = {}
        #: (source as compiled, file name) of every template loaded, by name.
        self.sources: dict[str, tuple[str, str]] = {}
        self.env = self._sandbox(_Sandbox, loader=loader)
        self.env.policies[_GUARD_POLICY] = self.guard
        self.files = self._list_files()
        #: Files and folders never read: links out of the templates directory, pipes, devices.
        self.refused: list[Problem] = list(loader.refused)
        self.env.template_names = frozenset(self.files)
        #: The views emails of one group share (``build_context``), made once.
        self.shared_views = SharedViews()
        #: ``mailto()`` for templates and the introduction, remembering the words it has encoded.
        self.encoder = MailtoEncoder()
        self.env.globals.update(mailto=self.encoder.mailto, localized=_localized)
        self.env.filters.update(ucfirst=ucfirst, nl2br=nl2br)
        for name, check in SIZED_FILTERS.items():
            self.env.filters[name] = sized_filter(self.guard, self.env.filters[name], check)
        self.env.globals["lipsum"] = bounded_lipsum(self.guard, generate_lorem_ipsum)
        #: Parts rendered once per group of customers and filled in per email (see ``skeleton``).
        self.skeletons = skeletons
        self.skeleton_env = self._sandbox(_SkeletonSandbox, loader=_LoadedLoader(self), finalize=skeleton.finalize)
        self.skeleton_env.template_names = self.env.template_names
        self.skeleton_env.policies[_GUARD_POLICY] = self.guard
        self.skeleton_env.globals = self.env.globals
        self.skeleton_env.filters = {n: skeleton.guard(f, n) for n, f in self.env.filters.items()}
        self.skeleton_env.tests = {n: skeleton.guard(f, n) for n, f in self.env.tests.items()}  # type: ignore[arg-type]
        self._planner = skeleton.Planner(self.env.globals)
        self._skeletons: dict[tuple[Any, ...], dict[str, skeleton.Skeleton | None]] = {}
        self._skeletal: dict[str, bool] = {}
        self._reads_of_parts: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._templates: dict[str, Template] = {}
        self._resolved: dict[tuple[str, str | None], tuple[str, tuple[str, str, str]]] = {}
        self._context_resolved: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {}
        #: Names each ``_context/`` file reads (None: not reusable), and the files rendered for reuse.
        self._context_reads: dict[str, tuple[str | tuple[str, str], ...] | None] = {}
        #: Reused renderings by file (one file's values that never repeat do not push out another's).
        self._context_values: dict[str, dict[tuple[Any, ...], Any]] = {}
        self._reuse_hits: dict[str, int] = {}
        self._reuse_misses: dict[str, int] = {}
        self._context_renders: dict[str, int] = {}
        #: Files that do not compile, with ``path:line``; rendering an email that uses them raises.
        self._broken: dict[str, list[Problem]] = {}
        #: Files that ran out of time ``_RUNAWAY_AFTER`` times: their problem, raised without running them.
        self._runaway: dict[str, list[Problem]] = {}
        self._timeouts: dict[str, int] = {}
        self.problems: list[Problem] = [*self.refused, *(p for name in sorted(self.files) for p in self._compile(name))]

    def _sandbox(self, kind: type[_Sandbox], **options: Any) -> _Sandbox:
        return kind(
            undefined=StrictUndefined,
            autoescape=lambda name: bool(name and name.endswith(".html")),
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
            cache_size=-1,
            **options,
        )

    # ------------------------------------------------------------------ files and locales
    def _list_files(self) -> dict[str, TemplateFile]:
        if not self.templates_dir.is_dir():
            return {}
        found = (parse_template_name(name) for name in self.env.list_templates())
        return {f.name: f for f in found if f is not None}

    def _compile(self, name: str) -> list[Problem]:
        try:
            self._templates[name] = self.env.get_template(name)
        except Exception as error:  # any failure of a user's template is a problem to report
            self._broken[name] = self.problems_from(error, default_file=name)
            return self._broken[name]
        return []

    def locales(self, template: str) -> list[str | None]:
        """The locales ``template`` has files for (None: the default files)."""
        return sorted(
            {f.locale for f in self.files.values() if f.template == template and not f.is_partial},
            key=lambda loc: loc or "",
        )

    def has_email(self, template: str, locale: str | None = None) -> bool:
        suffix = f".{locale}" if locale else ""
        return all(f"{template}{suffix}.{part}" in self.files for part in PARTS)

    def resolve(self, template: str, locale: str | None) -> tuple[str, tuple[str, str, str]]:
        """The locale used for ``template`` in ``locale`` ('' = default) and its three files."""
        key = (template, locale)
        cached = self._resolved.get(key)
        if cached is not None:
            return cached
        chosen = next((loc for loc in locale_chain(locale) if self.has_email(template, loc)), "")
        suffix = f".{chosen}" if chosen else ""
        names = (f"{template}{suffix}.subject", f"{template}{suffix}.html", f"{template}{suffix}.txt")
        self._resolved[key] = (chosen, names)
        return chosen, names

    def context_files(self, template: str, chosen: str) -> tuple[tuple[str, str], ...]:
        """``(variable, file)`` for each ``_context/<variable>.txt`` of an email, in name order.

        A campaign folder's ``_context/`` (``customer_referral/_context/``) comes before the top
        one, and the email's locale before the default file, the locale first.
        """
        key = (template, chosen)
        cached = self._context_resolved.get(key)
        if cached is not None:
            return cached
        folder = template.rpartition("/")[0]
        folders = [f"{folder}/{CONTEXT_FOLDER}", CONTEXT_FOLDER] if folder else [CONTEXT_FOLDER]
        names = sorted(
            {f.template.rpartition("/")[2] for f in self.files.values() if f.template.rpartition("/")[0] in folders}
        )
        suffixes = [f".{chosen}", ""] if chosen else [""]
        found = []
        for name in names:
            candidates = (f"{where}/{name}{suffix}.txt" for suffix in suffixes for where in folders)
            file = next((candidate for candidate in candidates if candidate in self.files), None)
            if file is not None:
                found.append((name, file))
        self._context_resolved[key] = tuple(found)
        return self._context_resolved[key]

    def add_context(self, template: str, chosen: str, variables: dict[str, Any]) -> frozenset[str]:
        """Render the email's ``_context/`` files into ``variables``, each seeing those before it.

        A file that reads only plain values (the layout's words read none) is rendered once per
        set of those values and reused: it cannot differ between two emails that agree on them.
        A file whose first ``_GIVE_UP`` renderings were never reused (it reads the referral link)
        is not looked up any more. Returns the names of the files rendered for this email (not
        reused from an earlier one): skeletons treat their values as the customer's own.
        """
        fresh: list[str] = []
        for name, file in self.context_files(template, chosen):
            key = self._reuse_key(file, variables)
            reused = self._context_values.setdefault(file, {})
            value = reused.get(key) if key is not None else None
            if value is None:
                value = self._run(file, variables, as_module=True)
                self._context_renders[file] = self._context_renders.get(file, 0) + 1
                if name == INTRODUCTION:
                    value = self._introduction(value, file)
                fresh.append(name)
                if key is not None:
                    self._keep(file, key, value, reused)
            else:
                self._reuse_hits[file] = self._reuse_hits.get(file, 0) + 1
            variables[name] = value
        return frozenset(fresh)

    def stats(self) -> RenderStats:
        """Counts of what the fast paths did: skeletons built or refused, ``_context/`` files rendered."""
        built = [found for group in self._skeletons.values() for found in group.values()]
        return RenderStats(
            skeleton_groups=len(self._skeletons),
            skeletons=sum(1 for found in built if found is not None),
            ordinary_parts=sum(1 for found in built if found is None),
            context_renders=dict(self._context_renders),
            context_reuse_given_up=frozenset(file for file, reads in self._context_reads.items() if reads is None),
        )

    def _keep(self, file: str, key: tuple[Any, ...], value: Any, reused: dict[tuple[Any, ...], Any]) -> None:
        misses = self._reuse_misses[file] = self._reuse_misses.get(file, 0) + 1
        if misses >= _GIVE_UP and not self._reuse_hits.get(file):
            self._context_reads[file] = None  # never reused so far: stop computing keys for it
            reused.clear()
            return
        if len(reused) >= _REUSED_LIMIT:  # a file reading request_id never repeats
            reused.clear()
        reused[key] = value

    def _reuse_key(self, file: str, variables: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """(file, the values it reads) when all are plain values or pure globals, else None.

        A name the file only reads attributes of (``customer.tenure_days``) counts by those
        attributes alone: the customer's result reads a moment's kind and a tenure, not a name.
        """
        reads = self._context_reads.get(file, ())
        if reads == ():
            reads = self._context_reads[file] = self._reads(file)
        if reads is None:
            return None
        values: list[Any] = [file]
        plain_types = self.env.plain_types
        try:
            for read in reads:
                if isinstance(read, tuple):
                    owner = variables.get(read[0], _MISSING)
                    if owner is _MISSING:
                        return None
                    if type(owner) in plain_types and read[1][:1] != "_":  # what env.getattr does, inline
                        value = getattr(owner, read[1])
                    else:
                        value = self.env.getattr(owner, read[1])
                    kind = type(value)
                    values.append((kind, value) if kind in _PLAIN_KEYS else skeleton.key_of(value))
                    continue
                value = variables.get(read, _MISSING)
                kind = type(value)
                if kind in _PLAIN_KEYS:
                    values.append((kind, value))
                elif read in PURE_GLOBALS and value is self.env.globals.get(read):
                    values.append(read)
                else:
                    values.append(skeleton.key_of(value, scalars_only=True))
        except (skeleton.Unknowable, AttributeError):
            return None
        return tuple(values)

    def _reads(self, file: str) -> tuple[str | tuple[str, str], ...] | None:
        """What a context file reads (names, or (name, attribute) when only attributes are read),
        or None if it pulls in other templates (not reusable)."""
        try:
            tree = self.env.parse(self.sources[file][0] if file in self.sources else self._file_text(file))
        except (OSError, TemplateSyntaxError):
            return None  # rendering it reports the problem with its path and line
        if any(True for _ in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport))):
            return None
        undeclared = meta.find_undeclared_variables(tree) | {"email_locale"}
        whole, paths = skeleton.reads(tree, undeclared)
        return ("email_locale", *sorted(whole - {"email_locale"}), *sorted(p for p in paths if p[0] not in whole))

    def _file_text(self, file: str) -> str:
        return Path(self.path_of(file)).read_text(encoding="utf-8")

    def _introduction(self, module: ContextFile, file: str) -> IntroductionView:
        """The introduction's body is what its file prints; ``{% set subject = "…" %}`` gives its subject."""
        subject = getattr(module, "subject", None)
        if subject is None:
            message = 'the introduction needs a subject: {% set subject = "…" %} at the top'
            raise TemplateError([Problem(self.path_of(file), None, message)])
        subject = " ".join(str(subject).split())
        body = tidy_text(str(module)).rstrip("\n")
        return IntroductionView(subject=subject, body=body, mailto=self.encoder.mailto(subject, body))

    def path_of(self, name: str) -> str:
        return str(self.templates_dir / name)

    # ------------------------------------------------------------------ rendering
    def render(self, template: str, locale: str | None, context: Mapping[str, Any]) -> RenderedEmail:
        """Subject (one line), HTML (inline styles) and text of ``template`` for ``context``.

        Raises ``TemplateError`` naming the file and line of whatever went wrong, a limit passed
        included (``limits``: the whole call has ``time_limit`` seconds, each part ``output_limit``
        characters).
        """
        started = self.guard.start()
        try:
            chosen, (subject_name, html_name, text_name) = self.resolve(template, locale)
            variables = {**self.env.globals, **context, "email_locale": chosen}
            parts = self._parts(
                (subject_name, html_name, text_name), variables, self.add_context(template, chosen, variables)
            )
            subject = parts(subject_name)
            html = parts(html_name)
            text = parts(text_name)
        finally:
            self.guard.stop(started)
        if self.inline_each_email:
            html = self.inliner.inline(html)
        return RenderedEmail(subject=" ".join(subject.split()), html=html, text=tidy_text(text))

    def render_subject(self, template: str, locale: str | None, context: Mapping[str, Any]) -> str:
        """Only the subject of ``template`` (follow-ups quote the first email's)."""
        started = self.guard.start()
        try:
            chosen, (subject_name, _, _) = self.resolve(template, locale)
            variables = {**self.env.globals, **context, "email_locale": chosen}
            parts = self._parts((subject_name,), variables, self.add_context(template, chosen, variables))
            return " ".join(parts(subject_name).split())
        finally:
            self.guard.stop(started)

    # ------------------------------------------------------------------ skeletons
    def _parts(self, names: tuple[str, ...], variables: dict[str, Any], fresh: frozenset[str]) -> Callable[[str], str]:
        """Renders one part of this email: from its group's skeleton when there is one (see ``skeleton``).

        The plan covers only the names the parts read (a name no part reads cannot change them).
        """
        plan = None
        if self.skeletons:
            reads = self._part_reads(names)
            plan = self._planner.plan(variables, fresh, reads)
        if plan is None:
            return lambda name: str(self._run(name, variables))
        group = self._skeletons.get(plan.key)
        if group is None:
            if len(self._skeletons) >= _SKELETON_LIMIT:  # keys holding per-email values never repeat
                self._skeletons.clear()
            group = self._skeletons[plan.key] = {}

        def part(name: str) -> str:
            found = group.get(name, _MISSING)
            if found is _MISSING:
                found = group[name] = self._skeleton(name, plan)
            if found is None:
                return str(self._run(name, variables))
            assert isinstance(found, skeleton.Skeleton)
            return found.fill(plan.values)

        return part

    def _part_reads(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """The names the skeletal ones of ``names`` read, with the layouts they extend (and ``email_locale``,
        which ``localized()`` reads from the context)."""
        found = self._reads_of_parts.get(names)
        if found is None:
            reads = {"email_locale"}
            for name in names:
                reads |= self._file_reads(name)
            found = self._reads_of_parts[names] = tuple(sorted(reads))
        return found

    def _file_reads(self, name: str) -> frozenset[str]:
        if not self._skeletal_file(name):
            return frozenset()  # rendered the ordinary way, with every variable
        tree = self.env.parse(self.sources[name][0])
        reads = set(meta.find_undeclared_variables(tree))
        for parent in skeleton.parent_names(tree) or ():
            reads |= self._file_reads(parent)
        return frozenset(reads)

    def _skeleton(self, name: str, plan: skeleton.Plan) -> skeleton.Skeleton | None:
        """``name`` rendered over slots, or None when the template does something slots cannot follow.

        Any error counts as None: the ordinary render that follows reports it with path and line.
        """
        if not self._skeletal_file(name) or name in self._runaway:
            return None  # (a runaway one: the ordinary render raises its problem at once)
        try:
            template = self.skeleton_env.get_template(name)
            context = template.new_context(plan.build(), shared=True)
            try:
                return skeleton.render_skeleton(lambda: self.guard.joined(template.root_render_func(context)))
            except RenderLimitError:  # no ordinary render after it: the limit is the email's
                self.skeleton_env.handle_exception()  # rewrites the traceback to template lines, and raises
        except RenderLimitError as error:
            problems = self.problems_from(error, default_file=name)
            if isinstance(error, TimeLimitError):
                self._timed_out(name, problems)
            raise TemplateError(problems) from error
        except Exception:  # see the docstring
            return None
        return None

    def _skeletal_file(self, name: str) -> bool:
        """Whether ``name`` and the layouts it extends never capture printed output (``skeleton.capturing``)."""
        known = self._skeletal.get(name)
        if known is None:
            self._skeletal[name] = False  # a template extending itself stops here
            if name in self._broken:
                return False  # it does not compile: the ordinary render reports why
            try:
                tree = self.env.parse(self.sources[name][0])
            except Exception:  # the ordinary render reports it
                return False
            parents = None if skeleton.capturing(tree) else skeleton.parent_names(tree)
            known = parents is not None and all(self._skeletal_file(parent) for parent in parents)
            self._skeletal[name] = known
        return known

    def problems_rendering(self, template: str, locale: str | None, context: Mapping[str, Any]) -> list[Problem]:
        """Every problem rendering ``template`` meets, each file on its own (one error hides no other)."""
        chosen, names = self.resolve(template, locale)
        variables = {**self.env.globals, **context, "email_locale": chosen}
        started = self.guard.start()
        try:
            self.add_context(template, chosen, variables)
        except TemplateError as error:
            return error.problems
        finally:
            self.guard.stop(started)
        problems: list[Problem] = []
        for name in names:
            started = self.guard.start()
            try:
                self._run(name, variables)
            except TemplateError as error:
                problems += error.problems
            finally:
                self.guard.stop(started)
        return problems

    def _run(self, name: str, variables: dict[str, Any], *, as_module: bool = False) -> Any:
        """Render ``name`` with ``variables`` (globals included: they are shared, not copied again)."""
        template = self._templates.get(name)
        if template is None and name in self._broken:
            raise TemplateError(self._broken[name])
        if name in self._runaway:
            raise TemplateError(self._runaway[name])
        try:
            if template is None:
                template = self._templates[name] = self.env.get_template(name)
            context = template.new_context(variables, shared=True)
            try:
                if as_module:
                    return ContextFile(template, context, self.guard.collected(template.root_render_func(context)))
                return self.guard.joined(template.root_render_func(context))
            except Exception:
                self.env.handle_exception()  # rewrites the traceback to template lines, and raises
        except RefusedTemplateError as error:
            raise TemplateError([Problem(error.path, None, error.reason)]) from error
        except TemplateNotFound as error:
            missing = error.name or name
            message = "template not found"
            if not self.templates_dir.is_dir():
                message += f" (no templates directory {self.templates_dir}: set REFERRAL_TEMPLATES_DIR)"
            raise TemplateError([Problem(self.path_of(str(missing)), None, message)]) from error
        except TemplateError:
            raise
        except Exception as error:
            problems = self.problems_from(error, default_file=name)
            if isinstance(error, TimeLimitError):
                self._timed_out(name, problems)
            raise TemplateError(problems) from error

    def _timed_out(self, name: str, problems: list[Problem]) -> None:
        count = self._timeouts[name] = self._timeouts.get(name, 0) + 1
        if count >= _RUNAWAY_AFTER:
            self._runaway[name] = problems

    def problems_from(self, error: BaseException, default_file: str | None = None) -> list[Problem]:
        """``path:line: message`` for an error raised by a template, its compiler or its sandbox."""
        if isinstance(error, TemplateSyntaxError):
            path = error.filename or (self.path_of(error.name) if error.name else self.path_of(default_file or "?"))
            inlined = self.line_maps.get(path)
            line = inlined.original_line(error.lineno) if inlined and error.lineno else error.lineno
            unknown = _UNKNOWN_NAME.fullmatch(error.message or "")
            if unknown is not None:
                return [Problem(path, line, f"no {unknown['kind']} named {unknown['name']}")]
            return [Problem(path, line, f"syntax error: {error.message}")]
        where = self._template_frame(error.__traceback__)
        if isinstance(error, OutputLimitError) and error.where is not None:
            inlined = self.line_maps.get(error.where[0])
            where = (error.where[0], inlined.original_line(error.where[1]) if inlined else error.where[1])
        if where is not None:
            return [Problem(where[0], where[1], describe(error))]
        if default_file is None:
            raise error
        return [Problem(self.path_of(default_file), None, describe(error))]

    def _template_frame(self, tb: TracebackType | None) -> tuple[str, int] | None:
        """The innermost frame of a template in the traceback (Jinja rewrites frames to template lines)."""
        found = None
        for frame, line in _walk(tb):
            filename = frame.f_code.co_filename
            if filename in self.filenames:
                inlined = self.line_maps.get(filename)
                found = (filename, inlined.original_line(line) if inlined else line)
        return found


def _walk(tb: TracebackType | None) -> Iterator[tuple[Any, int]]:
    while tb is not None:
        yield tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next


#: Jinja's words for a filter or test that does not exist (at compile time, or at run time inside ``if``).
_UNKNOWN_NAME = re.compile(r"No (?P<kind>filter|test) named (?P<name>'[^']*')(?: found)?\.")
#: Jinja's names of internal types, as a marketer reads them.
READABLE_TYPES = {"'template_module'": "the imported template", "'context_file'": "the _context file"}
_OBJECT_TYPE = re.compile(r"'(?:\w+\.)*(\w+?)(?:View)? object'")


def describe(error: BaseException) -> str:
    """A marketer-readable message: ``'customer' has no attribute 'nickname'``."""
    message = str(error)
    unknown = _UNKNOWN_NAME.fullmatch(message)
    if unknown is not None:
        return f"no {unknown['kind']} named {unknown['name']}"
    if isinstance(error, UnknownFunctionError | RenderLimitError):
        return message
    if isinstance(error, UndefinedError):
        named = _OBJECT_TYPE.sub(lambda m: "'" + re.sub(r"(?<!^)(?=[A-Z])", "_", m.group(1)).lower() + "'", message)
        for internal, readable in READABLE_TYPES.items():
            named = named.replace(internal, readable)
        return f"undefined: {named}"
    if isinstance(error, SecurityError):
        return f"not allowed in templates: {message}"
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
