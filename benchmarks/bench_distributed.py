"""Training in N processes (tears_bench.distributed, docs/distributed.md) against one process.

    python benchmarks/bench_distributed.py                          # 2 gloo processes on the CPU
    python benchmarks/bench_distributed.py --cases multvae,tears-base-lora --epochs 5
    python benchmarks/bench_distributed.py --processes 4 --device cuda --json out.json   # NCCL, 4 GPUs

For every case the same model is trained three times, each in a fresh cache: in one process with
seed 0, in N processes (torch.multiprocessing, joined as torchrun would join them) with seed 0, and
in one process with seed 1. The table gives the validation NDCG@50 (at the selected alpha for TEARS)
of each, |N - 1| (what sharing the batches changes) next to |seed 1 - seed 0| (how much a model moves
with its random numbers anyway), the largest weight difference between the N-process and the
one-process model, and training seconds. The TEARS cases use a tiny BERT built on the fly
(tests/tiny_encoders.py); `-lora` cases fine-tune it with LoRA, whose dropout inside the encoder
is drawn per process (docs/distributed.md, "What differs"). On a 2-core CPU the seconds say nothing
about speed-up (two processes share the two cores); they are there for GPU runs.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.tiny_encoders

CF = {"hidden": 200, "latent": 64, "batch_size": 100}
CASES = {
    "multvae": ("multvae", CF),
    "multdae": ("multdae", CF),
    "recvae": ("recvae", CF),
    "macridvae": ("macridvae", {"hidden": 200, "dfac": 32, "batch_size": 100}),
    "tears-multvae": ("tears-multvae", {"batch_size": 64}),
    "tears-macridvae": ("tears-macridvae", {"batch_size": 64}),
    "tears-base-lora": ("tears-base", {"encoder_mode": "lora", "lora_r": 8, "batch_size": 64}),
    "tears-multvae-lora": ("tears-multvae", {"encoder_mode": "lora", "lora_r": 8, "batch_size": 64}),
}


def train_case(case: str, args, home: Path, seed: int) -> dict:
    """Train one case in this process (or rank); its validation NDCG@50, seconds and weights."""
    import torch

    from tears_bench import distributed as dist
    from tears_bench.data.registry import get_split

    os.environ["TEARS_BENCH_HOME"] = str(home)
    name, config = CASES[case]
    with dist.main_first():
        split = get_split(args.dataset, data_dir=args.data_dir, verbose=False)
    from tears_bench.models.tears_trainer import train_tears
    from tears_bench.models.trainer import get_trained
    from tests.tiny_encoders import word_summaries

    started = time.perf_counter()  # imports before: a fresh process pays for them once, not per model
    if name.startswith("tears-"):
        cf = {**CASES["macridvae" if name == "tears-macridvae" else "multvae"][1], "epochs": args.epochs,
              "patience": args.epochs}
        options = {**config, "encoder": args.encoder, "epochs": args.epochs, "patience": args.epochs, "cf_config": cf}
        trained = train_tears(split, name, word_summaries(split), config=options, seed=seed, device=args.device,
                              verbose=False)
        module, ndcg = trained.recommender.net, trained.metrics["val"]["ndcg@50"]
        weights = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
        weights |= {f"encoder.{k}": p.detach().cpu().clone() for k, p in trained.recommender.encoder.named_parameters()
                    if p.requires_grad}
    else:
        trained = get_trained(split, name, config={**config, "patience": args.epochs}, seed=seed, device=args.device,
                              epochs=args.epochs, verbose=False)
        ndcg = trained.metrics["val"]["ndcg@50"]
        weights = {k: v.detach().cpu().clone() for k, v in trained.model.state_dict().items()}
    if args.device != "cpu" and torch.cuda.is_available():
        torch.cuda.synchronize()
    return {"ndcg": ndcg, "seconds": time.perf_counter() - started, "weights": weights}


def _worker(rank: int, world: int, port: int, case: str, args, home: Path, out: Path) -> None:
    import torch

    from tears_bench import distributed as dist

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    if args.threads:
        torch.set_num_threads(args.threads)
    with dist.session(args.device):
        result = train_case(case, args, home, seed=0)
    if rank == 0:
        out.write_bytes(pickle.dumps(result))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def in_processes(case: str, args, root: Path) -> dict:
    import torch.multiprocessing as mp

    out = root / f"{case}-{args.processes}.pkl"
    mp.spawn(_worker, args=(args.processes, free_port(), case, args, root / f"home-{case}-n", out),
             nprocs=args.processes, join=True)
    return pickle.loads(out.read_bytes())


def max_difference(a: dict, b: dict) -> float:
    return max((float((a[k].float() - b[k].float()).abs().max()) for k in a), default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="synthetic:users=600,items=400,seed=3")
    parser.add_argument("--data-dir")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of: {', '.join(CASES)}")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of every training (no early stopping)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu (gloo) or cuda (NCCL, one GPU per process)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    parser.add_argument("--encoder", help="TEARS text encoder (default: a tiny BERT built on the fly)")
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    unknown = sorted(set(args.cases.split(",")) - set(CASES))
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(CASES)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="bench-distributed-"))
    if not args.encoder:
        from tests.tiny_encoders import build_tiny_encoders

        args.encoder = build_tiny_encoders(root / "tiny")["bert"]
    rows = []
    header = (f"{'case':<20}{'1 proc':>9}{f'{args.processes} proc':>9}{'|N-1|':>10}{'max|dw|':>10}"
              f"{'seed 1':>9}{'|seed|':>9}{'s 1':>7}{f's {args.processes}':>7}")
    print(f"{args.dataset}, {args.epochs} epochs, device {args.device}, torch {torch.__version__}: "
          f"validation NDCG@50")
    print(header)
    try:
        for case in args.cases.split(","):
            one = train_case(case, args, root / f"home-{case}-1", seed=0)
            many = in_processes(case, args, root)
            other = train_case(case, args, root / f"home-{case}-seed1", seed=1)
            row = {"case": case, "one": one["ndcg"], "many": many["ndcg"], "diff": abs(many["ndcg"] - one["ndcg"]),
                   "max_weight_diff": max_difference(many["weights"], one["weights"]), "seed1": other["ndcg"],
                   "seed_diff": abs(other["ndcg"] - one["ndcg"]), "seconds_one": one["seconds"],
                   "seconds_many": many["seconds"], "processes": args.processes}
            rows.append(row)
            print(f"{case:<20}{row['one']:>9.4f}{row['many']:>9.4f}{row['diff']:>10.1e}{row['max_weight_diff']:>10.1e}"
                  f"{row['seed1']:>9.4f}{row['seed_diff']:>9.4f}{row['seconds_one']:>7.1f}{row['seconds_many']:>7.1f}",
                  flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
