"""Reading delimited rating files with errors that name the file and line."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tears_bench.errors import TearsBenchError


def read_table(path: Path, sep: str, names: list[str], encoding: str = "utf-8", header: bool = False,
               numeric: tuple[str, ...] = ()) -> pd.DataFrame:
    """A delimited file as strings; `numeric` columns must parse as numbers on every line."""
    if not path.is_file():
        raise TearsBenchError(f"missing file: {path}")
    try:
        frame = pd.read_csv(path, sep=sep, header=0 if header else None, names=names, dtype=str,
                            encoding=encoding, engine="c" if len(sep) == 1 else "python",
                            keep_default_na=False, quoting=3, on_bad_lines="error")
    except pd.errors.ParserError as error:
        raise TearsBenchError(f"{path}: malformed line ({_short(error)})") from None
    except UnicodeDecodeError as error:
        raise TearsBenchError(f"{path}: not {encoding} text ({error.reason})") from None
    first_line = 2 if header else 1
    for column in names:
        missing = frame[column].eq("").to_numpy()
        if column in numeric and missing.any():
            line = first_line + int(np.argmax(missing))
            raise TearsBenchError(f"{path}, line {line}: missing field '{column}' "
                                  f"(expected {len(names)} fields separated by {sep!r})")
    for column in numeric:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna().to_numpy()
        if bad.any():
            line = first_line + int(np.argmax(bad))
            raise TearsBenchError(f"{path}, line {line}: {column} {frame[column].iloc[int(np.argmax(bad))]!r} "
                                  f"is not a number (expected fields separated by {sep!r})")
        frame[column] = values
    return frame


UTF8_BOM = b"\xef\xbb\xbf"
_SCAN_CHUNK = 1 << 20


def first_non_utf8(path: Path) -> tuple[int, int] | None:
    """(byte offset, line) of the first byte of `path` that is not valid UTF-8, or None."""
    offset, line, carry = 0, 1, b""
    with open(path, "rb") as handle:
        while True:
            block = handle.read(_SCAN_CHUNK)
            data = carry + block
            try:
                data.decode("utf-8")
                good, carry = data, b""
            except UnicodeDecodeError as error:
                # A character cut by the chunk boundary is completed by the next chunk.
                if block and error.reason == "unexpected end of data":
                    good, carry = data[:error.start], data[error.start:]
                else:
                    return offset + error.start, line + data[:error.start].count(b"\n")
            offset += len(good)
            line += good.count(b"\n")
            if not block:
                return None


def text_encoding(path: Path, fallback: str = "latin-1") -> str:
    """How to read a text file whose encoding nobody states (RecBole atomic files): UTF-8 (a BOM is
    skipped) when every byte is valid UTF-8, else `fallback` -- latin-1, the encoding of the
    GroupLens MovieLens files most such folders come from, which decodes any byte -- with a
    one-line warning naming the file, line and byte offset of the first non-UTF-8 byte."""
    import sys

    with open(path, "rb") as handle:
        bom = handle.read(len(UTF8_BOM)) == UTF8_BOM
    bad = first_non_utf8(path)
    if bad is None:
        return "utf-8-sig" if bom else "utf-8"
    offset, line = bad
    print(f"tears-bench: warning: {path} is not UTF-8 (line {line}, byte offset {offset}); "
          f"reading it as {fallback}", file=sys.stderr, flush=True)
    return fallback


def _short(error: Exception) -> str:
    return str(error).strip().splitlines()[-1]


def dense_index(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(unique values in first-seen order... sorted naturally, index of each value)."""
    uniques, inverse = np.unique(values, return_inverse=True)
    order = np.argsort(_natural_keys(uniques), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return uniques[order], rank[inverse].astype(np.int64)


def _natural_keys(ids: np.ndarray) -> np.ndarray:
    """Numeric ids sort as numbers, others as strings."""
    numbers = pd.to_numeric(pd.Series(ids), errors="coerce")
    if numbers.notna().all():
        return numbers.to_numpy()
    return ids.astype(str)
