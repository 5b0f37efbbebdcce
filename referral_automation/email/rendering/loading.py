"""Template files, confined to the templates directory.

Whoever can commit to the templates repository writes the templates, and a symbolic link is a
file like any other in a commit: ``_context/leak.txt -> /etc/passwd`` (or ``/proc/self/environ``,
the process's secrets) would be rendered into every email. So a template is read only when it is
a *regular file* whose *real path* (every link resolved) lies inside the templates directory:

- a link to a file or folder inside the directory is followed (it is only another name);
- a link leading outside it, and anything that is not a regular file (a named pipe, which would
  block the reader forever, a device, a socket), is refused: never listed, never read, reported
  by ``validate`` as ``path: message``;
- the listing follows linked folders inside the directory once each, so a link to one of its
  own parents (``loop -> ..``) cannot make it walk forever.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, TemplateNotFound
from jinja2.loaders import split_template_path

from referral_automation.errors import Problem

#: What a file that is not a regular file is, by ``stat`` kind, as ``validate`` says it.
_KINDS = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class RefusedTemplateError(TemplateNotFound):
    """A template name whose file the renderer will not read (see the module docstring)."""

    def __init__(self, name: str, path: str, reason: str) -> None:
        super().__init__(name, f"{path}: {reason}")
        self.path = path
        self.reason = reason


def inside(real: str, root: str) -> bool:
    """Whether the resolved path ``real`` is ``root`` or lies under it (both resolved)."""
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def refusal(real: str, root: str) -> str | None:
    """Why the file whose real path (every link resolved) is ``real`` may not be read as a template
    (None: it may), ``root`` resolved."""
    if not inside(real, root):
        what = "folder" if os.path.isdir(real) else "file"
        return (
            f"the template {what} is a link to {real}, outside the templates directory (only files inside it are read)"
        )
    try:
        mode = os.stat(real).st_mode
    except OSError as error:
        return f"the template file cannot be read ({error.strerror or error})"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return f"the template file is {kind}, not a regular file (only regular files are read)"


class ConfinedLoader(FileSystemLoader):
    """``FileSystemLoader`` reading only regular files whose real path is inside its directory."""

    def __init__(self, directory: Path) -> None:
        super().__init__(str(directory), encoding="utf-8")
        self.directory = str(directory)
        self.root = os.path.realpath(directory)
        #: Files and folders the listing refused, with why (``validate`` reports them).
        self.refused: list[Problem] = []

    def get_source(self, environment: Any, template: str) -> tuple[str, str, Callable[[], bool]]:
        pieces = split_template_path(template)  # refuses "..": a name cannot climb out either
        filename = os.path.normpath(posixpath.join(self.directory, *pieces))
        if not os.path.lexists(filename):
            raise TemplateNotFound(template)
        real = os.path.realpath(filename)
        reason = refusal(real, self.root)
        if reason is not None:
            raise RefusedTemplateError(template, filename, reason)
        if not os.path.isfile(real):
            raise TemplateNotFound(template)
        with open(real, "rb") as file:  # the path checked, links resolved: no second lookup
            source = file.read().decode(self.encoding)
        mtime = os.path.getmtime(real)

        def uptodate() -> bool:
            try:
                return os.path.getmtime(real) == mtime
            except OSError:
                return False

        return source, filename, uptodate

    def list_templates(self) -> list[str]:
        """Every readable file's name (``a/b.txt``); refused ones go to ``refused`` instead."""
        self.refused = []
        return sorted(self._walk())

    def _walk(self) -> Iterator[str]:
        linked = {self.root}  # folders reached through a link, each walked once: a loop ends there
        for folder, dirnames, filenames in os.walk(self.directory, followlinks=True):
            kept = []
            for name in sorted(dirnames):
                path = os.path.join(folder, name)
                if not os.path.islink(path):
                    kept.append(name)
                    continue
                real = os.path.realpath(path)
                reason = refusal(real, self.root)
                if reason is not None:
                    self.refused.append(Problem(path, None, reason))
                elif real not in linked:
                    linked.add(real)
                    kept.append(name)
            dirnames[:] = kept
            for name in sorted(filenames):
                path = os.path.join(folder, name)
                reason = refusal(os.path.realpath(path), self.root)
                if reason is not None:
                    self.refused.append(Problem(path, None, reason))
                    continue
                yield os.path.relpath(path, self.directory).replace(os.sep, "/")

    def read_text(self, name: str) -> str | None:
        """A file that is not a template (the stylesheet), confined the same way; None if absent or refused."""
        try:
            return ConfinedLoader.get_source(self, None, name)[0]  # not a subclass's template hooks
        except TemplateNotFound:
            return None
