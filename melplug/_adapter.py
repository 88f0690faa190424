"""What the four adapters share: :class:`Adapter`, the base of every ``melplug.<engine>.MelSpectrogram``.

An adapter wraps one extractor (a :class:`melplug.MelSpectrogram` built from
Keras' arguments, or ``extractor=``: a preset name or any
:class:`melplug.FeatureExtractor`) and adds a few options of its own (the
column or key it reads, where it writes), listed in its ``OPTIONS``.  The base
owns everything that is not the engine's translation:

* building the extractor (:func:`adapter_extractor`), the configuration round
  trip (``get_config()`` is ``{"extractor": <its config>, **options}`` for
  every adapter; ``from_config`` also reads the older flat layout, a
  MelSpectrogram's Keras keys beside the options), ``replace``, ``repr``,
  ``==`` and pickling (configuration and arrays, never compiled code);
* the thread policy: :attr:`Adapter.threads_per_call` is ``num_threads`` when
  set, else what the adapter's ``_auto_threads`` hook picks for a call made
  now (1 in a worker process here; Grain, Ray and tf.data refine it);
* the output dtype (:attr:`Adapter.output_dtype`) and the output column's
  default (:meth:`Adapter._default_out_column`);
* one clip's channels (:meth:`Adapter._mono`, per the ``multichannel`` option);
* the ``key``/``out_key`` of mapping elements (:class:`KeyedAdapter`, for the
  Grain and tf.data adapters, whose elements are arrays or mappings).

Each adapter module keeps only its engine's translation: Grain's ``Map`` and
``output_spec``, the Arrow features and fingerprint of Hugging Face
``datasets``, Ray's batch formats, TensorFlow's tensors.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Hashable, Mapping, MutableMapping
from typing import Any, ClassVar

import numpy as np

from . import _audio, _parallel
from ._references import REFERENCES
from ._validate import check_keys
from .core import FeatureExtractor, MelSpectrogram
from .presets import PRESETS, preset

__all__ = [
    "MULTICHANNEL",
    "Adapter",
    "KeyedAdapter",
    "adapter_extractor",
    "adapter_repr",
    "adapter_signature",
    "as_extractor",
    "extractor_from_config",
    "split_config",
]

#: The ``multichannel`` policies of adapters that read clips: average the channels, or refuse several.
MULTICHANNEL = ("mean", "raise")


# --------------------------------------------------------------------------- the extractor


def as_extractor(extractor) -> FeatureExtractor:
    """``extractor=`` of the adapters: a preset name or a :class:`FeatureExtractor` (returned as is)."""
    if isinstance(extractor, str):
        return preset(extractor)
    if isinstance(extractor, FeatureExtractor):
        return extractor
    raise TypeError(
        f"extractor must be a preset name ({', '.join(map(repr, PRESETS))}) or a melplug.FeatureExtractor / "
        f"MelSpectrogram object; received {extractor!r} of type {type(extractor).__name__}"
    )


def extractor_from_config(config: Mapping[str, Any]) -> FeatureExtractor:
    """The extractor a ``get_config()`` describes: engine options (``"framing"`` among them) or Keras' arguments.

    Examples
    --------
    >>> import melplug
    >>> from melplug._adapter import extractor_from_config
    >>> extractor_from_config(melplug.preset("kaldi").get_config()) == melplug.preset("kaldi")
    True
    >>> type(extractor_from_config({"num_mel_bins": 40})).__name__
    'MelSpectrogram'
    """
    cls = FeatureExtractor if "framing" in config else MelSpectrogram
    return cls.from_config(config)


def adapter_extractor(extractor, args: tuple, kwargs: dict) -> FeatureExtractor:
    """What an adapter computes: ``MelSpectrogram(*args, **kwargs)``, or ``extractor=`` (not both)."""
    if extractor is None:
        return MelSpectrogram(*args, **kwargs)
    if args or kwargs:
        raise TypeError(
            f"pass either extractor= or MelSpectrogram's arguments, not both; received extractor={extractor!r} "
            f"and {len(args)} positional, {sorted(kwargs)} keyword argument(s)"
        )
    return as_extractor(extractor)


def split_config(config: Mapping[str, Any], options: Mapping[str, Any]) -> tuple[FeatureExtractor, dict[str, Any]]:
    """An adapter's ``get_config()`` as ``(extractor, own options)``; ``options`` gives the defaults.

    The extractor's config is nested under ``"extractor"``.  The flat layout
    of older versions (a MelSpectrogram's Keras keys, or an engine config,
    beside the adapter's options) is read too.
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"config must be a mapping (a dict from get_config()); received {type(config).__name__}")
    config = dict(config)
    own = {name: config.pop(name, default) for name, default in options.items()}
    nested = config.pop("extractor", None)
    if nested is not None:
        if not isinstance(nested, Mapping):
            raise TypeError(f"config['extractor'] must be an extractor's get_config() (a mapping); received {nested!r}")
        if config:
            raise TypeError(
                f"config has unknown key(s) {sorted(config)} beside 'extractor'; the adapter's options are "
                f"{', '.join(options)}"
            )
        config = nested
    return extractor_from_config(config), own


