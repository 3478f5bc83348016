"""Scan-like room contents: fuller rooms, shape variants, arbitrary yaw, groups and clutter.

The clean preset's programmes (``room.py``) furnish a room with a few characteristic pieces. The
scan-like programmes here start the same way and then keep adding furniture from a per-room menu
until the room holds the drawn number of benchmark objects (``ContentOptions.benchmark_objects``)
or nothing more fits. Free-standing furniture turns to any angle, wall furniture stands off the
wall by a few centimetres, and tables, desks, counters and shelves carry things nobody labels
with a benchmark class (books, monitors, bags, cups), as real ScanNet rooms do.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from . import furniture as fu
from .furniture import Furniture, Group, _box, _moved, _tint, _u
from .labels_table import nyu40_of
from .options import ContentOptions, IntRange, Range
from .room import RoomLayout, RoomShape, _place, _Planner
from .shapes import Box, Cylinder, Part

__all__ = ["generate_scan_layout", "BENCHMARK_INSTANCE_IDS"]

#: nyu40 ids of the 18 benchmark instance classes (counted towards ``benchmark_objects``).
BENCHMARK_INSTANCE_IDS = frozenset(
    (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33, 34, 36, 39)
)

_Builder = Callable[[np.random.Generator], Group]


class _Ctx:
    """The content options of one scene plus the record of what was drawn from them."""

    def __init__(self, opts: ContentOptions, draws: dict[str, list[float]]) -> None:
        self.opts = opts
        self.draws = draws

    def uniform(self, rng: np.random.Generator, name: str, bounds: Range) -> float:
        """Uniform draw from ``bounds``, recorded under ``name``."""
        value = float(rng.uniform(bounds[0], bounds[1]))
        self.draws.setdefault(name, []).append(value)
        return value

    def integer(self, rng: np.random.Generator, name: str, bounds: IntRange) -> int:
        """Uniform integer from ``bounds`` (inclusive), recorded under ``name``."""
        value = int(rng.integers(bounds[0], bounds[1] + 1))
        self.draws.setdefault(name, []).append(float(value))
        return value


class _ScanPlanner(_Planner):
    """The clean planner with arbitrary yaw for free-standing groups."""

    def __init__(self, shape: RoomShape, rng: np.random.Generator, ctx: _Ctx) -> None:
        super().__init__(shape, rng)
        self.ctx = ctx
        self.opts = ctx.opts

    def free_standing(
        self, group: fu.Group, *, attempts: int = 40, wall_margin: float = 0.3
    ) -> bool:
        """Put ``group`` on free floor at any yaw (or a right angle plus jitter)."""
        lo, hi = group.lo, group.hi
        corners = self._rect_corners(float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
        room = np.array([self.shape.width, self.shape.depth])
        for _ in range(attempts):
            if self.rng.random() < self.opts.arbitrary_yaw_probability:
                yaw = float(self.rng.uniform(0.0, 2 * np.pi))
            else:
                yaw = float(self.rng.integers(4)) * np.pi / 2 + float(self.rng.uniform(-0.1, 0.1))
            f_lo, f_hi = self._aabb(corners, yaw, np.zeros(2))
            size = f_hi - f_lo
            if np.any(size + 2 * wall_margin > room):
                continue
            t = self.rng.uniform(wall_margin, room - wall_margin - size) - f_lo
            f_lo, f_hi = f_lo + t, f_hi + t
            if not self.shape.contains_rect(f_lo, f_hi, margin=wall_margin):
                continue
            if not self._free(f_lo, f_hi):
                continue
            spans = self._wall_spans(f_lo, f_hi, float(lo[2]), float(hi[2]))
            if not self._spans_free(spans):
                continue
            self._commit(group, yaw, t, (f_lo, f_hi), None, spans)
            return True
        return False

    def benchmark_count(self) -> int:
        """Objects placed so far that belong to the 18 instance classes."""
        return sum(
            o.raw_category is not None and nyu40_of(o.raw_category) in BENCHMARK_INSTANCE_IDS
            for o in self.objects
        )


# ----------------------------------------------------------------------------------------------
# Helpers


def _off_wall(group: Group, gap: float) -> Group:
    """The group moved ``gap`` metres away from the wall (local +y)."""
    items = tuple(Furniture(i.raw_category, _moved(i.parts, 0.0, 0.0, gap)) for i in group.items)
    return Group(items, front_clearance=group.front_clearance, on_wall=group.on_wall)


def _small_thing(rng: np.random.Generator, x: float, y: float, z: float) -> Furniture:
    """A random small object standing at (x, y, z): cup, bottle, monitor, laptop, books, ..."""
    kind = int(rng.integers(8))
    color = _tint(rng, ((0.1, 0.1, 0.1), (0.85, 0.85, 0.85), (0.6, 0.3, 0.2), (0.2, 0.4, 0.7)), 0.1)
    if kind == 0:
        r, h = _u(rng, 0.03, 0.05), _u(rng, 0.08, 0.12)
        return Furniture("cup", (Cylinder((x, y), z, z + h, (r, r), color),))
    if kind == 1:
        r, h = _u(rng, 0.03, 0.045), _u(rng, 0.2, 0.32)
        return Furniture("bottle", (Cylinder((x, y), z, z + h, (r, r), color, taper=0.8),))
    if kind == 2:
        w, h = _u(rng, 0.45, 0.65), _u(rng, 0.3, 0.4)
        yaw = _u(rng, -0.4, 0.4)
        return Furniture(
            "monitor",
            (
                Box((x, y, z + 0.01), (0.2, 0.15, 0.02), color, yaw),
                Box((x, y, z + 0.09), (0.04, 0.03, 0.16), color, yaw),
                Box((x, y, z + 0.17 + h / 2), (w, 0.04, h), _tint(rng, ((0.08, 0.08, 0.1),)), yaw),
            ),
        )
    if kind == 3:
        return Furniture(
            "laptop", (Box((x, y, z + 0.01), (0.33, 0.23, 0.02), color, _u(rng, 0, np.pi)),)
        )
    if kind == 4:
        w, d, h = _u(rng, 0.15, 0.3), _u(rng, 0.12, 0.25), _u(rng, 0.04, 0.15)
        return Furniture("books", (Box((x, y, z + h / 2), (w, d, h), color, _u(rng, 0, np.pi)),))
    if kind == 5:
        r, h = _u(rng, 0.06, 0.12), _u(rng, 0.1, 0.2)
        pot = Cylinder((x, y), z, z + h, (r, r), color, taper=1.2)
        leaves = Cylinder(
            (x, y),
            z + h,
            z + h + _u(rng, 0.15, 0.4),
            (r * 1.3, r * 1.3),
            (0.2, 0.45, 0.2),
            taper=0.4,
        )
        return Furniture("plant", (pot, leaves))
    if kind == 6:
        w, d, h = _u(rng, 0.2, 0.4), _u(rng, 0.1, 0.2), _u(rng, 0.2, 0.35)
        return Furniture("bag", (Box((x, y, z + h / 2), (w, d, h), color, _u(rng, 0, np.pi)),))
    w, d, h = _u(rng, 0.08, 0.3), _u(rng, 0.08, 0.25), _u(rng, 0.03, 0.2)
    return Furniture(None, (Box((x, y, z + h / 2), (w, d, h), color, _u(rng, 0, np.pi)),))


def _with_top_items(group: Group, rng: np.random.Generator, ctx: _Ctx) -> Group:
    """Scatter small things on the main item's highest large horizontal box (if any)."""
    tops = [
        p
        for p in group.items[0].parts
        if isinstance(p, Box) and p.visible and p.size[0] * p.size[1] > 0.08 and
        0.35 < p.center[2] + p.size[2] / 2 < 1.3
    ]  # fmt: skip
    if not tops:
        return group
    top = max(tops, key=lambda p: p.center[2] + p.size[2] / 2)
    z = top.center[2] + top.size[2] / 2
    c, s = np.cos(top.yaw), np.sin(top.yaw)
    extra: list[Furniture] = []
    taken: list[tuple[float, float]] = []
    for _ in range(ctx.integer(rng, "tabletop_items", ctx.opts.tabletop_items)):
        for _try in range(5):
            u = _u(rng, -0.5, 0.5) * max(top.size[0] - 0.25, 0.0)
            v = _u(rng, -0.5, 0.5) * max(top.size[1] - 0.25, 0.0)
            x, y = top.center[0] + c * u - s * v, top.center[1] + s * u + c * v
            if all(np.hypot(x - a, y - b) > 0.35 for a, b in taken):
                taken.append((x, y))
                extra.append(_small_thing(rng, x, y, z))
                break
    return Group((*group.items, *extra), front_clearance=group.front_clearance,
                 on_wall=group.on_wall)  # fmt: skip


