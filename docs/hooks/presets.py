"""An MkDocs hook: a page per preset family, generated at build time from the code and presets.md.

The list of presets is written once, in ``melplug.PRESETS``; each preset's
facts once, where they already live:

- the options (its steps, as engine options) from ``melplug.preset(name).get_config()``,
  the output of a 1 s clip from ``compute_output_shape``;
- reference, per-clip output, max error and units from the table under
  "## The presets" in docs/presets.md, speed from the table under "## Speed"
  there, and the steps in words from its "Steps" list (``- **name**: ...``).
  A preset without a row or an entry (one added to ``melplug.PRESETS`` before
  it is measured) shows a dash; its reference then comes from the table in
  ``melplug.presets``' docstring and its steps from its builder's comments.

A preset's family is its reference library (the first word of its reference:
``transformers``, ``kaldi-native-fbank``, ...); each family is one page,
``presets/<family>.md``, and ``presets/index.md`` lists every preset.  The
nav entry ``presets/index.md`` in mkdocs.yml becomes a section holding them.
"""

from __future__ import annotations

import inspect
import re
import sys
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DASH = "—"
INDEX = "presets/index.md"
#: Page titles of the families whose reference library has a nicer name than its first word.
FAMILY_TITLES = {
    "keras": "Keras",
    "transformers": "Hugging Face transformers",
    "kaldi-native-fbank": "Kaldi",
    "librosa": "librosa",
    "torchaudio": "torchaudio",
    "nemo": "NeMo",
    "speechbrain": "SpeechBrain",
    "pyannote": "pyannote.audio and WeSpeaker",
    "funasr-onnx": "FunASR",
    "beats": "BEATs",
    "eat": "EAT",
    "dasheng": "Dasheng",
    "vocos": "Vocos",
    "bigvgan": "BigVGAN",
}


def _melplug():
    if str(ROOT) not in sys.path:  # a checkout built without `pip install -e .`
        sys.path.insert(0, str(ROOT))
    import melplug

    return melplug


