"""Read a prediction folder in the ScanNet benchmark instance format.

Layout: one ``<scene>.txt`` per scene at the folder's root, one line per predicted instance,
``<relative mask path> <nyu40 id> <confidence>``; each mask file holds one integer per mesh vertex
(non-zero = the vertex belongs to the instance).

The scene files are read with the benchmark evaluator's rules, so that dknet scores a folder
exactly as the benchmark does:

* lines are split on single spaces and must give exactly three tokens;
* the mask path must be relative and, once normalised, lie inside the prediction folder;
* the label is ``int(float(token))`` and the confidence ``float(token)``;
* instances are keyed by the normalised absolute mask path: a later line naming the same mask
  replaces the label and confidence but keeps the position of the first line.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dknet.errors import InvalidPredictionError
from dknet.io.ids_txt import read_ids_txt
from dknet.structures.instances import Instances

__all__ = [
    "RESULT_FILE_NAME",
    "PredictionLine",
    "ScenePredictions",
    "list_prediction_scenes",
    "parse_prediction_line",
    "read_mask_txt",
    "read_prediction_folder",
    "read_prediction_lines",
    "read_scene_predictions",
]

#: A result file the benchmark's own evaluator may leave in a prediction folder; never a scene.
RESULT_FILE_NAME = "semantic_instance_evaluation.txt"


@dataclass(frozen=True)
class PredictionLine:
    """One predicted instance named by a scene file.

    Attributes:
        mask_path: absolute, normalised path of the mask file (the instance's identity).
        label: nyu40 class id (``int(float(token))``; may be a non-benchmark id).
        confidence: the confidence as written (float64; not range-checked here).
        line: 1-based line number of the first line naming this mask.
    """

    mask_path: str
    label: int
    confidence: float
    line: int


@dataclass(frozen=True)
class ScenePredictions:
    """A scene's instances read from a prediction folder, with the mask file of each.

    Attributes:
        instances: K instances (masks (K, N) bool, labels (K,) int64 nyu40, scores (K,) float32).
        mask_paths: K absolute mask paths, in the scene file's order.
    """

    instances: Instances
    mask_paths: tuple[str, ...]


def parse_prediction_line(text: str) -> tuple[str, int, float]:
    """Split one scene-file line into (relative mask path, nyu40 id, confidence).

    Args:
        text: the line without its line end.

    Returns:
        The path token as written, ``int(float(label token))`` and ``float(confidence token)``.

    Raises:
        ValueError: not exactly three tokens separated by single spaces, an absolute path, or a
            label / confidence that does not parse as a number (the message says which).
    """
    tokens = text.split(" ")
    if len(tokens) != 3:
        raise ValueError(
            f"expected 3 tokens '<mask path> <nyu40 id> <confidence>' separated by single "
            f"spaces, found {len(tokens)} (paths must not contain spaces)"
        )
    path, label_token, conf_token = tokens
    if os.path.isabs(path):
        raise ValueError(f"mask path {path!r} must be relative to the prediction folder")
    try:
        label = int(float(label_token))
    except (ValueError, OverflowError):
        raise ValueError(f"label {label_token!r} is not a number") from None
    try:
        confidence = float(conf_token)
    except ValueError:
        raise ValueError(f"confidence {conf_token!r} is not a number") from None
    return path, label, confidence


def list_prediction_scenes(pred_dir: str | os.PathLike[str]) -> list[str]:
    """Scene ids of a prediction folder: the ``*.txt`` files at its root, sorted.

    Raises:
        InvalidPredictionError: the folder does not exist.
    """
    root = Path(pred_dir)
    if not root.is_dir():
        raise InvalidPredictionError(f"{root}: prediction folder not found")
    return sorted(
        p.stem
        for p in root.iterdir()
        if p.suffix == ".txt" and p.is_file() and p.name != RESULT_FILE_NAME
    )


def read_prediction_lines(
    scene_file: str | os.PathLike[str], pred_dir: str | os.PathLike[str] | None = None
) -> list[PredictionLine]:
    """Read a scene file with the benchmark's rules (see the module docstring).

    Args:
        scene_file: ``<pred_dir>/<scene>.txt``.
        pred_dir: the prediction folder mask paths must stay inside (default: the scene file's
            folder). Relative paths are resolved against the scene file's folder.

    Returns:
        One entry per distinct mask path, in the order of first appearance.

    Raises:
        InvalidPredictionError: unreadable file or a malformed line (names the file and line).
    """
    path = Path(scene_file)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise InvalidPredictionError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidPredictionError(f"{path}: cannot read ({exc})") from None
    base = os.path.abspath(os.path.dirname(path))
    root = os.path.abspath(pred_dir) if pred_dir is not None else base
    entries: dict[str, PredictionLine] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            rel, label, confidence = parse_prediction_line(line)
        except ValueError as exc:
            raise InvalidPredictionError(f"{path}: line {number}: {exc}") from None
        mask_path = os.path.abspath(os.path.join(base, rel))
        if os.path.commonpath([mask_path, root]) != root:
            raise InvalidPredictionError(
                f"{path}: line {number}: mask path {rel!r} points outside the prediction folder"
            )
        first = entries.get(mask_path)
        entries[mask_path] = PredictionLine(
            mask_path, label, confidence, first.line if first is not None else number
        )
    return list(entries.values())


def read_mask_txt(path: str | os.PathLike[str], *, num_vertices: int | None = None) -> np.ndarray:
    """Read one mask file.

    Args:
        path: integer-per-line file, one line per mesh vertex.
        num_vertices: expected number of lines (the scene's vertex count), or None.

    Returns:
        (N,) bool, True where the value is non-zero.

    Raises:
        InvalidPredictionError: missing file, a non-integer line, or a line count that differs
            from ``num_vertices`` (names the file and both counts).
    """
    values = read_ids_txt(path)
    if num_vertices is not None and values.shape[0] != num_vertices:
        raise InvalidPredictionError(
            f"{path}: mask has {values.shape[0]} lines but the scene has {num_vertices} vertices",
            hint="a mask needs one line per vertex of <scene>_vh_clean_2.ply, in vertex order",
        )
    return values != 0


def read_scene_predictions(
    scene_file: str | os.PathLike[str],
    pred_dir: str | os.PathLike[str] | None = None,
    *,
    num_vertices: int | None = None,
    labels: Collection[int] | None = None,
) -> ScenePredictions:
    """Read a scene file and its masks into :class:`Instances`.

    Args:
        scene_file: ``<pred_dir>/<scene>.txt``.
        pred_dir: the prediction folder (default: the scene file's folder).
        num_vertices: the scene's vertex count; every mask must have this many lines. When None,
            all masks of the scene must at least agree with each other.
        labels: keep only instances with these nyu40 ids, without reading the other masks (as the
            benchmark does); None keeps all.

    Returns:
        The instances in file order (duplicate mask paths counted once) and their mask paths.

    Raises:
        InvalidPredictionError: a malformed line or mask, masks of different lengths, or a
            confidence outside [0, 1] (``Instances`` holds scores in [0, 1] only).
    """
    entries = read_prediction_lines(scene_file, pred_dir)
    if labels is not None:
        wanted = set(labels)
        entries = [e for e in entries if e.label in wanted]
    masks: list[np.ndarray] = []
    for entry in entries:
        mask = read_mask_txt(entry.mask_path, num_vertices=num_vertices)
        if num_vertices is None and masks and mask.shape[0] != masks[0].shape[0]:
            raise InvalidPredictionError(
                f"{entry.mask_path}: mask has {mask.shape[0]} lines but {entries[0].mask_path} "
                f"has {masks[0].shape[0]} (scene file {scene_file})"
            )
        masks.append(mask)
    n = num_vertices if num_vertices is not None else (masks[0].shape[0] if masks else 0)
    stacked = np.stack(masks) if masks else np.zeros((0, n), dtype=bool)
    scores = np.array([e.confidence for e in entries], dtype=np.float64)
    bad = ~(np.isfinite(scores) & (scores >= 0.0) & (scores <= 1.0))
    if bad.any():
        entry = entries[int(np.flatnonzero(bad)[0])]
        raise InvalidPredictionError(
            f"{scene_file}: line {entry.line}: confidence {entry.confidence!r} is not in [0, 1]"
        )
    instances = Instances(
        masks=stacked,
        labels=np.array([e.label for e in entries], dtype=np.int64),
        scores=scores.astype(np.float32),
    )
    return ScenePredictions(instances, tuple(e.mask_path for e in entries))


def read_prediction_folder(
    pred_dir: str | os.PathLike[str], *, labels: Collection[int] | None = None
) -> dict[str, ScenePredictions]:
    """Read every scene of a prediction folder (see :func:`read_scene_predictions`).

    Returns:
        Scene id -> its predictions, in sorted scene order.
    """
    root = Path(pred_dir)
    return {
        scene: read_scene_predictions(root / f"{scene}.txt", root, labels=labels)
        for scene in list_prediction_scenes(root)
    }
