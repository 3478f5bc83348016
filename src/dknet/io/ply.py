"""Read and write PLY point clouds and triangle meshes (numpy only; never imports torch).

The reader parses the header itself and decodes the body with vectorised numpy: a binary
element of fixed-size records is one ``np.frombuffer`` call, and a face element whose lists all
have the same length (every ScanNet mesh) is one as well. Only binary elements whose list lengths
vary (a mesh mixing triangles and quads) need a loop over records to find where each record
starts; every other step works on whole arrays. ASCII bodies are tokenised and converted in one
pass over the bytes.

Every problem with a file raises :class:`~dknet.errors.InvalidPointCloudError` whose one-line
message starts with the file's path. Sizes promised by the header are compared with the file's
size before anything is allocated, so a corrupt count fails fast instead of exhausting memory.

The writer emits exactly the layouts ScanNet uses (``x y z`` float, ``red green blue [alpha]``
uchar, extra scalars such as ``label`` ushort, ``face`` with ``list uchar int vertex_indices``)
and writes atomically.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import struct
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from dknet import __version__
from dknet.errors import InvalidPointCloudError
from dknet.io.atomic import atomic_path
from dknet.structures.point_cloud import PointCloud

__all__ = ["read_ply", "read_vertex_property", "write_ply"]

logger = logging.getLogger(__name__)

# PLY type names (both the classic and the sized spellings) -> numpy type codes.
_PLY_TYPES: dict[str, str] = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip
# numpy type code -> the PLY name dknet writes (the classic names, as ScanNet's files use).
_PLY_NAMES: dict[str, str] = {
    "i1": "char", "u1": "uchar", "i2": "short", "u2": "ushort",
    "i4": "int", "u4": "uint", "f4": "float", "f8": "double",
}  # fmt: skip
_FORMATS: dict[str, str] = {
    "ascii": "ascii",
    "binary_little_endian": "<",
    "binary_big_endian": ">",
}
_FORMAT_NAMES: dict[str, str] = {"<": "binary_little_endian", ">": "binary_big_endian"}

_COLOR_NAMES: tuple[tuple[str, str, str], ...] = (
    ("red", "green", "blue"),
    ("r", "g", "b"),
    ("diffuse_red", "diffuse_green", "diffuse_blue"),
)
_NORMAL_NAMES: tuple[tuple[str, str, str], ...] = (
    ("nx", "ny", "nz"),
    ("normal_x", "normal_y", "normal_z"),
)
_FACE_INDEX_NAMES: tuple[str, ...] = ("vertex_indices", "vertex_index")
_LABEL_FIELDS: tuple[tuple[str, str], ...] = (
    ("semantic_label", "semantic_labels"),
    ("instance_label", "instance_labels"),
)

_HEADER_CHUNK = 1 << 16
_MAX_HEADER_BYTES = 1 << 24
_PROPERTY_NAME = re.compile(r"[!-~]+")  # printable ASCII, no whitespace
# C-locale whitespace, the separators of an ASCII PLY body.
_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[[9, 10, 11, 12, 13, 32]] = True
# ``struct`` format characters of the numpy codes (list lengths are read with ``struct``).
_STRUCT_CODES: dict[str, str] = {
    "i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I", "f4": "f", "f8": "d",
}  # fmt: skip


# --------------------------------------------------------------------------------------------
# Header model


@dataclass(frozen=True)
class _Property:
    """One property of an element: a scalar, or a list when ``count_code`` is set."""

    name: str
    code: str  # numpy type code of the value(s), e.g. "f4"
    count_code: str | None = None  # numpy type code of a list's length; None for a scalar

    @property
    def is_list(self) -> bool:
        return self.count_code is not None

    def describe(self) -> str:
        if self.count_code is None:
            return f"{_PLY_NAMES[self.code]} {self.name}"
        return f"list {_PLY_NAMES[self.count_code]} {_PLY_NAMES[self.code]} {self.name}"


@dataclass(frozen=True)
class _Element:
    name: str
    count: int
    properties: tuple[_Property, ...]

    def find(self, name: str) -> _Property | None:
        for prop in self.properties:
            if prop.name == name:
                return prop
        return None

    def names(self) -> str:
        return ", ".join(p.name for p in self.properties) or "no properties"


@dataclass(frozen=True)
class _Header:
    fmt: str  # "ascii", "<" or ">"
    elements: tuple[_Element, ...]
    body_offset: int  # bytes from the start of the file to the first body byte
    num_lines: int  # header lines including "ply" and "end_header"

    def element(self, name: str) -> _Element | None:
        for element in self.elements:
            if element.name == name:
                return element
        return None


@dataclass(frozen=True)
class _ListColumn:
    """A list property's data: ``counts`` (n,) int64 and the concatenated ``values``."""

    counts: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class _ElementData:
    """Decoded records of one element. Scalars keep the stored dtype (any byte order)."""

    scalars: dict[str, np.ndarray]
    lists: dict[str, _ListColumn]


def _error(source: str, problem: str, hint: str | None = None) -> InvalidPointCloudError:
    """Build the one-line error ``"<path>: <problem>"``."""
    return InvalidPointCloudError(f"{source}: {' '.join(problem.split())}", hint=hint)


# --------------------------------------------------------------------------------------------
# Header parsing


