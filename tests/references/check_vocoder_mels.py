"""Hand check of :mod:`tests.references.vocoder_mels` against the real vocos, dasheng and bigvgan (needs torch).

Not a test (pytest does not collect it; ``--doctest-modules`` only imports it, which works without torch).
Run it in the torch venv, where ``pip install --no-deps vocos dasheng bigvgan`` and ``einops`` are installed::

    cd /work/main && /work/torchvenv/bin/python tests/references/check_vocoder_mels.py

It runs the real code: vocos' ``MelSpectrogramFeatures`` (its unused ``encodec`` import stubbed when encodec is
missing), dasheng's ``Dasheng(...).front_end`` (a tiny transformer: the front end does not depend on it) and
bigvgan's ``meldataset.mel_spectrogram`` (loaded without running ``bigvgan/__init__.py``, which needs
matplotlib and more).  For every configuration and clip it prints the max abs difference of the port from

* ``f64``: the real code in float64: the clip as a float64 tensor, the modules built with torch's default dtype
  float64 (so torchaudio's window and filter bank are float64) and BigVGAN's caches primed with a float64
  librosa filter bank and window; it should be ~1e-13 or less;
* ``f32``: the default float32 code on the clip cast to float32;

and whether the shapes match, with the largest |output| for scale.  Clips that the real code refuses (too short
for torch's reflect padding or for one frame) must make the port raise too.  Dasheng is also run on a batch of a
loud and a quiet clip, to show that ``AmplitudeToDB``'s ``top_db`` floor is taken over the whole batch.  It exits
non-zero on a mismatch or an ``f64`` difference above ``1e-10 * max(1, max |output|)``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import importlib.util
import io
import sys
import types
import warnings
from pathlib import Path

import numpy as np

try:
    import torch
except ImportError:  # pytest --doctest-modules imports this file in the torch-free venv: let it
    torch = None

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: make ``tests`` importable
from tests.references import vocoder_mels as ports  # noqa: E402
from tests.references.signals import make_signal  # noqa: E402

F64_TOL = 1e-10


@contextlib.contextmanager
def default_dtype(dtype):
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def load_vocos():
    """``vocos.feature_extractors``; its ``from encodec import EncodecModel`` is stubbed if encodec is missing."""
    if "encodec" not in sys.modules and importlib.util.find_spec("encodec") is None:
        sys.modules["encodec"] = stub = types.ModuleType("encodec")
        stub.EncodecModel = None
    return importlib.import_module("vocos.feature_extractors")


def load_bigvgan_meldataset():
    """bigvgan's real ``meldataset.py``, imported under a bare ``bigvgan`` package (its ``__init__`` not run)."""
    if "bigvgan.meldataset" in sys.modules:
        return sys.modules["bigvgan.meldataset"]
    spec = importlib.util.find_spec("bigvgan")
    package = types.ModuleType("bigvgan")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["bigvgan"] = package
    return importlib.import_module("bigvgan.meldataset")


