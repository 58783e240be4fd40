"""`tears-bench compare`: two summary sources on the synthetic dataset, one split, one CF backbone."""
from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stdout

import pytest

from tears_bench.cli import main
from tests.tiny_encoders import fast_tears_setup

DATASET = "synthetic:users=200,items=300,seed=4"


def reversed_template(split) -> dict[str, str]:
    """Another summarizer for the same users: the template summary with its sentences reversed."""
    from tears_bench.summaries.registry import get_summaries

    out = {}
    for user_id, text in get_summaries(split, "template").by_user_id().items():
        sentences = [s.strip() for s in text.removeprefix("Summary:").split(". ") if s.strip()]
        out[user_id] = "Summary: " + ". ".join(reversed(sentences))
    return out


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """One `tears-bench compare` of template against a file: source; returns (folder, printed, home, encoder)."""
    from tears_bench.data import get_split

    root = tmp_path_factory.mktemp("compare")
    with fast_tears_setup(root) as encoder:
        summaries = root / "reversed.json"
        summaries.write_text(json.dumps(reversed_template(get_split(DATASET))))
        printed = io.StringIO()
        with redirect_stdout(printed):
            code = main(["compare", "--summaries", f"template,file:{summaries}", "--dataset", DATASET,
                         "--encoder", encoder, "--epochs", "2", "--pairs", "200", "--output", str(root / "out")])
        assert code == 0
        return root / "out", printed.getvalue(), root / "home", encoder, summaries


def test_compare_reports_both_sources_on_one_backbone(compared, capsys):
    out, printed, *_ = compared
    document = json.loads((out / "results.json").read_text())
    assert list(document["sources"]) == ["template", f"file:{compared[4]}"]
    backbone = document["cf_backbone"]["tears-multvae"]
    assert backbone["shared"] and len(backbone["keys"]) == 1
    template, other = (document["sources"][s]["models"]["tears-multvae"] for s in document["sources"])
    assert template["cf_key"] == other["cf_key"]
    assert template["key"] != other["key"]  # two TEARS models, one per source
    assert template["cf_only"] == other["cf_only"]  # the same CF model on the same users
    for entry in (template, other):
        assert set(entry["alpha_1"]) >= {"ndcg@20", "recall@20"} and 0 <= entry["best_alpha"] <= 1
        assert set(entry["flip_alpha_1"]) >= {"delta_up", "delta_down", "flip_ratio"}
        assert entry["flip_alpha_1"]["n_users"] > 0
    # Uniqueness: each source on the same users; reversing sentences keeps the words, not the order.
    unique = {s: document["sources"][s]["uniqueness"] for s in document["sources"]}
    assert document["uniqueness_users"] == 20
    for stats in unique.values():
        assert stats["between_users"]["pairs"] == 200 and stats["between_users"]["n_users"] == 20
    assert unique["template"]["length"]["mean"] == unique[f"file:{compared[4]}"]["length"]["mean"]
    within = document["within_user"]["by_source_pair"][f"template|file:{compared[4]}"]
    assert within["pairs"] == 20 and 0 < within["bleu_mean"] < 1

    # The table, printed and written, shows both sources with the numbers of results.json.
    for text in (printed, (out / "compare.md").read_text()):
        assert "Summarizers compared" in text and "template" in text and "file:reversed.json" in text
    rows = {line.split("|")[1].strip(): [c.strip().replace("**", "").replace("\u2020", "")
                                         for c in line.strip().strip("|").split("|")]
            for line in (out / "compare.md").read_text().splitlines() if line.startswith("| ") and "model" not in line}
    assert rows["template"][3] == f"{template['alpha_1']['ndcg@20']:.4f}"
    assert rows["file:reversed.json"][6] == f"{other['best']['ndcg@20']:.4f}"
    assert rows["file:reversed.json"][8] == f"{other['flip_alpha_1']['delta_up']:.4f}"
    assert rows["template"][11] == str(template["flip_alpha_1"]["n_users"])
    assert rows["template"][12] == f"{unique['template']['between_users']['bleu_mean']:.4f}"
    assert "\\toprule" in (out / "compare.tex").read_text()
    assert (out / "compare.csv").read_text().count("\n") == 3
    assert (out / "compare.png").stat().st_size > 10_000 and (out / "compare.pdf").read_bytes().startswith(b"%PDF")
    assert main(["report", str(out)]) == 2  # a compare folder is not a run folder: say where its table is
    assert f"{out / 'compare.md'}" in capsys.readouterr().err
    flips = [json.loads(line) for line in (out / "rows" / "flip.jsonl").read_text().splitlines()]
    assert {r["source"] for r in flips} == set(document["sources"])