def _parse_header_lines(source: str, lines: list[str], body_offset: int) -> _Header:
    """Parse the header lines between ``ply`` and ``end_header`` (both excluded)."""
    fmt: str | None = None
    names: list[str] = []
    counts: list[int] = []
    props: list[list[_Property]] = []

    def bad(line_no: int, problem: str) -> InvalidPointCloudError:
        return _error(source, f"invalid PLY header, line {line_no}: {problem}")

    for index, raw in enumerate(lines):
        line_no = index + 2  # 1-based, after the "ply" line
        fields = raw.split()
        if not fields:
            continue
        keyword = fields[0]
        if keyword in ("comment", "obj_info"):
            continue
        if keyword == "format":
            if len(fields) != 3 or fields[1] not in _FORMATS:
                raise bad(
                    line_no,
                    "expected 'format ascii|binary_little_endian|binary_big_endian 1.0', "
                    f"found {raw.strip()[:80]!r}",
                )
            if fmt is not None:
                raise bad(line_no, "a second 'format' line")
            fmt = _FORMATS[fields[1]]
        elif keyword == "element":
            if len(fields) != 3:
                raise bad(line_no, f"expected 'element <name> <count>', found {raw.strip()[:80]!r}")
            try:
                count = int(fields[2])
            except ValueError:
                raise bad(line_no, f"element count {fields[2][:40]!r} is not an integer") from None
            if count < 0:
                raise bad(line_no, f"element count {count} is negative")
            if fields[1] in names:
                raise bad(line_no, f"element {fields[1]!r} is declared twice")
            names.append(fields[1])
            counts.append(count)
            props.append([])
        elif keyword == "property":
            if not names:
                raise bad(line_no, "'property' before any 'element'")
            if len(fields) == 5 and fields[1] == "list":
                count_code = _PLY_TYPES.get(fields[2])
                code = _PLY_TYPES.get(fields[3])
                if count_code is None or code is None:
                    unknown = fields[2] if count_code is None else fields[3]
                    raise bad(line_no, f"unknown property type {unknown[:40]!r}")
                if count_code[0] == "f":
                    raise bad(line_no, f"list length type {fields[2]!r} is not an integer type")
                prop = _Property(fields[4], code, count_code)
            elif len(fields) == 3 and fields[1] != "list":
                code = _PLY_TYPES.get(fields[1])
                if code is None:
                    raise bad(line_no, f"unknown property type {fields[1][:40]!r}")
                prop = _Property(fields[2], code)
            else:
                raise bad(
                    line_no,
                    "expected 'property <type> <name>' or 'property list <type> <type> <name>', "
                    f"found {raw.strip()[:80]!r}",
                )
            if any(p.name == prop.name for p in props[-1]):
                raise bad(
                    line_no, f"property {prop.name!r} is declared twice in element {names[-1]!r}"
                )
            props[-1].append(prop)
        else:
            raise bad(line_no, f"unknown keyword {keyword[:40]!r}")
    if fmt is None:
        raise _error(source, "invalid PLY header: no 'format' line")
    elements = tuple(_Element(n, c, tuple(p)) for n, c, p in zip(names, counts, props, strict=True))
    return _Header(fmt, elements, body_offset, len(lines) + 2)


def _read_header(source: str, handle: BinaryIO) -> _Header:
    """Read and parse the header from an open binary file positioned at its start."""
    data = bytearray(handle.read(_HEADER_CHUNK))
    if data[:3] != b"ply":
        raise _error(source, "not a PLY file (it does not start with 'ply')")
    if data[3:5] == b"\r\n":
        newline = b"\r\n"
    elif data[3:4] in (b"\n", b"\r"):
        newline = bytes(data[3:4])
    else:
        raise _error(source, "not a PLY file ('ply' is not followed by a line break)")
    # Tolerate a stray CR before LF on the end_header line (headers edited on Windows).
    line_end = rb"\r?\n" if newline == b"\n" else re.escape(newline)
    prefix = re.escape(newline) + rb"end_header[ \t]*"
    end_line = re.compile(prefix + line_end)
    start = 0
    while (match := end_line.search(data, start)) is None:
        more = handle.read(_HEADER_CHUNK)
        if not more:
            # A file may end right after "end_header" when every element is empty.
            match = re.compile(prefix + rb"\Z").search(data)
            if match is None:
                raise _error(source, "not a PLY file: the header has no 'end_header' line")
            break
        if len(data) > _MAX_HEADER_BYTES:
            raise _error(
                source,
                f"not a PLY file: no 'end_header' line in its first {_MAX_HEADER_BYTES >> 20} MiB",
            )
        start = max(0, len(data) - 32)
        data += more
    text = bytes(data[3 + len(newline) : match.start()]).decode("latin-1")
    lines = text.split(newline.decode("ascii")) if text else []
    return _parse_header_lines(source, lines, match.end())


def _min_body_bytes(header: _Header) -> int:
    """Lower bound on the body size the header promises (exact for fixed-size records).

    A binary list occupies at least its length field; an ASCII value at least one character
    plus one separator.
    """
    total = 0
    for element in header.elements:
        if header.fmt == "ascii":
            per_record = 2 * len(element.properties)
        else:
            per_record = sum(
                np.dtype(p.count_code if p.count_code is not None else p.code).itemsize
                for p in element.properties
            )
        total += element.count * per_record
    return total - 1 if header.fmt == "ascii" and total else total


def _open_ply(source: str, path: Path) -> tuple[_Header, BinaryIO]:
    """Check the path, read the header, and return it with the open file (caller closes)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise _error(source, "file does not exist") from None
    except OSError as exc:
        raise _error(source, f"cannot access the file ({exc.strerror or exc})") from None
    if stat.S_ISDIR(info.st_mode):
        raise _error(source, "is a directory, not a PLY file", hint="pass a .ply file inside it")
    try:
        handle = open(path, "rb")  # returned to the caller, who closes it
    except OSError as exc:
        raise _error(source, f"cannot open the file ({exc.strerror or exc})") from None
    try:
        header = _read_header(source, handle)
    except BaseException:
        handle.close()
        raise
    return header, handle


def _read_body(source: str, header: _Header, handle: BinaryIO) -> bytes:
    """Check the promised size against the file size, then read the whole body."""
    handle.seek(0, os.SEEK_END)
    available = handle.tell() - header.body_offset
    promised = _min_body_bytes(header)
    if promised > available:
        counts = ", ".join(f"{e.count} {e.name}" for e in header.elements)
        raise _error(
            source,
            f"truncated: the header promises {counts} (at least {promised} bytes of "
            f"{'ASCII' if header.fmt == 'ascii' else 'binary'} data) but the file holds only "
            f"{max(available, 0)} bytes after the header",
        )
    handle.seek(header.body_offset)
    return handle.read()


# --------------------------------------------------------------------------------------------
# Binary bodies


def _gather(buf: np.ndarray, byte_offsets: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Values of ``dtype`` starting at each of ``byte_offsets`` (m,) in the uint8 ``buf``."""
    idx = byte_offsets[:, None] + np.arange(dtype.itemsize, dtype=np.int64)
    return buf[idx].reshape(-1).view(dtype)


