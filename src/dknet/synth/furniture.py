"""Parametric furniture: every object class of the synthetic rooms as a handful of primitives.

Each builder draws its dimensions (metres, realistic ranges) and colours from ``rng`` and returns
a :class:`Group`: one or more :class:`Furniture` items in a shared local frame. The local frame
has x along the wall (or across the object), y pointing away from the wall into the room with the
object's back at ``y = 0`` (wall-mounted items reach slightly into ``y < 0``), and z up from the
floor. The first item is the main object; later ones are things that come with it (pillows on a
bed, a lamp on a nightstand, a sink in a counter, the chair at a desk).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from .shapes import RGB, Box, Cylinder, FoldedSheet, Part, transform_part

__all__ = [
    "Furniture",
    "Group",
    "build",
    "BUILDERS",
    "chair_ring",
]


@dataclass(frozen=True)
class Furniture:
    """One annotated object (or an unannotated piece of clutter) in its group's local frame.

    Attributes:
        raw_category: the raw ScanNet name for ``aggregation.json``; None for clutter that
            belongs to no segGroup.
        parts: the primitives, local coordinates.
    """

    raw_category: str | None
    parts: tuple[Part, ...]


@dataclass(frozen=True, eq=False)
class Group:
    """Items placed together, with their local-frame extents and free floor they need.

    Attributes:
        items: the objects; ``items[0]`` is the main one.
        front_clearance: free floor needed in front of the group (y beyond its depth), metres.
        on_wall: whether the group hangs on / stands against a wall (False: free-standing).
    """

    items: tuple[Furniture, ...]
    front_clearance: float = 0.0
    on_wall: bool = True
    lo: np.ndarray = field(init=False, repr=False)
    hi: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        bounds = [p.bounds() for item in self.items for p in item.parts]
        object.__setattr__(self, "lo", np.min([b[0] for b in bounds], axis=0))
        object.__setattr__(self, "hi", np.max([b[1] for b in bounds], axis=0))


# --------------------------------------------------------------------------------------------
# Colours

_WOOD: tuple[RGB, ...] = (
    (0.55, 0.38, 0.22),
    (0.70, 0.52, 0.33),
    (0.40, 0.26, 0.15),
    (0.82, 0.70, 0.52),
    (0.62, 0.45, 0.30),
)
_PAINTED: tuple[RGB, ...] = (
    (0.88, 0.88, 0.86),
    (0.30, 0.30, 0.32),
    (0.62, 0.63, 0.64),
    (0.78, 0.74, 0.66),
    (0.35, 0.45, 0.55),
)
_FABRIC: tuple[RGB, ...] = (
    (0.25, 0.35, 0.60),
    (0.60, 0.22, 0.20),
    (0.30, 0.50, 0.32),
    (0.75, 0.68, 0.55),
    (0.45, 0.45, 0.48),
    (0.55, 0.40, 0.55),
)
_METAL: tuple[RGB, ...] = ((0.62, 0.63, 0.66), (0.15, 0.15, 0.16), (0.45, 0.46, 0.48))
_CERAMIC: RGB = (0.93, 0.93, 0.91)
_GLASS: RGB = (0.55, 0.65, 0.72)
_VIVID: tuple[RGB, ...] = (
    (0.85, 0.55, 0.15),
    (0.20, 0.45, 0.75),
    (0.75, 0.20, 0.30),
    (0.25, 0.60, 0.40),
    (0.90, 0.80, 0.30),
    (0.50, 0.30, 0.65),
)


def _tint(rng: np.random.Generator, palette: tuple[RGB, ...] | RGB, spread: float = 0.05) -> RGB:
    """A palette colour (one picked at random when given several) with a small random shift."""
    if isinstance(palette[0], tuple):
        base = np.asarray(palette[int(rng.integers(len(palette)))])
    else:
        base = np.asarray(palette)
    c = np.clip(base + rng.normal(0.0, spread, 3), 0.02, 0.98)
    return (float(c[0]), float(c[1]), float(c[2]))


def _shade(color: RGB, factor: float) -> RGB:
    return (color[0] * factor, color[1] * factor, color[2] * factor)


def _box(
    x0: float, x1: float, y0: float, y1: float, z0: float, z1: float, color: RGB, yaw: float = 0.0
) -> Box:
    """An axis-aligned (before ``yaw``) box from its extents."""
    return Box(
        center=((x0 + x1) / 2, (y0 + y1) / 2, (z0 + z1) / 2),
        size=(x1 - x0, y1 - y0, z1 - z0),
        color=color,
        yaw=yaw,
    )


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def _fronts(
    x0: float, x1: float, y: float, z0: float, z1: float, cols: int, rows: int, color: RGB
) -> list[Box]:
    """Door or drawer fronts: a cols x rows grid of 1.5 cm slabs on the face ``y`` (gaps 6 mm)."""
    gap = 0.006
    xs = np.linspace(x0, x1, cols + 1)
    zs = np.linspace(z0, z1, rows + 1)
    return [
        _box(
            xs[i] + gap / 2,
            xs[i + 1] - gap / 2,
            y,
            y + 0.015,
            zs[j] + gap / 2,
            zs[j + 1] - gap / 2,
            color,
        )
        for i in range(cols)
        for j in range(rows)
    ]


def _moved(
    parts: list[Part] | tuple[Part, ...], yaw: float, x: float, y: float
) -> tuple[Part, ...]:
    return tuple(transform_part(p, yaw, (x, y)) for p in parts)


# --------------------------------------------------------------------------------------------
# Seating


def _chair_parts(rng: np.random.Generator) -> tuple[float, float, list[Part]]:
    """A four-legged chair; returns (width, depth, parts) with the back at y = 0."""
    w, d = _u(rng, 0.42, 0.50), _u(rng, 0.42, 0.50)
    seat_h, seat_t, leg = _u(rng, 0.43, 0.47), 0.05, 0.04
    back_h, back_t = _u(rng, 0.35, 0.50), 0.04
    frame = _tint(rng, _WOOD + _METAL)
    seat = _tint(rng, _FABRIC + _WOOD)
    parts: list[Part] = [_box(-w / 2, w / 2, 0.0, d, seat_h - seat_t, seat_h, seat)]
    for sx in (-1, 1):
        for y0 in (0.01, d - 0.01 - leg):
            x0 = sx * (w / 2 - 0.01) - (leg if sx > 0 else 0.0)
            parts.append(_box(x0, x0 + leg, y0, y0 + leg, 0.0, seat_h - seat_t, frame))
    parts.append(_box(-w / 2, w / 2, 0.0, back_t, seat_h, seat_h + back_h, seat))
    return w, d, parts


def _office_chair_parts(rng: np.random.Generator) -> tuple[float, float, list[Part]]:
    """A swivel chair on a five-arm base; returns (width, depth, parts), back at y = 0."""
    r_base = _u(rng, 0.28, 0.32)
    w = d = 2 * r_base + 0.04
    cx, cy = 0.0, d / 2
    seat_w, seat_d = _u(rng, 0.46, 0.52), _u(rng, 0.44, 0.50)
    seat_z0 = _u(rng, 0.40, 0.45)
    seat_z1 = seat_z0 + 0.08
    fabric = _tint(rng, _FABRIC)
    metal = _tint(rng, _METAL)
    y0 = cy - seat_d / 2
    parts: list[Part] = [
        _box(-seat_w / 2, seat_w / 2, y0, y0 + seat_d, seat_z0, seat_z1, fabric),
        Cylinder(center=(cx, cy), z0=0.07, z1=seat_z0, radii=(0.03, 0.03), color=metal),
        Cylinder(center=(cx, cy), z0=0.05, z1=0.12, radii=(0.05, 0.05), color=metal),
    ]
    back_z0 = seat_z1 + 0.06
    parts.append(_box(-0.04, 0.04, y0, y0 + 0.05, seat_z1, back_z0, metal))
    parts.append(
        _box(
            -seat_w / 2 + 0.02,
            seat_w / 2 - 0.02,
            y0,
            y0 + 0.06,
            back_z0,
            back_z0 + _u(rng, 0.45, 0.6),
            fabric,
        )
    )
    start = _u(rng, 0.0, 2 * np.pi / 5)
    for k in range(5):
        a = start + 2 * np.pi * k / 5
        arm_len = r_base - 0.02
        mid = arm_len / 2 + 0.02
        parts.append(
            Box(
                center=(cx + mid * np.cos(a), cy + mid * np.sin(a), 0.075),
                size=(arm_len, 0.045, 0.04),
                color=metal,
                yaw=float(a),
            )
        )
        tip = r_base - 0.03
        parts.append(
            Cylinder(
                center=(cx + tip * np.cos(a), cy + tip * np.sin(a)),
                z0=0.0,
                z1=0.055,
                radii=(0.025, 0.025),
                color=_METAL[1],
            )
        )
    return w, d, parts


def chair(rng: np.random.Generator) -> Group:
    """A chair (seat, back, four legs) standing against a wall."""
    _, _, parts = _chair_parts(rng)
    return Group((Furniture("chair", tuple(parts)),), front_clearance=0.3)


def chair_ring(
    rng: np.random.Generator, table_w: float, table_d: float, *, office: bool, max_chairs: int
) -> list[Furniture]:
    """Chairs around a table centred at (0, table_d / 2), facing it, slightly jittered.

    Args:
        table_w, table_d: table extents along x and y, metres.
        office: swivel chairs instead of four-legged ones.
        max_chairs: upper bound on the number of chairs.
    """
    per_side = max(1, int(table_w // (0.75 if office else 0.62)))
    # (x along the table, side): side -1 / +1 for the long sides, 0 for the two ends.
    slots: list[tuple[float, int]] = []
    for side in (-1, 1):
        xs = (np.arange(per_side) + 0.5) * (table_w / per_side) - table_w / 2
        slots += [(float(x), side) for x in xs]
    if table_d >= 0.75 and table_w >= 1.2:
        slots += [(-1.0, 0), (1.0, 0)]
    order = rng.permutation(len(slots))[: max(1, min(max_chairs, len(slots)))]
    chairs = []
    for idx in sorted(order.tolist()):
        x, side = slots[idx]
        _w, d, parts = (_office_chair_parts if office else _chair_parts)(rng)
        gap = _u(rng, 0.05, 0.22)
        jitter = _u(rng, -0.12, 0.12)
        if side != 0:
            # A chair's back is at its local y = 0 and its front at y = d: face the table.
            yaw = np.pi if side > 0 else 0.0
            y_back = table_d + gap + d if side > 0 else -gap - d
            placed = _moved(parts, yaw + jitter, x, y_back)
        else:
            # x is -1 or +1 here: which end of the table.
            yaw = -np.pi / 2 if x < 0 else np.pi / 2
            x_back = -(table_w / 2 + gap + d) if x < 0 else table_w / 2 + gap + d
            placed = _moved(parts, yaw + jitter, x_back, table_d / 2)
        chairs.append(Furniture("office chair" if office else "chair", placed))
    return chairs


def couch(rng: np.random.Generator) -> Group:
    """A sofa (base, back, two arms) against a wall, maybe with pillows and a coffee table."""
    w, d = _u(rng, 1.6, 2.4), _u(rng, 0.82, 0.95)
    arm_w, arm_h = _u(rng, 0.12, 0.2), _u(rng, 0.55, 0.65)
    back_t, back_h, seat_h = _u(rng, 0.15, 0.22), _u(rng, 0.75, 0.9), _u(rng, 0.40, 0.46)
    fabric = _tint(rng, _FABRIC)
    parts = (
        _box(-w / 2, w / 2, 0.0, back_t, 0.0, back_h, fabric),
        _box(-w / 2 + arm_w, w / 2 - arm_w, back_t, d, 0.0, seat_h, _shade(fabric, 1.05)),
        _box(-w / 2, -w / 2 + arm_w, back_t, d, 0.0, arm_h, _shade(fabric, 0.95)),
        _box(w / 2 - arm_w, w / 2, back_t, d, 0.0, arm_h, _shade(fabric, 0.95)),
    )
    items = [Furniture("couch", parts)]
    for k in range(int(rng.integers(0, 3))):
        pw = _u(rng, 0.38, 0.45)
        x0 = -w / 2 + arm_w + 0.05 + k * (w - 2 * arm_w - pw - 0.1)
        items.append(
            Furniture(
                "pillow",
                (
                    _box(
                        x0,
                        x0 + pw,
                        back_t,
                        back_t + 0.13,
                        seat_h,
                        seat_h + _u(rng, 0.35, 0.42),
                        _tint(rng, _VIVID),
                    ),
                ),
            )
        )
    if rng.random() < 0.8:
        tw, td = _u(rng, 0.8, min(1.2, w - 0.2)), _u(rng, 0.45, 0.6)
        table = _table_parts(rng, tw, td, _u(rng, 0.38, 0.46))
        items.append(Furniture("coffee table", _moved(table, 0.0, 0.0, d + _u(rng, 0.35, 0.45))))
    return Group(tuple(items), front_clearance=0.4)


# --------------------------------------------------------------------------------------------
# Tables and desks


def _table_parts(rng: np.random.Generator, w: float, d: float, h: float) -> tuple[Part, ...]:
    """Top and legs (four, or six on long tables); back edge at y = 0."""
    top_t, leg, inset = _u(rng, 0.03, 0.05), _u(rng, 0.05, 0.07), _u(rng, 0.03, 0.08)
    wood = _tint(rng, _WOOD + _PAINTED)
    legs_c = _tint(rng, _METAL) if rng.random() < 0.4 else _shade(wood, 0.85)
    parts: list[Part] = [_box(-w / 2, w / 2, 0.0, d, h - top_t, h, wood)]
    xs = [-w / 2 + inset, w / 2 - inset - leg]
    if w > 2.3:
        xs.append(-leg / 2)
    for x0 in xs:
        for y0 in (inset, d - inset - leg):
            parts.append(_box(x0, x0 + leg, y0, y0 + leg, 0.0, h - top_t, legs_c))
    return tuple(parts)


def table_set(rng: np.random.Generator, *, kind: str) -> Group:
    """A free-standing table with chairs around it.

    Args:
        kind: "dining" (kitchen), "meeting" (office), "conference" (large, many swivel chairs).
    """
    if kind == "conference":
        w, d, n, office = _u(rng, 2.4, 4.0), _u(rng, 1.0, 1.4), 14, rng.random() < 0.7
    elif kind == "meeting":
        w, d, n, office = _u(rng, 1.2, 1.8), _u(rng, 0.7, 0.9), 4, True
    else:
        w, d, n, office = _u(rng, 0.9, 1.6), _u(rng, 0.7, 0.95), 6, False
    h = _u(rng, 0.72, 0.77)
    raw = "dining table" if kind == "dining" and rng.random() < 0.5 else "table"
    items = [Furniture(raw, _table_parts(rng, w, d, h))]
    items += chair_ring(rng, w, d, office=office, max_chairs=int(rng.integers(2, n + 1)))
    return Group(tuple(items), on_wall=False)


def desk(rng: np.random.Generator) -> Group:
    """A desk (top, side panels or a drawer pedestal, modesty panel) with a swivel chair."""
    w, d, h, t = _u(rng, 1.1, 1.6), _u(rng, 0.6, 0.75), _u(rng, 0.72, 0.76), 0.03
    wood = _tint(rng, _WOOD + _PAINTED)
    parts: list[Part] = [
        _box(-w / 2, w / 2, 0.0, d, h - t, h, wood),
        _box(-w / 2, -w / 2 + 0.03, 0.0, d - 0.02, 0.0, h - t, _shade(wood, 0.9)),
        _box(-w / 2 + 0.03, w / 2 - 0.03, 0.0, 0.02, h - t - 0.4, h - t, _shade(wood, 0.9)),
    ]
    if rng.random() < 0.5:
        parts.append(_box(w / 2 - 0.03, w / 2, 0.0, d - 0.02, 0.0, h - t, _shade(wood, 0.9)))
    else:
        pw = 0.42
        parts.append(_box(w / 2 - pw, w / 2, 0.0, d - 0.04, 0.0, h - t, _shade(wood, 0.9)))
        parts += _fronts(
            w / 2 - pw + 0.01, w / 2 - 0.01, d - 0.04, 0.03, h - t - 0.01, 1, 3, _shade(wood, 1.05)
        )
    items = [Furniture("desk", tuple(parts))]
    if rng.random() < 0.85:
        _cw, cd, chair_parts = _office_chair_parts(rng)
        x = _u(rng, -w / 4, w / 4)
        items.append(
            Furniture(
                "office chair",
                _moved(chair_parts, np.pi + _u(rng, -0.3, 0.3), x, d + _u(rng, 0.1, 0.3) + cd),
            )
        )
    return Group(tuple(items), front_clearance=0.3)


# --------------------------------------------------------------------------------------------
# Storage


def cabinet(rng: np.random.Generator, *, raw: str = "cabinet", tall: bool | None = None) -> Group:
    """A cabinet with one or two doors and handles (low sideboard or tall wardrobe)."""
    tall = bool(rng.random() < 0.4) if tall is None else tall
    w, d = _u(rng, 0.5, 1.2), _u(rng, 0.4, 0.6)
    h = _u(rng, 1.6, 2.1) if tall else _u(rng, 0.7, 1.1)
    color = _tint(rng, _WOOD + _PAINTED)
    body_d = d - 0.015
    parts: list[Part] = [_box(-w / 2, w / 2, 0.0, body_d, 0.0, h, color)]
    cols = 1 if w < 0.6 else 2
    parts += _fronts(
        -w / 2 + 0.01, w / 2 - 0.01, body_d, 0.06, h - 0.02, cols, 1, _shade(color, 1.07)
    )
    metal = _tint(rng, _METAL)
    for c in range(cols):
        x = (-0.05 if c == 0 else 0.03) if cols == 2 else w / 2 - 0.08
        parts.append(_box(x, x + 0.02, d, d + 0.03, h / 2 - 0.08, h / 2 + 0.08, metal))
    return Group((Furniture(raw, tuple(parts)),), front_clearance=0.5)


def drawers(rng: np.random.Generator, *, raw: str) -> Group:
    """A chest of drawers: "dresser" (wide) or "nightstand" (small, maybe with a table lamp)."""
    if raw == "dresser":
        w, d, h, cols, rows = _u(rng, 0.9, 1.6), _u(rng, 0.42, 0.52), _u(rng, 0.75, 1.1), 2, 3
    else:
        w, d, h, cols, rows = _u(rng, 0.4, 0.55), _u(rng, 0.35, 0.45), _u(rng, 0.5, 0.65), 1, 2
    color = _tint(rng, _WOOD + _PAINTED)
    body_d = d - 0.015
    parts: list[Part] = [_box(-w / 2, w / 2, 0.0, body_d, 0.0, h, color)]
    parts += _fronts(
        -w / 2 + 0.01, w / 2 - 0.01, body_d, 0.05, h - 0.02, cols, rows, _shade(color, 1.06)
    )
    items = [Furniture(raw, tuple(parts))]
    if raw == "nightstand" and rng.random() < 0.7:
        items.append(Furniture("lamp", _table_lamp(rng, 0.0, d / 2, h)))
    return Group(tuple(items), front_clearance=0.4)


def bookshelf(rng: np.random.Generator) -> Group:
    """Side panels, top, plinth, back panel and evenly spaced shelf boards."""
    w, d, h = _u(rng, 0.6, 1.2), _u(rng, 0.28, 0.38), _u(rng, 1.2, 2.0)
    t, back = 0.025, 0.012
    color = _tint(rng, _WOOD + _PAINTED)
    parts: list[Part] = [
        _box(-w / 2, -w / 2 + t, 0.0, d, 0.0, h, color),
        _box(w / 2 - t, w / 2, 0.0, d, 0.0, h, color),
        _box(-w / 2 + t, w / 2 - t, 0.0, d, h - t, h, color),
        _box(-w / 2 + t, w / 2 - t, 0.0, d, 0.0, 0.07, color),
        _box(-w / 2 + t, w / 2 - t, 0.0, back, 0.07, h - t, _shade(color, 0.8)),
    ]
    n_shelves = max(1, round((h - 0.1) / _u(rng, 0.3, 0.4)) - 1)
    for z in np.linspace(0.07, h - t, n_shelves + 2)[1:-1]:
        parts.append(_box(-w / 2 + t, w / 2 - t, back, d, z - t / 2, z + t / 2, color))
    return Group((Furniture("bookshelf", tuple(parts)),), front_clearance=0.5)


def refrigerator(rng: np.random.Generator) -> Group:
    """A tall box with freezer and fridge doors and vertical handles."""
    w, d, h = _u(rng, 0.6, 0.9), _u(rng, 0.65, 0.75), _u(rng, 1.7, 1.95)
    color = _tint(rng, ((0.92, 0.92, 0.9), (0.7, 0.71, 0.72), (0.2, 0.2, 0.21)), 0.03)
    body_d = d - 0.03
    split = h * _u(rng, 0.6, 0.68)
    parts: list[Part] = [
        _box(-w / 2, w / 2, 0.0, body_d, 0.0, h, _shade(color, 0.95)),
        _box(-w / 2, w / 2, body_d, d, 0.03, split - 0.005, color),
        _box(-w / 2, w / 2, body_d, d, split + 0.005, h - 0.01, color),
    ]
    metal = _tint(rng, _METAL)
    x = w / 2 - 0.07
    parts.append(_box(x, x + 0.025, d, d + 0.04, split - 0.45, split - 0.1, metal))
    parts.append(_box(x, x + 0.025, d, d + 0.04, split + 0.08, split + 0.3, metal))
    return Group((Furniture("refrigerator", tuple(parts)),), front_clearance=0.7)


# --------------------------------------------------------------------------------------------
# Bedroom


def bed(rng: np.random.Generator) -> Group:
    """Frame, mattress and headboard (head at the wall), pillows, maybe nightstands."""
    w = _u(rng, 0.9, 1.0) if rng.random() < 0.35 else _u(rng, 1.4, 1.8)
    length, frame_h, mat_h = _u(rng, 1.95, 2.15), _u(rng, 0.25, 0.35), _u(rng, 0.18, 0.25)
    head_t, head_h = 0.06, _u(rng, 0.9, 1.2)
    wood = _tint(rng, _WOOD + _PAINTED)
    linen = _tint(rng, (*_FABRIC, (0.9, 0.9, 0.88)))
    parts = (
        _box(-w / 2 - 0.03, w / 2 + 0.03, 0.0, head_t, 0.0, head_h, wood),
        _box(-w / 2, w / 2, head_t, head_t + length, 0.0, frame_h, _shade(wood, 0.9)),
        _box(
            -w / 2 + 0.02,
            w / 2 - 0.02,
            head_t,
            head_t + length - 0.02,
            frame_h,
            frame_h + mat_h,
            linen,
        ),
    )
    items = [Furniture("bed", parts)]
    top = frame_h + mat_h
    n_pillows = 1 if w < 1.2 else int(rng.integers(1, 3))
    for k in range(n_pillows):
        pw = min(_u(rng, 0.5, 0.65), (w - 0.1) / n_pillows - 0.04)
        xc = (k + 0.5) * (w / n_pillows) - w / 2
        items.append(
            Furniture(
                "pillow",
                (
                    _box(
                        xc - pw / 2,
                        xc + pw / 2,
                        head_t + 0.02,
                        head_t + 0.37,
                        top,
                        top + _u(rng, 0.1, 0.15),
                        _tint(rng, _VIVID),
                    ),
                ),
            )
        )
    for side in (-1, 1):
        if rng.random() < 0.6:
            stand = drawers(rng, raw="nightstand")
            sw = float(stand.hi[0] - stand.lo[0])
            x = side * (w / 2 + 0.03 + _u(rng, 0.03, 0.1) + sw / 2)
            for item in stand.items:
                items.append(Furniture(item.raw_category, _moved(item.parts, 0.0, x, 0.0)))
    return Group(tuple(items), front_clearance=0.5)


def _table_lamp(rng: np.random.Generator, x: float, y: float, z: float) -> tuple[Part, ...]:
    metal = _tint(rng, _METAL)
    shade = _tint(rng, ((0.92, 0.88, 0.78), (0.85, 0.85, 0.85)))
    stem = _u(rng, 0.2, 0.3)
    return (
        Cylinder(center=(x, y), z0=z, z1=z + 0.03, radii=(0.08, 0.08), color=metal),
        Cylinder(center=(x, y), z0=z + 0.03, z1=z + 0.03 + stem, radii=(0.012, 0.012), color=metal),
        Cylinder(
            center=(x, y),
            z0=z + 0.03 + stem,
            z1=z + 0.23 + stem,
            radii=(0.15, 0.15),
            taper=0.7,
            color=shade,
        ),
    )


def floor_lamp(rng: np.random.Generator) -> Group:
    """Base disc, pole and a conical shade."""
    metal = _tint(rng, _METAL)
    shade = _tint(rng, ((0.92, 0.88, 0.78), (0.85, 0.85, 0.85)))
    pole = _u(rng, 1.3, 1.6)
    r = 0.22
    parts = (
        Cylinder(center=(0.0, r), z0=0.0, z1=0.03, radii=(0.15, 0.15), color=metal),
        Cylinder(center=(0.0, r), z0=0.03, z1=pole, radii=(0.015, 0.015), color=metal),
        Cylinder(center=(0.0, r), z0=pole, z1=pole + 0.3, radii=(r, r), taper=0.7, color=shade),
    )
    return Group((Furniture("lamp", parts),), front_clearance=0.2)


# --------------------------------------------------------------------------------------------
# Kitchen


def counter(rng: np.random.Generator, *, length: float, with_sink: bool) -> Group:
    """A kitchen counter (base cabinets, fronts, top slab), maybe a sink and wall cabinets.

    With a sink the top slab is cut around the basin and the base is lowered under it, so the
    basin is a real cavity.
    """
    depth, height, top_t = 0.6, _u(rng, 0.86, 0.92), 0.04
    body = _tint(rng, _PAINTED + _WOOD)
    stone = _tint(rng, ((0.85, 0.84, 0.8), (0.25, 0.25, 0.26), (0.6, 0.55, 0.5)))
    z_top = height - top_t
    x0, x1 = -length / 2, length / 2
    parts: list[Part] = [_box(x0, x1, 0.0, depth - 0.08, 0.0, 0.1, _shade(body, 0.6))]
    items: list[Furniture] = []
    if with_sink:
        sw, sd = _u(rng, 0.5, 0.7), _u(rng, 0.38, 0.45)
        sx0 = _u(rng, x0 + 0.1, x1 - sw - 0.1)
        sx1, sy0 = sx0 + sw, 0.08
        sy1 = sy0 + sd
        basin_z = z_top - _u(rng, 0.18, 0.22)
        parts += [
            _box(x0, sx0, 0.0, depth - 0.02, 0.1, z_top, body),
            _box(sx1, x1, 0.0, depth - 0.02, 0.1, z_top, body),
            _box(sx0, sx1, 0.0, depth - 0.02, 0.1, basin_z - 0.02, body),
            # Fill the space around the basin under the top, so no enclosed faces remain.
            _box(sx0, sx1, 0.0, sy0, basin_z - 0.02, z_top, body),
            _box(sx0, sx1, sy1, depth - 0.02, basin_z - 0.02, z_top, body),
            _box(x0, sx0, 0.0, depth + 0.02, z_top, height, stone),
            _box(sx1, x1, 0.0, depth + 0.02, z_top, height, stone),
            _box(sx0, sx1, 0.0, sy0, z_top, height, stone),
            _box(sx0, sx1, sy1, depth + 0.02, z_top, height, stone),
        ]
        steel = _tint(rng, _METAL[0])
        wall = 0.015
        items.append(
            Furniture(
                "sink",
                (
                    _box(sx0, sx1, sy0, sy1, basin_z - 0.02, basin_z, steel),
                    _box(sx0, sx1, sy0, sy0 + wall, basin_z, height, steel),
                    _box(sx0, sx1, sy1 - wall, sy1, basin_z, height, steel),
                    _box(sx0, sx0 + wall, sy0 + wall, sy1 - wall, basin_z, height, steel),
                    _box(sx1 - wall, sx1, sy0 + wall, sy1 - wall, basin_z, height, steel),
                ),
            )
        )
    else:
        parts += [
            _box(x0, x1, 0.0, depth - 0.02, 0.1, z_top, body),
            _box(x0, x1, 0.0, depth + 0.02, z_top, height, stone),
        ]
    n_doors = max(1, round(length / 0.5))
    parts += _fronts(
        x0 + 0.005, x1 - 0.005, depth - 0.02, 0.12, z_top - 0.02, n_doors, 1, _shade(body, 1.06)
    )
    raw = "kitchen counter" if rng.random() < 0.4 else "counter"
    items.insert(0, Furniture(raw, tuple(parts)))
    if rng.random() < 0.7:
        z0 = height + _u(rng, 0.5, 0.6)
        z1 = z0 + _u(rng, 0.6, 0.75)
        n_units = max(1, round(length / 0.9))
        edges = np.linspace(x0, x1, n_units + 1)
        color = _tint(rng, _PAINTED + _WOOD)
        for a, b in itertools.pairwise(edges):
            unit: list[Part] = [_box(a + 0.005, b - 0.005, 0.0, 0.33, z0, z1, color)]
            unit += _fronts(
                a + 0.01,
                b - 0.01,
                0.33,
                z0 + 0.01,
                z1 - 0.01,
                2 if b - a > 0.6 else 1,
                1,
                _shade(color, 1.06),
            )
            items.append(Furniture("kitchen cabinet", tuple(unit)))
    return Group(tuple(items), front_clearance=0.9)


# --------------------------------------------------------------------------------------------
# Bathroom


def toilet(rng: np.random.Generator) -> Group:
    """Tank against the wall, elliptic tapered bowl, trapway block, seat and tank lid."""
    white = _tint(rng, _CERAMIC, 0.02)
    tank_w, tank_d = _u(rng, 0.38, 0.46), _u(rng, 0.16, 0.2)
    bowl_h = _u(rng, 0.38, 0.42)
    ry = _u(rng, 0.24, 0.28)
    cy = tank_d + ry - 0.05
    parts = (
        _box(-tank_w / 2, tank_w / 2, 0.0, tank_d, bowl_h, bowl_h + _u(rng, 0.32, 0.4), white),
        _box(-0.1, 0.1, 0.0, tank_d + 0.05, 0.0, bowl_h, _shade(white, 0.97)),
        Cylinder(
            center=(0.0, cy), z0=0.0, z1=bowl_h, radii=(0.12, ry * 0.7), taper=1.45, color=white
        ),
        Cylinder(
            center=(0.0, cy + 0.01),
            z0=bowl_h,
            z1=bowl_h + 0.03,
            radii=(0.18, ry + 0.01),
            color=_shade(white, 0.98),
        ),
    )
    return Group((Furniture("toilet", parts),), front_clearance=0.5)


def _basin(
    x0: float, x1: float, y0: float, y1: float, z0: float, z1: float, color: RGB
) -> tuple[Part, ...]:
    wall = 0.03
    return (
        _box(x0, x1, y0, y1, z0, z0 + 0.04, color),
        _box(x0, x1, y0, y0 + wall, z0 + 0.04, z1, color),
        _box(x0, x1, y1 - wall, y1, z0 + 0.04, z1, color),
        _box(x0, x0 + wall, y0 + wall, y1 - wall, z0 + 0.04, z1, color),
        _box(x1 - wall, x1, y0 + wall, y1 - wall, z0 + 0.04, z1, color),
    )


def bathroom_sink(rng: np.random.Generator) -> Group:
    """A pedestal sink, or a vanity cabinet with a basin on top."""
    white = _tint(rng, _CERAMIC, 0.02)
    sw, sd = _u(rng, 0.5, 0.6), _u(rng, 0.4, 0.48)
    if rng.random() < 0.5:
        top = _u(rng, 0.66, 0.72)
        parts = (
            Cylinder(center=(0.0, 0.2), z0=0.0, z1=top, radii=(0.1, 0.09), taper=0.8, color=white),
            *_basin(-sw / 2, sw / 2, 0.0, sd, top, top + 0.17, white),
        )
        return Group((Furniture("sink", parts),), front_clearance=0.5)
    vanity = cabinet(rng, raw="cabinet", tall=False)
    z = float(vanity.hi[2])
    sw = min(sw, float(vanity.hi[0] - vanity.lo[0]) - 0.04)
    sd = min(sd, float(vanity.hi[1]) - 0.08)
    basin = _basin(-sw / 2, sw / 2, 0.02, 0.02 + sd, z, z + 0.14, white)
    return Group((*vanity.items, Furniture("sink", basin)), front_clearance=0.5)


def bathtub(rng: np.random.Generator) -> Group:
    """An open tub (four walls and a bottom) with a folded shower curtain inside its rim."""
    length, depth, height, t = _u(rng, 1.5, 1.75), _u(rng, 0.7, 0.8), _u(rng, 0.5, 0.6), 0.08
    white = _tint(rng, _CERAMIC, 0.02)
    x0, x1 = -length / 2, length / 2
    parts = (
        _box(x0, x1, 0.0, t, 0.0, height, white),
        _box(x0, x1, depth - t, depth, 0.0, height, white),
        _box(x0, x0 + t, t, depth - t, 0.0, height, white),
        _box(x1 - t, x1, t, depth - t, 0.0, height, white),
        _box(x0 + t, x1 - t, t, depth - t, 0.0, 0.1, _shade(white, 0.97)),
    )
    items = [Furniture("bathtub", parts)]
    inner = length - 2 * t - 0.02
    width = inner * _u(rng, 0.45, 1.0)
    amp = _u(rng, 0.015, 0.03)
    start = x0 + t + 0.01 if rng.random() < 0.5 else x1 - t - 0.01 - width
    sheet = FoldedSheet(
        origin=(start, depth - t - 0.04 - 2 * amp, 0.3),
        width=width,
        height=_u(rng, 1.65, 1.8),
        color=_tint(rng, (*_VIVID, (0.9, 0.9, 0.9))),
        amplitude=amp,
        wavelength=_u(rng, 0.1, 0.16),
        phase=_u(rng, 0.0, 2 * np.pi),
    )
    items.append(Furniture("shower curtain", (sheet,)))
    return Group(tuple(items), front_clearance=0.6)


# --------------------------------------------------------------------------------------------
# Wall items


def door(rng: np.random.Generator) -> Group:
    """A door leaf slightly proud of the wall, with a handle; needs a free swing area."""
    w, h = _u(rng, 0.8, 0.95), _u(rng, 2.0, 2.1)
    color = _tint(rng, _WOOD + _PAINTED)
    hx = w / 2 - 0.1 if rng.random() < 0.5 else -w / 2 + 0.04
    parts = (
        _box(-w / 2, w / 2, -0.02, 0.025, 0.0, h, color),
        _box(hx, hx + 0.06, 0.025, 0.07, 0.95, 1.0, _tint(rng, _METAL)),
    )
    return Group((Furniture("door", parts),), front_clearance=0.9)


def window(rng: np.random.Generator, *, wall_height: float, curtains: bool) -> Group:
    """Glass, frame, mullion and sill, maybe with two folded curtain panels at its sides."""
    w = _u(rng, 0.6, 1.6)
    z0 = _u(rng, 0.8, 1.0)
    z1 = min(wall_height - 0.25, _u(rng, 2.0, 2.3))
    frame_c = _tint(rng, ((0.92, 0.92, 0.9), (0.35, 0.3, 0.25), (0.55, 0.56, 0.58)), 0.02)
    f = 0.05
    parts: list[Part] = [
        _box(-w / 2 + f, w / 2 - f, -0.02, 0.01, z0 + f, z1 - f, _tint(rng, _GLASS, 0.03)),
        _box(-w / 2, -w / 2 + f, -0.02, 0.04, z0, z1, frame_c),
        _box(w / 2 - f, w / 2, -0.02, 0.04, z0, z1, frame_c),
        _box(-w / 2 + f, w / 2 - f, -0.02, 0.04, z0, z0 + f, frame_c),
        _box(-w / 2 + f, w / 2 - f, -0.02, 0.04, z1 - f, z1, frame_c),
        _box(-w / 2 - 0.04, w / 2 + 0.04, -0.02, 0.06, z0 - 0.03, z0, frame_c),
    ]
    if w > 1.0:
        parts.append(_box(-0.02, 0.02, -0.02, 0.04, z0 + f, z1 - f, frame_c))
    items = [Furniture("window", tuple(parts))]
    if curtains:
        cloth = _tint(rng, _FABRIC + _VIVID)
        top = min(wall_height - 0.05, z1 + _u(rng, 0.05, 0.2))
        bottom = 0.02 if rng.random() < 0.7 else z0 - 0.15
        panel = _u(rng, 0.3, 0.55)
        overlap = _u(rng, 0.0, 0.15)
        amp, offset = _u(rng, 0.02, 0.04), 0.08
        for side in (-1, 1):
            xs = -w / 2 - 0.04 - panel + overlap if side < 0 else w / 2 + 0.04 - overlap
            sheet = FoldedSheet(
                origin=(xs, 0.0, bottom),
                width=panel,
                height=top - bottom,
                color=cloth,
                amplitude=amp,
                wavelength=_u(rng, 0.1, 0.18),
                phase=_u(rng, 0.0, 2 * np.pi),
                offset=offset,
            )
            # The folds hide the wall (and window edge) behind them: an invisible occluder.
            hider = Box(
                center=(xs + panel / 2, (offset - 0.05) / 2, (bottom + top) / 2),
                size=(panel, offset + 0.05, top - bottom),
                visible=False,
            )
            items.append(Furniture("curtain", (sheet, hider)))
    return Group(tuple(items), front_clearance=0.3 if curtains else 0.0)


def picture(rng: np.random.Generator, *, wall_height: float, raw: str = "picture") -> Group:
    """A framed picture (frame and a proud canvas) hung at eye level."""
    if raw == "picture":
        w, h = _u(rng, 0.3, 1.0), _u(rng, 0.3, 0.8)
    else:
        w, h = _u(rng, 0.2, 0.35), _u(rng, 0.2, 0.35)
    t = _u(rng, 0.02, 0.04)
    zc = min(_u(rng, 1.35, 1.7), wall_height - 0.2 - h / 2)
    frame = _tint(rng, _WOOD + _METAL)
    border = min(0.05, w / 6, h / 6)
    parts = (
        _box(-w / 2, w / 2, 0.0, t, zc - h / 2, zc + h / 2, frame),
        _box(
            -w / 2 + border,
            w / 2 - border,
            0.0,
            t + 0.01,
            zc - h / 2 + border,
            zc + h / 2 - border,
            _tint(rng, _VIVID, 0.1),
        ),
    )
    return Group((Furniture(raw, parts),))


# --------------------------------------------------------------------------------------------
# Small things on the floor


def trash_can(rng: np.random.Generator) -> Group:
    """A round or square bin with a lid ("trash can", nyu40 otherfurniture)."""
    color = _tint(rng, (*_METAL, (0.2, 0.35, 0.6), (0.9, 0.9, 0.88)))
    h = _u(rng, 0.3, 0.65)
    if rng.random() < 0.6:
        r = _u(rng, 0.12, 0.2)
        parts: tuple[Part, ...] = (
            Cylinder(
                center=(0.0, r), z0=0.0, z1=h, radii=(r, r), taper=_u(rng, 1.0, 1.15), color=color
            ),
        )
    else:
        w, d = _u(rng, 0.25, 0.35), _u(rng, 0.22, 0.3)
        parts = (
            _box(-w / 2, w / 2, 0.0, d, 0.0, h, color),
            _box(-w / 2 - 0.01, w / 2 + 0.01, 0.0, d + 0.01, h, h + 0.03, _shade(color, 0.8)),
        )
    return Group((Furniture("trash can", parts),), front_clearance=0.1)


def box(rng: np.random.Generator) -> Group:
    """A cardboard box ("box", not a benchmark class: an instance with ignored semantics)."""
    w, d, h = _u(rng, 0.25, 0.6), _u(rng, 0.2, 0.5), _u(rng, 0.15, 0.5)
    color = _tint(rng, ((0.65, 0.5, 0.32), (0.75, 0.62, 0.42)), 0.03)
    return Group((Furniture("box", (_box(-w / 2, w / 2, 0.0, d, 0.0, h, color),)),))


def yoga_mat(rng: np.random.Generator) -> Group:
    """A thin mat on the floor whose raw name has no row in the label table."""
    w, d = _u(rng, 1.7, 1.85), _u(rng, 0.58, 0.64)
    color = _tint(rng, _VIVID)
    return Group(
        (Furniture("yoga mat", (_box(-w / 2, w / 2, 0.0, d, 0.0, 0.012, color),)),), on_wall=False
    )


def clutter(rng: np.random.Generator) -> Group:
    """Small unannotated things on the floor (shoes, bags): vertices in no segGroup."""
    n = int(rng.integers(1, 4))
    parts: list[Part] = []
    x = 0.0
    for _ in range(n):
        w, d, h = _u(rng, 0.12, 0.35), _u(rng, 0.1, 0.3), _u(rng, 0.05, 0.25)
        parts.append(_box(x, x + w, 0.0, d, 0.0, h, _tint(rng, _VIVID + _FABRIC, 0.08)))
        x += w + _u(rng, 0.03, 0.1)
    return Group(tuple(Furniture(None, (p,)) for p in parts), on_wall=False)


#: name -> builder for the groups a room layout asks for by name.
BUILDERS = {
    "bed": bed,
    "bookshelf": bookshelf,
    "box": box,
    "cabinet": cabinet,
    "chair": chair,
    "clutter": clutter,
    "couch": couch,
    "desk": desk,
    "door": door,
    "floor lamp": floor_lamp,
    "refrigerator": refrigerator,
    "toilet": toilet,
    "bathroom sink": bathroom_sink,
    "bathtub": bathtub,
    "trash can": trash_can,
    "yoga mat": yoga_mat,
}


def build(name: str, rng: np.random.Generator) -> Group:
    """Build the group registered under ``name`` in :data:`BUILDERS`."""
    return BUILDERS[name](rng)
