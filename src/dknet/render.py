"""A picture of one predicted scene: top and side views coloured by instance, with a legend.

``dknet predict --render`` (format ``png``) writes ``<scene>.png`` with this module, for users
without a 3D viewer. The image holds, left to right:

* a top view (looking down -z: x to the right, y up);
* a side view looking along the longer horizontal axis (along +y: x to the right, z up; or,
  when the scene is deeper in y than wide in x, along -x: y to the right, z up);
* a legend: one row per instance (colour swatch, class name, score with two decimals), highest
  score first, at most ``max_legend_rows`` rows and then a ``+ N more`` line.

Points take their instance's colour from :func:`dknet.io.prediction_outputs.instance_colors`
(the colours of the ``.ply`` output); points in no instance are light grey. Every point is a
small square splat, and where splats overlap the point nearer to the viewer wins (top view: the
higher z; side view: the nearer along the viewing axis), resolved with a z-buffer over whole
arrays (no loop over points). Both views keep equal aspect ratios.

Pillow draws the text and encodes the PNG; numpy only, never imports torch.

From Python::

    from dknet.render import render_instances
    render_instances("scene.png", coords, point_instance, labels, scores, title="scene0011_00")
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from dknet.errors import ConfigError, InvalidPointCloudError, InvalidPredictionError
from dknet.io.prediction_outputs import (
    UNASSIGNED_COLOR,
    _shareable_write,
    class_name,
    instance_colors,
)

__all__ = [
    "DEFAULT_SIZE",
    "MAX_LEGEND_ROWS",
    "BACKGROUND",
    "Box",
    "RenderLayout",
    "render_layout",
    "legend_rows",
    "render_image",
    "render_instances",
]

logger = logging.getLogger(__name__)

#: Default image size (width, height) in pixels.
DEFAULT_SIZE: tuple[int, int] = (1600, 800)
#: Most instance rows the legend lists before a ``+ N more`` line.
MAX_LEGEND_ROWS = 30
#: Canvas colour (white).
BACKGROUND: tuple[int, int, int] = (255, 255, 255)

_TEXT = (30, 30, 30)
_MUTED = (110, 110, 110)
_FRAME = (215, 215, 215)
_SWATCH_OUTLINE = (70, 70, 70)
_MIN_SIZE = (400, 200)

#: Type of the fonts Pillow's ``load_default`` returns.
_Font = ImageFont.ImageFont | ImageFont.FreeTypeFont


@dataclass(frozen=True)
class Box:
    """A pixel rectangle: columns ``x0 <= x < x1``, rows ``y0 <= y < y1``."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def width(self) -> int:
        """Number of columns."""
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        """Number of rows."""
        return self.y1 - self.y0


@dataclass(frozen=True)
class RenderLayout:
    """Where each part of the picture goes, in pixels.

    Attributes:
        size: (width, height) of the image.
        title: the title line.
        top: the top view's plot area (points are drawn only inside it).
        side: the side view's plot area.
        legend: the legend column.
        font_px: base text size.
    """

    size: tuple[int, int]
    title: Box
    top: Box
    side: Box
    legend: Box
    font_px: int


def render_layout(size: tuple[int, int] = DEFAULT_SIZE) -> RenderLayout:
    """The layout :func:`render_image` uses for an image of ``size`` (width, height).

    Raises:
        ConfigError: the image is smaller than 400 x 200 pixels.
    """
    width, height = int(size[0]), int(size[1])
    if width < _MIN_SIZE[0] or height < _MIN_SIZE[1]:
        raise ConfigError(
            f"render size must be at least {_MIN_SIZE[0]}x{_MIN_SIZE[1]} pixels, "
            f"got {width}x{height}"
        )
    font_px = max(11, round(height / 50))
    margin = max(8, round(height / 50))
    title_h = round(font_px * 2.2)
    caption_h = round(font_px * 1.6)
    legend_w = max(180, round(width * 0.19))
    views_x1 = width - legend_w - margin
    gap = margin
    panel_w = (views_x1 - margin - gap) // 2
    top_y0 = margin + title_h + caption_h
    bottom = height - margin
    top = Box(margin, top_y0, margin + panel_w, bottom)
    side = Box(margin + panel_w + gap, top_y0, views_x1, bottom)
    return RenderLayout(
        size=(width, height),
        title=Box(margin, margin, width - margin, margin + title_h),
        top=top,
        side=side,
        legend=Box(views_x1 + gap, margin + title_h, width - margin, bottom),
        font_px=font_px,
    )