# ----------------------------------------------------------------------------------------------
# Shape variants


def _armchair_parts(rng: np.random.Generator) -> tuple[float, float, list[Part]]:
    """A four-legged chair with arm rests, back at y = 0."""
    w, d, parts = fu._chair_parts(rng)
    seat = parts[0]
    assert isinstance(seat, Box)
    frame = parts[1].color
    seat_h = seat.center[2] + seat.size[2] / 2
    arm_h = seat_h + _u(rng, 0.18, 0.25)
    for sx in (-1, 1):
        x0 = sx * w / 2 - (0.04 if sx > 0 else 0.0)
        parts.append(_box(x0, x0 + 0.04, 0.05, d - 0.02, arm_h - 0.04, arm_h, frame))
        parts.append(_box(x0, x0 + 0.04, d - 0.06, d - 0.02, seat_h, arm_h - 0.04, frame))
    return w, d, parts


def _stool_parts(rng: np.random.Generator) -> tuple[float, float, list[Part]]:
    """A round or square stool, centred at (0, r)."""
    h, r = _u(rng, 0.45, 0.78), _u(rng, 0.15, 0.2)
    color = _tint(rng, fu._WOOD + fu._METAL)
    parts: list[Part] = [Cylinder((0.0, r), h - 0.04, h, (r, r), _tint(rng, fu._FABRIC + fu._WOOD))]
    for k in range(4):
        a = np.pi / 4 + k * np.pi / 2
        parts.append(
            Cylinder(
                (0.7 * r * np.cos(a), r + 0.7 * r * np.sin(a)), 0.0, h - 0.04, (0.015, 0.015), color
            )
        )
    return 2 * r, 2 * r, parts


