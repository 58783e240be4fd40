"""A Hugging Face encoder plus pooling (``TextEncoder``: texts -> one vector each), and its precision.

The text package, one job a module: ``spec`` (what ``--encoder`` names), ``loading`` (config,
tokenizer, weights, pooling and max_length defaults), ``identity`` (the embedding cache key),
this module, ``frozen`` (cached frozen embeddings), ``lora`` (LoRA-tuned) and ``build``
(``build_encoder``: the encoder TEARS uses, by mode).

Precision: ``fp32`` (the default), ``bf16`` or ``auto``. ``auto`` is bf16 on a CPU that multiplies
bf16 natively (AVX512-BF16 or AMX), fp32 elsewhere; bf16 weights and activations, float32 pooling
and stored vectors. MiniLM on the GPT-4 summaries: faster than fp32 unpadded in every measurement,
cosine to fp32 >= 0.9999 (docs/decisions.md, "The one-off encoding"). fp32 stays the default
because `auto` would make the vectors, and so every number downstream, depend on which CPU ran them.
"""
from __future__ import annotations

import hashlib
import inspect
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from tears_bench.errors import TearsBenchError
from tears_bench.text.identity import encoder_identity, folder_fingerprint, short_identity
from tears_bench.text.loading import ResolvedEncoder, config_dim, load_model, resolve_encoder
from tears_bench.text.spec import PRECISIONS, EncoderSpec


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
        self.dim = config_dim(model.config)
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
        return cls.from_resolved(resolved, device, precision=precision)

    @classmethod
    def from_resolved(cls, resolved: ResolvedEncoder, device: str | torch.device = "cpu",
                       fingerprint: str | None = None, precision: str = "fp32") -> "TextEncoder":
        model = load_model(resolved).to(device).eval()
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
        return encoder_identity(self.name, self.model_type, self.fingerprint, self.pooling, self.max_length, self.dim,
                              self.precision)

    @property
    def identity(self) -> str:
        return short_identity(self.identity_info())

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
