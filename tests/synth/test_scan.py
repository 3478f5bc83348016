"""Tests of the scan-like preset, the options object, the clean preset's pinned output and
``dknet synth --report``."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dknet.cli import app
from dknet.errors import ConfigError
from dknet.synth import generate_dataset, generate_scene, preset_options
from dknet.synth.labels_table import SCAN_RAW_CATEGORIES
from dknet.synth.options import ColorOptions, ContentOptions, GeometryOptions, SynthOptions
from dknet.synth.report import REAL_RANGES, dataset_report, scene_statistics
from dknet.synth.scene import scan_scene_with_sources
from dknet.synth.shapes import INSIDE_TOLERANCE, Box, FoldedSheet

FAST = 0.1  # metres: coarse scan-like scenes for speed
CLEAN = preset_options("clean")

#: sha256 over (vertices, colors, faces, segments, nyu40, instance_ids, repr(objects)) of clean
#: scenes, recorded with the generator before the scan preset existed (commit 54ecc18).
CLEAN_SCENE_HASHES = {
    (0, 0.08): "c32cfa8579daf6249d451de7a152a1c9e2c0ee660c970303b7ed0cf3387afe73",
    (3, 0.08): "1accfef5815a960ca54243a2c58264091ea7d3ebf14f5522ba9d4e748d96db67",
}
#: Hash of every file (path and content) of a 3-scene clean dataset, seed 0, spacing 0.1, same
#: commit.
CLEAN_TREE_HASH = "50a78cfd7629deaeeded0746408b93946cc6aef929b34c35478b74283a3986ef"


def _scene_hash(scene: object) -> str:
    digest = hashlib.sha256()
    for name in ("vertices", "colors", "faces", "segments", "nyu40", "instance_ids"):
        digest.update(np.ascontiguousarray(getattr(scene, name)).tobytes())
    digest.update(repr(scene.objects).encode())  # type: ignore[attr-defined]
    return digest.hexdigest()


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(root)).encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# The clean preset is the generator of before, byte for byte


@pytest.mark.parametrize(("index", "spacing"), sorted(CLEAN_SCENE_HASHES))
def test_clean_preset_arrays_unchanged(index: int, spacing: float) -> None:
    scene = generate_scene(index, 0, vertex_spacing=spacing, options=CLEAN)
    assert _scene_hash(scene) == CLEAN_SCENE_HASHES[(index, spacing)]
    assert scene.axis_alignment is None and scene.draws == {}


def test_cli_clean_preset_files_unchanged(tmp_path: Path) -> None:
    argv = ["synth", str(tmp_path / "clean"), "--scenes", "3", "--seed", "0"]
    argv += ["--vertex-spacing", "0.1", "--preset", "clean", "-j", "1"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert _tree_hash(tmp_path / "clean") == CLEAN_TREE_HASH


# ---------------------------------------------------------------------------------------------
# Scan preset: determinism, validity, exact ground truth


def test_scan_scene_is_deterministic_and_seed_dependent() -> None:
    a = generate_scene(1, 3, vertex_spacing=FAST)
    b = generate_scene(1, 3, vertex_spacing=FAST)
    assert _scene_hash(a) == _scene_hash(b) and a.draws == b.draws
    np.testing.assert_array_equal(a.axis_alignment, b.axis_alignment)
    c = generate_scene(1, 4, vertex_spacing=FAST)
    assert _scene_hash(a) != _scene_hash(c)


def test_scan_dataset_files_identical_for_any_worker_count(tmp_path: Path) -> None:
    kwargs = {"num_scenes": 2, "seed": 1, "vertex_spacing": 0.12}
    generate_dataset(tmp_path / "one", workers=1, **kwargs)
    generate_dataset(tmp_path / "two", workers=2, **kwargs)
    assert _tree_hash(tmp_path / "one") == _tree_hash(tmp_path / "two")


def test_scan_mesh_is_valid_and_labels_consistent() -> None:
    for index in range(6):
        scene = generate_scene(index, 0, vertex_spacing=FAST)
        v = scene.num_vertices
        assert scene.vertices.dtype == np.float32 and np.isfinite(scene.vertices).all()
        assert scene.faces.min() >= 0 and scene.faces.max() < v
        assert np.all(np.bincount(scene.faces.reshape(-1), minlength=v) > 0)
        # Every segment lies in one group (or none); groups list exactly their segments.
        for obj in scene.objects:
            mask = np.isin(scene.segments, obj.segments)
            assert np.array_equal(mask, scene.instance_ids == obj.object_id)
            assert np.all(scene.nyu40[mask] == obj.nyu40_id)
        raw = {o.raw_category for o in scene.objects}
        assert raw <= {row.raw_category for row in SCAN_RAW_CATEGORIES}
        # The recorded alignment undoes the yaw: the room is axis-aligned and near the origin.
        aligned = scene.vertices @ scene.axis_alignment[:3, :3].T + scene.axis_alignment[:3, 3]
        lo, hi = np.percentile(aligned, [1, 99], axis=0)
        assert np.all(lo[:2] > -0.5) and np.all(hi[:2] < 12)


def _on_box_surface(box: Box, points: np.ndarray) -> np.ndarray:
    """Within 1e-4 m of the box's boundary (``contains`` is strict by INSIDE_TOLERANCE)."""
    grown = dataclasses.replace(box, size=tuple(s + 4 * INSIDE_TOLERANCE for s in box.size))
    return grown.contains(points) & ~box.contains(points)