def _tables(markdown: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """Every pipe table of ``markdown``: (the heading above it, header cells, rows of cells)."""
    tables = []
    heading = ""
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|[\s:|-]+\|$", lines[i + 1]):
            header = _cells(line)
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            tables.append((heading, header, rows))
            continue
        i += 1
    return tables


def _cells(line: str) -> list[str]:
    return [_relink(c.strip()) for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def _relink(text: str) -> str:
    """Text of presets.md as it reads on a page one folder down: relative links, "see below"."""
    text = re.sub(r"\]\((?![a-z]+:|#|/)", "](../", text)
    return text.replace("see below", "see [Presets and migration](../presets.md#the-presets)")


def _preset_rows(markdown: str, heading: str) -> tuple[list[str], dict[str, list[str]]]:
    """The columns and rows (by preset name) of the first ``preset`` table under ``heading``."""
    for where, header, rows in _tables(markdown):
        if where == heading and header and header[0] == "preset":
            return header[1:], {row[0].strip("`"): row[1:] for row in rows if row}
    return [], {}


def _steps(markdown: str) -> dict[str, str]:
    """The "Steps" list of presets.md: preset name -> its steps in words."""
    found = {}
    for match in re.finditer(r"^- \*\*([\w-]+)\*\*: (.*?)(?=^- \*\*|^\S|\Z)", markdown, flags=re.M | re.S):
        found[match[1]] = _relink(" ".join(line.strip() for line in match[2].splitlines()).strip())
    return found


def _docstring_references(module: Any) -> dict[str, str]:
    """The name/reference table of ``melplug.presets``' docstring (reST simple table; names may wrap)."""
    found: dict[str, str] = {}
    lines = (module.__doc__ or "").splitlines()
    rules = [i for i, line in enumerate(lines) if re.match(r"^=+\s+=+$", line)]
    if len(rules) < 3:
        return found
    last = None
    for line in lines[rules[1] + 1 : rules[2]]:
        name, _, reference = line.partition(" ")
        if name and reference.strip():
            last = name
            found[name] = reference.strip()
        elif name and last is not None:  # a wrapped name: "librosa-" then "mfcc"
            found[last + name] = found.pop(last)
            last = None
    return {name: re.sub(r"``(.*?)``", r"`\1`", ref) for name, ref in found.items()}


def _builder_comments(module: Any, name: str) -> str:
    """The comment lines at the top of the preset's builder in ``melplug.presets``, joined."""
    builder = getattr(module, "_BUILDERS", {}).get(name)
    if builder is None:
        return ""
    try:
        source = inspect.getsource(builder)
    except (OSError, TypeError):
        return ""
    comments = [line.strip()[1:].strip() for line in source.splitlines() if line.strip().startswith("#")]
    return " ".join(comments)


def family_of(reference: str) -> str:
    """The reference library of a reference cell: its first word, before a dot (``kaldi_native_fbank`` spelt ``-``)."""
    word = reference.strip().strip("`").split()[0] if reference.strip() else "other"
    return word.strip("`").split(".")[0].replace("_", "-").lower()


def _by_column(columns: list[str], row: list[str]) -> dict[str, str]:
    return {col: (row[i] if i < len(row) and row[i] else DASH) for i, col in enumerate(columns)}


def collect(presets_md: str) -> dict[str, dict[str, Any]]:
    """Per preset of ``melplug.PRESETS``, in order: everything its page shows."""
    melplug = _melplug()
    presets_module = sys.modules["melplug.presets"]
    columns, rows = _preset_rows(presets_md, "The presets")
    speed_columns, speed_rows = _preset_rows(presets_md, "Speed")
    steps = _steps(presets_md)
    doc_refs = _docstring_references(presets_module)
    info: dict[str, dict[str, Any]] = {}
    for name in melplug.PRESETS:
        table = _by_column(columns, rows.get(name, []))
        reference = next((v for k, v in table.items() if k.startswith("reference")), DASH)
        if reference == DASH:
            reference = doc_refs.get(name, DASH)
            table = {**table, **{k: reference for k in table if k.startswith("reference")}}
        speed_row = speed_rows.get(name, [])
        speed = {
            col: (speed_row[i] if i < len(speed_row) and speed_row[i] else DASH) for i, col in enumerate(speed_columns)
        }
        with warnings.catch_warnings():  # torchaudio's empty bands warn, as the reference does
            warnings.simplefilter("ignore")
            fx = melplug.preset(name)
        config = fx.get_config()
        if isinstance(fx, melplug.MelSpectrogram):
            options, options_note = config, "the Keras layer's arguments, at their defaults, and melplug's extras"
        else:
            defaults = melplug.FeatureExtractor().get_config()
            options = {k: v for k, v in config.items() if defaults.get(k) != v}
            options_note = "the engine options that differ from the defaults (Keras' computation)"
        rate = config.get("sampling_rate", 16000)
        info[name] = {
            "family": family_of(reference if reference != DASH else doc_refs.get(name, "")),
            "reference": reference,
            "table": table,
            "speed": speed,
            "steps": steps.get(name) or _builder_comments(presets_module, name) or DASH,
            "options": options,
            "options_note": options_note,
            "one_second": (rate, fx.compute_output_shape((int(rate),))),
        }
    return info


def families(info: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """Family -> its presets, both in the order of ``melplug.PRESETS``."""
    grouped: dict[str, list[str]] = defaultdict(list)
    for name, facts in info.items():
        grouped[facts["family"]].append(name)
    return dict(grouped)


def title_of(family: str) -> str:
    """The page title of a family."""
    return FAMILY_TITLES.get(family, family)


def _row(cells) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"


def render_family(family: str, names: list[str], info: dict[str, dict[str, Any]]) -> str:
    """The markdown of one family's page."""
    out = [
        f"# {title_of(family)} presets",
        "",
        f"The presets that reproduce {title_of(family)}.  This page is generated when the site is built, "
        "from `melplug.PRESETS`, each preset's `get_config()` and the tables of "
        "[Presets and migration](../presets.md) (a dash: not measured yet).",
        "",
    ]
    for name in names:
        facts = info[name]
        rate, shape = facts["one_second"]
        out += [f"## `{name}`", "", "```python", f'fx = melplug.preset("{name}")', "```", ""]
        out += ["| | |", "|---|---|"]
        out += [_row([f"**{col}**", value]) for col, value in facts["table"].items()] or [
            _row(["**reference**", facts["reference"]])
        ]
        out.append(_row([f"**output of a 1 s clip at {rate:g} Hz**", f"`{shape}`"]))
        if any(v != DASH for v in facts["speed"].values()):
            out += [_row([f"**speed: {col}**", value]) for col, value in facts["speed"].items()]
        else:
            out.append(_row(["**speed**", DASH]))
        out += ["", f"**Steps.** {facts['steps']}", ""]
        out += [f"**Options** ({facts['options_note']}):", "", "```python"]
        out += [f"{key}={value!r}," for key, value in facts["options"].items()]
        out += ["```", ""]
    out.append(
        "Errors: [Presets and migration](../presets.md#the-presets); speed: [its Speed table](../presets.md#speed)."
    )
    return "\n".join(out) + "\n"


def render_index(info: dict[str, dict[str, Any]]) -> str:
    """The markdown of the overview page: every preset, its family page, error and speed."""
    out = [
        "# Presets by family",
        "",
        "Every preset of `melplug.PRESETS`, generated when the site is built (a dash: not measured yet).  "
        "The references, tolerances and the migration tables: [Presets and migration](../presets.md).",
        "",
        _row(["preset", "family", "reference", "max error", "melplug audio s/s"]),
        "|---|---|---|---|---|",
    ]
    for name, facts in info.items():
        error = next((v for k, v in facts["table"].items() if k.startswith("max error")), DASH)
        speed = next((v for k, v in facts["speed"].items() if "audio s/s" in k), DASH)
        link = f"[`{name}`]({facts['family']}.md#{_slug(name)})"
        out.append(_row([link, title_of(facts["family"]), facts["reference"], error, speed]))
    return "\n".join(out) + "\n"


def _slug(name: str) -> str:
    return re.sub(r"[^\w-]", "", name.lower())


def pages(presets_md: str) -> dict[str, str]:
    """Every generated page: its path under docs/ -> its markdown."""
    info = collect(presets_md)
    generated = {INDEX: render_index(info)}
    for family, names in families(info).items():
        generated[f"presets/{family}.md"] = render_family(family, names, info)
    return generated


def _expand_nav(nav: list, entries: list) -> bool:
    """Replace the nav item whose page is presets/index.md by a section of the generated pages."""
    for i, item in enumerate(nav):
        if isinstance(item, dict):
            (title, value), *_ = item.items()
            if value == INDEX and title != "Overview":  # (not the section's own entry, on a rebuild)
                nav[i] = {title: entries}
                return True
            if isinstance(value, list) and _expand_nav(value, entries):
                return True
    return False


def on_files(files: Any, config: Any, **kwargs: Any) -> Any:
    """Add the generated pages, and put them in the nav."""
    from mkdocs.structure.files import File

    generated = pages((Path(config["docs_dir"]) / "presets.md").read_text(encoding="utf-8"))
    for path, content in generated.items():
        files.append(File.generated(config, path, content=content))
    entries = [{"Overview": INDEX}]
    for path, content in generated.items():
        if path != INDEX:
            entries.append({content.splitlines()[0].lstrip("# ").removesuffix(" presets"): path})
    if config["nav"] is not None:
        _expand_nav(config["nav"], entries)
    return files
