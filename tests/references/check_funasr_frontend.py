"""Hand check of :mod:`tests.references.funasr_frontend` against the real funasr_onnx ``WavFrontend``.

Not a test (pytest does not collect it; ``--doctest-modules`` only imports it).  It needs funasr_onnx
(``pip install --no-deps funasr-onnx``) and kaldi-native-fbank, not onnxruntime: the package's ``__init__``
imports onnxruntime, so only its ``utils/frontend.py`` is loaded, from the installed file.  Run::

    cd /work/main && /work/torchvenv/bin/python tests/references/check_funasr_frontend.py [path/to/am.mvn]

For several front-end configurations (SenseVoice / Paraformer 7/6, FSMN-VAD 5/1, no LFR, others), clip
lengths (0 samples to 3 s: no frame, fewer frames than ``lfr_m``, partial last LFR frames), float32 and float64
clips, with no CMVN and with a file written by ``write_am_mvn``, it compares the port with
``WavFrontend(...).lfr_cmvn(WavFrontend(...).fbank(x)[0])`` (``dither=0.0``): dtype, shape and values must be
identical, and the two must raise the same exception where the library raises.  It checks ``load_cmvn`` against
the library's and, given a real ``am.mvn`` (e.g. SenseVoiceSmall's), that ``write_am_mvn`` rewrites it byte for
byte.  It shows that the library's default ``dither=1.0`` makes two runs differ.  Exits non-zero on a mismatch.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: make ``tests`` importable
from tests.references import funasr_frontend as port  # noqa: E402
from tests.references.signals import make_signal  # noqa: E402


def load_library_frontend():
    """funasr_onnx's real ``utils/frontend.py``, loaded from its file without the package's ``__init__``."""
    spec = importlib.util.find_spec("funasr_onnx")
    if spec is None:
        sys.exit("needs funasr_onnx: pip install --no-deps funasr-onnx (and kaldi-native-fbank)")
    path = Path(spec.submodule_search_locations[0]) / "utils" / "frontend.py"
    module_spec = importlib.util.spec_from_file_location("funasr_onnx_utils_frontend", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


CONFIGS = [
    {"lfr_m": 7, "lfr_n": 6},  # SenseVoiceSmall and Paraformer: hamming, 80 mels, 25 / 10 ms
    {"lfr_m": 5, "lfr_n": 1},  # FSMN-VAD
    {"lfr_m": 1, "lfr_n": 1},  # no LFR
    {"lfr_m": 4, "lfr_n": 3, "window": "povey", "n_mels": 40},
    {"lfr_m": 7, "lfr_n": 6, "window": "hanning", "frame_length": 20, "frame_shift": 8},
]
LENGTHS = (0, 1, 399, 400, 401, 560, 880, 1360, 1361, 1999, 16000, 16001, 48000)  # 880: 4 frames; 1360: 7


def clip(n, seed, dtype):
    kind = ("speech", "noise", "tones")[seed % 3]
    x = make_signal(kind, n, 16000, seed)
    return (0.9 * x / max(1e-12, np.abs(x).max(initial=0.0))).astype(dtype)


def run_library(lib, config, cmvn_file, x):
    fe = lib.WavFrontend(cmvn_file=cmvn_file, dither=0.0, **config)
    speech, _ = fe.fbank(x)
    feat, feat_len = fe.lfr_cmvn(speech)
    if int(feat_len) != feat.shape[0]:
        raise AssertionError(f"feat_len {feat_len} != {feat.shape[0]}")
    return feat


def outcome(function, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except Exception as err:  # the library raises IndexError on no frames with LFR
        return err


def same(got, want):
    if isinstance(got, Exception) or isinstance(want, Exception):
        return type(got) is type(want)
    return got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)


def main():
    lib = load_library_frontend()
    versions = {name: importlib.metadata.version(name) for name in ("funasr_onnx", "kaldi_native_fbank")}
    print(", ".join(f"{k} {v}" for k, v in versions.items()) + f", numpy {np.__version__}")
    failures = 0
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        for c, config in enumerate(CONFIGS):
            dim = config["lfr_m"] * config.get("n_mels", 80)
            # a CMVN like SenseVoice's: shift ~ -mean of the log mel (-8 .. -16), scale ~ 1 / std (0.1 .. 0.3)
            mvn = Path(tmp) / f"am_{c}.mvn"  # a new path per file: the library's load_cmvn is lru_cached by path
            port.write_am_mvn(mvn, -rng.uniform(8, 16, dim), rng.uniform(0.1, 0.3, dim))
            parsed, parsed_lib = port.load_cmvn(mvn), lib.load_cmvn(str(mvn))
            ok = parsed.dtype == parsed_lib.dtype and np.array_equal(parsed, parsed_lib) and parsed.shape == (2, dim)
            failures += not ok
            print(f"\n{config}: load_cmvn {parsed.shape} {parsed.dtype} {'same' if ok else 'DIFFERS'}")
            for cmvn_file in (None, mvn):
                for dtype in (np.float32, np.float64):
                    results = []
                    for i, n in enumerate(LENGTHS):
                        x = clip(n, i, dtype)
                        got = outcome(port.wav_frontend, x, cmvn=cmvn_file, **config)
                        want = outcome(run_library, lib, config, None if cmvn_file is None else str(cmvn_file), x)
                        ok = same(got, want)
                        failures += not ok
                        shown = type(got).__name__ if isinstance(got, Exception) else f"{got.shape[0]}"
                        results.append(f"{n}:{shown}{'' if ok else ' DIFFERS'}")
                    kind = "no cmvn" if cmvn_file is None else "cmvn   "
                    out_dtype = got.dtype if not isinstance(got, Exception) else "-"
                    print(f"  {kind} {np.dtype(dtype).name} clips -> {out_dtype}; n:frames  " + "  ".join(results))
        if len(sys.argv) > 1:  # a real am.mvn: the parser agrees with the library's, the writer reproduces it
            real = Path(sys.argv[1])
            cmvn = port.load_cmvn(real)
            copy = Path(tmp) / "rewritten.mvn"
            port.write_am_mvn(copy, cmvn[0], cmvn[1])
            ok_parse = np.array_equal(cmvn, lib.load_cmvn(str(real)))
            ok_bytes = copy.read_bytes() == real.read_bytes()
            failures += not (ok_parse and ok_bytes)
            print(f"\n{real}: {cmvn.shape}, parsed as the library: {ok_parse}, rewritten byte for byte: {ok_bytes}")
    x = clip(16000, 0, np.float32)
    runs = []
    for _ in range(2):
        fe = lib.WavFrontend(lfr_m=7, lfr_n=6)  # the library's defaults: dither 1.0
        runs.append(fe.lfr_cmvn(fe.fbank(x)[0])[0])
    diff = float(np.abs(runs[0] - runs[1]).max())
    dithered_port = port.wav_frontend(x, dither=1.0)
    ok = dithered_port.shape == runs[0].shape
    failures += not ok
    print(
        f"\nlibrary default dither=1.0: two runs on the same clip differ by up to {diff:.2e} (log mel);"
        f" port with dither=1.0 has the same shape: {ok}; port dither=0 vs library run:"
        f" {float(np.abs(port.wav_frontend(x) - runs[0]).max()):.2e}"
    )
    print(f"\n{failures} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
