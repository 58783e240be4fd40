"""`hf:<name-or-path>`: a local transformers causal LM prompted through its chat template.

Greedy decoding when temperature is 0, sampling otherwise. The model is loaded once per process
(path, device) and generation is serialised by a lock: one model answers one request at a time,
so `--concurrency` does not help here. A Hub name is fetched by transformers as usual (set
HF_HUB_OFFLINE=1 to forbid it); a folder path is read from disk.
"""
from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any, Mapping

from tears_bench.errors import TearsBenchError
from tears_bench.llm.base import Completion, LLMClient, ProviderError, Usage

_LOCK = threading.Lock()


@lru_cache(maxsize=2)
def _load(name: str, device: str) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name)
    except (OSError, ValueError) as error:
        raise TearsBenchError(f"hf:{name}: cannot load a causal language model from it ({error})") from None
    if not getattr(tokenizer, "chat_template", None):
        raise TearsBenchError(f"hf:{name}: its tokenizer has no chat template; use an instruction-tuned model")
    return tokenizer, model.to(device).eval()


def _auto_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


class HFClient(LLMClient):
    provider = "hf"
    local = True

    def __init__(self, model: str, device: str | None = None):
        self.model = model
        self.device = device or _auto_device()
        self.tokenizer, self.lm = _load(model, self.device)

    def __repr__(self) -> str:
        return f"HFClient(hf:{self.model}, device={self.device!r})"

    def complete(self, messages: list[dict[str, str]], params: Mapping[str, Any],
                 timeout: float | None = None) -> Completion:
        import torch

        params = dict(params)
        temperature, max_tokens = params.pop("temperature"), params.pop("max_tokens")
        try:
            encoded = self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        except Exception as error:  # templates raise jinja errors, e.g. on a system role they reject
            raise ProviderError(self.provider, f"{self.model}: chat template failed ({error})",
                                retryable=False) from None
        encoded = {k: v.to(self.device) for k, v in encoded.items()}
        sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        with _LOCK, torch.no_grad():
            output = self.lm.generate(**encoded, max_new_tokens=max_tokens, pad_token_id=pad, **sampling, **params)
        prompt_length = encoded["input_ids"].shape[1]
        new_tokens = output[0, prompt_length:]
        eos = self.lm.generation_config.eos_token_id
        eos = set(eos if isinstance(eos, (list, tuple)) else [eos]) - {None}
        stopped = len(new_tokens) > 0 and int(new_tokens[-1]) in eos
        finish = "length" if len(new_tokens) >= max_tokens and not stopped else "stop"
        text = self.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
        return Completion(text, Usage(int(prompt_length), int(len(new_tokens))), finish, self.model)