def _truncated_element(source: str, element: _Element) -> InvalidPointCloudError:
    return _error(
        source,
        f"truncated: the file ends inside element {element.name!r} "
        f"({element.count} records promised by the header)",
    )


def _read_binary_element(
    source: str, element: _Element, order: str, body: bytes, buf: np.ndarray, offset: int
) -> tuple[_ElementData, int]:
    """Decode one binary element starting at byte ``offset`` of ``body``.

    Returns:
        The decoded data and the byte offset just past the element.
    """
    n = element.count
    props = element.properties
    end = len(body)
    if n == 0 or not props:
        empty = _ElementData(
            {p.name: np.zeros(0, order + p.code) for p in props if not p.is_list},
            {
                p.name: _ListColumn(np.zeros(0, np.int64), np.zeros(0, order + p.code))
                for p in props
                if p.is_list
            },
        )
        return empty, offset
    if not any(p.is_list for p in props):
        dtype = np.dtype([(p.name, order + p.code) for p in props])
        if offset + n * dtype.itemsize > end:
            raise _truncated_element(source, element)
        records = np.frombuffer(body, dtype=dtype, count=n, offset=offset)
        return _ElementData(
            {p.name: records[p.name] for p in props}, {}
        ), offset + n * dtype.itemsize
    uniform = _read_uniform_lists(element, order, body, offset)
    if uniform is not None:
        return uniform
    return _read_variable_lists(source, element, order, body, buf, offset)


def _first_record_lengths(
    element: _Element, order: str, body: bytes, offset: int
) -> list[int] | None:
    """List lengths of the element's first record, or None if it does not fit in ``body``."""
    lengths = []
    pos = offset
    for prop in element.properties:
        if prop.count_code is None:
            pos += np.dtype(prop.code).itemsize
            continue
        fmt = struct.Struct(order + _STRUCT_CODES[prop.count_code])
        if pos + fmt.size > len(body):
            return None
        (length,) = fmt.unpack_from(body, pos)
        if length < 0:
            return None
        lengths.append(length)
        pos += fmt.size + length * np.dtype(prop.code).itemsize
    return lengths if pos <= len(body) else None


def _read_uniform_lists(
    element: _Element, order: str, body: bytes, offset: int
) -> tuple[_ElementData, int] | None:
    """Decode an element whose every list has the first record's length, in one frombuffer.

    Returns None when the lengths vary (or the records do not fit), so the caller falls back.
    """
    lengths = _first_record_lengths(element, order, body, offset)
    if lengths is None:
        return None
    fields: list[tuple] = []
    list_lengths: dict[str, int] = {}
    it = iter(lengths)
    for index, prop in enumerate(element.properties):
        if prop.count_code is None:
            fields.append((prop.name, order + prop.code))
        else:
            length = next(it)
            list_lengths[prop.name] = length
            fields.append((f"length of {index}", order + prop.count_code))
            fields.append((prop.name, order + prop.code, (length,)))
    dtype = np.dtype(fields)
    n = element.count
    if offset + n * dtype.itemsize > len(body):
        return None
    records = np.frombuffer(body, dtype=dtype, count=n, offset=offset)
    for index, prop in enumerate(element.properties):
        if prop.is_list and not np.all(records[f"length of {index}"] == list_lengths[prop.name]):
            return None
    scalars = {p.name: records[p.name] for p in element.properties if not p.is_list}
    lists = {
        name: _ListColumn(np.full(n, length, dtype=np.int64), records[name].reshape(-1))
        for name, length in list_lengths.items()
    }
    return _ElementData(scalars, lists), offset + n * dtype.itemsize


def _negative_length(source: str, element: _Element, record: int) -> InvalidPointCloudError:
    return _error(source, f"element {element.name!r} record {record} has a negative list length")