def _any_chair_parts(
    rng: np.random.Generator, office: bool
) -> tuple[str, float, float, list[Part]]:
    if office:
        return ("office chair", *fu._office_chair_parts(rng))
    kind = int(rng.integers(4))
    if kind == 0:
        return ("chair", *_armchair_parts(rng))
    if kind == 1:
        return ("stool", *_stool_parts(rng))
    if kind == 2:
        return ("office chair", *fu._office_chair_parts(rng))
    return ("chair", *fu._chair_parts(rng))


def loose_chair(rng: np.random.Generator) -> Group:
    """One chair of any kind (plain, with arms, stool, office chair), free-standing."""
    raw, _w, _d, parts = _any_chair_parts(rng, office=False)
    return Group((Furniture(raw, tuple(parts)),), on_wall=False)


def wall_chair(rng: np.random.Generator) -> Group:
    """A chair of any kind standing against a wall."""
    raw, _w, _d, parts = _any_chair_parts(rng, office=False)
    return Group((Furniture(raw, tuple(parts)),), front_clearance=0.3)


def round_table_set(rng: np.random.Generator, opts: _Ctx) -> Group:
    """A round pedestal table with chairs around it, facing its centre."""
    r, h = _u(rng, 0.4, 0.7), _u(rng, 0.72, 0.77)
    wood = _tint(rng, fu._WOOD + fu._PAINTED)
    table: list[Part] = [
        Cylinder((0.0, 0.0), h - 0.04, h, (r, r), wood),
        Cylinder((0.0, 0.0), 0.03, h - 0.04, (0.05, 0.05), fu._shade(wood, 0.8)),
        Cylinder((0.0, 0.0), 0.0, 0.03, (0.25, 0.25), fu._shade(wood, 0.8)),
    ]
    items = [Furniture("round table", tuple(table))]
    n = int(rng.integers(2, 6))
    start = _u(rng, 0, 2 * np.pi)
    office = rng.random() < 0.3
    for k in range(n):
        a = start + 2 * np.pi * k / n + _u(rng, -0.15, 0.15)
        raw, _w, d, parts = _any_chair_parts(rng, office)
        dist = r + _u(rng, 0.05, 0.2) + d
        # The chair's front (local +y) must face the centre: yaw so that +y points to -a.
        yaw = a + np.pi / 2
        placed = _moved(parts, yaw, dist * np.cos(a), dist * np.sin(a))
        items.append(Furniture(raw, placed))
    group = Group(tuple(items), on_wall=False)
    return _with_top_items(group, rng, opts)


