"""Refusing, before allocating, work whose arrays cannot fit in memory.

A dense array far beyond RAM does not fail cleanly: numpy may raise MemoryError after minutes of
other work, or the kernel's OOM killer ends the process (and maybe others) without a word. So a
stage that allocates in proportion to a product of user-given sizes estimates its peak first and
calls `require`.
"""
from __future__ import annotations

import os

from tears_bench.errors import TearsBenchError


def available_bytes() -> int | None:
    """Memory the process can use now without swapping: MemAvailable (Linux), else physical
    memory; None when neither is known (then nothing is refused)."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} PiB"


def require(needed: float, what: str, hint: str = "") -> None:
    """Raise a one-sentence TearsBenchError if `needed` bytes exceed the memory available now."""
    available = available_bytes()
    if available is None or needed <= available:
        return
    advice = f"; {hint}" if hint else ""
    raise TearsBenchError(f"{what} would need about {format_bytes(needed)} of memory but "
                          f"{format_bytes(available)} is available{advice}")
