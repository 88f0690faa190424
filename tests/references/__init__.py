"""What the tests compare melplug against, importable as ``tests.references.*``.

Float64 NumPy references written from a specification, slow and obviously
correct: :mod:`~tests.references.mel` (the Keras mel spectrogram, as docs/parity.md states it),
:mod:`~tests.references.kaldi_fbank` (Kaldi's filter bank) and
:mod:`~tests.references.torchaudio_mel` (torchaudio's ``MelSpectrogram``).
:mod:`~tests.references.libraries` runs the reference libraries as the preset
tests call them; :mod:`~tests.references.signals` makes their test clips.
"""
