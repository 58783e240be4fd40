"""Tiny randomly initialised BERT and T5 encoders with word-level tokenizers, built locally.

Nothing is downloaded: tests that need a Hugging Face encoder use these (`hf:<folder>` specs).
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import torch

# A small CF backbone for TEARS tests (the default trains up to 200 epochs of a 600-400 MultVAE).
CF_FAST = {"epochs": 4, "patience": 4, "hidden": 64, "latent": 32}

WORDS = ("the a user likes loves hates dislikes enjoys avoids does not enjoy action comedy horror drama "
         "films movies romance thriller sci-fi sci fi adventure war crime mystery fantasy western musical "
         "animation documentary children's and or but with of slow fast old new summary : .").split()


def tokenizer(kind: str):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] if kind == "bert" else ["<pad>", "</s>", "<unk>"]
    vocab = {w: i for i, w in enumerate(specials + list(dict.fromkeys(WORDS)))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=specials[1] if kind == "bert" else "<unk>"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    if kind == "bert":
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
        return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                       cls_token="[CLS]", sep_token="[SEP]", model_max_length=64)
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")


def build_tiny_encoders(root: Path) -> dict[str, str]:
    """Save a tiny BERT and a tiny T5 under `root`; returns {"bert": "hf:...", "t5": "hf:..."}."""
    from transformers import BertConfig, BertModel, T5Config, T5ForConditionalGeneration

    n_words = len(dict.fromkeys(WORDS))
    torch.manual_seed(0)
    bert = BertModel(BertConfig(vocab_size=n_words + 4, hidden_size=32, num_hidden_layers=2,
                                num_attention_heads=2, intermediate_size=64, max_position_embeddings=64))
    bert.save_pretrained(root / "bert")
    tokenizer("bert").save_pretrained(root / "bert")
    t5 = T5ForConditionalGeneration(T5Config(vocab_size=n_words + 3, d_model=32, d_kv=16, d_ff=64,
                                             num_layers=2, num_heads=2, pad_token_id=0, eos_token_id=1,
                                             decoder_start_token_id=0))
    t5.save_pretrained(root / "t5")
    tokenizer("t5").save_pretrained(root / "t5")
    return {"bert": f"hf:{root / 'bert'}", "t5": f"hf:{root / 't5'}"}


@contextmanager
def fast_tears_setup(root: Path):
    """For module-scoped fixtures (the autouse home is not set up yet): a home under `root`, offline
    Hugging Face, a fast CF backbone (the default trains up to 200 epochs: these tests check plumbing,
    not accuracy); yields the tiny BERT encoder spec."""
    import pytest

    from tears_bench.models.tears_trainer import DEFAULTS

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEARS_BENCH_HOME", str(root / "home"))
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setitem(DEFAULTS, "cf_config", {"epochs": 3})
        yield build_tiny_encoders(root / "tiny")["bert"]


WORD_GENRES = ["drama", "comedy", "action", "romance", "thriller", "horror", "adventure", "war", "crime"]


def word_summaries(split) -> dict[int, str]:
    """Two sentences in the tiny encoder's vocabulary per user, from the user's favourite genre."""
    out = {}
    for user in range(len(split.user_ids)):
        genres = [g for item, r in split.summary_set(user) if r > 3 for g in split.catalog.genres[item]
                  if g in WORD_GENRES]
        liked = max(sorted(set(genres)), key=genres.count) if genres else "drama"
        out[user] = f"summary : the user loves {liked} movies . the user avoids horror films ."
    return out
