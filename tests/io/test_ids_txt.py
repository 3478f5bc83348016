"""Integer-per-line files: the fast parser agrees with a line-by-line reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dknet.errors import InvalidPredictionError
from dknet.io.ids_txt import format_ids, parse_ids_bytes, read_ids_txt, write_ids_txt


def _reference(data: bytes) -> list[int]:
    text = data.decode()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines = lines[:-1]
    return [int(line.strip()) for line in lines]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"0\n",
        b"1\n0\n1\n",
        b"1\n0\n1",
        b"5001\n0\n-3\n12\n",
        b"36012\r\n0\r\n",
        b" 7 \n\t8\n",
        b"123456789012345678\n",
        b"-0\n00012\n",
    ],
)
def test_parser_matches_reference(data: bytes) -> None:
    assert parse_ids_bytes(data).tolist() == _reference(data)


def test_random_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for values in (rng.integers(0, 2, 1000), rng.integers(-5, 40000, 1000), np.array([], int)):
        path = tmp_path / "ids.txt"
        write_ids_txt(path, values)
        assert np.array_equal(read_ids_txt(path), values)
        assert path.read_bytes() == format_ids(values)
        assert format_ids(values).decode() == "".join(f"{v}\n" for v in values.tolist())


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (b"1.0\n", 1),
        (b"1\n\n2\n", 2),
        (b"0\nabc\n", 2),
        (b"-\n", 1),
        (b"1-2\n", 1),
        (b"0\n1e3\n", 2),
    ],
)
def test_bad_lines_name_file_and_line(data: bytes, line: int) -> None:
    with pytest.raises(InvalidPredictionError, match=rf"mask\.txt: line {line}:"):
        parse_ids_bytes(data, source="mask.txt")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidPredictionError, match="file not found"):
        read_ids_txt(tmp_path / "absent.txt")
