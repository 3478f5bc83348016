"""Training augmentation: each step against a direct reference, then the composed pipeline."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.interpolate
import scipy.ndimage

from dknet.data.batch import PointBatch
from dknet.data.collate import collate_scenes
from dknet.data.transforms import (
    SceneArrays,
    TrainAugmentation,
    color_shift,
    crop,
    elastic_distortion,
    random_linear_map,
    random_linear_matrix,
    reindex_instances,
    voxel_subsample,
)
from dknet.errors import ConfigError


def _scene(n: int = 400, seed: int = 0, *, num_instances: int = 6, extent: float = 3.0):
    rng = np.random.default_rng(seed)
    coords = rng.uniform(-extent, extent, size=(n, 3)).astype(np.float32)
    instance = rng.integers(-1, num_instances, size=n) * 3  # sparse ids, -3 included
    instance[instance < 0] = -1
    return SceneArrays(
        scene_id=f"scene{seed:04d}_00",
        coords=coords,
        colors=rng.integers(0, 256, size=(n, 3)).astype(np.uint8),
        semantic_labels=rng.integers(-1, 20, size=n),
        instance_labels=instance.astype(np.int64),
        superpoints=rng.integers(0, n // 4, size=n) + 7,
    )


# ---------------------------------------------------------------------------- linear map


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_linear_matrix_is_the_documented_formula(seed: int) -> None:
    ref_rng = np.random.default_rng(seed)
    m = np.eye(3) + ref_rng.standard_normal((3, 3)) * 0.1
    m[0][0] *= ref_rng.integers(0, 2) * 2 - 1
    theta = ref_rng.random() * 2 * math.pi
    rotation = np.array(
        [[math.cos(theta), math.sin(theta), 0], [-math.sin(theta), math.cos(theta), 0], [0, 0, 1]]
    )
    expected = np.matmul(m, rotation)

    rng = np.random.default_rng(seed)
    np.testing.assert_array_equal(random_linear_matrix(rng), expected)
    # Nothing else was drawn.
    assert rng.random() == ref_rng.random()

    coords = _scene(50, seed).coords
    mapped = random_linear_map(coords, np.random.default_rng(seed))
    assert mapped.dtype == np.float64 and mapped.shape == (50, 3)
    np.testing.assert_allclose(mapped, coords.astype(np.float64) @ expected, rtol=1e-13)


def test_linear_map_row_vector_rotation_and_disabled_parts() -> None:
    # Rotation only: the x axis goes to (cos, sin, 0) -- the row-vector convention xyz @ M.
    rng = np.random.default_rng(7)
    theta = np.random.default_rng(7).random() * 2 * math.pi
    out = random_linear_map(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 2.0]]), rng, jitter=0, flip=False)
    np.testing.assert_allclose(out, [[math.cos(theta), math.sin(theta), 0.0], [0, 0, 2.0]])

    # Everything off: identity, and the generator is untouched.
    rng = np.random.default_rng(3)
    m = random_linear_matrix(rng, jitter=0.0, flip=False, rotate=False)
    np.testing.assert_array_equal(m, np.eye(3))
    assert rng.random() == np.random.default_rng(3).random()


def test_linear_map_distribution() -> None:
    rng = np.random.default_rng(11)
    jittered = np.stack([random_linear_matrix(rng, flip=False, rotate=False) for _ in range(4000)])
    noise = jittered - np.eye(3)
    assert np.abs(noise.mean(axis=0)).max() < 0.01
    np.testing.assert_allclose(noise.std(axis=0), 0.1, atol=0.006)

    flips = np.stack([random_linear_matrix(rng, jitter=0, rotate=False) for _ in range(4000)])
    assert set(np.unique(flips[:, 0, 0])) == {-1.0, 1.0}
    assert abs((flips[:, 0, 0] < 0).mean() - 0.5) < 0.03
    np.testing.assert_array_equal(flips[:, 1:, 1:], np.broadcast_to(np.eye(2), (4000, 2, 2)))

    rotations = np.stack([random_linear_matrix(rng, jitter=0) for _ in range(4000)])
    np.testing.assert_allclose(np.abs(np.linalg.det(rotations)), 1.0)
    np.testing.assert_allclose(rotations[:, 2], np.broadcast_to([0, 0, 1.0], (4000, 3)))
    angles = np.arctan2(rotations[:, 0, 1], rotations[:, 0, 0]) % (2 * math.pi)
    hist, _ = np.histogram(angles, bins=8, range=(0, 2 * math.pi))
    assert hist.min() > 400 and hist.max() < 600  # uniform: 500 per bin


# ------------------------------------------------------------------- elastic distortion


def _elastic_reference(
    x: np.ndarray, rng: np.random.Generator, gran: float, mag: float
) -> np.ndarray:
    """SparseConvNet's recipe written out: 3-D box kernels and RegularGridInterpolator."""
    blurs = [
        np.ones((3, 1, 1), np.float32) / 3,
        np.ones((1, 3, 1), np.float32) / 3,
        np.ones((1, 1, 3), np.float32) / 3,
    ]
    bb = [int(v) for v in np.abs(x).max(0).astype(np.int32) // gran + 3]
    noise = list(rng.standard_normal((3, *bb), dtype=np.float32))
    for blur in blurs + blurs:
        noise = [scipy.ndimage.convolve(n, blur, mode="constant", cval=0) for n in noise]
    axes = [np.linspace(-(b - 1) * gran, (b - 1) * gran, b) for b in bb]
    interps = [
        scipy.interpolate.RegularGridInterpolator(axes, n, bounds_error=False, fill_value=0)
        for n in noise
    ]
    return x + np.stack([f(x) for f in interps], axis=1) * mag


def _box_smooth_loops(volume: np.ndarray) -> np.ndarray:
    """One 3-tap box pass along each axis with zero padding, as explicit loops."""
    out = volume.astype(np.float64)
    for axis in range(3):
        src = np.moveaxis(out, axis, 0)
        dst = np.zeros_like(src)
        for i in range(src.shape[0]):
            for j in (i - 1, i, i + 1):
                if 0 <= j < src.shape[0]:
                    dst[i] += src[j] / 3
        out = np.moveaxis(dst, 0, axis)
    return out


@pytest.mark.parametrize(("gran", "mag"), [(6, 40), (20, 160), (2.5, 3.0)])
@pytest.mark.parametrize("seed", [0, 1])
def test_elastic_matches_the_reference_recipe(gran: float, mag: float, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    x = rng.uniform(-40, 40, size=(300, 3)) * np.array([1.0, 0.6, 0.3])
    x[0] = 0.0
    got = elastic_distortion(x, np.random.default_rng(seed), granularity=gran, magnitude=mag)
    expected = _elastic_reference(x, np.random.default_rng(seed), gran, mag)
    assert got.shape == x.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9 * mag)
    assert not np.allclose(got, x)


def test_elastic_smoothing_and_interpolation_by_hand() -> None:
    """At a grid node the displacement is that node's smoothed noise; halfway, the mean."""
    gran = 2.0
    corner = np.array([[9.0, -5.0, 3.0]])  # fixes the grid: 9 // 2 + 3 = 7, 5, 4 nodes
    bb = (7, 5, 4)
    nodes = [-(b - 1) * gran + 2 * gran * np.arange(b) for b in bb]
    # Probe the nodes within the corner's extent, so the probes leave the grid size alone.
    inner = [np.flatnonzero(np.abs(n) <= e) for n, e in zip(nodes, np.abs(corner[0]), strict=True)]
    idx = np.stack(np.meshgrid(*inner, indexing="ij"), axis=-1).reshape(-1, 3)
    at_nodes = np.stack([nodes[a][idx[:, a]] for a in range(3)], axis=1)
    halfway = at_nodes[:1] + np.array([gran, 0.0, 0.0])
    probe = np.concatenate([corner, at_nodes, halfway])

    out = elastic_distortion(probe, np.random.default_rng(5), granularity=gran, magnitude=1.0)

    noise = np.random.default_rng(5).standard_normal((3, *bb), dtype=np.float32)
    smoothed = np.stack([_box_smooth_loops(_box_smooth_loops(n)) for n in noise])
    expected = smoothed[:, idx[:, 0], idx[:, 1], idx[:, 2]].T
    np.testing.assert_allclose(out[1:-1] - at_nodes, expected, atol=1e-6)
    i, j, k = idx[0]
    mean = 0.5 * (smoothed[:, i, j, k] + smoothed[:, i + 1, j, k])
    np.testing.assert_allclose(out[-1] - halfway[0], mean, atol=1e-6)


def test_elastic_edge_cases() -> None:
    empty = elastic_distortion(
        np.zeros((0, 3)), np.random.default_rng(0), granularity=6, magnitude=40
    )
    assert empty.shape == (0, 3)
    x = np.random.default_rng(0).uniform(-10, 10, (20, 3))
    np.testing.assert_array_equal(
        elastic_distortion(x, np.random.default_rng(0), granularity=6, magnitude=0.0), x
    )
    with pytest.raises(ValueError, match="granularity"):
        elastic_distortion(x, np.random.default_rng(0), granularity=0, magnitude=1.0)


# -------------------------------------------------------------------------------- crop


def _crop_reference(
    x: np.ndarray, rng: np.random.Generator, max_points: int, full_scale: int, step: int
) -> np.ndarray:
    """The authors' rule, point by point."""
    x = x - x.min(0)
    valid = [True] * len(x)
    side = [float(full_scale)] * 3
    extent = x.max(0) - x.min(0)
    while sum(valid) > max_points:
        u = rng.random(3)
        offset = [min(side[a] - extent[a] + 0.001, 0.0) * u[a] for a in range(3)]
        valid = [all(0 <= p[a] + offset[a] < side[a] for a in range(3)) for p in x]
        side[0] -= step
        side[1] -= step
    return np.array(valid, dtype=bool)


@pytest.mark.parametrize("seed", range(6))
def test_crop_matches_the_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 40, size=(300, 3)) + 5.0
    keep = crop(x, np.random.default_rng(seed), max_points=60, full_scale=32, step=4)
    expected = _crop_reference(x, np.random.default_rng(seed), 60, 32, 4)
    np.testing.assert_array_equal(keep, expected)
    assert 0 < keep.sum() <= 60
    kept = x[keep]
    # Inside one box whose z side is never shrunk and whose x/y side shrank.
    assert np.all(np.ptp(kept, axis=0) < [32, 32, 32])


