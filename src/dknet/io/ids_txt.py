"""Integer-per-line text files: benchmark ground truth, instance masks, semantic predictions.

The ScanNet benchmark stores one integer per line per mesh vertex. These files are large (a
scene has up to ~300 000 lines) and a full validation run reads thousands of them, so the reader
parses the bytes with numpy instead of line by line.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dknet.errors import InvalidPredictionError
from dknet.io.atomic import atomic_write_bytes

__all__ = ["read_ids_txt", "parse_ids_bytes", "write_ids_txt", "format_ids"]

_NEWLINE = ord("\n")
_CR = ord("\r")
_ZERO = ord("0")
_MINUS = ord("-")


def parse_ids_bytes(data: bytes, *, source: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an integer-per-line file.

    Accepts ``\\n`` or ``\\r\\n`` line ends, an optional final newline, optional leading ``-``
    signs and surrounding spaces or tabs. Anything else (empty lines, floats such as ``1.0``,
    letters) is an error, as it is for the official evaluation script.

    Args:
        data: the file's bytes.
        source: the file name, used in error messages.

    Returns:
        (L,) int64, one value per line.

    Raises:
        InvalidPredictionError: a line is not an integer (names the file and the 1-based line).
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size == 0:
        return np.zeros(0, dtype=np.int64)
    # Fast path: every line is one digit (binary masks "0\n"/"1\n").
    if buf.size % 2 == 0 and buf[-1] == _NEWLINE:
        digits = buf[0::2]
        if np.all(buf[1::2] == _NEWLINE) and np.all((digits >= _ZERO) & (digits <= _ZERO + 9)):
            return (digits - _ZERO).astype(np.int64)
    if buf[-1] != _NEWLINE:
        buf = np.concatenate([buf, np.array([_NEWLINE], dtype=np.uint8)])
    # Drop carriage returns, spaces and tabs; then every byte is a digit, '-', or a newline.
    keep = (buf != _CR) & (buf != ord(" ")) & (buf != ord("\t"))
    if not keep.all():
        buf = buf[keep]
    ends = np.flatnonzero(buf == _NEWLINE)
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts
    is_digit = (buf >= _ZERO) & (buf <= _ZERO + 9)
    is_minus = buf == _MINUS
    negative = is_minus[starts] & (lengths > 0)
    digit_starts = starts + negative
    bad_char = ~(is_digit | (buf == _NEWLINE))
    # A '-' is allowed only as the first character of a line.
    bad_char[starts[negative]] = False
    digit_counts = ends - digit_starts
    line_of_byte = np.cumsum(buf == _NEWLINE) - (buf == _NEWLINE)
    problems = np.zeros(len(ends), dtype=bool)
    if bad_char.any():
        problems[line_of_byte[bad_char]] = True
    problems |= digit_counts <= 0
    problems |= digit_counts > 18
    if problems.any():
        line = int(np.flatnonzero(problems)[0])
        text = bytes(buf[starts[line] : ends[line]]).decode("utf-8", "replace")
        raise InvalidPredictionError(
            f"{source}: line {line + 1}: expected one integer per line, found {text[:40]!r}"
        )
    # Vectorised base-10 accumulation: value = sum(digit * 10 ** (position from the right)).
    digit_mask = is_digit
    values = (buf - _ZERO).astype(np.int64)
    line_end_of_byte = ends[line_of_byte]
    power = line_end_of_byte - np.arange(buf.size) - 1
    contrib = np.where(digit_mask, values * (10 ** np.clip(power, 0, 18)), 0)
    totals = np.add.reduceat(contrib, starts) if len(starts) else np.zeros(0, np.int64)
    return np.where(negative, -totals, totals).astype(np.int64)


def read_ids_txt(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an integer-per-line file (see :func:`parse_ids_bytes`).

    Raises:
        InvalidPredictionError: the file is missing, unreadable or not integers.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InvalidPredictionError(f"{p}: file not found") from None
    except OSError as exc:
        raise InvalidPredictionError(f"{p}: cannot read ({exc.strerror})") from None
    return parse_ids_bytes(data, source=str(p))


def format_ids(values: np.ndarray) -> bytes:
    """Format (L,) integers as one decimal integer per line, each line ending in ``\\n``."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"expected a 1-D array, got shape {arr.shape}")
    if arr.size == 0:
        return b""
    if arr.dtype == bool or (arr.min() >= 0 and arr.max() <= 9):
        out = np.empty(arr.size * 2, dtype=np.uint8)
        out[0::2] = arr.astype(np.uint8) + _ZERO
        out[1::2] = _NEWLINE
        return out.tobytes()
    return ("\n".join(map(str, arr.astype(np.int64).tolist())) + "\n").encode("ascii")


def write_ids_txt(path: str | os.PathLike[str], values: np.ndarray) -> None:
    """Write (L,) integers one per line, atomically."""
    atomic_write_bytes(path, format_ids(values))