def rect_table_set(rng: np.random.Generator, opts: _Ctx, kind: str) -> Group:
    """The clean table set with mixed chair kinds and things on the table."""
    group = fu.table_set(rng, kind=kind)
    return _with_top_items(group, rng, opts)


def l_couch(rng: np.random.Generator) -> Group:
    """A sofa, L-shaped half of the time (a chaise section joined at one end)."""
    group = fu.couch(rng)
    if rng.random() < 0.5:
        return group
    main = group.items[0]
    back, seat = main.parts[0], main.parts[1]
    assert isinstance(back, Box) and isinstance(seat, Box)
    w = float(back.size[0])
    d = float(seat.center[1] + seat.size[1] / 2)
    ext = _u(rng, 0.6, 1.1)
    side = 1.0 if rng.random() < 0.5 else -1.0
    x0 = side * w / 2 - (d if side > 0 else 0.0)
    chaise = _box(x0, x0 + d, d, d + ext, 0.0, seat.size[2], seat.color)
    items = [Furniture(main.raw_category, (*main.parts, chaise))]
    # Keep the pillows, drop the coffee table (it would stand in the chaise).
    items += [i for i in group.items[1:] if i.raw_category == "pillow"]
    return Group(tuple(items), front_clearance=0.4)


def bunk_bed(rng: np.random.Generator) -> Group:
    """Two stacked bed frames with mattresses on four posts, plus a ladder."""
    w, length = _u(rng, 0.9, 1.0), _u(rng, 1.95, 2.1)
    wood = _tint(rng, fu._WOOD + fu._PAINTED + fu._METAL)
    linen = _tint(rng, (*fu._FABRIC, (0.9, 0.9, 0.88)))
    z_low, z_high, top = _u(rng, 0.2, 0.3), _u(rng, 1.2, 1.4), _u(rng, 1.7, 1.9)
    parts: list[Part] = []
    for z in (z_low, z_high):
        parts.append(_box(-w / 2, w / 2, 0.0, length, z - 0.06, z, fu._shade(wood, 0.9)))
        parts.append(_box(-w / 2 + 0.03, w / 2 - 0.03, 0.02, length - 0.02, z, z + 0.16, linen))
    for x in (-w / 2 - 0.05, w / 2):
        for y in (0.0, length - 0.05):
            parts.append(_box(x, x + 0.05, y, y + 0.05, 0.0, top, wood))
    return Group((Furniture("bunk bed", tuple(parts)),), front_clearance=0.6)


def any_bed(rng: np.random.Generator) -> Group:
    """A single or double bed (with pillows and nightstands), or a bunk bed."""
    if rng.random() < 0.2:
        return bunk_bed(rng)
    return fu.bed(rng)


def door_any(rng: np.random.Generator, opts: _Ctx) -> Group:
    """A closed door, or an open one: the leaf swung into the room and the doorway a hole."""
    group = fu.door(rng)
    if rng.random() >= opts.opts.open_door_probability:
        return group
    leaf, handle = group.items[0].parts
    assert isinstance(leaf, Box) and isinstance(handle, Box)
    w, h = float(leaf.size[0]), float(leaf.size[2])
    angle = _u(rng, 0.5, 1.7)
    hinge = (-w / 2, 0.025)
    parts = _moved(
        (_box(0.0, w, -0.045, 0.0, 0.0, h, leaf.color),
         _box(w - 0.1, w - 0.04, 0.0, 0.045, 0.95, 1.0, handle.color)),
        angle, *hinge,
    )  # fmt: skip
    frame = _tint(rng, fu._PAINTED + fu._WOOD, 0.02)
    trims = (
        _box(-w / 2 - 0.06, -w / 2, -0.02, 0.02, 0.0, h + 0.06, frame),
        _box(w / 2, w / 2 + 0.06, -0.02, 0.02, 0.0, h + 0.06, frame),
        _box(-w / 2, w / 2, -0.02, 0.02, h, h + 0.06, frame),
    )
    # An invisible block in the doorway hides the wall there: the scan sees through the door.
    hole = Box(center=(0.0, -0.01, h / 2), size=(w, 0.04, h), visible=False)
    return Group((Furniture("door", (*parts, *trims, hole)),), front_clearance=0.9)


