"""Tests of ``dknet.render``: the views, the z-buffer, the legend and the atomic PNG write.

The scenes are grids of points whose projections are known, so each test reads the decoded PNG
back and checks pixel colours where an instance must (or must not) be seen.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dknet.errors import ConfigError, InvalidPointCloudError, InvalidPredictionError
from dknet.io.prediction_outputs import UNASSIGNED_COLOR, instance_colors
from dknet.render import (
    BACKGROUND,
    Box,
    legend_rows,
    render_image,
    render_instances,
    render_layout,
)

SIZE = (800, 400)
COLORS = instance_colors(2)


def _grid(x: tuple[float, float], y: tuple[float, float], z: tuple[float, float]) -> np.ndarray:
    """Points every 2 cm over a box (a plane where a range is a single value)."""
    axes = [np.arange(lo, hi + 1e-9, 0.02) if hi > lo else np.array([lo]) for lo, hi in (x, y, z)]
    return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)


def _scene(*parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates and per-point instance (part i -> instance i) of the concatenated parts."""
    coords = np.concatenate(parts).astype(np.float32)
    inst = np.concatenate([np.full(len(p), i) for i, p in enumerate(parts)])
    return coords, inst


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def _crop(pixels: np.ndarray, box: Box) -> np.ndarray:
    return pixels[box.y0 : box.y1, box.x0 : box.x1]


def _is(pixels: np.ndarray, color: np.ndarray | tuple[int, ...]) -> np.ndarray:
    return np.all(pixels == np.asarray(color, dtype=np.uint8), axis=-1)


def _at(region: np.ndarray, fx: float, fy: float) -> np.ndarray:
    """The 5x5 patch at fractions (fx right, fy up) of the drawn points' bounding box."""
    drawn = ~_is(region, BACKGROUND)
    rows, cols = np.nonzero(drawn)
    col = round(cols.min() + fx * (cols.max() - cols.min()))
    row = round(rows.max() - fy * (rows.max() - rows.min()))
    return region[row - 2 : row + 3, col - 2 : col + 3]


def _high_over_low() -> tuple[np.ndarray, np.ndarray]:
    """Instance 0: a 1 x 1 m slab at z = 1; instance 1: a 4 x 2 m floor at z = 0 under it.

    The floor comes last in the arrays, so drawing in input order would paint it over the slab.
    """
    return _scene(_grid((1, 2), (0.5, 1.5), (1, 1)), _grid((0, 4), (0, 2), (0, 0)))


def test_png_decodes_to_the_requested_size(tmp_path: Path) -> None:
    coords, inst = _high_over_low()
    default = render_instances(tmp_path / "a.png", coords, inst, [5, 7], [0.9, 0.4])
    assert default == tmp_path / "a.png"
    assert _read(default).shape == (800, 1600, 3)
    small = render_instances(tmp_path / "b.png", coords, inst, [5, 7], [0.9, 0.4], size=SIZE)
    assert _read(small).shape == (400, 800, 3)


def test_top_view_shows_the_higher_instance(tmp_path: Path) -> None:
    coords, inst = _high_over_low()
    path = render_instances(
        tmp_path / "s.png", coords, inst, [5, 7], [0.9, 0.4], size=SIZE, point_size=3
    )
    top = _crop(_read(path), render_layout(SIZE).top)
    # The floor spans x 0..4, y 0..2; the slab's centre (1.5, 1.0) is at (0.375, 0.5) of it.
    assert _is(_at(top, 0.375, 0.5), COLORS[0]).all()
    assert _is(_at(top, 0.8, 0.2), COLORS[1]).all()  # floor away from the slab
    # The floor shows nowhere inside the slab's square (1 px in from its edges).
    drawn_rows, drawn_cols = np.nonzero(~_is(top, BACKGROUND))
    c0, c1, r0, r1 = drawn_cols.min(), drawn_cols.max(), drawn_rows.min(), drawn_rows.max()
    px = (c1 - c0) / 4.0  # pixels per metre
    assert abs((r1 - r0) / px - 2.0) < 0.05  # equal aspect ratio: the floor is 4 x 2 m
    inner = top[
        round(r1 - 1.5 * px) + 2 : round(r1 - 0.5 * px) - 1,
        round(c0 + 1 * px) + 2 : round(c0 + 2 * px) - 1,
    ]
    assert inner.size and _is(inner, COLORS[0]).all()
    # The order of the points does not matter: the same picture with the arrays reversed.
    again = render_instances(
        tmp_path / "r.png", coords[::-1], inst[::-1], [5, 7], [0.9, 0.4], size=SIZE, point_size=3
    )
    np.testing.assert_array_equal(_read(again), _read(path))


