"""Hand check of :mod:`tests.references.nemo_features` against the real NeMo ``FilterbankFeatures`` (needs torch).

Not a test (pytest does not collect it): run it in a venv with torch 2.13 and librosa,
``cd /work/main && /work/torchvenv/bin/python tests/references/check_nemo_features.py``.

nemo_toolkit is not installed: the script loads NeMo's real
``nemo/collections/asr/parts/preprocessing/features.py`` from a bare git copy of ``NVIDIA/NeMo`` (``git show
HEAD:...`` in ``$NEMO_GIT_DIR``, default ``/work/.mirror/NVIDIA+NeMo/repo``) or from the file ``$NEMO_FEATURES_PY``,
with stub modules for its three nemo imports (``nemo.utils.logging``, ``AudioAugmentor``, ``AudioSegment``, which
``FilterbankFeatures`` does not use).

For each config and clip it prints the max abs difference of the port from

* ``f64``: the reference run in float64 (its module's ``torch.float`` / ``torch.float32`` mapped to float64, the
  default dtype float64 while it is built and run so the window is float64, the filter bank rebuilt by librosa in
  float64), which should be ~1e-12 or less;
* ``f32``: the default float32 reference (also relative to the clip's largest |value|);

and whether the shapes, ``seq_len`` and NaN positions are identical.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
import types
import warnings
from pathlib import Path

import numpy as np

try:
    import librosa
    import torch
except ImportError:  # pytest --doctest-modules imports this file in the torch-free venv: let it
    torch = None

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tests.references import nemo_features  # noqa: E402

FEATURES_PATH = "nemo/collections/asr/parts/preprocessing/features.py"


def nemo_source():
    """(source text, description) of NeMo's ``features.py``."""
    path = os.environ.get("NEMO_FEATURES_PY")
    if path:
        return Path(path).read_text(), path
    git_dir = os.environ.get("NEMO_GIT_DIR", "/work/.mirror/NVIDIA+NeMo/repo")
    git = ["git", f"--git-dir={git_dir}"]
    src = subprocess.run([*git, "show", f"HEAD:{FEATURES_PATH}"], check=True, capture_output=True, text=True).stdout
    commit = subprocess.run([*git, "log", "-1", "--format=%H %cs"], check=True, capture_output=True, text=True).stdout
    return src, f"NVIDIA/NeMo {commit.strip()}"


def load_nemo_features():
    """Import NeMo's ``features.py`` as module ``nemo_features_real`` with stubs for its nemo imports."""

    class _Logging:
        def __getattr__(self, name):
            return lambda *args, **kwargs: None

    stubs = {
        "nemo": {},
        "nemo.utils": {"logging": _Logging()},
        "nemo.collections": {},
        "nemo.collections.asr": {},
        "nemo.collections.asr.parts": {},
        "nemo.collections.asr.parts.preprocessing": {},
        "nemo.collections.asr.parts.preprocessing.perturb": {"AudioAugmentor": type("AudioAugmentor", (), {})},
        "nemo.collections.asr.parts.preprocessing.segment": {"AudioSegment": type("AudioSegment", (), {})},
    }
    for name, attrs in stubs.items():
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__dict__.update(attrs)
            sys.modules[name] = module
    src, origin = nemo_source()
    module = types.ModuleType("nemo_features_real")
    module.__file__ = FEATURES_PATH
    sys.modules[module.__name__] = module
    exec(compile(src, FEATURES_PATH, "exec"), module.__dict__)  # noqa: S102 - NeMo's own source, read above
    return module, origin


class _Float64Torch:
    """Stands in for ``torch`` in the NeMo module: ``torch.float`` and ``torch.float32`` are float64."""

    def __getattr__(self, name):
        return torch.float64 if name in ("float", "float32") else getattr(torch, name)


@contextlib.contextmanager
def float64_mode(module):
    """Inside: ``module.torch`` maps float32 to float64 and the default dtype is float64."""
    saved_torch, saved_dtype = module.torch, torch.get_default_dtype()
    module.torch = _Float64Torch()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        module.torch = saved_torch
        torch.set_default_dtype(saved_dtype)


