"""Source stamps (``melplug._stamp``) and the cache key they feed: the Hugging Face fingerprint."""

from __future__ import annotations

import shutil

import pytest

from melplug import _stamp
from tests._util import run_python


def _tree(root, files: dict[str, str]):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_files_stamp_follows_names_and_bytes(tmp_path):
    root = _tree(tmp_path, {"a.py": "x = 1\n", "b.py": "y = 2\n"})
    stamp = _stamp.files_stamp(["a.py", "b.py"], root)
    assert len(stamp) == 64 and stamp == _stamp.files_stamp(["a.py", "b.py"], root)
    assert stamp == _stamp.files_stamp([root / "a.py", root / "b.py"], root)  # absolute paths: the same stamp
    assert stamp != _stamp.files_stamp(["b.py", "a.py"], root)
    (root / "b.py").write_text("y = 3\n")
    assert stamp != _stamp.files_stamp(["a.py", "b.py"], root)
    # code moved from one file to the next is a change too
    _tree(root, {"a.py": "x = 1\ny", "b.py": " = 2\n"})
    assert _stamp.files_stamp(["a.py", "b.py"], root) != stamp
    # the stamp does not depend on where the files are
    copy = shutil.copytree(root, tmp_path.parent / (tmp_path.name + "-copy"))
    assert _stamp.files_stamp(["a.py", "b.py"], copy) == _stamp.files_stamp(["a.py", "b.py"], root)


def test_package_files_are_the_sources(tmp_path):
    root = _tree(tmp_path, {"m.py": "", "sub/n.py": "", "sub/op.cc": "", "notes.md": "", "__pycache__/m.py": ""})
    assert _stamp.package_files(root) == ["m.py", "sub/n.py", "sub/op.cc"]
    names = _stamp.package_files()
    assert {"__init__.py", "_stamp.py", "hf.py", "_tfop/melplug_op.cc"} <= set(names)
    assert names == sorted(names) and not any("__pycache__" in n for n in names)


def test_package_stamp_is_computed_once_per_process(monkeypatch):
    first = _stamp.package_stamp()
    assert first == _stamp.files_stamp(_stamp.package_files())
    calls = []
    monkeypatch.setattr(_stamp, "files_stamp", lambda *a: calls.append(a) or "other")
    assert _stamp.package_stamp() == first and not calls


# --------------------------------------------------------------------------- the HF fingerprint

_HASH = """
import melplug.hf
from datasets.fingerprint import Hasher

assert melplug.hf.__file__.startswith({root!r}), melplug.hf.__file__
print(Hasher.hash(melplug.hf.MelSpectrogram(num_mel_bins=40)))
"""


def test_hf_fingerprint_changes_with_the_sources(tmp_path):
    """An edited (editable) install must not reuse features cached by the code before the edit.

    The version stays the same, so only the sources can tell: a copy of the
    package hashes the adapter as itself, then differently once a kernel file
    changes (as after ``git pull`` in an editable install).
    """
    pytest.importorskip("datasets")
    site = tmp_path / "site"
    shutil.copytree(_stamp.PACKAGE, site / "melplug", ignore=shutil.ignore_patterns("__pycache__"))

    def fingerprint() -> str:
        code = _HASH.format(root=str(site))
        return run_python(code, env={"PYTHONPATH": str(site)}, cwd=tmp_path).stdout.strip()

    before = fingerprint()
    assert fingerprint() == before  # stable across processes: caches are reused while nothing changes
    kernel = next(p for p in (site / "melplug").rglob("*.py") if "kernel" in p.name)
    kernel.write_text(kernel.read_text() + "\n# an edit that changes no value still changes the code\n")
    assert fingerprint() != before


def test_hf_fingerprint_state_holds_the_stamp(monkeypatch):
    pytest.importorskip("datasets")
    from datasets.fingerprint import Hasher

    import melplug.hf

    mel = melplug.hf.MelSpectrogram(num_mel_bins=40)
    assert mel._fingerprint_state()["sources"] == _stamp.package_stamp()
    before = Hasher.hash(mel)
    monkeypatch.setattr(_stamp, "package_stamp", lambda: "0" * 64)
    assert Hasher.hash(mel) != before
