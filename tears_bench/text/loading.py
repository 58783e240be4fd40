"""Loading a Hugging Face encoder: its config and tokenizer, the settings that follow, its weights.

Pooling: T5-family models (model_type t5/mt5/umt5/longt5/..., or any encoder-decoder config) run
ONLY their encoder stack and pool the hidden state of the final end-of-sequence token, i.e. the
last non-padding position (from the attention mask; the tokenizer's ``</s>`` -- appended if a
tokenizer does not add it itself), as in the paper. Every other model mean-pools its last hidden
state over the attention mask (the sentence-transformers recipe for MiniLM).

max_length (tokens, special tokens included): 512 for T5-family models; otherwise the model's
maximum, min(tokenizer.model_max_length, config.max_position_embeddings) -- 512 for MiniLM. Note
that sentence-transformers truncates all-MiniLM-L6-v2 at 256 word pieces; we do not by default,
because 14% of the GPT-4 ML-1M summaries are longer than 256 tokens (longest 327), and a
truncated tail would make a user's edit there invisible to the model. Longer texts are truncated
(the end is dropped). Pass ``max_length=256`` for the sentence-transformers behaviour.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tears_bench.errors import TearsBenchError
from tears_bench.text.spec import EncoderSpec, parse_encoder_spec

if TYPE_CHECKING:  # annotations only: torch loads with the weights
    from torch import nn

T5_FAMILY = {"t5", "mt5", "umt5", "longt5", "switch_transformers", "t5gemma"}
T5_DEFAULT_MAX_LENGTH = 512


@dataclass
class ResolvedEncoder:
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


def config_dim(config: Any) -> int:
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
                    max_length: int | None = None) -> ResolvedEncoder:
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
    return ResolvedEncoder(spec, config, tokenizer, folder, pooling, max_length, config_dim(config))


def load_model(resolved: ResolvedEncoder) -> nn.Module:
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