def test_crop_small_scene_draws_nothing() -> None:
    x = np.random.default_rng(0).uniform(0, 1000, (100, 3))
    rng = np.random.default_rng(1)
    keep = crop(x, rng, max_points=100)
    assert keep.dtype == bool and keep.all()
    assert rng.random() == np.random.default_rng(1).random()
    with pytest.raises(ValueError, match="step"):
        crop(x, rng, max_points=10, step=0)


def test_reindex_instances_against_unique() -> None:
    rng = np.random.default_rng(0)
    for ids in (
        rng.integers(-1, 30, 500) * 7,
        np.array([5, -1, 5, 2, -100, 9, 2], dtype=np.int64),
        np.array([10**12, 3, -1, 10**12]),  # sparse ids take the sorting path
        np.full(4, -1),
        np.zeros(0, dtype=np.int64),
    ):
        out = reindex_instances(ids)
        expected = np.full(ids.shape, -1)
        valid = ids >= 0
        expected[valid] = np.unique(ids[valid], return_inverse=True)[1]
        np.testing.assert_array_equal(out, expected)
        assert out.dtype == np.int64
    np.testing.assert_array_equal(
        reindex_instances(np.array([5, -1, 5, 2, -100, 9, 2])), [1, -1, 1, 0, -1, 2, 0]
    )


