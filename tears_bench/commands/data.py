"""`tears-bench data show DATASET`: sizes, genres and the split of a dataset."""
from __future__ import annotations

import json


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="inspect datasets")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    show = actions.add_parser("show", help="users, items, ratings, genres and split of a dataset")
    show.add_argument("dataset", help="a registered name (see `tears-bench ls`) or a RecBole folder")
    show.add_argument("--data-dir", help="folder holding the dataset's files (skips the download)")
    show.add_argument("--seed", type=int, default=42, help="split seed (default 42)")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.set_defaults(func=show_dataset)


def describe(split) -> dict:
    stats = split.dataset_stats
    return {
        "dataset": stats["name"], "kind": stats["kind"], "users": stats["users"], "items": stats["items"],
        "interactions": stats["interactions"], "positives": stats["positives"],
        "has_ratings": stats["has_ratings"], "has_timestamps": stats["has_timestamps"],
        "genres": stats["genres"], "genre_list": split.genres,
        "split": {"train": len(split.train_users), "val": len(split.val_users), "test": len(split.test_users),
                  "items": split.n_items, "users_kept": len(split.user_ids), "hash": split.hash,
                  "seed": split.params["seed"], "n_heldout": split.params["n_heldout"],
                  "build_seconds": split.params.get("build_seconds")},
    }


def show_dataset(args) -> int:
    from tears_bench.data import get_split

    info = describe(get_split(args.dataset, args.data_dir, seed=args.seed))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    s = info["split"]
    print(f"dataset       {info['dataset']} ({info['kind']})")
    print(f"users         {info['users']:,}")
    print(f"items         {info['items']:,}")
    print(f"interactions  {info['interactions']:,}" + ("" if info["has_ratings"] else " (positives only)"))
    print(f"positives     {info['positives']:,}")
    print(f"split         train {s['train']:,} / val {s['val']:,} / test {s['test']:,} users, "
          f"{s['items']:,} items, seed {s['seed']}, hash {s['hash']}")
    print("genres (items; * = in the genre list used by the tasks):")
    for genre, count in info["genres"].items():
        mark = "*" if genre in info["genre_list"] else " "
        print(f"  {mark} {genre:<14} {count:,}")
    return 0