def _read_variable_lists(
    source: str, element: _Element, order: str, body: bytes, buf: np.ndarray, offset: int
) -> tuple[_ElementData, int]:
    """Decode an element whose list lengths vary from record to record.

    Where a record starts depends on every earlier record's list lengths, so this one step
    walks the records in Python (a few hundred nanoseconds each); the values are then gathered
    with vectorised numpy.
    """
    n = element.count
    end = len(body)
    # Plan: for each list, the fixed bytes before its length field; then the fixed tail.
    steps: list[tuple[int, struct.Struct, int]] = []  # (fixed bytes before, length fmt, value size)
    fixed = 0
    for prop in element.properties:
        if prop.count_code is None:
            fixed += np.dtype(prop.code).itemsize
        else:
            fmt = struct.Struct(order + _STRUCT_CODES[prop.count_code])
            steps.append((fixed, fmt, np.dtype(prop.code).itemsize))
            fixed = 0
    tail = fixed
    lengths: list[list[int]] = [[0] * n for _ in steps]
    pos = offset
    try:
        if len(steps) == 1:
            before, fmt, value_size = steps[0]
            column = lengths[0]
            skip = before + fmt.size + tail
            if fmt.size == 1 and fmt.format[-1] == "B":
                for i in range(n):
                    length = body[pos + before]
                    column[i] = length
                    pos += skip + length * value_size
            else:
                unpack = fmt.unpack_from
                for i in range(n):
                    (length,) = unpack(body, pos + before)
                    if length < 0:
                        raise _negative_length(source, element, i)
                    column[i] = length
                    pos += skip + length * value_size
        else:
            for i in range(n):
                for j, (before, fmt, value_size) in enumerate(steps):
                    (length,) = fmt.unpack_from(body, pos + before)
                    if length < 0:
                        raise _negative_length(source, element, i)
                    lengths[j][i] = length
                    pos += before + fmt.size + length * value_size
                pos += tail
    except (IndexError, struct.error):
        raise _truncated_element(source, element) from None
    counts = [np.asarray(column, dtype=np.int64) for column in lengths]
    if pos > end:
        raise _truncated_element(source, element)

    # Byte offset of every property in every record, from the lengths.
    sizes = np.full(n, tail, dtype=np.int64)
    for (before, fmt, value_size), prop_counts in zip(steps, counts, strict=True):
        sizes += before + fmt.size + prop_counts * value_size
    cursor = offset + np.cumsum(sizes) - sizes
    scalars: dict[str, np.ndarray] = {}
    lists: dict[str, _ListColumn] = {}
    list_index = 0
    for prop in element.properties:
        if prop.count_code is None:
            dtype = np.dtype(order + prop.code)
            scalars[prop.name] = _gather(buf, cursor, dtype)
            cursor = cursor + dtype.itemsize
            continue
        prop_counts = counts[list_index]
        list_index += 1
        dtype = np.dtype(order + prop.code)
        data_start = cursor + np.dtype(prop.count_code).itemsize
        total = int(prop_counts.sum())
        flat_start = np.cumsum(prop_counts) - prop_counts
        within = np.arange(total, dtype=np.int64) - np.repeat(flat_start, prop_counts)
        value_offsets = np.repeat(data_start, prop_counts) + within * dtype.itemsize
        lists[prop.name] = _ListColumn(prop_counts, _gather(buf, value_offsets, dtype))
        cursor = data_start + prop_counts * dtype.itemsize
    return _ElementData(scalars, lists), pos


def _read_binary(
    source: str, header: _Header, body: bytes, wanted: Sequence[str]
) -> dict[str, _ElementData]:
    """Decode the binary elements up to the last one named in ``wanted``."""
    buf = np.frombuffer(body, dtype=np.uint8)
    last = max(i for i, e in enumerate(header.elements) if e.name in wanted)
    out: dict[str, _ElementData] = {}
    offset = 0
    for element in header.elements[: last + 1]:
        data, offset = _read_binary_element(source, element, header.fmt, body, buf, offset)
        if element.name in wanted:
            out[element.name] = data
    return out


# --------------------------------------------------------------------------------------------
# ASCII bodies


def _ascii_value_error(source: str, line: int, problem: str) -> InvalidPointCloudError:
    return _error(source, f"malformed ASCII body, line {line}: {problem}")


def _parse_ascii_numbers(source: str, text: bytes, first_line: int) -> np.ndarray:
    """All whitespace-separated numbers of ``text`` as float64 (one C-level pass)."""
    if not text.strip():
        return np.zeros(0, dtype=np.float64)
    try:
        # numpy < 2.3 stops at a bad token with a DeprecationWarning and returns what it read;
        # newer numpy raises ValueError. Treat both as "not all numbers".
        with warnings.catch_warnings():
            warnings.simplefilter("error", DeprecationWarning)
            return np.fromstring(text, dtype=np.float64, sep=" ")
    except (ValueError, DeprecationWarning):
        pass
    # Error path only: find the first token that is not a number, for the message.
    for line_no, line in enumerate(text.split(b"\n"), start=first_line):
        for token in line.split():
            try:
                float(token)
            except ValueError:
                shown = token[:40].decode("latin-1")
                raise _ascii_value_error(source, line_no, f"{shown!r} is not a number") from None
    raise _error(source, "malformed ASCII body: could not parse its numbers")


def _ascii_cast(
    source: str, values: np.ndarray, code: str, lines: np.ndarray, what: str
) -> np.ndarray:
    """Convert parsed float64 ``values`` to ``code``, checking integers are whole and in range.

    ``lines`` gives the file line of each value, for the message.
    """
    dtype = np.dtype(code)
    if dtype.kind == "f":
        with np.errstate(over="ignore"):
            return values.astype(dtype)
    info = np.iinfo(dtype)
    bad = ~((values >= info.min) & (values <= info.max) & (np.floor(values) == values))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise _ascii_value_error(
            source,
            int(lines[i]),
            f"{what} value {float(values[i]):g} is not a valid {_PLY_NAMES[code]}",
        )
    return values.astype(dtype)


def _read_ascii(
    source: str, header: _Header, body: bytes, wanted: Sequence[str]
) -> dict[str, _ElementData]:
    """Decode the ASCII elements up to the last one named in ``wanted``.

    Each record is one line (blank lines are skipped); values are separated by whitespace.
    """
    if b"\r" in body:
        body = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    buf = np.frombuffer(body, dtype=np.uint8)
    space = _ASCII_SPACE[buf]
    after_space = np.ones(buf.size, dtype=bool)
    after_space[1:] = space[:-1]
    token_start = np.flatnonzero(~space & after_space)
    newlines = np.flatnonzero(buf == 10)
    # Body line k holds tokens bounds[k]:bounds[k + 1]; searching the (fewer) newlines among
    # the token starts is cheaper than locating every token's line.
    bounds = np.concatenate(([0], np.searchsorted(token_start, newlines), [token_start.size]))
    nonblank = np.flatnonzero(bounds[1:] > bounds[:-1])
    line_first = bounds[nonblank]
    line_tokens = bounds[nonblank + 1] - line_first
    line_number = nonblank + header.num_lines + 1  # 1-based file line of each record

    last = max(i for i, e in enumerate(header.elements) if e.name in wanted)
    ranges: list[tuple[_Element, int]] = []
    record = 0
    for element in header.elements[: last + 1]:
        if not element.properties:
            continue
        if record + element.count > line_first.size:
            raise _error(
                source,
                f"truncated: the ASCII body ends after {line_first.size - record} of "
                f"{element.count} {element.name!r} records",
            )
        ranges.append((element, record))
        record += element.count
    used_tokens = int(line_first[record - 1] + line_tokens[record - 1]) if record else 0
    text_end = int(token_start[used_tokens]) if used_tokens < token_start.size else len(body)
    values = _parse_ascii_numbers(source, body[:text_end], header.num_lines + 1)
    if values.size != used_tokens:
        raise _error(source, "malformed ASCII body: could not parse its numbers")

    out: dict[str, _ElementData] = {}
    for element, first_record in ranges:
        if element.name not in wanted:
            continue
        sl = slice(first_record, first_record + element.count)
        out[element.name] = _ascii_element(
            source, element, values, line_first[sl], line_tokens[sl], line_number[sl]
        )
    for element in header.elements[: last + 1]:
        if element.name in wanted and element.name not in out:
            out[element.name] = _ElementData({}, {})
    return out


