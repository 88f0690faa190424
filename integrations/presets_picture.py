"""The same speech-like clip through every preset: the picture in docs/presets.md.

python integrations/presets_picture.py -o docs/presets.png
python integrations/presets_picture.py -o /tmp/p.png --quick   # smaller, for the smoke test
"""

from __future__ import annotations

import argparse

import numpy as np

import melplug


def speech_like(sampling_rate: int = 16000, seconds: float = 3.0, seed: int = 0) -> np.ndarray:
    """Voiced syllables (a gliding pitch with formant-shaped harmonics), fricative noise and pauses."""
    rng = np.random.default_rng(seed)
    n = int(sampling_rate * seconds)
    t = np.arange(n) / sampling_rate
    pitch = 120 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch) / sampling_rate
    voiced = np.zeros(n)
    for h in range(1, 30):
        f = h * pitch
        formants = sum(np.exp(-(((f - fc) / bw) ** 2)) for fc, bw in ((700, 150), (1200, 200), (2600, 300)))
        voiced += (formants + 0.02) * np.sin(h * phase) / h
    syllables = (np.sin(2 * np.pi * 2.2 * t) > 0.1).astype(float)
    hiss = rng.standard_normal(n) * ((t % 1.0) > 0.82) * 0.05
    audio = 0.3 * voiced * syllables + hiss + 1e-4 * rng.standard_normal(n)
    return (audio / np.abs(audio).max() * 0.8).astype(np.float32)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-o", "--output", default="presets.png", help="PNG to write")
    parser.add_argument("--quick", action="store_true", help="a 1 s clip and a small picture")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = 1.0 if args.quick else 3.0
    names = melplug.PRESETS
    rows = (len(names) + 1) // 2
    fig, axes = plt.subplots(rows, 2, figsize=(14, 2.4 * rows) if not args.quick else (6, 6), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        fx = melplug.preset(name, empty_bands="ignore") if name != "keras" else melplug.preset(name)
        clip = speech_like(int(fx.sampling_rate), seconds)  # each preset at its reference's default rate
        out = fx(clip)
        image = out.T if fx.plan.frames_major or fx.plan.stack_frames > 1 else out  # (features, time)
        linear = not fx.plan.log_kind != 0 and not fx.plan.normalize
        if linear:  # librosa and torchaudio return power: show it in dB
            image = 10 * np.log10(np.maximum(image, 1e-10))
        ax.imshow(image, origin="lower", aspect="auto", interpolation="nearest", cmap="magma")
        unit = ", shown in dB" if linear else ""
        ax.set_title(f"{name}: output {out.shape}{unit}", fontsize=9)
        ax.set_ylabel("feature")
        print(f"{name:<12} {str(out.shape):<12} min {out.min():11.4g}  max {out.max():11.4g}")
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("output frame")
    fig.tight_layout()
    fig.savefig(args.output, dpi=80 if args.quick else 110)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