def test_color_shift_is_one_offset_per_channel() -> None:
    colors = np.random.default_rng(0).uniform(-1, 1, (50, 3)).astype(np.float32)
    out = color_shift(colors, np.random.default_rng(4), std=0.1)
    expected = (np.random.default_rng(4).standard_normal(3) * 0.1).astype(np.float32)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, colors + expected)
    shifts = np.stack(
        [color_shift(np.zeros((1, 3)), np.random.default_rng(s))[0] for s in range(3000)]
    )
    np.testing.assert_allclose(shifts.std(axis=0), 0.1, atol=0.006)


# --------------------------------------------------------------------------- composed


def test_disabled_augmentation_equals_point_batch_from_scene() -> None:
    scene = _scene(500, 3)
    sample = TrainAugmentation(enabled=False)(scene, np.random.default_rng(0))
    got = collate_scenes([sample])
    ref = PointBatch.from_scene(
        scene.coords,
        scene.colors,
        scene_id=scene.scene_id,
        semantic_labels=scene.semantic_labels,
        instance_labels=scene.instance_labels,
        superpoints=scene.superpoints,
    )
    for name in ("coords", "grid_coords", "features", "ptr", "semantic_labels",
                 "instance_labels", "instance_ptr", "superpoints"):  # fmt: skip
        a, b = getattr(got, name), getattr(ref, name)
        assert a.dtype == b.dtype, name
        assert bool((a == b).all()), name
    assert got.scene_ids == ref.scene_ids


