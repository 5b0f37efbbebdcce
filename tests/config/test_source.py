"""YAML that remembers the line of every value, and YAML mistakes as path:line: message."""

from __future__ import annotations

from pathlib import Path

import pytest

from referral_automation.config.source import load_yaml
from referral_automation.errors import ConfigError

DOCUMENT = """\
# a comment
rules:
  - id: nps_promoter
    when:
      property: score
      gte: 9
  - {id: milestone, priority: 10}
guards:
  tenure: {min_days: 90}
"""


def write(tmp_path: Path, content: str | bytes) -> Path:
    path = tmp_path / "file.yaml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_it_parses_plain_data(tmp_path: Path) -> None:
    """It gives the same data as a safe YAML load."""
    doc = load_yaml(write(tmp_path, DOCUMENT))
    assert doc.data == {
        "rules": [
            {"id": "nps_promoter", "when": {"property": "score", "gte": 9}},
            {"id": "milestone", "priority": 10},
        ],
        "guards": {"tenure": {"min_days": 90}},
    }


LINE_CASES = [
    ("mapping-key", ("rules",), 2),
    ("list-item", ("rules", 0), 3),
    ("key-in-item", ("rules", 0, "id"), 3),
    ("nested-block", ("rules", 0, "when"), 4),
    ("deep-key", ("rules", 0, "when", "gte"), 6),
    ("flow-item", ("rules", 1), 7),
    ("key-in-flow-mapping", ("rules", 1, "priority"), 7),
    ("flow-mapping-value", ("guards", "tenure", "min_days"), 9),
    ("unknown-child-falls-back-to-parent", ("rules", 0, "when", "lte"), 4),
    ("unknown-index-falls-back-to-list", ("rules", 7, "id"), 2),
    ("unknown-top-level-key", ("nothing",), 2),
]


@pytest.mark.parametrize(("location", "line"), [c[1:] for c in LINE_CASES], ids=[c[0] for c in LINE_CASES])
def test_line_of(tmp_path: Path, location: tuple[int | str, ...], line: int) -> None:
    """It knows the line of every key and item, and of the nearest ancestor for a location it has not seen."""
    assert load_yaml(write(tmp_path, DOCUMENT)).line_of(location) == line


def test_problem_names_the_file_and_line(tmp_path: Path) -> None:
    """It makes a path:line: message problem for a location."""
    path = write(tmp_path, DOCUMENT)
    problem = load_yaml(path).problem(("rules", 0, "when", "gte"), "too high")
    assert str(problem) == f"{path}:6: too high"


def test_aliases_resolve_to_the_anchored_data(tmp_path: Path) -> None:
    """It resolves anchors and aliases like a normal YAML load."""
    doc = load_yaml(write(tmp_path, "base: &b [mon, tue]\nother: *b\n"))
    assert doc.data == {"base": ["mon", "tue"], "other": ["mon", "tue"]}
    assert doc.line_of(("other",)) == 2


def test_an_empty_file_is_an_empty_mapping(tmp_path: Path) -> None:
    """It reads an empty or comment-only file as no keys at all."""
    assert load_yaml(write(tmp_path, "")).data == {}
    assert load_yaml(write(tmp_path, "# only a comment\n")).data == {}


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    """It reads a UTF-8 file saved with a byte order mark."""
    assert load_yaml(write(tmp_path, b"\xef\xbb\xbfa: 1\n")).data == {"a": 1}


ERROR_CASES = [
    ("duplicate-key", "a: 1\nb: 2\na: 3\n", 3, "invalid YAML: duplicate key 'a'"),
    ("duplicate-nested-key", "a:\n  x: 1\n  y: 2\n  x: 3\n", 4, "invalid YAML: duplicate key 'x'"),
    ("duplicate-key-in-flow-mapping", "a: {x: 1, x: 2}\n", 1, "invalid YAML: duplicate key 'x'"),
    ("duplicate-key-in-list-item", "a:\n  - id: 1\n    id: 2\n", 3, "invalid YAML: duplicate key 'id'"),
    ("list-as-key", "? [a, b]\n: 1\n", 1, "invalid YAML: a key must be a plain name"),
    ("mapping-as-key", "x: 1\n? {a: b}\n: 1\n", 2, "invalid YAML: a key must be a plain name"),
    ("tab-indent", "a:\n\tb: 1\n", 2, "invalid YAML: while scanning for the next token found character '\\t' that "
     "cannot start any token"),
    ("unclosed-flow-sequence", "a: [1, 2\nb: 3\n", 2, "invalid YAML"),
    ("unclosed-quote", 'a: "open\nb: 3\n', 3, "invalid YAML"),
    ("bad-indentation", "a:\n  b: 1\n c: 2\n", 3, "invalid YAML"),
    ("two-documents", "a: 1\n---\nb: 2\n", 2, "invalid YAML: expected a single document in the stream"),
    ("unknown-alias", "a: *nowhere\n", 1, "invalid YAML"),
    ("python-tag", "a: 1\nb: !!python/name:os.system ''\n", 2, "invalid YAML: could not determine a constructor"),
    ("custom-tag", "a: !env HOME\n", 1, "invalid YAML: could not determine a constructor for the tag '!env'"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "message"), [c[1:] for c in ERROR_CASES], ids=[c[0] for c in ERROR_CASES])
def test_a_yaml_mistake_is_a_problem_with_its_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    """It raises ConfigError with one path:line: message problem, never a raw parser exception."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_yaml(path)
    (problem,) = caught.value.problems
    assert (problem.path, problem.line) == (str(path), line), str(problem)
    assert problem.message.startswith(message)


def test_a_file_that_is_not_utf8_is_a_problem_at_its_line(tmp_path: Path) -> None:
    """It reports text in another encoding at the line of the first bad byte."""
    path = write(tmp_path, "a: 1\nb: café\n".encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_yaml(path)
    assert [str(p) for p in caught.value.problems] == [f"{path}:2: not UTF-8 text: save the file as UTF-8"]


def test_a_missing_file_is_a_problem(tmp_path: Path) -> None:
    """It reports a file it cannot read, without a line."""
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError) as caught:
        load_yaml(path)
    assert [str(p) for p in caught.value.problems] == [f"{path}: cannot read: No such file or directory"]


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    """It refuses a few hundred bytes of nested aliases that stand for a million values (each level
    more makes it ten times more), at the line where the count runs out, instead of expanding them."""
    lines = ['a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in range(1, 6):
        lines.append(f"{chr(97 + level)}: &{chr(97 + level)} [{', '.join(['*' + chr(96 + level)] * 10)}]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(ConfigError) as caught:
        load_yaml(path)

    [problem] = caught.value.problems
    assert "more than 100,000 values" in problem.message
    assert problem.line is not None


def test_a_file_too_big_for_a_config_is_refused(tmp_path: Path) -> None:
    """It refuses a file larger than a config can be without reading it all."""
    path = tmp_path / "huge.yaml"
    path.write_bytes(b"# " + b"x" * (2 << 20) + b"\n")

    with pytest.raises(ConfigError, match="larger than 1 MiB"):
        load_yaml(path)


def test_nesting_too_deep_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    """It reports a file nested thousands of levels deep as a problem of that file."""
    path = tmp_path / "deep.yaml"
    path.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")

    with pytest.raises(ConfigError, match="nested too deeply"):
        load_yaml(path)
