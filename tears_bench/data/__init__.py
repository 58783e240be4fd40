"""Datasets, their loaders and the strong-generalization split."""
from tears_bench.data.registry import DATASETS, get_split, load_dataset
from tears_bench.data.split import Split, model_input

__all__ = ["DATASETS", "Split", "get_split", "load_dataset", "model_input"]
