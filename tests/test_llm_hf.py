"""`hf:` on a tiny randomly initialised Llama built and saved by the test (no download)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from tears_bench.errors import TearsBenchError  # noqa: E402
from tears_bench.llm import complete_many, get_client  # noqa: E402

WORDS = ("summary : the user enjoys loves drama comedy horror films movies and does not enjoy "
         "write a about system user assistant").split()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<unk>", "<pad>", "<s>", "</s>"] + list(dict.fromkeys(WORDS)))}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>", pad_token="<pad>",
                                        bos_token="<s>", eos_token="</s>")
    tokenizer.chat_template = ("{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} </s> {% endfor %}"
                               "{% if add_generation_prompt %}assistant : {% endif %}")
    config = LlamaConfig(vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                         bos_token_id=2, eos_token_id=3, pad_token_id=1)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


MESSAGES = [[{"role": "system", "content": "write a summary about the user"},
             {"role": "user", "content": f"the user enjoys {genre} films"}] for genre in ("drama", "comedy", "horror")]


def test_greedy_generation_usage_and_length_flag(tiny_model):
    client = get_client(f"hf:{tiny_model}")
    first = client.complete(MESSAGES[0], {"temperature": 0.0, "max_tokens": 7})
    again = client.complete(MESSAGES[0], {"temperature": 0.0, "max_tokens": 7})
    assert first.text == again.text  # greedy: deterministic
    prompt_ids = client.tokenizer.apply_chat_template(MESSAGES[0], add_generation_prompt=True, return_dict=True)
    assert first.usage.input_tokens == len(prompt_ids["input_ids"])
    assert 1 <= first.usage.output_tokens <= 7
    assert first.finish_reason == ("length" if first.usage.output_tokens == 7 else "stop")
    assert all(word in WORDS + [":"] for word in first.text.split())


def test_through_complete_many_with_cache(tiny_model):
    stats: list = []
    out = complete_many(f"hf:{tiny_model}", MESSAGES, {"max_tokens": 5}, stats_out=stats, progress=False)
    assert len(out) == 3 and stats[0].new == 3 and stats[0].cost == 0.0
    again = complete_many(f"hf:{tiny_model}", MESSAGES, {"max_tokens": 5}, stats_out=stats, progress=False)
    assert stats[1].from_cache == 3 and [c.text for c in again] == [c.text for c in out]


def test_sampling_when_temperature_is_positive(tiny_model):
    client = get_client(f"hf:{tiny_model}")
    torch.manual_seed(1)
    texts = {client.complete(MESSAGES[1], {"temperature": 5.0, "max_tokens": 12}).text for _ in range(4)}
    assert len(texts) > 1


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(TearsBenchError, match="hf:.*cannot load"):
        get_client(f"hf:{tmp_path / 'nothing-here'}")
