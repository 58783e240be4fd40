"""Text encoders (summary -> vector) and their on-disk embedding cache; see ``encoders`` for the map."""
from tears_bench.text.build import build_encoder
from tears_bench.text.embedding_cache import EmbeddingStore, text_digest
from tears_bench.text.encoders import TextEncoder, eos_pool, mean_pool
from tears_bench.text.frozen import FrozenEmbeddings, FrozenTextEncoder
from tears_bench.text.lora import LoraTextEncoder, detect_lora_targets
from tears_bench.text.spec import EncoderSpec, parse_encoder_spec

__all__ = [
    "EmbeddingStore", "EncoderSpec", "FrozenEmbeddings", "FrozenTextEncoder", "LoraTextEncoder",
    "TextEncoder", "build_encoder", "detect_lora_targets", "eos_pool", "mean_pool",
    "parse_encoder_spec", "text_digest",
]
