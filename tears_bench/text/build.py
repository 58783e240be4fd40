"""``build_encoder``: the text encoder TEARS uses, frozen (``frozen``) or LoRA-tuned (``lora``)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from tears_bench.errors import TearsBenchError
from tears_bench.text.encoders import TextEncoder
from tears_bench.text.frozen import FrozenEmbeddings, FrozenTextEncoder
from tears_bench.text.lora import LoraTextEncoder
from tears_bench.text.spec import EncoderSpec, parse_encoder_spec


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
