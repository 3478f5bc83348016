"""Write synthetic scenes in ScanNet v2's raw layout: one scene, or a whole dataset in parallel.

Layout written under the output folder::

    scans/<scene>/<scene>_vh_clean_2.ply                   mesh: x y z, red green blue alpha, faces
    scans/<scene>/<scene>_vh_clean_2.labels.ply            same + ``label`` (ushort nyu40 id)
    scans/<scene>/<scene>_vh_clean_2.0.010000.segs.json    over-segmentation
    scans/<scene>/<scene>.aggregation.json                 segGroups (raw category labels)
    scans/<scene>/<scene>.txt                              axisAlignment, sceneType
    scans_test/<scene>/<scene>_vh_clean_2.ply + <scene>.txt    test split: mesh only
    scannetv2-labels.combined.tsv, scannetv2_{train,val,test}.txt

``axisAlignment`` is the identity for the clean preset and, for the scan preset, the matrix that
undoes the scan's random yaw and offset (as ScanNet's aligns its raw meshes). The segments are
grid tiles (clean) or ScanNet's own over-segmentation (scan; ``dknet.segmentation``). Every file
is written atomically, and the bytes depend only on (seed, scene index, spacing, options), never
on the number of worker processes.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dknet.errors import ConfigError
from dknet.io.atomic import atomic_write_text
from dknet.io.ply import write_ply

from .labels_table import format_label_table
from .options import SynthOptions
from .room import SCENE_TYPE_NAMES
from .scene import (
    MAX_SCENES,
    SyntheticScene,
    check_seed_and_spacing,
    generate_scene,
    scene_id_for,
)
from .segments import MIN_SEGMENT_VERTICES

__all__ = [
    "SceneRecord",
    "SynthSummary",
    "write_scannet_scene",
    "generate_dataset",
    "split_assignment",
    "LABEL_TABLE_NAME",
    "SPLIT_FILE_NAMES",
]

logger = logging.getLogger(__name__)

LABEL_TABLE_NAME = "scannetv2-labels.combined.tsv"
SPLIT_FILE_NAMES: dict[str, str] = {
    "train": "scannetv2_train.txt",
    "val": "scannetv2_val.txt",
    "test": "scannetv2_test.txt",
}
_SPLITS = ("train", "val", "test")
#: Scene folders this module writes (see ``scene_id_for``).
_SYNTHETIC_ID = re.compile(r"scene9\d{3}_00")
#: A SeedSequence entry no scene uses (scene indices are < MAX_SCENES): the split shuffle.
_SPLIT_STREAM = MAX_SCENES

#: Progress wrapper: called as ``progress(iterable, total=N, description=...)`` and iterated.
ProgressFn = Callable[..., Iterable[Any]]


@dataclass(frozen=True)
class SceneRecord:
    """What one written scene contributed.

    Attributes:
        scene_id: e.g. ``scene9000_00``.
        split: "train", "val" or "test".
        num_vertices: mesh vertices.
        group_counts: raw category -> segGroups written (empty for test scenes).
    """

    scene_id: str
    split: str
    num_vertices: int
    group_counts: dict[str, int]


@dataclass(frozen=True)
class SynthSummary:
    """Result of :func:`generate_dataset`.

    Attributes:
        out: the dataset root.
        scenes: one record per scene, by scene index.
        seconds: wall-clock time.
    """

    out: Path
    scenes: tuple[SceneRecord, ...]
    seconds: float

    @property
    def num_scenes(self) -> int:
        """Scenes written."""
        return len(self.scenes)

    @property
    def num_vertices(self) -> int:
        """Vertices over all scenes."""
        return sum(r.num_vertices for r in self.scenes)

    @property
    def min_vertices(self) -> int:
        """Vertices of the smallest scene."""
        return min(r.num_vertices for r in self.scenes)

    @property
    def max_vertices(self) -> int:
        """Vertices of the largest scene."""
        return max(r.num_vertices for r in self.scenes)

    def split_ids(self, split: str) -> list[str]:
        """Scene ids of one split ("train", "val", "test"), sorted."""
        return sorted(r.scene_id for r in self.scenes if r.split == split)


def _dumps(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def write_scannet_scene(scene: SyntheticScene, root: Path, *, test_split: bool = False) -> None:
    """Write one scene's files under ``root/scans/<scene>/`` (or ``root/scans_test/<scene>/``).

    Args:
        scene: the generated scene.
        root: dataset root.
        test_split: write only the mesh and the metadata txt, as ScanNet's test scenes have.
    """
    sid = scene.scene_id
    folder = Path(root) / ("scans_test" if test_split else "scans") / sid
    folder.mkdir(parents=True, exist_ok=True)
    write_ply(
        folder / f"{sid}_vh_clean_2.ply",
        scene.vertices,
        colors=scene.colors,
        faces=scene.faces,
        color_alpha=True,
    )
    alignment = np.eye(4) if scene.axis_alignment is None else scene.axis_alignment
    matrix = " ".join(f"{v:.6f}" for v in alignment.reshape(-1))
    atomic_write_text(
        folder / f"{sid}.txt",
        f"axisAlignment = {matrix}\nsceneType = {SCENE_TYPE_NAMES[scene.room_type]}\n",
    )
    if test_split:
        return
    write_ply(
        folder / f"{sid}_vh_clean_2.labels.ply",
        scene.vertices,
        colors=scene.colors,
        faces=scene.faces,
        color_alpha=True,
        vertex_properties={"label": scene.nyu40.astype(np.uint16)},
    )
    segs_name = f"{sid}_vh_clean_2.0.010000.segs.json"
    segs = {
        "params": {"method": scene.segmentation, "segMinVerts": str(MIN_SEGMENT_VERTICES)},
        "sceneId": sid,
        "segIndices": scene.segments.tolist(),
    }
    atomic_write_text(folder / segs_name, _dumps(segs))
    aggregation = {
        "sceneId": f"scannet.{sid}",
        "appId": "dknet.synth",
        "segGroups": [
            {
                "id": obj.object_id,
                "objectId": obj.object_id,
                "segments": list(obj.segments),
                "label": obj.raw_category,
            }
            for obj in scene.objects
        ],
        "segmentsFile": f"scannet.{segs_name}",
    }
    atomic_write_text(folder / f"{sid}.aggregation.json", _dumps(aggregation))


def split_assignment(num_scenes: int, seed: int) -> list[str]:
    """The split of each scene index: about 70 % train, 15 % val, 15 % test.

    With fewer than 3 scenes everything is train. The assignment is a seeded shuffle, so it
    depends only on (num_scenes, seed).

    Returns:
        One of "train", "val", "test" per scene index.
    """
    if num_scenes < 3:
        return ["train"] * num_scenes
    n_val = max(1, round(0.15 * num_scenes))
    n_test = max(1, round(0.15 * num_scenes))
    order = np.random.default_rng([seed, _SPLIT_STREAM]).permutation(num_scenes)
    splits = ["train"] * num_scenes
    for i in order[:n_val]:
        splits[int(i)] = "val"
    for i in order[n_val : n_val + n_test]:
        splits[int(i)] = "test"
    return splits


def _make_scene(task: tuple[int, int, float, str, str, SynthOptions]) -> SceneRecord:
    """Worker: generate and write one scene (top-level so process pools can pickle it)."""
    index, seed, spacing, root, split, options = task
    scene = generate_scene(index, seed, vertex_spacing=spacing, options=options)
    write_scannet_scene(scene, Path(root), test_split=split == "test")
    counts = Counter(o.raw_category for o in scene.objects) if split != "test" else Counter()
    return SceneRecord(scene.scene_id, split, scene.num_vertices, dict(counts))


def _our_outputs(out: Path) -> list[Path]:
    names = ["scans", "scans_test", LABEL_TABLE_NAME, *SPLIT_FILE_NAMES.values()]
    return [out / n for n in names]


def _prepare_output(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ConfigError(
                f"{out}: output folder is not empty",
                hint="pass --overwrite to replace the synthetic dataset there, or pick another",
            )
        foreign = [
            d.name
            for sub in ("scans", "scans_test")
            if (out / sub).is_dir()
            for d in sorted((out / sub).iterdir())
            if not _SYNTHETIC_ID.fullmatch(d.name)
        ]
        if foreign:
            # Never delete a real ScanNet download because of a mistyped OUT.
            raise ConfigError(
                f"{out}: holds scenes dknet synth did not write (e.g. {foreign[0]}); "
                "refusing to replace them",
                hint="choose an empty or new output folder",
            )
        for path in _our_outputs(out):
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _check(num_scenes: int, seed: int, vertex_spacing: float, workers: int) -> None:
    if not 1 <= num_scenes <= MAX_SCENES:
        raise ConfigError(f"number of scenes must be 1..{MAX_SCENES}, got {num_scenes}")
    check_seed_and_spacing(seed, vertex_spacing)
    if workers < 0:
        raise ConfigError(f"workers must be >= 0 (0: one per CPU core), got {workers}")


def generate_dataset(
    out: Path,
    *,
    num_scenes: int,
    seed: int,
    vertex_spacing: float = 0.03,
    workers: int = 0,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
    options: SynthOptions | None = None,
) -> SynthSummary:
    """Generate ``num_scenes`` synthetic rooms and write them as a ScanNet v2 raw dataset.

    Scenes ``scene9000_00``, ``scene9001_00``, ... are split about 70/15/15 into train / val /
    test (all train below 3 scenes); test scenes get only their mesh and metadata. The label
    table lists every raw category the generator uses, with ``count`` = segGroups written.

    Args:
        out: dataset root; created if missing.
        num_scenes: 1..1000.
        seed: dataset seed, >= 0.
        vertex_spacing: surface grid spacing, metres (0.01..0.2).
        workers: worker processes; 0 = one per CPU core, 1 = in this process.
        overwrite: allow a non-empty ``out``: replaces ``scans/``, ``scans_test/``, the label
            table and the split lists there (other files are left alone). Refused when
            ``scans/`` or ``scans_test/`` hold folders that are not synthetic scene ids.
        progress: optional wrapper around the per-scene result stream, called as
            ``progress(iterable, total=num_scenes, description=...)`` (the CLI passes a Rich
            progress bar).
        options: the randomisation ranges (default: the scan-like preset); see
            :class:`dknet.synth.options.SynthOptions`.

    Returns:
        Per-scene records and timing.

    Raises:
        ConfigError: bad arguments, ``out`` is not empty and ``overwrite`` is False, or ``out``
            holds scenes this module did not write.
    """
    start = time.perf_counter()
    out = Path(out)
    _check(num_scenes, seed, vertex_spacing, workers)
    options = (options or SynthOptions()).validate()
    _prepare_output(out, overwrite)
    splits = split_assignment(num_scenes, seed)
    tasks = [
        (i, seed, float(vertex_spacing), str(out), splits[i], options) for i in range(num_scenes)
    ]
    n_workers = min(workers or os.cpu_count() or 1, num_scenes)
    logger.info("generating %d scenes with %d worker(s) into %s", num_scenes, n_workers, out)

    def run(results: Iterator[SceneRecord]) -> list[SceneRecord]:
        stream: Iterable[SceneRecord] = results
        if progress is not None:
            stream = progress(results, total=num_scenes, description="Generating scenes")
        return list(stream)

    if n_workers == 1:
        records = run(map(_make_scene, tasks))
    else:
        # Spawned workers: no state inherited from a parent that may hold threads (torch).
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=context) as pool:
            records = run(pool.map(_make_scene, tasks))

    counts: Counter[str] = Counter()
    for record in records:
        counts.update(record.group_counts)
    atomic_write_text(out / LABEL_TABLE_NAME, format_label_table(counts, scan=options.scan_like))
    for split in _SPLITS:
        ids = sorted(scene_id_for(i) for i in range(num_scenes) if splits[i] == split)
        atomic_write_text(out / SPLIT_FILE_NAMES[split], "".join(f"{s}\n" for s in ids))
    return SynthSummary(out=out, scenes=tuple(records), seconds=time.perf_counter() - start)