def _ascii_element(
    source: str,
    element: _Element,
    values: np.ndarray,
    first: np.ndarray,
    num_tokens: np.ndarray,
    lines: np.ndarray,
) -> _ElementData:
    """Split the numbers of one element's records (one per line) into its properties."""
    props = element.properties
    n = element.count
    if not any(p.is_list for p in props):
        width = len(props)
        wrong = num_tokens != width
        if wrong.any():
            i = int(np.flatnonzero(wrong)[0])
            raise _ascii_value_error(
                source,
                int(lines[i]),
                f"expected {width} values for a {element.name!r} record, "
                f"found {int(num_tokens[i])}",
            )
        block = values[first[:, None] + np.arange(width)] if n else np.zeros((0, width))
        return _ElementData(
            {
                p.name: _ascii_cast(source, block[:, j], p.code, lines, p.name)
                for j, p in enumerate(props)
            },
            {},
        )
    end = first + num_tokens
    pos = first.copy()
    scalars: dict[str, np.ndarray] = {}
    lists: dict[str, _ListColumn] = {}
    for prop in props:
        short = pos >= end
        if short.any():
            i = int(np.flatnonzero(short)[0])
            raise _ascii_value_error(
                source,
                int(lines[i]),
                f"too few values for a {element.name!r} record (no {prop.name!r})",
            )
        head = values[pos]
        if prop.count_code is None:
            scalars[prop.name] = _ascii_cast(source, head, prop.code, lines, prop.name)
            pos = pos + 1
            continue
        counts = _ascii_cast(source, head, prop.count_code, lines, f"{prop.name} length").astype(
            np.int64
        )
        data_start = pos + 1
        pos = data_start + counts
        over = pos > end
        if over.any():
            i = int(np.flatnonzero(over)[0])
            raise _ascii_value_error(
                source,
                int(lines[i]),
                f"list {prop.name!r} has length {int(counts[i])} but the line holds only "
                f"{int(end[i] - data_start[i])} more values",
            )
        total = int(counts.sum())
        flat_start = np.cumsum(counts) - counts
        idx = (
            np.repeat(data_start, counts)
            + np.arange(total, dtype=np.int64)
            - np.repeat(flat_start, counts)
        )
        list_lines = np.repeat(lines, counts)
        lists[prop.name] = _ListColumn(
            counts, _ascii_cast(source, values[idx], prop.code, list_lines, prop.name)
        )
    extra = pos != end
    if extra.any():
        i = int(np.flatnonzero(extra)[0])
        raise _ascii_value_error(
            source,
            int(lines[i]),
            f"{int(end[i] - pos[i])} extra values after a {element.name!r} record",
        )
    return _ElementData(scalars, lists)


def _read_elements(
    source: str, header: _Header, body: bytes, wanted: Sequence[str]
) -> dict[str, _ElementData]:
    """Decode the elements named in ``wanted``, turning low-level failures into domain errors."""
    try:
        if header.fmt == "ascii":
            return _read_ascii(source, header, body, wanted)
        return _read_binary(source, header, body, wanted)
    except InvalidPointCloudError:
        raise
    except MemoryError:
        raise _error(
            source, "not enough memory to decode the file (corrupt element counts?)"
        ) from None
    except (ValueError, IndexError, OverflowError, struct.error) as exc:
        raise _error(
            source, f"could not decode the PLY data ({type(exc).__name__}: {exc})"
        ) from None


# --------------------------------------------------------------------------------------------
# Public readers


def _check_vertex_element(source: str, header: _Header) -> _Element:
    vertex = header.element("vertex")
    if vertex is None:
        found = ", ".join(e.name for e in header.elements) or "none"
        raise _error(source, f"no 'vertex' element in the PLY header (elements: {found})")
    return vertex


def _check_face_element(source: str, header: _Header) -> _Property | None:
    face = header.element("face")
    if face is None:
        return None
    prop = next((p for p in face.properties if p.name in _FACE_INDEX_NAMES), None)
    if prop is None:
        raise _error(
            source,
            "face element has no 'vertex_indices' or 'vertex_index' property "
            f"(it has: {face.names()})",
        )
    if not prop.is_list:
        raise _error(
            source,
            f"face property {prop.name!r} is not a list ('property {prop.describe()}'); "
            f"expected 'property list uchar int {prop.name}'",
        )
    if prop.code[0] == "f":
        raise _error(
            source,
            f"face property {prop.name!r} holds {_PLY_NAMES[prop.code]} values, "
            "not integer vertex indices",
        )
    return prop


def _scalar_triple(
    vertex: _Element, options: tuple[tuple[str, str, str], ...]
) -> tuple[str, str, str] | None:
    for names in options:
        found = [vertex.find(name) for name in names]
        if all(p is not None and not p.is_list for p in found):
            return names
    return None