def window_any(
    rng: np.random.Generator, opts: _Ctx, *, wall_height: float, curtains: bool
) -> Group:
    """A bright, see-through (no glass; the wall behind missing) or covered (blinds) window."""
    group = fu.window(rng, wall_height=wall_height, curtains=curtains)
    main = group.items[0]
    glass = main.parts[0]
    assert isinstance(glass, Box)
    kind = int(rng.choice(3, p=np.asarray(opts.opts.window_kinds)))
    grey = _u(rng, 0.62, 0.85)
    bright = (grey, grey * _u(rng, 0.97, 1.03), grey * _u(rng, 0.98, 1.08))
    rest: list[Furniture] = list(group.items[1:])
    if kind == 1:
        hole = replace(glass, visible=False, size=(glass.size[0], 0.05, glass.size[2]),
                       center=(glass.center[0], -0.015, glass.center[2]))  # fmt: skip
        parts: tuple[Part, ...] = (hole, *main.parts[1:])
    else:
        parts = (replace(glass, color=bright), *main.parts[1:])
    if kind == 2:
        lo_z = glass.center[2] - glass.size[2] / 2
        hi_z = glass.center[2] + glass.size[2] / 2
        drop = _u(rng, 0.3, 1.0)
        color = _tint(rng, ((0.9, 0.9, 0.88), (0.75, 0.7, 0.6), (0.5, 0.5, 0.5)), 0.03)
        blinds = _box(
            -glass.size[0] / 2, glass.size[0] / 2, 0.05, 0.07,
            hi_z - drop * (hi_z - lo_z), hi_z, color,
        )  # fmt: skip
        rest.append(Furniture("blinds", (blinds,)))
    return Group((Furniture("window", parts), *rest), front_clearance=group.front_clearance)


def books_bookshelf(rng: np.random.Generator, opts: _Ctx) -> Group:
    """A bookshelf whose boards carry blocks of books ("books", not a benchmark class)."""
    group = fu.bookshelf(rng)
    parts = group.items[0].parts
    side, back = parts[0], parts[4]
    assert isinstance(side, Box) and isinstance(back, Box)
    inner_w = float(back.size[0])
    d = float(side.size[1])
    shelves = [p for p in parts[5:] if isinstance(p, Box)]
    top = parts[2]
    assert isinstance(top, Box)
    boards = [0.07] + [float(p.center[2] + p.size[2] / 2) for p in shelves]
    ceilings = [float(p.center[2] - p.size[2] / 2) for p in shelves] + [
        float(top.center[2] - top.size[2] / 2)
    ]
    items = [group.items[0]]
    for z0, z1 in zip(boards, ceilings, strict=True):
        x = -inner_w / 2 + 0.01
        fill = opts.uniform(rng, "shelf_fill", opts.opts.shelf_fill)
        end = -inner_w / 2 + fill * inner_w
        while x < end - 0.08:
            bw = min(_u(rng, 0.1, 0.4), end - x)
            bh = min(_u(rng, 0.15, 0.3), z1 - z0 - 0.02)
            if bh < 0.05:
                break
            bd = _u(rng, 0.6, 0.95) * (d - 0.02)
            color = _tint(rng, fu._VIVID + fu._FABRIC, 0.1)
            items.append(
                Furniture("books", (_box(x, x + bw, 0.015, 0.015 + bd, z0, z0 + bh, color),))
            )
            x += bw + _u(rng, 0.005, 0.08)
    return Group(tuple(items), front_clearance=group.front_clearance)


def tabled(builder: _Builder, opts: _Ctx) -> _Builder:
    """``builder`` whose group gets things on its top."""

    def build(rng: np.random.Generator) -> Group:
        return _with_top_items(builder(rng), rng, opts)

    return build


def whiteboard(rng: np.random.Generator, *, wall_height: float) -> Group:
    """A whiteboard or TV on the wall (non-benchmark classes)."""
    raw = "whiteboard" if rng.random() < 0.5 else "tv"
    w, h = (_u(rng, 1.2, 2.4), _u(rng, 0.9, 1.2)) if raw == "whiteboard" else (
        _u(rng, 0.8, 1.4), _u(rng, 0.5, 0.8))  # fmt: skip
    z = min(_u(rng, 0.9, 1.2), wall_height - h - 0.1)
    color = (0.92, 0.92, 0.9) if raw == "whiteboard" else (0.06, 0.06, 0.07)
    return Group((Furniture(raw, (_box(-w / 2, w / 2, 0.0, 0.03, z, z + h, color),)),))


