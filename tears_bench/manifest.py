"""What a result depends on, recorded with every run: versions, commit, device, seeds, hashes."""
from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

import torch

PACKAGES = ("tears-bench", "torch", "transformers", "peft", "numpy", "scipy", "pandas", "openai", "anthropic",
            "nltk", "rapidfuzz", "matplotlib")


def package_versions() -> dict[str, str | None]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit() -> str | None:
    """The commit of the tears-bench checkout, with '+dirty' when it has uncommitted changes."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + ("+dirty" if dirty else "")) or None


def device_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def public_config(config):
    """A copy of a run's config that may be written to disk or printed: the LLM base URL without
    its credentials (user:password@, ?api-key=...). The real URL stays in `config` for the client."""
    import dataclasses

    from tears_bench.llm.base import redact_url

    url = getattr(config, "llm_base_url", None)
    return dataclasses.replace(config, llm_base_url=redact_url(url)) if url else config
