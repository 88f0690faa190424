"""The JIT layer (``melplug._jit``): Numba's disk cache, cold and warm, damaged, stale, missing or read-only,
and its source stamp (derived from the kernels' imports, not a hand-kept list).

``test_a_damaged_cache_is_recompiled_and_rewritten`` is a regression test: a
truncated cache file used to make every later call raise ``EOFError`` or
``UnpicklingError`` from Numba until the user found and deleted the cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from melplug import _jit
from tests._util import ROOT, run_python


def test_disk_cache_cold_then_warm(tmp_path):
    code = """
        import json, time
        t0 = time.perf_counter()
        import numpy as np, melplug
        t_import = time.perf_counter() - t0
        from melplug import _kernels
        mel = melplug.MelSpectrogram(fft_length=512, num_mel_bins=40)
        x = np.ones(4000, np.float32)
        t0 = time.perf_counter(); mel(x); t_first = time.perf_counter() - t0
        s = _kernels._mel_units.stats
        print(json.dumps({"import": t_import, "first": t_first,
                          "hits": sum(s.cache_hits.values()), "misses": sum(s.cache_misses.values())}))
    """
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    cold = json.loads(run_python(code, env).stdout.strip().splitlines()[-1])
    warm = json.loads(run_python(code, env).stdout.strip().splitlines()[-1])
    assert cold["misses"] >= 1 and cold["hits"] == 0
    assert warm["misses"] == 0 and warm["hits"] >= 1
    indexes = [p.name for p in (tmp_path / "cache").rglob("*.nbi")]
    assert any("_mel_units" in name for name in indexes), indexes
    # steps only kernels call have no cache entries of their own: the kernel's holds their code
    assert not any(step in name for name in indexes for step in ("_fill_frames", "_spectra_to_mel", "_write_block"))
    assert warm["first"] < cold["first"]


def test_a_link_only_step_runs_inside_kernels_and_refuses_python():
    import numba
    import numpy as np

    from melplug import _kernels

    @_jit.jit_internal
    def step(a):
        total = 0.0
        for i in range(a.shape[0]):
            total += a[i]
        return total

    @numba.njit
    def caller(a):
        return step(a) * 2.0

    assert caller(np.arange(5.0)) == 20.0
    (cres,) = step.overloads.values()
    assert isinstance(cres.library, _jit._LinkOnlyLibrary)  # optimised and compiled only inside its callers
    assert cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name) == 0
    # from Python: a TypeError naming the step, never a call through a null pointer
    with pytest.raises(TypeError, match="step is a step that melplug's kernels call"):
        step(np.arange(5.0))
    with pytest.raises(TypeError, match="_fill_frames is a step that melplug's kernels call"):
        _kernels._fill_frames(np.ones(4), 4, 0, 1, None, None, None, None)


def test_no_cache_location_falls_back_to_memory(tmp_path):
    code = """
        import warnings, numpy as np
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            import melplug
            out = melplug.MelSpectrogram(fft_length=256, num_mel_bins=16)(np.ones(2000, np.float32))
        msgs = [str(w.message) for w in rec if issubclass(w.category, RuntimeWarning)]
        assert len(msgs) == 1 and "NUMBA_CACHE_DIR" in msgs[0], msgs
        assert out.shape == (16, 4), out.shape
        print("ok")
    """
    # No locator can be used: what Numba sees for a read-only install with an unwritable home.
    env = {"NUMBA_CACHE_LOCATOR_CLASSES": "ZipCacheLocator", "HOME": str(tmp_path)}
    assert run_python(code, env).stdout.strip().endswith("ok")


# --------------------------------------------------------------------------- a damaged disk cache


@pytest.mark.parametrize("damage", [".nbi", ".nbc"])
def test_a_damaged_cache_is_recompiled_and_rewritten(tmp_path, damage):
    cache = tmp_path / "cache"
    env = {"NUMBA_CACHE_DIR": str(cache)}
    code = """
        import warnings, json, numpy as np, melplug
        from melplug import _kernels
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out = melplug.MelSpectrogram(fft_length=256, num_mel_bins=20)(np.ones((2, 3000), np.float32))
        stats = _kernels._mel_units.stats
        print(json.dumps({"shape": list(out.shape), "hits": sum(stats.cache_hits.values()),
                          "misses": sum(stats.cache_misses.values()),
                          "warnings": [str(w.message) for w in caught]}))
    """
    first = json.loads(run_python(code, env).stdout)
    assert first["misses"] >= 1 and not first["warnings"]
    files = sorted(cache.rglob(f"*._mel_units-*{damage}"))
    assert files, sorted(p.name for p in cache.rglob("*"))
    for path in files:
        path.write_bytes(path.read_bytes()[:7])  # truncated
    second = json.loads(run_python(code, env).stdout)
    assert second["shape"] == first["shape"]
    assert len(second["warnings"]) == 1, second["warnings"]
    assert str(files[0].parent) in second["warnings"][0] and "recompiled" in second["warnings"][0]
    third = json.loads(run_python(code, env).stdout)  # the cache was rewritten: a plain hit, no warning
    assert third["hits"] >= 1 and third["misses"] == 0 and not third["warnings"]


# --------------------------------------------------------------------------- stale and read-only caches


def test_editing_a_module_the_kernels_compile_in_invalidates_their_cache(tmp_path):
    # Numba stamps a cached function with its own file only: the frame formula lives in _geometry.py, inlined
    # into the kernels under _kernels/.  melplug stamps every kernel with the modules it imports; editing a
    # module no kernel imports (the plan's option checks, the driver) keeps the compiled kernels.
    import shutil

    shutil.copytree(ROOT / "melplug", tmp_path / "melplug", ignore=shutil.ignore_patterns("__pycache__"))
    env = {"PYTHONPATH": str(tmp_path), "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    code = """
        import json, numpy as np, melplug
        from melplug import _kernels
        assert melplug.__file__.startswith(%r)
        melplug.MelSpectrogram(fft_length=256, num_mel_bins=20)(np.ones((2, 3000), np.float32))
        stats = _kernels._mel_units.stats
        print(json.dumps([sum(stats.cache_hits.values()), sum(stats.cache_misses.values())]))
    """ % str(tmp_path)
    assert json.loads(run_python(code, env, cwd=tmp_path).stdout) == [0, 1]  # compiled
    assert json.loads(run_python(code, env, cwd=tmp_path).stdout) == [1, 0]  # loaded
    for name in ("_plan.py", "_driver.py"):
        with open(tmp_path / "melplug" / name, "a") as f:
            f.write("\n# an edit\n")
    assert json.loads(run_python(code, env, cwd=tmp_path).stdout) == [1, 0]  # still loaded
    with open(tmp_path / "melplug" / "_geometry.py", "a") as f:
        f.write("\n# an edit\n")
    assert json.loads(run_python(code, env, cwd=tmp_path).stdout) == [0, 1]  # recompiled, not stale


def _mount_read_only(src: Path, dst: Path) -> bool:
    dst.mkdir()
    ok = subprocess.run(["mount", "--bind", str(src), str(dst)], capture_output=True).returncode == 0
    if ok and subprocess.run(["mount", "-o", "remount,ro,bind", str(dst)], capture_output=True).returncode != 0:
        subprocess.run(["umount", str(dst)], capture_output=True)
        ok = False
    return ok


@pytest.mark.skipif(sys.platform != "linux" or os.geteuid() != 0, reason="needs root on Linux for a bind mount")
def test_read_only_install_and_home(tmp_path):
    """A real read-only file system for the package and for $HOME: import and compute still work."""
    import shutil

    src = tmp_path / "src"
    shutil.copytree(ROOT / "melplug", src / "melplug", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "home-src").mkdir()
    site, home = tmp_path / "site", tmp_path / "home"
    if not _mount_read_only(src, site):
        pytest.skip("bind mounts are not permitted here")
    try:
        if not _mount_read_only(tmp_path / "home-src", home):
            pytest.skip("bind mounts are not permitted here")
        code = """
            import warnings, numpy as np
            with warnings.catch_warnings(record=True) as rec:
                warnings.simplefilter("always")
                import melplug
                out = melplug.MelSpectrogram(fft_length=256, num_mel_bins=16)(np.ones(2000, np.float32))
            print(melplug.__file__, out.shape, [str(w.message)[:40] for w in rec])
        """
        env = {"PYTHONPATH": str(site), "HOME": str(home), "XDG_CACHE_HOME": "", "NUMBA_CACHE_DIR": ""}
        env = {k: v for k, v in {**os.environ, **env}.items() if v != ""}
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=300, cwd="/"
        )
        assert proc.returncode == 0, proc.stderr
        assert str(site) in proc.stdout and "(16, 4)" in proc.stdout
        assert "cannot write Numba's disk cache" in proc.stdout
    finally:
        subprocess.run(["umount", str(home)], capture_output=True)
        subprocess.run(["umount", str(site)], capture_output=True)


PACKAGE = Path(_jit.__file__).parent


def _names(module: str) -> set[str]:
    return {Path(p).relative_to(PACKAGE).as_posix() for p in _jit.kernel_sources(module)}


def test_kernel_sources_follow_the_imports():
    names = _names("melplug._kernels._phases")
    kernel_modules = {p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "_kernels").glob("_*.py")}
    kernel_modules.discard("_kernels/__init__.py")
    kernel_modules.discard("_kernels/_stream.py")  # the streams' own entry points (below), not a phase step
    assert kernel_modules <= names  # every step family the phases call
    # the streams' kernels copy frames with _frames' dither: a change there recompiles them too
    assert {"_kernels/_stream.py", "_kernels/_frames.py", "_jit.py"} <= _names("melplug._kernels._stream")
    assert {"_jit.py", "_geometry.py"} <= names
    # pure-Python layers are not compiled into kernels: editing them keeps the cache
    assert not names & {"_plan.py", "_driver.py", "core.py", "_config.py", "presets.py", "hf.py", "__init__.py"}


def test_public_entry_points_are_stamped_with_the_private_kernels():
    names = _names("melplug.kernels")
    assert {"kernels.py", "_kernels/_phases.py", "_kernels/_frames.py"} <= names
    assert "_driver.py" not in names  # the layout lives at kernel level


def test_every_kernel_cache_carries_its_stamp():
    from melplug import _kernels

    stamp = _kernels._mel_units._cache._cache_file._source_stamp
    assert stamp[1] == _jit._source_stamp("melplug._kernels._phases")