def floor_clutter(rng: np.random.Generator) -> Group:
    """A bag, backpack, pile of clothes or the clean generator's unannotated clutter."""
    kind = int(rng.integers(4))
    if kind == 0:
        return fu.clutter(rng)
    raw = ("bag", "backpack", "clothes")[kind - 1]
    w, d, h = _u(rng, 0.25, 0.5), _u(rng, 0.15, 0.4), _u(rng, 0.08, 0.45)
    color = _tint(rng, fu._VIVID + fu._FABRIC + fu._METAL, 0.1)
    return Group((Furniture(raw, (_box(-w / 2, w / 2, 0.0, d, 0.0, h, color),)),), on_wall=False)


# ----------------------------------------------------------------------------------------------
# Programmes

#: Wall items that hang in or on the wall itself and never stand off it.
_FLUSH = frozenset(("door", "window", "picture", "decoration", "whiteboard", "tv", "bathtub"))


def _gapped(builder: _Builder, ctx: _Ctx) -> _Builder:
    """``builder`` whose floor-standing wall groups stand ``gap`` metres off the wall."""

    def build(rng: np.random.Generator) -> Group:
        group = builder(rng)
        if not group.on_wall or group.items[0].raw_category in _FLUSH or group.lo[2] > 0.3:
            return group
        return _off_wall(group, ctx.uniform(rng, "wall_gap", ctx.opts.wall_gap))

    return build


def _put(
    plan: _ScanPlanner, build: _Builder, *, mode: str = "wall", required: bool = False
) -> bool:
    """Place like the clean planner; floor-standing wall groups get the wall gap."""
    if mode == "wall":
        build = _gapped(build, plan.ctx)
    return _place(plan, build, mode=mode, required=required)


def _menu(room_type: str, h: float, opts: _Ctx) -> list[tuple[_Builder, str, float]]:
    """(builder, placement mode, weight) of the furniture a room of this kind adds."""
    win = functools.partial(window_any, opts=opts, wall_height=h)
    common: list[tuple[_Builder, str, float]] = [
        (lambda r: fu.picture(r, wall_height=h), "wall", 2.0),
        (lambda r: win(r, curtains=bool(r.random() < 0.5)), "wall", 1.0),
        (fu.trash_can, "wall", 0.7),
        (functools.partial(door_any, opts=opts), "wall", 0.3),
        (wall_chair, "wall", 0.8),
        (tabled(fu.cabinet, opts), "wall", 0.8),
    ]
    table_any: _Builder = lambda r: (  # noqa: E731
        round_table_set(r, opts) if r.random() < 0.4 else rect_table_set(r, opts, "dining")
    )
    per_room: dict[str, list[tuple[_Builder, str, float]]] = {
        "bedroom": [
            (tabled(lambda r: fu.drawers(r, raw="dresser"), opts), "wall", 1.0),
            (lambda r: fu.cabinet(r, tall=True), "wall", 1.0),
            (tabled(fu.desk, opts), "wall", 0.8),
            (loose_chair, "free", 1.0),
            (functools.partial(books_bookshelf, opts=opts), "wall", 0.6),
            (fu.floor_lamp, "wall", 0.4),
        ],
        "office": [
            (tabled(fu.desk, opts), "wall", 3.0),
            (functools.partial(books_bookshelf, opts=opts), "wall", 1.0),
            (
                lambda r: fu.cabinet(r, raw="file cabinet" if r.random() < 0.5 else "cabinet"),
                "wall",
                1.0,
            ),
            (loose_chair, "free", 1.5),
            (lambda r: rect_table_set(r, opts, "meeting"), "free", 0.5),
            (lambda r: whiteboard(r, wall_height=h), "wall", 0.5),
        ],
        "living room": [
            (l_couch, "wall", 0.8),
            (loose_chair, "free", 1.5),
            (functools.partial(books_bookshelf, opts=opts), "wall", 1.0),
            (tabled(lambda r: fu.cabinet(r, tall=False), opts), "wall", 1.0),
            (table_any, "free", 0.6),
            (lambda r: whiteboard(r, wall_height=h), "wall", 0.4),
            (fu.floor_lamp, "wall", 0.5),
        ],
        "kitchen": [
            (lambda r: fu.cabinet(r, raw="kitchen cabinet"), "wall", 1.5),
            (
                tabled(
                    lambda r: fu.counter(r, length=float(r.uniform(1.0, 2.4)), with_sink=False),
                    opts,
                ),
                "wall",
                1.0,
            ),
            (table_any, "free", 1.0),
            (loose_chair, "free", 1.0),
        ],
        "bathroom": [
            (fu.bathroom_sink, "wall", 0.8),
            (lambda r: fu.cabinet(r, tall=False), "wall", 1.0),
            (fu.toilet, "wall", 0.3),
        ],
        "conference room": [
            (loose_chair, "free", 1.0),
            (wall_chair, "wall", 2.0),
            (tabled(fu.cabinet, opts), "wall", 1.0),
            (lambda r: whiteboard(r, wall_height=h), "wall", 0.8),
        ],
    }
    return common + per_room[room_type]


