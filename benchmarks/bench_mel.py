#!/usr/bin/env python
"""Throughput, latency, cold start and memory of melplug against its CPU peers.

Every contestant computes a mel spectrogram (power -> mel -> dB) of the same
float32 input, generated from a fixed seed, and runs in its own subprocess
(the Keras backend is fixed at import, and JIT caches and thread pools must
not leak from one contestant into another).  Each measurement is the median
of ``--repeats`` timed repeats after a warm-up; a repeat runs the call enough
times to last at least ``--min-time`` seconds.

Contestants
    melplug        ``melplug.MelSpectrogram(...)(audio)`` on the batched array.
    keras-jax      ``keras.layers.MelSpectrogram`` (KERAS_BACKEND=jax) under ``jax.jit``.
    keras-numpy    ``keras.layers.MelSpectrogram`` (KERAS_BACKEND=numpy).
    librosa        ``librosa.feature.melspectrogram`` + ``librosa.power_to_db``
                   (htk=True, norm=None, center=True, pad_mode="reflect", power=2).
    torch          ``torch.stft`` + mel matmul + dB, what ``torchaudio.transforms.MelSpectrogram``
                   and ``AmplitudeToDB`` do, with ``torch.set_num_threads(cores)``.
    audioflux      ``audioflux.BFT`` (mel scale, power) on reflect-padded input +
                   ``audioflux.utils.power_to_db``; power-of-two ``fft_length`` only,
                   and its window always spans ``fft_length`` (no ``sequence_length``).
    rfft-bound     lower bound: ``scipy.fft.rfft(frames, workers=cores)`` on pre-framed,
                   pre-windowed float32 frames; only the FFT is timed.

Workloads (16 kHz)
    A  64 clips x 1 s; fft_length=512, sequence_length=400, sequence_stride=160,
       num_mel_bins=80, min_freq=0, max_freq=8000.
    B  16 clips x 10 s; Keras defaults.
    C  one 10-minute signal; fft_length=1024, sequence_stride=256, num_mel_bins=128.
    D  one 1 s clip with A's parameters: per-call latency.

melplug is also measured for cold start in fresh processes (``import melplug``;
first call with an empty and with a warm Numba cache, ``NUMBA_CACHE_DIR`` set
to a fresh directory) and for peak memory growth during a call on C.

Usage::

    python benchmarks/bench_mel.py --json bench.json --chart bench.png   # full run
    python benchmarks/bench_mel.py --quick                               # smoke test
    python benchmarks/bench_mel.py --workloads A,D --contestants melplug,keras-jax
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

import _timing
import numpy as np
from _timing import MARKER, cores, error_text, fmt_num, measure, parse_list, print_machine

SAMPLING_RATE = 16000
SEED = 20240611
#: Modules ``import melplug`` must not load.
FORBIDDEN_MODULES = ("grain", "datasets", "keras", "jax", "torch")
#: Packages whose versions the report prints.
VERSIONED = (
    "melplug",
    "numba",
    "llvmlite",
    "rocket-fft",
    "numpy",
    "scipy",
    "keras",
    "jax",
    "jaxlib",
    "librosa",
    "torch",
    "audioflux",
    "psutil",
)

A_PARAMS = {
    "fft_length": 512,
    "sequence_length": 400,
    "sequence_stride": 160,
    "num_mel_bins": 80,
    "min_freq": 0.0,
    "max_freq": 8000,
}


@dataclass(frozen=True)
class Workload:
    """One benchmark case: input shape (``batch == 0`` means one 1-D signal) and layer arguments."""

    name: str
    title: str
    batch: int
    seconds: float
    params: dict = field(default_factory=dict)
    latency: bool = False
    quick_batch: int = 0
    quick_seconds: float = 1.0

    def shape(self, quick: bool) -> tuple[int, ...]:
        batch, seconds = (self.quick_batch, self.quick_seconds) if quick else (self.batch, self.seconds)
        n = int(round(seconds * SAMPLING_RATE))
        return (batch, n) if batch else (n,)

    def audio_seconds(self, quick: bool) -> float:
        shape = self.shape(quick)
        return math.prod(shape) / SAMPLING_RATE

    def resolved(self) -> dict:
        """All 13 Keras arguments, defaults filled in as Keras does (melplug's ``get_config`` resolves them)."""
        # Imported here, not at the top: worker processes run this file, and the cold-start worker times
        # ``import melplug`` itself.
        import melplug
        from melplug.core import KERAS_DEFAULTS

        config = melplug.MelSpectrogram(**self.params).get_config()
        return {name: config[name] for name in KERAS_DEFAULTS}


WORKLOADS = {
    "A": Workload("A", "64 clips x 1 s", 64, 1.0, A_PARAMS, quick_batch=4, quick_seconds=0.5),
    "B": Workload("B", "16 clips x 10 s, Keras defaults", 16, 10.0, {}, quick_batch=2, quick_seconds=1.0),
    "C": Workload(
        "C",
        "one 10-minute signal",
        0,
        600.0,
        {"fft_length": 1024, "sequence_stride": 256, "num_mel_bins": 128},
        quick_seconds=5.0,
    ),
    "D": Workload("D", "one 1 s clip, per-call latency", 0, 1.0, A_PARAMS, latency=True, quick_seconds=1.0),
}

PEERS = ("keras-jax", "keras-numpy", "librosa", "torch", "audioflux")
BOUND = "rfft-bound"
CONTESTANTS = ("melplug", *PEERS, BOUND)
#: Contestants whose dB values are relative to the maximum (compared after aligning maxima).
RELATIVE_DB = ("audioflux",)

#: The targets set for the first release (same-run ratios).
THROUGHPUT_TARGET_PEER = 2.0
THROUGHPUT_TARGET_BOUND = 0.6
LATENCY_TARGET_PEER = 1.5
MEMORY_TARGET = 1.5
WARM_FIRST_CALL_TARGET_S = 0.3
IMPORT_TARGET_S = 0.5
COLD_COMPILE_TARGET_S = 5.0


def make_input(workload: Workload, quick: bool) -> np.ndarray:
    """The same float32 noise in every process (fixed seed)."""
    rng = np.random.default_rng(SEED)
    x = rng.standard_normal(workload.shape(quick), dtype=np.float32)
    x *= np.float32(0.1)
    return x


# =========================================================================== contestants (run in workers)


def _melplug(workload: Workload, x: np.ndarray, ncores: int):
    import melplug

    mel = melplug.MelSpectrogram(**workload.params)
    return lambda: mel(x)


def _keras_layer(workload: Workload):
    import keras

    return keras.layers.MelSpectrogram(**workload.params)


def _keras_jax(workload: Workload, x: np.ndarray, ncores: int):
    import jax

    layer = _keras_layer(workload)
    fn = jax.jit(lambda a: layer(a))
    return lambda: np.asarray(fn(x))


def _keras_numpy(workload: Workload, x: np.ndarray, ncores: int):
    layer = _keras_layer(workload)
    return lambda: np.asarray(layer(x))


def _librosa(workload: Workload, x: np.ndarray, ncores: int):
    import librosa

    p = workload.resolved()

    def run():
        s = librosa.feature.melspectrogram(
            y=x,
            sr=p["sampling_rate"],
            n_fft=p["fft_length"],
            hop_length=p["sequence_stride"],
            win_length=p["sequence_length"],
            window="hann",
            center=True,
            pad_mode="reflect",
            power=p["mag_exp"],
            n_mels=p["num_mel_bins"],
            fmin=p["min_freq"],
            fmax=p["max_freq"],
            htk=True,
            norm=None,
        )
        return librosa.power_to_db(s, ref=p["ref_power"], amin=p["min_power"], top_db=p["top_db"])

    return run


def _torch(workload: Workload, x: np.ndarray, ncores: int):
    import torch

    import melplug

    torch.set_num_threads(ncores)
    p = workload.resolved()
    # Keras' mel matrix (melplug builds exactly that one), as torchaudio's ``fb`` of shape (n_freqs, n_mels).
    fb = torch.from_numpy(melplug.MelSpectrogram(**workload.params).mel_weights.astype(np.float32))
    window = torch.hann_window(p["sequence_length"], periodic=True, dtype=torch.float32)
    xt = torch.from_numpy(x)
    amin = p["min_power"]
    ref_db = 10.0 * math.log10(max(abs(p["ref_power"]), amin))
    top_db = p["top_db"]

    def run():
        with torch.inference_mode():
            spec = torch.stft(
                xt,
                n_fft=p["fft_length"],
                hop_length=p["sequence_stride"],
                win_length=p["sequence_length"],
                window=window,
                center=True,
                pad_mode="reflect",
                normalized=False,
                onesided=True,
                return_complex=True,
            )
            power = spec.abs().pow(p["mag_exp"])
            mel = torch.matmul(power.transpose(-1, -2), fb).transpose(-1, -2)
            db = 10.0 * torch.log10(torch.clamp(mel, min=amin)) - ref_db
            floor = db.amax(dim=(-2, -1), keepdim=True) - top_db
            return torch.maximum(db, floor).numpy()

    return run


def _audioflux(workload: Workload, x: np.ndarray, ncores: int):
    import audioflux
    from audioflux.type import (
        SpectralDataType,
        SpectralFilterBankNormalType,
        SpectralFilterBankScaleType,
        SpectralFilterBankStyleType,
        WindowType,
    )

    p = workload.resolved()
    fft = p["fft_length"]
    radix2 = int(round(math.log2(fft)))
    if 2**radix2 != fft:
        raise ValueError(f"audioflux needs a power-of-two fft_length; workload has {fft}")
    bft = audioflux.BFT(
        num=p["num_mel_bins"],
        radix2_exp=radix2,
        samplate=p["sampling_rate"],
        low_fre=float(p["min_freq"]),
        high_fre=float(p["max_freq"]),
        window_type=WindowType.HANN,
        slide_length=p["sequence_stride"],
        scale_type=SpectralFilterBankScaleType.MEL,
        style_type=SpectralFilterBankStyleType.SLANEY,
        normal_type=SpectralFilterBankNormalType.NONE,
        data_type=SpectralDataType.POWER,
    )
    pad = [(0, 0)] * (x.ndim - 1) + [(fft // 2, fft // 2)]

    def run():
        power = bft.bft(np.pad(x, pad, mode="reflect"), result_type=1)
        return audioflux.utils.power_to_db(power, min_db=-p["top_db"])

    return run


def _rfft_bound(workload: Workload, x: np.ndarray, ncores: int):
    import scipy.fft

    import melplug

    p = workload.resolved()
    fft, stride = p["fft_length"], p["sequence_stride"]
    window = melplug.MelSpectrogram(**workload.params).plan.window.astype(np.float32)
    pad = [(0, 0)] * (x.ndim - 1) + [(fft // 2, fft // 2)]
    padded = np.pad(x, pad, mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(padded, fft, axis=-1)[..., ::stride, :]
    frames = np.ascontiguousarray((frames * window).reshape(-1, fft), dtype=np.float32)
    return lambda: scipy.fft.rfft(frames, axis=-1, workers=ncores)


SETUP = {
    "melplug": _melplug,
    "keras-jax": _keras_jax,
    "keras-numpy": _keras_numpy,
    "librosa": _librosa,
    "torch": _torch,
    "audioflux": _audioflux,
    BOUND: _rfft_bound,
}
KERAS_BACKENDS = {"keras-jax": "jax", "keras-numpy": "numpy"}


# =========================================================================== timing


def worker(contestant: str, workload_names: list[str], args) -> dict:
    """Time one contestant on some workloads in this process."""
    ncores = cores()
    results = {}
    for name in workload_names:
        workload = WORKLOADS[name]
        x = make_input(workload, args.quick)
        try:
            fn = SETUP[contestant](workload, x, ncores)
            r = measure(fn, args.repeats, args.warmup, args.min_time_latency if workload.latency else args.min_time)
        except Exception as exc:  # noqa: BLE001 - any failure is reported as this contestant's row
            unavailable = isinstance(exc, ImportError)
            results[name] = {"ok": False, "unavailable": unavailable, "error": error_text(exc)}
            continue
        out = r.pop("out")
        out = out.numpy() if hasattr(out, "numpy") else np.asarray(out)
        if args.save_dir and contestant != BOUND:
            first = out[0] if workload.batch and out.ndim == 3 else out
            np.save(os.path.join(args.save_dir, f"{contestant}_{name}.npy"), np.ascontiguousarray(first))
        results[name] = dict(r, ok=True, shape=list(out.shape), dtype=str(out.dtype), threads=ncores)
    return results


def worker_cold(mode: str, args) -> dict:
    """Cold-start measurements in this (fresh) process.

    The first call is workload A at full size (``--quick`` or not) on the
    batched parallel path, then one 1-D clip (workload D, the serial path).
    ``first_call_s`` is everything after ``import melplug`` up to the first
    result: constructing the object, loading Numba and the kernels (compiling
    them when the cache is empty), and the call itself.
    """
    t0 = time.perf_counter()
    import melplug

    t_import = time.perf_counter() - t0
    loaded = sorted(m for m in FORBIDDEN_MODULES if m in sys.modules)
    result = {"import_s": t_import, "forbidden_imported": loaded, "numba_imported": "numba" in sys.modules}
    if mode == "import":
        return result
    workload = WORKLOADS["A"]
    x = make_input(workload, quick=False)
    clip = make_input(WORKLOADS["D"], quick=False)
    t0 = time.perf_counter()
    mel = melplug.MelSpectrogram(**workload.params)
    t1 = time.perf_counter()
    import melplug.kernels  # noqa: F401 - timed on its own: Numba and the kernel modules

    t2 = time.perf_counter()
    mel(x)
    t3 = time.perf_counter()
    mel(x)
    t4 = time.perf_counter()
    mel(clip)
    t5 = time.perf_counter()
    result.update(
        construct_s=t1 - t0,
        kernels_import_s=t2 - t1,
        call_s=t3 - t2,
        first_call_s=t3 - t0,
        second_call_s=t4 - t3,
        first_1d_call_s=t5 - t4,
        input_shape=list(x.shape),
    )
    return result


def _rss_reader():
    try:
        import psutil

        proc = psutil.Process()
        return (lambda: proc.memory_info().rss), "psutil"
    except ImportError:
        page = os.sysconf("SC_PAGE_SIZE")

        def read():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * page

        return read, "/proc/self/statm"


def worker_memory(args) -> dict:
    """Peak RSS growth during one melplug call on workload C, sampled in a thread.

    The kernels are compiled and the thread pool started by a warm-up call on a
    shorter signal, so the measured call is the first one at full size: all it
    needs is newly allocated.  ``ru_maxrss`` (the process's peak) gives a second
    view: its growth during the call.
    """
    import gc
    import resource

    import melplug

    workload = WORKLOADS["C"]
    x = make_input(workload, args.quick)
    mel = melplug.MelSpectrogram(**workload.params)
    mel(x[: max(1, x.shape[0] // 20)])
    gc.collect()
    rss, how = _rss_reader()
    samples = []
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append(rss())
            time.sleep(0.0002)

    base = rss()
    max_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    t0 = time.perf_counter()
    out = mel(x)
    elapsed = time.perf_counter() - t0
    samples.append(rss())
    stop.set()
    thread.join()
    max_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    growth = max(samples) - base
    return {
        "rss_base": base,
        "rss_peak": max(samples),
        "growth_bytes": growth,
        "maxrss_growth_bytes": max(0, max_after - max(max_before, base)),
        "output_bytes": int(out.nbytes),
        "ratio": growth / out.nbytes,
        "samples": len(samples),
        "sampler": how,
        "call_s": elapsed,
        "input_shape": list(x.shape),
    }


# =========================================================================== orchestration


def run_worker_process(argv: list[str], env_extra: dict, timeout: float) -> dict:
    return _timing.run_worker_process(__file__, argv, env_extra, timeout)


def common_worker_args(args) -> list[str]:
    argv = [
        "--repeats",
        str(args.repeats),
        "--warmup",
        str(args.warmup),
        "--min-time",
        str(args.min_time),
        "--min-time-latency",
        str(args.min_time_latency),
    ]
    return argv + (["--quick"] if args.quick else [])


def run_contestants(args, contestants, workloads, save_dir) -> dict:
    """``results[workload][contestant]``, each contestant in its own process(es)."""
    results = {w: {} for w in workloads}
    for contestant in contestants:
        env = {}
        if contestant in KERAS_BACKENDS:
            env["KERAS_BACKEND"] = KERAS_BACKENDS[contestant]
        groups = [workloads] if args.isolate == "contestant" else [[w] for w in workloads]
        for group in groups:
            t0 = time.perf_counter()
            argv = ["--worker", contestant, ",".join(group), "--save-dir", save_dir, *common_worker_args(args)]
            got = run_worker_process(argv, env, args.timeout)
            for w in group:
                if "_error" in got:
                    results[w][contestant] = {"ok": False, "unavailable": False, "error": got["_error"]}
                else:
                    results[w][contestant] = got[w]
            status = "ok" if all(results[w][contestant]["ok"] for w in group) else "failed/unavailable"
            print(
                f"  ran {contestant:<12} on {','.join(group):<8} {time.perf_counter() - t0:6.1f} s  {status}",
                file=sys.stderr,
                flush=True,
            )
    return results


def compare_outputs(results, save_dir) -> None:
    """Add ``max_abs_db_diff`` (vs melplug's first example) to each comparable row."""
    for w, rows in results.items():
        ref_path = os.path.join(save_dir, f"melplug_{w}.npy")
        if not os.path.exists(ref_path):
            continue
        ref = np.load(ref_path).astype(np.float64)
        for contestant, row in rows.items():
            path = os.path.join(save_dir, f"{contestant}_{w}.npy")
            if contestant == "melplug" or not row.get("ok") or not os.path.exists(path):
                continue
            got = np.load(path).astype(np.float64)
            if got.shape != ref.shape:
                row["diff_note"] = f"shape {tuple(got.shape)} vs {tuple(ref.shape)}"
                continue
            diff = got - ref
            if contestant in RELATIVE_DB:
                diff -= got.max() - ref.max()
                row["diff_note"] = "after aligning maxima (dB rel. to max)"
            row["max_abs_db_diff"] = float(np.max(np.abs(diff)))


def derive_ratios(results, quick) -> None:
    """Throughput (audio s per wall s), latency and the ratios to the fastest peer and the rfft bound."""
    for w, rows in results.items():
        workload = WORKLOADS[w]
        audio_s = workload.audio_seconds(quick)
        for row in rows.values():
            if row.get("ok"):
                row["throughput"] = audio_s / row["seconds"]
                row["latency_us"] = row["seconds"] * 1e6
        peers = {c: r for c, r in rows.items() if c in PEERS and r.get("ok")}
        best = max(peers, key=lambda c: peers[c]["throughput"]) if peers else None
        bound = rows.get(BOUND) if rows.get(BOUND, {}).get("ok") else None
        for row in rows.values():
            if not row.get("ok"):
                continue
            if best:
                row["vs_fastest_peer"] = row["throughput"] / peers[best]["throughput"]
            if bound:
                row["vs_bound"] = row["throughput"] / bound["throughput"]
        rows_meta = {"fastest_peer": best}
        results[w] = {"rows": rows, **rows_meta}


def workload_header(w: str, quick: bool) -> str:
    workload = WORKLOADS[w]
    shape = workload.shape(quick)
    args = ", ".join(f"{k}={v}" for k, v in workload.params.items()) or "Keras defaults"
    return f"{w}: {workload.title} -- input {shape} float32 ({workload.audio_seconds(quick):g} audio s); {args}"


def print_tables(results, contestants, quick) -> None:
    for w, block in results.items():
        workload = WORKLOADS[w]
        rows = block["rows"]
        print()
        print(workload_header(w, quick))
        if workload.latency:
            head = (
                f"  {'contestant':<12} {'latency us':>12} {'calls/s':>10} {'x fastest peer':>15} "
                f"{'x rfft bound':>13}  {'output':<16} max|diff| dB vs melplug"
            )
        else:
            head = (
                f"  {'contestant':<12} {'audio s/s':>12} {'ms/call':>10} {'x fastest peer':>15} "
                f"{'x rfft bound':>13}  {'output':<16} max|diff| dB vs melplug"
            )
        print(head)
        for c in contestants:
            row = rows.get(c)
            if row is None:
                continue
            if not row.get("ok"):
                kind = "unavailable" if row.get("unavailable") else "failed"
                print(f"  {c:<12} {kind}: {row.get('error', '')}")
                continue
            peer = f"{row['vs_fastest_peer']:.2f}x" if "vs_fastest_peer" in row else "-"
            bound = f"{row['vs_bound']:.2f}x" if "vs_bound" in row else "-"
            if c == BOUND:
                peer = "(bound)"
            if "max_abs_db_diff" in row:
                diff = f"{row['max_abs_db_diff']:.2g}"
                if "diff_note" in row:
                    diff += f" ({row['diff_note']})"
            else:
                diff = row.get("diff_note", "-" if c != "melplug" else "(reference)")
            shape = "x".join(str(s) for s in row["shape"])
            if workload.latency:
                main = f"{fmt_num(row['latency_us']):>12} {fmt_num(1.0 / row['seconds']):>10}"
            else:
                main = f"{fmt_num(row['throughput']):>12} {row['seconds'] * 1e3:>10.2f}"
            print(f"  {c:<12} {main} {peer:>15} {bound:>13}  {shape:<16} {diff}")
        best = block.get("fastest_peer")
        if best:
            print(f"  fastest peer: {best}; ratios are throughput / fastest peer's (for D: its latency / latency)")


def run_cold_start(args) -> dict:
    """Import time, first call with an empty then a warm Numba cache, each in a fresh process."""
    runs = 1 if args.quick else 3
    timeout = args.timeout
    with tempfile.TemporaryDirectory(prefix="melplug-numba-cache-") as cache:
        env = {"NUMBA_CACHE_DIR": cache}
        imports = [run_worker_process(["--worker-cold", "import"], env, timeout) for _ in range(runs)]
        cold = run_worker_process(["--worker-cold", "first-call"], env, timeout)
        warm = [run_worker_process(["--worker-cold", "first-call"], env, timeout) for _ in range(runs)]
    errors = [r["_error"] for r in [*imports, cold, *warm] if "_error" in r]
    if errors:
        return {"ok": False, "error": errors[0]}
    return {
        "ok": True,
        "runs": runs,
        "import_s": statistics.median(r["import_s"] for r in imports),
        "forbidden_imported": sorted({m for r in imports for m in r["forbidden_imported"]}),
        "numba_imported_by_import": any(r["numba_imported"] for r in imports),
        "cold": cold,
        "warm_first_call_s": statistics.median(r["first_call_s"] for r in warm),
        "warm": {
            k: statistics.median(r[k] for r in warm)
            for k in (
                "import_s",
                "construct_s",
                "kernels_import_s",
                "call_s",
                "first_call_s",
                "second_call_s",
                "first_1d_call_s",
            )
        },
        "input_shape": cold["input_shape"],
    }


def print_cold(cold: dict) -> None:
    print()
    print(
        "Cold start (melplug, fresh processes, NUMBA_CACHE_DIR = a new temporary directory; first call = "
        f"workload A's parameters on its full {tuple(cold.get('input_shape', ()))} float32 batch)"
    )
    if not cold.get("ok"):
        print(f"  failed: {cold.get('error')}")
        return
    n = cold["runs"]
    forbidden = ", ".join(cold["forbidden_imported"]) or "none"
    print(
        f"  import melplug                      {cold['import_s']:8.3f} s  (median of {n}; "
        f"imports {forbidden} of {', '.join(FORBIDDEN_MODULES)}; numba loaded: {cold['numba_imported_by_import']})"
    )

    def line(label, first, r):
        return (
            f"  {label:<35} {first:8.3f} s  beyond import = load numba+kernels {r['kernels_import_s']:.3f} s "
            f"+ call {r['call_s']:.3f} s; then 2nd call {r['second_call_s'] * 1e3:.1f} ms, "
            f"first 1-D call {r['first_1d_call_s'] * 1e3:.1f} ms"
        )

    print(line("first call, empty cache (compile)", cold["cold"]["first_call_s"], cold["cold"]))
    print(line(f"first call, warm cache (median {n})", cold["warm_first_call_s"], cold["warm"]))


def print_memory(mem: dict) -> None:
    print()
    if not mem.get("ok", True) or "_error" in mem:
        print(f"Memory (melplug, workload C): failed: {mem.get('_error', mem.get('error'))}")
        return
    mib = 1 / 2**20
    print(
        f"Memory (melplug, workload C input {tuple(mem['input_shape'])}; fresh process, RSS sampled by "
        f"{mem['sampler']} every 0.2 ms, {mem['samples']} samples)"
    )
    print(
        f"  peak RSS growth during the call  {mem['growth_bytes'] * mib:8.1f} MiB "
        f"(ru_maxrss growth {mem['maxrss_growth_bytes'] * mib:.1f} MiB)"
    )
    print(f"  output array                     {mem['output_bytes'] * mib:8.1f} MiB")
    print(f"  ratio growth / output            {mem['ratio']:8.2f}")


def targets(results, cold, mem) -> list[dict]:
    """The targets set for the first release, judged on this run's numbers."""
    out = []

    def add(what, value, goal, met):
        out.append({"target": what, "value": value, "goal": goal, "met": bool(met)})

    for w, block in results.items():
        row = block["rows"].get("melplug")
        if not row or not row.get("ok"):
            continue
        if WORKLOADS[w].latency:
            if "vs_fastest_peer" in row:
                add(
                    f"{w}: latency vs fastest peer",
                    row["vs_fastest_peer"],
                    f">= {LATENCY_TARGET_PEER}x",
                    row["vs_fastest_peer"] >= LATENCY_TARGET_PEER,
                )
            continue
        if "vs_fastest_peer" in row:
            add(
                f"{w}: throughput vs fastest peer",
                row["vs_fastest_peer"],
                f">= {THROUGHPUT_TARGET_PEER}x",
                row["vs_fastest_peer"] >= THROUGHPUT_TARGET_PEER,
            )
        if "vs_bound" in row:
            add(
                f"{w}: throughput vs rfft bound",
                row["vs_bound"],
                f">= {THROUGHPUT_TARGET_BOUND}x",
                row["vs_bound"] >= THROUGHPUT_TARGET_BOUND,
            )
    if mem and "ratio" in mem:
        add("C: peak memory growth / output", mem["ratio"], f"<= {MEMORY_TARGET}", mem["ratio"] <= MEMORY_TARGET)
    if cold and cold.get("ok"):
        add("import melplug (s)", cold["import_s"], f"<= {IMPORT_TARGET_S}", cold["import_s"] <= IMPORT_TARGET_S)
        add(
            "import loads none of " + "/".join(FORBIDDEN_MODULES),
            len(cold["forbidden_imported"]),
            "0",
            not cold["forbidden_imported"],
        )
        add(
            "first call, warm cache (s beyond import)",
            cold["warm_first_call_s"],
            f"<= {WARM_FIRST_CALL_TARGET_S}",
            cold["warm_first_call_s"] <= WARM_FIRST_CALL_TARGET_S,
        )
        add(
            "cold compile, float32 path (s)",
            cold["cold"]["first_call_s"],
            f"<= {COLD_COMPILE_TARGET_S}",
            cold["cold"]["first_call_s"] <= COLD_COMPILE_TARGET_S,
        )
    return out


def print_targets(rows: list[dict], quick: bool) -> None:
    if not rows:
        return
    print()
    note = " (--quick sizes: not meaningful)" if quick else ""
    print(f"Targets set for the first release{note}")
    for t in rows:
        print(f"  {t['target']:<44} {t['value']:>9.3g}  goal {t['goal']:<8} {'met' if t['met'] else 'NOT MET'}")


def machine_info() -> dict:
    return _timing.machine_info(VERSIONED)


def print_header(meta: dict, args, command: str) -> None:
    print(f"melplug benchmark -- {meta['date']}")
    print_machine(meta, command)
    print(
        f"timing: median of {args.repeats} repeat(s) after {max(1, args.warmup) + 1} warm-up call(s)"
        f"; a repeat lasts >= {args.min_time:g} s ({args.min_time_latency:g} s for latency); float32 input, seed {SEED}"
    )


def chart(results, meta, path: str, contestants, quick: bool = False) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names) + 1, 4.2), squeeze=False)
    for ax, w in zip(axes[0], names, strict=True):
        rows = results[w]["rows"]
        labels, values, colors, hatches = [], [], [], []
        for c in contestants:
            row = rows.get(c)
            if not row or not row.get("ok") or "vs_fastest_peer" not in row:
                continue
            labels.append(c)
            values.append(row["vs_fastest_peer"])
            colors.append("tab:orange" if c == "melplug" else ("lightgrey" if c == BOUND else "tab:blue"))
            hatches.append("//" if c == BOUND else "")
        bars = ax.bar(range(len(values)), values, color=colors, edgecolor="black", linewidth=0.5)
        for bar, hatch, v in zip(bars, hatches, values, strict=True):
            bar.set_hatch(hatch)
            ax.annotate(f"{v:.2f}", (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom", fontsize=8)
        ax.axhline(1.0, color="black", linewidth=0.8)
        goal = LATENCY_TARGET_PEER if WORKLOADS[w].latency else THROUGHPUT_TARGET_PEER
        ax.axhline(goal, color="tab:red", linestyle="--", linewidth=0.8)
        ax.set_ylim(0, 1.15 * max([goal, *values]))
        ax.set_xticks(range(len(labels)))
        ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=8)
        kind = "1/latency" if WORKLOADS[w].latency else "throughput"
        ax.set_title(f"{w}: {WORKLOADS[w].title}\n(red dashes: melplug's target, {goal}x)", fontsize=9)
        ax.set_ylabel(f"{kind} / fastest peer's")
    fig.suptitle(
        f"melplug vs CPU peers (higher is better) -- {meta['cpu']}, {meta['cores']} cores, {meta['date']}"
        + (" -- --quick sizes, not representative" if quick else ""),
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat: a smoke test")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated, from A,B,C,D")
    ap.add_argument("--contestants", default=",".join(CONTESTANTS), help=f"comma-separated, from {CONTESTANTS}")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats (default 5, 1 with --quick)")
    ap.add_argument("--warmup", type=int, default=None, help="warm-up calls before the calibration call (default 1)")
    ap.add_argument("--min-time", type=float, default=None, help="seconds a throughput repeat lasts at least")
    ap.add_argument("--min-time-latency", type=float, default=None, help="seconds a latency repeat lasts at least")
    ap.add_argument(
        "--isolate",
        choices=("workload", "contestant"),
        default=None,
        help="one process per contestant and workload (default) or per contestant (--quick)",
    )
    ap.add_argument("--timeout", type=float, default=None, help="seconds per worker process")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold-start measurements")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory measurement")
    ap.add_argument("--json", help="write all results to this JSON file")
    ap.add_argument("--chart", help="write a PNG bar chart of ratios to the fastest peer")
    ap.add_argument("--worker", nargs=2, metavar=("CONTESTANT", "WORKLOADS"), help=argparse.SUPPRESS)
    ap.add_argument("--worker-cold", choices=("import", "first-call"), help=argparse.SUPPRESS)
    ap.add_argument("--worker-memory", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--save-dir", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    q = args.quick
    if args.repeats is None:
        args.repeats = 1 if q else 5
    if args.warmup is None:
        args.warmup = 1
    if args.min_time is None:
        args.min_time = 0.0 if q else 0.2
    if args.min_time_latency is None:
        args.min_time_latency = 0.02 if q else 0.2
    if args.isolate is None:
        args.isolate = "contestant" if q else "workload"
    if args.timeout is None:
        args.timeout = 120.0 if q else 1200.0
    if args.repeats < 1:
        raise SystemExit(f"--repeats={args.repeats} is invalid: it must be >= 1")

    if args.worker:
        contestant, names = args.worker
        print(MARKER + json.dumps(worker(contestant, names.split(","), args)), flush=True)
        return 0
    if args.worker_cold:
        print(MARKER + json.dumps(worker_cold(args.worker_cold, args)), flush=True)
        return 0
    if args.worker_memory:
        print(MARKER + json.dumps(worker_memory(args)), flush=True)
        return 0

    workloads = parse_list(args.workloads, WORKLOADS, "workloads")
    contestants = parse_list(args.contestants, CONTESTANTS, "contestants")
    meta = machine_info()
    command = "python " + " ".join([os.path.relpath(__file__)] + sys.argv[1:])
    print_header(meta, args, command)
    sys.stdout.flush()

    with tempfile.TemporaryDirectory(prefix="melplug-bench-") as save_dir:
        results = run_contestants(args, contestants, workloads, save_dir)
        compare_outputs(results, save_dir)
    derive_ratios(results, q)
    print_tables(results, contestants, q)

    cold = mem = None
    if "melplug" in contestants and not args.no_cold:
        cold = run_cold_start(args)
        print_cold(cold)
    if "melplug" in contestants and not args.no_memory:
        mem = run_worker_process(["--worker-memory", *(["--quick"] if q else [])], {}, args.timeout)
        print_memory(mem)
    goals = targets(results, cold, mem)
    print_targets(goals, q)

    if args.json:
        for block in results.values():
            for row in block["rows"].values():
                row.pop("out", None)
        doc = {
            "meta": meta,
            "command": command,
            "settings": {
                k: getattr(args, k) for k in ("quick", "repeats", "warmup", "min_time", "min_time_latency", "isolate")
            },
            "workloads": {
                w: {
                    "header": workload_header(w, q),
                    "params": WORKLOADS[w].resolved(),
                    "audio_seconds": WORKLOADS[w].audio_seconds(q),
                    **results[w],
                }
                for w in results
            },
            "cold_start": cold,
            "memory": mem,
            "targets": goals,
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
        print(f"\nwrote {args.json}")
    if args.chart:
        try:
            chart(results, meta, args.chart, contestants, quick=q)
            print(f"wrote {args.chart}")
        except ImportError as exc:
            print(f"chart skipped: {exc}", file=sys.stderr)

    failed = [w for w, b in results.items() if "melplug" in b["rows"] and not b["rows"]["melplug"].get("ok")]
    if failed or (cold is not None and not cold.get("ok")) or (mem is not None and "_error" in mem):
        print(
            f"\nmelplug failed: workloads {failed}" if failed else "\nmelplug cold-start/memory run failed",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
