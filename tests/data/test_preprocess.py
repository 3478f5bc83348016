"""`preprocess_dataset`: output layout, centring, ground truth, skip/overwrite, failures."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import plyfile
import pytest

from dknet import __version__
from dknet.data.preprocess import PREPROCESS_VERSION, SceneResult, preprocess_dataset
from dknet.errors import ConfigError, DatasetLayoutError
from dknet.io.ids_txt import read_ids_txt

TABLE = (
    "id\traw_category\tcategory\tcount\tnyu40id\tnyu40class\n"
    "1\twall\twall\t9\t1\twall\n"
    "2\tchair\tchair\t9\t5\tchair\n"
    "3\tdesk\tdesk\t9\t14\tdesk\n"
    "4\tbox\tbox\t9\t29\tbox\n"
)


def write_raw_scene(
    folder: Path,
    seg_indices: list[int] | None,
    groups: list[tuple[int, str, list[int]]] | None,
    *,
    seed: int,
) -> np.ndarray:
    """A ScanNet v2 scene folder; returns the (N, 3) float32 coordinates written."""
    folder.mkdir(parents=True)
    scene = folder.name
    n = len(seg_indices) if seg_indices is not None else 6
    rng = np.random.default_rng(seed)
    coords = rng.uniform(0.0, 4.0, size=(n, 3)).astype(np.float32) + np.float32(seed)
    vertex = np.empty(n, dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"),
                                ("green", "u1"), ("blue", "u1"), ("alpha", "u1")])  # fmt: skip
    for j, axis in enumerate("xyz"):
        vertex[axis] = coords[:, j]
    for channel in ("red", "green", "blue", "alpha"):
        vertex[channel] = rng.integers(0, 256, size=n)
    face = np.empty(n - 2, dtype=[("vertex_indices", "i4", (3,))])
    face["vertex_indices"] = np.arange(n - 2)[:, None] + np.arange(3)
    plyfile.PlyData(
        [
            plyfile.PlyElement.describe(vertex, "vertex"),
            plyfile.PlyElement.describe(face, "face", len_types={"vertex_indices": "u1"}),
        ]
    ).write(str(folder / f"{scene}_vh_clean_2.ply"))
    if seg_indices is not None:
        (folder / f"{scene}_vh_clean_2.0.010000.segs.json").write_text(
            json.dumps({"sceneId": scene, "segIndices": seg_indices})
        )
    if groups is not None:
        seg_groups = [
            {"id": oid, "objectId": oid, "segments": segs, "label": label}
            for oid, label, segs in groups
        ]
        (folder / f"{scene}.aggregation.json").write_text(
            json.dumps({"sceneId": scene, "segGroups": seg_groups})
        )
    return coords


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """Two labelled scenes, one test scene (mesh and segments only) and a label table."""
    root = tmp_path / "scannet"
    root.mkdir()
    (root / "scannetv2-labels.combined.tsv").write_text(TABLE)
    write_raw_scene(
        root / "scans" / "scene0000_00",
        [4, 4, 4, 8, 8, 8, 6, 6],
        [(0, "wall", [4]), (1, "chair", [8]), (2, "crate", [6])],
        seed=1,
    )
    write_raw_scene(
        root / "scans" / "scene0001_00",
        [0, 0, 1, 1, 1, 2],
        [(0, "desk", [0]), (1, "box", [1])],
        seed=2,
    )
    write_raw_scene(root / "scans_test" / "scene0707_00", [3, 3, 5, 5, 5, 5], None, seed=3)
    return root


def read_outputs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_outputs_and_ground_truth(dataset: Path, tmp_path: Path, caplog) -> None:
    out = tmp_path / "out"
    events: list[tuple[int, int, SceneResult | None]] = []
    with caplog.at_level(logging.WARNING, logger="dknet"):
        summary = preprocess_dataset(
            "scannet", dataset, out, workers=1, progress=lambda *a: events.append(a)
        )
    assert summary.ok
    assert [r.scene_id for r in summary.done] == ["scene0000_00", "scene0001_00", "scene0707_00"]
    assert summary.num_points == 8 + 6 + 6
    assert events[0] == (0, 3, None) and [e[0] for e in events] == [0, 1, 2, 3]

    scene = out / "scenes" / "scene0000_00"
    coords = np.load(scene / "coords.npy")
    assert coords.dtype == np.float32 and coords.shape == (8, 3)
    np.testing.assert_allclose(coords.astype(np.float64).mean(axis=0), 0.0, atol=1e-6)
    meta = json.loads((scene / "meta.json").read_text())
    source = plyfile.PlyData.read(str(dataset / "scans/scene0000_00/scene0000_00_vh_clean_2.ply"))
    original = np.stack([source["vertex"][a] for a in "xyz"], axis=1).astype(np.float64)
    np.testing.assert_allclose(meta["offset"], original.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(coords + np.asarray(meta["offset"]), original, atol=1e-5)
    colors = np.load(scene / "colors.npy")
    assert colors.dtype == np.uint8
    np.testing.assert_array_equal(colors[:, 0], source["vertex"]["red"])
    np.testing.assert_array_equal(
        np.load(scene / "semantic_labels.npy"), [0, 0, 0, 4, 4, 4, -1, -1]
    )
    np.testing.assert_array_equal(
        np.load(scene / "instance_labels.npy"), [-1, -1, -1, 0, 0, 0, 1, 1]
    )
    np.testing.assert_array_equal(np.load(scene / "superpoints.npy"), [0, 0, 0, 2, 2, 2, 1, 1])
    assert np.load(scene / "semantic_labels.npy").dtype == np.int64
    assert not (scene / "normals.npy").exists()
    assert meta["scene_id"] == "scene0000_00" and meta["format"] == "scannet"
    assert meta["dknet_version"] == __version__ and meta["preprocess_version"] == PREPROCESS_VERSION
    assert meta["num_points"] == 8 and meta["has_labels"] is True
    assert meta["source"] == str((dataset / "scans" / "scene0000_00").resolve())
    assert meta["unknown_labels"] == {"crate": 2} and meta["num_instances"] == 2

    np.testing.assert_array_equal(
        read_ids_txt(out / "ground_truth" / "scene0000_00.txt"),
        [1001, 1001, 1001, 5002, 5002, 5002, 3, 3],
    )
    np.testing.assert_array_equal(
        read_ids_txt(out / "ground_truth" / "scene0001_00.txt"),
        [14001, 14001, 29002, 29002, 29002, 0],
    )
    # The test scene: all-ignore labels, no ground truth, superpoints from its segments.
    test_scene = out / "scenes" / "scene0707_00"
    assert not (out / "ground_truth" / "scene0707_00.txt").exists()
    assert json.loads((test_scene / "meta.json").read_text())["has_labels"] is False
    np.testing.assert_array_equal(np.load(test_scene / "semantic_labels.npy"), [-1] * 6)
    np.testing.assert_array_equal(np.load(test_scene / "superpoints.npy"), [0, 0, 1, 1, 1, 1])
    unknown = [r.getMessage() for r in caplog.records if "crate" in r.getMessage()]
    assert len(unknown) == 1 and "2 vertices" in unknown[0]


def test_skip_and_overwrite_are_byte_identical(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = preprocess_dataset("scannet", dataset, out, workers=1)
    before = read_outputs(out)
    assert len(first.done) == 3 and len(before) == 3 * 6 + 2

    second = preprocess_dataset("scannet", dataset, out, workers=1)
    assert len(second.skipped) == 3 and not second.done
    assert second.num_points == first.num_points
    assert read_outputs(out) == before

    mtime = (out / "scenes" / "scene0000_00" / "coords.npy").stat().st_mtime_ns
    third = preprocess_dataset("scannet", dataset, out, workers=2, overwrite=True)
    assert len(third.done) == 3
    assert read_outputs(out) == before
    assert (out / "scenes" / "scene0000_00" / "coords.npy").stat().st_mtime_ns >= mtime
    assert not [p for p in (out / "scenes").iterdir() if p.name.startswith(".")]


def test_older_preprocess_version_is_rebuilt(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    preprocess_dataset("scannet", dataset, out, workers=1)
    meta_path = out / "scenes" / "scene0001_00" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["preprocess_version"] = PREPROCESS_VERSION - 1
    meta_path.write_text(json.dumps(meta))
    (out / "ground_truth" / "scene0000_00.txt").unlink()
    summary = preprocess_dataset("scannet", dataset, out, workers=1)
    assert [r.scene_id for r in summary.done] == ["scene0000_00", "scene0001_00"]
    assert [r.scene_id for r in summary.skipped] == ["scene0707_00"]
    assert json.loads(meta_path.read_text())["preprocess_version"] == PREPROCESS_VERSION


def test_failing_scene_is_reported_and_others_complete(dataset: Path, tmp_path: Path) -> None:
    # scene0001_00: segment 1 claimed by two groups.
    agg = dataset / "scans" / "scene0001_00" / "scene0001_00.aggregation.json"
    data = json.loads(agg.read_text())
    data["segGroups"][0]["segments"] = [0, 1]
    agg.write_text(json.dumps(data))
    out = tmp_path / "out"
    summary = preprocess_dataset("scannet", dataset, out, workers=2)
    assert not summary.ok
    assert [r.scene_id for r in summary.failed] == ["scene0001_00"]
    assert "segment 1 is listed in two segGroups" in summary.failed[0].reason
    assert [r.scene_id for r in summary.done] == ["scene0000_00", "scene0707_00"]
    assert not (out / "scenes" / "scene0001_00").exists()
    assert not (out / "ground_truth" / "scene0001_00.txt").exists()


def test_split_file_restricts_and_reports_missing(dataset: Path, tmp_path: Path) -> None:
    split = tmp_path / "scannetv2_val.txt"
    split.write_text("scene0001_00\nscene0999_00\n")
    out = tmp_path / "out"
    summary = preprocess_dataset("scannet", dataset, out, split_file=split, workers=1)
    assert [r.scene_id for r in summary.results] == ["scene0001_00", "scene0999_00"]
    assert summary.results[0].status == "done"
    failed = summary.failed
    assert len(failed) == 1 and failed[0].scene_id == "scene0999_00"
    assert "scannetv2_val.txt" in failed[0].reason and "not found" in failed[0].reason
    assert sorted(p.name for p in (out / "scenes").iterdir()) == ["scene0001_00"]


def test_explicit_label_table_and_missing_table(dataset: Path, tmp_path: Path) -> None:
    table = dataset / "scannetv2-labels.combined.tsv"
    moved = tmp_path / "my-labels.tsv"
    table.rename(moved)
    with pytest.raises(DatasetLayoutError, match="no label table"):
        preprocess_dataset("scannet", dataset, tmp_path / "out", workers=1)
    summary = preprocess_dataset("scannet", dataset, tmp_path / "out", label_table=moved, workers=1)
    assert summary.ok and len(summary.done) == 3
    meta = json.loads((tmp_path / "out/scenes/scene0000_00/meta.json").read_text())
    assert meta["label_table"] == str(moved.resolve())
    # Only unlabelled scenes selected: no table needed.
    split = tmp_path / "test.txt"
    split.write_text("scene0707_00\n")
    only_test = preprocess_dataset(
        "scannet", dataset, tmp_path / "out2", split_file=split, workers=1
    )
    assert only_test.ok


def test_bad_roots_and_arguments(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="dataset root not found"):
        preprocess_dataset("scannet", tmp_path / "missing", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match="no ScanNet scenes"):
        preprocess_dataset("scannet", tmp_path / "empty", tmp_path / "out")
    with pytest.raises(DatasetLayoutError, match="no Pointcept scenes"):
        preprocess_dataset("pointcept", tmp_path / "empty", tmp_path / "out")
    with pytest.raises(ConfigError, match="unknown dataset format"):
        preprocess_dataset("s3dis", tmp_path / "empty", tmp_path / "out")
    with pytest.raises(ConfigError, match="workers"):
        preprocess_dataset("scannet", tmp_path / "empty", tmp_path / "out", workers=-1)


def test_pointcept_layout(tmp_path: Path) -> None:
    root = tmp_path / "pointcept"
    folder = root / "train" / "scene0000_00"
    folder.mkdir(parents=True)
    coords = np.array([[0, 0, 0], [2, 0, 0], [0, 4, 0], [2, 4, 8]], dtype=np.float32)
    np.save(folder / "coord.npy", coords)
    np.save(folder / "color.npy", np.full((4, 3), 7, np.uint8))
    np.save(folder / "normal.npy", np.tile(np.float32([0, 0, 1]), (4, 1)))
    np.save(folder / "segment20.npy", np.array([0, 4, 4, -1]))
    np.save(folder / "instance.npy", np.array([0, 3, 3, 5]))
    out = tmp_path / "out"
    summary = preprocess_dataset("pointcept", root, out, workers=1)
    assert summary.ok and len(summary.done) == 1
    scene = out / "scenes" / "scene0000_00"
    np.testing.assert_array_equal(np.load(scene / "coords.npy"), coords - [1, 2, 2])
    np.testing.assert_array_equal(np.load(scene / "instance_labels.npy"), [-1, 0, 0, -1])
    np.testing.assert_array_equal(np.load(scene / "superpoints.npy"), [0, 1, 2, 3])
    assert np.load(scene / "normals.npy").shape == (4, 3)
    meta = json.loads((scene / "meta.json").read_text())
    assert meta["format"] == "pointcept" and meta["superpoints_from"] == "one per vertex"
    assert meta["offset"] == [1.0, 2.0, 2.0]
    np.testing.assert_array_equal(
        read_ids_txt(out / "ground_truth" / "scene0000_00.txt"), [1001, 5004, 5004, 0]
    )


def test_workers_started_beside_a_running_thread(dataset: Path, tmp_path: Path) -> None:
    """With another thread alive (as under a live progress bar) workers must not be forked."""
    import threading

    preprocess_dataset("scannet", dataset, tmp_path / "serial", workers=1)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    try:
        summary = preprocess_dataset("scannet", dataset, tmp_path / "parallel", workers=2)
    finally:
        stop.set()
        thread.join()
    assert len(summary.done) == 3
    serial, parallel = read_outputs(tmp_path / "serial"), read_outputs(tmp_path / "parallel")
    assert serial.keys() == parallel.keys()
    for name in serial:
        if not name.endswith("meta.json"):  # meta.json names its own source, equal here too
            assert serial[name] == parallel[name], name


def test_synthetic_dataset_end_to_end(tmp_path: Path) -> None:
    from dknet.synth import generate_dataset, generate_scene

    root = tmp_path / "synthetic"
    generate_dataset(root, num_scenes=3, seed=0, vertex_spacing=0.1, workers=1)
    out = tmp_path / "out"
    summary = preprocess_dataset("scannet", root, out, workers=1)
    assert summary.ok and len(summary.done) == 3
    for index in range(3):
        synthetic = generate_scene(index, 0, vertex_spacing=0.1)
        folder = out / "scenes" / synthetic.scene_id
        meta = json.loads((folder / "meta.json").read_text())
        assert meta["num_points"] == synthetic.num_vertices
        coords = np.load(folder / "coords.npy")
        np.testing.assert_allclose(
            coords + np.asarray(meta["offset"]), synthetic.vertices, atol=1e-5
        )
        gt_path = out / "ground_truth" / f"{synthetic.scene_id}.txt"
        if meta["has_labels"]:
            ids = synthetic.instance_ids
            expected = np.where(ids >= 0, synthetic.nyu40 * 1000 + ids + 1, 0)
            np.testing.assert_array_equal(read_ids_txt(gt_path), expected)
        else:
            assert not gt_path.exists()
    assert sum(json.loads(p.read_text())["has_labels"] for p in out.glob("scenes/*/meta.json")) == 2
