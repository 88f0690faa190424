"""Collection rules for the whole tree: doctests whose optional dependency is missing are skipped.

``pytest`` collects ``tests/`` and ``melplug/`` with ``--doctest-modules``
(pyproject.toml), so every ``.py`` file is imported and every docstring
example runs.  A module that imports an optional extra, or an example that
does, would be a collection error or a failure in an environment without that
extra; here it is reported as skipped, naming what is missing.  This file lives
at the root because a conftest's collection hooks only see paths below it.
Test modules skip themselves (``pytest.importorskip`` at their top).
"""

from __future__ import annotations

import importlib.util

import pytest

#: Dotted name of a module (its import needs them) or of a documented object
#: (its example imports them) -> the optional top-level modules it needs.
#: A new module or example that needs an extra gets an entry here.
NEEDS: dict[str, tuple[str, ...]] = {
    "melplug.grain": ("grain",),
    "melplug.hf.MelSpectrogram": ("datasets",),
    "melplug.plot.plot_mel": ("matplotlib",),
    "melplug.tf": ("tensorflow",),
    "tests._grain_helpers": ("grain",),
    "tests.references.mel": ("scipy",),
}


def _missing(name: str) -> list[str]:
    """The optional modules that ``name`` (or an enclosing module or object) needs and that are not installed."""
    needed = {m for key, modules in NEEDS.items() if name == key or name.startswith(key + ".") for m in modules}
    return sorted(m for m in needed if importlib.util.find_spec(m) is None)


def _reason(what: str, missing: list[str]) -> str:
    return f"{what} needs {', '.join(missing)}, which is not installed"


class _Unavailable(pytest.File):
    """Stands in for a module that cannot be imported here: collecting it is a skip with the reason."""

    reason = ""

    def collect(self):
        pytest.skip(self.reason)


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(file_path, parent):
    collectors = yield
    try:
        parts = file_path.relative_to(parent.config.rootpath).with_suffix("").parts
    except ValueError:  # outside the repository
        return collectors
    module = ".".join(p for p in parts if p != "__init__")
    missing = _missing(module)
    if not missing or not collectors:
        return collectors
    node = _Unavailable.from_parent(parent, path=file_path)
    node.reason = _reason(f"importing {file_path.relative_to(parent.config.rootpath).as_posix()}", missing)
    return [node]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if type(item).__name__ == "DoctestItem":  # named by the object, e.g. "melplug.hf.MelSpectrogram"
            missing = _missing(item.name)
            if missing:
                item.add_marker(pytest.mark.skip(reason=_reason(f"the example of {item.name}", missing)))