def _core(plan: _ScanPlanner, room_type: str, h: float, opts: _Ctx) -> None:
    """The room's characteristic furniture (always attempted)."""
    win = functools.partial(window_any, opts=opts, wall_height=h)
    required = functools.partial(_put, plan, required=True)
    if room_type == "bedroom":
        required(any_bed)
        required(lambda r: win(r, curtains=True))
    elif room_type == "office":
        required(tabled(fu.desk, opts))
        required(functools.partial(books_bookshelf, opts=opts))
        required(lambda r: win(r, curtains=bool(r.random() < 0.3)))
    elif room_type == "living room":
        required(l_couch)
        required(lambda r: win(r, curtains=True))
    elif room_type == "kitchen":
        longest = max(w.length for w in plan.walls)
        required(
            tabled(
                lambda r: fu.counter(
                    r, length=float(r.uniform(1.5, min(3.5, longest - 0.5))), with_sink=True
                ),
                opts,
            )
        )
        required(fu.refrigerator)
    elif room_type == "bathroom":
        _put(plan, fu.bathtub, mode="corner", required=True)
        required(fu.toilet)
        required(fu.bathroom_sink)
    else:
        _put(plan, lambda r: rect_table_set(r, opts, "conference"), mode="free", required=True)
        required(lambda r: win(r, curtains=bool(r.random() < 0.5)))


def _fill(plan: _ScanPlanner, room_type: str, h: float, opts: _Ctx, target: int) -> None:
    """Add menu furniture until ``target`` benchmark objects stand in the room or none fits."""
    menu = _menu(room_type, h, opts)
    weights = np.array([m[2] for m in menu])
    weights /= weights.sum()
    failures = 0
    while plan.benchmark_count() < target and failures < 25:
        build, mode, _ = menu[int(plan.rng.choice(len(menu), p=weights))]
        if _put(plan, build, mode=mode):
            failures = 0
        else:
            failures += 1


def generate_scan_layout(
    room_type: str,
    rng: np.random.Generator,
    opts: ContentOptions,
    draws: dict[str, list[float]] | None = None,
) -> tuple[RoomLayout, int]:
    """Draw a scan-like room of ``room_type`` and furnish it.

    Args:
        room_type: one of :data:`dknet.synth.room.ROOM_TYPES`.
        rng: the scene's layout random stream.
        opts: the content ranges.
        draws: where to record the values drawn from ``opts`` (option name -> values).

    Returns:
        The layout and the drawn target number of benchmark objects.
    """
    lo, hi = opts.sides(room_type)
    ctx = _Ctx(opts, {} if draws is None else draws)
    long = float(rng.uniform(lo, hi))
    short = long / ctx.uniform(rng, "room_aspect", opts.room_aspect)
    width, depth = (short, long) if rng.random() < 0.5 else (long, short)
    height = float(rng.uniform(*opts.room_height))
    notch = None
    if room_type != "bathroom" and min(width, depth) >= 4.5 and rng.random() < 0.3:
        notch = (width * float(rng.uniform(0.25, 0.4)), depth * float(rng.uniform(0.25, 0.4)))
    shape = RoomShape(width=width, depth=depth, height=height, notch=notch)
    plan = _ScanPlanner(shape, rng, ctx)
    target = ctx.integer(rng, "benchmark_objects", opts.benchmark_objects)
    _put(plan, functools.partial(door_any, opts=ctx), required=True)
    _core(plan, room_type, height, ctx)
    _fill(plan, room_type, height, ctx, target)
    for _ in range(ctx.integer(rng, "clutter_items", opts.clutter_items)):
        _put(plan, floor_clutter, mode="clutter")
    for _ in range(int(rng.integers(0, 3))):
        _put(plan, fu.box, mode="wall" if rng.random() < 0.6 else "clutter")
    return RoomLayout(room_type=room_type, shape=shape, objects=tuple(plan.objects)), target