def _colors_from(columns: list[np.ndarray], n: int) -> np.ndarray:
    """(n, 3) float32 colours in [0, 1] from three stored columns (see read_ply for scaling)."""
    colors = np.empty((n, 3), dtype=np.float32)
    for j, column in enumerate(columns):
        colors[:, j] = column
    if all(c.dtype.kind in "iu" for c in columns):
        width = max(c.dtype.itemsize for c in columns)
        if width == 1:
            scale = 255.0
        elif width == 2:
            scale = 65535.0
        else:
            scale = 255.0 if n == 0 or colors.max() <= 255 else 65535.0
        colors /= np.float32(scale)
    else:
        finite = np.isfinite(colors)
        if not finite.all():
            colors[~finite] = 0.5
        if n and colors.max() > 1.0:
            colors /= np.float32(255.0)
    np.clip(colors, 0.0, 1.0, out=colors)
    return colors


def _triangulate(source: str, column: _ListColumn, num_vertices: int) -> np.ndarray:
    """(F, 3) int64 triangles from polygon lists; polygons with k > 3 corners become a fan."""
    counts = column.counts
    indices = column.values.astype(np.int64)
    if indices.size:
        bad = (indices < 0) | (indices >= num_vertices)
        if bad.any():
            value = int(indices[np.flatnonzero(bad)[0]])
            raise _error(
                source,
                f"face vertex index {value} is out of range: the file has {num_vertices} vertices "
                f"({int(bad.sum())} face corners are out of range)",
            )
    if counts.size == 0:
        return np.zeros((0, 3), dtype=np.int64)
    if np.all(counts == 3):
        return indices.reshape(-1, 3)
    degenerate = int(np.count_nonzero(counts < 3))
    if degenerate:
        logger.warning("%s: skipped %d faces with fewer than 3 corners", source, degenerate)
    num_tris = np.maximum(counts - 2, 0)
    first_corner = np.cumsum(counts) - counts
    tri_face = np.repeat(np.arange(counts.size, dtype=np.int64), num_tris)
    k = np.arange(int(num_tris.sum()), dtype=np.int64) - np.repeat(
        np.cumsum(num_tris) - num_tris, num_tris
    )
    base = first_corner[tri_face]
    return np.stack([indices[base], indices[base + k + 1], indices[base + k + 2]], axis=1)