def test_side_view_shows_both_levels(tmp_path: Path) -> None:
    coords, inst = _high_over_low()
    path = render_instances(
        tmp_path / "s.png", coords, inst, [5, 7], [0.9, 0.4], size=SIZE, point_size=3
    )
    side = _crop(_read(path), render_layout(SIZE).side)
    rows_high, cols_high = np.nonzero(_is(side, COLORS[0]))
    rows_low, cols_low = np.nonzero(_is(side, COLORS[1]))
    assert rows_high.size and rows_low.size
    assert rows_high.max() < rows_low.min()  # the slab (z = 1) is drawn above the floor (z = 0)
    # Looking along +y (the scene is wider in x): x runs to the right, so the slab (x 1..2) lies
    # in the second quarter of the floor's width (x 0..4), with equal scales on both axes.
    width = cols_low.max() - cols_low.min()
    assert abs((cols_high.min() - cols_low.min()) / width - 0.25) < 0.02
    assert abs((cols_high.max() - cols_low.min()) / width - 0.5) < 0.02
    assert abs((rows_low.min() - rows_high.min()) / width - 0.25) < 0.02  # 1 m of z vs 4 m of x


def test_side_view_nearer_covers_farther(tmp_path: Path) -> None:
    # Two vertical walls: instance 0 (1 x 1 m) at y = 0, instance 1 (4 x 1 m) at y = 2 behind it.
    coords, inst = _scene(_grid((1, 2), (0, 0), (0, 1)), _grid((0, 4), (2, 2), (0, 1)))
    path = render_instances(
        tmp_path / "y.png", coords, inst, [5, 7], [0.9, 0.4], size=SIZE, point_size=3
    )
    side = _crop(_read(path), render_layout(SIZE).side)
    # Looking along +y the wall at y = 0 is nearer: it covers the one behind.
    assert _is(_at(side, 0.375, 0.5), COLORS[0]).all()
    assert _is(_at(side, 0.8, 0.5), COLORS[1]).all()
    # Swap x and y: now the scene is deeper in y, the view looks along -x and larger x is
    # nearer, so the wide wall (now at x = 2) hides the small one (now at x = 0) completely.
    swapped = render_instances(
        tmp_path / "x.png", coords[:, [1, 0, 2]], inst, [5, 7], [0.9, 0.4], size=SIZE,
        point_size=3,
    )  # fmt: skip
    side = _crop(_read(swapped), render_layout(SIZE).side)
    assert not _is(side, COLORS[0]).any() and _is(side, COLORS[1]).sum() > 1000


def test_legend_lists_instances_by_score(tmp_path: Path) -> None:
    coords, inst = _high_over_low()
    path = render_instances(tmp_path / "s.png", coords, inst, [5, 7], [0.3, 0.9], size=SIZE)
    legend = _crop(_read(path), render_layout(SIZE).legend)
    assert (~_is(legend, BACKGROUND)).sum() > 200  # swatches and text
    rows_first = np.nonzero(_is(legend, COLORS[1]))[0]  # score 0.9: the first row
    rows_second = np.nonzero(_is(legend, COLORS[0]))[0]
    assert rows_first.size > 20 and rows_second.size > 20
    assert rows_first.max() < rows_second.min()


def test_legend_rows() -> None:
    assert legend_rows([5, 7, 3], [0.25, 0.905, 0.25]) == [
        (1, "table 0.91"),
        (0, "chair 0.25"),
        (2, "cabinet 0.25"),  # equal scores keep instance order
    ]
    assert legend_rows([], []) == [(None, "no instances")]
    rows = legend_rows([39] * 35, np.linspace(0, 1, 35), max_rows=30)
    assert len(rows) == 31 and rows[0] == (34, "otherfurniture 1.00")
    assert rows[-1] == (None, "+ 5 more")
    assert legend_rows([99], [0.5]) == [(0, "nyu40:99 0.50")]


