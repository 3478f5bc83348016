"""Raw ScanNet readers: label table (v1/v2), scene folders, per-vertex labels, split lists."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import plyfile
import pytest

from dknet.errors import DatasetLayoutError
from dknet.io.scannet import (
    find_label_table,
    list_scenes,
    read_label_table,
    read_scene,
    semantic_from_nyu40,
)
from dknet.io.splits import find_split_file, find_split_files, read_split_file
from dknet.labels import IGNORE_LABEL

V2_HEADER = "id\traw_category\tcategory\tcount\tnyu40id\teigen13id\tnyuClass\tnyu40class"
V1_HEADER = "category\tcount\tnyuId\tnyu40id\teigen13id\tnyuClass\tnyu40class"
# raw name, nyu40 id ("" = unmapped row)
TABLE_ROWS = [
    ("wall", "1"),
    ("floor", "2"),
    ("chair", "5"),
    ("kitchen cabinet", "3"),
    ("dish rack", "40"),
    ("object", ""),
    ("door", "8"),
]

# 12 vertices; segment id per vertex (non-contiguous ids on purpose).
SEG_INDICES = [10, 10, 10, 20, 20, 20, 30, 30, 35, 40, 40, 50]
# objectId, raw label (spelling variants on purpose), segments
GROUPS = [
    (0, "wall", [10]),
    (1, "Chair", [20]),
    (2, "dishrack", [30, 35]),
    (3, "mystery thing", [40]),
    (4, "Kitchen_Cabinet", []),  # empty group: no vertices
]


def write_table(path: Path, *, v1: bool = False, rows=TABLE_ROWS) -> Path:
    lines = [V1_HEADER if v1 else V2_HEADER]
    for i, (raw, nyu40) in enumerate(rows):
        if v1:
            lines.append(f"{raw}\t3\t0\t{nyu40}\t0\tx\ty")
        else:
            lines.append(f"{i + 1}\t{raw}\t{raw}\t3\t{nyu40}\t0\tx\ty")
    path.write_text("\n".join(lines) + "\n")
    return path


def write_mesh(path: Path, coords: np.ndarray, colors: np.ndarray) -> None:
    vertex = np.empty(
        len(coords),
        dtype=[("x", "f4"), ("y", "f4"), ("z", "f4"), ("red", "u1"), ("green", "u1"),
               ("blue", "u1"), ("alpha", "u1")],
    )  # fmt: skip
    for j, axis in enumerate("xyz"):
        vertex[axis] = coords[:, j]
    for j, channel in enumerate(("red", "green", "blue")):
        vertex[channel] = colors[:, j]
    vertex["alpha"] = 255
    faces = np.empty(len(coords) - 2, dtype=[("vertex_indices", "i4", (3,))])
    faces["vertex_indices"] = np.stack(
        [np.arange(len(coords) - 2), np.arange(1, len(coords) - 1), np.arange(2, len(coords))], 1
    )
    plyfile.PlyData(
        [
            plyfile.PlyElement.describe(vertex, "vertex"),
            plyfile.PlyElement.describe(faces, "face", len_types={"vertex_indices": "u1"}),
        ]
    ).write(str(path))


def write_scene(
    folder: Path,
    *,
    seg_indices=SEG_INDICES,
    groups=GROUPS,
    v1: bool = False,
    mesh_only: bool = False,
    axis_alignment: list[float] | None = None,
    seed: int = 0,
) -> tuple[Path, np.ndarray, np.ndarray]:
    folder.mkdir(parents=True)
    scene = folder.name
    rng = np.random.default_rng(seed)
    coords = rng.uniform(-2, 5, size=(len(seg_indices), 3)).astype(np.float32)
    colors = rng.integers(0, 256, size=(len(seg_indices), 3), dtype=np.uint8)
    write_mesh(folder / f"{scene}_vh_clean_2.ply", coords, colors)
    if mesh_only:
        return folder, coords, colors
    (folder / f"{scene}_vh_clean_2.0.010000.segs.json").write_text(
        json.dumps({"sceneId": scene, "params": {}, "segIndices": list(seg_indices)})
    )
    agg: dict = {
        "sceneId": scene,
        "appId": "test",
        "segGroups": [
            {"id": oid, "objectId": oid, "segments": segs, "label": label}
            for oid, label, segs in groups
        ],
    }
    if not v1:
        agg["segmentsFile"] = f"scannet.{scene}_vh_clean_2.0.010000.segs.json"
    name = f"{scene}_vh_clean.aggregation.json" if v1 else f"{scene}.aggregation.json"
    (folder / name).write_text(json.dumps(agg))
    if axis_alignment is not None:
        values = " ".join(str(v) for v in axis_alignment)
        (folder / f"{scene}.txt").write_text(f"colorHeight = 968\naxisAlignment = {values}\n")
    return folder, coords, colors


# --------------------------------------------------------------------------------------------
# Label table


@pytest.mark.parametrize("v1", [False, True], ids=["v2", "v1"])
def test_label_table_columns_and_spellings(tmp_path: Path, v1: bool) -> None:
    name = "scannet-labels.combined.tsv" if v1 else "scannetv2-labels.combined.tsv"
    table = read_label_table(write_table(tmp_path / name, v1=v1))
    assert table.raw_column == ("category" if v1 else "raw_category")
    assert len(table) == len(TABLE_ROWS)
    assert table.lookup("chair") == 5
    assert table.lookup("  CHAIR ") == 5
    assert table.lookup("kitchen   cabinet") == 3
    assert table.lookup("kitchen_cabinet") == 3
    assert table.lookup("dishrack") == 40
    assert table.lookup("dish-rack") == 40
    assert table.lookup("object") == 0  # empty nyu40id: known but unmapped
    assert table.lookup("sofa") is None


def test_label_table_ambiguous_spelling_matches_nothing(tmp_path: Path) -> None:
    rows = [("dish rack", "40"), ("dishrack", "39")]
    table = read_label_table(write_table(tmp_path / "t.tsv", rows=rows))
    assert table.lookup("dish rack") == 40 and table.lookup("dishrack") == 39
    assert table.lookup("dish_rack") is None  # compact spelling shared by two different ids


def test_label_table_missing_columns_names_file_and_columns(tmp_path: Path) -> None:
    path = tmp_path / "labels.tsv"
    path.write_text("id\tname\tnyu40class\n1\tchair\tchair\n")
    with pytest.raises(DatasetLayoutError) as info:
        read_label_table(path)
    assert str(path) in info.value.message
    assert "'name'" in info.value.message and "'nyu40class'" in info.value.message


def test_label_table_missing_file_and_bad_id(tmp_path: Path) -> None:
    with pytest.raises(DatasetLayoutError, match="label table not found"):
        read_label_table(tmp_path / "nope.tsv")
    bad = write_table(tmp_path / "bad.tsv", rows=[("chair", "five")])
    with pytest.raises(DatasetLayoutError, match=r"line 2.*not an integer"):
        read_label_table(bad)
    out_of_range = write_table(tmp_path / "range.tsv", rows=[("chair", "41")])
    with pytest.raises(DatasetLayoutError, match=r"outside 0..40"):
        read_label_table(out_of_range)


def test_find_label_table_prefers_v2_and_searches_parents(tmp_path: Path) -> None:
    v1 = write_table(tmp_path / "scannet-labels.combined.tsv", v1=True)
    (tmp_path / "scans" / "scene0000_00").mkdir(parents=True)
    assert find_label_table(tmp_path) == v1
    assert find_label_table(tmp_path / "scans" / "scene0000_00") == v1
    v2 = write_table(tmp_path / "scannetv2-labels.combined.tsv")
    assert find_label_table(tmp_path / "scans") == v2
    with pytest.raises(DatasetLayoutError, match="no label table"):
        find_label_table(tmp_path / "scans" / "scene0000_00" / "deeper" / "still")


# --------------------------------------------------------------------------------------------
# Scenes


@pytest.mark.parametrize("v1", [False, True], ids=["v2", "v1"])
def test_read_scene_labels(tmp_path: Path, v1: bool, caplog: pytest.LogCaptureFixture) -> None:
    table = read_label_table(write_table(tmp_path / "t.tsv", v1=v1))
    folder, coords, colors = write_scene(tmp_path / "scans" / "scene0001_00", v1=v1)
    with caplog.at_level(logging.WARNING, logger="dknet"):
        scene = read_scene(folder, table)
    assert scene.scene_id == "scene0001_00" and scene.has_labels
    np.testing.assert_array_equal(scene.coords, coords)
    np.testing.assert_array_equal(scene.colors, colors)
    assert scene.colors.dtype == np.uint8 and scene.coords.dtype == np.float32
    # wall(1) x3, chair(5) x3, dish rack(40) x3, unknown(0) x2, no group x1
    np.testing.assert_array_equal(scene.nyu40_ids, [1, 1, 1, 5, 5, 5, 40, 40, 40, 0, 0, 0])
    np.testing.assert_array_equal(scene.semantic_labels, [0, 0, 0, 4, 4, 4, -1, -1, -1, -1, -1, -1])
    # wall is no instance; chair, dish rack (non-benchmark) and the unknown group are.
    np.testing.assert_array_equal(scene.instance_labels, [-1, -1, -1, 0, 0, 0, 1, 1, 1, 2, 2, -1])
    np.testing.assert_array_equal(scene.object_ids, [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, -1])
    np.testing.assert_array_equal(
        scene.gt_ids,
        [1001, 1001, 1001, 5002, 5002, 5002, 40003, 40003, 40003, 4, 4, 0],
    )
    np.testing.assert_array_equal(scene.superpoints, [0, 0, 0, 1, 1, 1, 2, 2, 3, 4, 4, 5])
    assert scene.unknown_labels == {"mystery thing": 2}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "mystery thing" in warnings[0].getMessage() and "2 vertices" in warnings[0].getMessage()


def test_read_scene_without_logging_unknowns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    table = read_label_table(write_table(tmp_path / "t.tsv"))
    folder, _, _ = write_scene(tmp_path / "scene0001_00")
    with caplog.at_level(logging.WARNING, logger="dknet"):
        scene = read_scene(folder, table, log_warnings=False)
    assert scene.unknown_labels == {"mystery thing": 2}
    assert len(scene.warnings) == 1 and "'mystery thing' (2 vertices)" in scene.warnings[0]
    assert not caplog.records


def test_floor_group_is_not_an_instance(tmp_path: Path) -> None:
    table = read_label_table(write_table(tmp_path / "t.tsv"))
    groups = [(5, "door", [1]), (7, "floor", [2]), (9, "object", [3])]
    folder, _, _ = write_scene(
        tmp_path / "scene0002_00", seg_indices=[1, 2, 2, 3, 3], groups=groups
    )
    scene = read_scene(folder, table)
    np.testing.assert_array_equal(scene.semantic_labels, [7, 1, 1, -1, -1])
    np.testing.assert_array_equal(scene.instance_labels, [0, -1, -1, 1, 1])
    np.testing.assert_array_equal(scene.gt_ids, [8006, 2008, 2008, 10, 10])
    assert scene.unknown_labels == {}  # "object" is in the table (unmapped), not unknown


def test_axis_alignment_is_read(tmp_path: Path) -> None:
    table = read_label_table(write_table(tmp_path / "t.tsv"))
    matrix = list(np.arange(16, dtype=float))
    folder, _, _ = write_scene(tmp_path / "scene0003_00", axis_alignment=matrix)
    scene = read_scene(folder, table)
    np.testing.assert_array_equal(scene.axis_alignment, np.arange(16.0).reshape(4, 4))
    (folder / "scene0003_00.txt").write_text("axisAlignment = 1 2 3\n")
    with pytest.raises(DatasetLayoutError, match="axisAlignment must be 16"):
        read_scene(folder, table)


def test_test_scene_with_only_a_mesh(tmp_path: Path) -> None:
    folder, coords, _ = write_scene(tmp_path / "scans_test" / "scene0707_00", mesh_only=True)
    scene = read_scene(folder, None)
    assert not scene.has_labels
    assert scene.semantic_labels is None and scene.gt_ids is None and scene.superpoints is None
    assert scene.num_points == len(coords)


def test_segment_in_two_groups_is_an_error(tmp_path: Path) -> None:
    table = read_label_table(write_table(tmp_path / "t.tsv"))
    groups = [(0, "chair", [20]), (1, "door", [30, 20])]
    folder, _, _ = write_scene(tmp_path / "scene0004_00", groups=groups)
    with pytest.raises(DatasetLayoutError) as info:
        read_scene(folder, table)
    message = info.value.message
    assert "scene0004_00.aggregation.json" in message
    assert "segment 20" in message and "objectId 0" in message and "objectId 1" in message


def test_group_with_same_segments_but_other_label_is_an_error(tmp_path: Path) -> None:
    table = read_label_table(write_table(tmp_path / "t.tsv"))
    groups = [(0, "chair", [20]), (1, "door", [20])]
    folder, _, _ = write_scene(tmp_path / "scene0004_00", groups=groups)
    with pytest.raises(DatasetLayoutError, match="segment 20 is listed in two segGroups"):
        read_scene(folder, table)


def test_exactly_repeated_groups_are_dropped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """ScanNet's scene0217_00 lists each group twice (same label, same segments)."""
    table = read_label_table(write_table(tmp_path / "t.tsv"))
    first = [(0, "wall", [10]), (1, "chair", [20, 30])]
    repeated = [(2, "wall", [10]), (3, "chair", [30, 20])]
    folder, _, _ = write_scene(tmp_path / "scene0217_00", groups=first + repeated)
    with caplog.at_level(logging.WARNING, logger="dknet"):
        scene = read_scene(folder, table)
    np.testing.assert_array_equal(scene.instance_labels, [-1] * 3 + [0] * 5 + [-1] * 4)
    np.testing.assert_array_equal(scene.gt_ids[:9], [1001] * 3 + [5002] * 5 + [0])
    (message,) = [r.getMessage() for r in caplog.records]
    assert "dropped 2 segGroups" in message and "objectIds [2, 3]" in message


