"""Score a prediction folder in the benchmark format against ground-truth txt files.

Scenes are parsed in parallel worker processes; each worker reads a scene's ground truth, its
scene file and masks, and sends back only the scene's matching records (a few kilobytes) and,
with semantic predictions, a (20, 21) confusion matrix.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dknet.errors import DatasetLayoutError, InvalidPredictionError
from dknet.evaluation.ap import ap_table, check_scene_sets
from dknet.evaluation.records import (
    SceneRecords,
    class_indices,
    ground_truth_instances,
    scene_records,
)
from dknet.evaluation.report import EvalResult, build_eval_result
from dknet.evaluation.semantic import semantic_confusion, semantic_result
from dknet.io.ids_txt import read_ids_txt
from dknet.io.predictions import list_prediction_scenes, read_mask_txt, read_prediction_lines
from dknet.labels import NUM_SEMANTIC_CLASSES

__all__ = ["ProgressCallback", "evaluate_prediction_folder", "read_ground_truth_txt"]

logger = logging.getLogger(__name__)

#: Called after each scene with (scenes done, scenes in total).
ProgressCallback = Callable[[int, int], None]


def read_ground_truth_txt(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a benchmark ground-truth file.

    Returns:
        (N,) int64 ``nyu40 * 1000 + instance`` per vertex (0 = unannotated).

    Raises:
        DatasetLayoutError: the file is missing or not one integer per line.
    """
    try:
        return read_ids_txt(path)
    except InvalidPredictionError as exc:
        raise DatasetLayoutError(
            exc.message, hint="ground truth holds one integer per vertex"
        ) from None


@dataclass(frozen=True)
class _SceneTask:
    scene: str
    gt_file: str
    pred_file: str | None
    pred_dir: str | None
    semantic_file: str | None


@dataclass(frozen=True)
class _SceneOutput:
    scene: str
    records: SceneRecords | None
    confusion: np.ndarray | None