def test_ground_truth_is_exact() -> None:
    """Every labelled vertex was sampled from a part of the object it is labelled with, and the
    deformation moves it by no more than its ranges allow."""
    still = SynthOptions(
        geometry=dataclasses.replace(
            GeometryOptions(),
            surface_noise=(0.0, 0.0),
            warp_amplitude=(0.0, 0.0),
            wobble_deg=(0.0, 0.0),
            tilt_deg=(0.0, 0.0),
        )
    )
    for index in (0, 4):
        scene, src = scan_scene_with_sources(index, 2, vertex_spacing=FAST, options=still)
        mesh = src.mesh
        part_owner = np.asarray(src.owners)[mesh.part]
        assert np.array_equal(part_owner, mesh.owner)
        # Labels follow the owner of the sampled part (or no group at all).
        grouped = scene.instance_ids >= 0
        assert np.all(mesh.owner[grouped] >= 0)
        by_id = {o.object_id: o for o in scene.objects}
        for k in np.unique(scene.instance_ids[grouped]):
            owners = np.unique(mesh.owner[scene.instance_ids == k])
            assert len(owners) == 1
            assert src.labels[int(owners[0])] == by_id[int(k)].raw_category
        # Vertices lie on their part: box faces, wall planes, the floor.
        tol = 1e-6
        for j, part in enumerate(src.parts):
            pts = mesh.points[mesh.part == j]
            if not len(pts):
                continue
            if isinstance(part, Box):
                assert _on_box_surface(part, pts).all()
            elif isinstance(part, FoldedSheet) and part.amplitude == 0.0:
                normal = np.array([-np.sin(part.yaw), np.cos(part.yaw), 0.0])
                assert np.abs((pts - np.asarray(part.origin)) @ normal).max() < tol
        floor = mesh.part == len(src.parts)
        assert np.abs(mesh.points[floor, 2]).max() < tol
        # Without noise, warp, wobble and tilt the scan is the room moved rigidly.
        align = scene.axis_alignment
        back = scene.vertices.astype(np.float64) @ align[:3, :3].T + align[:3, 3]
        assert np.abs(back - mesh.points).max() < 1e-4


# ---------------------------------------------------------------------------------------------
# Every range is honoured


def _range_of(options: SynthOptions, name: str, room_type: str) -> tuple[float, float]:
    if name == "room_side":
        return options.contents.sides(room_type)
    for group in (options.geometry, options.contents, options.color):
        if hasattr(group, name):
            return getattr(group, name)
    raise AssertionError(f"draw {name!r} has no option")