def legend_rows(
    instance_labels: np.ndarray | Sequence[int],
    instance_scores: np.ndarray | Sequence[float],
    *,
    max_rows: int = MAX_LEGEND_ROWS,
) -> list[tuple[int | None, str]]:
    """The legend's rows: ``(instance index, "class 0.93")``, highest score first.

    Equal scores keep instance order. With more than ``max_rows`` instances the first
    ``max_rows`` are listed and a last row ``(None, "+ N more")`` follows; without instances the
    only row is ``(None, "no instances")``.
    """
    labels = np.asarray(instance_labels).reshape(-1)
    scores = np.asarray(instance_scores, dtype=np.float64).reshape(-1)
    if labels.shape != scores.shape:
        raise InvalidPredictionError(
            f"{labels.shape[0]} instance labels but {scores.shape[0]} scores"
        )
    if labels.size == 0:
        return [(None, "no instances")]
    order = np.argsort(-scores, kind="stable")
    shown = order[: max(int(max_rows), 0)]
    rows: list[tuple[int | None, str]] = [
        (int(k), f"{class_name(int(labels[k]))} {scores[k]:.2f}") for k in shown
    ]
    if order.size > shown.size:
        rows.append((None, f"+ {order.size - shown.size} more"))
    return rows


def _font(px: int) -> _Font:
    try:
        return ImageFont.load_default(size=px)  # Pillow >= 10.1 (scalable with FreeType)
    except TypeError:  # older Pillow: the fixed bitmap font
        return ImageFont.load_default()


def _line_height(draw: ImageDraw.ImageDraw, font: _Font) -> int:
    box = draw.textbbox((0, 0), "Ag", font=font)
    return int(box[3] - box[1])


