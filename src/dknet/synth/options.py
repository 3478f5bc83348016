"""Every randomisation range of ``dknet synth``, in one typed options object with its sources.

Two presets exist:

* ``"scan"`` (the default of :func:`dknet.synth.generate_scene`, :func:`generate_dataset` and
  ``dknet synth``): rooms that look like reconstructed RGB-D scans -- irregular vertex spacing,
  surface noise, warped and tilted floors and walls, holes where a scanner sees nothing, fuller
  rooms with clutter nobody labels, wide colour palettes, lighting and fused-RGB-D colour noise.
* ``"clean"``: the original noise-free rooms on a regular grid (exact planar floors at z = 0,
  axis-aligned). Its output is byte-identical to the generator before the scan preset existed;
  use it where a test needs exact geometry.

Every range below is ``(low, high)`` and is drawn uniformly unless its docstring says otherwise.
"Source" names the statistic in ``REAL_SCANS.md`` (the project's measurements of real ScanNet v2
scans; the table rows are quoted) that the range aims at, or the reasoning when no statistic
covers it. The ranges are deliberately wider than the three measured scans: a network learns a
shortcut from anything the generator holds constant, so real scans must fall *inside* the range.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Literal

from dknet.errors import ConfigError

__all__ = [
    "Range",
    "GeometryOptions",
    "ContentOptions",
    "ColorOptions",
    "SynthOptions",
    "PRESET_NAMES",
    "preset_options",
]

#: (low, high), inclusive, drawn uniformly.
Range = tuple[float, float]
#: (low, high) of an integer count, inclusive.
IntRange = tuple[int, int]

PresetName = Literal["scan", "clean"]
StraddleMode = Literal["split", "majority", "unannotated"]
PRESET_NAMES: tuple[str, ...] = ("scan", "clean")


@dataclass(frozen=True)
class GeometryOptions:
    """How the mesh is sampled, deformed and holed like a reconstructed scan.

    Spacing factors multiply the ``vertex_spacing`` argument (default 0.03 m).

    Attributes:
        object_spacing: per-object spacing factor. Source: "median nearest-neighbour spacing"
            1.24 cm (v2 meshes) to 2.9 cm (older mesh); 0.03 m x (0.68..0.98) = 2.0..2.9 cm
            grid steps (finer on up-facing surfaces), whose in-plane jitter brings the scene's
            median nearest-neighbour distance to about 1.9..2.1 cm. Also "vertices on benchmark
            objects" 40..45 %: objects are sampled finely enough that every furnished room
            reaches that share before ``ContentOptions.object_share`` caps the annotation.
        up_facing_spacing: extra factor for surfaces facing up (seats, table tops, shelves).
            Source: the issue ("finer on horizontal surfaces seen from above": a hand-held
            camera looks down at them from close by, so the fused mesh keeps more vertices).
        wall_spacing: wall spacing factor. Source: "share of vertices on walls" about 15 %
            (flat walls are decimated hardest in ``vh_clean_2``); 0.03 m x (1.3..1.8) = 4..5 cm.
        floor_spacing: floor spacing factor. Source: floors are flat (decimated) but seen from
            above; chosen so the floor keeps 10..25 % of the vertices, the remainder of the
            shares in REAL_SCANS.md (walls 15, objects 40..45, unlabelled 17..31 %).
        in_plane_jitter: largest in-plane shift of an interior grid vertex, as a fraction of its
            spacing. Source: "on a regular grid" is a shortcut to remove; 0.3 keeps every
            triangle's orientation while making spacing irregular.
        surface_noise: standard deviation of per-vertex noise along the normal, metres.
            Source: the issue ("surface noise of a few millimetres to centimetres"); depth noise
            of structured-light sensors at 1..3 m is 2..8 mm before fusion.
        warp_amplitude: amplitude of a smooth deformation of the whole scene, metres. Source:
            "floor flatness ... +-5 cm around the fitted plane"; two summed waves of this
            amplitude plus noise stay inside +-5 cm.
        warp_wavelength: wavelength of that deformation, metres (room-scale drift of the
            reconstruction, reasoning: loop-closure errors bend whole walls, not single tiles).
        tilt_deg: whole-scene tilt about a random horizontal axis, degrees. Source: "tilted up
            to about 1.2 degrees" and the issue ("a whole-scene tilt of up to about 2 degrees").
        wobble_deg: registration wobble, degrees: a small rotation about a vertical axis that
            fades in across the room, so one end of the scan is misregistered against the
            other. Source: the issue ("a small registration wobble"); 0.3 degrees over 6 m is
            3 cm, the size of the double walls seen in real meshes.
        room_yaw_deg: rotation of the whole scan about z, degrees; ``<scene>.txt`` records the
            inverse as ``axisAlignment`` like ScanNet does. Source: FORMATS.md (raw meshes are
            not axis-aligned; ``axisAlignment`` aligns them).
        wall_top_kept: fraction of the wall height kept where the scan stops (ragged, per
            wall). Source: "share of vertices on walls" about 15 % and the issue ("parts of the
            ceiling never scanned"): upper walls are rarely in view of a hand-held camera.
        ceiling_fragments: number of ceiling fragments (unannotated). Source: "vertices with no
            semantic label" 17..31 % includes ceiling fragments (issue: "ceiling fragments").
        hole_fraction: fraction of each surface removed as smooth-edged holes. Source: the
            issue ("holes where a scanner would not see", "ragged borders").
        hole_scale: size of holes, metres (the noise field's wavelength; reasoning: holes in
            fused meshes are tens of centimetres, from specular or dark spots and gaps).
        under_furniture_drop: share of floor under furniture (seen only from below a table or
            seat) that is removed. Source: the issue ("holes ... under furniture").
        underside_drop: share of downward-facing surfaces below 1.2 m that is removed (a
            hand-held camera never looks up at a table's underside; reasoning).
        gap_probes: distances, metres, at which a surface "sees" a solid in front of it along
            its normal and is then hidden. Source: the issue ("behind objects against walls,
            occluded faces"): a gap of a few centimetres is never reconstructed.
        scan_edge_probability: probability that the scan stops short of one wall, cutting
            the objects there. Source: the issue ("partial objects cut by the scan's edge").
        scan_edge_depth: how far (fraction of the room's extent) the scan stops short.
    """

    object_spacing: Range = (0.68, 0.98)
    up_facing_spacing: Range = (0.75, 0.95)
    wall_spacing: Range = (1.35, 1.85)
    floor_spacing: Range = (1.08, 1.4)
    in_plane_jitter: float = 0.3
    surface_noise: Range = (0.001, 0.004)
    warp_amplitude: Range = (0.005, 0.02)
    warp_wavelength: Range = (2.0, 6.0)
    tilt_deg: Range = (0.0, 2.0)
    wobble_deg: Range = (0.0, 0.3)
    room_yaw_deg: Range = (0.0, 360.0)
    wall_top_kept: Range = (0.75, 1.0)
    ceiling_fragments: IntRange = (1, 5)
    hole_fraction: Range = (0.02, 0.10)
    hole_scale: Range = (0.25, 0.6)
    under_furniture_drop: Range = (0.4, 0.9)
    underside_drop: float = 0.9
    gap_probes: tuple[float, ...] = (0.03, 0.07)
    scan_edge_probability: float = 0.4
    scan_edge_depth: Range = (0.03, 0.15)


@dataclass(frozen=True)
class ContentOptions:
    """What stands in a scan-like room.

    Attributes:
        room_sides: per room type, the range of the footprint's long side, metres. Source:
            "room extent 5.8 x 8.2 to 8.4 x 8.7": every real scan's long side lies in
            8.2..8.7 m (the measured side comes out within a few centimetres of the drawn one),
            so every room type but bathrooms draws it there; bathrooms stay small (3..5 m,
            reasoning: ScanNet has many, and a bathroom of 8 m is not one).
        room_height: wall height, metres. Source: "height 2.5 - 3.0".
        room_aspect: long side / short side; the long side is drawn from ``room_sides``, the
            short one is the long one divided by this. Source: the real extents 5.8 x 8.2 (1.41)
            and 8.4 x 8.7 (1.04); 8.2..8.65 m / (1.05..1.4) gives short sides of 5.9..8.2 m.
        benchmark_objects: target number of objects of the 18 instance classes per room (the
            filler stops there or when no more fit). Source: "instances of the 18 classes with
            >= 100 vertices" 23..26 per scene; 24..26 because holes, the scan's edge and
            annotation gaps leave an object or two per room under 100 vertices (bathrooms hold
            fewer: nothing more fits).
        arbitrary_yaw_probability: share of free-standing furniture turned to any angle
            (otherwise a multiple of 90 degrees plus a few degrees). Source: the issue
            ("furniture at arbitrary yaw").
        wall_gap: gap between wall-standing furniture and the wall, metres (reasoning: real
            furniture rarely touches the wall; the gap is hidden by ``gap_probes``).
        clutter_items: loose unannotated things on the floor (bags, shoes, boxes). Source:
            "vertices with no semantic label" 17..31 %.
        tabletop_items: things on each table, desk, counter or dresser top. Source: the issue
            ("objects on tables and shelves") and the unlabelled share.
        shelf_fill: share of each shelf board covered by books. Source: as ``tabletop_items``.
        open_door_probability: a door leaf stands open (into the room) rather than closed.
            Source: REAL_SCANS.md ("doors, windows ... merge into walls").
        window_kinds: probabilities of bright, see-through (no glass, the wall behind missing)
            and covered (blinds) windows. Source: "windows bright (grey about 175), often open
            or see-through".
        unlabelled_wall_patch_probability: probability that one wall segment is left out of
            every group, as annotators sometimes do (kept from the clean generator).
        annotation_gap: share of vertices whose segments (small ones preferred) are in no
            group. Source: "vertices with no semantic label" 17..31 % -- real annotations skip
            small, ambiguous segments and boundary slivers, not only clutter. 2..8 % because
            clutter, ceiling fragments and ``object_share`` supply the rest (the scenes' median
            unlabelled share is then about 23..26 %).
        object_share: ceiling on the share of all vertices annotated as one of the 18 benchmark
            instance classes (a fraction, drawn per scene): where the furnished room exceeds
            it, random object segments (small ones preferred) are left out of every group, as
            annotators leave parts of objects unlabelled. Source: "vertices on benchmark
            objects (not wall/floor)" 40..45 %; 41.5..44.5 % keeps the scenes' median inside
            (rooms whose objects fall short keep their own share).
        straddling_segments: what the annotation does with an over-segment (ScanNet's
            segmentation of the welded mesh) that spans two objects: "split" it at their border
            (default: ground truth exact per vertex; segments never straddle in the files),
            give it to the "majority" object (like real annotation, which paints segments: the
            superpoints then straddle the true objects and the ground truth follows segments),
            or leave it "unannotated". Reasoning: the issue asks for exact ground truth.
    """

    room_sides: tuple[tuple[str, float, float], ...] = (
        ("bedroom", 8.2, 8.65),
        ("office", 8.2, 8.65),
        ("living room", 8.2, 8.65),
        ("kitchen", 8.2, 8.65),
        ("bathroom", 3.0, 5.0),
        ("conference room", 8.2, 8.65),
    )
    room_height: Range = (2.5, 3.2)
    room_aspect: Range = (1.05, 1.4)
    benchmark_objects: IntRange = (24, 26)
    arbitrary_yaw_probability: float = 0.6
    wall_gap: Range = (0.0, 0.08)
    clutter_items: IntRange = (8, 20)
    tabletop_items: IntRange = (2, 6)
    shelf_fill: Range = (0.4, 0.95)
    open_door_probability: float = 0.4
    window_kinds: tuple[float, float, float] = (0.5, 0.3, 0.2)
    unlabelled_wall_patch_probability: float = 0.35
    annotation_gap: Range = (0.02, 0.08)
    object_share: Range = (0.415, 0.445)
    straddling_segments: StraddleMode = "split"

    def sides(self, room_type: str) -> Range:
        """The side range of ``room_type``, metres."""
        for name, lo, hi in self.room_sides:
            if name == room_type:
                return (lo, hi)
        raise ConfigError(f"no room_sides entry for room type {room_type!r}")


@dataclass(frozen=True)
class ColorOptions:
    """How vertex colours are made, in RGB [0, 1] before the 8-bit write.

    Attributes:
        material_value: brightness (HSV value) of object materials. Source: "RGB mean /
            standard deviation (0-255)" 90..109 / 59..67: dark and bright materials both common.
        material_saturation: HSV saturation of object materials (a wide palette so that no
            class owns a colour; reasoning from "colours per class" shortcuts in REAL_SCANS.md).
        neutral_probability: share of materials that are near-grey (white, grey, black).
            Source: most real furniture and walls are near-neutral.
        wall_value: brightness of the wall paint. Source: RGB mean 90..109 with bright walls
            and windows (reasoning: painted walls are the brightest large surface).
        floor_value: brightness of the floor material (carpet, wood, tiles).
        texture_amplitude: contrast of procedural textures (wood grain, tiles, blotches).
            Source: the issue ("textures").
        ambient: share of light that is not directional (the rest falls off from 1..4 ceiling
            lights and the windows). Source: the issue ("lighting gradients and shadows").
        light_count: number of ceiling lights.
        shadow_strength: darkening of surfaces with a solid above them (under tables, seats).
        white_balance: per-channel gain of the scene's white balance. Source: the issue
            ("white balance and exposure shifts per scene").
        exposure: scene brightness gain before the tone curve. Source: as ``white_balance``
            (the final mean and spread are set by ``tone_mean`` and ``tone_std``).
        gamma: scene tone curve exponent.
        bleed_weight: weight of the neighbours' colour mixed into each vertex (radius
            ``bleed_radius``, across object borders). Source: the issue ("colour bleeding at
            object borders"): fused RGB-D smears colours over a few centimetres.
        bleed_radius: radius of that mixing, metres.
        vertex_noise: per-vertex colour noise (standard deviation). Source: the issue ("the
            per-vertex colour noise of fused RGB-D").
        window_value: brightness of window glass before the camera. Source: "windows bright
            (grey about 175)".
        window_grey: mean grey of a scene's window vertices (glass and frames) after the
            camera: windows are light sources, so a camera exposing for the room renders them
            near the top of its range; their colours are shifted (keeping their variation) to
            this value, and ``tone_mean``/``tone_std`` leave them alone. Source: "windows
            bright (grey about 175)"; 0.6..0.77 x 255 = 153..196.
        tone_mean: the scene's mean colour value after the camera (auto exposure): all colours
            but the windows' (light sources) are shifted and scaled, after noise, so that the
            mean and standard deviation over all vertices and channels land on ``tone_mean`` and
            ``tone_std`` (materials, lights and white balance still vary within the scene).
            Source: "RGB mean / standard deviation (0-255)" 90..109 / 59..67; 0.355..0.425 x
            255 = 90.5..108.4.
        tone_std: the scene's colour standard deviation after the camera (auto contrast).
            Source: as ``tone_mean``; 0.233..0.26 x 255 = 59.4..66.3.
    """

    material_value: Range = (0.04, 0.97)
    material_saturation: Range = (0.0, 0.75)
    neutral_probability: float = 0.5
    wall_value: Range = (0.55, 0.95)
    floor_value: Range = (0.2, 0.8)
    texture_amplitude: Range = (0.0, 0.3)
    ambient: Range = (0.25, 0.55)
    light_count: IntRange = (1, 4)
    shadow_strength: Range = (0.2, 0.55)
    white_balance: Range = (0.85, 1.15)
    exposure: Range = (0.95, 1.35)
    gamma: Range = (1.0, 1.4)
    bleed_weight: Range = (0.1, 0.35)
    bleed_radius: Range = (0.02, 0.05)
    vertex_noise: Range = (0.02, 0.05)
    window_value: Range = (0.55, 0.75)
    window_grey: Range = (0.6, 0.77)
    tone_mean: Range = (0.355, 0.425)
    tone_std: Range = (0.233, 0.26)


@dataclass(frozen=True)
class SynthOptions:
    """All options of the synthetic scene generator.

    Attributes:
        preset: "scan" (scan-like rooms, the default) or "clean" (the original noise-free rooms;
            every other field is then ignored and the output is byte-identical to the generator
            before the scan preset existed).
        geometry: mesh sampling, deformation and holes.
        contents: room sizes and contents.
        color: materials, lighting and sensor colour effects.
    """

    preset: PresetName = "scan"
    geometry: GeometryOptions = field(default_factory=GeometryOptions)
    contents: ContentOptions = field(default_factory=ContentOptions)
    color: ColorOptions = field(default_factory=ColorOptions)

    @property
    def scan_like(self) -> bool:
        """Whether the scan-like pipeline runs (False for the clean preset)."""
        return self.preset == "scan"

    def validate(self) -> SynthOptions:
        """Check every range; return ``self`` for chaining.

        Raises:
            ConfigError: an unknown preset, a range with low > high, a negative length or a
                probability outside [0, 1].
        """
        if self.preset not in PRESET_NAMES:
            raise ConfigError(
                f"unknown synth preset {self.preset!r}", hint=f"use one of {PRESET_NAMES}"
            )
        for group in (self.geometry, self.contents, self.color):
            for f in fields(group):
                value = getattr(group, f.name)
                where = f"{type(group).__name__}.{f.name}"
                if f.name == "room_sides":
                    for name, lo, hi in value:
                        if not 0 < lo <= hi:
                            raise ConfigError(f"{where}[{name}]: need 0 < low <= high")
                    continue
                if isinstance(value, tuple) and len(value) == 2 and f.name != "gap_probes":
                    lo, hi = value
                    if lo > hi:
                        raise ConfigError(f"{where}: low {lo} > high {hi}")
                    if lo < 0:
                        raise ConfigError(f"{where}: must be >= 0, got {value}")
                elif isinstance(value, float) and not 0.0 <= value <= 1.0:
                    raise ConfigError(f"{where}: must lie in [0, 1], got {value}")
        if self.contents.straddling_segments not in ("split", "majority", "unannotated"):
            raise ConfigError(
                f"ContentOptions.straddling_segments: {self.contents.straddling_segments!r} is "
                "not one of split, majority, unannotated"
            )
        if abs(sum(self.contents.window_kinds) - 1.0) > 1e-6:
            raise ConfigError("ContentOptions.window_kinds must sum to 1")
        return self


def preset_options(name: str) -> SynthOptions:
    """The options of preset ``name`` ("scan" or "clean").

    Raises:
        ConfigError: an unknown preset name.
    """
    if name not in PRESET_NAMES:
        raise ConfigError(f"unknown synth preset {name!r}", hint=f"use one of {PRESET_NAMES}")
    return replace(SynthOptions(), preset=name).validate()  # type: ignore[arg-type]
