"""The ScanNet v2 benchmark label sets, defined once.

Semantic classes are indexed 0..19 in the order below; ``IGNORE_LABEL`` (-1) marks points of any
other nyu40 class or unannotated points. The 18 instance classes are the 20 minus wall and floor.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "IGNORE_LABEL",
    "SEMANTIC_CLASS_NAMES",
    "SEMANTIC_NYU40_IDS",
    "NUM_SEMANTIC_CLASSES",
    "INSTANCE_CLASS_NAMES",
    "INSTANCE_NYU40_IDS",
    "NUM_INSTANCE_CLASSES",
    "NYU40_TO_SEMANTIC",
    "MIN_INSTANCE_SEMANTIC",
]

IGNORE_LABEL: Final[int] = -1

SEMANTIC_CLASS_NAMES: Final[tuple[str, ...]] = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
    "picture", "counter", "desk", "curtain", "refrigerator", "shower curtain", "toilet", "sink",
    "bathtub", "otherfurniture",
)  # fmt: skip
SEMANTIC_NYU40_IDS: Final[tuple[int, ...]] = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39,
)  # fmt: skip
NUM_SEMANTIC_CLASSES: Final[int] = len(SEMANTIC_CLASS_NAMES)

#: Semantic indices below this (wall 0, floor 1) are never instances.
MIN_INSTANCE_SEMANTIC: Final[int] = 2

INSTANCE_CLASS_NAMES: Final[tuple[str, ...]] = SEMANTIC_CLASS_NAMES[MIN_INSTANCE_SEMANTIC:]
INSTANCE_NYU40_IDS: Final[tuple[int, ...]] = SEMANTIC_NYU40_IDS[MIN_INSTANCE_SEMANTIC:]
NUM_INSTANCE_CLASSES: Final[int] = len(INSTANCE_CLASS_NAMES)

#: nyu40 id -> semantic index 0..19; ids not in the table map to IGNORE_LABEL.
NYU40_TO_SEMANTIC: Final[dict[int, int]] = {n: i for i, n in enumerate(SEMANTIC_NYU40_IDS)}