def nemo_kwargs(config):
    """``FilterbankFeatures`` keyword arguments for a port config (the port's defaults made explicit)."""
    kw = {
        "sample_rate": 16000,
        "n_window_size": 400,
        "n_window_stride": 160,
        "n_fft": 512,
        "nfilt": 80,
        "preemph": 0.97,
        "lowfreq": 0,
        "highfreq": None,
        "log_zero_guard_value": 2**-24,
        "normalize": "per_feature",
        "pad_to": 0,
        "pad_value": 0.0,
        "mag_power": 2.0,
        "log_zero_guard_type": "add",
        "exact_pad": False,
    }
    kw.update(config)
    return {**kw, "dither": 0.0}


def build(module, config, float64):
    """A ``FilterbankFeatures`` in eval mode, float32 (as NeMo) or float64 (see the module docstring)."""
    kw = nemo_kwargs(config)
    if not float64:
        return module.FilterbankFeatures(**kw).eval()
    with float64_mode(module):
        fe = module.FilterbankFeatures(**kw).eval()
    fb = librosa.filters.mel(
        sr=kw["sample_rate"],
        n_fft=fe.n_fft,
        n_mels=kw["nfilt"],
        fmin=kw["lowfreq"],
        fmax=kw["highfreq"] or kw["sample_rate"] / 2,
        norm="slaney",
        dtype=np.float64,
    )
    fe.fb = torch.from_numpy(fb)[None]
    assert fe.window is None or fe.window.dtype == torch.float64
    return fe


def run_reference(module, fe, clip, float64):
    """``fe(x[None], tensor([n]))`` -> (features ``(nfilt, frames)`` float64, seq_len), or the exception."""
    dtype = torch.float64 if float64 else torch.float32
    x = torch.from_numpy(clip).to(dtype)[None]
    length = torch.tensor([clip.size], dtype=torch.long)
    try:
        if float64:
            with float64_mode(module):
                out, seq_len = fe(x, length)
        else:
            out, seq_len = fe(x, length)
    except Exception as err:  # noqa: BLE001 - report the reference's refusal
        return err
    assert out.dtype == dtype, out.dtype
    return out[0].double().numpy(), int(seq_len[0])


