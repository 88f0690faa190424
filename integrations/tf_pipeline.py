"""tf.data + Keras: train on melplug.tf features, and compare with keras.layers.MelSpectrogram in tf.data.

1. **Training**: synthesised records ``{"audio": float32 (varying length), "label": int}`` from a
   generator -> crop/pad to 1 s (TensorFlow ops) -> ``melplug.tf.MelSpectrogram`` (``audio`` -> ``mel``,
   AUTOTUNE) -> ``(mel, label)`` -> batch -> prefetch -> ``model.fit``.  The dataset's element_spec
   carries the real shape ``(None, 80, 101)``, so the Keras model is built from it.  The labels are the
   tone's frequency class, which a small conv net learns in a few steps: the script prints the loss and
   accuracy of the last epoch.
2. **Side by side**: the same batches of clips mapped by ``keras.layers.MelSpectrogram`` (TensorFlow
   backend) and by ``melplug.tf.MelSpectrogram(..., top_db_scope="batch")`` (Keras' floor is over its
   whole input): the max difference in dB and each pipeline's clips/s.

Run it from a clone (needs ``pip install -e ".[tf]"``; Keras comes with TensorFlow)::

    python integrations/tf_pipeline.py
    python -m integrations.tf_pipeline --quick

Keras' backend is fixed per process when Keras is imported: this script sets ``KERAS_BACKEND=tensorflow``
itself.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ["KERAS_BACKEND"] = "tensorflow"  # before `import keras`: the backend is fixed per process
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

if __package__ in (None, ""):  # run as a script: make `melplug` importable from a checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402

import melplug.tf  # noqa: E402

SAMPLING_RATE = 16000
NUM_CLASSES = 4
CONFIG = dict(sampling_rate=SAMPLING_RATE, fft_length=512, sequence_length=400, sequence_stride=160, num_mel_bins=80)


def records(num_records: int, seed: int = 0):
    """Records of 0.5-1.5 s: a tone whose frequency is the class (300/600/1200/2400 Hz) plus noise."""
    rng = np.random.default_rng(seed)
    for i in range(num_records):
        label = i % NUM_CLASSES
        n = int(rng.integers(SAMPLING_RATE // 2, 3 * SAMPLING_RATE // 2))
        t = np.arange(n) / SAMPLING_RATE
        audio = 0.3 * np.sin(2 * np.pi * 300 * 2**label * t) + 0.05 * rng.standard_normal(n)
        yield {"audio": audio.astype(np.float32), "label": np.int64(label)}


def crop_or_pad(element, num_samples: int = SAMPLING_RATE):
    """Cut or zero-pad ``element["audio"]`` to ``num_samples`` (TensorFlow ops), so clips can be batched."""
    audio = element["audio"][:num_samples]
    audio = tf.pad(audio, [[0, num_samples - tf.shape(audio)[0]]])
    audio.set_shape([num_samples])
    return {**element, "audio": audio}


def training_dataset(num_records: int, batch_size: int) -> tf.data.Dataset:
    mel = melplug.tf.MelSpectrogram(**CONFIG, key="audio", out_key="mel")
    spec = {"audio": tf.TensorSpec([None], tf.float32), "label": tf.TensorSpec([], tf.int64)}
    ds = tf.data.Dataset.from_generator(lambda: records(num_records), output_signature=spec)
    ds = ds.apply(tf.data.experimental.assert_cardinality(num_records))  # so Keras knows the epoch's length
    ds = ds.map(crop_or_pad, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.cache()  # the generator is the slow part here; mel runs on every epoch below
    ds = ds.map(mel, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.map(lambda e: (e["mel"], e["label"]))
    return ds.shuffle(256, seed=0).batch(batch_size).prefetch(tf.data.AUTOTUNE)


def build_model(mel_shape) -> keras.Model:
    """A small conv net over time: (mels, frames) -> frames x mels -> Conv1D -> pooling -> classes."""
    inputs = keras.Input(shape=mel_shape)
    x = keras.layers.Permute((2, 1))(inputs)
    x = keras.layers.LayerNormalization()(x)
    x = keras.layers.Conv1D(16, 5, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    outputs = keras.layers.Dense(NUM_CLASSES)(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def train(args) -> dict:
    ds = training_dataset(args.records, args.batch_size)
    mel_spec = ds.element_spec[0]
    print(f"element_spec: {mel_spec}")
    model = build_model(tuple(mel_spec.shape[1:]))  # (80, 101): static, from melplug.tf's set_shape
    history = model.fit(ds, epochs=args.epochs, shuffle=False, verbose=0)  # ds is shuffled
    loss, acc = history.history["loss"][-1], history.history["accuracy"][-1]
    print(f"trained {args.epochs} epoch(s) on {args.records} records: loss {loss:.3f}, accuracy {acc:.2f}")
    return {"loss": loss, "accuracy": acc}


def clips_per_second(ds, num_clips: int, repeats: int) -> float:
    for _ in ds:  # trace, load compiled kernels
        pass
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in ds:
            pass
        times.append(time.perf_counter() - t0)
    return num_clips / float(np.median(times))


def side_by_side(args) -> dict:
    rng = np.random.default_rng(1)
    clips = (0.2 * rng.standard_normal((args.compare_clips, SAMPLING_RATE))).astype(np.float32)
    clips[:, : SAMPLING_RATE // 2] *= 0.01  # a quiet half: the top_db floor is active

    def pipeline(fn):
        ds = tf.data.Dataset.from_tensor_slices(clips).batch(args.batch_size)
        return ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    keras_ds = pipeline(keras.layers.MelSpectrogram(**CONFIG))
    melplug_ds = pipeline(melplug.tf.MelSpectrogram(**CONFIG, top_db_scope="batch"))
    diff = max(float(np.max(np.abs(a.numpy() - b.numpy()))) for a, b in zip(keras_ds, melplug_ds, strict=True))
    rates = {
        "keras": clips_per_second(keras_ds, len(clips), args.repeats),
        "melplug": clips_per_second(melplug_ds, len(clips), args.repeats),
    }
    print(
        f"keras.layers.MelSpectrogram (backend {keras.backend.backend()}) vs melplug.tf, batches of {args.batch_size}"
    )
    print(f"max |keras - melplug| = {diff:.4f} dB")
    print(
        f"clips/s: keras {rates['keras']:.0f}, melplug {rates['melplug']:.0f}, "
        f"ratio {rates['melplug'] / rates['keras']:.2f}x"
    )
    return {"max_abs_db_diff": diff, **rates}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (the smoke test)")
    parser.add_argument("--records", type=int, default=None, help="training records (default 512; 64 with --quick)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 5; 2 with --quick)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--compare-clips", type=int, default=None, help="clips in the side-by-side (default 1024)")
    parser.add_argument("--repeats", type=int, default=None, help="timed passes (default 5; 1 with --quick)")
    args = parser.parse_args(argv)
    args.records = args.records or (64 if args.quick else 512)
    args.epochs = args.epochs or (2 if args.quick else 5)
    args.compare_clips = args.compare_clips or (64 if args.quick else 1024)
    args.repeats = args.repeats or (1 if args.quick else 5)
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, melplug {melplug.__version__}")
    train(args)
    side_by_side(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