def _check_inputs(
    coords: np.ndarray,
    point_instance: np.ndarray,
    instance_labels: np.ndarray,
    instance_scores: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    xyz = np.asarray(coords, dtype=np.float64)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise InvalidPointCloudError(f"render: coords must be (N, 3), got shape {xyz.shape}")
    if not np.isfinite(xyz).all():
        raise InvalidPointCloudError("render: coords contain NaN or infinite values")
    inst = np.asarray(point_instance).reshape(-1)
    if inst.shape[0] != xyz.shape[0]:
        raise InvalidPredictionError(
            f"render: {inst.shape[0]} point instances for {xyz.shape[0]} points"
        )
    inst = inst.astype(np.int64, copy=False)
    labels = np.asarray(instance_labels).reshape(-1)
    scores = np.asarray(instance_scores, dtype=np.float64).reshape(-1)
    if labels.shape != scores.shape:
        raise InvalidPredictionError(
            f"render: {labels.shape[0]} instance labels but {scores.shape[0]} scores"
        )
    if inst.size and (inst.min() < -1 or inst.max() >= labels.shape[0]):
        raise InvalidPredictionError(
            f"render: point instance ids must be -1 or 0..{labels.shape[0] - 1}, "
            f"got {inst.min()}..{inst.max()}"
        )
    return xyz, inst, labels, scores


def _side_axes(xyz: np.ndarray) -> tuple[int, int, float, str]:
    """(horizontal axis, depth axis, depth sign so that larger = nearer, caption)."""
    extent = np.ptp(xyz, axis=0) if xyz.shape[0] else np.zeros(3)
    if extent[0] >= extent[1]:
        # Looking along +y: x to the right; smaller y is nearer to the viewer.
        return 0, 1, -1.0, "side view, looking along +y (x right, z up)"
    # Looking along -x: y to the right; larger x is nearer to the viewer.
    return 1, 0, 1.0, "side view, looking along -x (y right, z up)"


def _auto_point_size(num_points: int, box: Box) -> int:
    if num_points == 0:
        return 1
    spacing = float(np.sqrt(box.width * box.height / num_points))
    return int(np.clip(round(spacing * 0.6), 2, 6))


def _project(
    horizontal: np.ndarray, vertical: np.ndarray, box: Box, inset: int
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel columns and rows of the points, fitted into ``box`` with equal aspect ratio."""
    if horizontal.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    w = max(box.width - 1 - 2 * inset, 1)
    h = max(box.height - 1 - 2 * inset, 1)
    h_lo, h_hi = float(horizontal.min()), float(horizontal.max())
    v_lo, v_hi = float(vertical.min()), float(vertical.max())
    spans = [(h_hi - h_lo, w), (v_hi - v_lo, h)]
    scales = [pixels / span for span, pixels in spans if span > 0]
    scale = min(scales) if scales else 1.0
    left = box.x0 + inset + (w - (h_hi - h_lo) * scale) / 2
    top = box.y0 + inset + (h - (v_hi - v_lo) * scale) / 2
    u = np.rint(left + (horizontal - h_lo) * scale).astype(np.int64)
    v = np.rint(top + (v_hi - vertical) * scale).astype(np.int64)  # rows grow downwards
    return u, v


def _splat(
    canvas: np.ndarray,
    box: Box,
    u: np.ndarray,
    v: np.ndarray,
    depth: np.ndarray,
    colors: np.ndarray,
    point_size: int,
) -> None:
    """Draw each point as a ``point_size`` square; per pixel the largest ``depth`` wins.

    Points are ranked by depth (stable, so equal depths keep input order, the later one on top);
    every pixel keeps the highest rank among the splats covering it (``np.maximum.at``, which
    is defined for repeated indices), then takes that point's colour.
    """
    if u.size == 0:
        return
    order = np.argsort(depth, kind="stable")
    pu, pv, ranked_colors = u[order] - box.x0, v[order] - box.y0, colors[order]
    ranks = np.arange(order.size, dtype=np.int64)
    best = np.full(box.width * box.height, -1, dtype=np.int64)
    first = -(point_size // 2)
    for dy in range(first, first + point_size):  # a loop over the splat's pixels only
        for dx in range(first, first + point_size):
            cols, rows = pu + dx, pv + dy
            inside = (cols >= 0) & (cols < box.width) & (rows >= 0) & (rows < box.height)
            np.maximum.at(best, rows[inside] * box.width + cols[inside], ranks[inside])
    hit = np.flatnonzero(best >= 0)
    region = canvas[box.y0 : box.y1, box.x0 : box.x1]
    region[hit // box.width, hit % box.width] = ranked_colors[best[hit]]


def render_image(
    coords: np.ndarray,
    point_instance: np.ndarray,
    instance_labels: np.ndarray | Sequence[int],
    instance_scores: np.ndarray | Sequence[float],
    *,
    title: str | None = None,
    size: tuple[int, int] = DEFAULT_SIZE,
    point_size: int | None = None,
    max_legend_rows: int = MAX_LEGEND_ROWS,
) -> Image.Image:
    """Top and side views of a scene coloured by instance, with a legend, as an RGB image.

    Args:
        coords: (N, 3) float point coordinates (any unit; z is up).
        point_instance: (N,) int index of each point's instance, or -1 for none.
        instance_labels: (K,) int nyu40 id of each instance.
        instance_scores: (K,) float confidence of each instance.
        title: shown first on the title line (e.g. the scene id), followed by the instance and
            point counts.
        size: (width, height) in pixels, at least 400 x 200.
        point_size: side of each point's square in pixels; None picks 2..6 from the density.
        max_legend_rows: most instances listed (fewer when the legend has no room).

    Returns:
        The picture (Pillow ``RGB`` image of ``size``).

    Raises:
        InvalidPointCloudError: ``coords`` is not (N, 3) or not finite.
        InvalidPredictionError: the per-point and per-instance arrays disagree.
        ConfigError: ``size`` or ``point_size`` is too small.
    """
    xyz, inst, labels, scores = _check_inputs(
        coords, point_instance, np.asarray(instance_labels), np.asarray(instance_scores)
    )
    layout = render_layout(size)
    if point_size is not None and point_size < 1:
        raise ConfigError(f"render point size must be at least 1 pixel, got {point_size}")
    num_points, num_instances = xyz.shape[0], labels.shape[0]
    palette = np.vstack([instance_colors(num_instances), np.asarray([UNASSIGNED_COLOR], np.uint8)])
    colors = palette[np.where(inst >= 0, inst, num_instances)]

    width, height = layout.size
    canvas = np.full((height, width, 3), BACKGROUND, dtype=np.uint8)
    splat = point_size or _auto_point_size(num_points, layout.top)
    inset = splat // 2 + 2
    # Top view: x right, y up; the higher point covers the lower.
    u, v = _project(xyz[:, 0], xyz[:, 1], layout.top, inset)
    _splat(canvas, layout.top, u, v, xyz[:, 2], colors, splat)
    # Side view along the longer horizontal axis; the nearer point covers the farther.
    across, along, sign, side_caption = _side_axes(xyz)
    u, v = _project(xyz[:, across], xyz[:, 2], layout.side, inset)
    _splat(canvas, layout.side, u, v, sign * xyz[:, along], colors, splat)

    image = Image.fromarray(canvas)
    draw = ImageDraw.Draw(image)
    font = _font(layout.font_px)
    title_font = _font(round(layout.font_px * 1.35))
    plural = "" if num_instances == 1 else "s"
    heading = f"{num_instances} instance{plural}, {num_points:,} points"
    draw.text(
        (layout.title.x0, layout.title.y0),
        f"{title}: {heading}" if title else heading,
        fill=_TEXT,
        font=title_font,
    )
    caption_gap = round(layout.font_px * 1.4)
    for box, caption in (
        (layout.top, "top view, looking down -z (x right, y up)"),
        (layout.side, side_caption),
    ):
        draw.rectangle((box.x0 - 1, box.y0 - 1, box.x1, box.y1), outline=_FRAME)
        draw.text((box.x0, box.y0 - caption_gap), caption, fill=_MUTED, font=font)
        if num_points == 0:
            draw.text((box.x0 + 8, box.y0 + 8), "no points", fill=_MUTED, font=font)
    _draw_legend(draw, layout, font, labels, scores, palette, max_legend_rows)
    logger.debug(
        "rendered %s: %d points, %d instances, splat %d px",
        title or "scene",
        num_points,
        num_instances,
        splat,
    )
    return image


def _draw_legend(
    draw: ImageDraw.ImageDraw,
    layout: RenderLayout,
    font: _Font,
    labels: np.ndarray,
    scores: np.ndarray,
    palette: np.ndarray,
    max_rows: int,
) -> None:
    box = layout.legend
    text_h = _line_height(draw, font)
    row_h = max(text_h + 6, round(layout.font_px * 1.5))
    header = "no instances" if labels.size == 0 else "instances by score"
    draw.text((box.x0, box.y0), header, fill=_TEXT, font=font)
    if labels.size == 0:
        return
    y = box.y0 + row_h + row_h // 2
    fit = max((box.y1 - y) // row_h, 1)
    # Leave the last row that fits for "+ N more" when not every instance fits.
    limit = min(max_rows, fit if labels.size <= fit else fit - 1)
    swatch = max(text_h, 8)
    for index, text in legend_rows(labels, scores, max_rows=limit):
        if index is not None:
            color = tuple(int(c) for c in palette[index])
            draw.rectangle(
                (box.x0, y, box.x0 + swatch, y + swatch), fill=color, outline=_SWATCH_OUTLINE
            )
            draw.text((box.x0 + swatch + 8, y), text, fill=_TEXT, font=font)
        else:
            draw.text((box.x0 + swatch + 8, y), text, fill=_MUTED, font=font)
        y += row_h


def render_instances(
    path: str | os.PathLike[str],
    coords: np.ndarray,
    point_instance: np.ndarray,
    instance_labels: np.ndarray | Sequence[int],
    instance_scores: np.ndarray | Sequence[float],
    *,
    title: str | None = None,
    size: tuple[int, int] = DEFAULT_SIZE,
    point_size: int | None = None,
    max_legend_rows: int = MAX_LEGEND_ROWS,
) -> Path:
    """Write :func:`render_image`'s picture as a PNG, atomically (readable by others).

    Arguments are those of :func:`render_image`; ``path`` is the ``.png`` to write.

    Returns:
        The written path.
    """
    image = render_image(
        coords,
        point_instance,
        instance_labels,
        instance_scores,
        title=title,
        size=size,
        point_size=point_size,
        max_legend_rows=max_legend_rows,
    )
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False)
    target = Path(path)
    _shareable_write(target, buffer.getvalue())
    return target