def make_clip(kind, n, sr, seed):
    """A float32-representable float64 clip: ``noise``, ``tones``, ``burst`` (near-silence with a burst)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sr
    if kind == "noise":
        x = 0.1 * rng.standard_normal(n)
    elif kind == "tones":
        x = 0.3 * np.sin(2 * np.pi * 220.0 * t + 0.3) + 0.2 * np.sin(2 * np.pi * 1234.5 * t)
        x += 0.1 * np.sin(2 * np.pi * 0.43 * sr * t + 1.0) + 0.005 * rng.standard_normal(n)
    elif kind == "burst":
        x = 1e-5 * rng.standard_normal(n)
        start, stop = n // 3, n // 3 + max(1, n // 10)
        x[start:stop] += 0.5 * np.sin(2 * np.pi * 700.0 * t[start:stop]) * np.hanning(stop - start)
    else:
        raise ValueError(kind)
    return x.astype(np.float32).astype(np.float64)


def clips():
    """(name, clip) pairs: the three kinds at 16000 and 16001 samples, and the edge lengths with noise."""
    out = [
        (f"{kind} {n}", make_clip(kind, n, 16000, seed))
        for seed, kind in enumerate(["noise", "tones", "burst"])
        for n in (16000, 16001)
    ]
    out += [(f"tones {n}", make_clip("tones", n, 16000, 5)) for n in (4001, 400)]
    out += [(f"noise {n}", make_clip("noise", n, 16000, 10 + n)) for n in (4001, 401, 400, 320, 161, 100, 1, 0)]
    return out


def compare(port, ref):
    """(max abs diff, max |ref|, shapes and seq_len equal, NaNs at the same places)."""
    (p, p_len), (r, r_len) = port, ref
    if p.shape != r.shape or p_len != r_len:
        return math.inf, math.nan, False, False
    nan_p, nan_r = np.isnan(p), np.isnan(r)
    finite = ~nan_p & ~nan_r
    diff = float(np.abs(p - r)[finite].max()) if finite.any() else 0.0
    scale = float(np.abs(r[finite]).max()) if finite.any() else math.nan
    return diff, scale, True, bool(np.array_equal(nan_p, nan_r))


def run(module, config):
    """Compare the port to ``FilterbankFeatures(**config)`` (float64 and float32 runs) on the clips."""
    print(f"\n== {config or '(port defaults)'}")
    fe32, fe64 = build(module, config, False), build(module, config, True)
    worst64 = worst64_rel = worst32 = worst32_rel = 0.0
    all_ok = True
    for label, clip in clips():
        try:
            port = nemo_features.filterbank_features(clip, **config)
        except ValueError as err:
            port = err
        r32 = run_reference(module, fe32, clip, False)
        r64 = run_reference(module, fe64, clip, True)
        if isinstance(port, Exception) or isinstance(r32, Exception) or isinstance(r64, Exception):
            both = isinstance(port, Exception) and isinstance(r32, Exception) and isinstance(r64, Exception)
            all_ok &= both
            print(f"  {label:12s} port: {port!r:.70}  ref: {r32!r:.70}  {'OK' if both else 'MISMATCH'}")
            continue
        d64, s64, shape_ok, nan_ok = compare(port, r64)
        d32, s32, shape32, _ = compare(port, r32)
        ok = shape_ok and nan_ok and shape32
        all_ok &= ok
        frames, valid = port[0].shape[1], port[1]
        nans = int(np.isnan(port[0]).sum())
        print(
            f"  {label:12s} frames={frames:4d} seq_len={valid:4d}  f64 {d64:.1e}  f32 {d32:.1e}"
            f" (rel {d32 / s32 if s32 else 0.0:.1e}){f' NaNs={nans}' if nans else ''}"
            f"  shape/seq_len/NaNs {'OK' if ok else 'MISMATCH'}"
        )
        worst64 = max(worst64, d64)
        worst32 = max(worst32, d32)
        if math.isfinite(s64) and s64 > 0:
            worst64_rel = max(worst64_rel, d64 / s64)
        if math.isfinite(s32) and s32 > 0:
            worst32_rel = max(worst32_rel, d32 / s32)
    print(
        f"  -> worst: f64 {worst64:.1e} abs ({worst64_rel:.1e} rel), f32 {worst32:.1e} abs ({worst32_rel:.1e} rel)"
        f"  {'all OK' if all_ok else 'MISMATCHES'}"
    )
    return worst64, worst64_rel, worst32, worst32_rel, all_ok


CONFIGS = [
    {},
    {"nfilt": 128},
    {"pad_to": 16},
    {"nfilt": 128, "pad_to": 16, "pad_value": -1.0},
    {"n_fft": None},
    {"n_window_size": 320, "n_window_stride": 128},
    {"n_fft": 511, "n_window_stride": 100},
    {
        "sample_rate": 8000,
        "n_window_size": 200,
        "n_window_stride": 80,
        "n_fft": 256,
        "nfilt": 64,
        "highfreq": 3800,
        "lowfreq": 20,
    },
    {"preemph": None},
    {"mag_power": 1.0},
    {"log_zero_guard_type": "clamp", "log_zero_guard_value": 1e-5},
    {"normalize": "all_features"},
    {"normalize": None, "pad_to": 16},
    {"exact_pad": True},
    {"exact_pad": True, "n_window_stride": 128, "n_window_size": 320, "pad_to": 16},
]


if __name__ == "__main__":
    if torch is None:
        raise SystemExit("needs torch: run it with /work/torchvenv/bin/python")
    warnings.simplefilter("ignore")
    torch.set_num_threads(1)
    nemo, source = load_nemo_features()
    print(f"NeMo features.py from {source}; torch {torch.__version__}, librosa {librosa.__version__}")
    results = [run(nemo, config) for config in CONFIGS]
    f64, f64_rel, f32, f32_rel = (max(r[i] for r in results) for i in range(4))
    print(
        f"\nOVERALL worst: f64 {f64:.1e} abs ({f64_rel:.1e} rel), f32 {f32:.1e} abs ({f32_rel:.1e} rel);"
        f" {'all shapes/seq_len/NaNs OK' if all(r[4] for r in results) else 'MISMATCHES'}"
    )