def test_training_augmentation_is_the_documented_chain() -> None:
    scene = _scene(3000, 1, extent=4.0)
    aug = TrainAugmentation(max_points=1200)
    sample = aug(scene, np.random.default_rng(9))

    rng = np.random.default_rng(9)
    metric = random_linear_map(scene.coords, rng)
    grid = metric * 50.0
    grid = elastic_distortion(grid, rng, granularity=6, magnitude=40)
    grid = elastic_distortion(grid, rng, granularity=20, magnitude=160)
    grid -= grid.min(0)
    keep = crop(grid, rng, max_points=1200, full_scale=512, step=32)
    assert 0 < keep.sum() <= 1200  # the crop did act
    rgb = color_shift(scene.colors[keep] / np.float32(127.5) - np.float32(1), rng)
    grid = grid[keep] - grid[keep].min(0)

    np.testing.assert_array_equal(sample.point_idx, np.flatnonzero(keep))
    np.testing.assert_array_equal(sample.coords, metric[keep].astype(np.float32))
    np.testing.assert_array_equal(sample.grid_coords, grid.astype(np.float32))
    np.testing.assert_array_equal(sample.features[:, :3], rgb)
    np.testing.assert_array_equal(sample.features[:, 3:], sample.coords)
    np.testing.assert_array_equal(sample.semantic_labels, scene.semantic_labels[keep])
    assert sample.grid_coords.min() == 0.0 and sample.grid_coords.dtype == np.float32

    # Instance ids after the crop: compact, and each new id is exactly one old id.
    old = scene.instance_labels[keep]
    new = sample.instance_labels
    np.testing.assert_array_equal(new < 0, old < 0)
    assert sample.num_instances == len(np.unique(old[old >= 0]))
    assert set(np.unique(new[new >= 0])) == set(range(sample.num_instances))
    pairs = np.unique(np.stack([old[old >= 0], new[new >= 0]]), axis=1)
    assert pairs.shape[1] == sample.num_instances
    assert np.all(np.diff(pairs[0]) > 0) and np.all(np.diff(pairs[1]) > 0)  # order kept
    assert sample.superpoints is not None
    assert set(np.unique(sample.superpoints)) == set(range(sample.num_superpoints))


def test_training_augmentation_is_deterministic_and_random() -> None:
    scene = _scene(800, 2)
    aug = TrainAugmentation()
    a = aug(scene, np.random.default_rng([1, 2, 3]))
    b = aug(scene, np.random.default_rng([1, 2, 3]))
    c = aug(scene, np.random.default_rng([1, 2, 4]))
    np.testing.assert_array_equal(a.grid_coords, b.grid_coords)
    np.testing.assert_array_equal(a.features, b.features)
    assert not np.array_equal(a.coords, c.coords)
    # No crop under 250 000 points: every point kept, in order.
    np.testing.assert_array_equal(a.point_idx, np.arange(800))
    # The grid coordinates are distorted, the metric ones are not.
    matrix = random_linear_matrix(np.random.default_rng([1, 2, 3]))
    np.testing.assert_allclose(a.coords, scene.coords @ matrix, atol=1e-5)
    assert np.abs(a.grid_coords - (a.coords * 50 - (a.coords * 50).min(0))).max() > 1.0


def test_empty_scene_and_bad_parameters() -> None:
    empty = SceneArrays(
        "empty",
        np.zeros((0, 3), np.float32),
        np.zeros((0, 3), np.uint8),
        np.zeros(0, np.int64),
        np.zeros(0, np.int64),
        None,
    )
    for aug in (TrainAugmentation(), TrainAugmentation(enabled=False)):
        sample = aug(empty, np.random.default_rng(0))
        assert sample.num_points == 0 and sample.features.shape == (0, 6)
        assert sample.num_instances == 0 and sample.superpoints is None
    for bad in (
        dict(voxel_size=0.0),
        dict(jitter=-1.0),
        dict(elastic=((0.0, 40.0),)),
        dict(crop_step=0),
        dict(max_points=-1),
    ):
        with pytest.raises(ConfigError):
            TrainAugmentation(**bad)  # type: ignore[arg-type]


