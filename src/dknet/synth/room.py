"""Room shapes and furniture layout: what stands where in a synthetic room.

A room is a rectangle ``[0, width] x [0, depth]`` (metres, floor at z = 0), optionally L-shaped
by cutting a rectangular notch out of its (+x, +y) corner. Its walls are the edges of that
footprint polygon, counter-clockwise, so the room is on each wall's left. Furniture groups are
placed against walls (back flush with the wall, so the wall behind them is hidden) or free
standing, never overlapping each other, the free floor they need (door swings, space in front
of cabinets) or each other's wall area.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import furniture as fu
from .shapes import Part, transform_part

__all__ = [
    "ROOM_TYPES",
    "SCENE_TYPE_NAMES",
    "RoomShape",
    "Wall",
    "PlacedObject",
    "RoomLayout",
    "generate_layout",
]

#: The kinds of room the generator builds; scene i of seed s is ROOM_TYPES[(i + s) % 6], so
#: every six consecutive scenes contain each kind once.
ROOM_TYPES: tuple[str, ...] = (
    "bedroom",
    "office",
    "living room",
    "kitchen",
    "bathroom",
    "conference room",
)

#: ScanNet's ``sceneType`` names for the ``<scene>.txt`` metadata.
SCENE_TYPE_NAMES: dict[str, str] = {
    "bedroom": "Bedroom / Hotel",
    "office": "Office",
    "living room": "Living room / Lounge",
    "kitchen": "Kitchen",
    "bathroom": "Bathroom",
    "conference room": "Conference Room",
}

_SIDE_RANGE: dict[str, tuple[float, float]] = {
    "bedroom": (3.2, 5.5),
    "office": (3.5, 8.0),
    "living room": (4.0, 8.0),
    "kitchen": (3.0, 6.0),
    "bathroom": (3.0, 4.2),
    "conference room": (5.0, 10.0),
}

#: Groups whose lowest point is below this height occupy floor (metres).
_FLOOR_LEVEL = 0.3
#: Free space kept between groups, metres.
_CLEARANCE = 0.04


@dataclass(frozen=True)
class Wall:
    """One straight wall: from ``start`` to ``end`` (xy, metres), the room on its left.

    Attributes:
        start, end: (2,) float64 endpoints.
        length: metres.
        yaw: direction of the wall (start -> end), radians; the inward normal is
            ``(-sin yaw, cos yaw)``.
    """

    start: np.ndarray
    end: np.ndarray
    length: float
    yaw: float

    @property
    def direction(self) -> np.ndarray:
        """(2,) unit vector from start to end."""
        return np.array([np.cos(self.yaw), np.sin(self.yaw)])

    @property
    def inward(self) -> np.ndarray:
        """(2,) unit normal pointing into the room."""
        return np.array([-np.sin(self.yaw), np.cos(self.yaw)])


@dataclass(frozen=True)
class RoomShape:
    """A rectangular or L-shaped room.

    Attributes:
        width, depth: extents along x and y, metres.
        height: wall height, metres.
        notch: (notch_width, notch_depth) cut from the (+x, +y) corner, or None.
    """

    width: float
    depth: float
    height: float
    notch: tuple[float, float] | None = None

    def polygon(self) -> np.ndarray:
        """(K, 2) float64 footprint corners, counter-clockwise, starting at the origin."""
        w, d = self.width, self.depth
        if self.notch is None:
            return np.array([[0.0, 0.0], [w, 0.0], [w, d], [0.0, d]])
        nw, nd = self.notch
        return np.array(
            [[0.0, 0.0], [w, 0.0], [w, d - nd], [w - nw, d - nd], [w - nw, d], [0.0, d]]
        )

    def walls(self) -> list[Wall]:
        """The footprint edges as walls, in polygon order."""
        poly = self.polygon()
        walls = []
        for a, b in zip(poly, np.roll(poly, -1, axis=0), strict=True):
            delta = b - a
            walls.append(
                Wall(
                    start=a,
                    end=b,
                    length=float(np.hypot(*delta)),
                    yaw=float(np.arctan2(delta[1], delta[0])),
                )
            )
        return walls

    def notch_rect(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(lo, hi) xy corners of the cut-out rectangle, or None."""
        if self.notch is None:
            return None
        nw, nd = self.notch
        return (
            np.array([self.width - nw, self.depth - nd]),
            np.array([self.width, self.depth]),
        )

    def contains_rect(self, lo: np.ndarray, hi: np.ndarray, margin: float = 0.0) -> bool:
        """Whether the xy rectangle [lo, hi] lies in the room, at least ``margin`` from walls."""
        eps = 1e-6
        if lo[0] < margin - eps or lo[1] < margin - eps:
            return False
        if hi[0] > self.width - margin + eps or hi[1] > self.depth - margin + eps:
            return False
        notch = self.notch_rect()
        if notch is not None:
            n_lo, n_hi = notch[0] - margin, notch[1]
            if np.all(lo < n_hi - eps) and np.all(hi > n_lo + eps):
                return False
        return True

    def contains_points(self, xy: np.ndarray, tolerance: float = 0.0) -> np.ndarray:
        """(n,) bool: points (n, 2) inside the footprint (boundary within ``tolerance``)."""
        inside = (
            (xy[:, 0] >= -tolerance)
            & (xy[:, 0] <= self.width + tolerance)
            & (xy[:, 1] >= -tolerance)
            & (xy[:, 1] <= self.depth + tolerance)
        )
        notch = self.notch_rect()
        if notch is not None:
            n_lo, _ = notch
            inside &= ~((xy[:, 0] > n_lo[0] + tolerance) & (xy[:, 1] > n_lo[1] + tolerance))
        return inside


