"""Tests of the synthetic ScanNet-format scene generator (``dknet.synth``, ``dknet synth``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from plyfile import PlyData
from typer.testing import CliRunner

from dknet.cli import app
from dknet.errors import ConfigError
from dknet.labels import INSTANCE_NYU40_IDS
from dknet.synth import (
    UNKNOWN_RAW_CATEGORIES,
    UNMAPPED_RAW_CATEGORY,
    generate_dataset,
    generate_scene,
)
from dknet.synth.labels_table import RAW_CATEGORIES, TSV_COLUMNS, nyu40_of
from dknet.synth.mesh import build_mesh, wall_sheets
from dknet.synth.options import preset_options
from dknet.synth.room import RoomShape
from dknet.synth.segments import MIN_SEGMENT_VERTICES
from dknet.synth.shapes import Box, Cylinder
from dknet.synth.writer import split_assignment

COARSE = 0.08  # metres: fast scenes with the same layouts as the default spacing
#: The original noise-free rooms: these tests check their exact geometry (tests/synth/test_scan.py
#: covers the default scan-like preset).
CLEAN = preset_options("clean")


def _hash_tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def coarse_scenes() -> list:
    """One scene of every room type (seed 0, indices 0..5), coarse spacing, clean preset."""
    return [generate_scene(i, 0, vertex_spacing=COARSE, options=CLEAN) for i in range(6)]


# ---------------------------------------------------------------------------------------------
# Determinism


def test_generate_scene_is_deterministic_and_seed_dependent() -> None:
    a = generate_scene(3, 7, vertex_spacing=COARSE, options=CLEAN)
    b = generate_scene(3, 7, vertex_spacing=COARSE, options=CLEAN)
    for name in ("vertices", "colors", "faces", "segments", "nyu40", "instance_ids"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.objects == b.objects
    c = generate_scene(3, 8, vertex_spacing=COARSE, options=CLEAN)
    assert c.scene_id == a.scene_id
    assert a.vertices.shape != c.vertices.shape or not np.array_equal(a.vertices, c.vertices)


def test_layout_does_not_depend_on_vertex_spacing() -> None:
    coarse = generate_scene(2, 0, vertex_spacing=0.1, options=CLEAN)
    fine = generate_scene(2, 0, vertex_spacing=0.05, options=CLEAN)
    assert [o.raw_category for o in coarse.objects] == [o.raw_category for o in fine.objects]


def test_dataset_bytes_identical_for_any_worker_count(tmp_path: Path) -> None:
    kwargs = {"num_scenes": 3, "vertex_spacing": 0.1}
    generate_dataset(tmp_path / "one", seed=0, workers=1, **kwargs)
    generate_dataset(tmp_path / "two", seed=0, workers=2, **kwargs)
    generate_dataset(tmp_path / "other", seed=1, workers=1, **kwargs)
    one, two, other = (_hash_tree(tmp_path / n) for n in ("one", "two", "other"))
    assert one == two
    assert len(one) == 3 + 1 + 5 + 5 + 2  # 3 split lists, tsv, 2 full scenes, 1 test scene
    assert one.keys() == other.keys()
    mesh = "scans/scene9000_00/scene9000_00_vh_clean_2.ply"
    assert one[mesh] != other[mesh]


# ---------------------------------------------------------------------------------------------
# Mesh, segments and ground truth


def test_mesh_is_valid(coarse_scenes: list) -> None:
    for scene in coarse_scenes:
        v = scene.num_vertices
        assert scene.vertices.dtype == np.float32 and scene.vertices.shape == (v, 3)
        assert scene.colors.dtype == np.uint8 and scene.colors.shape == (v, 3)
        assert scene.faces.dtype == np.int64 and scene.faces.ndim == 2
        assert scene.faces.min() >= 0 and scene.faces.max() < v
        assert np.all(np.bincount(scene.faces.reshape(-1), minlength=v) > 0), "unreferenced"
        f = scene.faces
        assert np.all((f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2]))
        # ScanNet conventions: floor at z = 0, room in +x +y, no ceiling.
        lo, hi = scene.vertices.min(axis=0), scene.vertices.max(axis=0)
        assert abs(lo[2]) < 0.03 and lo[0] > -0.05 and lo[1] > -0.05
        assert 2.5 - 0.03 < hi[2] < 3.0 + 0.03
        assert min(hi[0], hi[1]) >= 3.0 - 0.05 and max(hi[0], hi[1]) <= 10.0 + 0.05


def test_segments_never_straddle_instances(coarse_scenes: list) -> None:
    sizes_all = []
    for scene in coarse_scenes:
        seg_ids, seg = np.unique(scene.segments, return_inverse=True)
        # Every segment has exactly one instance id and one nyu40 id.
        for labels in (scene.instance_ids, scene.nyu40):
            pairs = np.unique(np.stack([seg, labels], axis=1), axis=0)
            assert len(pairs) == len(seg_ids)
        # Segment ids are each segment's lowest vertex index (ScanNet-like, not compact).
        first = np.array([np.flatnonzero(scene.segments == s)[0] for s in seg_ids[:50]])
        np.testing.assert_array_equal(first, seg_ids[:50])
        # Every segment of a group carries the group's id and label, and nothing else does.
        grouped = set()
        for obj in scene.objects:
            mask = np.isin(scene.segments, obj.segments)
            assert np.all(scene.instance_ids[mask] == obj.object_id)
            assert np.all(scene.nyu40[mask] == obj.nyu40_id)
            assert np.all(mask == (scene.instance_ids == obj.object_id))
            assert obj.nyu40_id == nyu40_of(obj.raw_category)
            grouped |= set(obj.segments)
        assert [o.object_id for o in scene.objects] == list(range(len(scene.objects)))
        ungrouped = ~np.isin(scene.segments, sorted(grouped))
        assert np.all(scene.instance_ids[ungrouped] == -1) and np.all(scene.nyu40[ungrouped] == 0)
        sizes_all.append(np.bincount(seg))
    sizes = np.concatenate(sizes_all)
    assert np.percentile(sizes, 2) >= MIN_SEGMENT_VERTICES
    assert np.median(sizes) >= 30 and sizes.max() <= 600


def test_walls_floor_and_unannotated_surface(coarse_scenes: list) -> None:
    unannotated = 0.0
    for scene in coarse_scenes:
        by_label: dict[str, list] = {}
        for obj in scene.objects:
            by_label.setdefault(obj.raw_category, []).append(obj)
        assert len(by_label["wall"]) >= 4 and len(by_label["floor"]) == 1
        assert len(by_label["floor"][0].segments) > 5
        assert all(len(w.segments) >= 2 for w in by_label["wall"])
        assert by_label["door"]
        frac = float(np.mean(scene.instance_ids == -1))
        assert frac < 0.1
        unannotated += frac
    assert unannotated > 0  # some clutter or a wall patch is left out of every group


def test_default_spacing_vertex_count() -> None:
    scene = generate_scene(0, 0, options=CLEAN)
    assert 20_000 <= scene.num_vertices <= 350_000
    seg_sizes = np.unique(scene.segments, return_counts=True)[1]
    assert seg_sizes.min() >= MIN_SEGMENT_VERTICES
    assert np.median(seg_sizes) <= 300


def test_all_instance_classes_appear_in_twenty_scenes() -> None:
    scenes = [generate_scene(i, 0, vertex_spacing=0.1, options=CLEAN) for i in range(20)]
    present = {o.nyu40_id for s in scenes for o in s.objects}
    assert set(INSTANCE_NYU40_IDS) <= present
    raw = {o.raw_category for s in scenes for o in s.objects}
    table = {row.raw_category for row in RAW_CATEGORIES}
    assert raw - table == set(UNKNOWN_RAW_CATEGORIES)  # the only names without a row
    assert UNMAPPED_RAW_CATEGORY in raw
    assert {"pillow", "lamp", "box"} <= raw  # non-benchmark classes that stay instances
    for s in scenes:
        for o in s.objects:
            if o.raw_category in UNKNOWN_RAW_CATEGORIES or o.raw_category == UNMAPPED_RAW_CATEGORY:
                assert o.nyu40_id == 0 and np.all(s.nyu40[s.instance_ids == o.object_id] == 0)


def test_hidden_surfaces_are_removed() -> None:
    """A box flush against a wall on the floor hides its bottom, back, the floor and wall."""
    spacing = 0.05
    shape = RoomShape(width=3.0, depth=3.0, height=2.5)
    walls = wall_sheets(shape, (0.8, 0.8, 0.8))
    cabinet = Box(center=(1.5, 0.3, 0.5), size=(1.0, 0.6, 1.0))  # x 1..2, y 0..0.6, z 0..1
    poking = Box(center=(1.5, 0.6, 0.5), size=(0.4, 0.4, 0.4))  # half inside the cabinet
    pole = Cylinder(center=(0.5, 2.0), z0=0.0, z1=1.0, radii=(0.1, 0.1))
    parts = [*walls, cabinet, poking, pole]
    owners = [0, 1, 2, 3, 5, 6, 7, 4]
    mesh = build_mesh(shape, parts, owners, spacing=spacing, tile=8, floor_color=(0.5,) * 3)
    p, n, own = mesh.points, mesh.normals, mesh.owner
    tol = 1e-6
    # Nothing strictly inside a solid.
    for solid in (cabinet, poking, pole):
        assert not np.any(solid.contains(p - 0.002 * n) & solid.contains(p))
    # Floor under the cabinet and the pole is gone, elsewhere it is there.
    floor = own == 4
    under = (p[:, 0] > 1 + tol) & (p[:, 0] < 2 - tol) & (p[:, 1] < 0.6 - tol)
    assert not np.any(floor & under)
    assert not np.any(floor & (np.hypot(p[:, 0] - 0.5, p[:, 1] - 2.0) < 0.1 - tol))
    assert np.sum(floor) > 0.8 * (3.0 / spacing) ** 2
    # The wall at y = 0 behind the cabinet is gone above and below, kept beside it.
    wall0 = own == 0
    behind = (p[:, 0] > 1 + tol) & (p[:, 0] < 2 - tol) & (p[:, 2] < 1 - tol)
    assert not np.any(wall0 & behind)
    assert np.any(wall0 & (p[:, 0] < 1 - tol) & (p[:, 2] < 1 - tol))
    # The cabinet keeps its top and front, loses its bottom and back.
    cab = own == 5
    assert not np.any(cab & (n[:, 2] < -0.5)) and not np.any(cab & (n[:, 1] < -0.5))
    assert np.any(cab & (n[:, 2] > 0.5)) and np.any(cab & (n[:, 1] > 0.5))
    # The pole keeps its top but not its bottom disc.
    pole_v = own == 7
    assert np.any(pole_v & (n[:, 2] > 0.5)) and not np.any(pole_v & (n[:, 2] < -0.5))
    # Walls have one visible side only: every wall vertex faces into the room.
    inward = {0: (0, 1), 1: (-1, 0), 2: (0, -1), 3: (1, 0)}
    for k, (nx, ny) in inward.items():
        assert np.allclose(n[own == k][:, :2], (nx, ny))


# ---------------------------------------------------------------------------------------------
# Files on disk


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "scannet"
    summary = generate_dataset(
        out, num_scenes=7, seed=0, vertex_spacing=0.1, workers=1, options=CLEAN
    )
    assert summary.num_scenes == 7 and summary.num_vertices > 0
    return out


def test_written_files_have_scannet_layout(dataset: Path) -> None:
    scans = sorted(p.name for p in (dataset / "scans").iterdir())
    tests = sorted(p.name for p in (dataset / "scans_test").iterdir())
    for split, expected in (("train", 5), ("val", 1), ("test", 1)):
        ids = (dataset / f"scannetv2_{split}.txt").read_text().split()
        assert len(ids) == expected
        assert ids == (tests if split == "test" else [i for i in scans if i in ids])
    assert not set(scans) & set(tests) and len(scans) + len(tests) == 7

    sid = scans[0]
    folder = dataset / "scans" / sid
    mesh = PlyData.read(str(folder / f"{sid}_vh_clean_2.ply"))
    labels = PlyData.read(str(folder / f"{sid}_vh_clean_2.labels.ply"))
    assert mesh.text is False and mesh.byte_order == "<"
    base = [
        ("x", "f4"),
        ("y", "f4"),
        ("z", "f4"),
        ("red", "u1"),
        ("green", "u1"),
        ("blue", "u1"),
        ("alpha", "u1"),
    ]
    got = [(p.name, p.val_dtype) for p in mesh["vertex"].properties]
    assert [(n, np.dtype(d).str[1:]) for n, d in got] == base
    got = [(p.name, np.dtype(p.val_dtype).str[1:]) for p in labels["vertex"].properties]
    assert got == [*base, ("label", "u2")]
    for ply in (mesh, labels):
        (face_prop,) = ply["face"].properties
        assert face_prop.name == "vertex_indices"
        assert np.dtype(face_prop.len_dtype).str[1:] == "u1"
        assert np.dtype(face_prop.val_dtype).str[1:] == "i4"
    assert np.all(mesh["vertex"]["alpha"] == 255)

    scene = generate_scene(int(sid[5:9]) - 9000, 0, vertex_spacing=0.1, options=CLEAN)
    xyz = np.stack([mesh["vertex"][c] for c in "xyz"], axis=1)
    np.testing.assert_array_equal(xyz, scene.vertices)
    np.testing.assert_array_equal(labels["vertex"]["label"], scene.nyu40)

    segs = json.loads((folder / f"{sid}_vh_clean_2.0.010000.segs.json").read_text())
    assert set(segs) == {"sceneId", "params", "segIndices"} and segs["sceneId"] == sid
    assert segs["segIndices"] == scene.segments.tolist()
    agg = json.loads((folder / f"{sid}.aggregation.json").read_text())
    assert set(agg) == {"sceneId", "appId", "segGroups", "segmentsFile"}
    assert agg["segmentsFile"].endswith(f"{sid}_vh_clean_2.0.010000.segs.json")
    seen: set[int] = set()
    for group, obj in zip(agg["segGroups"], scene.objects, strict=True):
        assert set(group) == {"id", "objectId", "segments", "label"}
        assert group["objectId"] == group["id"] == obj.object_id
        assert group["label"] == obj.raw_category and isinstance(group["label"], str)
        assert not seen & set(group["segments"])  # no segment in two groups
        seen |= set(group["segments"])
    assert seen <= set(segs["segIndices"])
    meta = (folder / f"{sid}.txt").read_text().splitlines()
    values = [float(x) for x in meta[0].split("=")[1].split()]
    assert meta[0].startswith("axisAlignment = ") and values == np.eye(4).reshape(-1).tolist()

    test_folder = dataset / "scans_test" / tests[0]
    assert sorted(p.name for p in test_folder.iterdir()) == sorted(
        [f"{tests[0]}_vh_clean_2.ply", f"{tests[0]}.txt"]
    )


def test_label_table(dataset: Path) -> None:
    lines = (dataset / "scannetv2-labels.combined.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    assert tuple(header) == TSV_COLUMNS
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]
    assert all(len(line.split("\t")) == len(header) for line in lines)
    by_raw = {r["raw_category"]: r for r in rows}
    expected = {
        "wall": (1, "wall"),
        "floor": (2, "floor"),
        "couch": (6, "sofa"),
        "trash can": (39, "otherfurniture"),
        "office chair": (5, "chair"),
        "kitchen cabinet": (3, "cabinet"),
        "shower curtain": (28, "shower curtain"),
        "pillow": (18, "pillow"),
        "lamp": (35, "lamp"),
        "box": (29, "box"),
    }
    for raw, (nyu, name) in expected.items():
        assert (int(by_raw[raw]["nyu40id"]), by_raw[raw]["nyu40class"]) == (nyu, name)
    empty = [r["raw_category"] for r in rows if r["nyu40id"] == ""]
    assert empty == [UNMAPPED_RAW_CATEGORY]
    assert not set(UNKNOWN_RAW_CATEGORIES) & set(by_raw)
    counts = {}
    for folder in (dataset / "scans").iterdir():
        agg = json.loads((folder / f"{folder.name}.aggregation.json").read_text())
        for group in agg["segGroups"]:
            counts[group["label"]] = counts.get(group["label"], 0) + 1
    for raw, row in by_raw.items():
        assert int(row["count"]) == counts.get(raw, 0)


def test_split_assignment() -> None:
    assert split_assignment(2, 0) == ["train", "train"]
    splits = split_assignment(100, 3)
    assert (splits.count("train"), splits.count("val"), splits.count("test")) == (70, 15, 15)
    assert splits == split_assignment(100, 3) and splits != split_assignment(100, 4)


def test_bad_arguments_raise_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="vertex spacing"):
        generate_scene(0, 0, vertex_spacing=0.5)
    with pytest.raises(ConfigError, match="scenes"):
        generate_dataset(tmp_path / "x", num_scenes=0, seed=0)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        generate_dataset(tmp_path / "full", num_scenes=1, seed=0, vertex_spacing=0.1)
    # --overwrite never deletes scenes it did not write (a real ScanNet download).
    real = tmp_path / "scannet" / "scans" / "scene0000_00"
    real.mkdir(parents=True)
    with pytest.raises(ConfigError, match="did not write"):
        generate_dataset(tmp_path / "scannet", num_scenes=1, seed=0, overwrite=True)
    assert real.is_dir()


# ---------------------------------------------------------------------------------------------
# Command line


def test_cli_synth_and_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "synthetic"
    args = ["synth", str(out), "--scenes", "2", "--seed", "0", "--vertex-spacing", "0.1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Wrote 2 scenes" in result.output and "vertices" in result.output
    assert (out / "scannetv2_train.txt").read_text().split() == ["scene9000_00", "scene9001_00"]
    assert (out / "scannetv2_val.txt").read_text() == ""
    before = _hash_tree(out)

    again = runner.invoke(app, args)
    assert again.exit_code == 1
    text = again.output  # stdout and stderr together
    error_lines = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "not empty" in error_lines[0]
    assert "--overwrite" in text and "Traceback" not in text

    third = runner.invoke(app, [*args, "--overwrite", "-j", "1"])
    assert third.exit_code == 0, third.output
    assert _hash_tree(out) == before