def clip(kind, n, sr, seed):
    """A float32-representable float64 clip: signals.make_signal kinds, ``burst`` (-100 dB noise and a burst)."""
    rng = np.random.default_rng(seed)
    if kind == "burst":
        x = 1e-5 * rng.standard_normal(n)
        start, stop = max(0, n // 2 - sr // 20), min(n, n // 2 + sr // 20)
        t = np.arange(start, stop) / sr
        x[start:stop] += 0.5 * np.sin(2 * np.pi * 440.0 * t) + 0.05 * rng.standard_normal(t.size)
    elif kind == "zeros":
        x = np.zeros(n)
    else:
        x = make_signal(kind, n, sr, seed)
        x *= 0.9 / max(1e-12, np.abs(x).max())  # BigVGAN warns on |x| > 1
    return x.astype(np.float32).astype(np.float64)


# --------------------------------------------------------------------------------------- the real code, per clip


def ref_vocos(config, x, f64):
    module = load_vocos()
    if f64:
        with default_dtype(torch.float64):
            fe = module.MelSpectrogramFeatures(**config)
        assert fe.mel_spec.spectrogram.window.dtype == torch.float64 and fe.mel_spec.mel_scale.fb.dtype == torch.float64
        return fe(torch.from_numpy(x)[None])[0].numpy()
    fe = module.MelSpectrogramFeatures(**config)
    return fe(torch.from_numpy(x.astype(np.float32))[None])[0].numpy()


def dasheng_model(config, f64):
    from dasheng.pretrained.pretrained import Dasheng

    with default_dtype(torch.float64 if f64 else torch.float32):
        model = Dasheng(embed_dim=32, depth=1, num_heads=1, **config).eval()
    return model


def ref_dasheng(config, x, f64):
    model = dasheng_model(config, f64)
    batch = torch.from_numpy(x if f64 else x.astype(np.float32))[None]  # the model's (batch, samples) input
    with torch.no_grad():
        return model.front_end(batch)[0].numpy()


def ref_bigvgan(config, x, f64):
    import librosa

    md = load_bigvgan_meldataset()
    md.mel_basis_cache.clear()
    md.hann_window_cache.clear()
    c = {"n_fft": 1024, "num_mels": 100, "sampling_rate": 24000, "hop_size": 256, "win_size": 1024, "fmin": 0}
    c.update(config)
    fmax = c.get("fmax")
    if f64:
        key = (
            f"{c['n_fft']}_{c['num_mels']}_{c['sampling_rate']}_{c['hop_size']}_{c['win_size']}_{c['fmin']}_{fmax}_cpu"
        )
        mel = librosa.filters.mel(
            sr=c["sampling_rate"], n_fft=c["n_fft"], n_mels=c["num_mels"], fmin=c["fmin"], fmax=fmax, dtype=np.float64
        )
        md.mel_basis_cache[key] = torch.from_numpy(mel)
        md.hann_window_cache[key] = torch.hann_window(c["win_size"], dtype=torch.float64)
    y = torch.from_numpy(x if f64 else x.astype(np.float32))[None]  # get_mel_spectrogram is called on (1, samples)
    with contextlib.redirect_stdout(io.StringIO()):  # its [WARNING] prints on |y| > 1
        out = md.mel_spectrogram(y, **c)[0].numpy()
    if f64 and out.dtype != np.float64:
        raise AssertionError("the float64 run fell back to float32")
    return out


# --------------------------------------------------------------------------------------- cases

KINDS = ("noise", "tones", "speech", "burst")
L24 = (1025, 4001, 24000, 24001)
L16 = (257, 1601, 16000, 16001, 16160)

CASES = [
    # (name, port, reference, config, sampling rate, lengths, lengths the reference refuses)
    ("vocos", ports.vocos_mel, ref_vocos, {}, 24000, (513,) + L24, (512,)),
    ("vocos", ports.vocos_mel, ref_vocos, {"padding": "same"}, 24000, (385,) + L24, (384,)),
    ("vocos", ports.vocos_mel, ref_vocos, {"sample_rate": 22050, "n_mels": 80}, 22050, (513, 4001, 22051), ()),
    (
        "vocos",
        ports.vocos_mel,
        ref_vocos,
        {"sample_rate": 44100, "n_fft": 2048, "hop_length": 512, "n_mels": 128},
        44100,
        (1025, 44100, 44101),
        (1024,),
    ),
    ("dasheng", ports.dasheng_mel, ref_dasheng, {}, 16000, L16, (256,)),
    ("dasheng", ports.dasheng_mel, ref_dasheng, {"top_db": 80}, 16000, L16, ()),
    ("dasheng", ports.dasheng_mel, ref_dasheng, {"center": False}, 16000, (512, 1601, 16001), (511,)),
    ("dasheng", ports.dasheng_mel, ref_dasheng, {"win_size": 400, "n_mels": 128}, 16000, (257, 16001), ()),
    ("bigvgan", ports.bigvgan_mel, ref_bigvgan, {}, 24000, (385,) + L24, (384,)),
    (
        "bigvgan",
        ports.bigvgan_mel,
        ref_bigvgan,
        {"sampling_rate": 22050, "num_mels": 80, "fmax": 8000},
        22050,
        (385, 4001, 22050, 22051),
        (),
    ),
    (
        "bigvgan",
        ports.bigvgan_mel,
        ref_bigvgan,
        {"sampling_rate": 44100, "num_mels": 128, "n_fft": 2048, "hop_size": 512, "win_size": 2048},
        44100,
        (769, 4001, 44100, 44101),
        (768,),
    ),
    ("bigvgan", ports.bigvgan_mel, ref_bigvgan, {"center": True}, 24000, (385,) + L24, (384,)),
    ("bigvgan", ports.bigvgan_mel, ref_bigvgan, {"win_size": 800}, 24000, (385, 4001, 24001), ()),
]


def compare(got, want):
    """(shapes equal, max abs difference, largest |reference|)."""
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return False, np.inf, np.nan
    if not got.size:
        return True, 0.0, 0.0
    return True, float(np.abs(got - want).max()), float(np.abs(want).max())


def raises(function, *args, **kwargs):
    try:
        function(*args, **kwargs)
    except Exception:  # torch raises RuntimeError / NotImplementedError, the ports ValueError
        return True
    return False


def check_dasheng_batch():
    """A loud and a quiet clip in one batch: the quiet clip's floor comes from the loud one."""
    n, failures = 16000, 0
    loud = clip("speech", n, 16000, 7)
    quiet = 1e-3 * loud
    for f64 in (True, False):
        model = dasheng_model({}, f64)
        dtype = np.float64 if f64 else np.float32
        with torch.no_grad():
            batch = model.front_end(torch.from_numpy(np.stack([loud, quiet]).astype(dtype))).numpy()
        alone = ports.dasheng_mel(quiet)
        in_batch = ports.dasheng_mel(quiet, db_max=ports.dasheng_mel(loud).max())
        d_alone = float(np.abs(alone - batch[1]).max())
        d_batch = float(np.abs(in_batch - batch[1]).max())
        d_loud = float(np.abs(ports.dasheng_mel(loud) - batch[0]).max())
        floored = int((alone != in_batch).sum())
        print(
            f"  {'f64' if f64 else 'f32'}: batch[quiet] - port(quiet alone) {d_alone:.1f} dB"
            f" ({floored} of {alone.size} values lifted by the batch's floor);"
            f" batch[quiet] - port(quiet, db_max=batch max) {d_batch:.1e}; batch[loud] - port(loud) {d_loud:.1e}"
        )
        tol = F64_TOL * 100 if f64 else 1e-2
        failures += not (d_alone > 1.0 and d_batch <= tol and d_loud <= tol)
    return failures


def main():
    if torch is None:
        sys.exit("needs torch, torchaudio and vocos / dasheng / bigvgan: run it with /work/torchvenv/bin/python")
    warnings.simplefilter("ignore")
    torch.set_num_threads(2)
    versions = {
        name: importlib.metadata.version(name) for name in ("torch", "torchaudio", "vocos", "dasheng", "bigvgan")
    }
    print(", ".join(f"{name} {version}" for name, version in versions.items()) + f", numpy {np.__version__}")
    failures, worst = 0, {}
    for name, port, reference, config, sr, lengths, refused in CASES:
        print(f"\n{name} {config or '(defaults)'}")
        for i, n in enumerate(lengths):
            kinds = KINDS if n in (16000, 24000, 24001) else (KINDS[i % len(KINDS)],)
            if i == len(lengths) - 1:
                kinds += ("zeros",)
            for kind in kinds:
                x = clip(kind, n, sr, seed=i)
                got = port(x, **config)
                same64, d64, scale = compare(got, reference(config, x, f64=True))
                same32, d32, _ = compare(got, reference(config, x, f64=False))
                ok = same64 and same32 and d64 <= F64_TOL * max(1.0, scale)
                failures += not ok
                w = worst.setdefault(name, np.zeros(2))
                w[:] = np.maximum(w, [d64, d32])
                print(
                    f"  {kind:6s} n={n:5d} {str(got.shape):10s} shapes {'same' if same64 and same32 else 'DIFFER'}"
                    f"  f64 {d64:.1e}  f32 {d32:.1e}  (max |out| {scale:.3g}){'' if ok else '  <-- FAIL'}"
                )
        for n in refused:
            x = clip("noise", n, sr, 0)
            raised = [raises(reference, config, x, f64=False), raises(port, x, **config)]
            failures += raised != [True, True]
            print(f"  n={n}: reference raises {raised[0]}, port raises {raised[1]}")
    print("\ndasheng on a (2, 16000) batch [loud, loud * 1e-3]")
    failures += check_dasheng_batch()
    print("\nmax abs difference per port: f64, f32")
    for name, w in worst.items():
        print(f"  {name:8s} {w[0]:.1e}  {w[1]:.1e}")
    print(f"\n{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