@dataclass(frozen=True)
class PlacedObject:
    """An object in room coordinates.

    Attributes:
        raw_category: raw ScanNet name, or None for unannotated clutter.
        parts: primitives in room coordinates (metres).
    """

    raw_category: str | None
    parts: tuple[Part, ...]


@dataclass(frozen=True)
class RoomLayout:
    """A room and everything placed in it.

    Attributes:
        room_type: one of :data:`ROOM_TYPES`.
        shape: the room's footprint and height.
        objects: placed objects in placement order.
    """

    room_type: str
    shape: RoomShape
    objects: tuple[PlacedObject, ...]


def _overlaps(lo_a: np.ndarray, hi_a: np.ndarray, lo_b: np.ndarray, hi_b: np.ndarray) -> bool:
    return bool(np.all(lo_a < hi_b) and np.all(lo_b < hi_a))


class _Planner:
    """Keeps track of occupied floor, reserved walkways and used wall area while placing."""

    def __init__(self, shape: RoomShape, rng: np.random.Generator) -> None:
        self.shape = shape
        self.rng = rng
        self.walls = shape.walls()
        self.objects: list[PlacedObject] = []
        self.solids: list[tuple[np.ndarray, np.ndarray]] = []
        self.walkways: list[tuple[np.ndarray, np.ndarray]] = []
        self.spans: list[list[tuple[float, float, float, float]]] = [[] for _ in self.walls]

    # -- geometry helpers ------------------------------------------------------------------

    @staticmethod
    def _aabb(
        corners_local: np.ndarray, yaw: float, t: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        c, s = np.cos(yaw), np.sin(yaw)
        rot = np.array([[c, -s], [s, c]])
        world = corners_local @ rot.T + t
        return world.min(axis=0), world.max(axis=0)

    @staticmethod
    def _rect_corners(x0: float, x1: float, y0: float, y1: float) -> np.ndarray:
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])

    def _wall_spans(
        self, lo: np.ndarray, hi: np.ndarray, z0: float, z1: float
    ) -> list[tuple[int, tuple[float, float, float, float]]]:
        """Wall area covered by an xy box [lo, hi] touching (within 2 cm) a wall line."""
        spans = []
        for k, wall in enumerate(self.walls):
            d = wall.direction
            n = wall.inward
            corners = self._rect_corners(lo[0], hi[0], lo[1], hi[1]) - wall.start
            dist = corners @ n
            if dist.min() > 0.02:
                continue
            along = corners @ d
            s0, s1 = max(float(along.min()), 0.0), min(float(along.max()), wall.length)
            if s1 - s0 <= 1e-6:
                continue
            spans.append((k, (s0, s1, z0, z1)))
        return spans

    def _free(self, lo: np.ndarray, hi: np.ndarray, *, walkway_ok: bool = False) -> bool:
        lo_c, hi_c = lo - _CLEARANCE, hi + _CLEARANCE
        if any(_overlaps(lo_c, hi_c, a, b) for a, b in self.solids):
            return False
        return walkway_ok or not any(_overlaps(lo, hi, a, b) for a, b in self.walkways)

    def _spans_free(self, spans: list[tuple[int, tuple[float, float, float, float]]]) -> bool:
        margin = 0.03
        for k, (s0, s1, z0, z1) in spans:
            for t0, t1, u0, u1 in self.spans[k]:
                if s0 < t1 + margin and t0 < s1 + margin and z0 < u1 + margin and u0 < z1 + margin:
                    return False
        return True

    def _commit(
        self,
        group: fu.Group,
        yaw: float,
        t: np.ndarray,
        footprint: tuple[np.ndarray, np.ndarray] | None,
        walkway: tuple[np.ndarray, np.ndarray] | None,
        spans: list[tuple[int, tuple[float, float, float, float]]],
    ) -> None:
        if footprint is not None:
            self.solids.append(footprint)
        if walkway is not None:
            self.walkways.append(walkway)
        for k, span in spans:
            self.spans[k].append(span)
        for item in group.items:
            parts = tuple(transform_part(p, yaw, (float(t[0]), float(t[1]))) for p in item.parts)
            self.objects.append(PlacedObject(item.raw_category, parts))

    # -- placement -------------------------------------------------------------------------

    def on_wall(self, group: fu.Group, *, attempts: int = 40, corner: bool = False) -> bool:
        """Put ``group`` with its back (local y = 0) flush against a random wall.

        Args:
            corner: also flush against the wall at one end (bathtubs).

        Returns:
            Whether a free spot was found (the group is placed then).
        """
        lo, hi = group.lo, group.hi
        width = float(hi[0] - lo[0])
        y0, y1 = max(float(lo[1]), 0.0), float(hi[1])
        z0, z1 = float(lo[2]), float(hi[2])
        on_floor = z0 < _FLOOR_LEVEL
        candidates = [k for k, w in enumerate(self.walls) if w.length >= width + 0.04]
        if not candidates:
            return False
        for _ in range(attempts):
            k = candidates[int(self.rng.integers(len(candidates)))]
            wall = self.walls[k]
            if corner:
                s = 0.0 if self.rng.random() < 0.5 else wall.length - width
            else:
                s = float(self.rng.uniform(0.02, wall.length - width - 0.02))
            t = wall.start + (s - float(lo[0])) * wall.direction
            corners = self._rect_corners(float(lo[0]), float(hi[0]), y0, y1)
            f_lo, f_hi = self._aabb(corners, wall.yaw, t)
            if not self.shape.contains_rect(f_lo, f_hi):
                continue
            walkway = None
            if group.front_clearance > 0:
                w_corners = self._rect_corners(
                    float(lo[0]), float(hi[0]), y1, y1 + group.front_clearance
                )
                walkway = self._aabb(w_corners, wall.yaw, t)
                if not self.shape.contains_rect(*walkway):
                    continue
                if not self._free(*walkway, walkway_ok=True):
                    continue
            if on_floor and not self._free(f_lo, f_hi):
                continue
            spans = self._wall_spans(f_lo, f_hi, z0, z1)
            if not self._spans_free(spans):
                continue
            self._commit(group, wall.yaw, t, (f_lo, f_hi) if on_floor else None, walkway, spans)
            return True
        return False

    def free_standing(
        self, group: fu.Group, *, attempts: int = 40, wall_margin: float = 0.3
    ) -> bool:
        """Put ``group`` anywhere on free floor, turned by a multiple of 90 degrees plus jitter.

        Returns:
            Whether a free spot was found (the group is placed then).
        """
        lo, hi = group.lo, group.hi
        corners = self._rect_corners(float(lo[0]), float(hi[0]), float(lo[1]), float(hi[1]))
        for _ in range(attempts):
            yaw = float(self.rng.integers(4)) * np.pi / 2 + float(self.rng.uniform(-0.08, 0.08))
            f_lo, f_hi = self._aabb(corners, yaw, np.zeros(2))
            size = f_hi - f_lo
            room = np.array([self.shape.width, self.shape.depth])
            if np.any(size + 2 * wall_margin > room):
                return False
            target = self.rng.uniform(wall_margin, room - wall_margin - size)
            t = target - f_lo
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


