"""Pointcept-preprocessed ScanNet folders: validation, labels and derived ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dknet.errors import DatasetLayoutError
from dknet.io.pointcept import (
    list_pointcept_scenes,
    pointcept_ground_truth,
    read_pointcept_scene,
)

# segment20 index per point: wall 0, floor 1, chair 4, table 6, ignore -1, otherfurniture 19
SEGMENT20 = np.array([0, 0, 1, 4, 4, 6, 6, -1, -1, 19, 4], dtype=np.int64)
# Pointcept keeps the aggregation's group id for every grouped point, wall/floor included.
INSTANCE = np.array([3, 3, 5, 7, 7, 2, 2, 9, -1, 1000, -1], dtype=np.int64)


def write_scene(folder: Path, *, labels: bool = True, **overrides: np.ndarray | None) -> Path:
    folder.mkdir(parents=True)
    n = len(SEGMENT20)
    rng = np.random.default_rng(1)
    arrays: dict[str, np.ndarray | None] = {
        "coord": rng.normal(size=(n, 3)).astype(np.float32),
        "color": rng.integers(0, 256, size=(n, 3), dtype=np.uint8),
        "normal": rng.normal(size=(n, 3)).astype(np.float32),
    }
    if labels:
        arrays["segment20"] = SEGMENT20
        arrays["segment200"] = SEGMENT20
        instance = INSTANCE.copy()
        instance[9] = 4  # otherfurniture point with an encodable id
        arrays["instance"] = instance
    arrays.update(overrides)
    for name, value in arrays.items():
        if value is not None:
            np.save(folder / f"{name}.npy", value)
    return folder


def test_read_labelled_scene(tmp_path: Path) -> None:
    folder = write_scene(tmp_path / "val" / "scene0011_00")
    scene = read_pointcept_scene(folder)
    coords = np.load(folder / "coord.npy")
    assert scene.scene_id == "scene0011_00" and scene.has_labels
    np.testing.assert_array_equal(scene.coords, coords)
    assert scene.colors.dtype == np.uint8 and scene.normals is not None
    assert scene.superpoints is None
    np.testing.assert_array_equal(scene.semantic_labels, SEGMENT20)
    np.testing.assert_array_equal(scene.nyu40_ids, [1, 1, 2, 5, 5, 7, 7, 0, 0, 39, 5])
    # Instances only for the 18 instance classes, compacted in id order: 2 -> 0, 4 -> 1, 7 -> 2.
    np.testing.assert_array_equal(scene.instance_labels, [-1, -1, -1, 2, 2, 0, 0, -1, -1, 1, -1])
    np.testing.assert_array_equal(
        scene.gt_ids, [1004, 1004, 2006, 5008, 5008, 7003, 7003, 0, 0, 39005, 0]
    )


def test_ground_truth_rules() -> None:
    segment20 = np.array([0, 1, 1, 4, 4, -1, -1])
    instance = np.array([-1, 6, -1, 2, -1, 5, -1])
    np.testing.assert_array_equal(
        pointcept_ground_truth(segment20, instance), [1000, 2007, 2000, 5003, 0, 0, 0]
    )


def test_unlabelled_scene_and_superpoints(tmp_path: Path) -> None:
    superpoint = np.array([7, 7, 3, 3, 3, 9, 9, 9, 9, 7, 3])
    folder = write_scene(tmp_path / "scene0707_00", labels=False, superpoint=superpoint)
    scene = read_pointcept_scene(folder)
    assert not scene.has_labels and scene.gt_ids is None
    np.testing.assert_array_equal(scene.superpoints, [1, 1, 0, 0, 0, 2, 2, 2, 2, 1, 0])


def test_instance_id_too_large_for_ground_truth(tmp_path: Path) -> None:
    folder = write_scene(tmp_path / "scene0000_00", instance=INSTANCE)
    with pytest.raises(DatasetLayoutError, match="instance id 1000 > 998"):
        read_pointcept_scene(folder)


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"coord": None}, r"coord.npy: file not found"),
        ({"coord": np.zeros((11, 2), np.float32)}, r"coord.npy: shape \(11, 2\), expected"),
        ({"coord": np.zeros((11, 3), np.int32)}, r"coord.npy: dtype int32, expected float32"),
        ({"color": np.zeros((10, 3), np.uint8)}, r"color.npy: shape \(10, 3\), expected \(11, 3\)"),
        ({"color": np.full((11, 3), 0.5)}, r"color.npy: dtype float64, expected uint8"),
        ({"segment20": np.full(11, 20)}, r"segment20.npy: value 20 outside -1..19"),
        ({"segment20": np.zeros(11, np.float32)}, r"segment20.npy: dtype float32, expected int"),
        ({"instance": None}, r"segment20.npy exists but instance.npy is missing"),
        ({"normal": np.zeros((12, 3), np.float32)}, r"normal.npy: shape"),
    ],
)
def test_validation_errors(tmp_path: Path, overrides: dict, pattern: str) -> None:
    folder = write_scene(tmp_path / "scene0000_00", **overrides)
    with pytest.raises(DatasetLayoutError, match=pattern):
        read_pointcept_scene(folder)


def test_non_finite_and_corrupt_files(tmp_path: Path) -> None:
    coords = np.zeros((11, 3), np.float32)
    coords[3, 1] = np.nan
    folder = write_scene(tmp_path / "a" / "scene0000_00", coord=coords)
    with pytest.raises(DatasetLayoutError, match="1 points have non-finite"):
        read_pointcept_scene(folder)
    folder = write_scene(tmp_path / "b" / "scene0000_00")
    (folder / "instance.npy").write_bytes(b"not numpy")
    with pytest.raises(DatasetLayoutError, match=r"instance.npy: not a readable .npy"):
        read_pointcept_scene(folder)


def test_list_pointcept_scenes(tmp_path: Path) -> None:
    train = write_scene(tmp_path / "split" / "train" / "scene0000_00")
    val = write_scene(tmp_path / "split" / "val" / "scene0011_00")
    test = write_scene(tmp_path / "split" / "test" / "scene0707_00", labels=False)
    assert list_pointcept_scenes(tmp_path / "split") == [train, val, test]
    flat_a = write_scene(tmp_path / "flat" / "scene0002_00")
    flat_b = write_scene(tmp_path / "flat" / "scene0001_00")
    (tmp_path / "flat" / "notes").mkdir()
    assert list_pointcept_scenes(tmp_path / "flat") == [flat_b, flat_a]
    assert list_pointcept_scenes(flat_a) == [flat_a]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match="no Pointcept scenes"):
        list_pointcept_scenes(tmp_path / "empty")
