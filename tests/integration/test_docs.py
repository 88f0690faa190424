"""The documentation's examples run, and the site's reference covers every public name.

Every ```` ```python ```` block of every page in docs/ runs: a page's blocks in
order, in one namespace, in a temporary directory, tracebacks pointing at the
page's lines.  Names a page takes as given (``records``, ``paths``, ``clips``, a
``model``) come from its entry in ``SETUP`` (data made here, small); a new
page whose examples use such names gets an entry.  A block that truly cannot
run here is marked, right above its fence, with ``<!-- docs-test: skip: why -->``
(invisible on the site); ``MAY_SKIP`` lists the ones allowed, so a marker is a
decision made here, not a way to silence a failing example.
"""

from __future__ import annotations

import contextlib
import re

import numpy as np
import pytest

from tests._util import ROOT, make_audio

DOCS = ROOT / "docs"
BLOCK_RE = re.compile(
    r"^(?:<!-- docs-test: skip: (?P<skip>[^\n]*?) -->\n)?```python\n(?P<code>.*?)^```$", flags=re.M | re.S
)
#: (page, first line of the block's code) -> why it cannot run in the test suite.
MAY_SKIP = {
    ("presets.md", "import melplug.hf"): "decoding an Audio(sampling_rate=...) column needs torchcodec",
}


def blocks(page) -> list[tuple[int, str, str | None]]:
    """The python blocks of ``page``: (line of the code's first line, code, skip reason or None)."""
    text = page.read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start("code")) + 1, m["code"], m["skip"]) for m in BLOCK_RE.finditer(text)]


PAGES = sorted(p.name for p in DOCS.glob("*.md") if blocks(p))


# --------------------------------------------------------------------------- what each page takes as given


@contextlib.contextmanager
def _usage(tmp_path, monkeypatch):
    pytest.importorskip("grain")
    pytest.importorskip("datasets")
    yield {}


@contextlib.contextmanager
def _presets(tmp_path, monkeypatch):
    audio = make_audio((32000,))
    yield {"audio": audio, "a": audio, "b": audio[:8000], "n": audio.size, "audio2d": np.stack([audio, audio[::-1]])}


@contextlib.contextmanager
def _cli(tmp_path, monkeypatch):
    pytest.importorskip("keras")  # the numpy backend (tests/conftest.py)
    pytest.importorskip("matplotlib")
    np.savez(tmp_path / "features.npz", **{"a": np.zeros((80, 3), np.float32), "sub/b": np.ones((80, 5), np.float32)})
    yield {"audio": make_audio((16000,))}


@contextlib.contextmanager
def _grain(tmp_path, monkeypatch):
    grain = pytest.importorskip("grain")
    jax = pytest.importorskip("jax")
    # One process is no multi-host job: initialize() would look for a coordinator; ShardByJaxProcess then
    # reads process 0 of 1.
    monkeypatch.setattr(jax.distributed, "initialize", lambda *args, **kwargs: None)

    class CropOrPad(grain.transforms.Map):
        def map(self, element):
            audio = element["audio"][:16000]
            return {**element, "audio": np.pad(audio, (0, 16000 - audio.size))}

    records = [{"audio": make_audio((n,), seed=i), "label": i} for i, n in enumerate([16000, 12000, 20000, 8000] * 16)]
    yield {"records": records, "source": records, "crop_or_pad": CropOrPad()}


@contextlib.contextmanager
def _hf(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    sf = pytest.importorskip("soundfile")
    clips = [make_audio((n,), seed=i) for i, n in enumerate((16000, 12000, 8000, 16000))]
    datasets.Dataset.from_dict({"audio": clips}).save_to_disk(str(tmp_path / "clips"))
    sf.write(tmp_path / "a.wav", clips[0], 16000)
    sf.write(tmp_path / "b.flac", clips[1], 16000)
    yield {}


@contextlib.contextmanager
def _ray(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    sf = pytest.importorskip("soundfile")
    paths = []
    for i, (channels, n) in enumerate([(1, 16000), (2, 8000), (1, 12000), (2, 16000)]):
        path = tmp_path / f"clip{i}.{'wav' if i % 2 else 'flac'}"
        sf.write(path, np.stack([make_audio((n,), seed=i + c) for c in range(channels)], axis=1), 16000)
        paths.append(str(path))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        yield {"paths": paths}
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _tf(tmp_path, monkeypatch):
    tf = pytest.importorskip("tensorflow")

    class Model:
        """Stands in for a compiled Keras model (the tests run Keras on numpy): fit reads one batch."""

        def fit(self, ds, epochs):
            mel, label = next(iter(ds))
            assert mel.shape == (32, 80, 101) and mel.dtype == tf.float32 and label.shape == (32,)

    yield {"clips": make_audio((64, 16000)), "labels": np.arange(64), "model": Model()}


SETUP = {
    "usage.md": _usage,
    "presets.md": _presets,
    "cli.md": _cli,
    "grain.md": _grain,
    "hf.md": _hf,
    "ray.md": _ray,
    "tf.md": _tf,
}


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    setup = SETUP[page](tmp_path, monkeypatch) if page in SETUP else contextlib.nullcontext({})
    with setup as given:
        namespace = {"__name__": f"docs_{page[:-3]}", **given}
        ran = 0
        for line, code, skip in blocks(DOCS / page):
            if skip is not None:
                first = code.lstrip().splitlines()[0]
                assert MAY_SKIP.get((page, first)) == skip, f"{page}:{line}: skip marker not in MAY_SKIP: {skip!r}"
                continue
            # Blank lines first, so a traceback names the page's own line.
            exec(compile("\n" * (line - 1) + code, str(DOCS / page), "exec"), namespace)  # noqa: S102
            ran += 1
        assert ran, page


def test_the_runner_sees_every_page_and_marker():
    assert {"usage.md", "presets.md", "grain.md", "hf.md", "ray.md", "tf.md", "cli.md"} <= set(PAGES)
    assert len(blocks(DOCS / "usage.md")) >= 6
    assert set(SETUP) <= set(PAGES), "a SETUP entry for a page without python blocks"
    marked = {(p, code.lstrip().splitlines()[0]) for p in PAGES for _, code, skip in blocks(DOCS / p) if skip}
    assert marked == set(MAY_SKIP)


def test_every_public_name_has_an_api_entry():
    # The site's API reference (mkdocs.yml; built with `mkdocs build --strict` in CI) renders `::: name` entries.
    import melplug

    entries = set(
        re.findall(r"^::: ([\w.]+)$", "\n".join(p.read_text() for p in (ROOT / "docs" / "api").glob("*.md")), re.M)
    )
    public = {f"melplug.{name}" for name in melplug.__all__ if name != "__version__"}
    public |= {f"melplug.{module}" for module in ("grain", "hf", "ray", "tf")}  # the adapters' modules
    missing = public - entries
    assert not missing, f"no API entry for {sorted(missing)}"
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in (ROOT / "docs" / "api").glob("*.md"):
        assert f"api/{page.name}" in nav, page.name
