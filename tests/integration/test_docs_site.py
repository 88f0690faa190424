"""The documentation site's build-time code (docs/hooks/): Sphinx roles, preset pages, and a strict build."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest

import melplug
from tests._util import ROOT

HOOKS = ROOT / "docs" / "hooks"
PRESETS_MD = (ROOT / "docs" / "presets.md").read_text(encoding="utf-8")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"docs_hooks_{name}", HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def roles():
    pytest.importorskip("griffe", reason="the role converter is a griffe extension (melplug[docs])")
    return _load("griffe_roles")


@pytest.fixture(scope="module")
def package():
    griffe = pytest.importorskip("griffe")
    return griffe.load("melplug", search_paths=[str(ROOT)])


@pytest.fixture(scope="module")
def presets_hook():
    return _load("presets")


def _ref(identifier, shown):
    return f'<autoref identifier="{identifier}" optional>``{shown}``</autoref>'


@pytest.mark.parametrize(
    ("where", "role", "expected"),
    [
        (
            "melplug.presets.preset",
            ":class:`FeatureExtractor`",
            _ref("melplug.core.FeatureExtractor", "FeatureExtractor"),
        ),
        ("melplug.presets.preset", ":data:`PRESETS`", _ref("melplug.presets.PRESETS", "PRESETS")),
        ("melplug.presets", ":class:`~melplug.MelPlan`", _ref("melplug._plan.MelPlan", "MelPlan")),
        ("melplug.core", ":mod:`._plan`", _ref("melplug._plan", "._plan")),
        (
            "melplug.core.FeatureExtractor.get_config",
            ":meth:`replace`",
            _ref("melplug.core.FeatureExtractor.replace", "replace"),
        ),
        ("melplug.core", ":func:`the presets <melplug.preset>`", _ref("melplug.presets.preset", "the presets")),
        ("melplug.core", ":func:`!melplug.preset`", "``melplug.preset``"),
        ("melplug.core", ":class:`numpy.ndarray`", "``numpy.ndarray``"),
        ("melplug.core", ":py:data:`no_such_name`", "``no_such_name``"),
    ],
)
def test_roles_become_cross_references_or_code(roles, package, where, role, expected):
    obj = package.modules_collection[where]
    assert roles.convert(f"See {role}.", obj, package.modules_collection) == f"See {expected}."


def test_no_role_is_left_in_any_docstring(roles):
    griffe = pytest.importorskip("griffe")
    package = griffe.load(
        "melplug",
        search_paths=[str(ROOT)],
        extensions=griffe.load_extensions(f"{HOOKS / 'griffe_roles.py'}:SphinxRoles"),
    )
    left = [
        (obj.path, match[0])
        for obj in roles._walk(package, set())
        if obj.docstring is not None
        for match in roles.ROLE_RE.finditer(obj.docstring.value)
    ]
    assert not left
    assert "<autoref" in package["preset"].docstring.value  # and the source is untouched:
    assert ":data:`PRESETS`" in melplug.preset.__doc__


def test_every_preset_gets_a_section_and_an_overview_row(presets_hook):
    pages = presets_hook.pages(PRESETS_MD)
    index = pages.pop(presets_hook.INDEX)
    for name in melplug.PRESETS:
        holders = [path for path, text in pages.items() if f"\n## `{name}`\n" in text]
        assert len(holders) == 1, (name, holders)
        assert f"[`{name}`]({holders[0].removeprefix('presets/')}#" in index
        assert f'melplug.preset("{name}")' in pages[holders[0]]
    assert {"presets/transformers.md", "presets/kaldi-native-fbank.md", "presets/keras.md"} <= set(pages)
    whisper = pages["presets/transformers.md"]
    assert "2.0e-5 (1.3e-8" in whisper and "40 022" in whisper and "output_frames=3000" in whisper


def test_a_preset_not_in_the_tables_shows_dashes(presets_hook):
    # A preset added to melplug.PRESETS before it is measured: no row in either table of presets.md, no steps.
    stripped = "\n".join(
        line
        for line in PRESETS_MD.splitlines()
        if not line.startswith(("| `whisper` |", "| whisper |", "- **whisper**"))
    )
    info = presets_hook.collect(stripped)["whisper"]
    assert info["family"] == "transformers"  # from the table in melplug.presets' docstring
    assert "WhisperFeatureExtractor" in info["reference"]
    dash = presets_hook.DASH
    assert next(v for k, v in info["table"].items() if k.startswith("max error")) == dash
    assert set(info["speed"].values()) == {dash}
    assert "30 s" in info["steps"]  # the builder's comments
    text = presets_hook.render_family("transformers", ["whisper"], {"whisper": info})
    assert f"| **speed** | {dash} |" in text


def test_the_site_builds_strict_with_links_and_preset_pages(tmp_path):
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    api = (site / "api" / "melplug" / "index.html").read_text(encoding="utf-8")
    assert not re.search(r":(class|func|data|mod|meth|attr):`", api)
    assert re.search(r'<a class="autorefs autorefs-internal"[^>]*href="#melplug.MelSpectrogram"><code>', api)
    for family in {"keras", "transformers", "kaldi-native-fbank", "librosa", "torchaudio"}:
        assert (site / "presets" / family / "index.html").is_file()
    assert not (site / "hooks").exists()