# ----------------------------------------------------------------------------------------------
# Room programmes: what each kind of room contains.

_Builder = Callable[[np.random.Generator], fu.Group]


def _place(
    plan: _Planner,
    build: _Builder,
    *,
    mode: str = "wall",
    required: bool = False,
) -> bool:
    """Build and place one group; required groups are rebuilt and retried a few times."""
    tries = 6 if required else 1
    for _ in range(tries):
        group = build(plan.rng)
        if mode == "free":
            ok = plan.free_standing(group, attempts=80 if required else 30)
        elif mode == "clutter":
            ok = plan.free_standing(group, attempts=20, wall_margin=0.05)
        else:
            ok = plan.on_wall(group, attempts=120 if required else 30, corner=mode == "corner")
        if ok:
            return True
    return False


def _maybe(plan: _Planner, p: float) -> bool:
    return bool(plan.rng.random() < p)


def _common_extras(plan: _Planner, *, pictures: tuple[int, int], height: float) -> None:
    """Pictures, a wall decoration, boxes, a mat and unannotated clutter."""
    for _ in range(int(plan.rng.integers(pictures[0], pictures[1] + 1))):
        _place(plan, lambda r: fu.picture(r, wall_height=height), required=pictures[0] > 0)
    if _maybe(plan, 0.3):
        _place(plan, lambda r: fu.picture(r, wall_height=height, raw="decoration"))
    for _ in range(int(plan.rng.integers(0, 3))):
        _place(plan, fu.box, mode="wall" if _maybe(plan, 0.6) else "clutter")
    if _maybe(plan, 0.2):
        _place(plan, fu.yoga_mat, mode="clutter")
    for _ in range(int(plan.rng.integers(0, 3))):
        _place(plan, fu.clutter, mode="clutter")