def test_segment_repeated_inside_one_group_is_fine(tmp_path: Path) -> None:
    table = read_label_table(write_table(tmp_path / "t.tsv"))
    folder, _, _ = write_scene(tmp_path / "scene0005_00", groups=[(0, "chair", [20, 20])])
    scene = read_scene(folder, table)
    assert int((scene.instance_labels == 0).sum()) == 3


@pytest.mark.parametrize(
    ("case", "pattern"),
    [
        ("missing_segment", r"segment 99 of objectId 0 .* does not occur"),
        ("length", r"segIndices has 11 entries but .* has 12 vertices"),
        ("bad_json", r"aggregation.json: malformed JSON"),
        ("no_seg_indices", r"no 'segIndices' list"),
        ("float_segments", r"segGroups\[0\].segments must be a list of integers"),
        ("duplicate_object_id", r"objectId 0 is used by more than one segGroup"),
        ("no_segs_file", r"needs the segments file"),
        ("no_mesh", r"mesh scene0006_00_vh_clean_2.ply not found"),
    ],
)
def test_malformed_scene_files(tmp_path: Path, case: str, pattern: str) -> None:
    table = read_label_table(write_table(tmp_path / "t.tsv"))
    groups: list = [(0, "chair", [20])]
    seg_indices = SEG_INDICES
    if case == "missing_segment":
        groups = [(0, "chair", [20, 99])]
    elif case == "float_segments":
        groups = [(0, "chair", [20.5])]
    elif case == "duplicate_object_id":
        groups = [(0, "chair", [20]), (0, "door", [30])]
    folder, _, _ = write_scene(tmp_path / "scene0006_00", groups=groups, seg_indices=seg_indices)
    segs = folder / "scene0006_00_vh_clean_2.0.010000.segs.json"
    if case == "length":
        segs.write_text(json.dumps({"segIndices": SEG_INDICES[:-1]}))
    elif case == "bad_json":
        (folder / "scene0006_00.aggregation.json").write_text('{"segGroups": [')
    elif case == "no_seg_indices":
        segs.write_text(json.dumps({"sceneId": "scene0006_00"}))
    elif case == "no_segs_file":
        segs.unlink()
    elif case == "no_mesh":
        (folder / "scene0006_00_vh_clean_2.ply").unlink()
    with pytest.raises(DatasetLayoutError, match=pattern):
        read_scene(folder, table)