def test_compare_numbers_are_the_trained_models_numbers(compared, monkeypatch):
    """Retraining is a cache hit, and its metrics are the ones compare reported."""
    out, _, home, encoder, summaries = compared
    from tears_bench.models.tears_trainer import train_tears
    from tears_bench.data import get_split
    from tears_bench.summaries.registry import get_summaries

    monkeypatch.setenv("TEARS_BENCH_HOME", str(home))
    document = json.loads((out / "results.json").read_text())
    split = get_split(DATASET)
    for spec in ("template", f"file:{summaries}"):
        trained = train_tears(split, "tears-multvae", get_summaries(split, spec),
                              config={"encoder": encoder, "encoder_mode": "frozen", "align": "ot", "epochs": 2,
                                      "cf_config": {"epochs": 3}},
                              seed=0, device="cpu", verbose=False)
        assert trained.from_cache
        entry = document["sources"][spec]["models"]["tears-multvae"]
        assert entry["key"] == trained.key
        assert entry["alpha_1"] == trained.metrics["by_alpha"]["1.0"]["test"]
        assert entry["best"] == trained.metrics["test"] and entry["best_alpha"] == trained.metrics["best_alpha"]


def test_compare_figure_has_a_panel_per_measure_and_a_bar_per_source(compared):
    from tears_bench.report.compare import COMPARE_PANELS, compare_figure

    out = compared[0]
    document = json.loads((out / "results.json").read_text())
    fig = compare_figure(document)
    assert len(fig.axes) == len(COMPARE_PANELS) == 5
    # 20 flip users: under the 30-user minimum, so the legend's n carries the dagger.
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["template, flip (n=20\u2020)",
                                                                  "file:reversed.json, flip (n=20\u2020)"]
    assert "weight of the text latent" in fig.get_suptitle()
    sources = list(document["sources"].values())
    for ax, (_, part, key, _) in zip(fig.axes, COMPARE_PANELS):
        heights = [round(p.get_height(), 6) for p in ax.patches]
        if part == "uniqueness":
            expected = [s["uniqueness"]["between_users"][key] for s in sources]
        else:
            expected = [s["models"]["tears-multvae"][part][key] for s in sources]
        assert heights == [round(v, 6) for v in expected], part


@pytest.mark.parametrize("args, message", [
    (["--summaries", "template"], "needs at least two sources"),
    (["--summaries", "template,offline"], "lists a source twice"),
    (["--summaries", "template,file:/no/such.json"], "summary file not found"),
    (["--summaries", "template,tears-gpt4-ml-1m", "--models", "tears-foo"], "unknown model"),
    (["--summaries", "template,tears-gpt4-ml-1m", "--editor", "nobody"], "unknown editor"),
])
def test_bad_compare_arguments_are_one_line_errors(args, message, capsys):
    assert main(["compare", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def _flags(command: str, capsys) -> set[str]:
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    options = capsys.readouterr().out.split("\noptions:\n", 1)[1]  # not the description's words
    return set(re.findall(r"--[a-z][a-z-]*", options)) - {"--help"}


def test_run_and_compare_take_their_options_from_one_dataclass(capsys):
    """Both commands' flags are generated from RunConfig: compare has every flag of run but the three
    that pick run's tasks, and the same model/encoder flags give the same training options."""
    from dataclasses import fields

    from tears_bench.cli import build_parser
    from tears_bench.options import COMPARE, RUN, RunConfig, config_from_args

    run_flags, compare_flags = _flags(RUN, capsys), _flags(COMPARE, capsys)
    assert run_flags - compare_flags == {"--task", "--tasks", "--alphas", "--guided-control"}
    assert compare_flags <= run_flags
    for f in fields(RunConfig):
        assert (f.metadata["flags"] or [f"--{f.name.replace('_', '-')}"])[0] in run_flags, f.name
    # The options compare lacked before it shared run's pipeline.
    assert {"--segments", "--align", "--encoder-mode", "--split-seed", "--concurrency", "--text-head",
            "--loss-scale"} <= compare_flags

    shared = ["--dataset", "ml-1m", "--encoder", "hf:x", "--encoder-mode", "lora", "--segments", "4", "--align", "kl",
              "--text-head", "linear", "--loss-scale", "sum", "--epochs", "5", "--split-seed", "7", "--concurrency", "3"]
    parser = build_parser()
    run = config_from_args(parser.parse_args(["run", "--task", "flip,rank", "--alphas", "0:1:0.5", *shared]), RUN)
    compare = config_from_args(parser.parse_args(["compare", "--summaries", "template,file:x.json", *shared]), COMPARE)
    assert run.model_options() == compare.model_options() == {
        "encoder": "hf:x", "encoder_mode": "lora", "segments": 4, "align": "kl", "epochs": 5, "loss_scale": "sum",
        "text_head": "linear"}
    assert (run.dataset, run.split_seed, run.concurrency) == (compare.dataset, compare.split_seed,
                                                              compare.concurrency) == ("ml-1m", 7, 3)
    assert run.tasks == ["flip", "rank"] and run.alphas == [0.0, 0.5, 1.0]
    assert compare.summaries == ["template", "file:x.json"]
    # Flags not given take the dataclass defaults, the one place they are written.
    assert config_from_args(parser.parse_args(["run", "--task", "flip"]), RUN) == RunConfig(tasks=["flip"])
