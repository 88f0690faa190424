"""tf.data pipelines: melplug.tf against keras.layers.MelSpectrogram (TensorFlow backend), elements/s.

Each pipeline is ``from_tensor_slices(clips) -> map(mel) -> batch(16) -> prefetch`` ("per clip"), or
``batch(16) -> map(mel)`` ("per batch"), iterated to the end; the number is clips per second of the best
of ``--repeats`` passes after one untimed pass (which traces the graph and loads the compiled kernels;
its time is printed as "first pass").  Both contestants run in this process with ``AUTOTUNE``; Keras
uses the TensorFlow backend (set here, before Keras is imported).  Settings: 16 kHz, fft 512, window
400, hop 160, 80 mels (the common speech front-end).

The scaling table times melplug alone: a truly serial map (``map_parallelization`` off, one call at a
time) against AUTOTUNE, with 1 thread per call (the adapter's default in tf.data) and with every core
per call (what oversubscription costs), per clip and per batch.  In graphs melplug.tf runs its custom
op (no Python per call); its ``tf.numpy_function`` fallback is timed in the per-call table (docs/tf.md).

The per-call table splits a per-clip map of 1 s clips into its layers, in microseconds per clip
(wall time of the best pass) of a serial map and of an AUTOTUNE map: the tf.data floor (a TensorFlow op
giving an output of the same shape), ``tf.numpy_function`` with a function that returns a preallocated
array, melplug.tf (its custom op when it is available), melplug.tf through ``tf.numpy_function`` (the
fallback), and Keras' layer; and, called directly outside tf.data, melplug's kernel call (phase 1 and
its arrays, ``Driver.array``), the adapter's numpy_function call (plus melplug's Python) and the op's C
entry point (the whole pipeline in one C call, ``melplug._cabi``).

    python benchmarks/bench_tf.py            # 1 s and 10 s clips
    python benchmarks/bench_tf.py --quick    # fewer clips, one repeat (the smoke test)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ["KERAS_BACKEND"] = "tensorflow"  # Keras' backend is fixed per process, before `import keras`
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

if __package__ in (None, ""):  # run as a script: make `melplug` importable from a checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import melplug  # noqa: E402
import melplug.tf  # noqa: E402

CONFIG = dict(sampling_rate=16000, fft_length=512, sequence_length=400, sequence_stride=160, num_mel_bins=80)
BATCH = 16


def pipeline(clips: np.ndarray, fn, mode: str, parallel: bool = True) -> tf.data.Dataset:
    calls = tf.data.AUTOTUNE if parallel else None
    ds = tf.data.Dataset.from_tensor_slices(clips)
    if mode == "per clip":
        ds = ds.map(fn, num_parallel_calls=calls).batch(BATCH)
    else:
        ds = ds.batch(BATCH).map(fn, num_parallel_calls=calls)
    if not parallel:  # one call at a time: stateful=False would otherwise let tf.data parallelise the map
        options = tf.data.Options()
        options.experimental_optimization.map_parallelization = False
        ds = ds.with_options(options)
    return ds.prefetch(2)


def run_pass(ds) -> float:
    t0 = time.perf_counter()
    for _ in ds:
        pass
    return time.perf_counter() - t0


def measure(ds, num_clips: int, repeats: int) -> dict:
    first = run_pass(ds)
    times = [run_pass(ds) for _ in range(repeats)]
    seconds = min(times)  # the best pass: the machines are shared, and interference only ever slows a pass
    return {"first_pass_s": first, "seconds": seconds, "clips_per_s": num_clips / seconds}


def per_call(clips: np.ndarray, repeats: int, keras_layer) -> dict:
    """The layers of a per-clip map (see the module docstring), microseconds per clip."""
    mel = melplug.tf.MelSpectrogram(**CONFIG)
    shape = mel.mel.compute_output_shape(clips.shape[1:])
    preallocated = mel.mel(clips[0])

    def noop(x):
        out = tf.numpy_function(lambda audio: preallocated, [x], tf.float32, stateful=False)
        out.set_shape(shape)
        return out

    size = int(np.prod(shape))
    fallback = melplug.tf.MelSpectrogram(**CONFIG)
    fallback._use_op = False  # what MELPLUG_TF_OP=0 (or an op that cannot be built) gives
    contestants = {
        "tf.data floor (a TensorFlow op)": lambda x: tf.reshape(x[:size], shape),
        "tf.numpy_function returning an array": noop,
        "melplug.tf": mel,
        "melplug.tf via tf.numpy_function (its fallback)": fallback,
        "keras": keras_layer,
    }
    rows = {}
    for name, fn in contestants.items():
        for parallel in (False, True):
            ds = pipeline(clips, fn, "per clip", parallel)
            rows[f"{name}, {'AUTOTUNE' if parallel else 'serial'}"] = (
                1e6 / measure(ds, len(clips), repeats)["clips_per_s"]
            )

    def call_us(fn, count=2000) -> float:
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(count):
                fn()
            best = min(best, time.perf_counter() - t0)
        return 1e6 * best / count

    clip = clips[1]
    melplug.tf._call_core(mel.mel, 1, "audio", clip)  # prepares the fast path for this shape
    driver, row = mel.mel._driver, clip[None]
    rows["direct: the kernel call (Driver.array)"] = call_us(lambda: driver.array(row, 1))
    rows["direct: the adapter's call (kernel + melplug's Python)"] = call_us(
        lambda: melplug.tf._call_core(mel.mel, 1, "audio", clip)
    )
    if melplug.tf._op() is not None:  # the op's C entry point called directly (ctypes releases the GIL)
        import ctypes

        from melplug import _cabi

        packed = melplug.tf._packed_plan(mel.mel)
        c_entry = ctypes.CFUNCTYPE(ctypes.c_int64, *[ctypes.c_int64] * 6)(_cabi.entry_address(clip.dtype))
        out, flags = np.empty(size, clip.dtype), np.zeros(1, np.uint8)
        args = (packed.address, clip.ctypes.data, 1, clip.shape[0], out.ctypes.data, flags.ctypes.data)
        rows["direct: the op's C entry point (ctypes)"] = call_us(lambda: c_entry(*args))
    return rows


def max_difference(keras_ds, melplug_ds) -> float:
    return max(float(np.max(np.abs(a.numpy() - b.numpy()))) for a, b in zip(keras_ds, melplug_ds, strict=True))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--quick", action="store_true", help="few clips and one repeat (a smoke test, not a measurement)"
    )
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed passes per pipeline (default 7; 1 with --quick)"
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 7)
    import keras

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"tf.data mel pipelines: TensorFlow {tf.__version__}, Keras {keras.__version__} "
        f"(backend {keras.backend.backend()}), melplug {melplug.__version__}, {cores} cores; "
        f"clips/s, best of {repeats} pass(es)"
    )
    t0 = time.perf_counter()
    path = "custom op" if melplug.tf._op() is not None else f"tf.numpy_function ({melplug._tfop.failure()})"
    print(f"melplug.tf runs graphs through: {path}; op ready in {time.perf_counter() - t0:.2f} s")
    rng = np.random.default_rng(0)
    workloads = {"1 s": (1, 64 if args.quick else 1024), "10 s": (10, 16 if args.quick else 128)}
    results: dict = {"workloads": {}, "scaling": {}, "per_call": {}}
    print(f"\n{'clips':<6} {'map':<10} {'contestant':<10} {'clips/s':>9} {'first pass s':>13} {'x keras':>8}")
    for label, (seconds, count) in workloads.items():
        clips = (0.1 * rng.standard_normal((count, seconds * 16000))).astype(np.float32)
        block = results["workloads"][label] = {}
        for mode in ("per clip", "per batch"):
            # Keras' floor is over its whole input: per clip it is per example, per batch it needs scope="batch".
            scope = "example" if mode == "per clip" else "batch"
            keras_ds = pipeline(clips, keras.layers.MelSpectrogram(**CONFIG), mode)
            melplug_ds = pipeline(clips, melplug.tf.MelSpectrogram(**CONFIG, top_db_scope=scope), mode)
            rows = {"keras": measure(keras_ds, count, repeats), "melplug": measure(melplug_ds, count, repeats)}
            rows["melplug"]["vs_keras"] = rows["melplug"]["clips_per_s"] / rows["keras"]["clips_per_s"]
            rows["max_abs_db_diff"] = max_difference(keras_ds, melplug_ds)
            block[mode] = rows
            for name in ("keras", "melplug"):
                r = rows[name]
                ratio = f"{r['vs_keras']:.2f}x" if "vs_keras" in r else "1.00x"
                print(
                    f"{label:<6} {mode:<10} {name:<10} {r['clips_per_s']:>9.1f} {r['first_pass_s']:>13.2f} {ratio:>8}"
                )
            print(f"{'':<6} {mode:<10} max |keras - melplug| = {rows['max_abs_db_diff']:.4f} dB")

    print(f"\nParallel scaling of melplug.tf (clips/s; threads per call x calls at once: {cores} cores)")
    print(f"{'clips':<6} {'map':<10} {'threads/call':<13} {'serial':>9} {'AUTOTUNE':>9} {'scaling':>8}")
    for label, (seconds, count) in workloads.items():
        clips = (0.1 * rng.standard_normal((count, seconds * 16000))).astype(np.float32)
        block = results["scaling"][label] = {}
        for mode in ("per clip", "per batch"):
            for threads in sorted({1, cores}):
                mel = melplug.tf.MelSpectrogram(**CONFIG, num_threads=threads)
                serial = measure(pipeline(clips, mel, mode, parallel=False), count, repeats)["clips_per_s"]
                auto = measure(pipeline(clips, mel, mode), count, repeats)["clips_per_s"]
                block[f"{mode}, {threads} thread(s)"] = {"serial": serial, "autotune": auto, "scaling": auto / serial}
                print(f"{label:<6} {mode:<10} {threads:<13} {serial:>9.1f} {auto:>9.1f} {auto / serial:>7.2f}x")

    print("\nPer-call cost of a per-clip map of 1 s clips (us per clip, best pass)")
    seconds, count = workloads["1 s"]
    clips = (0.1 * rng.standard_normal((count, seconds * 16000))).astype(np.float32)
    rows = results["per_call"] = per_call(clips, repeats, keras.layers.MelSpectrogram(**CONFIG))
    for name, us in rows.items():
        print(f"  {name:<56} {us:>7.1f}")

    ratios = [m["melplug"]["vs_keras"] for w in results["workloads"].values() for m in w.values()]
    span = f"{min(ratios):.2f}x to {max(ratios):.2f}x"
    print(f"\nmelplug.tf vs keras.layers.MelSpectrogram in tf.data: {span} (target >= 2x)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
