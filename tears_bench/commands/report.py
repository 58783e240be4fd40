"""`tears-bench report RUN_DIR [RUN_DIR...]`: the paper's tables and figures from run folders."""
from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="paper-style tables (Markdown, LaTeX, CSV) and figures (PNG, PDF) from run folders",
        description="Read one or more run folders (results/<run-id>) and write report.md with its figures, plus "
                    "the tables as LaTeX (booktabs) and CSV. Several runs line up side by side, labelled "
                    "dataset / summarizer / editor. alpha = weight of the text latent (0 = CF only, 1 = text only).")
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folder(s) written by `tears-bench run`")
    parser.add_argument("--format", default="md,tex,csv", help="table formats, comma-separated: md, tex, csv "
                                                                 "(default all; report.md needs md)")
    parser.add_argument("--output", help="report folder (default RUN_DIR/report for one run, "
                                         "results/report-<time> for several)")
    parser.add_argument("--alphas", help="more alphas for the controllability tables, besides 1.0 and each "
                                         "model's best (e.g. 0.5 or 0:1:0.5)")
    parser.set_defaults(func=main)


def main(args) -> int:
    from tears_bench.harness import parse_alphas
    from tears_bench.report import write_report

    alphas = parse_alphas(args.alphas) if args.alphas else []
    written = write_report(args.runs, output=args.output, formats=args.format, alphas=alphas)
    for section, tables in written["sections"].items():
        if section != "Runs":
            for table in tables:
                print(table.text(), end="\n\n")
    for note in written["missing"]:
        print(f"note: {note}")
    target = written["report"] or written["output"]
    print(f"report: {target} ({sum(len(v) for v in written['tables'].values())} table files, "
          f"{2 * len(written['figures'])} figure files)")
    return 0