def test_many_instances_fit_the_legend(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    coords = rng.uniform(0, 3, size=(2000, 3))
    labels, scores = rng.choice([3, 5, 39], 60), rng.uniform(0, 1, 60)
    path = render_instances(tmp_path / "m.png", coords, rng.integers(-1, 60, 2000), labels, scores)
    legend = _crop(_read(path), render_layout().legend)
    colors = instance_colors(60)
    listed = [k for k in range(60) if _is(legend, colors[k]).sum() >= 25]
    # The highest-scoring instances have swatches, at most 30 of them.
    assert 20 <= len(listed) <= 30
    assert set(np.argsort(-scores, kind="stable")[:20]) <= set(listed)


def test_zero_instances_and_empty_scene(tmp_path: Path) -> None:
    coords, _ = _high_over_low()
    none = np.full(len(coords), -1)
    path = render_instances(tmp_path / "g.png", coords, none, [], [], title="grey", size=SIZE)
    pixels = _read(path)
    layout = render_layout(SIZE)
    for box in (layout.top, layout.side):
        view = _crop(pixels, box)
        grey = _is(view, UNASSIGNED_COLOR)
        assert grey.sum() > 300 and (grey | _is(view, BACKGROUND)).all()
    assert (~_is(_crop(pixels, layout.legend), BACKGROUND)).any()  # "no instances"

    empty = render_instances(
        tmp_path / "e.png", np.zeros((0, 3)), np.zeros(0, np.int64), [], [], size=SIZE
    )
    pixels = _read(empty)
    assert pixels.shape == (400, 800, 3)
    for box in (layout.top, layout.side):
        assert (~_is(_crop(pixels, box), BACKGROUND)).sum() < 500  # "no points", no splats


def test_single_point_and_flat_scenes() -> None:
    image = render_image(np.array([[1.0, 2.0, 3.0]]), np.array([0]), [5], [0.5], size=SIZE)
    top = _crop(np.asarray(image), render_layout(SIZE).top)
    assert _is(top, COLORS[0]).sum() > 0
    line = np.c_[np.linspace(0, 1, 50), np.zeros(50), np.zeros(50)]  # no extent in y or z
    image = render_image(line, np.zeros(50, np.int64), [5], [0.5], size=SIZE)
    assert _is(np.asarray(image), COLORS[0]).sum() > 50


def test_written_atomically_and_readable(tmp_path: Path) -> None:
    coords, inst = _high_over_low()
    out = tmp_path / "out"
    path = render_instances(out / "scene.png", coords, inst, [5, 7], [0.9, 0.4], size=SIZE)
    assert sorted(os.listdir(out)) == ["scene.png"]  # no temporary file left
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    before = path.read_bytes()
    # A failed render leaves the existing file as it was and nothing beside it.
    with pytest.raises(InvalidPredictionError):
        render_instances(path, coords, inst[:-1], [5, 7], [0.9, 0.4], size=SIZE)
    assert path.read_bytes() == before and sorted(os.listdir(out)) == ["scene.png"]
    # Rendering again replaces it in place.
    render_instances(path, coords, np.full(len(coords), -1), [], [], size=SIZE)
    assert path.read_bytes() != before and sorted(os.listdir(out)) == ["scene.png"]


def test_bad_inputs_raise_domain_errors() -> None:
    coords, inst = _high_over_low()
    with pytest.raises(InvalidPointCloudError, match=r"\(N, 3\)"):
        render_image(coords[:, :2], inst, [5, 7], [0.9, 0.4])
    bad = coords.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InvalidPointCloudError, match="NaN"):
        render_image(bad, inst, [5, 7], [0.9, 0.4])
    with pytest.raises(InvalidPredictionError, match="labels but"):
        render_image(coords, inst, [5, 7], [0.9])
    with pytest.raises(InvalidPredictionError, match="point instance ids"):
        render_image(coords, inst + 1, [5, 7], [0.9, 0.4])
    with pytest.raises(ConfigError, match="at least 400x200"):
        render_image(coords, inst, [5, 7], [0.9, 0.4], size=(300, 300))
    with pytest.raises(ConfigError, match="point size"):
        render_image(coords, inst, [5, 7], [0.9, 0.4], point_size=0)
