"""`SceneDataset`: reading `dknet preprocess` output, layout errors, skip_empty, determinism."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from dknet.data.batch import PointBatch
from dknet.data.collate import collate_scenes, seeded_generator, worker_init_fn
from dknet.data.dataset import SceneDataset
from dknet.data.preprocess import write_scene
from dknet.data.transforms import TrainAugmentation
from dknet.errors import ConfigError, DatasetLayoutError
from dknet.io.scannet import ScanNetScene
from dknet.testing import synthetic_scene

LABELLED = ("scene0000_00", "scene0001_00", "scene0002_00")
EMPTY = "scene0003_00"  # labelled, but no instance (only floor)
TEST = "scene0100_00"  # unlabelled


def _write(out: Path, scene_id: str, seed: int, *, num_instances: int, labels: bool) -> None:
    cloud = synthetic_scene(num_instances, 40, seed, floor_points=60)
    n = cloud.coords.shape[0]
    assert cloud.semantic_labels is not None and cloud.instance_labels is not None
    instance = cloud.instance_labels
    scene = ScanNetScene(
        scene_id=scene_id,
        source=out / "raw" / scene_id,
        coords=cloud.coords + np.float32(seed),
        colors=(cloud.colors * 255).astype(np.uint8),
        superpoints=np.arange(n, dtype=np.int64) // 8,
        semantic_labels=cloud.semantic_labels if labels else None,
        instance_labels=instance if labels else None,
        gt_ids=np.where(instance >= 0, 5000 + instance + 1, 2000) if labels else None,
    )
    write_scene(scene, out, fmt="scannet")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("preprocessed")
    for seed, scene_id in enumerate(LABELLED):
        _write(out, scene_id, seed, num_instances=3 + seed, labels=True)
    _write(out, EMPTY, 7, num_instances=0, labels=True)
    _write(out, TEST, 8, num_instances=2, labels=False)
    return out


def test_reads_preprocess_output(root: Path) -> None:
    dataset = SceneDataset(root)
    assert dataset.scene_ids == (*LABELLED, EMPTY, TEST)
    assert len(dataset) == 5
    scene = dataset.load_scene(0)
    assert scene.coords.dtype == np.float32 and scene.colors.dtype == np.uint8
    np.testing.assert_array_equal(
        scene.coords, np.load(root / "scenes" / LABELLED[0] / "coords.npy")
    )

    # No augmentation: the same arrays as PointBatch.from_scene.
    batch = collate_scenes([dataset[1]])
    scene = dataset.load_scene(1)
    ref = PointBatch.from_scene(
        scene.coords,
        scene.colors,
        scene_id=scene.scene_id,
        semantic_labels=scene.semantic_labels,
        instance_labels=scene.instance_labels,
        superpoints=scene.superpoints,
    )
    for name in ("coords", "grid_coords", "features", "instance_labels", "superpoints"):
        assert torch.equal(getattr(batch, name), getattr(ref, name)), name
    assert batch.instance_ptr.tolist() == [0, 4]

    test_sample = dataset[4]
    assert test_sample.num_instances == 0 and (test_sample.semantic_labels == -1).all()


def test_scene_selection(root: Path, tmp_path: Path) -> None:
    assert SceneDataset(root, scene_ids=[LABELLED[2], LABELLED[0]]).scene_ids == (
        LABELLED[2],
        LABELLED[0],
    )
    split = tmp_path / "split.txt"
    split.write_text(f"{LABELLED[1]}\n# comment\n{EMPTY}\n")
    assert SceneDataset(root, split_file=split).scene_ids == (LABELLED[1], EMPTY)
    with pytest.raises(DatasetLayoutError, match=r"1 of 2 selected scenes are missing: nope"):
        SceneDataset(root, scene_ids=[LABELLED[0], "nope"])
    with pytest.raises(ConfigError):
        SceneDataset(root, scene_ids=[LABELLED[0]], split_file=split)
    with pytest.raises(ConfigError, match="voxel_size"):
        SceneDataset(root, augmentation=TrainAugmentation(), voxel_size=0.05)
    with pytest.raises(IndexError):
        SceneDataset(root)[5]


def test_skip_empty_logs_one_warning(root: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="dknet.data.dataset"):
        dataset = SceneDataset(root, skip_empty=True)
    assert dataset.scene_ids == LABELLED
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert f"{EMPTY}, {TEST}" in warnings[0].getMessage()
    assert "2 of 5" in warnings[0].getMessage()
    with pytest.raises(DatasetLayoutError, match="none of the 2 selected scenes"):
        SceneDataset(root, scene_ids=[EMPTY, TEST], skip_empty=True)


def _copy(root: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(root, target)
    return target


def test_layout_errors(root: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="preprocessed dataset not found") as info:
        SceneDataset(tmp_path / "missing")
    assert "dknet preprocess" in (info.value.hint or "")

    raw = tmp_path / "raw"
    (raw / "scans").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match=r"not `dknet preprocess` output") as info:
        SceneDataset(raw)
    assert "looks like a raw dataset" in (info.value.hint or "")

    (tmp_path / "bare" / "scenes" / ".scene.tmp").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match="holds no scene folder"):
        SceneDataset(tmp_path / "bare")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "superpoints.npy").unlink(), "missing superpoints.npy"),
        (lambda d: (d / "meta.json").write_text("{"), "not valid JSON"),
        (
            lambda d: (d / "meta.json").write_text(json.dumps({"preprocess_version": 0})),
            "preprocess version 0",
        ),
        (
            lambda d: np.save(d / "coords.npy", np.zeros((5, 2), np.float32)),
            r"expected float coordinates of shape \(N, 3\), found shape \(5, 2\)",
        ),
        (
            lambda d: np.save(d / "instance_labels.npy", np.zeros(3, np.float64)),
            "expected integer labels",
        ),
        (
            lambda d: np.save(d / "semantic_labels.npy", np.zeros(3, np.int64)),
            "semantic_labels.npy has 3",
        ),
        (lambda d: (d / "colors.npy").write_bytes(b"garbage"), "cannot read RGB colours"),
    ],
)
def test_damaged_scene_is_named(root: Path, tmp_path: Path, damage, message: str) -> None:
    copy = _copy(root, tmp_path)
    folder = copy / "scenes" / LABELLED[1]
    damage(folder)
    with pytest.raises(DatasetLayoutError, match=message) as info:
        SceneDataset(copy)
    assert LABELLED[1] in str(info.value)
    assert "--overwrite" in (info.value.hint or "")


def test_item_generator_is_per_seed_epoch_index(root: Path) -> None:
    dataset = SceneDataset(root, augmentation=TrainAugmentation(), seed=5)
    a = dataset[2]
    assert dataset.item_rng(2).random() == np.random.default_rng([5, 0, 2]).random()
    np.testing.assert_array_equal(dataset[2].grid_coords, a.grid_coords)
    np.testing.assert_array_equal(dataset[-3].features, a.features)  # same item
    dataset.set_epoch(1)
    assert not np.array_equal(dataset[2].coords, a.coords)
    dataset.set_epoch(0)
    np.testing.assert_array_equal(dataset[2].coords, a.coords)
    with pytest.raises(ConfigError):
        dataset.set_epoch(-1)


def _run_loader(dataset: SceneDataset, num_workers: int, epoch: int) -> list[PointBatch]:
    dataset.set_epoch(epoch)
    loader = DataLoader(
        dataset,
        batch_size=2,
        shuffle=True,
        num_workers=num_workers,
        collate_fn=collate_scenes,
        worker_init_fn=worker_init_fn,
        generator=seeded_generator(123, epoch),
        multiprocessing_context="fork" if num_workers else None,
    )
    return list(loader)


def test_loader_is_reproducible_for_any_worker_count(root: Path) -> None:
    dataset = SceneDataset(root, augmentation=TrainAugmentation(), seed=9, skip_empty=True)
    serial = _run_loader(dataset, 0, epoch=3)
    parallel = _run_loader(dataset, 2, epoch=3)
    assert [b.scene_ids for b in serial] == [b.scene_ids for b in parallel]
    assert sorted(s for b in serial for s in b.scene_ids) == sorted(LABELLED)
    for a, b in zip(serial, parallel, strict=True):
        for name in ("coords", "grid_coords", "features", "ptr", "instance_labels",
                     "instance_ptr", "semantic_labels", "superpoints"):  # fmt: skip
            assert torch.equal(getattr(a, name), getattr(b, name)), name
    other_epoch = _run_loader(dataset, 0, epoch=4)
    assert not torch.equal(other_epoch[0].features, serial[0].features)