def test_every_draw_lies_in_its_range() -> None:
    options = SynthOptions()
    seen: set[str] = set()
    for index in range(6):
        scene = generate_scene(index, 5, vertex_spacing=0.12, options=options)
        for name, values in scene.draws.items():
            lo, hi = _range_of(options, name, scene.room_type)
            assert all(lo - 1e-9 <= v <= hi + 1e-9 for v in values), (name, values, lo, hi)
            seen.add(name)
    range_fields = {
        f.name
        for group in (GeometryOptions, ContentOptions, ColorOptions)
        for f in dataclasses.fields(group)
        if f.type in ("Range", "IntRange")
    }
    # Every range field is drawn somewhere (scan_edge_depth only when the scan edge is cut).
    assert range_fields - seen <= {"scan_edge_depth", "room_sides"}, range_fields - seen


def test_narrowed_ranges_show_in_the_scene() -> None:
    options = SynthOptions(
        geometry=dataclasses.replace(
            GeometryOptions(), tilt_deg=(1.5, 1.5), room_yaw_deg=(0.0, 0.0), wobble_deg=(0, 0)
        ),
        contents=dataclasses.replace(
            ContentOptions(),
            room_sides=tuple((name, 6.0, 6.0) for name, _, _ in ContentOptions().room_sides),
            room_height=(2.6, 2.6),
            room_aspect=(1.0, 1.0),
        ),
        color=dataclasses.replace(ColorOptions(), window_value=(0.7, 0.7)),
    )
    scene = generate_scene(1, 0, vertex_spacing=FAST, options=options)
    stats = scene_statistics(
        scene.scene_id,
        scene.vertices,
        scene.colors,
        scene.nyu40,
        scene.instance_ids,
        axis_alignment=scene.axis_alignment,
    )
    assert stats.floor_tilt_deg == pytest.approx(1.5, abs=0.3)
    assert np.allclose(scene.axis_alignment[:3, :3], np.eye(3))
    assert stats.long_side < 6.3 and stats.height < 2.7
    assert scene.draws["room_side"] == [6.0]


def test_options_validation() -> None:
    assert preset_options("scan") == SynthOptions()
    with pytest.raises(ConfigError, match="preset"):
        preset_options("noisy")
    bad = SynthOptions(geometry=dataclasses.replace(GeometryOptions(), tilt_deg=(2.0, 1.0)))
    with pytest.raises(ConfigError, match="tilt_deg"):
        bad.validate()
    with pytest.raises(ConfigError, match="window_kinds"):
        SynthOptions(
            contents=dataclasses.replace(ContentOptions(), window_kinds=(0.5, 0.5, 0.5))
        ).validate()


# ---------------------------------------------------------------------------------------------
# Report


