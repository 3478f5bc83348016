"""What ``dknet predict`` accepts, found and read into one scene type.

Inputs, in any mix, each an argument or a glob pattern (``"scans/*/*_vh_clean_2.ply"``):

* a ``.ply`` file: a mesh or a point cloud, with or without colours (any other file is read as
  PLY too, and fails with a message saying it is not one);
* a ScanNet raw scene folder (``scans/<scene>/`` holding ``<scene>_vh_clean_2.ply``);
* a Pointcept scene folder (holding ``coord.npy``);
* a folder of scenes: a ScanNet download root or ``scans`` folder, a Pointcept root, or a plain
  folder of ``.ply`` files (not recursive).

Every vertex is kept, in file order, so predictions map 1:1 to the input's vertices. The
superpoints ScanNet ships (``<mesh stem>.0.010000.segs.json`` beside the mesh, Pointcept's
``superpoint.npy``) are read when present; :mod:`dknet.engine.predict` computes them otherwise.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from dknet.errors import DatasetLayoutError, DKNetError, InvalidPointCloudError

__all__ = [
    "InputKind",
    "InputSpec",
    "SceneInput",
    "discover_inputs",
    "read_input",
    "unit_warning",
]

logger = logging.getLogger(__name__)

InputKind = Literal["ply", "scannet", "pointcept"]

#: ScanNet's over-segmentation beside a mesh: ``<mesh stem>.0.010000.segs.json``.
SEGS_SUFFIX = ".0.010000.segs.json"
_GLOB_CHARS = frozenset("*?[")
# A room is at most a few tens of metres across; larger extents are almost surely other units.
_CENTIMETRE_EXTENT = 150.0
_MILLIMETRE_EXTENT = 1500.0


@dataclass(frozen=True)
class InputSpec:
    """One scene to predict, found but not read yet.

    Attributes:
        path: the ``.ply`` file or the scene folder.
        kind: ``ply``, ``scannet`` (raw scene folder) or ``pointcept`` (scene folder).
        scene_id: the name outputs are written under (file stem without ScanNet's
            ``_vh_clean_2``; folder name for scene folders).
    """

    path: Path
    kind: InputKind
    scene_id: str


@dataclass(frozen=True)
class SceneInput:
    """One scene read for prediction, every vertex in file order.

    Attributes:
        scene_id: output name (see :class:`InputSpec`).
        source: the file or folder read.
        kind: ``ply``, ``scannet`` or ``pointcept``.
        coords: (N, 3) float32 coordinates exactly as stored (input units; not centred).
        colors: (N, 3) uint8 RGB; 128 grey when the input has none (``has_colors`` False).
        has_colors: whether the input carried colours.
        faces: (F, 3) int64 triangles, or None for a point cloud.
        normals: (N, 3) float32, or None.
        superpoints: (N,) int64 segment ids read from the input (``segs.json`` /
            ``superpoint.npy``), or None.
        superpoints_file: where ``superpoints`` came from, or None.
    """

    scene_id: str
    source: Path
    kind: InputKind
    coords: np.ndarray
    colors: np.ndarray
    has_colors: bool = True
    faces: np.ndarray | None = None
    normals: np.ndarray | None = None
    superpoints: np.ndarray | None = None
    superpoints_file: Path | None = None

    @property
    def num_points(self) -> int:
        """N."""
        return int(self.coords.shape[0])


def _scene_id_of_file(path: Path) -> str:
    from dknet.io.scannet import MESH_SUFFIX

    stem = path.stem
    for ending in (MESH_SUFFIX[:-4], "_vh_clean"):
        if stem.endswith(ending) and len(stem) > len(ending):
            return stem[: -len(ending)]
    return stem


def _expand_folder(folder: Path) -> list[InputSpec]:
    from dknet.io.pointcept import is_pointcept_scene_dir, list_pointcept_scenes
    from dknet.io.scannet import is_scene_dir, list_scenes

    if is_scene_dir(folder):
        return [InputSpec(folder, "scannet", folder.name)]
    if is_pointcept_scene_dir(folder):
        return [InputSpec(folder, "pointcept", folder.name)]
    specs: list[InputSpec] = []
    try:
        specs += [
            InputSpec(d, "scannet", d.name)
            for d in list_scenes(folder)
            if is_scene_dir(d)  # scene-named folders without a mesh are not inputs
        ]
    except DatasetLayoutError:
        pass
    if not specs:
        try:
            specs += [InputSpec(d, "pointcept", d.name) for d in list_pointcept_scenes(folder)]
        except DatasetLayoutError:
            pass
    if not specs:
        plys = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".ply" and p.is_file())
        specs += [InputSpec(p, "ply", _scene_id_of_file(p)) for p in plys]
    return specs


def _expand_one(argument: str) -> list[InputSpec]:
    path = Path(argument)
    if not path.exists() and _GLOB_CHARS & set(argument):
        matches = sorted(glob.glob(argument, recursive=True))
        if not matches:
            raise InvalidPointCloudError(f"{argument}: no file or folder matches this pattern")
        return [spec for match in matches for spec in _expand_one(match)]
    if path.is_dir():
        specs = _expand_folder(path)
        if not specs:
            raise DatasetLayoutError(
                f"{path}: no scenes found (expected .ply files, a ScanNet scene folder with "
                "<scene>_vh_clean_2.ply, or a Pointcept scene folder with coord.npy)"
            )
        return specs
    if not path.exists():
        raise InvalidPointCloudError(f"{path}: no such file or folder")
    return [InputSpec(path, "ply", _scene_id_of_file(path))]


def _identity(spec: InputSpec) -> Path:
    """The file a scene is read from, so a ScanNet folder and its mesh count as one input."""
    from dknet.io.scannet import MESH_SUFFIX

    if spec.kind == "scannet":
        return (spec.path / f"{spec.path.name}{MESH_SUFFIX}").resolve()
    return spec.path.resolve()


def discover_inputs(
    arguments: Iterable[str | os.PathLike[str]],
) -> tuple[list[InputSpec], list[tuple[str, DKNetError]]]:
    """Expand the command line's inputs into scenes, in argument order.

    The same file or folder named twice is predicted once. Two different inputs with the same
    scene id would write the same output files: the second is reported as a problem.

    Args:
        arguments: files, folders or glob patterns.

    Returns:
        The scenes found, and ``(argument, error)`` for every argument that gave none (missing
        path, pattern without matches, folder without scenes, clashing scene id).
    """
    specs: list[InputSpec] = []
    problems: list[tuple[str, DKNetError]] = []
    seen_paths: set[Path] = set()
    seen_ids: dict[str, Path] = {}
    for argument in arguments:
        text = os.fspath(argument)
        try:
            found = _expand_one(text)
        except DKNetError as exc:
            problems.append((text, exc))
            continue
        for spec in found:
            resolved = _identity(spec)
            if resolved in seen_paths:
                continue
            seen_paths.add(resolved)
            if spec.scene_id in seen_ids:
                problems.append(
                    (
                        os.fspath(spec.path),
                        InvalidPointCloudError(
                            f"{spec.path}: its outputs would be named {spec.scene_id!r}, like "
                            f"those of {seen_ids[spec.scene_id]}; predict the two in separate "
                            "runs with different --output-dir"
                        ),
                    )
                )
                continue
            seen_ids[spec.scene_id] = spec.path
            specs.append(spec)
    return specs, problems


def _beside_segs(mesh: Path) -> Path:
    return mesh.with_name(mesh.stem + SEGS_SUFFIX)


def _read_segs(path: Path, num_points: int) -> np.ndarray:
    from dknet.segmentation import read_segs_json

    seg = read_segs_json(path)
    if seg.shape[0] != num_points:
        raise DatasetLayoutError(
            f"{path}: segIndices has {seg.shape[0]} entries but the mesh has {num_points} vertices",
            hint="delete the file or pass --no-superpoints",
        )
    return seg


def _read_ply_input(spec: InputSpec, mesh: Path) -> SceneInput:
    from dknet.io.ply import read_ply

    cloud = read_ply(mesh)
    colors = np.rint(np.clip(cloud.colors, 0.0, 1.0) * 255.0).astype(np.uint8)
    segs = _beside_segs(mesh)
    superpoints = _read_segs(segs, cloud.num_points) if segs.is_file() else None
    return SceneInput(
        scene_id=spec.scene_id,
        source=spec.path,
        kind=spec.kind,
        coords=np.ascontiguousarray(cloud.coords, dtype=np.float32),
        colors=colors,
        has_colors=cloud.has_colors,
        faces=cloud.faces,
        normals=cloud.normals,
        superpoints=superpoints,
        superpoints_file=segs if superpoints is not None else None,
    )


def read_input(spec: InputSpec) -> SceneInput:
    """Read one scene.

    Args:
        spec: from :func:`discover_inputs`.

    Returns:
        The scene, every vertex in file order.

    Raises:
        InvalidPointCloudError: the file is empty, not PLY, malformed, or has non-finite
            coordinates (the message starts with the path).
        DatasetLayoutError: a scene folder is incomplete, or its segments disagree with the mesh.
    """
    if spec.kind == "ply":
        return _read_ply_input(spec, spec.path)
    if spec.kind == "scannet":
        from dknet.io.scannet import MESH_SUFFIX

        return _read_ply_input(spec, spec.path / f"{spec.path.name}{MESH_SUFFIX}")
    from dknet.io.pointcept import read_pointcept_scene

    scene = read_pointcept_scene(spec.path)
    sp_file = spec.path / "superpoint.npy"
    return SceneInput(
        scene_id=spec.scene_id,
        source=spec.path,
        kind=spec.kind,
        coords=scene.coords,
        colors=scene.colors,
        normals=scene.normals,
        superpoints=scene.superpoints,
        superpoints_file=sp_file if scene.superpoints is not None else None,
    )


def unit_warning(coords: np.ndarray, scale: float = 1.0) -> str | None:
    """A one-line warning when coordinates (after ``scale``) do not look like metres.

    Indoor scenes span at most a few tens of metres; an extent above 1500 suggests millimetres
    and one above 150 centimetres.

    Args:
        coords: (N, 3) float coordinates as stored.
        scale: the factor ``--scale`` will apply.

    Returns:
        The warning (naming the ``--scale`` to pass), or None when the extent looks like metres.
    """
    if coords.shape[0] == 0:
        return None
    extent = float(np.max(coords.max(axis=0) - coords.min(axis=0))) * scale
    if extent > _MILLIMETRE_EXTENT:
        unit, factor = "millimetres", 0.001
    elif extent > _CENTIMETRE_EXTENT:
        unit, factor = "centimetres", 0.01
    else:
        return None
    return (
        f"the scene spans {extent:,.0f} units; the coordinates look like {unit}, not metres: "
        f"pass --scale {factor * scale:g} (DKNet works on 2 cm voxels)"
    )