def read_ply(path: str | os.PathLike[str], *, drop_non_finite: bool = False) -> PointCloud:
    """Read a PLY point cloud or mesh (binary little/big endian or ASCII).

    Vertex properties used: ``x y z`` (required, any numeric type); colours ``red green blue``
    (or ``r g b``, ``diffuse_red diffuse_green diffuse_blue``; ``alpha`` is ignored): uchar
    (and char) is divided by 255, ushort (and short) by 65535, 32-bit integers by 255 if their
    maximum is at most 255 and by 65535 otherwise; float is taken as [0, 1] unless its maximum
    exceeds 1, in which case it is divided by 255, and non-finite float colours become 0.5.
    Results are clipped to [0, 1]. Normals ``nx ny nz`` (or
    ``normal_x ...``). Integer properties ``semantic_label`` / ``instance_label`` fill the
    labels. A ``face`` element with a list property ``vertex_indices`` (or ``vertex_index``)
    gives the faces; polygons with k > 3 corners are fan-triangulated into k - 2 triangles
    ``(v0, vi, vi+1)`` and polygons with fewer than 3 corners are skipped with a warning.

    Args:
        path: the ``.ply`` file.
        drop_non_finite: drop vertices whose coordinates are NaN or infinite (with their
            colours, normals and labels, and every face that uses one; the remaining faces
            are re-indexed) and log a warning, instead of raising.

    Returns:
        PointCloud with coords (N, 3) float32 metres; colors (N, 3) float32 in [0, 1] (0.5 and
        ``has_colors=False`` when the file has none); normals (N, 3) float32 or None;
        semantic_labels / instance_labels (N,) int64 or None; faces (F, 3) int64 vertex indices
        or None for a file without a face element; ``source`` = the path as a string.

    Raises:
        InvalidPointCloudError: the file is missing, a directory, not a PLY file, truncated or
            malformed; it has no ``vertex`` element, no ``x``/``y``/``z``, no vertices, faces
            that are not an integer list or index a missing vertex, or non-finite coordinates
            (unless ``drop_non_finite``). The message starts with the path.
    """
    source = os.fspath(path)
    header, handle = _open_ply(source, Path(source))
    with handle:
        vertex = _check_vertex_element(source, header)
        for axis in ("x", "y", "z"):
            prop = vertex.find(axis)
            if prop is None:
                raise _error(
                    source, f"vertex element lacks property {axis!r} (it has: {vertex.names()})"
                )
            if prop.is_list:
                raise _error(
                    source, f"vertex property {axis!r} is a list; expected a scalar coordinate"
                )
        if vertex.count == 0:
            raise _error(source, "has no vertices ('element vertex 0')")
        face_prop = _check_face_element(source, header)
        body = _read_body(source, header, handle)
    wanted = ("vertex", "face") if face_prop is not None else ("vertex",)
    elements = _read_elements(source, header, body, wanted)
    data = elements["vertex"]
    n = vertex.count

    coords = np.empty((n, 3), dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        for j, axis in enumerate(("x", "y", "z")):
            coords[:, j] = data.scalars[axis]
    color_names = _scalar_triple(vertex, _COLOR_NAMES)
    if color_names is not None:
        colors = _colors_from([data.scalars[name] for name in color_names], n)
    else:
        colors = np.full((n, 3), 0.5, dtype=np.float32)
    normal_names = _scalar_triple(vertex, _NORMAL_NAMES)
    normals = None
    if normal_names is not None:
        normals = np.empty((n, 3), dtype=np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            for j, name in enumerate(normal_names):
                normals[:, j] = data.scalars[name]
    labels: dict[str, np.ndarray | None] = {}
    for prop_name, field_name in _LABEL_FIELDS:
        column = data.scalars.get(prop_name)
        labels[field_name] = None
        if column is not None:
            if column.dtype.kind in "iu":
                labels[field_name] = column.astype(np.int64)
            else:
                logger.warning(
                    "%s: ignoring vertex property %r: it is not an integer type", source, prop_name
                )
    faces = None
    if face_prop is not None:
        faces = _triangulate(source, elements["face"].lists[face_prop.name], n)

    finite = np.asarray(np.isfinite(coords).all(axis=1))
    num_bad = n - int(np.count_nonzero(finite))
    if num_bad:
        if not drop_non_finite:
            raise _error(
                source,
                f"{num_bad} of {n} vertices have non-finite coordinates; pass drop_non_finite=True "
                "to read_ply to drop them (benchmark scenes must keep every vertex)",
            )
        if num_bad == n:
            raise _error(
                source, f"all {n} vertices have non-finite coordinates; no points are left"
            )
        coords, colors = coords[finite], colors[finite]
        normals = normals[finite] if normals is not None else None
        labels = {k: (v[finite] if v is not None else None) for k, v in labels.items()}
        message = "%s: dropped %d of %d vertices with non-finite coordinates"
        args: list[object] = [source, num_bad, n]
        if faces is not None:
            keep = finite[faces].all(axis=1)
            new_index = np.cumsum(finite, dtype=np.int64) - 1
            message += " and %d of %d faces using them"
            args += [int(faces.shape[0] - np.count_nonzero(keep)), int(faces.shape[0])]
            faces = new_index[faces[keep]]
        logger.warning(message, *args)

    return PointCloud(
        coords=coords,
        colors=colors,
        normals=normals,
        semantic_labels=labels["semantic_labels"],
        instance_labels=labels["instance_labels"],
        faces=faces,
        has_colors=color_names is not None,
        source=source,
    )


def read_vertex_property(path: str | os.PathLike[str], name: str) -> np.ndarray:
    """Read one scalar vertex property in its stored dtype (native byte order).

    Example: ScanNet's ``<scene>_vh_clean_2.labels.ply`` property ``label`` gives (N,) uint16
    nyu40 ids.

    Args:
        path: the ``.ply`` file.
        name: the vertex property's name.

    Returns:
        (N,) array of the stored type (int8/uint8/int16/uint16/int32/uint32/float32/float64),
        one value per vertex in file order.

    Raises:
        InvalidPointCloudError: the file is missing, a directory, not a PLY file, truncated or
            malformed, has no ``vertex`` element, or the vertex element has no scalar property
            ``name`` (the message lists the properties it has).
    """
    source = os.fspath(path)
    header, handle = _open_ply(source, Path(source))
    with handle:
        vertex = _check_vertex_element(source, header)
        prop = vertex.find(name)
        if prop is None:
            raise _error(
                source, f"vertex element has no property {name!r} (it has: {vertex.names()})"
            )
        if prop.is_list:
            raise _error(source, f"vertex property {name!r} is a list property; expected a scalar")
        body = _read_body(source, header, handle)
    column = _read_elements(source, header, body, ("vertex",))["vertex"].scalars[name]
    return column.astype(column.dtype.newbyteorder("="))


# --------------------------------------------------------------------------------------------
# Writer


def _as_ply_column(source: str, name: str, values: np.ndarray) -> np.ndarray:
    """A 1-D array in a type PLY can store: the same dtype, or a lossless narrowing."""
    kind, size = values.dtype.kind, values.dtype.itemsize
    if kind == "b":
        return values.astype(np.uint8)
    if kind == "f" and size in (4, 8):
        return values
    if kind == "f" and size == 2:
        return values.astype(np.float32)
    if kind in "iu" and size <= 4:
        return values
    if kind in "iu" and size == 8:
        if values.size == 0:
            return values.astype(np.int32)
        lo, hi = int(values.min()), int(values.max())
        for target in (np.int32, np.uint32):
            info = np.iinfo(target)
            if info.min <= lo and hi <= info.max:
                return values.astype(target)
        raise _error(
            source,
            f"cannot write vertex property {name!r}: values {lo}..{hi} "
            "do not fit a 32-bit PLY integer",
        )
    raise _error(
        source, f"cannot write vertex property {name!r}: dtype {values.dtype} has no PLY type"
    )


def _writer_colors(source: str, colors: np.ndarray, n: int) -> np.ndarray:
    """(n, 3) uint8 colours from uint8, integer 0..255 or float [0, 1] input."""
    colors = np.asarray(colors)
    if colors.shape != (n, 3):
        raise _error(source, f"cannot write: colors must have shape ({n}, 3), got {colors.shape}")
    if colors.dtype == np.uint8:
        return colors
    if colors.dtype.kind in "iu":
        if colors.size and (colors.min() < 0 or colors.max() > 255):
            raise _error(source, "cannot write: integer colors must lie in 0..255")
        return colors.astype(np.uint8)
    if colors.dtype.kind == "f":
        if not np.isfinite(colors).all():
            raise _error(source, "cannot write: colors contain NaN or infinite values")
        return np.rint(np.clip(colors, 0.0, 1.0) * 255.0).astype(np.uint8)
    raise _error(
        source, f"cannot write: colors have dtype {colors.dtype}; expected float in [0, 1] or uint8"
    )


def _format_rows(columns: list[np.ndarray]) -> bytes:
    """ASCII lines, one per row; float32 with 9 and float64 with 17 significant digits (exact)."""
    formats = []
    for column in columns:
        if column.dtype.kind == "f" and column.dtype.itemsize == 4:
            formats.append("%.9g")
        elif column.dtype.kind == "f":
            formats.append("%.17g")
        else:
            formats.append("%d")
    row_format = " ".join(formats)
    rows = zip(*(column.tolist() for column in columns), strict=True)
    text = "\n".join(row_format % row for row in rows)
    return (text + "\n").encode("ascii") if text else b""


def write_ply(
    path: str | os.PathLike[str],
    coords: np.ndarray,
    *,
    colors: np.ndarray | None = None,
    normals: np.ndarray | None = None,
    faces: np.ndarray | None = None,
    vertex_properties: Mapping[str, np.ndarray] | None = None,
    color_alpha: bool = False,
    text: bool = False,
    byte_order: str = "<",
) -> Path:
    """Write points (and optionally a triangle mesh) to a PLY file, atomically.

    Vertex properties, in this order: ``x y z`` float32; ``nx ny nz`` float32; ``red green
    blue`` uchar and, with ``color_alpha``, ``alpha`` uchar = 255; then ``vertex_properties``
    in the given order. Faces become element ``face`` with ``property list uchar int
    vertex_indices``. So ``write_ply(p, xyz, colors=rgb_uint8, faces=f, color_alpha=True)`` is
    ScanNet's ``_vh_clean_2.ply`` layout, and adding ``vertex_properties={"label": ids_uint16}``
    gives its ``.labels.ply`` layout. dknet's label properties are ``semantic_label`` and
    ``instance_label`` (pass int32 arrays; ``read_ply`` reads them back as labels).

    Args:
        path: output file; its folder is created if needed.
        coords: (N, 3) float, metres.
        colors: (N, 3) float in [0, 1] (rounded to uchar) or uint8 (written as is), or None.
        normals: (N, 3) float, or None.
        faces: (F, 3) int vertex indices in [0, N), or None for a bare point cloud.
        vertex_properties: extra per-vertex (N,) scalar arrays by name; the dtype is kept
            (int8/uint8/int16/uint16/int32/uint32/float32/float64); bool becomes uchar, float16
            float32, and 64-bit integers int32 (or uint32) when their values fit.
        color_alpha: also write ``alpha`` = 255 (needs ``colors``).
        text: write ASCII instead of binary.
        byte_order: "<" (little endian) or ">" (big endian) for binary files.

    Returns:
        The written path.

    Raises:
        InvalidPointCloudError: an array has the wrong shape or type, a face index is out of
            range, a property name is invalid or repeated, or the options conflict.
    """
    target = Path(path)
    source = os.fspath(path)
    if byte_order not in ("<", ">"):
        raise _error(source, f"cannot write: byte_order must be '<' or '>', got {byte_order!r}")
    coords = np.asarray(coords)
    if coords.ndim != 2 or coords.shape[1] != 3 or coords.dtype.kind not in "iuf":
        raise _error(
            source,
            "cannot write: coords must be a numeric (N, 3) array, "
            f"got {coords.dtype} {coords.shape}",
        )
    n = coords.shape[0]
    columns: list[tuple[str, np.ndarray]] = [
        (axis, coords[:, j].astype(np.float32)) for j, axis in enumerate(("x", "y", "z"))
    ]
    if normals is not None:
        normals = np.asarray(normals)
        if normals.shape != (n, 3) or normals.dtype.kind not in "iuf":
            raise _error(
                source,
                f"cannot write: normals must be a numeric ({n}, 3) array, "
                f"got {normals.dtype} {normals.shape}",
            )
        columns += [
            (axis, normals[:, j].astype(np.float32)) for j, axis in enumerate(("nx", "ny", "nz"))
        ]
    if colors is not None:
        rgb = _writer_colors(source, colors, n)
        columns += [(channel, rgb[:, j]) for j, channel in enumerate(("red", "green", "blue"))]
        if color_alpha:
            columns.append(("alpha", np.full(n, 255, dtype=np.uint8)))
    elif color_alpha:
        raise _error(source, "cannot write: color_alpha=True needs colors")
    for name, values in (vertex_properties or {}).items():
        if not isinstance(name, str) or not _PROPERTY_NAME.fullmatch(name):
            raise _error(
                source,
                f"cannot write: invalid vertex property name {name!r} (printable ASCII, no spaces)",
            )
        if any(name == existing for existing, _ in columns):
            raise _error(source, f"cannot write: vertex property {name!r} is already written")
        values = np.asarray(values)
        if values.shape != (n,):
            raise _error(
                source,
                f"cannot write: vertex property {name!r} must have shape ({n},), "
                f"got {values.shape}",
            )
        columns.append((name, _as_ply_column(source, name, values)))
    face_array = None
    if faces is not None:
        face_array = np.asarray(faces)
        if face_array.ndim != 2 or face_array.shape[1] != 3 or face_array.dtype.kind not in "iu":
            raise _error(
                source,
                "cannot write: faces must be an integer (F, 3) array, "
                f"got {face_array.dtype} {face_array.shape}",
            )
        if face_array.size and (face_array.min() < 0 or face_array.max() >= n):
            raise _error(source, f"cannot write: face vertex indices must lie in 0..{n - 1}")
        face_array = face_array.astype(np.int32)

    lines = [
        "ply",
        f"format {'ascii' if text else _FORMAT_NAMES[byte_order]} 1.0",
        f"comment written by dknet {__version__}",
        f"element vertex {n}",
    ]
    lines += [f"property {_PLY_NAMES[values.dtype.str[1:]]} {name}" for name, values in columns]
    if face_array is not None:
        lines += [f"element face {face_array.shape[0]}", "property list uchar int vertex_indices"]
    lines.append("end_header")
    header = ("\n".join(lines) + "\n").encode("ascii")

    with atomic_path(target) as tmp, open(tmp, "wb") as handle:
        handle.write(header)
        if text:
            handle.write(_format_rows([values for _, values in columns]))
            if face_array is not None:
                count = np.full(face_array.shape[0], 3, dtype=np.int32)
                handle.write(
                    _format_rows([count, face_array[:, 0], face_array[:, 1], face_array[:, 2]])
                )
        else:
            records = np.empty(
                n, dtype=[(name, byte_order + values.dtype.str[1:]) for name, values in columns]
            )
            for name, values in columns:
                records[name] = values
            handle.write(records.tobytes())
            if face_array is not None:
                face_records = np.empty(
                    face_array.shape[0],
                    dtype=[("count", "u1"), ("indices", byte_order + "i4", (3,))],
                )
                face_records["count"] = 3
                face_records["indices"] = face_array
                handle.write(face_records.tobytes())
    return target