def test_semantic_from_nyu40() -> None:
    np.testing.assert_array_equal(
        semantic_from_nyu40(np.array([0, 1, 2, 13, 14, 39, 40])), [-1, 0, 1, -1, 12, 19, -1]
    )
    assert IGNORE_LABEL == -1


def test_list_scenes_layouts(tmp_path: Path) -> None:
    a, _, _ = write_scene(tmp_path / "scans" / "scene0000_00", mesh_only=True)
    b, _, _ = write_scene(tmp_path / "scans" / "scene0000_01", mesh_only=True)
    c, _, _ = write_scene(tmp_path / "scans_test" / "scene0707_00", mesh_only=True)
    (tmp_path / "scans" / ".hidden").mkdir()
    assert list_scenes(tmp_path) == [a, b, c]
    assert list_scenes(tmp_path / "scans") == [a, b]
    assert list_scenes(a) == [a]
    with pytest.raises(DatasetLayoutError, match="not found"):
        list_scenes(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match="no ScanNet scenes"):
        list_scenes(tmp_path / "empty")


# --------------------------------------------------------------------------------------------
# Split lists


def test_read_split_file(tmp_path: Path) -> None:
    path = tmp_path / "scannetv2_val.txt"
    path.write_text("# val scenes\nscene0011_00\n\n  scene0011_01  # second\r\nscene0015_00")
    assert read_split_file(path) == ["scene0011_00", "scene0011_01", "scene0015_00"]
    assert find_split_file(tmp_path, "val") == path
    assert find_split_file(tmp_path / "scans", "val") == path
    assert find_split_file(tmp_path, "train") is None
    assert find_split_files(tmp_path) == {"val": path}


