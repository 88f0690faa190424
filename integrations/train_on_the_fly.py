"""Train on audio files with features computed on the fly: no preprocessing pass, nothing stored.

The script writes FLAC files at 48 kHz (two classes: a low and a high tone in
noise, 1-3 s each), puts their paths in a ``datasets.Dataset``, and trains a
small logistic-regression model (NumPy) on Kaldi filter banks computed by
melplug as the batches are drawn: ``mel.collate`` decodes each file
(soundfile), resamples it to 16 kHz (``resample=True``, soxr), computes the
features of the whole batch in one parallel call and pads them, with an
``attention_mask``.  The same ``collate_fn`` serves a PyTorch ``DataLoader``::

    loader = torch.utils.data.DataLoader(ds, batch_size=16, shuffle=True, collate_fn=mel.collate)

Run::

    python integrations/train_on_the_fly.py              # 64 files, 3 epochs
    python integrations/train_on_the_fly.py --quick      # 16 short files, 2 epochs (the smoke test)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

RATE = 48000


def write_files(folder: str, rows: int, seconds: tuple[float, float], seed: int = 0) -> tuple[list[str], list[int]]:
    """``rows`` FLAC files at 48 kHz in ``folder``: label 0 a 300 Hz tone, 1 a 3 kHz tone, both in noise."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    paths, labels = [], []
    for i in range(rows):
        label = i % 2
        n = int(rng.uniform(*seconds) * RATE)
        t = np.arange(n) / RATE
        x = 0.3 * np.sin(2 * np.pi * (300.0 if label == 0 else 3000.0) * t) + 0.1 * rng.standard_normal(n)
        path = os.path.join(folder, f"clip{i:04d}.flac")
        sf.write(path, x.astype(np.float32), RATE)
        paths.append(path)
        labels.append(label)
    return paths, labels


def pooled(batch: dict) -> np.ndarray:
    """Mean of each clip's valid frames: ``(batch, bins)``."""
    feats, mask = batch["input_features"], batch["attention_mask"].astype(np.float32)
    return (feats * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--quick", action="store_true", help="16 files of 0.3-0.6 s, 2 epochs")
    args = ap.parse_args(argv)
    seconds = (1.0, 3.0)
    if args.quick:
        args.rows, args.epochs, args.batch_size, seconds = 16, 2, 8, (0.3, 0.6)

    import datasets

    import melplug
    import melplug.hf

    with tempfile.TemporaryDirectory(prefix="melplug-on-the-fly-") as folder:
        paths, labels = write_files(folder, args.rows, seconds)
        ds = datasets.Dataset.from_dict({"audio": [{"bytes": None, "path": p} for p in paths], "label": labels})
        mel = melplug.hf.MelSpectrogram(extractor=melplug.preset("kaldi", num_mel_bins=40), resample=True)
        print(f"{len(ds)} FLAC files at {RATE} Hz -> {mel.mel.sampling_rate:g} Hz Kaldi fbank (40 bins), on the fly")

        rng = np.random.default_rng(1)
        w, b, lr = np.zeros(40), 0.0, 0.5
        mean = std = None
        feature_s = step_s = 0.0
        for epoch in range(args.epochs):
            order = rng.permutation(len(ds))
            losses = []
            for start in range(0, len(ds), args.batch_size):
                rows = [ds[int(i)] for i in order[start : start + args.batch_size]]
                t0 = time.perf_counter()
                batch = mel.collate(rows)  # decode, resample, features, pad, mask
                feature_s += time.perf_counter() - t0
                t0 = time.perf_counter()
                x, y = pooled(batch), batch["label"].astype(np.float64)
                if mean is None:  # standardise with the first batch's statistics
                    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-6
                x = (x - mean) / std
                p = 1.0 / (1.0 + np.exp(-(x @ w + b)))
                losses.append(float(-np.mean(y * np.log(p + 1e-9) + (1 - y) * np.log(1 - p + 1e-9))))
                w -= lr * x.T @ (p - y) / len(y)
                b -= lr * float(np.mean(p - y))
                step_s += time.perf_counter() - t0
            print(f"epoch {epoch + 1}: mean loss {np.mean(losses):.4f} over {len(losses)} batches")

        batch = mel.collate([ds[i] for i in range(len(ds))])
        accuracy = float(np.mean(((((pooled(batch) - mean) / std) @ w + b) > 0) == batch["label"]))
        print(f"accuracy after training: {accuracy:.3f}")
        print(f"time: features (decode + resample + fbank + pad) {feature_s:.2f} s, model steps {step_s:.2f} s")
        if accuracy < 0.9:
            print("FAILED: the model did not learn the two tones")
            return 1
    print("OK: trained on the fly, no preprocessing pass")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
