"""Turn a ScanNet download (raw v1/v2 or Pointcept layout) into dknet's per-scene arrays.

Output layout (``OUT``)::

    scenes/<scene>/coords.npy           (N, 3) float32, metres, centred (scene mean subtracted)
    scenes/<scene>/colors.npy           (N, 3) uint8 RGB
    scenes/<scene>/semantic_labels.npy  (N,) int64, 0..19 or IGNORE_LABEL (-1)
    scenes/<scene>/instance_labels.npy  (N,) int64, compact 0..K-1 or IGNORE_LABEL (-1)
    scenes/<scene>/superpoints.npy      (N,) int64, compact 0..S-1
    scenes/<scene>/normals.npy          (N, 3) float32, only when the source has normals
    scenes/<scene>/meta.json            scene id, source, format, versions, offset, ...
    ground_truth/<scene>.txt            benchmark ground truth, one integer per vertex

Every vertex is kept, in source order, so predictions map 1:1 to the benchmark's mesh vertices.
Unlabelled (test) scenes get all-ignore label arrays, ``has_labels: false`` and no ground-truth
file. Scenes without an over-segmentation get one superpoint per vertex (recorded in meta.json).

Each scene folder is written into a temporary folder and renamed into place, so an interrupted
run never leaves half a scene; a scene whose ``meta.json`` carries the current
:data:`PREPROCESS_VERSION` is skipped unless ``overwrite``. Outputs are byte-identical between
runs (no timestamps; ``.npy`` and JSON written deterministically).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dknet import __version__
from dknet.errors import ConfigError, DatasetLayoutError, DKNetError
from dknet.io.atomic import atomic_dir
from dknet.io.ids_txt import write_ids_txt
from dknet.io.pointcept import list_pointcept_scenes, read_pointcept_scene
from dknet.io.scannet import (
    LabelTable,
    ScanNetScene,
    find_aggregation,
    find_label_table,
    list_scenes,
    read_label_table,
    read_scene,
)
from dknet.io.splits import read_split_file
from dknet.labels import IGNORE_LABEL

__all__ = [
    "DATASET_FORMATS",
    "PREPROCESS_VERSION",
    "PreprocessSummary",
    "ProgressCallback",
    "SceneResult",
    "SceneStatus",
    "ground_truth_path",
    "preprocess_dataset",
    "scene_output_dir",
    "write_scene",
]

logger = logging.getLogger(__name__)

#: Bump when the output arrays or their meaning change; older outputs are then rebuilt.
PREPROCESS_VERSION = 1
#: Input layouts understood by :func:`preprocess_dataset`.
DATASET_FORMATS: tuple[str, ...] = ("scannet", "pointcept")

SceneStatus = Literal["done", "skipped", "failed"]

_WORKER_DIED = (
    "a worker process died (out of memory, or a calling script without an "
    "`if __name__ == '__main__':` guard); retry with fewer workers or workers=1"
)


@dataclass(frozen=True)
class SceneResult:
    """What happened to one scene.

    Attributes:
        scene_id: the scene id.
        status: ``done`` (written now), ``skipped`` (already up to date) or ``failed``.
        num_points: vertices written (or found in the existing meta.json when skipped).
        has_labels: whether the scene carries annotations.
        reason: one line explaining a failure, "" otherwise.
        unknown_labels: raw category -> vertex count for categories missing from the table.
        warnings: the reader's one-line warnings about the scene (logged by the caller).
        seconds: wall time spent on the scene.
    """

    scene_id: str
    status: SceneStatus
    num_points: int = 0
    has_labels: bool = False
    reason: str = ""
    unknown_labels: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    seconds: float = 0.0


@dataclass(frozen=True)
class PreprocessSummary:
    """The outcome of :func:`preprocess_dataset`.

    Attributes:
        format: ``scannet`` or ``pointcept``.
        root: the dataset root that was read.
        out: the output folder.
        results: one entry per selected scene, in listing (or split-file) order.
        seconds: total wall time.
    """

    format: str
    root: Path
    out: Path
    results: tuple[SceneResult, ...]
    seconds: float

    def _with(self, status: SceneStatus) -> list[SceneResult]:
        return [r for r in self.results if r.status == status]

    @property
    def done(self) -> list[SceneResult]:
        """Scenes written by this run."""
        return self._with("done")

    @property
    def skipped(self) -> list[SceneResult]:
        """Scenes that were already up to date."""
        return self._with("skipped")

    @property
    def failed(self) -> list[SceneResult]:
        """Scenes that could not be processed (with their reasons)."""
        return self._with("failed")

    @property
    def num_points(self) -> int:
        """Vertices over all scenes now present in the output (done and skipped)."""
        return sum(r.num_points for r in self.results if r.status != "failed")

    @property
    def ok(self) -> bool:
        """True when no scene failed."""
        return not self.failed


#: ``progress(completed, total, result)``: called once with ``(0, total, None)`` before the
#: first scene, then after every scene with the number of scenes finished so far.
ProgressCallback = Callable[[int, int, "SceneResult | None"], None]


def scene_output_dir(out: str | os.PathLike[str], scene_id: str) -> Path:
    """``OUT/scenes/<scene>``."""
    return Path(out) / "scenes" / scene_id


def ground_truth_path(out: str | os.PathLike[str], scene_id: str) -> Path:
    """``OUT/ground_truth/<scene>.txt``."""
    return Path(out) / "ground_truth" / f"{scene_id}.txt"


def _scene_meta(
    scene: ScanNetScene,
    *,
    fmt: str,
    offset: np.ndarray,
    superpoints_from: str,
    num_superpoints: int,
    num_instances: int,
    label_table: Path | None,
) -> dict[str, Any]:
    return {
        "scene_id": scene.scene_id,
        "source": str(Path(scene.source).resolve()),
        "format": fmt,
        "dknet_version": __version__,
        "preprocess_version": PREPROCESS_VERSION,
        "num_points": scene.num_points,
        "offset": [float(v) for v in offset],
        "has_labels": scene.has_labels,
        "has_normals": scene.normals is not None,
        "num_instances": num_instances,
        "num_superpoints": num_superpoints,
        "superpoints_from": superpoints_from,
        "label_table": None if label_table is None else str(Path(label_table).resolve()),
        "unknown_labels": dict(scene.unknown_labels),
        "warnings": list(scene.warnings),
        "axis_alignment": (
            None
            if scene.axis_alignment is None
            else [float(v) for v in scene.axis_alignment.ravel()]
        ),
        "ground_truth": f"ground_truth/{scene.scene_id}.txt" if scene.has_labels else None,
    }


def write_scene(
    scene: ScanNetScene,
    out: str | os.PathLike[str],
    *,
    fmt: str,
    label_table: str | os.PathLike[str] | None = None,
) -> Path:
    """Write one scene's arrays, meta.json and ground truth under ``out``, atomically.

    The ground-truth txt is written first and the scene folder last, so a finished scene folder
    (with its meta.json) implies its ground truth is complete. An existing scene folder is
    replaced only after the new one is fully written.

    Args:
        scene: from :func:`~dknet.io.scannet.read_scene` or
            :func:`~dknet.io.pointcept.read_pointcept_scene`.
        out: the output root.
        fmt: the source format, recorded in meta.json.
        label_table: the label table used, recorded in meta.json.

    Returns:
        The scene folder ``OUT/scenes/<scene>``.
    """
    num_points = scene.num_points
    coords64 = scene.coords.astype(np.float64)
    offset = coords64.mean(axis=0)
    arrays: dict[str, np.ndarray] = {
        "coords": (coords64 - offset).astype(np.float32),
        "colors": scene.colors.astype(np.uint8),
    }
    if scene.has_labels:
        assert scene.semantic_labels is not None and scene.instance_labels is not None
        semantic = scene.semantic_labels.astype(np.int64)
        instance = scene.instance_labels.astype(np.int64)
    else:
        semantic = np.full(num_points, IGNORE_LABEL, dtype=np.int64)
        instance = np.full(num_points, IGNORE_LABEL, dtype=np.int64)
    arrays["semantic_labels"] = semantic
    arrays["instance_labels"] = instance
    if scene.superpoints is not None:
        superpoints = scene.superpoints.astype(np.int64)
        superpoints_from = "segments"
    else:
        superpoints = np.arange(num_points, dtype=np.int64)
        superpoints_from = "one per vertex"
    arrays["superpoints"] = superpoints
    if scene.normals is not None:
        arrays["normals"] = scene.normals.astype(np.float32)
    meta = _scene_meta(
        scene,
        fmt=fmt,
        offset=offset,
        superpoints_from=superpoints_from,
        num_superpoints=int(superpoints.max()) + 1 if num_points else 0,
        num_instances=int(instance.max()) + 1 if instance.size and instance.max() >= 0 else 0,
        label_table=None if label_table is None else Path(label_table),
    )

    gt_path = ground_truth_path(out, scene.scene_id)
    if scene.has_labels:
        assert scene.gt_ids is not None
        write_ids_txt(gt_path, scene.gt_ids.astype(np.int64))
    else:
        gt_path.unlink(missing_ok=True)

    target = scene_output_dir(out, scene.scene_id)
    trash: Path | None = None
    with atomic_dir(target) as tmp:
        tmp.chmod(0o755)  # mkdtemp makes the folder private; outputs are meant to be shared
        for name, array in arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        if target.exists():
            trash = target.with_name(f".{target.name}.old-{os.getpid()}")
            shutil.rmtree(trash, ignore_errors=True)
            os.replace(target, trash)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)
    return target


def _read_finished(out: Path, scene_id: str, fmt: str) -> dict[str, Any] | None:
    """The meta.json of an up-to-date finished scene, or None when it must be (re)built."""
    meta_path = scene_output_dir(out, scene_id) / "meta.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict):
        return None
    if meta.get("preprocess_version") != PREPROCESS_VERSION or meta.get("format") != fmt:
        return None
    if meta.get("has_labels") and not ground_truth_path(out, scene_id).is_file():
        return None
    return meta


@dataclass(frozen=True)
class _SceneTask:
    fmt: str
    scene_dir: Path
    out: Path
    label_table: LabelTable | None


def _process_task(task: _SceneTask) -> SceneResult:
    """Read and write one scene; a domain or I/O error becomes a ``failed`` result.

    Runs in worker processes, so it returns its outcome instead of logging or raising.
    """
    start = time.perf_counter()
    scene_id = task.scene_dir.name
    try:
        if task.fmt == "scannet":
            scene = read_scene(task.scene_dir, task.label_table, log_warnings=False)
        else:
            scene = read_pointcept_scene(task.scene_dir)
        write_scene(
            scene,
            task.out,
            fmt=task.fmt,
            label_table=None if task.label_table is None else task.label_table.path,
        )
    except DKNetError as exc:
        reason = exc.message
    except OSError as exc:
        where = exc.filename if exc.filename else task.scene_dir
        reason = f"{where}: {exc.strerror or exc}"
    else:
        return SceneResult(
            scene_id=scene_id,
            status="done",
            num_points=scene.num_points,
            has_labels=scene.has_labels,
            unknown_labels=dict(scene.unknown_labels),
            warnings=scene.warnings,
            seconds=time.perf_counter() - start,
        )
    return SceneResult(
        scene_id=scene_id, status="failed", reason=reason, seconds=time.perf_counter() - start
    )


def _pool_context() -> multiprocessing.context.BaseContext:
    """How to start workers: fork when this process runs no other thread, else forkserver.

    Forking is fast and, unlike forkserver/spawn, does not re-import the caller's main script
    (a plain script without an ``if __name__ == "__main__":`` guard keeps working). Forking a
    process that runs other threads (e.g. a live progress bar) can leave a lock held forever in
    the child, so then workers start from a clean server process instead.
    """
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _run_tasks(tasks: list[_SceneTask], workers: int) -> Iterator[SceneResult]:
    """Yield one result per task, in completion order."""
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield _process_task(task)
        return
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=_pool_context())
    try:
        submitted = {pool.submit(_process_task, task): task for task in tasks}
        pending: set[Future[SceneResult]] = set(submitted)
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                try:
                    yield future.result()
                except BrokenProcessPool:
                    # A worker died (out of memory, or it could not start); every unfinished
                    # scene fails with this reason instead of aborting the run with a traceback.
                    yield SceneResult(
                        scene_id=submitted[future].scene_dir.name,
                        status="failed",
                        reason=_WORKER_DIED,
                    )
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _list_scene_dirs(fmt: str, root: Path) -> dict[str, Path]:
    dirs = list_scenes(root) if fmt == "scannet" else list_pointcept_scenes(root)
    by_id: dict[str, Path] = {}
    for path in dirs:
        if path.name in by_id:
            raise DatasetLayoutError(
                f"{root}: scene {path.name} appears twice ({by_id[path.name]} and {path})",
                hint="keep one copy, or restrict the run with --split-file",
            )
        by_id[path.name] = path
    return by_id


def _resolve_label_table(
    root: Path, label_table: str | os.PathLike[str] | None, scene_dirs: list[Path]
) -> LabelTable | None:
    if label_table is not None:
        return read_label_table(label_table)
    try:
        path = find_label_table(root)
    except DatasetLayoutError:
        if any(find_aggregation(d) is not None for d in scene_dirs):
            raise
        return None  # only unlabelled (test) scenes: no table is needed
    return read_label_table(path)


def preprocess_dataset(
    fmt: str,
    root: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    split_file: str | os.PathLike[str] | None = None,
    label_table: str | os.PathLike[str] | None = None,
    workers: int = 0,
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
) -> PreprocessSummary:
    """Preprocess every scene of a dataset into ``out`` (see the module docstring for the layout).

    A scene that fails (bad files, inconsistent annotation) is reported in the summary with its
    reason; the other scenes still complete. Unknown raw categories are logged as one warning
    per scene (as are other reader warnings). The library never prints.

    Args:
        fmt: ``scannet`` (raw v1/v2 download) or ``pointcept`` (Pointcept's npy folders).
        root: the dataset root (or a ``scans`` folder, or one scene folder).
        out: the output folder (created if needed).
        split_file: restrict to the scenes listed there (one id per line); a listed scene that
            is not under ``root`` is reported as failed.
        label_table: the ScanNet label tsv; found in ``root`` when omitted (scannet only).
        workers: worker processes; 0 means one per CPU core, 1 runs in this process.
        overwrite: rebuild scenes that are already up to date.
        progress: optional callback, see :data:`ProgressCallback`.

    Returns:
        The summary with one :class:`SceneResult` per scene.

    Raises:
        ConfigError: unknown ``fmt`` or negative ``workers``.
        DatasetLayoutError: ``root`` is missing or holds no scenes, a scene id appears twice,
            the split file is unreadable or empty, or (scannet) labelled scenes have no label
            table.
    """
    start = time.perf_counter()
    if fmt not in DATASET_FORMATS:
        raise ConfigError(
            f"unknown dataset format {fmt!r}; expected one of {', '.join(DATASET_FORMATS)}"
        )
    if workers < 0:
        raise ConfigError(f"workers must be >= 0, got {workers}")
    root_path = Path(root)
    out_path = Path(out)
    if out_path.exists() and not out_path.is_dir():
        raise DatasetLayoutError(f"{out_path}: output path exists and is not a folder")
    available = _list_scene_dirs(fmt, root_path)

    missing: list[str] = []
    if split_file is not None:
        wanted = read_split_file(split_file)
        if not wanted:
            raise DatasetLayoutError(f"{split_file}: the split file lists no scenes")
        selected = [available[s] for s in wanted if s in available]
        missing = [s for s in wanted if s not in available]
        order = wanted
    else:
        selected = list(available.values())
        order = list(available)

    table = _resolve_label_table(root_path, label_table, selected) if fmt == "scannet" else None

    results: dict[str, SceneResult] = {}
    resolved: list[SceneResult] = []
    for scene_id in missing:
        reason = f"listed in {Path(split_file or '').name} but not found under {root_path}"
        resolved.append(SceneResult(scene_id=scene_id, status="failed", reason=reason))
    tasks: list[_SceneTask] = []
    for scene_dir in selected:
        meta = None if overwrite else _read_finished(out_path, scene_dir.name, fmt)
        if meta is not None:
            skipped = SceneResult(
                scene_id=scene_dir.name,
                status="skipped",
                num_points=int(meta.get("num_points", 0)),
                has_labels=bool(meta.get("has_labels", False)),
            )
            resolved.append(skipped)
        else:
            tasks.append(_SceneTask(fmt=fmt, scene_dir=scene_dir, out=out_path, label_table=table))

    total = len(order)
    completed = 0
    if progress is not None:
        progress(0, total, None)

    def finish(result: SceneResult) -> None:
        nonlocal completed
        results[result.scene_id] = result
        completed += 1
        if result.status == "failed":
            logger.info("%s: failed: %s", result.scene_id, result.reason)
        for message in result.warnings:
            logger.warning("%s", message)
        if progress is not None:
            progress(completed, total, result)

    for result in resolved:
        finish(result)
    num_workers = workers if workers > 0 else (os.cpu_count() or 1)
    for result in _run_tasks(tasks, min(num_workers, max(len(tasks), 1))):
        finish(result)
    return PreprocessSummary(
        format=fmt,
        root=root_path,
        out=out_path,
        results=tuple(results[s] for s in order),
        seconds=time.perf_counter() - start,
    )
