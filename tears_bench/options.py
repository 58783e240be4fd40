"""The options of a benchmark run: one dataclass, `RunConfig`, shared by `run` and `compare`.

Each field carries its command-line flag in its metadata (flag names, help, argparse type and
choices, and the commands that accept it), and `add_options` generates both commands' flags from
it, so the two commands cannot drift apart again. This module imports nothing heavy: building
`--help` reads it.
"""
from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from tears_bench.errors import TearsBenchError

DEFAULT_ALPHAS = tuple(round(a / 10, 1) for a in range(11))
TASK_REVISIONS = {"rank": "eligibility per model", "uniqueness": "shared users, distinct pairs"}
RUN, COMPARE, SERVE = "run", "compare", "serve"
BOTH = (RUN, COMPARE)
EVERY = (RUN, COMPARE, SERVE)  # serve takes the options that say which model to train, on what


def comma_list(text: str) -> list[str]:
    """'a, b,,c' -> ['a', 'b', 'c'] (argparse type of the comma-separated options)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def seconds(text: str) -> float:
    """argparse type of --llm-timeout: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def parse_alphas(text: str) -> list[float]:
    """'0:1:0.1' (start:stop:step, stop included) or '0,0.5,1'."""
    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            if step <= 0:
                raise ValueError
            count = int(round((stop - start) / step)) + 1
            return [round(start + i * step, 6) for i in range(count)]
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise TearsBenchError(f"--alphas {text!r}: expected start:stop:step (e.g. 0:1:0.1) or a list "
                              f"(e.g. 0,0.5,1)") from None


LLM_MODE_CHOICES = ("online", "batch")  # tears_bench.llm.LLM_MODES, here so that --help imports no client
LLM_MODE_HELP = ("online (default: one request each) or batch: the LLM requests not already cached go through the "
                 "provider's batch API (openai:, anthropic:, openai-compatible:; half the price, answers within "
                 "24 h; a rerun resumes waiting for submitted batches); see docs/summaries.md")
LLM_TIMEOUT_HELP = ("seconds an LLM request may take before it is retried (default 120); also bounds how long "
                    "Ctrl-C waits for answers in flight")
# models.text_heads.TEXT_HEADS plus "auto", here so that --help does not import torch (a test checks they agree).
TEXT_HEAD_CHOICES = ("auto", "linear", "attention", "sentence-attention")
TEXT_HEAD_HELP = ("TEARS text head: auto (default: sentence-attention for frozen encoders, linear for lora and "
                  "--segments), linear (the paper's, over the mean-pooled embedding), sentence-attention (learned "
                  "queries over the summary's sentence embeddings) or attention (over cached token states); "
                  "docs/decisions.md")