def adapter_repr(name: str, own: Mapping[str, Any], extractor: FeatureExtractor) -> str:
    """An adapter's repr: ``name(<own options>, <the extractor's arguments>)``."""
    inner = repr(extractor).partition("(")[2][:-1]
    parts = ", ".join(f"{key}={value!r}" for key, value in own.items())
    return f"{name}({parts}, {inner})"


def adapter_signature(options: Mapping[str, Any]) -> inspect.Signature:
    """MelSpectrogram's signature plus ``extractor`` and the adapter's keyword-only ``options``, for ``help()``."""
    params = list(inspect.signature(MelSpectrogram.__init__).parameters.values())
    kw = inspect.Parameter.KEYWORD_ONLY
    extra = [inspect.Parameter("extractor", kw, default=None, annotation="str | FeatureExtractor | None")]
    extra += [inspect.Parameter(name, kw, default=default) for name, default in options.items()]
    return inspect.Signature([*params, *extra])


# --------------------------------------------------------------------------- the base


class Adapter:
    """The base of melplug's adapters: an extractor plus the adapter's own ``OPTIONS``.

    A subclass sets ``OPTIONS`` (its option names and defaults, in the order
    of ``repr`` and ``get_config``), stores and validates them in
    ``_set_options`` (readable back as attributes of the same names), and
    builds itself in ``__init__`` with
    ``self._adopt(adapter_extractor(extractor, args, kwargs), **options)``.
    ``from_config`` and unpickling go through ``_adopt`` too, never
    ``__init__``.

    Examples
    --------
    >>> import melplug.ray
    >>> mel = melplug.ray.MelSpectrogram(extractor="kaldi", column="audio")
    >>> config = mel.get_config()
    >>> sorted(config), config["extractor"]["framing"]
    (['column', 'extractor', 'multichannel', 'out_column', 'rate_column', 'resample'], 'snip_edges')
    >>> melplug.ray.MelSpectrogram.from_config(config) == mel
    True
    >>> mel.replace(num_mel_bins=40).mel.num_mel_bins, mel.out_column, mel.output_dtype
    (40, 'input_features', dtype('float32'))
    """

    #: The adapter's own options and their defaults (``None``: follows the extractor); subclasses set it.
    OPTIONS: ClassVar[Mapping[str, Any]] = {}

    _mel: FeatureExtractor

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:  # help() shows MelSpectrogram's arguments, extractor= and the options
            cls.__init__.__signature__ = adapter_signature(cls.OPTIONS)

    def _adopt(self, extractor: FeatureExtractor, **options: Any) -> None:
        """Take ``extractor`` and the adapter's options: every way of building an adapter ends here."""
        self._mel = extractor
        self._set_options(**options)

    def _set_options(self, **options: Any) -> None:
        """Validate and store the adapter's own options (one keyword per ``OPTIONS`` entry)."""
        raise NotImplementedError

    def _options(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.OPTIONS}

    # ----------------------------------------------------------------- the extractor's properties

    @property
    def mel(self) -> FeatureExtractor:
        """The wrapped extractor that does the work (a :class:`melplug.MelSpectrogram` for Keras' arguments)."""
        return self._mel

    @property
    def sampling_rate(self) -> float:
        """The sampling rate the audio must have (Hz)."""
        return self._mel.sampling_rate

    @property
    def num_threads(self) -> int | None:
        """Threads per call as configured (``None``: chosen per call, see :attr:`threads_per_call`)."""
        return self._mel.num_threads

    @property
    def threads_per_call(self) -> int | None:
        """Threads a call made now, in this process and context, uses; ``None`` means the core's default.

        ``num_threads`` when set; otherwise the adapter's choice: its
        engine's parallelism (worker processes, tf.data's parallel calls,
        Ray's CPU share) runs calls side by side, so one call must not take
        every core.
        """
        threads = self._mel.num_threads
        return self._auto_threads() if threads is None else threads

    def _auto_threads(self) -> int | None:
        """Threads when ``num_threads=None``: 1 in a ``multiprocessing``/``multiprocess`` worker, else the core's."""
        return 1 if _parallel.in_worker_process() else None

    @property
    def output_dtype(self) -> np.dtype:
        """The dtype of the output: float32, or float64 when the extractor forces ``dtype="float64"``.

        Keras' rule (its layers compute in float32 whatever the input): float64
        audio is computed as the core computes it and the result is stored
        as float32, unless float64 is asked for.
        """
        return np.dtype(np.float64 if self._mel.dtype == "float64" else np.float32)

    def _store(self, out: np.ndarray) -> np.ndarray:
        """The core's output in :attr:`output_dtype` (not copied when it already is)."""
        return out.astype(self.output_dtype, copy=False)

    def _default_out_column(self) -> str:
        """The output column when none is given: ``"mel"`` for Keras' arguments, else ``"input_features"``.

        ``input_features`` is what transformers models take; an extractor that
        reproduces a transformers extractor (its ``reference`` option) gets
        that reference's key (``input_values`` for AST, ``audio_input_features`` for Phi-4).
        """
        if isinstance(self._mel, MelSpectrogram):
            return "mel"
        reference = self._mel._engine_config["reference"]
        return REFERENCES[reference].output_key if reference is not None else "input_features"

    def _mask_column(self) -> str | None:
        """The reference's attention-mask key, where it returns one for a clip (``None`` otherwise)."""
        reference = self._mel._engine_config["reference"]
        return REFERENCES[reference].mask_key if reference is not None else None

    def _at_rate(self, samples: np.ndarray, rate, where: str, fix: str) -> np.ndarray:
        """``(channels, samples)`` at ``rate`` Hz (``None``: unknown, taken as the extractor's) at the extractor's rate.

        With the adapter's ``resample=True`` a clip at another rate is converted
        with soxr (:func:`melplug._audio.resample`, the CLI's ``--resample``);
        without it, that is a ``ValueError`` naming both rates, the option and
        ``fix`` (the adapter's other way out).
        """
        target = self._mel.sampling_rate
        if rate is None or rate == target:
            return samples
        if getattr(self, "resample", False):
            return _audio.resample(samples, float(rate), float(target), where=where)
        raise ValueError(
            f"{where} has sampling_rate={rate!r} but this {type(self).__module__}.{type(self).__name__} is configured "
            f"for sampling_rate={target!r}; pass resample=True to convert such clips (soxr), {fix}"
        )

    def _mono(self, samples: np.ndarray, where: str, hint: str) -> np.ndarray:
        """One clip's ``(channels, samples)`` as 1-D mono, per the ``multichannel`` option (``hint``: the fix)."""
        return _audio.select_channels(samples, self.multichannel, where=where, hint=hint)[0]

    # ----------------------------------------------------------------- configuration

    def get_config(self) -> dict[str, Any]:
        """``{"extractor": <the extractor's get_config()>, **<the adapter's options>}``; JSON-serialisable."""
        return {"extractor": self._mel.get_config(), **self._options()}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]):
        """Build from :meth:`get_config` output (also the flat layout: Keras' keys beside the options)."""
        extractor, options = split_config(config, cls.OPTIONS)
        obj = cls.__new__(cls)
        obj._adopt(extractor, **options)
        return obj

    def replace(self, **changes: Any):
        """A copy with some arguments changed, e.g. ``mel.replace(num_threads=2)`` (adapter or extractor options).

        A name that is both (``layout`` of the Hugging Face adapter) is the adapter's.
        """
        config = self.get_config()
        extractor = config["extractor"]
        known = set(self.OPTIONS) | set(extractor)
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"replace() got unknown argument(s) {sorted(unknown)}; known: {', '.join(sorted(known))}")
        for key, value in changes.items():
            (config if key in self.OPTIONS else extractor)[key] = value
        return type(self).from_config(config)

    def _name(self) -> str:
        return f"{type(self).__module__}.{type(self).__qualname__}"

    def __repr__(self) -> str:
        return adapter_repr(self._name(), self._options(), self._mel)

    def __eq__(self, other) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._options() == other._options() and self._mel == other._mel

    __hash__ = None  # the adapter's own options are plain attributes (the tf.data adapter hashes its repr)

    def __getstate__(self) -> dict[str, Any]:
        # The extractor pickles as its options (by name; never a plan or a Numba dispatcher).
        return {"extractor": self._mel, **self._options()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        self._adopt(state.pop("extractor"), **state)


class KeyedAdapter(Adapter):
    """An adapter of whole elements: an array, or a mapping whose field ``key`` holds the audio.

    The output replaces the array, or goes to ``out_key`` (default ``key``) of
    a new mapping with every other field kept.  Subclasses name their element
    kinds for messages (``"mapping"``/``"array"`` for Grain, ``"dict"``/``"tensor"``
    for tf.data).
    """

    OPTIONS: ClassVar[Mapping[str, Any]] = {"key": None, "out_key": None}
    _MAPPING: ClassVar[str] = "mapping"
    _ARRAY: ClassVar[str] = "array"

    def _set_options(self, key: Hashable | None = None, out_key: Hashable | None = None) -> None:
        check_keys(key, out_key, self._MAPPING)
        self._key = key
        self._out_key = out_key

    @property
    def key(self) -> Hashable | None:
        """The field holding the audio (``None``: elements are the audio itself)."""
        return self._key

    @property
    def out_key(self) -> Hashable | None:
        """The field the output goes to (``None``: ``key``)."""
        return self._out_key

    def _pick(self, element, what: str = "element"):
        """The audio of ``element``: the element itself with ``key=None``, else ``element[key]``."""
        if self._key is None:
            if isinstance(element, Mapping):
                keys = ", ".join(repr(k) for k in list(element)[:16])
                raise TypeError(
                    f"{what} is a {type(element).__name__} with keys [{keys}] but key=None; pass key=<the field "
                    f"holding the audio> (and optionally out_key=) to {self._name()}"
                )
            return element
        if not isinstance(element, Mapping):
            raise TypeError(
                f"key={self._key!r} is set, so {what}s must be {self._MAPPING}s; received "
                f"{type(element).__name__}. Use key=None for {self._ARRAY} {what}s"
            )
        if self._key not in element:
            keys = ", ".join(repr(k) for k in list(element)[:16])
            raise ValueError(
                f"{what} has no key {self._key!r}; its keys are [{keys}]. Set key= to the field holding the audio"
            )
        return element[self._key]

    def _put(self, element, out):
        """The output for ``element``: ``out`` itself with ``key=None``, else a new mapping with it at ``out_key``."""
        if self._key is None:
            return out
        return _with_item(element, self._key if self._out_key is None else self._out_key, out)


def _with_item(mapping: Mapping, key, value) -> Mapping:
    """A new mapping of the same kind as ``mapping`` with ``key`` set; ``mapping`` is untouched."""
    if type(mapping) is dict:
        out = dict(mapping)
    else:
        try:
            out = copy.copy(mapping)
        except Exception:  # noqa: BLE001 - any failure to copy: fall back to a dict
            out = None
        if not isinstance(out, MutableMapping) or out is mapping:
            out = dict(mapping)
    out[key] = value
    return out
