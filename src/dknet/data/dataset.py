"""A torch ``Dataset`` over the per-scene arrays written by ``dknet preprocess``.

Reproducible augmentation, whatever the number of ``DataLoader`` workers: item ``i`` of epoch
``e`` is augmented with its own generator, ``np.random.default_rng([seed, e, i])``. No generator
state is shared between items or carried by a worker, so the same ``(seed, epoch, index)`` always
gives the same arrays, in any worker, in any order, with 0 or 8 workers. The shuffling order is
the sampler's business (seed it with :func:`dknet.data.collate.seeded_generator`, per epoch).

Call :meth:`SceneDataset.set_epoch` before iterating each epoch. ``DataLoader`` workers hold
their own copy of the dataset, made when an iteration starts, so this works with the default
``persistent_workers=False``; persistent workers would keep the epoch they started with.

Typical training use::

    dataset = SceneDataset("data/scannet", split_file="scannetv2_train.txt",
                           augmentation=TrainAugmentation(), seed=123, skip_empty=True)
    for epoch in range(epochs):
        dataset.set_epoch(epoch)
        loader = DataLoader(dataset, batch_size=4, shuffle=True, drop_last=True,
                            num_workers=4, collate_fn=collate_scenes,
                            worker_init_fn=worker_init_fn,
                            generator=seeded_generator(123, epoch))
        for batch in loader: ...
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from dknet.data.preprocess import PREPROCESS_VERSION
from dknet.data.transforms import SceneArrays, SceneSample, TrainAugmentation
from dknet.errors import ConfigError, DatasetLayoutError
from dknet.io.splits import read_split_file

__all__ = ["SCENE_FILES", "SceneDataset"]

logger = logging.getLogger(__name__)

#: The files every scene folder of ``dknet preprocess`` output holds.
SCENE_FILES: tuple[str, ...] = (
    "coords.npy",
    "colors.npy",
    "semantic_labels.npy",
    "instance_labels.npy",
    "superpoints.npy",
    "meta.json",
)

#: (name, row width or None for (N,), allowed dtype kinds, description) per scene array.
_ARRAYS: tuple[tuple[str, int | None, str, str], ...] = (
    ("coords", 3, "f", "float coordinates"),
    ("colors", 3, "uif", "RGB colours"),
    ("semantic_labels", None, "iu", "integer labels"),
    ("instance_labels", None, "iu", "integer labels"),
    ("superpoints", None, "iu", "integer superpoint ids"),
)

_PREPROCESS = "dknet preprocess scannet RAW_ROOT {root}"


def _preprocess_hint(root: Path, extra: str = "") -> str:
    return f"create it with `{_PREPROCESS.format(root=root)}{extra}`"


def _names(items: Sequence[str], limit: int = 10) -> str:
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


@dataclass(frozen=True)
class _SceneEntry:
    scene_id: str
    folder: Path
    num_points: int
    num_instances: int


def _rerun_hint(root: Path) -> str:
    return f"re-run `{_PREPROCESS.format(root=root)} --overwrite`"


def _check_array(path: Path, root: Path, *, width: int | None, kinds: str, what: str) -> int:
    """Read a ``.npy`` header only (memory map); return its length N.

    ``width`` None means shape (N,), else (N, width); ``kinds`` are the allowed dtype kinds.
    """
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DatasetLayoutError(
            f"{path}: cannot read {what} ({exc})",
            hint=_rerun_hint(root),
        ) from None
    shape, dtype = array.shape, array.dtype
    del array
    expected = "(N,)" if width is None else f"(N, {width})"
    ok_shape = len(shape) == 1 if width is None else (len(shape) == 2 and shape[1] == width)
    if not ok_shape or dtype.kind not in kinds:
        raise DatasetLayoutError(
            f"{path}: expected {what} of shape {expected}, found shape {shape} dtype {dtype}",
            hint=_rerun_hint(root),
        )
    return int(shape[0])


def _read_meta(path: Path, root: Path) -> dict[str, Any]:
    hint = _rerun_hint(root)
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not valid JSON"
        raise DatasetLayoutError(
            f"{path}: cannot read scene metadata ({reason})", hint=hint
        ) from None
    if not isinstance(meta, dict):
        raise DatasetLayoutError(f"{path}: expected a JSON object", hint=hint)
    version = meta.get("preprocess_version")
    if version != PREPROCESS_VERSION:
        raise DatasetLayoutError(
            f"{path}: written by preprocess version {version!r}, this dknet reads version "
            f"{PREPROCESS_VERSION}",
            hint=hint,
        )
    return meta


class SceneDataset(Dataset[SceneSample]):
    """The scenes of a ``dknet preprocess`` output folder, one :class:`SceneSample` per item.

    The layout of every selected scene is checked when the dataset is built (file presence,
    ``meta.json`` version, array shapes and dtypes from the ``.npy`` headers, equal lengths),
    so a bad folder fails at once with one clear error instead of in a worker mid-epoch.

    Args:
        root: the output folder of ``dknet preprocess`` (holding ``scenes/<scene>/``).
        scene_ids: the scenes to use, in this order; None means every scene folder under
            ``root/scenes`` in sorted order. Exclusive with ``split_file``.
        split_file: a split list (one scene id per line, e.g. ``scannetv2_train.txt``).
        augmentation: the training augmentation; None applies none (validation, test), which
            gives the same arrays as :meth:`~dknet.data.batch.PointBatch.from_scene`.
        voxel_size: voxel side in metres; must equal ``augmentation.voxel_size`` when given.
        seed: base seed of the per-item generators (>= 0).
        skip_empty: drop the scenes without any instance label (for training), with one
            logged warning listing them.

    Attributes:
        root: the dataset folder.
        scene_ids: the scene names, index order.
        augmentation: the augmentation applied by ``__getitem__`` (disabled when none given).
        seed: base seed; item ``i`` uses ``np.random.default_rng([seed, epoch, i])``.
        epoch: the current epoch (see :meth:`set_epoch`).

    Raises:
        DatasetLayoutError: ``root`` is not ``dknet preprocess`` output (no ``scenes/``
            folder, no scene), a selected scene is missing, a scene folder lacks a file, has a
            ``meta.json`` of another preprocess version or a malformed array, or
            ``skip_empty`` leaves no scene.
        ConfigError: both ``scene_ids`` and ``split_file``, a negative seed, or a voxel size
            that differs from the augmentation's.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        scene_ids: Sequence[str] | None = None,
        split_file: str | os.PathLike[str] | None = None,
        augmentation: TrainAugmentation | None = None,
        voxel_size: float = 0.02,
        seed: int = 0,
        skip_empty: bool = False,
    ) -> None:
        if scene_ids is not None and split_file is not None:
            raise ConfigError("give either scene_ids or split_file, not both")
        if seed < 0:
            raise ConfigError(f"seed must be >= 0, got {seed}")
        if augmentation is None:
            augmentation = TrainAugmentation(enabled=False, voxel_size=voxel_size)
        elif augmentation.voxel_size != voxel_size:
            raise ConfigError(
                f"voxel_size {voxel_size} differs from the augmentation's {augmentation.voxel_size}"
            )
        self.root = Path(root)
        self.augmentation = augmentation
        self.seed = int(seed)
        self.epoch = 0
        scenes_dir = self._check_root()
        if split_file is not None:
            wanted = read_split_file(split_file)
            if not wanted:
                raise DatasetLayoutError(f"{split_file}: the split file lists no scenes")
        elif scene_ids is not None:
            wanted = [str(s) for s in scene_ids]
        else:
            wanted = sorted(
                p.name for p in scenes_dir.iterdir() if p.is_dir() and not p.name.startswith(".")
            )
            if not wanted:
                raise DatasetLayoutError(
                    f"{scenes_dir}: holds no scene folder", hint=_preprocess_hint(self.root)
                )
        missing = [s for s in wanted if not (scenes_dir / s).is_dir()]
        if missing:
            raise DatasetLayoutError(
                f"{scenes_dir}: {len(missing)} of {len(wanted)} selected scenes are missing: "
                f"{_names(missing)}",
                hint=_preprocess_hint(self.root, " --split-file SPLIT"),
            )
        entries = [self._check_scene(scenes_dir / s) for s in wanted]
        if skip_empty:
            empty = [e.scene_id for e in entries if e.num_instances == 0]
            entries = [e for e in entries if e.num_instances > 0]
            if not entries:
                raise DatasetLayoutError(
                    f"{self.root}: none of the {len(empty)} selected scenes has an instance label",
                    hint="train on labelled scenes (train/val splits, not test)",
                )
            if empty:
                logger.warning(
                    "skipping %d of %d scenes without any instance label: %s",
                    len(empty),
                    len(empty) + len(entries),
                    ", ".join(empty),
                )
        self._entries: tuple[_SceneEntry, ...] = tuple(entries)
        self.scene_ids: tuple[str, ...] = tuple(e.scene_id for e in entries)

    def _check_root(self) -> Path:
        root = self.root
        if not root.exists():
            raise DatasetLayoutError(
                f"{root}: preprocessed dataset not found", hint=_preprocess_hint(root)
            )
        if not root.is_dir():
            raise DatasetLayoutError(f"{root}: preprocessed dataset is not a folder")
        scenes_dir = root / "scenes"
        if not scenes_dir.is_dir():
            hint = _preprocess_hint(root)
            if (root / "scans").is_dir() or (root / "train").is_dir():
                hint = (
                    "this looks like a raw dataset; preprocess it with "
                    f"`dknet preprocess scannet {root} OUT` (or `pointcept`) and use OUT"
                )
            raise DatasetLayoutError(
                f"{root}: not `dknet preprocess` output (no scenes/ folder)", hint=hint
            )
        return scenes_dir

    def _check_scene(self, folder: Path) -> _SceneEntry:
        absent = [name for name in SCENE_FILES if not (folder / name).is_file()]
        if absent:
            raise DatasetLayoutError(
                f"{folder}: not `dknet preprocess` output, missing {', '.join(absent)}",
                hint=_rerun_hint(self.root),
            )
        meta = _read_meta(folder / "meta.json", self.root)
        lengths = {
            f"{name}.npy": _check_array(
                folder / f"{name}.npy", self.root, width=width, kinds=kinds, what=what
            )
            for name, width, kinds, what in _ARRAYS
        }
        num_points = lengths["coords.npy"]
        wrong = [f"{name} has {n}" for name, n in lengths.items() if n != num_points]
        if wrong:
            raise DatasetLayoutError(
                f"{folder}: arrays disagree on the number of points: coords.npy has "
                f"{num_points}, {', '.join(wrong)}",
                hint=_rerun_hint(self.root),
            )
        num_instances = meta.get("num_instances")
        if not isinstance(num_instances, int) or isinstance(num_instances, bool):
            labels = np.load(folder / "instance_labels.npy", mmap_mode="r")
            num_instances = int(np.asarray(labels).max()) + 1 if labels.size else 0
        return _SceneEntry(folder.name, folder, num_points, max(num_instances, 0))

    def __len__(self) -> int:
        return len(self._entries)

    def _index(self, index: int) -> int:
        n = len(self._entries)
        if not -n <= index < n:
            raise IndexError(f"scene index {index} out of range for {n} scenes")
        return index % n

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose augmentation ``__getitem__`` draws (call before iterating).

        Raises:
            ConfigError: ``epoch`` is negative.
        """
        if epoch < 0:
            raise ConfigError(f"epoch must be >= 0, got {epoch}")
        self.epoch = int(epoch)

    def scene_dir(self, index: int) -> Path:
        """The folder of scene ``index``."""
        return self._entries[self._index(index)].folder

    def num_points(self, index: int) -> int:
        """The stored number of points of scene ``index`` (before any crop)."""
        return self._entries[self._index(index)].num_points

    def item_rng(self, index: int) -> np.random.Generator:
        """The generator ``__getitem__(index)`` uses in the current epoch.

        ``np.random.default_rng([seed, epoch, index])``: independent of worker, order and
        worker count (the three numbers seed a ``SeedSequence``).
        """
        return np.random.default_rng([self.seed, self.epoch, self._index(index)])

    def load_scene(self, index: int) -> SceneArrays:
        """The stored arrays of scene ``index``, unaugmented.

        Returns:
            A :class:`SceneArrays` (coords float32, colors uint8, labels int64).
        """
        entry = self._entries[self._index(index)]
        folder = entry.folder

        def load(name: str) -> np.ndarray:
            return np.load(folder / f"{name}.npy", allow_pickle=False)

        return SceneArrays(
            scene_id=entry.scene_id,
            coords=np.ascontiguousarray(load("coords"), dtype=np.float32),
            colors=load("colors"),
            semantic_labels=np.asarray(load("semantic_labels"), dtype=np.int64),
            instance_labels=np.asarray(load("instance_labels"), dtype=np.int64),
            superpoints=np.asarray(load("superpoints"), dtype=np.int64),
        )

    def __getitem__(self, index: int) -> SceneSample:
        """Scene ``index``, loaded and augmented with :meth:`item_rng` ``(index)``."""
        scene = self.load_scene(index)
        return self.augmentation(scene, self.item_rng(index))