def test_report_statistics_of_a_known_scene() -> None:
    """A hand-built scene whose every statistic is known."""
    step = 0.02
    g = np.arange(100) * step
    xx, yy = np.meshgrid(g, g, indexing="ij")
    floor = np.stack([xx.ravel(), yy.ravel(), np.zeros(xx.size)], axis=1)  # 10,000 vertices
    tilt = np.radians(1.0)
    rot = np.array([[1, 0, 0], [0, np.cos(tilt), -np.sin(tilt)], [0, np.sin(tilt), np.cos(tilt)]])
    floor = floor @ rot.T
    h = np.arange(50) * step
    ww, hh = np.meshgrid(g[:50], h + 0.5, indexing="ij")
    wall = np.stack([ww.ravel(), np.full(ww.size, -0.5), hh.ravel()], axis=1)  # 2,500
    objects = [np.stack([np.full(n, 5.0 + k), np.arange(n) * step, np.ones(n)], 1) for k, n in
               enumerate((150, 200, 50))]  # fmt: skip
    clutter = np.stack([np.full(100, 9.0), np.arange(100) * step, np.ones(100)], axis=1)
    coords = np.concatenate([floor, wall, *objects, clutter]).astype(np.float32)
    n = len(coords)
    nyu40 = np.concatenate([np.full(10_000, 2), np.full(2500, 1), np.full(400, 5), np.zeros(100)])
    ids = np.concatenate(
        [np.zeros(10_000), np.ones(2500), np.repeat([2, 3, 4], [150, 200, 50]), -np.ones(100)]
    ).astype(np.int64)
    colors = np.zeros((n, 3), dtype=np.uint8)
    colors[n // 2 :] = 200  # n is even: mean 100, standard deviation 100
    segments = np.arange(n) // 10
    stats = scene_statistics("known", coords, colors, nyu40, ids, segments=segments)
    assert stats.num_vertices == n == 13_000
    assert stats.floor_tilt_deg == pytest.approx(1.0, abs=1e-3)
    assert stats.floor_residual_cm == pytest.approx(0.0, abs=1e-3)
    assert stats.nn_spacing_cm == pytest.approx(2.0, rel=1e-3)
    assert stats.wall_share == pytest.approx(100 * 2500 / n)
    assert stats.floor_share == pytest.approx(100 * 10_000 / n)
    assert stats.unlabelled_share == pytest.approx(100 * 100 / n)
    assert stats.object_share == pytest.approx(100 * 400 / n)
    assert stats.num_instances == 2 and stats.median_instance_vertices == 175
    assert stats.rgb_mean == pytest.approx(100.0) and stats.rgb_std == pytest.approx(100.0)
    assert stats.num_segments == 1300 and stats.vertices_per_segment == pytest.approx(10.0)
    assert np.isnan(stats.window_grey)
    rows = dataset_report([stats, stats])
    assert [r.name for r in rows] == [r.name for r in REAL_RANGES]
    tilt_row = rows[[r.key for r in REAL_RANGES].index("floor_tilt_deg")]
    assert tilt_row.inside and tilt_row.median == pytest.approx(1.0, abs=1e-3)
    assert not rows[0].inside  # 13,000 vertices is below the real 81k


def test_cli_report(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "scan"
    argv = ["synth", str(out), "--scenes", "2", "--vertex-spacing", "0.12", "--report", str(out)]
    result = runner.invoke(app, [*argv, "-j", "1"])
    assert result.exit_code == 0, result.output
    assert "Wrote 2 scenes" in result.output
    assert "vertices per" in result.output and "real range" in result.output
    only = runner.invoke(app, ["synth", "--report", str(out)])
    assert only.exit_code == 0 and "vertices per" in only.output
    neither = runner.invoke(app, ["synth"])
    assert neither.exit_code == 2


def test_segments_come_from_scannet_segmentation_of_the_welded_mesh() -> None:
    """ScanNet's over-segmentation runs on the mesh welded at contacts: with "majority" its
    segments straddle sampled objects (labels follow segments); "split" cuts them so every
    group's vertices come from one object."""
    majority = SynthOptions(
        contents=dataclasses.replace(ContentOptions(), straddling_segments="majority")
    )
    scene, src = scan_scene_with_sources(1, 0, vertex_spacing=FAST, options=majority)
    seg = np.unique(scene.segments, return_inverse=True)[1]
    pairs = np.unique(np.stack([seg, src.mesh.owner]), axis=1)
    assert pairs.shape[1] > seg.max() + 1  # some segment spans two sampled owners
    for obj in scene.objects:  # groups are still unions of whole segments
        mask = np.isin(scene.segments, obj.segments)
        assert np.array_equal(mask, scene.instance_ids == obj.object_id)
    split, src = scan_scene_with_sources(1, 0, vertex_spacing=FAST)
    seg = np.unique(split.segments, return_inverse=True)[1]
    pairs = np.unique(np.stack([seg, src.mesh.owner]), axis=1)
    assert pairs.shape[1] == seg.max() + 1
    assert len(split.faces) > len(src.mesh.faces)  # the bridges are part of the written mesh
