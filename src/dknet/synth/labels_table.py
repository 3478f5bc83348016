"""The raw categories the synthetic scenes use and their ``scannetv2-labels.combined.tsv`` rows.

Raw names and their nyu40 ids follow ScanNet v2's label table (e.g. "couch" -> 6 sofa, "trash can"
-> 39 otherfurniture, "dresser" -> 17 and "pillow" -> 18, which are not benchmark classes). Two
entries exist only to exercise the readers' edge cases:

* ``UNMAPPED_RAW_CATEGORY`` ("decoration") has a row with an EMPTY nyu40id (the reader must map
  it to ignore);
* ``UNKNOWN_RAW_CATEGORIES`` ("yoga mat") never get a row at all (the reader must map them to
  ignore and count them in a warning).

Columns dknet has no value for (ModelNet40, ShapeNetCore55, WordNet synsets) are left empty, as
they are for many rows of the real table; ``count`` is the number of segGroups with that raw
category in the generated dataset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "TSV_COLUMNS",
    "RawCategory",
    "RAW_CATEGORIES",
    "SCAN_RAW_CATEGORIES",
    "UNMAPPED_RAW_CATEGORY",
    "UNKNOWN_RAW_CATEGORIES",
    "NYU40_CLASS_NAMES",
    "nyu40_of",
    "format_label_table",
]

#: The header of ScanNet v2's ``scannetv2-labels.combined.tsv``, in file order.
TSV_COLUMNS: Final[tuple[str, ...]] = (
    "id", "raw_category", "category", "count", "nyu40id", "eigen13id", "nyuClass",
    "nyu40class", "eigen13class", "ModelNet40", "ModelNet10", "ShapeNetCore55", "synsetoffset",
    "wnsynsetid", "wnsynsetkey", "mpcat40", "mpcat40index",
)  # fmt: skip

#: nyu40 id -> class name as ScanNet's table spells it (24 is "refridgerator" there).
NYU40_CLASS_NAMES: Final[dict[int, str]] = {
    1: "wall", 2: "floor", 3: "cabinet", 4: "bed", 5: "chair", 6: "sofa", 7: "table", 8: "door",
    9: "window", 10: "bookshelf", 11: "picture", 12: "counter", 13: "blinds", 14: "desk",
    15: "shelves", 16: "curtain", 17: "dresser", 18: "pillow", 19: "mirror", 20: "floor mat",
    21: "clothes", 22: "ceiling", 23: "books", 24: "refridgerator", 25: "television",
    26: "paper", 27: "towel", 28: "shower curtain", 29: "box", 30: "whiteboard", 31: "person",
    32: "night stand", 33: "toilet", 34: "sink", 35: "lamp", 36: "bathtub", 37: "bag",
    38: "otherstructure", 39: "otherfurniture", 40: "otherprop",
}  # fmt: skip

#: The 13-class grouping of NYU (Eigen & Fergus), indexed by nyu40 id.
_EIGEN13_OF_NYU40: Final[dict[int, int]] = {
    1: 12, 2: 5, 3: 6, 4: 1, 5: 4, 6: 9, 7: 10, 8: 12, 9: 13, 10: 6, 11: 8, 12: 6, 13: 13,
    14: 10, 15: 6, 16: 13, 17: 6, 18: 7, 19: 7, 20: 5, 21: 7, 22: 3, 23: 2, 24: 6, 25: 11,
    26: 7, 27: 7, 28: 7, 29: 7, 30: 7, 31: 7, 32: 6, 33: 7, 34: 7, 35: 7, 36: 7, 37: 7, 38: 7,
    39: 6, 40: 7,
}  # fmt: skip
_EIGEN13_NAMES: Final[dict[int, str]] = {
    1: "Bed", 2: "Books", 3: "Ceiling", 4: "Chair", 5: "Floor", 6: "Furniture", 7: "Objects",
    8: "Picture", 9: "Sofa", 10: "Table", 11: "TV", 12: "Wall", 13: "Window",
}  # fmt: skip


@dataclass(frozen=True)
class RawCategory:
    """One row of the generated label table.

    Attributes:
        raw_category: the annotators' name, as written in ``aggregation.json``.
        nyu40_id: nyu40 id 1..40, or None for a row whose nyu40id cell is empty.
        mpcat40: (index, name) of the Matterport category, or None (empty cells).
    """

    raw_category: str
    nyu40_id: int | None
    mpcat40: tuple[int, str] | None


_MAPPED: Final[tuple[tuple[str, int, tuple[int, str]], ...]] = (
    ("wall", 1, (1, "wall")),
    ("floor", 2, (2, "floor")),
    ("chair", 5, (3, "chair")),
    ("office chair", 5, (3, "chair")),
    ("table", 7, (5, "table")),
    ("coffee table", 7, (5, "table")),
    ("dining table", 7, (5, "table")),
    ("desk", 14, (5, "table")),
    ("bed", 4, (11, "bed")),
    ("couch", 6, (10, "sofa")),
    ("cabinet", 3, (7, "cabinet")),
    ("kitchen cabinet", 3, (7, "cabinet")),
    ("bookshelf", 10, (31, "shelving")),
    ("door", 8, (4, "door")),
    ("window", 9, (9, "window")),
    ("picture", 11, (6, "picture")),
    ("curtain", 16, (12, "curtain")),
    ("shower curtain", 28, (12, "curtain")),
    ("counter", 12, (26, "counter")),
    ("kitchen counter", 12, (26, "counter")),
    ("refrigerator", 24, (37, "appliances")),
    ("toilet", 33, (18, "toilet")),
    ("sink", 34, (15, "sink")),
    ("bathtub", 36, (25, "bathtub")),
    ("trash can", 39, (39, "objects")),
    ("dresser", 17, (13, "chest_of_drawers")),
    ("nightstand", 32, (13, "chest_of_drawers")),
    ("pillow", 18, (8, "cushion")),
    ("lamp", 35, (28, "lighting")),
    ("box", 29, (39, "objects")),
)

#: A raw category whose table row has an empty nyu40id (maps to ignore).
UNMAPPED_RAW_CATEGORY: Final[str] = "decoration"

#: Raw categories the generator uses that have NO row in the table.
UNKNOWN_RAW_CATEGORIES: Final[tuple[str, ...]] = ("yoga mat",)

#: Every row of the generated table, in file order.
RAW_CATEGORIES: Final[tuple[RawCategory, ...]] = (
    *(RawCategory(name, nyu, mp) for name, nyu, mp in _MAPPED),
    RawCategory(UNMAPPED_RAW_CATEGORY, None, None),
)

#: Further rows used only by the scan-like preset (shape variants and the clutter nobody
#: labels with a benchmark class); listed after ``RAW_CATEGORIES`` in its tables.
_SCAN_MAPPED: Final[tuple[tuple[str, int, tuple[int, str]], ...]] = (
    ("armchair", 5, (3, "chair")),
    ("stool", 39, (19, "stool")),
    ("round table", 7, (5, "table")),
    ("file cabinet", 3, (7, "cabinet")),
    ("bunk bed", 4, (11, "bed")),
    ("blinds", 13, (12, "curtain")),
    ("books", 23, (39, "objects")),
    ("bag", 37, (39, "objects")),
    ("backpack", 37, (39, "objects")),
    ("monitor", 40, (22, "tv_monitor")),
    ("tv", 25, (22, "tv_monitor")),
    ("laptop", 40, (39, "objects")),
    ("keyboard", 40, (39, "objects")),
    ("bottle", 40, (39, "objects")),
    ("cup", 40, (39, "objects")),
    ("plant", 40, (14, "plant")),
    ("towel", 27, (20, "towel")),
    ("clothes", 21, (38, "clothes")),
    ("whiteboard", 30, (39, "objects")),
    ("mirror", 19, (21, "mirror")),
    ("microwave", 40, (37, "appliances")),
    ("ceiling", 22, (17, "ceiling")),
    ("paper", 26, (39, "objects")),
)

#: Every row of the scan-like preset's table: ``RAW_CATEGORIES`` then the extra rows.
SCAN_RAW_CATEGORIES: Final[tuple[RawCategory, ...]] = (
    *RAW_CATEGORIES,
    *(RawCategory(name, nyu, mp) for name, nyu, mp in _SCAN_MAPPED),
)

_NYU40_OF_RAW: Final[dict[str, int]] = {
    row.raw_category: (row.nyu40_id or 0) for row in SCAN_RAW_CATEGORIES
}


def nyu40_of(raw_category: str) -> int:
    """nyu40 id of a raw category as the table maps it; 0 for an empty cell or no row at all."""
    return _NYU40_OF_RAW.get(raw_category, 0)


def format_label_table(counts: Mapping[str, int] | None = None, *, scan: bool = True) -> str:
    """The text of ``scannetv2-labels.combined.tsv`` for the generator's raw categories.

    Args:
        counts: raw category -> number of segGroups in the dataset (missing: 0).
        scan: list the scan-like preset's rows too (``SCAN_RAW_CATEGORIES``); False gives the
            clean preset's table (``RAW_CATEGORIES`` only).

    Returns:
        Tab-separated text: the header, then one row per table entry, ``\\n`` line ends.
    """
    counts = counts or {}
    lines = ["\t".join(TSV_COLUMNS)]
    rows = SCAN_RAW_CATEGORIES if scan else RAW_CATEGORIES
    for row_id, row in enumerate(rows, start=1):
        cells = dict.fromkeys(TSV_COLUMNS, "")
        cells["id"] = str(row_id)
        cells["raw_category"] = row.raw_category
        cells["category"] = row.raw_category
        cells["count"] = str(int(counts.get(row.raw_category, 0)))
        if row.nyu40_id is not None:
            eigen = _EIGEN13_OF_NYU40[row.nyu40_id]
            cells["nyu40id"] = str(row.nyu40_id)
            cells["eigen13id"] = str(eigen)
            cells["nyuClass"] = row.raw_category
            cells["nyu40class"] = NYU40_CLASS_NAMES[row.nyu40_id]
            cells["eigen13class"] = _EIGEN13_NAMES[eigen]
        if row.mpcat40 is not None:
            cells["mpcat40index"] = str(row.mpcat40[0])
            cells["mpcat40"] = row.mpcat40[1]
        lines.append("\t".join(cells[c] for c in TSV_COLUMNS))
    return "\n".join(lines) + "\n"
