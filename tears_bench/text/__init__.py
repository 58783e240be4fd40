"""Text encoders (summary -> vector) and their on-disk embedding cache; see ``encoders``."""
from tears_bench.text.embedding_cache import EmbeddingStore, text_digest
from tears_bench.text.encoders import (
    EncoderSpec,
    FrozenEmbeddings,
    FrozenTextEncoder,
    LoraTextEncoder,
    TextEncoder,
    build_encoder,
    detect_lora_targets,
    eos_pool,
    mean_pool,
    parse_encoder_spec,
)

__all__ = [
    "EmbeddingStore", "EncoderSpec", "FrozenEmbeddings", "FrozenTextEncoder", "LoraTextEncoder",
    "TextEncoder", "build_encoder", "detect_lora_targets", "eos_pool", "mean_pool",
    "parse_encoder_spec", "text_digest",
]
