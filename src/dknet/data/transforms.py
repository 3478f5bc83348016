"""DKNet's training augmentation (ALGORITHM.md section 2), as pure numpy/scipy functions.

Every random function takes an explicit :class:`numpy.random.Generator`; nothing here touches a
global random state, so a scene's augmentation is fixed by the generator it is given (see
:class:`dknet.data.dataset.SceneDataset` for how each item gets its own).

:class:`TrainAugmentation` composes the steps in the paper's order and turns the stored arrays of
one scene (:class:`SceneArrays`) into what collation packs (:class:`SceneSample`):

1. :func:`random_linear_map` (jitter, flip x, rotation about z) gives the *metric* coordinates;
2. ``metric / voxel_size``, then :func:`elastic_distortion` twice, gives the *grid* coordinates,
   used only to form voxels;
3. :func:`crop` keeps at most 250 000 points; :func:`reindex_instances` renumbers what is left;
4. :func:`color_shift` adds one random offset per colour channel.

The authors' facts followed here (their ``data/scannetv2_inst.py``, itself from SparseConvNet
and PointGroup) are stated in each function's docstring, with every place this module differs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from dknet.data.features import colors_pm1, input_features
from dknet.errors import ConfigError
from dknet.labels import IGNORE_LABEL

__all__ = [
    "SceneArrays",
    "SceneSample",
    "TrainAugmentation",
    "random_linear_matrix",
    "random_linear_map",
    "elastic_distortion",
    "crop",
    "reindex_instances",
    "color_shift",
    "voxel_subsample",
]

#: The 3-tap box filter of the elastic distortion's smoothing (float32 1/3, as SparseConvNet).
_BOX = np.full(3, 1.0, dtype=np.float32) / np.float32(3.0)
#: How often the three per-axis box filters are applied (SparseConvNet applies x, y, z, x, y, z).
_SMOOTHING_PASSES = 2


@dataclass(frozen=True)
class SceneArrays:
    """One scene as stored by ``dknet preprocess`` (every vertex, no augmentation).

    Attributes:
        scene_id: the scene's name, e.g. ``scene0000_00``.
        coords: (N, 3) float32, metres, centred (scene mean subtracted).
        colors: (N, 3) uint8 RGB, 0..255.
        semantic_labels: (N,) int64 class 0..19, or ``IGNORE_LABEL`` (-1).
        instance_labels: (N,) int64 instance id (any non-negative ids), or -1.
        superpoints: (N,) int64 superpoint id (any non-negative ids), or None.
    """

    scene_id: str
    coords: np.ndarray
    colors: np.ndarray
    semantic_labels: np.ndarray
    instance_labels: np.ndarray
    superpoints: np.ndarray | None = None

    @property
    def num_points(self) -> int:
        """N."""
        return int(self.coords.shape[0])


@dataclass(frozen=True)
class SceneSample:
    """One scene ready for collation (:func:`dknet.data.collate.collate_scenes`).

    The fields have the meaning of the same-named :class:`~dknet.data.batch.PointBatch` fields,
    for a single scene and as numpy arrays.

    Attributes:
        scene_id: the scene's name.
        coords: (M, 3) float32 metric coordinates in metres (linear-mapped in training, never
            elastically distorted). M <= N when the crop removed points.
        grid_coords: (M, 3) float32 voxel-unit coordinates (elastically distorted in training),
            each axis starting at 0; a point's voxel is ``floor(grid_coords)``.
        features: (M, 6) float32, ``[r, g, b, x, y, z]``: RGB in [-1, 1] (plus the colour
            shift in training) and xyz equal to ``coords``.
        semantic_labels: (M,) int64 class 0..19, or -1.
        instance_labels: (M,) int64 compact instance id 0..K-1 (ascending in the stored ids),
            or -1.
        num_instances: K.
        superpoints: (M,) int64 compact superpoint id 0..S-1, or None.
        num_superpoints: S (0 when ``superpoints`` is None).
        point_idx: (M,) int64, row of each point in the stored scene (all of ``0..N-1`` in
            order unless the crop removed points).
    """

    scene_id: str
    coords: np.ndarray
    grid_coords: np.ndarray
    features: np.ndarray
    semantic_labels: np.ndarray
    instance_labels: np.ndarray
    num_instances: int
    superpoints: np.ndarray | None
    num_superpoints: int
    point_idx: np.ndarray

    @property
    def num_points(self) -> int:
        """M."""
        return int(self.coords.shape[0])


def random_linear_matrix(
    rng: np.random.Generator,
    *,
    jitter: float = 0.1,
    flip: bool = True,
    rotate: bool = True,
) -> np.ndarray:
    """The random 3x3 matrix of :func:`random_linear_map`.

    Draws, in this order and only for the enabled parts: nine ``N(0, jitter)`` entries added to
    the identity; a fair coin that negates entry ``[0, 0]``; an angle ``theta`` uniform in
    ``[0, 2 pi)``, after which the matrix is right-multiplied by
    ``[[cos, sin, 0], [-sin, cos, 0], [0, 0, 1]]``. Negating only ``[0, 0]`` is the authors'
    rule; since the other entries of the first column are symmetric noise, it has the same
    distribution as negating the whole column, i.e. flipping the output x axis.

    Args:
        rng: the random generator.
        jitter: standard deviation of the noise; 0 draws nothing.
        flip: draw the x flip.
        rotate: draw the rotation about z.

    Returns:
        (3, 3) float64 matrix M, to be applied to row vectors as ``xyz @ M``.
    """
    matrix = np.eye(3)
    if jitter > 0:
        matrix += rng.standard_normal((3, 3)) * jitter
    if flip:
        matrix[0, 0] *= float(rng.integers(0, 2) * 2 - 1)
    if rotate:
        theta = rng.random() * 2.0 * math.pi
        c, s = math.cos(theta), math.sin(theta)
        matrix = matrix @ np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
    return matrix


def random_linear_map(
    coords: np.ndarray,
    rng: np.random.Generator,
    *,
    jitter: float = 0.1,
    flip: bool = True,
    rotate: bool = True,
) -> np.ndarray:
    """Apply a random linear map: identity plus noise, then a flip of x, then a z rotation.

    Args:
        coords: (N, 3) float coordinates (metres), row vectors.
        rng: the random generator (see :func:`random_linear_matrix` for the draws).
        jitter: standard deviation of the noise on the nine entries (0.1 in the paper).
        flip: flip x with probability 0.5.
        rotate: rotate about z by an angle uniform in ``[0, 2 pi)``.

    Returns:
        (N, 3) float64, ``coords @ M`` (to rounding).
    """
    matrix = random_linear_matrix(rng, jitter=jitter, flip=flip, rotate=rotate)
    xyz = np.asarray(coords, dtype=np.float64).reshape(-1, 3)
    # Three broadcast products instead of ``xyz @ matrix``: BLAS would start a thread pool for
    # this (N, 3) x (3, 3) product, which on a busy 2-core machine ran 100x slower.
    out = xyz[:, 0:1] * matrix[0]
    out += xyz[:, 1:2] * matrix[1]
    out += xyz[:, 2:3] * matrix[2]
    return out


def _smoothed_noise(shape: tuple[int, int, int], rng: np.random.Generator) -> np.ndarray:
    """(3, *shape) float32 standard-normal noise, box-smoothed along each spatial axis."""
    noise = rng.standard_normal((3, *shape), dtype=np.float32)
    for _ in range(_SMOOTHING_PASSES):
        for axis in (1, 2, 3):
            # Zero padding outside the grid, as SparseConvNet's constant-mode convolution.
            noise = ndimage.convolve1d(noise, _BOX, axis=axis, mode="constant", cval=0.0)
    return noise


def elastic_distortion(
    coords_vox: np.ndarray,
    rng: np.random.Generator,
    *,
    granularity: float,
    magnitude: float,
) -> np.ndarray:
    """Displace points by smooth random noise (SparseConvNet's elastic distortion).

    The recipe, as SparseConvNet and the authors run it:

    * grid size per axis ``b = trunc(max |x|) // granularity + 3``;
    * three (one per output axis) standard-normal float32 noise volumes of that size;
    * each smoothed by a 3-tap box filter (weights 1/3, zero outside the grid) along x, y, z,
      and that x, y, z sequence applied twice;
    * node ``k`` of an axis sits at ``-(b - 1) * granularity + 2 * granularity * k`` (the
      authors' ``linspace(-(b-1) g, (b-1) g, b)``: nodes ``2 g`` apart, centred on 0);
    * the displacement at a point is the trilinear interpolation of the three volumes (0 for
      a point outside the grid, which the grid size rules out), times ``magnitude``.

    The interpolation here is a vectorised gather of the 8 surrounding nodes; it agrees with
    ``scipy.interpolate.RegularGridInterpolator`` (what the authors call) to rounding.

    Args:
        coords_vox: (N, 3) float coordinates in voxel units, centred near 0 (not yet shifted).
        rng: the random generator (one ``standard_normal`` draw of shape ``(3, *b)``).
        granularity: node half-spacing g in voxels (6 and 20 in the paper), > 0.
        magnitude: displacement scale in voxels (40 and 160 in the paper).

    Returns:
        (N, 3) float64, the displaced coordinates.

    Raises:
        ValueError: ``granularity`` is not positive.
    """
    if not granularity > 0:
        raise ValueError(f"granularity must be > 0, got {granularity}")
    x = np.asarray(coords_vox, dtype=np.float64).reshape(-1, 3)
    if x.shape[0] == 0:
        return x.copy()
    extent = np.abs(x).max(axis=0).astype(np.int32)
    b0, b1, b2 = (int(e // granularity) + 3 for e in extent)
    noise = _smoothed_noise((b0, b1, b2), rng)
    # (b0, b1, b2, 3): one gather per corner fetches all three displacement components.
    table = np.ascontiguousarray(np.moveaxis(noise, 0, -1)).reshape(-1, 3)

    sizes = np.array([b0, b1, b2])
    # Fractional node index per axis: 0 at -(b-1) g, b-1 at +(b-1) g.
    t = (x + (sizes - 1) * granularity) / (2.0 * granularity)
    inside = np.all((t >= 0) & (t <= sizes - 1), axis=1)
    base = np.clip(np.floor(t), 0, sizes - 2).astype(np.int64)
    frac = t - base
    strides = np.array([b1 * b2, b2, 1], dtype=np.int64)
    start = base @ strides
    displacement = np.zeros_like(x)
    for corner in range(8):
        bits = ((corner >> 2) & 1, (corner >> 1) & 1, corner & 1)
        weight = np.ones(x.shape[0])
        for axis, bit in enumerate(bits):
            weight *= frac[:, axis] if bit else 1.0 - frac[:, axis]
        offset = bits[0] * strides[0] + bits[1] * strides[1] + bits[2]
        displacement += weight[:, None] * table[start + offset]
    displacement[~inside] = 0.0
    return x + displacement * magnitude


def crop(
    grid_coords: np.ndarray,
    rng: np.random.Generator,
    *,
    max_points: int = 250_000,
    full_scale: int = 512,
    step: int = 32,
) -> np.ndarray:
    """Choose the points of a random box so that at most ``max_points`` remain.

    The authors' rule: shift the cloud so its minimum is 0 and let ``extent`` be its size per
    axis. While more than ``max_points`` points are kept, draw an offset
    ``min(side - extent + 0.001, 0) * U[0, 1)^3`` (one uniform per axis), keep the points with
    ``0 <= x + offset < side`` on every axis, then shrink the x and y sides by ``step`` (z keeps
    ``full_scale``). Every attempt starts again from all points. A scene with at most
    ``max_points`` points draws nothing and keeps everything.

    Args:
        grid_coords: (N, 3) float voxel-unit coordinates.
        rng: the random generator (three uniforms per attempt).
        max_points: the most points to keep (250 000 in the paper).
        full_scale: the box side of the first attempt, in voxels (512 in the paper).
        step: how much the x and y sides shrink per attempt, > 0 (32 in the paper).

    Returns:
        (N,) bool, the points kept (at most ``max_points``).

    Raises:
        ValueError: ``step`` is not positive or ``max_points`` is negative.
    """
    if step <= 0:
        raise ValueError(f"step must be > 0, got {step}")
    if max_points < 0:
        raise ValueError(f"max_points must be >= 0, got {max_points}")
    x = np.asarray(grid_coords, dtype=np.float64).reshape(-1, 3)
    keep = np.ones(x.shape[0], dtype=bool)
    if x.shape[0] <= max_points:
        return keep
    x = x - x.min(axis=0)
    extent = x.max(axis=0)
    side = np.full(3, float(full_scale))
    num_kept = x.shape[0]
    while num_kept > max_points:
        offset = np.minimum(side - extent + 0.001, 0.0) * rng.random(3)
        moved = x + offset
        keep = np.all((moved >= 0) & (moved < side), axis=1)
        num_kept = int(np.count_nonzero(keep))
        # Terminates: once the x side reaches 0 no point fits.
        side[:2] -= step
    return keep


def _compact_ids(ids: np.ndarray) -> tuple[np.ndarray, int]:
    """Renumber the non-negative ids 0..K-1 in ascending order; negatives become -1."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    out = np.full(ids.shape, IGNORE_LABEL, dtype=np.int64)
    valid = ids >= 0
    values = ids[valid]
    if values.size == 0:
        return out, 0
    top = int(values.max())
    if top < 4 * values.size + 1024:
        # Dense ids (the usual case): a lookup table is O(N), unlike np.unique's sort.
        present = np.zeros(top + 1, dtype=bool)
        present[values] = True
        new_id = np.cumsum(present) - 1
        out[valid] = new_id[values]
        return out, int(new_id[-1]) + 1
    unique, inverse = np.unique(values, return_inverse=True)
    out[valid] = inverse.reshape(-1)
    return out, int(unique.shape[0])


def reindex_instances(instance_labels: np.ndarray) -> np.ndarray:
    """Renumber instance ids compactly (after a crop removed some instances).

    The kept ids keep their order: the smallest becomes 0, the next 1, and so on. Negative
    labels (unlabelled points) become ``IGNORE_LABEL`` (-1). The authors instead move the
    largest id into each gap, which also gives 0..K-1 but reorders the instances; the ids are
    arbitrary names, so the choice changes no loss.

    Args:
        instance_labels: (N,) int instance ids, or negative for none.

    Returns:
        (N,) int64 ids 0..K-1 (K = number of distinct non-negative input ids), or -1.
    """
    return _compact_ids(instance_labels)[0]


def color_shift(
    colors_pm1: np.ndarray, rng: np.random.Generator, *, std: float = 0.1
) -> np.ndarray:
    """Add one random offset per colour channel, the same for every point of the scene.

    Args:
        colors_pm1: (N, 3) float RGB in [-1, 1] (``rgb / 127.5 - 1``).
        rng: the random generator (three normal draws).
        std: standard deviation of the offset (0.1 in the paper).

    Returns:
        (N, 3) float32, ``colors_pm1 + N(0, std)`` per channel (not clipped, as the authors).
    """
    shift = (rng.standard_normal(3) * std).astype(np.float32)
    return np.asarray(colors_pm1, dtype=np.float32) + shift


def _subsample(
    scene: SceneArrays, rng: np.random.Generator, keep_fraction: tuple[float, float]
) -> np.ndarray | None:
    """Indices of the points kept by the density augmentation (None: all, nothing drawn).

    One fraction ``f ~ U(low, high)`` per scene, then each point is kept with probability
    ``f``; at least one point is kept of a non-empty scene.
    """
    low, high = keep_fraction
    if low == 1.0 and high == 1.0:
        return None
    fraction = rng.uniform(low, high)
    n = scene.num_points
    kept = np.flatnonzero(rng.random(n) < fraction)
    if kept.shape[0] == 0 and n:
        kept = np.array([int(rng.integers(n))], dtype=np.int64)
    return kept.astype(np.int64, copy=False)


def voxel_subsample(
    grid_coords: np.ndarray, rng: np.random.Generator, per_voxel: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """At most ``per_voxel`` random points of each occupied voxel.

    A point's voxel is ``floor(grid_coords)``. Draws one permutation of the points; the first
    ``per_voxel`` points of each voxel in that order are kept.

    Args:
        grid_coords: (N, 3) voxel-unit coordinates, each axis starting at 0.
        rng: the random generator.
        per_voxel: how many points each voxel keeps (>= 1).

    Returns:
        ``(kept, voxel_of_point, num_voxels)``: the sorted (K,) int64 indices of the kept
        points, the (N,) int64 voxel index of every point and the number of voxels.
    """
    cells = np.floor(np.asarray(grid_coords, dtype=np.float64).reshape(-1, 3)).astype(np.int64)
    n = cells.shape[0]
    if n == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), 0
    cells -= cells.min(axis=0)
    dims = cells.max(axis=0) + 1
    key = (cells[:, 0] * dims[1] + cells[:, 1]) * dims[2] + cells[:, 2]
    order = rng.permutation(n)
    order = order[np.argsort(key[order], kind="stable")]
    sorted_key = key[order]
    starts = np.empty(n, dtype=bool)
    starts[0] = True
    np.not_equal(sorted_key[1:], sorted_key[:-1], out=starts[1:])
    group = np.cumsum(starts) - 1
    rank = np.arange(n) - np.flatnonzero(starts)[group]
    voxel_of_point = np.empty(n, dtype=np.int64)
    voxel_of_point[order] = group
    kept = np.sort(order[rank < per_voxel])
    return kept, voxel_of_point, int(group[-1]) + 1


def _voxel_means(values: np.ndarray, voxel_of_point: np.ndarray, num_voxels: int) -> np.ndarray:
    """(V, D) float32 mean of the (N, D) ``values`` of each voxel."""
    counts = np.bincount(voxel_of_point, minlength=num_voxels).astype(np.float64)
    sums = np.stack(
        [np.bincount(voxel_of_point, weights=col, minlength=num_voxels) for col in values.T],
        axis=1,
    )
    return (sums / np.maximum(counts, 1.0)[:, None]).astype(np.float32)


def _take(scene: SceneArrays, idx: np.ndarray) -> SceneArrays:
    """The sub-scene of points ``idx`` (every per-point array indexed)."""
    return SceneArrays(
        scene_id=scene.scene_id,
        coords=scene.coords[idx],
        colors=scene.colors[idx],
        semantic_labels=scene.semantic_labels[idx],
        instance_labels=scene.instance_labels[idx],
        superpoints=None if scene.superpoints is None else scene.superpoints[idx],
    )


@dataclass(frozen=True)
class TrainAugmentation:
    """DKNet's training augmentation, applied per scene (defaults: the paper's values).

    Attributes:
        enabled: False applies no augmentation at all (validation and test time): the metric
            coordinates are the stored ones and the grid coordinates ``coords / voxel_size``
            shifted to a zero minimum, computed with exactly the float32 operations of
            :meth:`~dknet.data.batch.PointBatch.from_scene`, so both give the same voxels.
        jitter: standard deviation of the noise added to the identity (0.1).
        flip: flip x with probability 0.5.
        rotate: rotate about z uniformly.
        voxel_size: voxel side in metres (0.02, i.e. scale 50).
        elastic: ``(granularity, magnitude)`` pairs in voxel units, applied in order
            (``((6, 40), (20, 160))``; the authors derive them from 2 cm voxels as
            ``6 * scale // 50`` etc., so scale them when changing ``voxel_size``).
        max_points: crop scenes to at most this many points (250 000).
        full_scale: side of the first crop box in voxels (512).
        crop_step: how much the crop box's x and y sides shrink per attempt (32).
        color_std: standard deviation of the per-scene colour shift (0.1).
        keep_fraction: ``(low, high)``: before anything else, keep each point with a
            probability drawn uniformly from this range per scene, so the network sees scans
            of varying density (not in the paper; default ``(1.0, 1.0)`` keeps every point and
            draws nothing, leaving the paper's random stream unchanged).
        points_per_voxel: after everything else, keep at most this many random points of each
            occupied voxel, each carrying its voxel's mean input features, so the network sees
            exactly the voxels and voxel features of the whole scene while the point-level heads
            and losses run on fewer points (not in the paper; 0, the default, keeps every point
            and draws nothing). With 5 cm voxels and ~2.5 points per voxel, 1 makes a stage-3
            training iteration about a quarter cheaper (benchmarks/RESULTS.md).

    Raises:
        ConfigError: a negative standard deviation, a non-positive voxel size, granularity,
            ``full_scale`` or ``crop_step``, a negative ``max_points`` or ``points_per_voxel``,
            or a ``keep_fraction`` outside ``0 < low <= high <= 1``.
    """

    enabled: bool = True
    jitter: float = 0.1
    flip: bool = True
    rotate: bool = True
    voxel_size: float = 0.02
    elastic: tuple[tuple[float, float], ...] = ((6.0, 40.0), (20.0, 160.0))
    max_points: int = 250_000
    full_scale: int = 512
    crop_step: int = 32
    color_std: float = 0.1
    keep_fraction: tuple[float, float] = (1.0, 1.0)
    points_per_voxel: int = 0

    def __post_init__(self) -> None:
        if self.points_per_voxel < 0:
            raise ConfigError(f"points_per_voxel must be >= 0, got {self.points_per_voxel}")
        if (
            len(self.keep_fraction) != 2
            or not 0 < self.keep_fraction[0] <= self.keep_fraction[1] <= 1
        ):
            raise ConfigError(
                f"keep_fraction must be (low, high) with 0 < low <= high <= 1, got "
                f"{tuple(self.keep_fraction)!r}"
            )
        object.__setattr__(self, "keep_fraction", tuple(float(v) for v in self.keep_fraction))
        if not self.voxel_size > 0:
            raise ConfigError(f"voxel_size must be > 0, got {self.voxel_size}")
        if self.jitter < 0 or self.color_std < 0:
            raise ConfigError(
                f"jitter and color_std must be >= 0, got {self.jitter} and {self.color_std}"
            )
        for pair in self.elastic:
            if len(pair) != 2 or not pair[0] > 0:
                raise ConfigError(
                    f"elastic entries must be (granularity > 0, magnitude), got {pair!r}"
                )
        if self.max_points < 0 or self.full_scale <= 0 or self.crop_step <= 0:
            raise ConfigError(
                "max_points must be >= 0 and full_scale, crop_step > 0, got "
                f"{self.max_points}, {self.full_scale}, {self.crop_step}"
            )

    @property
    def scale(self) -> float:
        """Voxels per metre, ``1 / voxel_size``."""
        return 1.0 / self.voxel_size

    def __call__(self, scene: SceneArrays, rng: np.random.Generator) -> SceneSample:
        """Augment one scene.

        Random draws, in order: density subsampling (only when ``keep_fraction`` is not
        ``(1, 1)``), linear map, each elastic distortion, crop attempts, colour shift, voxel
        subsampling (only when ``points_per_voxel`` > 0). A
        scene that loses all its instances to the crop is returned with ``num_instances == 0``.

        Args:
            scene: the stored arrays (not modified).
            rng: the random generator (unused when ``enabled`` is False).

        Returns:
            The sample; see :class:`SceneSample` for shapes and dtypes.
        """
        if not self.enabled:
            return self._identity(scene)
        kept = _subsample(scene, rng, self.keep_fraction)
        if kept is not None:
            scene = _take(scene, kept)
        n = scene.num_points
        metric = random_linear_map(
            scene.coords, rng, jitter=self.jitter, flip=self.flip, rotate=self.rotate
        )
        grid = metric * self.scale
        for granularity, magnitude in self.elastic:
            grid = elastic_distortion(grid, rng, granularity=granularity, magnitude=magnitude)
        if n:
            grid -= grid.min(axis=0)
        keep = crop(
            grid,
            rng,
            max_points=self.max_points,
            full_scale=self.full_scale,
            step=self.crop_step,
        )
        point_idx = np.flatnonzero(keep) if not keep.all() else np.arange(n, dtype=np.int64)
        colors = scene.colors
        semantic = scene.semantic_labels
        instance = scene.instance_labels
        superpoints = scene.superpoints
        if point_idx.shape[0] != n:
            metric, grid, colors = metric[point_idx], grid[point_idx], colors[point_idx]
            semantic, instance = semantic[point_idx], instance[point_idx]
            superpoints = None if superpoints is None else superpoints[point_idx]
            if point_idx.shape[0]:
                # The authors keep the crop's offset; re-shifting instead keeps every axis
                # starting at 0 (PointBatch's contract). Both are a random sub-voxel alignment.
                grid -= grid.min(axis=0)
        rgb = color_shift(colors_pm1(colors), rng, std=self.color_std)
        metric32 = metric.astype(np.float32)
        grid32 = grid.astype(np.float32)
        if kept is not None:
            point_idx = kept[point_idx]
        features = None
        if self.points_per_voxel and point_idx.shape[0]:
            # Voxels from the float32 grid the model will floor, so no voxel is lost or split.
            chosen, voxel_of_point, num_voxels = voxel_subsample(grid32, rng, self.points_per_voxel)
            means = _voxel_means(input_features(rgb, metric32), voxel_of_point, num_voxels)
            features = means[voxel_of_point[chosen]]
            metric32, grid32, rgb = metric32[chosen], grid32[chosen], rgb[chosen]
            semantic, instance = semantic[chosen], instance[chosen]
            superpoints = None if superpoints is None else superpoints[chosen]
            point_idx = point_idx[chosen]
        return self._sample(
            scene.scene_id,
            metric32,
            grid32,
            rgb,
            semantic,
            instance,
            superpoints,
            point_idx.astype(np.int64, copy=False),
            features=features,
        )

    def _identity(self, scene: SceneArrays) -> SceneSample:
        xyz = np.ascontiguousarray(scene.coords, dtype=np.float32).reshape(-1, 3)
        n = xyz.shape[0]
        scaled = xyz * np.float32(1.0 / self.voxel_size)
        grid = scaled - scaled.min(axis=0, keepdims=True) if n else scaled
        return self._sample(
            scene.scene_id,
            xyz,
            grid,
            colors_pm1(scene.colors),
            scene.semantic_labels,
            scene.instance_labels,
            scene.superpoints,
            np.arange(n, dtype=np.int64),
        )

    @staticmethod
    def _sample(
        scene_id: str,
        coords: np.ndarray,
        grid: np.ndarray,
        rgb: np.ndarray,
        semantic: np.ndarray,
        instance: np.ndarray,
        superpoints: np.ndarray | None,
        point_idx: np.ndarray,
        *,
        features: np.ndarray | None = None,
    ) -> SceneSample:
        instance_ids, num_instances = _compact_ids(instance)
        superpoint_ids, num_superpoints = (
            (None, 0) if superpoints is None else _compact_ids(superpoints)
        )
        if features is None:
            features = input_features(rgb, coords)
        return SceneSample(
            scene_id=scene_id,
            coords=np.ascontiguousarray(coords, dtype=np.float32),
            grid_coords=np.ascontiguousarray(grid, dtype=np.float32),
            features=np.ascontiguousarray(features),
            semantic_labels=np.asarray(semantic, dtype=np.int64).reshape(-1),
            instance_labels=instance_ids,
            num_instances=num_instances,
            superpoints=superpoint_ids,
            num_superpoints=num_superpoints,
            point_idx=point_idx,
        )
