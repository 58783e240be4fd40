"""LoRA mode: the encoder wrapped by peft LoRA on its attention q/k/v projections.

T5: q, k, v; BERT-likes: query, key, value (detected from the module names, overridable); r 64,
alpha 16, dropout 0.4 as in the paper. Gradients flow through the encoder; nothing is cached.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from tears_bench.errors import TearsBenchError
from tears_bench.text.encoders import TextEncoder

LORA_TARGETS = (("q", "k", "v"), ("query", "key", "value"), ("q_lin", "k_lin", "v_lin"),
                ("query_proj", "key_proj", "value_proj"), ("q_proj", "k_proj", "v_proj"))


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
