"""Synthetic ScanNet-format rooms with exact ground truth (``dknet synth``).

Furnished rooms (bedrooms, offices, living rooms, kitchens, bathrooms, conference rooms) built
from parametric primitives, meshed with hidden surfaces removed, over-segmented, annotated, and
written in ScanNet v2's raw layout, so tests, demos and benchmarks exercise the real ScanNet
reading path. The default ``"scan"`` preset makes them look like reconstructed RGB-D scans
(irregular spacing, noise, tilt, holes, clutter, wide colour palettes, lighting); the
``"clean"`` preset keeps the original noise-free rooms. All ranges live in
:class:`SynthOptions`; :func:`dataset_report` compares generated scenes with real scans::

    from dknet.synth import generate_dataset, generate_scene, preset_options
    scene = generate_scene(0, seed=0)                      # arrays in memory
    generate_dataset(Path("synthetic"), num_scenes=20, seed=0)  # files on disk
    clean = generate_scene(0, seed=0, options=preset_options("clean"))
"""

from __future__ import annotations

from .labels_table import RAW_CATEGORIES, UNKNOWN_RAW_CATEGORIES, UNMAPPED_RAW_CATEGORY
from .options import (
    PRESET_NAMES,
    ColorOptions,
    ContentOptions,
    GeometryOptions,
    SynthOptions,
    preset_options,
)
from .report import REAL_RANGES, SceneStatistics, dataset_report, dataset_statistics
from .room import ROOM_TYPES
from .scene import SyntheticObject, SyntheticScene, generate_scene, scene_id_for
from .writer import SceneRecord, SynthSummary, generate_dataset, write_scannet_scene

__all__ = [
    "PRESET_NAMES",
    "REAL_RANGES",
    "ColorOptions",
    "ContentOptions",
    "GeometryOptions",
    "SceneStatistics",
    "SynthOptions",
    "dataset_report",
    "dataset_statistics",
    "preset_options",
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
