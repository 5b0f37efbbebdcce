"""YAML that remembers where every value came from, for ``path:line: message`` errors.

PyYAML's composer already knows the line of each node; we keep a map from the location of each
value (a tuple of keys and indexes, as pydantic reports it in ``ValidationError.errors()``)
to its 1-based line, so a validation error points at the offending node, not the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from referral_automation.errors import ConfigError, Problem

Location = tuple[int | str, ...]


@dataclass
class YamlDocument:
    """The parsed data of one YAML file and the line of each node in it."""

    path: Path
    data: Any
    lines: dict[Location, int] = field(default_factory=dict)

    def line_of(self, location: Location) -> int | None:
        """The line of ``location``, or of its nearest ancestor that has one."""
        loc = tuple(location)
        while loc:
            if loc in self.lines:
                return self.lines[loc]
            loc = loc[:-1]
        return self.lines.get((), None)

    def problem(self, location: Location, message: str) -> Problem:
        return Problem(str(self.path), self.line_of(location), message)


#: A config file is a page or two of YAML: anything near these bounds is a mistake or an attack
#: (a "billion laughs" of nested aliases expands a few hundred bytes into millions of values).
MAX_FILE_BYTES = 1 << 20
MAX_VALUES = 100_000


class _Builder:
    """Builds plain Python data from composed nodes, counting every value it builds: aliases are
    shared nodes, so a file of a few aliases can stand for more values than memory holds."""

    def __init__(self, lines: dict[Location, int]) -> None:
        self.lines = lines
        self.remaining = MAX_VALUES

    def build(self, node: yaml.Node, loc: Location) -> Any:
        """A mapping entry's line is its key's line (where a reader looks)."""
        self.remaining -= 1
        if self.remaining < 0:
            problem = f"more than {MAX_VALUES:,} values (aliases that expand without end?)"
            raise yaml.MarkedYAMLError(problem=problem, problem_mark=node.start_mark)
        self.lines.setdefault(loc, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, loc)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*loc, i)) for i, item in enumerate(node.value)]
        return yaml.SafeLoader("").construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, loc: Location) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):  # a list or a mapping is no name
                raise yaml.MarkedYAMLError(problem="a key must be a plain name", problem_mark=key_node.start_mark)
            key = yaml.SafeLoader("").construct_object(key_node, deep=True)
            if key in result:
                raise yaml.MarkedYAMLError(problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark)
            self.lines[(*loc, key)] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, (*loc, key))
        return result


def load_yaml(path: Path) -> YamlDocument:
    """Parse one YAML file; raise ``ConfigError`` with ``path:line`` on a syntax error."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError([Problem(str(path), None, f"cannot read: {exc.strerror}")]) from exc
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError([Problem(str(path), None, f"larger than {MAX_FILE_BYTES >> 20} MiB: is this a config file?")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad_line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError([Problem(str(path), bad_line, "not UTF-8 text: save the file as UTF-8")]) from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        lines: dict[Location, int] = {}
        data = {} if node is None else _Builder(lines).build(node, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        message = " ".join(part for part in (exc.context, exc.problem) if part)
        raise ConfigError([Problem(str(path), line, f"invalid YAML: {message}")]) from exc
    except yaml.YAMLError as exc:
        raise ConfigError([Problem(str(path), None, f"invalid YAML: {exc}")]) from exc
    except RecursionError as exc:  # the composer and the builder recurse once a level of nesting
        raise ConfigError([Problem(str(path), None, "invalid YAML: nested too deeply")]) from exc
    return YamlDocument(path=path, data=data, lines=lines)
