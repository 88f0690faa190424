"""A griffe extension: Sphinx roles in docstrings become cross-references on the site.

melplug's docstrings use Sphinx roles (``:class:`FeatureExtractor```,
``:func:`melplug.kernels.mel_spectrogram```, ``:data:`PRESETS```, ``:mod:`._plan```,
``:meth:`replace```), which mkdocstrings would print literally.  When griffe has
loaded the package, before any docstring is parsed, each role is rewritten
(the docstrings in the source are not touched):

- a target that names an object griffe knows, resolved as Sphinx does (absolute;
  ``.name`` relative to the current module, one more dot per level up; otherwise
  the enclosing classes, then the module, then the package), becomes an autorefs
  cross-reference to that object's full path, shown as code.  It is *optional*:
  where the object is not rendered on the site (a private helper, a module
  without an API entry) it stays code and is no broken link, so
  ``mkdocs build --strict`` stays clean;
- any other target (``numpy.ndarray``, a typo) is shown as code.

Sphinx's decorations are honoured: ``~a.b.C`` shows ``C``, ``!x`` is never a
link, ``title <target>`` shows the title.  mkdocs.yml loads this file under
the python handler's ``extensions``.
"""

from __future__ import annotations

import html
import re
from typing import Any

import griffe

#: A Sphinx role: ``:class:`X```, ``:py:func:`~a.b```, ``:meth:`title <C.m>```.
ROLE_RE = re.compile(
    r"(?<![\w`]):(?:py:)?(?P<role>class|func|meth|data|attr|mod|obj|exc|const|term|ref):`(?P<target>[^`]+)`"
)
_TITLED = re.compile(r"^(?P<title>.*?)\s*<(?P<target>[^<>]+)>$", re.S)


def _lookup(collection: Any, path: str) -> Any:
    try:
        return collection[path]
    except (KeyError, ValueError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _identifier(found: Any) -> str:
    """The path autorefs knows the object by: an import's target, else the object's own path."""
    if found.is_alias:
        try:
            return found.final_target.path
        except (griffe.AliasResolutionError, griffe.CyclicAliasError):
            return found.target_path
    return found.path


def resolve(target: str, obj: Any, collection: Any) -> str | None:
    """The full path of the object ``target`` names in ``obj``'s docstring, or None."""
    module = obj if obj.is_module else obj.module
    if target.startswith("."):
        dots = len(target) - len(target.lstrip("."))
        base = module.path.split(".")
        if not module.is_package:  # ``.x`` in a plain module is a sibling of it
            base = base[:-1]
        base = base[: len(base) - (dots - 1)] if dots > 1 else base
        candidates = [".".join([*base, target[dots:]])] if base else []
    else:
        scopes = []
        scope = obj
        while scope is not None and not scope.is_module:
            if scope.is_class:
                scopes.append(scope.path)
            scope = scope.parent
        scopes += [module.path, module.package.path]
        candidates = [target, *(f"{scope}.{target}" for scope in scopes)]
    for path in candidates:
        found = _lookup(collection, path)
        if found is not None:
            return _identifier(found)
    return None


def convert(text: str, obj: Any, collection: Any) -> str:
    """``text`` with every Sphinx role replaced by a cross-reference (or code, see the module docstring)."""

    def replace(match: re.Match) -> str:
        target = match["target"].strip()
        titled = _TITLED.match(target)
        title = None
        if titled:
            title, target = titled["title"], titled["target"].strip()
        link = not target.startswith("!")
        target = target.lstrip("!")
        short = target.startswith("~")
        target = target.lstrip("~")
        if match["role"] in ("term", "ref"):
            link = False
        shown = title or (target.rsplit(".", 1)[-1] if short else target)
        code = f"``{shown}``" if "`" not in shown else f"<code>{html.escape(shown)}</code>"
        path = resolve(target, obj, collection) if link else None
        if path is None:
            return code
        return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'

    return ROLE_RE.sub(replace, text)


def _walk(obj: Any, seen: set[str]):
    if obj.is_alias or obj.path in seen:
        return
    seen.add(obj.path)
    yield obj
    for member in obj.members.values():
        yield from _walk(member, seen)


class SphinxRoles(griffe.Extension):
    """Rewrites the Sphinx roles of every docstring of a loaded package (see the module docstring)."""

    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:  # noqa: D102
        for obj in _walk(pkg, set()):
            if obj.docstring is not None and ":" in obj.docstring.value:
                obj.docstring.value = convert(obj.docstring.value, obj, loader.modules_collection)
