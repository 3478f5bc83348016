"""ScanNet raw scenes (releases v1 and v2): label table, scene folders and per-vertex labels.

A raw scene folder ``scans/<scene>/`` holds the mesh ``<scene>_vh_clean_2.ply`` (one evaluation
point per vertex, in file order), the over-segmentation ``<scene>_vh_clean_2.0.010000.segs.json``
(one segment id per vertex), the annotation ``<scene>.aggregation.json`` (v1 also
``<scene>_vh_clean.aggregation.json``: a list of segment groups, one per object, each with a raw
category name) and ``<scene>.txt`` metadata. Test scenes have the mesh (and usually the segments)
but no annotation. The label table ``scannetv2-labels.combined.tsv`` (v1:
``scannet-labels.combined.tsv``) maps raw category names to nyu40 ids.

Rules (see FORMATS.md): an instance is one segment group; groups of wall or floor are not
instances; groups of other non-benchmark classes stay instances with semantic "ignore"; a
segment claimed by two groups is an error, never resolved by guessing. One case needs no guess
and is accepted with a warning: a group that repeats an earlier group exactly (same label, same
segment set). ScanNet v2's validation scene ``scene0217_00`` lists every group twice that way;
the repeats are dropped and the first copy's objectId is kept (the official export keeps the
last copy's; the vertex partition and classes, all the evaluation uses, are the same).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dknet.errors import DatasetLayoutError
from dknet.io._layout import require_folder
from dknet.io.ply import read_ply
from dknet.labels import IGNORE_LABEL, MIN_INSTANCE_SEMANTIC, NYU40_TO_SEMANTIC

__all__ = [
    "AGGREGATION_SUFFIXES",
    "LABEL_TABLE_NAMES",
    "MAX_NYU40_ID",
    "MAX_OBJECT_ID",
    "MESH_SUFFIX",
    "SEGMENTS_SUFFIX",
    "LabelTable",
    "ScanNetScene",
    "find_aggregation",
    "find_label_table",
    "format_unknown_labels",
    "is_scene_dir",
    "list_scenes",
    "normalise_category",
    "read_label_table",
    "read_scene",
    "semantic_from_nyu40",
]

logger = logging.getLogger(__name__)

#: Label-table file names, v2 first (the v1 release uses the second name).
LABEL_TABLE_NAMES: tuple[str, ...] = (
    "scannetv2-labels.combined.tsv",
    "scannet-labels.combined.tsv",
)
MESH_SUFFIX = "_vh_clean_2.ply"
SEGMENTS_SUFFIX = "_vh_clean_2.0.010000.segs.json"
#: Aggregation file suffixes, v2 first; v1 scenes may carry the second one.
AGGREGATION_SUFFIXES: tuple[str, ...] = (".aggregation.json", "_vh_clean.aggregation.json")
#: nyu40 ids run 1..40; 0 means "unannotated / not mapped".
MAX_NYU40_ID = 40
#: Largest encodable objectId: the ground-truth value ``nyu40 * 1000 + objectId + 1`` needs
#: ``objectId + 1 < 1000``, otherwise the instance index would spill into the class digits.
MAX_OBJECT_ID = 998

_RAW_COLUMNS = ("raw_category", "category")  # v2 name first, then v1
_NYU40_COLUMN = "nyu40id"
_SCENE_NAME = re.compile(r"scene\d{4}_\d{2}")
_SEPARATORS = re.compile(r"[\s_\-]+")

#: nyu40 id (0..40) -> semantic index 0..19, or IGNORE_LABEL.
_NYU40_TO_SEMANTIC_LUT = np.full(MAX_NYU40_ID + 1, IGNORE_LABEL, dtype=np.int64)
for _nyu40, _index in NYU40_TO_SEMANTIC.items():
    _NYU40_TO_SEMANTIC_LUT[_nyu40] = _index


def normalise_category(name: str) -> str:
    """Canonical spelling of a raw category: stripped, lower-case, single spaces."""
    return " ".join(name.strip().lower().split())


def _compact_category(name: str) -> str:
    """Spelling with spaces, underscores and hyphens removed (``dish rack`` -> ``dishrack``)."""
    return _SEPARATORS.sub("", normalise_category(name))


def semantic_from_nyu40(nyu40_ids: np.ndarray) -> np.ndarray:
    """Map nyu40 ids to the 20 benchmark classes.

    Args:
        nyu40_ids: (...,) integer nyu40 ids in 0..40 (0 = unannotated).

    Returns:
        (...,) int64 semantic index 0..19, or ``IGNORE_LABEL`` (-1) for every other id.
    """
    return _NYU40_TO_SEMANTIC_LUT[np.asarray(nyu40_ids, dtype=np.int64)]


@dataclass(frozen=True)
class LabelTable:
    """Raw category name -> nyu40 id, read from the ScanNet label tsv.

    Lookup tries, in order, the exact (stripped) name, its normalised spelling (lower case,
    single spaces) and its compact spelling (spaces, underscores and hyphens removed, so
    ``dishrack`` matches ``dish rack``). A spelling that two rows map to different nyu40 ids is
    ambiguous and matches nothing at that level, rather than picking one row by chance.

    Attributes:
        path: the tsv file.
        raw_column: the column the raw names came from (``raw_category`` or v1's ``category``).
        exact: stripped raw name -> nyu40 id (0 for rows whose nyu40id is empty: "unmapped").
        normalised: normalised name -> nyu40 id, or None where ambiguous.
        compact: compact name -> nyu40 id, or None where ambiguous.
    """

    path: Path
    raw_column: str
    exact: dict[str, int | None]
    normalised: dict[str, int | None]
    compact: dict[str, int | None]

    def lookup(self, raw_category: str) -> int | None:
        """nyu40 id of a raw category: 1..40; 0 for a known but unmapped row; None if unknown."""
        for table, key in (
            (self.exact, raw_category.strip()),
            (self.normalised, normalise_category(raw_category)),
            (self.compact, _compact_category(raw_category)),
        ):
            value = table.get(key)
            if value is not None:
                return value
        return None

    def __len__(self) -> int:
        return len(self.exact)


def _insert(table: dict[str, int | None], key: str, value: int) -> None:
    """Add ``key -> value``; a key already holding a different value becomes ambiguous (None)."""
    if key not in table:
        table[key] = value
    elif table[key] != value:
        table[key] = None


def read_label_table(path: str | os.PathLike[str]) -> LabelTable:
    """Read ``scannetv2-labels.combined.tsv`` (v2) or ``scannet-labels.combined.tsv`` (v1).

    Args:
        path: the tab-separated file; its header must name a raw-category column
            (``raw_category`` in v2, ``category`` in v1) and ``nyu40id``.

    Returns:
        The table. Rows with an empty ``nyu40id`` are kept as "unmapped" (nyu40 0, semantic
        ignore) so their names are known rather than reported as unknown.

    Raises:
        DatasetLayoutError: the file is missing or unreadable, the columns are missing (the
            message lists the columns found), or a ``nyu40id`` is not an integer in 0..40.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetLayoutError(
            f"{p}: label table not found",
            hint="pass the scannetv2-labels.combined.tsv of the download with --label-table",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise DatasetLayoutError(f"{p}: cannot read label table ({reason})") from None
    rows = list(csv.reader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE))
    header = [name.strip() for name in rows[0]] if rows else []
    raw_column = next((c for c in _RAW_COLUMNS if c in header), None)
    if raw_column is None or _NYU40_COLUMN not in header:
        found = ", ".join(repr(c) for c in header) if header else "none"
        raise DatasetLayoutError(
            f"{p}: label table needs columns 'raw_category' (v1: 'category') and 'nyu40id'; "
            f"columns found: {found}"
        )
    raw_idx = header.index(raw_column)
    nyu_idx = header.index(_NYU40_COLUMN)
    exact: dict[str, int | None] = {}
    normalised: dict[str, int | None] = {}
    compact: dict[str, int | None] = {}
    for line_no, row in enumerate(rows[1:], start=2):
        raw = row[raw_idx].strip() if raw_idx < len(row) else ""
        if not raw:
            continue
        cell = row[nyu_idx].strip() if nyu_idx < len(row) else ""
        if cell == "":
            nyu40 = 0
        else:
            try:
                nyu40 = int(cell)
            except ValueError:
                raise DatasetLayoutError(
                    f"{p}: line {line_no}: nyu40id {cell!r} of {raw!r} is not an integer"
                ) from None
            if not 0 <= nyu40 <= MAX_NYU40_ID:
                raise DatasetLayoutError(
                    f"{p}: line {line_no}: nyu40id {nyu40} of {raw!r} is outside 0..{MAX_NYU40_ID}"
                )
        _insert(exact, raw, nyu40)
        _insert(normalised, normalise_category(raw), nyu40)
        _insert(compact, _compact_category(raw), nyu40)
    ambiguous = sorted(k for k, v in normalised.items() if v is None)
    if ambiguous:
        logger.debug("%s: spellings mapped to different nyu40 ids: %s", p, ", ".join(ambiguous))
    return LabelTable(
        path=p, raw_column=raw_column, exact=exact, normalised=normalised, compact=compact
    )


def find_label_table(root: str | os.PathLike[str]) -> Path:
    """Locate the label table of a ScanNet download.

    Looks for the v2 name, then the v1 name, in ``root``; then in its parent and grandparent, so
    that pointing at ``ROOT/scans`` or at one scene folder also finds ``ROOT``'s table.

    Raises:
        DatasetLayoutError: no table in any of those folders.
    """
    base = Path(root)
    folders = [base, base.parent, base.parent.parent]
    for folder in folders:
        for name in LABEL_TABLE_NAMES:
            candidate = folder / name
            if candidate.is_file():
                return candidate
    raise DatasetLayoutError(
        f"{base}: no label table ({' or '.join(LABEL_TABLE_NAMES)}) found in the dataset root",
        hint="pass the label tsv of the ScanNet download with --label-table",
    )


@dataclass(frozen=True)
class ScanNetScene:
    """One ScanNet scene, per mesh vertex in file order (every vertex kept).

    Attributes:
        scene_id: e.g. ``scene0000_00``.
        source: the scene folder it was read from.
        coords: (N, 3) float32, metres, as stored in the mesh (not centred, not axis-aligned).
        colors: (N, 3) uint8 RGB.
        normals: (N, 3) float32 unit normals, or None when the source has none.
        superpoints: (N,) int64 compact segment index 0..S-1 (from ``segIndices``), or None when
            the scene has no segments file.
        nyu40_ids: (N,) int64 nyu40 id 1..40 of the vertex's segment group; 0 for vertices in no
            group or whose raw category is unknown/unmapped. None for unlabelled (test) scenes.
        semantic_labels: (N,) int64 benchmark class 0..19, or ``IGNORE_LABEL`` (-1). None when
            unlabelled.
        instance_labels: (N,) int64 compact instance index 0..K-1 over the groups that are not
            wall/floor (in aggregation order), or ``IGNORE_LABEL`` (-1). None when unlabelled.
        object_ids: (N,) int64 ``objectId`` of the vertex's segment group (any class), or -1.
            None when unlabelled.
        gt_ids: (N,) int64 benchmark ground truth ``nyu40 * 1000 + objectId + 1`` for grouped
            vertices, 0 otherwise (unknown raw categories have nyu40 0, so their values are
            below 1000, i.e. not instances). None when unlabelled.
        unknown_labels: raw category -> number of vertices, for groups whose raw category is not
            in the label table (they became semantic ignore).
        warnings: one-line messages about the scene (unknown categories, dropped repeated
            groups), logged by :func:`read_scene` unless the caller reports them itself.
        axis_alignment: (4, 4) float64 ``axisAlignment`` from ``<scene>.txt``, or None (v1,
            test scenes without it). Recorded, not applied.
    """

    scene_id: str
    source: Path
    coords: np.ndarray
    colors: np.ndarray
    normals: np.ndarray | None = None
    superpoints: np.ndarray | None = None
    nyu40_ids: np.ndarray | None = None
    semantic_labels: np.ndarray | None = None
    instance_labels: np.ndarray | None = None
    object_ids: np.ndarray | None = None
    gt_ids: np.ndarray | None = None
    unknown_labels: dict[str, int] = field(default_factory=dict)
    axis_alignment: np.ndarray | None = None
    warnings: tuple[str, ...] = ()

    @property
    def num_points(self) -> int:
        """Number of vertices N."""
        return int(self.coords.shape[0])

    @property
    def has_labels(self) -> bool:
        """Whether the scene carries annotations (False for test scenes)."""
        return self.semantic_labels is not None


def is_scene_dir(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a ScanNet scene folder (holds ``<folder name>_vh_clean_2.ply``)."""
    p = Path(path)
    return (p / f"{p.name}{MESH_SUFFIX}").is_file()


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def list_scenes(root: str | os.PathLike[str]) -> list[Path]:
    """The scene folders of a ScanNet download.

    Accepts the dataset root (``root/scans/*`` then ``root/scans_test/*``, each sorted by name),
    a ``scans`` folder itself (its sub-folders that hold a mesh or are named like
    ``scene<NNNN>_<NN>``), or a single scene folder.

    Raises:
        DatasetLayoutError: ``root`` is missing or not a folder, or holds no scenes.
    """
    base = require_folder(root)
    if is_scene_dir(base):
        return [base]
    split_folders = [base / name for name in ("scans", "scans_test") if (base / name).is_dir()]
    if split_folders:
        scenes = [scene for folder in split_folders for scene in _subfolders(folder)]
    else:
        scenes = [d for d in _subfolders(base) if is_scene_dir(d) or _SCENE_NAME.fullmatch(d.name)]
    if not scenes:
        raise DatasetLayoutError(
            f"{base}: no ScanNet scenes found (expected scans/<scene>/<scene>{MESH_SUFFIX})",
            hint="point ROOT at the folder holding scans/ and scans_test/",
        )
    return scenes


def _load_json(path: Path) -> Any:
    try:
        with open(path, "rb") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise DatasetLayoutError(
            f"{path}: malformed JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except UnicodeDecodeError:
        raise DatasetLayoutError(f"{path}: malformed JSON (not UTF-8 text)") from None
    except OSError as exc:
        raise DatasetLayoutError(f"{path}: cannot read ({exc.strerror})") from None


def _int_array(values: Any, path: Path, what: str) -> np.ndarray:
    """A JSON list of integers as (L,) int64; anything else is a layout error."""
    if not isinstance(values, list):
        raise DatasetLayoutError(f"{path}: {what} must be a list of integers")
    if not values:
        return np.zeros(0, dtype=np.int64)
    try:
        arr = np.asarray(values)
    except (ValueError, OverflowError):
        arr = np.zeros(0, dtype=object)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise DatasetLayoutError(f"{path}: {what} must be a list of integers")
    return arr.astype(np.int64)


def _read_segments(path: Path) -> np.ndarray:
    data = _load_json(path)
    if not isinstance(data, dict) or "segIndices" not in data:
        raise DatasetLayoutError(f"{path}: no 'segIndices' list")
    return _int_array(data["segIndices"], path, "'segIndices'")


def _read_axis_alignment(path: Path) -> np.ndarray | None:
    """``axisAlignment`` (16 floats, row-major 4x4) from ``<scene>.txt``, or None if absent."""
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise DatasetLayoutError(f"{path}: cannot read ({exc.strerror})") from None
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep or key.strip() != "axisAlignment":
            continue
        tokens = value.split()
        try:
            numbers = [float(t) for t in tokens]
        except ValueError:
            numbers = []
        if len(numbers) != 16 or not all(math.isfinite(v) for v in numbers):
            raise DatasetLayoutError(
                f"{path}: axisAlignment must be 16 finite numbers, found {value.strip()[:80]!r}"
            )
        return np.asarray(numbers, dtype=np.float64).reshape(4, 4)
    return None


@dataclass(frozen=True)
class _Groups:
    """Parsed segment groups of an aggregation file (G groups)."""

    segments: list[np.ndarray]  # G arrays of unique segment ids
    labels: list[str]  # G raw category names
    object_ids: np.ndarray  # (G,) int64
    repeated: tuple[int, ...]  # objectIds of dropped exact repeats of earlier groups


def _read_aggregation(path: Path) -> _Groups:
    data = _load_json(path)
    groups = data.get("segGroups") if isinstance(data, dict) else None
    if not isinstance(groups, list):
        raise DatasetLayoutError(f"{path}: no 'segGroups' list")
    segments: list[np.ndarray] = []
    labels: list[str] = []
    object_ids: list[int] = []
    for i, group in enumerate(groups):
        if not isinstance(group, dict):
            raise DatasetLayoutError(f"{path}: segGroups[{i}] is not an object")
        label = group.get("label")
        if not isinstance(label, str):
            raise DatasetLayoutError(f"{path}: segGroups[{i}] has no string 'label'")
        object_id = group.get("objectId", group.get("id"))
        if not isinstance(object_id, int) or isinstance(object_id, bool):
            raise DatasetLayoutError(f"{path}: segGroups[{i}] has no integer 'objectId'")
        if not 0 <= object_id <= MAX_OBJECT_ID:
            raise DatasetLayoutError(
                f"{path}: segGroups[{i}] objectId {object_id} is outside 0..{MAX_OBJECT_ID} "
                "(the ground-truth value nyu40*1000+objectId+1 could not encode it)"
            )
        seg = _int_array(group.get("segments"), path, f"segGroups[{i}].segments")
        # A segment repeated inside one group is harmless (the group is a set of segments).
        segments.append(np.unique(seg))
        labels.append(label)
        object_ids.append(object_id)
    segments, labels, object_ids, repeated = _drop_repeated_groups(segments, labels, object_ids)
    ids = np.asarray(object_ids, dtype=np.int64)
    unique_ids, counts = np.unique(ids, return_counts=True)
    if np.any(counts > 1):
        dup = int(unique_ids[np.argmax(counts > 1)])
        where = [i for i, o in enumerate(object_ids) if o == dup]
        raise DatasetLayoutError(
            f"{path}: objectId {dup} is used by more than one segGroup (indices {where})"
        )
    return _Groups(segments=segments, labels=labels, object_ids=ids, repeated=repeated)


def _drop_repeated_groups(
    segments: list[np.ndarray], labels: list[str], object_ids: list[int]
) -> tuple[list[np.ndarray], list[str], list[int], tuple[int, ...]]:
    """Drop groups equal to an earlier group (same label and segment set); return their ids."""
    seen: set[tuple[str, bytes]] = set()
    keep: list[int] = []
    repeated: list[int] = []
    for i, (segs, label) in enumerate(zip(segments, labels, strict=True)):
        key = (label, segs.tobytes())
        if key in seen and segs.size:
            repeated.append(object_ids[i])
        else:
            seen.add(key)
            keep.append(i)
    if not repeated:
        return segments, labels, object_ids, ()
    return (
        [segments[i] for i in keep],
        [labels[i] for i in keep],
        [object_ids[i] for i in keep],
        tuple(repeated),
    )


def _describe_group(groups: _Groups, index: int) -> str:
    return f"objectId {int(groups.object_ids[index])} ({groups.labels[index]!r})"


def _vertex_groups(
    seg_indices: np.ndarray, groups: _Groups, agg_path: Path, segs_path: Path
) -> np.ndarray:
    """Per-vertex group index (G for vertices in no group), with the consistency checks.

    Args:
        seg_indices: (N,) int64 segment id per vertex.

    Returns:
        (N,) int64 group index 0..G-1, or G for vertices whose segment is in no group.

    Raises:
        DatasetLayoutError: a segment in two groups, or a group segment absent from the mesh.
    """
    num_groups = len(groups.segments)
    unique_segs, vertex_seg = np.unique(seg_indices, return_inverse=True)
    if num_groups == 0:
        return np.full(seg_indices.shape[0], 0, dtype=np.int64)
    lengths = np.asarray([len(s) for s in groups.segments], dtype=np.int64)
    all_segs = np.concatenate(groups.segments) if lengths.sum() else np.zeros(0, np.int64)
    all_groups = np.repeat(np.arange(num_groups, dtype=np.int64), lengths)
    order = np.argsort(all_segs, kind="stable")
    sorted_segs = all_segs[order]
    repeated = np.flatnonzero(sorted_segs[1:] == sorted_segs[:-1])
    if repeated.size:
        seg = int(sorted_segs[repeated[0]])
        owners = all_groups[all_segs == seg]
        first, second = (_describe_group(groups, int(g)) for g in owners[:2])
        raise DatasetLayoutError(
            f"{agg_path}: segment {seg} is listed in two segGroups: {first} and {second}"
        )
    pos = np.searchsorted(unique_segs, all_segs)
    pos_clipped = np.minimum(pos, max(unique_segs.size - 1, 0))
    present = (pos < unique_segs.size) & (unique_segs[pos_clipped] == all_segs)
    if not present.all():
        bad = int(np.flatnonzero(~present)[0])
        raise DatasetLayoutError(
            f"{agg_path}: segment {int(all_segs[bad])} of "
            f"{_describe_group(groups, int(all_groups[bad]))} does not occur in {segs_path.name}"
        )
    seg_group = np.full(unique_segs.size, num_groups, dtype=np.int64)
    seg_group[pos] = all_groups
    return seg_group[vertex_seg]


def find_aggregation(scene_dir: str | os.PathLike[str]) -> Path | None:
    """The scene's aggregation file (v2 name first, then v1's), or None for unlabelled scenes."""
    folder = Path(scene_dir)
    for suffix in AGGREGATION_SUFFIXES:
        candidate = folder / f"{folder.name}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def format_unknown_labels(unknown: dict[str, int]) -> str:
    """One-line description of unknown raw categories: ``'name' (count vertices), ...``."""
    return ", ".join(f"{name!r} ({count} vertices)" for name, count in unknown.items())


def read_scene(
    scene_dir: str | os.PathLike[str],
    label_table: LabelTable | None,
    *,
    log_warnings: bool = True,
) -> ScanNetScene:
    """Read one raw ScanNet scene folder (v1 or v2 layout).

    Every mesh vertex is kept, in file order. With an aggregation file, each segment group
    labels the vertices of its segments: nyu40 through ``label_table``, semantic class, instance
    (not for wall/floor), objectId and the benchmark ground-truth value. Raw categories missing
    from the table become nyu40 0 / semantic ignore, are counted in ``unknown_labels`` and are
    reported in one warning per scene. A group that exactly repeats an earlier one (same label
    and segments) is dropped with a warning. Without an aggregation file (test scenes) the
    labels are None.

    Args:
        scene_dir: ``scans/<scene>`` (the folder name is the scene id).
        label_table: from :func:`read_label_table`; may be None only for unlabelled scenes.
        log_warnings: log the scene's warnings here (callers that report ``scene.warnings``
            themselves, such as :func:`dknet.data.preprocess.preprocess_dataset`, pass False).

    Returns:
        The scene; see :class:`ScanNetScene` for every array's shape and dtype.

    Raises:
        DatasetLayoutError: a file is missing or malformed, ``segIndices`` has a different
            length than the mesh has vertices, a segment is listed in two groups, a group names a
            segment absent from ``segIndices``, or an objectId is duplicated or too large.
        InvalidPointCloudError: the mesh cannot be read (from :func:`dknet.io.ply.read_ply`).
    """
    folder = Path(scene_dir)
    scene_id = folder.name
    mesh_path = folder / f"{scene_id}{MESH_SUFFIX}"
    if not folder.is_dir():
        raise DatasetLayoutError(f"{folder}: scene folder not found")
    if not mesh_path.is_file():
        raise DatasetLayoutError(
            f"{folder}: mesh {mesh_path.name} not found",
            hint="a ScanNet scene folder holds <scene>_vh_clean_2.ply",
        )
    cloud = read_ply(mesh_path)
    num_points = cloud.num_points
    if num_points == 0:
        raise DatasetLayoutError(f"{mesh_path}: the mesh has no vertices")
    coords = np.ascontiguousarray(cloud.coords, dtype=np.float32)
    colors = np.rint(np.clip(cloud.colors, 0.0, 1.0) * 255.0).astype(np.uint8)
    normals = None if cloud.normals is None else np.asarray(cloud.normals, dtype=np.float32)
    axis_alignment = _read_axis_alignment(folder / f"{scene_id}.txt")

    segs_path = folder / f"{scene_id}{SEGMENTS_SUFFIX}"
    agg_path = find_aggregation(folder)
    seg_indices: np.ndarray | None = None
    if segs_path.is_file():
        seg_indices = _read_segments(segs_path)
        if seg_indices.shape[0] != num_points:
            raise DatasetLayoutError(
                f"{segs_path}: segIndices has {seg_indices.shape[0]} entries but "
                f"{mesh_path.name} has {num_points} vertices"
            )
    elif agg_path is not None:
        raise DatasetLayoutError(
            f"{folder}: {agg_path.name} needs the segments file {segs_path.name}, which is missing"
        )
    superpoints = None
    if seg_indices is not None:
        superpoints = np.unique(seg_indices, return_inverse=True)[1].astype(np.int64).reshape(-1)
    if agg_path is None:
        return ScanNetScene(
            scene_id=scene_id,
            source=folder,
            coords=coords,
            colors=colors,
            normals=normals,
            superpoints=superpoints,
            axis_alignment=axis_alignment,
        )
    if label_table is None:
        raise DatasetLayoutError(
            f"{folder}: a label table is needed to read {agg_path.name}",
            hint="pass the scannetv2-labels.combined.tsv of the ScanNet download",
        )
    assert seg_indices is not None  # guaranteed above: an aggregation requires the segments
    groups = _read_aggregation(agg_path)
    vertex_group = _vertex_groups(seg_indices, groups, agg_path, segs_path)
    num_groups = len(groups.labels)

    looked_up = [label_table.lookup(label) for label in groups.labels]
    group_nyu40 = np.asarray([0 if v is None else v for v in looked_up], dtype=np.int64)
    group_semantic = semantic_from_nyu40(group_nyu40)
    group_size = np.bincount(vertex_group, minlength=num_groups + 1)[:num_groups]
    # Wall and floor groups are never instances; every other group with vertices is one.
    is_instance = ((group_semantic == IGNORE_LABEL) | (group_semantic >= MIN_INSTANCE_SEMANTIC)) & (
        group_size > 0
    )
    group_instance = np.where(is_instance, np.cumsum(is_instance) - 1, IGNORE_LABEL)

    # Index G is the "no group" row, so one gather per array labels every vertex.
    nyu40_ext = np.append(group_nyu40, 0)
    semantic_ext = np.append(group_semantic, IGNORE_LABEL)
    instance_ext = np.append(group_instance, IGNORE_LABEL).astype(np.int64)
    object_ext = np.append(groups.object_ids, -1)
    gt_ext = np.append(group_nyu40 * 1000 + groups.object_ids + 1, 0)

    unknown: dict[str, int] = {}
    for label, value, size in zip(groups.labels, looked_up, group_size.tolist(), strict=True):
        if value is None:
            unknown[label] = unknown.get(label, 0) + int(size)
    unknown = dict(sorted(unknown.items(), key=lambda item: (-item[1], item[0])))
    warnings: list[str] = []
    if unknown:
        warnings.append(
            f"{scene_id}: {len(unknown)} raw categories not in {label_table.path.name} set to "
            f"ignore: {format_unknown_labels(unknown)}"
        )
    if groups.repeated:
        warnings.append(
            f"{scene_id}: dropped {len(groups.repeated)} segGroups of {agg_path.name} that "
            f"repeat an earlier group exactly (objectIds {list(groups.repeated)})"
        )
    if log_warnings:
        for message in warnings:
            logger.warning("%s", message)
    return ScanNetScene(
        scene_id=scene_id,
        source=folder,
        coords=coords,
        colors=colors,
        normals=normals,
        superpoints=superpoints,
        nyu40_ids=nyu40_ext[vertex_group],
        semantic_labels=semantic_ext[vertex_group],
        instance_labels=instance_ext[vertex_group],
        object_ids=object_ext[vertex_group],
        gt_ids=gt_ext[vertex_group],
        unknown_labels=unknown,
        axis_alignment=axis_alignment,
        warnings=tuple(warnings),
    )