def _windows(plan: _Planner, height: float, *, count: int, curtains: float, required: bool) -> None:
    for k in range(count):
        with_curtains = _maybe(plan, curtains) or (required and curtains >= 1.0 and k == 0)
        _place(
            plan,
            functools.partial(fu.window, wall_height=height, curtains=with_curtains),
            required=required and k == 0,
        )


def _bedroom(plan: _Planner, h: float) -> None:
    _place(plan, fu.bed, required=True)
    _windows(plan, h, count=1 + int(_maybe(plan, 0.4)), curtains=1.0, required=True)
    if _maybe(plan, 0.6):
        _place(plan, lambda r: fu.drawers(r, raw="dresser"))
    if _maybe(plan, 0.5):
        _place(plan, lambda r: fu.cabinet(r, tall=True))
    if _maybe(plan, 0.3):
        _place(plan, fu.desk)
    if _maybe(plan, 0.2):
        _place(plan, fu.floor_lamp)
    if _maybe(plan, 0.4):
        _place(plan, fu.trash_can)
    _common_extras(plan, pictures=(0, 2), height=h)


def _office(plan: _Planner, h: float) -> None:
    _place(plan, fu.desk, required=True)
    for _ in range(int(plan.rng.integers(0, 3))):
        _place(plan, fu.desk)
    _place(plan, fu.bookshelf, required=True)
    if _maybe(plan, 0.5):
        _place(plan, fu.bookshelf)
    _place(plan, fu.cabinet, required=True)
    if _maybe(plan, 0.4):
        _place(plan, fu.cabinet)
    _windows(plan, h, count=1 + int(_maybe(plan, 0.4)), curtains=0.3, required=True)
    if _maybe(plan, 0.3):
        _place(plan, lambda r: fu.table_set(r, kind="meeting"), mode="free")
    _place(plan, fu.trash_can, required=True)
    if _maybe(plan, 0.4):
        _place(plan, fu.trash_can, mode="clutter")
    _common_extras(plan, pictures=(0, 2), height=h)


