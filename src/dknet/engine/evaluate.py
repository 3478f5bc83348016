"""Run a model over a preprocessed split and score it, or turn it into a benchmark submission.

``data_dir`` is the output of ``dknet preprocess``: ``scenes/<scene>/`` (centred ``coords.npy``,
``colors.npy``, ``superpoints.npy``, ``meta.json``) and ``ground_truth/<scene>.txt``. The split's
scenes come from ``split_file``, or from ``scannetv2_<split>.txt`` found in ``data_dir``, its
parent, or the ScanNet root the scenes were preprocessed from.

From Python::

    from dknet.engine.evaluate import evaluate_split, export_split
    result = evaluate_split("data", "checkpoint.pth", split="val")      # an EvalResult
    export_split("data", "checkpoint.pth", "upload.zip", split="test")  # a checked zip

Predictions are scored scene by scene as they are made (only the small matching records are
kept), and submission files are written scene by scene, so memory does not grow with the split.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dknet.engine.predict import Predictor
from dknet.errors import DatasetLayoutError, SubmissionError

if TYPE_CHECKING:
    from dknet.evaluation import EvalResult
    from dknet.io.submission import SubmissionReport
    from dknet.models import ScenePrediction

__all__ = [
    "ExportResult",
    "evaluate_split",
    "export_split",
    "predict_split",
    "split_scenes",
]

logger = logging.getLogger(__name__)

#: ``progress(done, total, scene_id)`` after every scene (and ``(0, total, None)`` first).
ProgressCallback = Callable[[int, int, "str | None"], None]


def _scenes_root(data_dir: Path) -> Path:
    scenes = data_dir / "scenes"
    if not scenes.is_dir():
        raise DatasetLayoutError(
            f"{scenes}: not a preprocessed dataset (no scenes/ folder)",
            hint="run `dknet preprocess scannet ROOT DATA` first and pass --data DATA",
        )
    return scenes


def _source_roots(scenes: Path) -> list[Path]:
    """Dataset roots recorded in the scenes' meta.json (``<root>/scans/<scene>`` -> root)."""
    roots: list[Path] = []
    for meta_path in sorted(scenes.glob("*/meta.json"))[:1]:
        try:
            source = Path(json.loads(meta_path.read_text(encoding="utf-8"))["source"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        roots += [source.parent, source.parent.parent]
    return roots


def split_scenes(
    data_dir: str | os.PathLike[str],
    split: str,
    *,
    split_file: str | os.PathLike[str] | None = None,
) -> list[str]:
    """The scene ids of ``split``, every one of which must be in ``data_dir/scenes``.

    Raises:
        DatasetLayoutError: no split list is found or readable, it is empty, or it names scenes
            that were not preprocessed.
    """
    from dknet.io.splits import find_split_file, read_split_file, split_file_name

    data = Path(data_dir)
    scenes_dir = _scenes_root(data)
    path: Path | None = Path(split_file) if split_file is not None else None
    if path is None:
        for root in [data, *_source_roots(scenes_dir)]:
            path = find_split_file(root, split)
            if path is not None:
                break
    if path is None:
        raise DatasetLayoutError(
            f"{data}: no split list {split_file_name(split)} found beside the data or the "
            "dataset it was preprocessed from",
            hint=f"pass --split-file with your copy of {split_file_name(split)}",
        )
    scenes = read_split_file(path)
    if not scenes:
        raise DatasetLayoutError(f"{path}: the split list names no scenes")
    missing = [s for s in scenes if not (scenes_dir / s / "meta.json").is_file()]
    if missing:
        listed = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise DatasetLayoutError(
            f"{len(missing)} of {len(scenes)} scenes of {path.name} are not in {scenes_dir}: "
            f"{listed}",
            hint="preprocess them with `dknet preprocess ... --split-file` first",
        )
    logger.info("%s: %d scenes from %s", split, len(scenes), path)
    return scenes


def _load_array(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DatasetLayoutError(f"{path}: cannot read ({exc})") from None


def predict_split(
    predictor: Predictor,
    data_dir: str | os.PathLike[str],
    scenes: list[str],
    *,
    use_superpoints: bool = True,
    progress: ProgressCallback | None = None,
) -> Iterator[ScenePrediction]:
    """Predict preprocessed scenes one by one (vertex order as in the source mesh).

    Superpoints come from ``superpoints.npy`` unless the scene had none (one per vertex), in
    which case refinement is skipped for that scene.
    """
    scenes_dir = _scenes_root(Path(data_dir))
    if progress is not None:
        progress(0, len(scenes), None)
    for done, scene_id in enumerate(scenes, start=1):
        folder = scenes_dir / scene_id
        coords = _load_array(folder / "coords.npy")
        colors = _load_array(folder / "colors.npy")
        superpoints = None
        sp_path = folder / "superpoints.npy"
        if use_superpoints and sp_path.is_file():
            superpoints = _load_array(sp_path)
            if superpoints.size and int(superpoints.max()) + 1 == superpoints.shape[0]:
                superpoints = None  # one superpoint per vertex: refinement would change nothing
        prediction = predictor.predict(coords, colors, superpoints=superpoints, scene_id=scene_id)
        yield prediction
        if progress is not None:
            progress(done, len(scenes), scene_id)


def _resolve(predictor: Predictor | str | os.PathLike[str], device: str) -> Predictor:
    if isinstance(predictor, Predictor):
        return predictor
    return Predictor.from_checkpoint(predictor, device=device)


def _semantic_nyu40(semantic: np.ndarray) -> np.ndarray:
    from dknet.labels import SEMANTIC_NYU40_IDS

    return np.asarray(SEMANTIC_NYU40_IDS, dtype=np.int64)[semantic]


def _fresh_dir(target: Path, overwrite: bool) -> Path:
    if target.exists() and (not target.is_dir() or any(target.iterdir())) and not overwrite:
        raise SubmissionError(
            f"{target}: exists and is not empty", hint="pass --overwrite to replace it"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))


def _move_into_place(tmp: Path, target: Path) -> None:
    tmp.chmod(0o755)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def evaluate_split(
    data_dir: str | os.PathLike[str],
    checkpoint: Predictor | str | os.PathLike[str],
    *,
    split: str = "val",
    split_file: str | os.PathLike[str] | None = None,
    device: str = "auto",
    use_superpoints: bool = True,
    submission_dir: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> EvalResult:
    """Predict every scene of a preprocessed split and score it with the benchmark's rules.

    Args:
        data_dir: ``dknet preprocess`` output.
        checkpoint: a checkpoint path or a ready :class:`Predictor`.
        split: ``train``, ``val`` or ``test`` (test has no ground truth: use
            :func:`export_split`).
        split_file: the split list (default: found, see the module docstring).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:<i>``.
        use_superpoints: superpoint refinement with the scenes' ``superpoints.npy``.
        submission_dir: also keep the predictions here in the benchmark's submission format
            (written into a temporary folder and renamed into place at the end).
        overwrite: replace an existing non-empty ``submission_dir``.
        progress: optional callback, see :data:`ProgressCallback`.

    Returns:
        AP, AP50, AP25 per class and averaged, plus semantic accuracy and mIoU.

    Raises:
        DatasetLayoutError: no split list, scenes or ground truth missing.
        SubmissionError: ``submission_dir`` exists and is not empty (without ``overwrite``).
        CheckpointError, ConfigError: from loading the model.
    """
    from dknet.evaluation import ap_table, build_eval_result, read_ground_truth_txt, scene_records
    from dknet.evaluation.semantic import semantic_confusion, semantic_result
    from dknet.io.prediction_outputs import write_submission_scene
    from dknet.labels import NUM_SEMANTIC_CLASSES

    data = Path(data_dir)
    scenes = split_scenes(data, split, split_file=split_file)
    gt_paths = {s: data / "ground_truth" / f"{s}.txt" for s in scenes}
    without = [s for s, p in gt_paths.items() if not p.is_file()]
    if without:
        raise DatasetLayoutError(
            f"{len(without)} scenes of split {split!r} have no ground truth in "
            f"{data / 'ground_truth'} (first: {without[0]})",
            hint="a split without labels (test) is for `dknet export-submission`",
        )
    target = Path(submission_dir) if submission_dir is not None else None
    tmp = _fresh_dir(target, overwrite) if target is not None else None
    try:
        predictor = _resolve(checkpoint, device)
        records = []
        confusion = np.zeros((NUM_SEMANTIC_CLASSES, NUM_SEMANTIC_CLASSES + 1), dtype=np.int64)
        for pred in predict_split(
            predictor, data, scenes, use_superpoints=use_superpoints, progress=progress
        ):
            gt = read_ground_truth_txt(gt_paths[pred.scene_id])
            inst = pred.instances
            records.append(
                scene_records(inst.masks, inst.labels, inst.scores, gt, source=pred.scene_id)
            )
            confusion += semantic_confusion(
                _semantic_nyu40(pred.semantic_labels), gt // 1000, source=pred.scene_id
            )
            if tmp is not None:
                write_submission_scene(tmp, pred.scene_id, inst)
        if tmp is not None and target is not None:
            _move_into_place(tmp, target)
            tmp = None
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return build_eval_result(
        ap_table(records), sorted(scenes), (), semantic_result(confusion, len(scenes))
    )


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_split` wrote.

    Attributes:
        zip_path: the upload archive, or None when the check failed (nothing written).
        report: the checker's report of the submission folder.
        folder: the kept submission folder, or None.
    """

    zip_path: Path | None
    report: SubmissionReport
    folder: Path | None = None


def export_split(
    data_dir: str | os.PathLike[str],
    checkpoint: Predictor | str | os.PathLike[str],
    zip_path: str | os.PathLike[str] | None,
    *,
    split: str = "test",
    split_file: str | os.PathLike[str] | None = None,
    device: str = "auto",
    use_superpoints: bool = True,
    keep_dir: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> ExportResult:
    """Predict a preprocessed split into a benchmark submission, check it and zip it.

    The folder is built in a temporary place, checked with
    :func:`dknet.io.submission.check_submission` against the split list and the scenes' vertex
    counts, and only then zipped (atomically) and/or moved to ``keep_dir``.

    Args:
        data_dir: ``dknet preprocess`` output.
        checkpoint: a checkpoint path or a ready :class:`Predictor`.
        zip_path: the upload archive to write, or None (then ``keep_dir`` is needed).
        split: the split to predict (``test`` for an upload).
        split_file: the split list (default: found, see the module docstring).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:<i>``.
        use_superpoints: superpoint refinement.
        keep_dir: also keep the submission folder here.
        overwrite: replace an existing archive / non-empty ``keep_dir``.
        progress: optional callback, see :data:`ProgressCallback`.

    Returns:
        The archive path (None when the check failed), the check report and the kept folder.

    Raises:
        SubmissionError: an output exists (without ``overwrite``), or neither output is given.
        DatasetLayoutError, CheckpointError, ConfigError: as for :func:`evaluate_split`.
    """
    from dknet.io import submission
    from dknet.io.prediction_outputs import write_submission_scene
    from dknet.io.submission import TEST_SPLIT_SIZE

    if zip_path is None and keep_dir is None:
        raise SubmissionError("nothing to write: give a zip path or a folder to keep")
    archive = Path(zip_path) if zip_path is not None else None
    if archive is not None and archive.exists() and not overwrite:
        raise SubmissionError(
            f"{archive}: archive already exists", hint="pass --overwrite to replace it"
        )
    data = Path(data_dir)
    scenes = split_scenes(data, split, split_file=split_file)
    if split == "test" and len(scenes) != TEST_SPLIT_SIZE:
        logger.warning(
            "the test split lists %d scenes; the benchmark's has %d (the server will reject it)",
            len(scenes),
            TEST_SPLIT_SIZE,
        )
    kept = Path(keep_dir) if keep_dir is not None else None
    place = kept if kept is not None else (archive.parent if archive else data)
    tmp = _fresh_dir(kept, overwrite) if kept is not None else None
    if tmp is None:
        place.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".submission.", suffix=".tmp", dir=place))
    try:
        predictor = _resolve(checkpoint, device)
        for pred in predict_split(
            predictor, data, scenes, use_superpoints=use_superpoints, progress=progress
        ):
            write_submission_scene(tmp, pred.scene_id, pred.instances)
        counts = submission.preprocessed_vertex_counts(data)
        report = submission.check_submission(
            tmp, expected_scenes=scenes, num_vertices={s: counts[s] for s in scenes}
        )
        # Name the folder the user will know (the archive or the kept folder), not the temp one.
        report = dataclasses.replace(report, folder=kept or archive or report.folder)
        if not report.ok:
            return ExportResult(zip_path=None, report=report)
        written = None
        if archive is not None:
            written = submission.zip_submission(tmp, archive, overwrite=overwrite)
        if kept is not None:
            _move_into_place(tmp, kept)
            tmp = None
        return ExportResult(zip_path=written, report=report, folder=kept)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