def test_split_file_errors(tmp_path: Path) -> None:
    dup = tmp_path / "dup.txt"
    dup.write_text("scene0000_00\nscene0001_00\nscene0000_00\n")
    with pytest.raises(DatasetLayoutError, match=r"listed twice \(lines 1 and 3\)"):
        read_split_file(dup)
    two = tmp_path / "two.txt"
    two.write_text("scene0000_00 scene0001_00\n")
    with pytest.raises(DatasetLayoutError, match="one scene id per line"):
        read_split_file(two)
    with pytest.raises(DatasetLayoutError, match="split file not found"):
        read_split_file(tmp_path / "missing.txt")
    with pytest.raises(DatasetLayoutError, match="unknown split"):
        find_split_file(tmp_path, "trainval")


# --------------------------------------------------------------------------------------------
# Synthetic scenes written by dknet.synth in the raw ScanNet layout


@pytest.mark.parametrize("scene_index", [1, 2])
def test_synthetic_scene_reproduces_generator_ground_truth(
    tmp_path: Path, scene_index: int
) -> None:
    from dknet.synth import UNKNOWN_RAW_CATEGORIES, generate_scene, write_scannet_scene
    from dknet.synth.labels_table import format_label_table

    synthetic = generate_scene(scene_index, 0, vertex_spacing=0.1)
    write_scannet_scene(synthetic, tmp_path)
    table_path = tmp_path / "scannetv2-labels.combined.tsv"
    table_path.write_text(format_label_table())
    scene = read_scene(tmp_path / "scans" / synthetic.scene_id, read_label_table(table_path))

    np.testing.assert_array_equal(scene.coords, synthetic.vertices)
    np.testing.assert_array_equal(scene.colors, synthetic.colors)
    np.testing.assert_array_equal(scene.nyu40_ids, synthetic.nyu40)
    np.testing.assert_array_equal(scene.object_ids, synthetic.instance_ids)
    grouped = synthetic.instance_ids >= 0
    expected_gt = np.where(grouped, synthetic.nyu40 * 1000 + synthetic.instance_ids + 1, 0)
    np.testing.assert_array_equal(scene.gt_ids, expected_gt)
    # Superpoints are the generator's segments, relabelled compactly.
    np.testing.assert_array_equal(
        scene.superpoints, np.unique(synthetic.segments, return_inverse=True)[1]
    )
    # Instances: exactly the generator's groups other than wall/floor, one id per group.
    is_instance = grouped & ~np.isin(synthetic.nyu40, [1, 2])
    assert np.all(scene.instance_labels[~is_instance] == IGNORE_LABEL)
    pairs = np.unique(
        np.stack([synthetic.instance_ids[is_instance], scene.instance_labels[is_instance]]), axis=1
    )
    assert len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]
    np.testing.assert_array_equal(np.unique(pairs[1]), np.arange(pairs.shape[1]))
    np.testing.assert_array_equal(scene.semantic_labels, semantic_from_nyu40(synthetic.nyu40))
    # Unknown raw categories are counted with their vertex totals.
    unknown = {
        obj.raw_category: int((synthetic.instance_ids == obj.object_id).sum())
        for obj in synthetic.objects
        if obj.raw_category in UNKNOWN_RAW_CATEGORIES
    }
    assert scene.unknown_labels == unknown