def _evaluate_scene(task: _SceneTask) -> _SceneOutput:
    """Worker: read one scene and reduce it to records / a confusion matrix."""
    gt_ids = read_ground_truth_txt(task.gt_file)
    records = None
    if task.pred_file is not None:
        gt = ground_truth_instances(gt_ids)
        lines = read_prediction_lines(task.pred_file, task.pred_dir)
        labels = np.array([line.label for line in lines], dtype=np.int64)
        # The benchmark reads a mask only when its label is one of the 18 instance classes.
        valid = [
            line for line, c in zip(lines, class_indices(labels).tolist(), strict=True) if c >= 0
        ]
        masks = [read_mask_txt(line.mask_path, num_vertices=gt_ids.shape[0]) for line in valid]
        records = scene_records(
            masks,
            np.array([line.label for line in valid], dtype=np.int64),
            np.array([line.confidence for line in valid], dtype=np.float64),
            gt,
            keys=[line.mask_path for line in valid],
            source=task.pred_file,
        )
    confusion = None
    if task.semantic_file is not None:
        pred = read_ids_txt(task.semantic_file)
        confusion = semantic_confusion(pred, gt_ids // 1000, source=task.semantic_file)
    return _SceneOutput(task.scene, records, confusion)


def evaluate_prediction_folder(
    pred_dir: str | os.PathLike[str],
    gt_dir: str | os.PathLike[str],
    *,
    workers: int = 0,
    require_all: bool = False,
    semantic_dir: str | os.PathLike[str] | None = None,
    progress: ProgressCallback | None = None,
) -> EvalResult:
    """Score a benchmark-format prediction folder exactly as the benchmark does.

    Args:
        pred_dir: folder with ``<scene>.txt`` files (``<mask path> <nyu40 id> <confidence>``
            per line) and their mask files. Every ``*.txt`` at its root is a scene.
        gt_dir: folder with ``<scene>.txt`` ground truth (``nyu40 * 1000 + instance`` per vertex).
        workers: worker processes (0: one per CPU core; 1: no subprocess).
        require_all: a ground-truth scene without a prediction file is an error (default: it is
            reported in a warning and in ``EvalResult.missing_scenes``, and not scored).
        semantic_dir: optional folder of ``<scene>.txt`` files with one nyu40 id per vertex; adds
            semantic accuracy and mIoU.
        progress: optional callback (scenes done, total) after each scene.

    Returns:
        Per-class and mean AP / AP50 / AP25 over the predicted scenes.

    Raises:
        InvalidPredictionError: a prediction file without ground truth, a malformed scene file
            or mask (names the file and line), a mask length different from the scene's vertex
            count, or no prediction files at all.
        DatasetLayoutError: the ground-truth folder is missing or a ground-truth file is malformed.
    """
    pred_root = Path(pred_dir)
    gt_root = Path(gt_dir)
    if not gt_root.is_dir():
        raise DatasetLayoutError(f"{gt_root}: ground-truth folder not found")
    scenes = list_prediction_scenes(pred_root)
    if not scenes:
        raise InvalidPredictionError(
            f"{pred_root}: no prediction files (<scene>.txt) in the folder",
            hint="the folder must hold one <scene>.txt per scene at its root",
        )
    gt_scenes = [p.stem for p in gt_root.iterdir() if p.suffix == ".txt" and p.is_file()]
    for scene in scenes:
        if not (gt_root / f"{scene}.txt").is_file():
            raise InvalidPredictionError(
                f"{pred_root / (scene + '.txt')}: no ground-truth file {gt_root / (scene + '.txt')}"
            )
    missing = check_scene_sets(scenes, gt_scenes, require_all=require_all, what="prediction file")
    sem_scenes: list[str] = []
    if semantic_dir is not None:
        sem_root = Path(semantic_dir)
        sem_scenes = list_prediction_scenes(sem_root)
        if not sem_scenes:
            raise InvalidPredictionError(f"{sem_root}: no semantic prediction files (<scene>.txt)")
        for scene in sem_scenes:
            if not (gt_root / f"{scene}.txt").is_file():
                raise InvalidPredictionError(
                    f"{sem_root / (scene + '.txt')}: no ground-truth file "
                    f"{gt_root / (scene + '.txt')}"
                )
        check_scene_sets(
            sem_scenes, gt_scenes, require_all=require_all, what="semantic prediction file"
        )
    inst_set, sem_set = set(scenes), set(sem_scenes)
    tasks = [
        _SceneTask(
            scene=scene,
            gt_file=str(gt_root / f"{scene}.txt"),
            pred_file=str(pred_root / f"{scene}.txt") if scene in inst_set else None,
            pred_dir=str(pred_root) if scene in inst_set else None,
            semantic_file=(
                str(Path(semantic_dir) / f"{scene}.txt")
                if semantic_dir is not None and scene in sem_set
                else None
            ),
        )
        for scene in sorted(inst_set | sem_set)
    ]
    outputs = _run_tasks(tasks, workers=workers, progress=progress)
    records = [outputs[s].records for s in scenes]
    table = ap_table([r for r in records if r is not None])
    semantic = None
    if sem_scenes:
        confusion = np.zeros((NUM_SEMANTIC_CLASSES, NUM_SEMANTIC_CLASSES + 1), dtype=np.int64)
        for scene in sem_scenes:
            scene_confusion = outputs[scene].confusion
            if scene_confusion is not None:
                confusion += scene_confusion
        semantic = semantic_result(confusion, len(sem_scenes))
    return build_eval_result(table, scenes, missing, semantic)


def _run_tasks(
    tasks: list[_SceneTask], *, workers: int, progress: ProgressCallback | None
) -> dict[str, _SceneOutput]:
    num_workers = min(workers if workers > 0 else (os.cpu_count() or 1), len(tasks))
    outputs: dict[str, _SceneOutput] = {}
    total = len(tasks)
    if num_workers <= 1:
        for task in tasks:
            outputs[task.scene] = _evaluate_scene(task)
            if progress is not None:
                progress(len(outputs), total)
        return outputs
    logger.info("scoring %d scenes with %d worker processes", total, num_workers)
    with ProcessPoolExecutor(max_workers=num_workers) as pool:
        pending: set[Future[_SceneOutput]] = {pool.submit(_evaluate_scene, t) for t in tasks}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in done:
                    out = future.result()
                    outputs[out.scene] = out
                    if progress is not None:
                        progress(len(outputs), total)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return outputs