def option(default=None, *, help: str, factory=None, flags: tuple[str, ...] | None = None,
           commands: tuple[str, ...] = EVERY, convert=None, per_command: dict | None = None, **argparse_kwargs):
    """A RunConfig field and its flag: `flags` (default --field-name), the `commands` that accept it,
    `convert` (applied to the flag's text after parsing, so its errors are TearsBenchErrors), a
    command's own help or keywords in `per_command`, and argparse keywords (type, choices, ...)."""
    metadata = {"help": help, "flags": flags, "commands": commands, "convert": convert,
                "per_command": per_command or {}, "argparse": argparse_kwargs}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class RunConfig:
    tasks: list[str] = option(factory=lambda: ["flip"], flags=("--task", "--tasks"), commands=(RUN,),
                              type=comma_list, required=True, help="comma-separated: flip, rank, guided, uniqueness")
    dataset: str = option("synthetic", help="dataset name or RecBole folder (default synthetic)")
    data_dir: str | None = option(help="folder holding the dataset's files")
    summaries: list[str] = option(
        factory=lambda: ["template"], type=comma_list,
        help="summarizer id(s): template, file:PATH, tears-gpt4-ml-1m, openai:MODEL, ...; several comma-separated "
             "sources of the same users feed the uniqueness task (default template)",
        per_command={COMPARE: {"required": True, "help": "two or more comma-separated summary sources: template, "
                                                          "file:PATH, tears-gpt4-ml-1m, openai:MODEL, ..."}})
    models: list[str] = option(factory=lambda: ["tears-multvae"], type=comma_list, commands=BOTH,
                               help="comma-separated TEARS models (default tears-multvae)")
    editor: str = option("offline", help="editor of the flip and rank tasks: offline (default), or an LLM id such "
                                         "as openai:gpt-4o")
    alphas: list[float] = option(factory=lambda: list(DEFAULT_ALPHAS), commands=(RUN, SERVE), convert=parse_alphas,
                                 help="start:stop:step or a comma list; alpha = weight of the text (default 0:1:0.1)")
    limit: int | None = option(type=int, commands=BOTH, help="a seeded random N of the test users (the same in every task)")
    seed: int = option(0, type=int, help="seed of the models and tasks (default 0)")
    split_seed: int = option(42, type=int, help="seed of the held-out users (default 42)")
    output: str | None = option(help="output folder (default results/<time>-<dataset>-<tasks, or compare>); "
                                     "rerun `run` into it to resume")
    device: str = option("auto", choices=["auto", "cpu", "cuda"], help="auto (default), cpu or cuda")
    llm_base_url: str | None = option(help="base URL for openai-compatible servers, proxies or gateways")
    concurrency: int = option(8, type=int, help="concurrent LLM requests (default 8)")
    llm_timeout: float | None = option(type=seconds, metavar="SECONDS", help=LLM_TIMEOUT_HELP)  # None: 120
    llm_mode: str = option("online", choices=list(LLM_MODE_CHOICES), commands=BOTH, help=LLM_MODE_HELP)
    encoder: str = option("minilm", help="text encoder: minilm (default) or hf:NAME-OR-PATH, optionally :bf16 or "
                                         ":auto (frozen precision; default fp32, the same vectors on every CPU)")
    encoder_mode: str = option("frozen", choices=["frozen", "lora"],
                               help="frozen (default: embeddings computed once and cached) or lora (for GPUs)")
    segments: int = option(1, type=int, help="embed each summary as K consecutive parts, concatenated (default 1; "
                                             "see docs/decisions.md)")
    align: str = option("ot", help="alignment: ot (default), none, kl, contrastive")
    epochs: int | None = option(type=int, help="maximum TEARS training epochs")
    pairs: int = option(2000, type=int, commands=BOTH, help="random summary pairs for uniqueness (default 2000)")
    allow_partial: bool = option(False, action="store_true",
                                 help="accept a summaries source that covers under 90%% of the split's users "
                                      "(refused otherwise)")
    loss_scale: str = option("authors", choices=["sum", "authors"],
                             help="TEARS loss normalisation: authors (default: NLL averaged over items, as in the "
                                  "authors' code) or sum (NLL summed over items); see docs/protocol.md")
    guided_control: str = option("empty", choices=["empty", "cf"], commands=(RUN, SERVE),
                                 help="guided task baseline: empty (default, the authors': the same mix with an "
                                      "empty summary) or cf (the CF-only ranking for 'more')")
    text_head: str = option("auto", choices=TEXT_HEAD_CHOICES, help=TEXT_HEAD_HELP)

    def run_id(self, label: str | None = None) -> str:
        """<time>-<dataset>-<label, or the tasks>: the default folder name of a run or a recipe's."""
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        dataset = Path(self.dataset).name if "/" in self.dataset else self.dataset.split(":")[0]
        return f"{stamp}-{dataset}-{label or '-'.join(self.tasks)}"

    def model_options(self) -> dict:
        """The TEARS training options (models.tears_trainer.DEFAULTS keys) this config sets."""
        return {"encoder": self.encoder, "encoder_mode": self.encoder_mode, "segments": self.segments,
                "align": self.align, "epochs": self.epochs, "loss_scale": self.loss_scale,
                "text_head": self.text_head}

    def task_key(self, task: str) -> str:
        """Everything a task's result depends on besides the cached stages' own keys."""
        from tears_bench.models.text_heads import resolve_text_head
        from tears_bench.storage import stable_hash

        fields_ = asdict(self)
        # llm_mode changes how requests travel, not what they ask: batch answers share the online cache keys.
        for unused in ("tasks", "output", "concurrency", "device", "llm_base_url", "llm_timeout", "llm_mode"):
            fields_.pop(unused)
        # Fields added after the first run folders stay out of the key where they change nothing, so
        # those folders still resume; a task whose numbers changed by design gets a revision.
        if fields_["loss_scale"] == "sum":
            fields_.pop("loss_scale")
        if not fields_["allow_partial"]:
            fields_.pop("allow_partial")
        fields_["text_head"] = resolve_text_head(self.text_head, self.encoder_mode, self.segments)
        if fields_["text_head"] == "linear":
            fields_.pop("text_head")
        control = fields_.pop("guided_control")
        if task == "guided":
            fields_["guided_control"] = control
        if fields_["limit"] is not None:
            fields_["limit_users"] = "seeded random subset"
        if task in TASK_REVISIONS:
            fields_["revision"] = TASK_REVISIONS[task]
        return stable_hash({"task": task, **fields_})


def command_fields(command: str) -> list:
    """The RunConfig fields that `command` takes from its command line, in declaration order."""
    return [f for f in fields(RunConfig) if command in f.metadata["commands"]]


def add_options(parser, command: str) -> None:
    """Add the flags of every RunConfig field that `command` accepts. Defaults stay None on the
    parser (the dataclass holds them, stated in each help), so `config_from_args` fills in only
    what was given."""
    for f in command_fields(command):
        meta = f.metadata
        keywords = {**meta["argparse"], "help": meta["help"], **meta["per_command"].get(command, {})}
        parser.add_argument(*(meta["flags"] or (f"--{f.name.replace('_', '-')}",)), dest=f.name, default=None,
                            **keywords)


def given_options(args: argparse.Namespace, command: str) -> dict:
    """The RunConfig fields set on a parsed `command` line, converted: {name: value}."""
    values = {}
    for f in command_fields(command):
        value = getattr(args, f.name)
        if value is None:
            continue
        convert = f.metadata["convert"]
        values[f.name] = convert(value) if convert else value
    return values


def config_from_args(args: argparse.Namespace, command: str) -> RunConfig:
    """The RunConfig of a parsed `command` line: given flags converted, the others at their defaults."""
    return RunConfig(**given_options(args, command))


def recorded_config(config: RunConfig, command: str) -> dict:
    """The options `command` accepts, as written to its results.json."""
    names = {f.name for f in command_fields(command)}
    return {name: value for name, value in asdict(config).items() if name in names}
