"""Write, check and zip a ScanNet 3D semantic-instance benchmark submission.

Layout (at the root of the submission folder)::

    <scene>.txt                       one line per instance: "<mask path> <nyu40 id> <confidence>"
    predicted_masks/<scene>_<NNN>.txt one 0/1 per line, one line per vertex of the scene's mesh

The upload is a zip of the folder's contents without a root directory.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dknet.errors import DatasetLayoutError, InvalidPredictionError, SubmissionError
from dknet.io.atomic import atomic_path
from dknet.io.ids_txt import format_ids, parse_ids_bytes
from dknet.io.predictions import parse_prediction_line
from dknet.labels import INSTANCE_NYU40_IDS
from dknet.structures.instances import Instances

__all__ = [
    "MASK_FOLDER",
    "TEST_SPLIT_SIZE",
    "SubmissionProblem",
    "SubmissionReport",
    "check_submission",
    "ground_truth_vertex_counts",
    "preprocessed_vertex_counts",
    "write_submission",
    "zip_submission",
]

logger = logging.getLogger(__name__)

#: Subfolder the writer puts the mask files in.
MASK_FOLDER = "predicted_masks"
#: Number of scenes in the ScanNet v2 test split (what the benchmark server expects).
TEST_SPLIT_SIZE = 100

_VALID_LABELS = frozenset(INSTANCE_NYU40_IDS)
_DIR_MODE = 0o755
_FILE_MODE = 0o644


# --------------------------------------------------------------------------------------------
# writing


def _format_score(score: np.float32) -> str:
    # Shortest text that reads back as the same float32; preserves the ranking of all scores.
    return np.format_float_positional(np.float32(score), unique=True, trim="0")


def _write_tree(root: Path, predictions: Mapping[str, Instances]) -> None:
    (root / MASK_FOLDER).mkdir()
    for scene in sorted(predictions):
        inst = predictions[scene]
        keep = np.isin(inst.labels, list(_VALID_LABELS))
        if not keep.all():
            logger.warning(
                "scene %s: %d instances with a non-benchmark label left out of the submission",
                scene,
                int((~keep).sum()),
            )
            inst = inst[keep]
        width = max(3, len(str(max(len(inst) - 1, 0))))
        lines = []
        for k in range(len(inst)):
            rel = f"{MASK_FOLDER}/{scene}_{k:0{width}d}.txt"
            (root / rel).write_bytes(format_ids(inst.masks[k]))
            lines.append(f"{rel} {int(inst.labels[k])} {_format_score(inst.scores[k])}\n")
        (root / f"{scene}.txt").write_text("".join(lines), encoding="ascii")


def write_submission(
    out_dir: str | os.PathLike[str],
    predictions: Mapping[str, Instances],
    *,
    num_vertices: Mapping[str, int] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write predictions in the benchmark layout, all at once.

    The files are written into a temporary folder beside ``out_dir`` that is then renamed into
    place, so ``out_dir`` is either absent, the previous folder, or the complete new one; an
    existing folder is never mixed with new files. Instances whose label is not one of the 18
    instance classes are left out (the benchmark ignores them), with a warning.

    Args:
        out_dir: the submission folder to create.
        predictions: scene id -> its instances (masks (K, N) bool over the mesh vertices in
            file order, labels (K,) nyu40 ids, scores (K,) float32 in [0, 1]).
        num_vertices: optional scene id -> vertex count of its mesh; every scene must be listed
            and every mask must have that length.
        overwrite: replace an existing non-empty ``out_dir`` (atomically) instead of failing.

    Returns:
        ``out_dir`` as a Path.

    Raises:
        SubmissionError: ``out_dir`` exists and is not empty (without ``overwrite``), a scene id
            is not a plain file name, or a mask length disagrees with ``num_vertices``.
    """
    target = Path(out_dir)
    for scene, inst in predictions.items():
        if not scene or "/" in scene or "\\" in scene or " " in scene or scene.startswith("."):
            raise SubmissionError(f"scene id {scene!r} cannot be a submission file name")
        if num_vertices is not None:
            if scene not in num_vertices:
                raise SubmissionError(f"scene {scene}: no vertex count given in num_vertices")
            if inst.num_points != num_vertices[scene] and len(inst):
                raise SubmissionError(
                    f"scene {scene}: masks cover {inst.num_points} points but the mesh has "
                    f"{num_vertices[scene]} vertices"
                )
    exists = target.exists()
    if exists and not target.is_dir():
        raise SubmissionError(f"{target}: exists and is not a folder")
    if exists and any(target.iterdir()) and not overwrite:
        raise SubmissionError(
            f"{target}: output folder already exists and is not empty",
            hint="choose a new folder or pass --overwrite to replace it",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        tmp.chmod(_DIR_MODE)  # mkdtemp makes a private folder; a submission is ordinary output
        _write_tree(tmp, predictions)
        _replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("wrote %d scenes to %s", len(predictions), target)
    return target


def _replace_dir(new: Path, target: Path) -> None:
    """Rename ``new`` onto ``target``, moving an existing ``target`` aside first."""
    if not target.exists():
        os.replace(new, target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    os.rmdir(old)
    os.replace(target, old)
    try:
        os.replace(new, target)
    except BaseException:
        os.replace(old, target)
        raise
    shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# checking


@dataclass(frozen=True)
class SubmissionProblem:
    """One thing the benchmark server would reject.

    Attributes:
        file: the file at fault (a scene file, a mask file or the split file).
        line: 1-based line in ``file``, or None when the problem is about the whole file.
        message: what is wrong.
    """

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.message}"


@dataclass(frozen=True)
class SubmissionReport:
    """Result of :func:`check_submission`.

    Attributes:
        folder: the folder checked.
        scenes: scene ids found (``*.txt`` at the root), sorted.
        num_instances: prediction lines across all scene files.
        problems: every problem found, in scene order.
        warnings: things worth knowing that the server accepts.
    """

    folder: Path
    scenes: tuple[str, ...]
    num_instances: int
    problems: tuple[SubmissionProblem, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems


def _read_split_lines(path: Path) -> list[tuple[str, int]]:
    """(scene id, 1-based line) of a split list; ``#`` comments and blank lines skipped."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetLayoutError(f"{path}: split file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetLayoutError(f"{path}: cannot read split file ({exc})") from None
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        scene = line.split("#", 1)[0].strip()
        if scene:
            entries.append((scene, number))
    return entries


def _is_test_split(path: Path) -> bool:
    tokens = "".join(c if c.isalnum() else " " for c in path.stem.lower()).split()
    return "test" in tokens


class _LazyCounts(Mapping[str, int]):
    """Vertex counts read on first access from one file per scene."""

    def __init__(self, files: dict[str, Path], reader: str) -> None:
        self._files = files
        self._reader = reader
        self._cache: dict[str, int] = {}

    def __getitem__(self, scene: str) -> int:
        if scene not in self._cache:
            path = self._files[scene]
            if self._reader == "lines":
                data = path.read_bytes()
                self._cache[scene] = data.count(b"\n") + (
                    1 if data and not data.endswith(b"\n") else 0
                )
            else:
                try:
                    meta = json.loads(path.read_text(encoding="utf-8"))
                    self._cache[scene] = int(meta["num_points"])
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    raise DatasetLayoutError(
                        f"{path}: cannot read num_points ({exc.__class__.__name__}: {exc})",
                        hint="run `dknet preprocess` again for this scene",
                    ) from None
        return self._cache[scene]

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)


def ground_truth_vertex_counts(gt_dir: str | os.PathLike[str]) -> Mapping[str, int]:
    """Vertex counts from benchmark ground-truth files (``<scene>.txt``, one line per vertex).

    Files are read only when a scene's count is looked up.

    Raises:
        DatasetLayoutError: the folder does not exist.
    """
    root = Path(gt_dir)
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: ground-truth folder not found")
    files = {p.stem: p for p in root.iterdir() if p.suffix == ".txt" and p.is_file()}
    return _LazyCounts(files, "lines")


def preprocessed_vertex_counts(data_dir: str | os.PathLike[str]) -> Mapping[str, int]:
    """Vertex counts from a ``dknet preprocess`` output (``scenes/<scene>/meta.json`` num_points).

    Raises:
        DatasetLayoutError: ``<data_dir>/scenes`` does not exist.
    """
    scenes = Path(data_dir) / "scenes"
    if not scenes.is_dir():
        raise DatasetLayoutError(
            f"{scenes}: not a preprocessed dataset (no scenes/ folder)",
            hint="pass the OUT folder of `dknet preprocess`, or --ground-truth DIR",
        )
    files = {p.name: p / "meta.json" for p in scenes.iterdir() if (p / "meta.json").is_file()}
    return _LazyCounts(files, "json")


class _Checker:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.root = os.path.abspath(folder)
        self.problems: list[SubmissionProblem] = []
        self.warnings: list[str] = []

    def problem(self, file: Path | str, line: int | None, message: str) -> None:
        self.problems.append(SubmissionProblem(str(file), line, message))

    def check_scene(self, scene: str, num_vertices: int | None) -> int:
        scene_file = self.folder / f"{scene}.txt"
        try:
            text = scene_file.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(scene_file, None, f"cannot read ({exc})")
            return 0
        if not text.strip():
            self.warnings.append(f"{scene_file}: no instances predicted")
        lengths: list[tuple[Path, int, int]] = []  # (mask, its line count, scene-file line)
        seen: dict[str, int] = {}
        lines = text.splitlines()
        for number, line in enumerate(lines, start=1):
            found = self.check_line(scene_file, number, line, seen)
            if found is not None:
                mask_path, n = found
                lengths.append((mask_path, n, number))
        if num_vertices is not None:
            for mask_path, n, number in lengths:
                if n != num_vertices:
                    self.problem(
                        mask_path,
                        None,
                        f"has {n} lines but the scene has {num_vertices} vertices "
                        f"(mask named in {scene_file.name} line {number})",
                    )
        elif lengths:
            # Without the vertex count, the most common length is taken as the scene's.
            values, counts = np.unique([n for _, n, _ in lengths], return_counts=True)
            usual = int(values[np.argmax(counts)])
            for mask_path, n, number in lengths:
                if n != usual:
                    self.problem(
                        mask_path,
                        None,
                        f"has {n} lines but the other masks of {scene} have {usual}; a mask needs "
                        f"one line per vertex (mask named in {scene_file.name} line {number})",
                    )
        return len(lines)

    def check_line(
        self, scene_file: Path, number: int, line: str, seen: dict[str, int]
    ) -> tuple[Path, int] | None:
        """Check one scene-file line; return (mask path, its line count) for a readable mask."""
        try:
            rel, _, _ = parse_prediction_line(line)
        except ValueError as exc:
            self.problem(scene_file, number, str(exc))
            return None
        rel, label_token, conf_token = line.split(" ")
        bad_line = False
        if any(c.isspace() for c in line.replace(" ", "")):
            self.problem(scene_file, number, "tokens must not contain tabs or other whitespace")
            bad_line = True
        label = float(label_token)
        if not (math.isfinite(label) and label == int(label) and int(label) in _VALID_LABELS):
            self.problem(
                scene_file,
                number,
                f"label {label_token!r} is not one of the 18 instance nyu40 ids "
                f"{sorted(_VALID_LABELS)}",
            )
        conf = float(conf_token)
        if not (math.isfinite(conf) and 0.0 <= conf <= 1.0):
            self.problem(
                scene_file, number, f"confidence {conf_token!r} must be finite and in [0, 1]"
            )
        mask_path = os.path.abspath(os.path.join(self.root, rel))
        if os.path.commonpath([mask_path, self.root]) != self.root or mask_path == self.root:
            self.problem(
                scene_file, number, f"mask path {rel!r} points outside the submission folder"
            )
            return None
        if bad_line:
            return None
        if mask_path in seen:
            self.warnings.append(
                f"{scene_file}:{number}: mask {rel} is also named on line {seen[mask_path]} "
                "(the benchmark counts it once, with the last line's label and confidence)"
            )
            return None
        seen[mask_path] = number
        n = self.read_mask_length(scene_file, number, rel, Path(mask_path))
        return None if n is None else (Path(mask_path), n)

    def read_mask_length(
        self, scene_file: Path, number: int, rel: str, mask_path: Path
    ) -> int | None:
        """Parse a mask file; return its line count, or None after recording a problem."""
        try:
            data = mask_path.read_bytes()
        except IsADirectoryError:
            self.problem(scene_file, number, f"mask path {rel!r} is a folder, not a file")
            return None
        except FileNotFoundError:
            self.problem(scene_file, number, f"mask file {rel!r} does not exist")
            return None
        except OSError as exc:
            self.problem(scene_file, number, f"mask file {rel!r} cannot be read ({exc.strerror})")
            return None
        try:
            values = parse_ids_bytes(data, source=str(mask_path))
        except InvalidPredictionError as exc:
            # The parser's message is "<file>: line <n>: ..."; keep the line as a field.
            prefix = f"{mask_path}: line "
            text = exc.message
            line_no: int | None = None
            if text.startswith(prefix):
                head, _, rest = text[len(prefix) :].partition(": ")
                if head.isdigit():
                    line_no, text = int(head), rest
            self.problem(
                mask_path, line_no, f"{text} (mask named in {scene_file.name} line {number})"
            )
            return None
        return int(values.shape[0])


def check_submission(
    folder: str | os.PathLike[str],
    *,
    split_file: str | os.PathLike[str] | None = None,
    expected_scenes: Sequence[str] | None = None,
    num_vertices: Mapping[str, int] | None = None,
) -> SubmissionReport:
    """Check a submission folder the way the benchmark server reads it.

    Every ``*.txt`` at the folder's root is a scene file. Checked, with each problem naming the
    file and (where there is one) the line:

    * one scene file per scene of the split (``split_file`` lines or ``expected_scenes``): a
      missing scene names the split line, an extra scene file names itself; a split file named
      like a test split (``scannetv2_test.txt``) must list 100 scenes;
    * each line: exactly three tokens separated by single spaces (so no spaces in paths), a
      relative mask path that stays inside the folder and exists, a label among the 18 instance
      nyu40 ids, a finite confidence in [0, 1];
    * each mask: one integer per line, as many lines as the scene's vertices
      (``num_vertices``; without it, the masks of a scene must at least agree).

    Args:
        folder: the submission folder.
        split_file: the split list the submission is for (one scene id per line).
        expected_scenes: the scene ids instead of (or in addition to) ``split_file``.
        num_vertices: scene id -> mesh vertex count (e.g. :func:`ground_truth_vertex_counts`).

    Returns:
        The report; ``report.ok`` is True when nothing is wrong.

    Raises:
        SubmissionError: ``folder`` is not a folder.
        DatasetLayoutError: the split file cannot be read.
    """
    root = Path(folder)
    if not root.is_dir():
        raise SubmissionError(f"{root}: submission folder not found")
    checker = _Checker(root)
    scenes = sorted(p.stem for p in root.iterdir() if p.suffix == ".txt" and p.is_file())
    others = sorted(p.name for p in root.iterdir() if p.is_file() and p.suffix != ".txt")
    if others:
        checker.warnings.append(
            f"{root}: files at the root that are not scene files: {', '.join(others[:5])}"
        )
    if not scenes:
        checker.problem(root, None, "no scene files (<scene>.txt) at the folder's root")

    expected: dict[str, tuple[str, int | None]] = {}
    if split_file is not None:
        split_path = Path(split_file)
        listed = _read_split_lines(split_path)
        for scene, line in listed:
            expected.setdefault(scene, (str(split_path), line))
        if _is_test_split(split_path) and len({s for s, _ in listed}) != TEST_SPLIT_SIZE:
            checker.problem(
                split_path,
                None,
                f"lists {len({s for s, _ in listed})} scenes; the ScanNet v2 test split has "
                f"{TEST_SPLIT_SIZE}",
            )
    for scene in expected_scenes or ():
        expected.setdefault(scene, ("expected_scenes", None))
    if expected:
        scene_set = set(scenes)
        for scene, (source, source_line) in expected.items():
            if scene not in scene_set:
                checker.problem(source, source_line, f"scene {scene} has no {scene}.txt in {root}")
        for scene in scenes:
            if scene not in expected:
                checker.problem(root / f"{scene}.txt", None, f"scene {scene} is not in the split")
    else:
        checker.warnings.append(
            f"no split given: scene ids not checked ({len(scenes)} scenes; a test-split upload "
            f"has {TEST_SPLIT_SIZE})"
        )
    if num_vertices is None:
        checker.warnings.append(
            "no vertex counts given: mask lengths only checked for agreement within each scene"
        )

    num_instances = 0
    for scene in scenes:
        count: int | None = None
        if num_vertices is not None:
            try:
                count = num_vertices[scene]
            except KeyError:
                checker.problem(
                    root / f"{scene}.txt", None, f"no vertex count known for scene {scene}"
                )
        num_instances += checker.check_scene(scene, count)
    return SubmissionReport(
        folder=root,
        scenes=tuple(scenes),
        num_instances=num_instances,
        problems=tuple(checker.problems),
        warnings=tuple(checker.warnings),
    )


# --------------------------------------------------------------------------------------------
# zipping


def zip_submission(
    folder: str | os.PathLike[str], zip_path: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Zip a submission folder's contents without a root directory, atomically.

    Entries are the folder's files with paths relative to the folder (``scene0707_00.txt``,
    ``predicted_masks/scene0707_00_000.txt``), in sorted order.

    Args:
        folder: the submission folder (check it first with :func:`check_submission`).
        zip_path: the archive to write; it must lie outside ``folder``.
        overwrite: replace an existing archive.

    Returns:
        ``zip_path`` as a Path.

    Raises:
        SubmissionError: the archive exists (without ``overwrite``), lies inside ``folder``, or
            ``folder`` is missing.
    """
    root = Path(folder)
    target = Path(zip_path)
    if not root.is_dir():
        raise SubmissionError(f"{root}: submission folder not found")
    root_abs = os.path.abspath(root)
    if os.path.commonpath([os.path.abspath(target), root_abs]) == root_abs:
        raise SubmissionError(f"{target}: the archive must be written outside {root}")
    if target.exists() and not overwrite:
        raise SubmissionError(
            f"{target}: archive already exists", hint="pass --overwrite to replace it"
        )
    files = sorted(p for p in root.rglob("*") if p.is_file())
    with atomic_path(target) as tmp:
        tmp.chmod(_FILE_MODE)
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, arcname=path.relative_to(root).as_posix())
    logger.info("wrote %s (%d files)", target, len(files))
    return target