def _living_room(plan: _Planner, h: float) -> None:
    _place(plan, fu.couch, required=True)
    _windows(plan, h, count=1 + int(_maybe(plan, 0.5)), curtains=1.0, required=True)
    if _maybe(plan, 0.6):
        _place(plan, fu.bookshelf)
    if _maybe(plan, 0.6):
        _place(plan, lambda r: fu.cabinet(r, tall=False))
    for _ in range(int(plan.rng.integers(0, 3))):
        _place(plan, fu.chair)
    if _maybe(plan, 0.5):
        _place(plan, fu.floor_lamp)
    if _maybe(plan, 0.3):
        _place(plan, fu.trash_can)
    _common_extras(plan, pictures=(1, 3), height=h)


def _kitchen(plan: _Planner, h: float) -> None:
    longest = max(w.length for w in plan.walls)
    _place(
        plan,
        lambda r: fu.counter(
            r, length=float(r.uniform(1.5, min(3.0, longest - 0.5))), with_sink=True
        ),
        required=True,
    )
    _place(plan, fu.refrigerator, required=True)
    if _maybe(plan, 0.5):
        _place(
            plan,
            lambda r: fu.counter(
                r, length=float(r.uniform(1.0, min(2.4, longest - 0.5))), with_sink=False
            ),
        )
    _windows(plan, h, count=int(_maybe(plan, 0.7)), curtains=0.3, required=False)
    if _maybe(plan, 0.7):
        _place(plan, lambda r: fu.table_set(r, kind="dining"), mode="free")
    if _maybe(plan, 0.8):
        _place(plan, fu.trash_can)
    if _maybe(plan, 0.3):
        _place(plan, lambda r: fu.cabinet(r, raw="kitchen cabinet"))
    _common_extras(plan, pictures=(0, 1), height=h)


def _bathroom(plan: _Planner, h: float) -> None:
    _place(plan, fu.bathtub, mode="corner", required=True)
    _place(plan, fu.toilet, required=True)
    _place(plan, fu.bathroom_sink, required=True)
    if _maybe(plan, 0.5):
        _windows(plan, h, count=1, curtains=0.2, required=False)
    if _maybe(plan, 0.5):
        _place(plan, fu.trash_can)
    if _maybe(plan, 0.3):
        _place(plan, lambda r: fu.cabinet(r, tall=False))
    _common_extras(plan, pictures=(0, 1), height=h)


def _conference_room(plan: _Planner, h: float) -> None:
    _place(plan, lambda r: fu.table_set(r, kind="conference"), mode="free", required=True)
    _windows(plan, h, count=1 + int(_maybe(plan, 0.5)), curtains=0.5, required=True)
    if _maybe(plan, 0.5):
        _place(plan, fu.cabinet)
    if _maybe(plan, 0.5):
        _place(plan, fu.trash_can)
    if _maybe(plan, 0.3):
        _place(plan, fu.bookshelf)
    _common_extras(plan, pictures=(0, 2), height=h)


_PROGRAMMES: dict[str, Callable[[_Planner, float], None]] = {
    "bedroom": _bedroom,
    "office": _office,
    "living room": _living_room,
    "kitchen": _kitchen,
    "bathroom": _bathroom,
    "conference room": _conference_room,
}


def generate_layout(room_type: str, rng: np.random.Generator) -> RoomLayout:
    """Draw a room of ``room_type`` and furnish it.

    The door is placed first (its swing area stays free), then the room's characteristic
    furniture (always attempted), then optional furniture, wall decoration and clutter.

    Args:
        room_type: one of :data:`ROOM_TYPES`.
        rng: the scene's layout random stream.

    Returns:
        The room shape and the placed objects (room coordinates, metres).
    """
    lo, hi = _SIDE_RANGE[room_type]
    width, depth = float(rng.uniform(lo, hi)), float(rng.uniform(lo, hi))
    height = float(rng.uniform(2.5, 3.0))
    notch = None
    if room_type != "bathroom" and min(width, depth) >= 4.5 and rng.random() < 0.35:
        notch = (width * float(rng.uniform(0.3, 0.45)), depth * float(rng.uniform(0.3, 0.45)))
    shape = RoomShape(width=width, depth=depth, height=height, notch=notch)
    plan = _Planner(shape, rng)
    _place(plan, fu.door, required=True)
    _PROGRAMMES[room_type](plan, height)
    return RoomLayout(room_type=room_type, shape=shape, objects=tuple(plan.objects))
