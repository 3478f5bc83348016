"""Synthetic ScanNet-format rooms with exact ground truth (``dknet synth``).

Furnished rooms (bedrooms, offices, living rooms, kitchens, bathrooms, conference rooms) built
from parametric primitives, meshed at a fixed vertex spacing with hidden surfaces removed,
over-segmented, annotated, and written in ScanNet v2's raw layout, so tests, demos and
benchmarks exercise the real ScanNet reading path::

    from dknet.synth import generate_dataset, generate_scene
    scene = generate_scene(0, seed=0)                      # arrays in memory
    generate_dataset(Path("synthetic"), num_scenes=20, seed=0)  # files on disk
"""

from __future__ import annotations

from .labels_table import RAW_CATEGORIES, UNKNOWN_RAW_CATEGORIES, UNMAPPED_RAW_CATEGORY
from .room import ROOM_TYPES
from .scene import SyntheticObject, SyntheticScene, generate_scene, scene_id_for
from .writer import SceneRecord, SynthSummary, generate_dataset, write_scannet_scene

__all__ = [
    "RAW_CATEGORIES",
    "ROOM_TYPES",
    "SceneRecord",
    "SynthSummary",
    "SyntheticObject",
    "SyntheticScene",
    "UNKNOWN_RAW_CATEGORIES",
    "UNMAPPED_RAW_CATEGORY",
    "generate_dataset",
    "generate_scene",
    "scene_id_for",
    "write_scannet_scene",
]