def test_density_subsampling_keeps_a_random_fraction_first() -> None:
    scene = _scene(4000, 3)
    aug = TrainAugmentation(keep_fraction=(0.3, 0.5), max_points=10**6)
    sample = aug(scene, np.random.default_rng(5))

    rng = np.random.default_rng(5)
    fraction = rng.uniform(0.3, 0.5)
    kept = np.flatnonzero(rng.random(4000) < fraction)
    metric = random_linear_map(scene.coords[kept], rng)
    assert 0.3 * 4000 * 0.9 < kept.shape[0] < 0.5 * 4000 * 1.1
    np.testing.assert_array_equal(sample.point_idx, kept)
    np.testing.assert_array_equal(sample.coords, metric.astype(np.float32))
    np.testing.assert_array_equal(sample.semantic_labels, scene.semantic_labels[kept])
    old = scene.instance_labels[kept]
    np.testing.assert_array_equal(sample.instance_labels < 0, old < 0)
    assert sample.num_instances == len(np.unique(old[old >= 0]))
    # (1, 1), the default, draws nothing: the paper's random stream is unchanged.
    full = TrainAugmentation(max_points=10**6)(scene, np.random.default_rng(5))
    reference = random_linear_map(scene.coords, np.random.default_rng(5))
    np.testing.assert_array_equal(full.coords, reference.astype(np.float32))
    for bad in ((0.0, 0.5), (0.6, 0.5), (0.5, 1.5)):
        with pytest.raises(ConfigError, match="keep_fraction"):
            TrainAugmentation(keep_fraction=bad)


def test_voxel_subsample_matches_a_per_voxel_loop() -> None:
    rng = np.random.default_rng(11)
    grid = rng.uniform(0, 6, size=(3000, 3)).astype(np.float32)
    grid[:500] = np.float32(2.5)  # one crowded voxel
    for per_voxel in (1, 2, 5):
        kept, voxel_of_point, num_voxels = voxel_subsample(
            grid, np.random.default_rng(3), per_voxel
        )
        cells = [tuple(c) for c in np.floor(grid).astype(np.int64)]
        members: dict[tuple[int, ...], list[int]] = {}
        for i, cell in enumerate(cells):
            members.setdefault(cell, []).append(i)
        assert num_voxels == len(members)
        kept_set = set(kept.tolist())
        assert len(kept_set) == kept.shape[0] and np.all(np.diff(kept) > 0)
        for points in members.values():
            # one voxel index per voxel, distinct between voxels
            assert len({int(voxel_of_point[i]) for i in points}) == 1
            assert sum(i in kept_set for i in points) == min(len(points), per_voxel)
        assert len(set(voxel_of_point.tolist())) == num_voxels
    # The choice within a voxel is random: another seed picks other points of the crowded one.
    a = voxel_subsample(grid, np.random.default_rng(1), 1)[0]
    b = voxel_subsample(grid, np.random.default_rng(2), 1)[0]
    assert a[0] != b[0] and a[0] < 500 and b[0] < 500
    empty = voxel_subsample(np.zeros((0, 3), np.float32), rng, 1)
    assert empty[0].shape == (0,) and empty[2] == 0


def test_points_per_voxel_keeps_the_voxels_and_their_mean_features() -> None:
    scene = _scene(6000, 4, extent=1.0)
    aug = TrainAugmentation(voxel_size=0.2, max_points=10**6, elastic=())
    full = aug(scene, np.random.default_rng(9))
    thin = TrainAugmentation(voxel_size=0.2, max_points=10**6, elastic=(), points_per_voxel=1)(
        scene, np.random.default_rng(9)
    )
    cells_full = np.floor(full.grid_coords).astype(np.int64)
    cells_thin = np.floor(thin.grid_coords).astype(np.int64)
    voxels, inverse = np.unique(cells_full, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    # Every voxel of the full sample survives, with exactly one point.
    assert thin.coords.shape[0] == voxels.shape[0] < full.coords.shape[0]
    np.testing.assert_array_equal(np.unique(cells_thin, axis=0), voxels)
    # Each kept point is a point of the full sample (same draws before the subsampling) ...
    rows = np.searchsorted(full.point_idx, thin.point_idx)
    np.testing.assert_array_equal(full.point_idx[rows], thin.point_idx)
    np.testing.assert_array_equal(thin.coords, full.coords[rows])
    np.testing.assert_array_equal(thin.grid_coords, full.grid_coords[rows])
    np.testing.assert_array_equal(thin.semantic_labels, full.semantic_labels[rows])
    old = full.instance_labels[rows]
    np.testing.assert_array_equal(thin.instance_labels < 0, old < 0)
    # ... and carries the mean input features of all the full sample's points of its voxel.
    sums = np.zeros((voxels.shape[0], full.features.shape[1]))
    np.add.at(sums, inverse, full.features.astype(np.float64))
    means = sums / np.bincount(inverse)[:, None]
    np.testing.assert_allclose(thin.features, means[inverse[rows]], atol=1e-5)
    with pytest.raises(ConfigError, match="points_per_voxel"):
        TrainAugmentation(points_per_voxel=-1)
