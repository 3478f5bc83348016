"""dknet.io.ply: round trips in every encoding, files from another writer, malformed files."""

from __future__ import annotations

import io
import logging
import struct
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import plyfile
import pytest

from dknet.errors import InvalidPointCloudError
from dknet.io.ply import read_ply, read_vertex_property, write_ply

# (id, write_ply kwargs, plyfile kwargs) for the three encodings.
ENCODINGS = [
    pytest.param({"byte_order": "<"}, {"byte_order": "<"}, id="binary_le"),
    pytest.param({"byte_order": ">"}, {"byte_order": ">"}, id="binary_be"),
    pytest.param({"text": True}, {"text": True}, id="ascii"),
]


def _cloud(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "coords": (rng.normal(size=(n, 3)) * 3).astype(np.float32),
        "colors_u8": rng.integers(0, 256, size=(n, 3), dtype=np.uint8),
        "normals": rng.normal(size=(n, 3)).astype(np.float32),
        "faces": rng.integers(0, n, size=(2 * n, 3)).astype(np.int64),
        "semantic": rng.integers(-1, 20, size=n).astype(np.int32),
        "instance": rng.integers(-1, 50, size=n).astype(np.int32),
    }


def _fan(polygons: list[list[int]]) -> np.ndarray:
    """Reference fan triangulation, one polygon at a time."""
    tris = [(p[0], p[i], p[i + 1]) for p in polygons for i in range(1, len(p) - 1)]
    return np.array(tris, dtype=np.int64).reshape(-1, 3)


def _write_with_plyfile(
    path: Path,
    vertex: dict[str, np.ndarray],
    encoding: dict[str, object],
    polygons: list[list[int]] | None = None,
    face_property: str = "vertex_indices",
    before: list[plyfile.PlyElement] | None = None,
    face_extra: dict[str, np.ndarray] | None = None,
) -> None:
    """Write a file with plyfile, an implementation independent of dknet's writer."""
    vertex_array = np.empty(
        len(next(iter(vertex.values()))), dtype=[(k, v.dtype) for k, v in vertex.items()]
    )
    for name, values in vertex.items():
        vertex_array[name] = values
    elements = [*(before or []), plyfile.PlyElement.describe(vertex_array, "vertex")]
    if polygons is not None:
        fields: list[tuple[str, object]] = [(face_property, object)]
        fields += [(k, v.dtype) for k, v in (face_extra or {}).items()]
        face_array = np.empty(len(polygons), dtype=fields)
        face_array[face_property] = [np.asarray(p, dtype=np.int32) for p in polygons]
        for name, values in (face_extra or {}).items():
            face_array[name] = values
        elements.append(
            plyfile.PlyElement.describe(
                face_array, "face", len_types={face_property: "u1"}, val_types={face_property: "i4"}
            )
        )
    plyfile.PlyData(elements, **encoding).write(str(path))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Round trips through write_ply


ROUND_TRIPS = [
    pytest.param({}, id="bare"),
    pytest.param({"colors": "u8"}, id="colors_uint8"),
    pytest.param({"colors": "float"}, id="colors_float"),
    pytest.param({"normals": True}, id="normals"),
    pytest.param({"faces": True}, id="faces"),
    pytest.param({"labels": True}, id="labels"),
    pytest.param(
        {"colors": "u8", "normals": True, "faces": True, "labels": True, "alpha": True},
        id="everything",
    ),
]


@pytest.mark.parametrize("variant", ROUND_TRIPS)
@pytest.mark.parametrize(("write_kwargs", "_plyfile_kwargs"), ENCODINGS)
def test_round_trip(
    tmp_path: Path, variant: dict, write_kwargs: dict, _plyfile_kwargs: dict
) -> None:
    data = _cloud(40)
    kwargs: dict[str, object] = dict(write_kwargs)
    expected_colors = np.full((40, 3), 0.5, dtype=np.float32)
    if variant.get("colors") == "u8":
        kwargs["colors"] = data["colors_u8"]
        expected_colors = data["colors_u8"] / np.float32(255)
    elif variant.get("colors") == "float":
        float_colors = data["colors_u8"] / 255.0 + 0.001  # off the uchar grid: must be rounded
        kwargs["colors"] = float_colors
        expected_colors = np.rint(np.clip(float_colors, 0, 1) * 255) / 255
    if variant.get("normals"):
        kwargs["normals"] = data["normals"]
    if variant.get("faces"):
        kwargs["faces"] = data["faces"]
    if variant.get("labels"):
        kwargs["vertex_properties"] = {
            "semantic_label": data["semantic"],
            "instance_label": data["instance"],
        }
    kwargs["color_alpha"] = bool(variant.get("alpha"))
    path = tmp_path / "cloud.ply"

    assert write_ply(path, data["coords"], **kwargs) == path  # type: ignore[arg-type]
    cloud = read_ply(path)

    np.testing.assert_array_equal(cloud.coords, data["coords"])
    assert cloud.coords.dtype == np.float32 and cloud.colors.dtype == np.float32
    np.testing.assert_allclose(cloud.colors, expected_colors, atol=1e-6)
    assert cloud.has_colors == ("colors" in variant)
    assert cloud.source == str(path)
    if variant.get("normals"):
        assert cloud.normals is not None
        np.testing.assert_array_equal(cloud.normals, data["normals"])
    else:
        assert cloud.normals is None
    if variant.get("faces"):
        assert cloud.faces is not None and cloud.faces.dtype == np.int64
        np.testing.assert_array_equal(cloud.faces, data["faces"])
    else:
        assert cloud.faces is None
    if variant.get("labels"):
        assert cloud.semantic_labels is not None and cloud.instance_labels is not None
        assert cloud.semantic_labels.dtype == np.int64 and cloud.instance_labels.dtype == np.int64
        np.testing.assert_array_equal(cloud.semantic_labels, data["semantic"])
        np.testing.assert_array_equal(cloud.instance_labels, data["instance"])
    else:
        assert cloud.semantic_labels is None and cloud.instance_labels is None
    # Output arrays are the caller's to modify.
    assert cloud.coords.flags.writeable and cloud.colors.flags.writeable


@pytest.mark.parametrize(("write_kwargs", "_plyfile_kwargs"), ENCODINGS)
def test_written_files_parse_with_plyfile(
    tmp_path: Path, write_kwargs: dict, _plyfile_kwargs: dict
) -> None:
    data = _cloud(25, seed=1)
    path = write_ply(
        tmp_path / "c.ply",
        data["coords"],
        colors=data["colors_u8"],
        normals=data["normals"],
        faces=data["faces"],
        vertex_properties={"semantic_label": data["semantic"]},
        **write_kwargs,
    )
    ply = plyfile.PlyData.read(str(path))
    vertex = ply["vertex"].data
    assert [p.name for p in ply["vertex"].properties] == [
        "x", "y", "z", "nx", "ny", "nz", "red", "green", "blue", "semantic_label",
    ]  # fmt: skip
    np.testing.assert_array_equal(
        np.stack([vertex["x"], vertex["y"], vertex["z"]], 1), data["coords"]
    )
    np.testing.assert_array_equal(vertex["semantic_label"], data["semantic"])
    np.testing.assert_array_equal(np.stack(list(ply["face"].data["vertex_indices"])), data["faces"])
    assert ply.text == bool(write_kwargs.get("text"))


def test_scannet_mesh_and_labels_layouts(tmp_path: Path) -> None:
    data = _cloud(30, seed=2)
    nyu40 = np.random.default_rng(3).integers(0, 41, size=30).astype(np.uint16)
    mesh = write_ply(
        tmp_path / "scene0000_00_vh_clean_2.ply",
        data["coords"],
        colors=data["colors_u8"],
        faces=data["faces"],
        color_alpha=True,
    )
    labels = write_ply(
        tmp_path / "scene0000_00_vh_clean_2.labels.ply",
        data["coords"],
        colors=data["colors_u8"],
        faces=data["faces"],
        color_alpha=True,
        vertex_properties={"label": nyu40},
    )
    rgba = [("red", "|u1"), ("green", "|u1"), ("blue", "|u1"), ("alpha", "|u1")]
    xyz = [("x", "<f4"), ("y", "<f4"), ("z", "<f4")]
    for path, extra in ((mesh, []), (labels, [("label", "<u2")])):
        ply = plyfile.PlyData.read(str(path))
        assert not ply.text and ply.byte_order == "<"
        assert [e.name for e in ply.elements] == ["vertex", "face"]
        assert ply["vertex"].data.dtype.descr == xyz + rgba + extra
        (face_prop,) = ply["face"].properties
        assert isinstance(face_prop, plyfile.PlyListProperty)
        assert (face_prop.name, face_prop.len_dtype, face_prop.val_dtype) == (
            "vertex_indices",
            "u1",
            "i4",
        )
        header = path.read_bytes().split(b"end_header\n")[0].decode()
        assert "property float x\n" in header and "property uchar alpha\n" in header
        assert "property list uchar int vertex_indices\n" in header
        np.testing.assert_array_equal(ply["vertex"].data["alpha"], 255)
    assert "property ushort label\n" in labels.read_bytes().split(b"end_header")[0].decode()
    got = read_vertex_property(labels, "label")
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, nyu40)
    cloud = read_ply(mesh)
    np.testing.assert_allclose(cloud.colors * 255, data["colors_u8"], atol=1e-4)


@pytest.mark.parametrize(("write_kwargs", "_plyfile_kwargs"), ENCODINGS)
@pytest.mark.parametrize(
    "values",
    [
        pytest.param(np.array([0, 7, 65535], dtype=np.uint16), id="ushort"),
        pytest.param(np.array([-5, 0, 2**31 - 1], dtype=np.int32), id="int"),
        pytest.param(np.array([0.25, -1.5, 3e38], dtype=np.float32), id="float"),
        pytest.param(np.array([1e-300, -2.5, 1e300], dtype=np.float64), id="double"),
        pytest.param(np.array([-128, 0, 127], dtype=np.int8), id="char"),
    ],
)
def test_read_vertex_property_keeps_stored_dtype(
    tmp_path: Path, write_kwargs: dict, _plyfile_kwargs: dict, values: np.ndarray
) -> None:
    path = write_ply(
        tmp_path / "p.ply", np.zeros((3, 3)), vertex_properties={"value": values}, **write_kwargs
    )
    got = read_vertex_property(path, "value")
    assert got.dtype == values.dtype and got.dtype.isnative
    np.testing.assert_array_equal(got, values)


def test_write_ply_narrows_wide_integers_and_bools(tmp_path: Path) -> None:
    path = write_ply(
        tmp_path / "p.ply",
        np.zeros((3, 3)),
        vertex_properties={
            "semantic_label": np.array([-1, 3, 19], dtype=np.int64),
            "big": np.array([0, 1, 2**32 - 1], dtype=np.uint64),
            "flag": np.array([True, False, True]),
        },
    )
    assert read_vertex_property(path, "semantic_label").dtype == np.int32
    assert read_vertex_property(path, "big").dtype == np.uint32
    np.testing.assert_array_equal(
        read_vertex_property(path, "flag"), np.array([1, 0, 1], dtype=np.uint8)
    )
    np.testing.assert_array_equal(read_ply(path).semantic_labels, [-1, 3, 19])


# --------------------------------------------------------------------------------------------
# Files written by another implementation (plyfile), covering what dknet's writer never emits

POLYGONS = [[0, 1, 2], [0, 2, 3, 4], [4, 5, 0, 1, 2], [1, 3, 5]]  # triangles, a quad, a pentagon


def _xyz(n: int, dtype: str = "f4") -> dict[str, np.ndarray]:
    coords = np.arange(n * 3, dtype=np.float64).reshape(n, 3) / 8 - 1
    return {axis: coords[:, j].astype(dtype) for j, axis in enumerate("xyz")}


FOREIGN = [
    pytest.param(
        {
            "vertex": {
                **_xyz(6),
                "red": np.array([0, 51, 102, 153, 204, 255], "u2") * 257,
                "green": np.zeros(6, "u2"),
                "blue": np.full(6, 65535, "u2"),
            }
        },
        {"colors": np.stack([np.arange(6) / 5, np.zeros(6), np.ones(6)], 1)},
        id="colors_ushort",
    ),
    pytest.param(
        {
            "vertex": {
                **_xyz(6),
                "red": np.linspace(0, 1, 6, dtype="f4"),
                "green": np.full(6, 0.5, "f4"),
                "blue": np.zeros(6, "f4"),
            }
        },
        {"colors": np.stack([np.linspace(0, 1, 6), np.full(6, 0.5), np.zeros(6)], 1)},
        id="colors_float_unit",
    ),
    pytest.param(
        {
            "vertex": {
                **_xyz(6),
                "red": np.linspace(0, 255, 6, dtype="f4"),
                "green": np.full(6, 51.0, "f4"),
                "blue": np.zeros(6, "f4"),
            }
        },
        {"colors": np.stack([np.linspace(0, 1, 6), np.full(6, 0.2), np.zeros(6)], 1)},
        id="colors_float_0_255",
    ),
    pytest.param(
        {
            "vertex": {
                **_xyz(6),
                "r": np.arange(6, dtype="u1") * 51,
                "g": np.zeros(6, "u1"),
                "b": np.zeros(6, "u1"),
                "a": np.full(6, 9, "u1"),
            }
        },
        {"colors": np.stack([np.arange(6) / 5, np.zeros(6), np.zeros(6)], 1)},
        id="colors_rgb_short_names",
    ),
    pytest.param(
        {
            "vertex": {
                **_xyz(6),
                "diffuse_red": np.full(6, 255, "u1"),
                "diffuse_green": np.zeros(6, "u1"),
                "diffuse_blue": np.full(6, 51, "u1"),
                "alpha": np.zeros(6, "u1"),
            }
        },
        {"colors": np.tile([1.0, 0.0, 0.2], (6, 1))},
        id="colors_diffuse_names_alpha_ignored",
    ),
    pytest.param(
        {"vertex": _xyz(6, "f8")},
        {"coords": np.arange(18).reshape(6, 3) / 8 - 1},
        id="double_coords",
    ),
    pytest.param(
        {
            "vertex": {
                **_xyz(6),
                "nx": np.ones(6, "f8"),
                "ny": np.zeros(6, "f8"),
                "nz": np.zeros(6, "f8"),
            }
        },
        {"normals": np.tile([1.0, 0.0, 0.0], (6, 1))},
        id="normals_double",
    ),
    pytest.param(
        {"vertex": _xyz(6), "polygons": POLYGONS},
        {"faces": _fan(POLYGONS)},
        id="mixed_polygons_fan",
    ),
    pytest.param(
        {"vertex": _xyz(6), "polygons": [[0, 1, 2, 3], [2, 3, 4, 5]]},
        {"faces": np.array([[0, 1, 2], [0, 2, 3], [2, 3, 4], [2, 4, 5]])},
        id="all_quads",
    ),
    pytest.param(
        {"vertex": _xyz(6), "polygons": [[0, 1, 2], [3, 4, 5]], "face_property": "vertex_index"},
        {"faces": np.array([[0, 1, 2], [3, 4, 5]])},
        id="vertex_index_name",
    ),
    pytest.param(
        {
            "vertex": _xyz(6),
            "polygons": [[0, 1, 2], [3, 4, 5, 0]],
            "face_extra": {"flags": np.array([7, 9], "u2")},
        },
        {"faces": np.array([[0, 1, 2], [3, 4, 5], [3, 5, 0]])},
        id="face_scalar_after_list",
    ),
    pytest.param(
        {"vertex": _xyz(6), "polygons": [[0, 1, 2], [1, 2], [3, 4, 5]]},
        {"faces": np.array([[0, 1, 2], [3, 4, 5]])},
        id="two_corner_face_skipped",
    ),
    pytest.param(
        {"vertex": _xyz(6), "polygons": []}, {"faces": np.zeros((0, 3))}, id="empty_face_element"
    ),
    pytest.param(
        {
            "vertex": {
                **_xyz(6),
                "semantic_label": np.array([0, 1, 2, -1, 4, 5], "i2"),
                "instance_label": np.array([3, 3, -1, 0, 0, 1], "i4"),
            }
        },
        {"semantic": [0, 1, 2, -1, 4, 5], "instance": [3, 3, -1, 0, 0, 1]},
        id="labels_short_and_int",
    ),
    pytest.param(
        {"vertex": {**_xyz(6), "semantic_label": np.arange(6, dtype="f4")}},
        {"semantic": None},
        id="float_label_ignored",
    ),
    pytest.param(
        {"vertex": _xyz(6), "polygons": [[0, 1, 2, 3]], "before": "camera_and_edges"},
        {"faces": np.array([[0, 1, 2], [0, 2, 3]])},
        id="elements_before_vertex",
    ),
]


def _elements_before() -> list[plyfile.PlyElement]:
    camera = np.array([(1.0, 2.0)], dtype=[("view_px", "f4"), ("view_py", "f4")])
    edges = np.empty(3, dtype=[("ends", object), ("weight", "f8")])
    edges["ends"] = [np.array([0, 1], "i4"), np.array([1, 2, 3], "i4"), np.array([], "i4")]
    edges["weight"] = [0.5, 1.5, 2.5]
    return [
        plyfile.PlyElement.describe(camera, "camera"),
        plyfile.PlyElement.describe(
            edges, "edge", len_types={"ends": "u2"}, val_types={"ends": "i4"}
        ),
    ]


@pytest.mark.parametrize(("spec", "expected"), FOREIGN)
@pytest.mark.parametrize(("_write_kwargs", "plyfile_kwargs"), ENCODINGS)
def test_reads_files_written_by_plyfile(
    tmp_path: Path, spec: dict, expected: dict, _write_kwargs: dict, plyfile_kwargs: dict
) -> None:
    path = tmp_path / "foreign.ply"
    _write_with_plyfile(
        path,
        spec["vertex"],
        plyfile_kwargs,
        polygons=spec.get("polygons"),
        face_property=spec.get("face_property", "vertex_indices"),
        before=_elements_before() if spec.get("before") else None,
        face_extra=spec.get("face_extra"),
    )
    cloud = read_ply(path)
    coords = expected.get("coords", np.arange(18).reshape(6, 3) / 8 - 1)
    np.testing.assert_allclose(cloud.coords, coords, rtol=0, atol=1e-7)
    assert cloud.coords.dtype == np.float32
    if "colors" in expected:
        assert cloud.has_colors
        np.testing.assert_allclose(cloud.colors, expected["colors"], atol=1e-6)
    else:
        assert not cloud.has_colors
        np.testing.assert_array_equal(cloud.colors, 0.5)
    if "normals" in expected:
        np.testing.assert_allclose(cloud.normals, expected["normals"])
    if "faces" in expected:
        assert cloud.faces is not None
        np.testing.assert_array_equal(cloud.faces, expected["faces"].reshape(-1, 3))
    else:
        assert cloud.faces is None
    if "semantic" in expected:
        if expected["semantic"] is None:
            assert cloud.semantic_labels is None
        else:
            np.testing.assert_array_equal(cloud.semantic_labels, expected["semantic"])
    if "instance" in expected:
        np.testing.assert_array_equal(cloud.instance_labels, expected["instance"])


def _ascii_ply(body: str, header_extra: str = "", newline: str = "\n") -> bytes:
    lines = [
        "ply", "format ascii 1.0", "comment made by hand", "obj_info anything",
        "element vertex 3", "property float x", "property float y", "property float z",
        "property uchar red", "property uchar green", "property uchar blue",
        "element face 2", "property list uchar int vertex_indices",
    ]  # fmt: skip
    if header_extra:
        lines.append(header_extra)
    lines.append("end_header")
    return (newline.join(lines) + newline + body.replace("\n", newline)).encode()


ASCII_BODY = "0 0 0 255 0 0\n1 0 0 0 255 0\n  0 1 0\t0 0 255  \n\n3 0 1 2\n4 2 1 0 1\n"


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_ascii_line_endings_blank_lines_and_comments(tmp_path: Path, newline: str) -> None:
    path = tmp_path / "hand.ply"
    path.write_bytes(_ascii_ply(ASCII_BODY, newline=newline))
    cloud = read_ply(path)
    np.testing.assert_array_equal(cloud.coords, [[0, 0, 0], [1, 0, 0], [0, 1, 0]])
    np.testing.assert_array_equal(cloud.colors, np.eye(3))
    np.testing.assert_array_equal(cloud.faces, [[0, 1, 2], [2, 1, 0], [2, 0, 1]])


def test_header_may_end_at_end_of_file(tmp_path: Path) -> None:
    # Nothing follows end_header: valid only when every element is empty, so a vertex-free file.
    path = tmp_path / "empty.ply"
    path.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 0\nproperty float x\n"
                     b"property float y\nproperty float z\nend_header")  # fmt: skip
    with pytest.raises(InvalidPointCloudError, match="no vertices"):
        read_ply(path)


# --------------------------------------------------------------------------------------------
# Malformed files: each raises InvalidPointCloudError "<path>: <problem>"


def _binary(header_lines: list[str], body: bytes, fmt: str = "binary_little_endian") -> bytes:
    return (
        "\n".join(["ply", f"format {fmt} 1.0", *header_lines, "end_header"]) + "\n"
    ).encode() + body


XYZ = ["element vertex 3", "property float x", "property float y", "property float z"]
XYZ_BODY = np.arange(9, dtype="<f4").tobytes()
FACE = ["element face 1", "property list uchar int vertex_indices"]


def _face_bytes(*indices: int, count_fmt: str = "<B") -> bytes:
    return struct.pack(count_fmt, len(indices)) + struct.pack(f"<{len(indices)}i", *indices)


MALFORMED = [
    pytest.param(b"OFF\n3 1 0\n", "not a PLY file (it does not start with 'ply')", id="bad_magic"),
    pytest.param(
        b"plyformat ascii 1.0\n", "not a PLY file ('ply' is not followed", id="magic_no_newline"
    ),
    pytest.param(b"", "not a PLY file", id="empty_file"),
    pytest.param(
        b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\n",
        "no 'end_header' line",
        id="no_end_header",
    ),
    pytest.param(
        _binary(XYZ, XYZ_BODY, fmt="binary_middle_endian"),
        "invalid PLY header, line 2",
        id="unknown_format",
    ),
    pytest.param(
        b"ply\nelement vertex 1\nproperty float x\nend_header\n",
        "no 'format' line",
        id="missing_format",
    ),
    pytest.param(
        _binary(["element vertex 3", "property flaot x"], b""),
        "unknown property type 'flaot'",
        id="unknown_type",
    ),
    pytest.param(
        _binary(["element vertex many", "property float x"], b""),
        "is not an integer",
        id="count_not_integer",
    ),
    pytest.param(
        _binary(["element vertex -3", "property float x"], b""),
        "element count -3 is negative",
        id="negative_count",
    ),
    pytest.param(
        _binary(["property float x", *XYZ], XYZ_BODY),
        "'property' before any 'element'",
        id="property_before_element",
    ),
    pytest.param(
        _binary([*XYZ, "colour red"], XYZ_BODY), "unknown keyword 'colour'", id="unknown_keyword"
    ),
    pytest.param(
        _binary([*XYZ, "property float x"], XYZ_BODY),
        "property 'x' is declared twice",
        id="duplicate_property",
    ),
    pytest.param(
        _binary([*XYZ, "property list float int vertex_indices"], XYZ_BODY),
        "list length type 'float' is not an integer type",
        id="float_list_length",
    ),
    pytest.param(
        _binary(["element face 0", "property list uchar int vertex_indices"], b""),
        "no 'vertex' element in the PLY header (elements: face)",
        id="no_vertex_element",
    ),
    pytest.param(_binary([], b""), "no 'vertex' element", id="no_elements"),
    pytest.param(
        _binary(XYZ[:3], XYZ_BODY[:24]),
        "vertex element lacks property 'z' (it has: x, y)",
        id="missing_z",
    ),
    pytest.param(
        _binary(
            [
                "element vertex 1",
                "property list uchar float x",
                "property float y",
                "property float z",
            ],
            b"",
        ),
        "vertex property 'x' is a list",
        id="x_is_list",
    ),
    pytest.param(
        _binary(["element vertex 0", *XYZ[1:]], b""),
        "has no vertices ('element vertex 0')",
        id="zero_points",
    ),
    pytest.param(
        _binary(XYZ, XYZ_BODY[:-1]),
        "truncated: the header promises 3 vertex (at least 36 bytes",
        id="truncated_vertices",
    ),
    pytest.param(
        _binary(XYZ, XYZ_BODY, fmt="binary_big_endian")[:-20], "truncated", id="truncated_be"
    ),
    pytest.param(
        _binary([*XYZ, *FACE], XYZ_BODY + _face_bytes(0, 1, 2)[:-1]),
        "truncated: the file ends inside element 'face'",
        id="truncated_face_list",
    ),
    pytest.param(
        _binary(
            [*XYZ, "element face 2", FACE[1]],
            XYZ_BODY + _face_bytes(0, 1, 2) + _face_bytes(0, 1, 2, 1)[:-2],
        ),
        "truncated: the file ends inside element 'face'",
        id="truncated_variable_lists",
    ),
    pytest.param(
        _binary(
            [*XYZ, "element face 1", "property list char int vertex_indices"],
            XYZ_BODY + struct.pack("<b", -1),
        ),
        "has a negative list length",
        id="negative_list_length",
    ),
    pytest.param(
        _binary(
            [*XYZ, "element face 1", "property int vertex_indices"], XYZ_BODY + struct.pack("<i", 0)
        ),
        "face property 'vertex_indices' is not a list",
        id="face_not_list",
    ),
    pytest.param(
        _binary(
            [*XYZ, "element face 1", "property list uchar int corners"],
            XYZ_BODY + _face_bytes(0, 1, 2),
        ),
        "face element has no 'vertex_indices' or 'vertex_index' property (it has: corners)",
        id="face_missing_indices",
    ),
    pytest.param(
        _binary(
            [*XYZ, "element face 1", "property list uchar float vertex_indices"],
            XYZ_BODY + struct.pack("<B3f", 3, 0, 1, 2),
        ),
        "not integer vertex indices",
        id="face_float_indices",
    ),
    pytest.param(
        _binary([*XYZ, *FACE], XYZ_BODY + _face_bytes(0, 1, 3)),
        "face vertex index 3 is out of range: the file has 3 vertices",
        id="face_index_too_big",
    ),
    pytest.param(
        _binary([*XYZ, *FACE], XYZ_BODY + _face_bytes(0, -1, 2)),
        "face vertex index -1 is out of range",
        id="face_index_negative",
    ),
    pytest.param(
        _binary(XYZ, np.array([0, 0, 0, np.nan, 1, 1, 2, 2, 2], "<f4").tobytes()),
        "1 of 3 vertices have non-finite coordinates; pass drop_non_finite=True "
        "to read_ply to drop them (benchmark scenes must keep every vertex)",
        id="non_finite",
    ),
    pytest.param(
        _binary(
            ["element vertex 3", "property double x", "property double y", "property double z"],
            np.array([0, 0, 0, 1e300, 1, 1, 2, 2, 2], "<f8").tobytes(),
        ),
        "1 of 3 vertices have non-finite coordinates",
        id="double_overflows_float32",
    ),
    pytest.param(
        _ascii_ply("0 0 0 1 2 3\n1 2 abc 1 2 3\n0 0 0 0 0 0\n3 0 1 2\n3 0 1 2\n"),
        "malformed ASCII body, line 16: 'abc' is not a number",
        id="ascii_bad_token",
    ),
    pytest.param(
        _ascii_ply("0 0 0 1 2 3\n1 2 3 1 2\n0 0 0 0 0 0\n3 0 1 2\n3 0 1 2\n"),
        "malformed ASCII body, line 16: expected 6 values for a 'vertex' record, found 5",
        id="ascii_short_line",
    ),
    pytest.param(
        _ascii_ply("0 0 0 1 2 3\n1 2 3 1 2 3\n0 0 0 0 0 0\n3 0 1 2\n"),
        "truncated: the ASCII body ends after 1 of 2 'face' records",
        id="ascii_too_few_lines",
    ),
    pytest.param(
        _ascii_ply("0 0 0 1 2 3\n1 2 3 1 2 3\n0 0 0 0 0 0\n3 0 1 2\n4 0 1 2\n"),
        "line 19: list 'vertex_indices' has length 4 but the line holds only 3 more values",
        id="ascii_list_too_long",
    ),
    pytest.param(
        _ascii_ply("0 0 0 1 2 3\n1 2 3 1 2 3\n0 0 0 0 0 0\n3 0 1 2 1\n3 0 1 2\n"),
        "line 18: 1 extra values after a 'face' record",
        id="ascii_list_extra_values",
    ),
    pytest.param(
        _ascii_ply("0 0 0 1 2 3\n1 2 3 1 2 3\n0 0 0 0 0 0\n3 0 1.5 2\n3 0 1 2\n"),
        "line 18: vertex_indices value 1.5 is not a valid int",
        id="ascii_fractional_index",
    ),
    pytest.param(
        _ascii_ply("0 0 0 1 2 3\n1 2 3 1 2 300\n0 0 0 0 0 0\n3 0 1 2\n3 0 1 2\n"),
        "line 16: blue value 300 is not a valid uchar",
        id="ascii_uchar_out_of_range",
    ),
    pytest.param(
        _ascii_ply("0 0 0 1 2 3\n1 2 3 1 2 3\n0 0 0 0 0 0\n-1 0 1 2\n3 0 1 2\n"),
        "line 18: vertex_indices length value -1 is not a valid uchar",
        id="ascii_negative_length",
    ),
    pytest.param(
        _ascii_ply("0 0 0 1 2 3\n1 2 3 1 2 3\n0 0 0 0 0 0\n3 0 1 7\n3 0 1 2\n"),
        "face vertex index 7 is out of range",
        id="ascii_face_out_of_range",
    ),
    pytest.param(
        _ascii_ply("0 0 0 1 2 3\n").replace(b"element vertex 3", b"element vertex 3000000000"),
        "truncated: the header promises 3000000000 vertex",
        id="ascii_absurd_count",
    ),
]


def _check_error(
    exc: pytest.ExceptionInfo[InvalidPointCloudError], path: Path, phrase: str
) -> None:
    message = str(exc.value)
    assert message.startswith(f"{path}: "), message
    assert phrase in message, message
    assert "\n" not in message


@pytest.mark.parametrize(("content", "phrase"), MALFORMED)
def test_malformed_files_raise_one_line_errors(tmp_path: Path, content: bytes, phrase: str) -> None:
    path = tmp_path / "broken.ply"
    path.write_bytes(content)
    with pytest.raises(InvalidPointCloudError) as exc:
        read_ply(path)
    _check_error(exc, path, phrase)


@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        pytest.param(lambda d: d / "missing.ply", "file does not exist", id="missing"),
        pytest.param(lambda d: d, "is a directory", id="directory"),
    ],
)
@pytest.mark.parametrize(
    "reader", [read_ply, lambda p: read_vertex_property(p, "x")], ids=["read_ply", "property"]
)
def test_missing_file_and_directory(
    tmp_path: Path, make: Callable[[Path], Path], phrase: str, reader: Callable[[Path], object]
) -> None:
    path = make(tmp_path)
    with pytest.raises(InvalidPointCloudError) as exc:
        reader(path)
    _check_error(exc, path, phrase)


def test_read_vertex_property_errors(tmp_path: Path) -> None:
    path = write_ply(tmp_path / "p.ply", np.zeros((2, 3)), colors=np.zeros((2, 3), np.uint8))
    with pytest.raises(InvalidPointCloudError) as exc:
        read_vertex_property(path, "label")
    _check_error(
        exc, path, "vertex element has no property 'label' (it has: x, y, z, red, green, blue)"
    )
    listed = tmp_path / "list.ply"
    listed.write_bytes(
        _binary(["element vertex 1", "property list uchar int ids"], struct.pack("<Bi", 1, 5))
    )
    with pytest.raises(InvalidPointCloudError) as exc:
        read_vertex_property(listed, "ids")
    _check_error(exc, listed, "vertex property 'ids' is a list property")
    truncated = tmp_path / "t.ply"
    truncated.write_bytes(
        _binary(["element vertex 3", "property ushort label"], b"\x01\x00\x02\x00")
    )
    with pytest.raises(InvalidPointCloudError) as exc:
        read_vertex_property(truncated, "label")
    _check_error(exc, truncated, "truncated")


@pytest.mark.parametrize("fmt", ["binary_little_endian", "binary_big_endian"])
def test_absurd_binary_count_fails_fast_without_allocating(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "huge.ply"
    path.write_bytes(_binary(["element vertex 4000000000000", *XYZ[1:], *FACE], XYZ_BODY, fmt=fmt))
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(InvalidPointCloudError) as exc:
            read_ply(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 1.0
    assert peak < 8 * 2**20
    _check_error(exc, path, "truncated: the header promises 4000000000000 vertex, 1 face")


def _mesh_bytes(text: bool) -> bytes:
    rng = np.random.default_rng(7)
    coords = rng.normal(size=(12, 3)).astype(np.float32)
    polygons = [[0, 1, 2], [2, 3, 4, 5], [6, 7, 8], [9, 10, 11, 0, 1]]
    vertex = np.empty(
        12,
        dtype=[
            ("x", "f4"),
            ("y", "f4"),
            ("z", "f4"),
            ("red", "u1"),
            ("green", "u1"),
            ("blue", "u1"),
            ("semantic_label", "i4"),
        ],
    )
    for j, axis in enumerate("xyz"):
        vertex[axis] = coords[:, j]
    for channel in ("red", "green", "blue", "semantic_label"):
        vertex[channel] = rng.integers(0, 20, 12)
    faces = np.empty(len(polygons), dtype=[("vertex_indices", object)])
    faces["vertex_indices"] = [np.array(p, "i4") for p in polygons]
    buffer = io.BytesIO()
    plyfile.PlyData(
        [plyfile.PlyElement.describe(vertex, "vertex"),
         plyfile.PlyElement.describe(faces, "face", len_types={"vertex_indices": "u1"},
                                     val_types={"vertex_indices": "i4"})],
        text=text,
    ).write(buffer)  # fmt: skip
    return buffer.getvalue()


@pytest.mark.parametrize("text", [False, True], ids=["binary", "ascii"])
def test_corrupted_files_never_escape_as_other_exceptions(tmp_path: Path, text: bool) -> None:
    """Every truncation and many random byte flips give a PointCloud or InvalidPointCloudError."""
    good = _mesh_bytes(text)
    path = tmp_path / "fuzz.ply"
    rng = np.random.default_rng(11)
    cuts = sorted(set(np.linspace(0, len(good) - 1, 60).astype(int).tolist()))
    variants = [good[:cut] for cut in cuts]
    for _ in range(150):
        data = bytearray(good)
        for position in rng.integers(0, len(good), size=rng.integers(1, 4)):
            data[position] = int(
                rng.choice([0, 10, 32, 45, 48, 57, 101, 255, rng.integers(0, 256)])
            )
        variants.append(bytes(data))
    failed = []
    for data in variants:
        path.write_bytes(data)
        try:
            cloud = read_ply(path)
        except InvalidPointCloudError as exc:
            failed.append(True)
            assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
        else:
            failed.append(False)
            faces = cloud.faces
            assert (
                faces is None
                or faces.size == 0
                or (faces.min() >= 0 and faces.max() < cloud.num_points)
            )
            assert np.isfinite(cloud.coords).all()
            assert ((cloud.colors >= 0) & (cloud.colors <= 1)).all()
    # Every truncation fails (an ASCII file may lose just its final newline).
    assert all(f for cut, f in zip(cuts, failed, strict=False) if cut < len(good) - 1)


# --------------------------------------------------------------------------------------------
# drop_non_finite


@pytest.mark.parametrize(("write_kwargs", "_plyfile_kwargs"), ENCODINGS)
def test_drop_non_finite_drops_vertices_faces_and_reindexes(
    tmp_path: Path, write_kwargs: dict, _plyfile_kwargs: dict, caplog: pytest.LogCaptureFixture
) -> None:
    coords = np.arange(18, dtype=np.float32).reshape(6, 3)
    coords[1, 2] = np.nan
    coords[4, 0] = -np.inf
    colors = np.arange(18, dtype=np.uint8).reshape(6, 3) * 10
    semantic = np.array([10, 11, 12, 13, 14, 15], dtype=np.int32)
    faces = np.array([[0, 1, 2], [0, 2, 3], [3, 4, 5], [2, 3, 5], [5, 3, 0]])
    path = write_ply(
        tmp_path / "nan.ply",
        coords,
        colors=colors,
        normals=coords * 2,
        faces=faces,
        vertex_properties={"semantic_label": semantic},
        **write_kwargs,
    )
    with pytest.raises(InvalidPointCloudError) as exc:
        read_ply(path)
    _check_error(exc, path, "2 of 6 vertices have non-finite coordinates")

    with caplog.at_level(logging.WARNING, logger="dknet.io.ply"):
        cloud = read_ply(path, drop_non_finite=True)
    keep = [0, 2, 3, 5]
    np.testing.assert_array_equal(cloud.coords, coords[keep])
    np.testing.assert_allclose(cloud.colors * 255, colors[keep], atol=1e-4)
    np.testing.assert_array_equal(cloud.normals, coords[keep] * 2)
    np.testing.assert_array_equal(cloud.semantic_labels, semantic[keep])
    np.testing.assert_array_equal(cloud.faces, [[0, 1, 2], [1, 2, 3], [3, 2, 0]])
    assert "dropped 2 of 6 vertices with non-finite coordinates and 2 of 5 faces" in caplog.text


def test_drop_non_finite_on_clean_file_changes_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = _cloud(10)
    path = write_ply(tmp_path / "ok.ply", data["coords"], faces=data["faces"])
    with caplog.at_level(logging.WARNING, logger="dknet.io.ply"):
        cloud = read_ply(path, drop_non_finite=True)
    np.testing.assert_array_equal(cloud.coords, data["coords"])
    np.testing.assert_array_equal(cloud.faces, data["faces"])
    assert caplog.text == ""


def test_drop_non_finite_with_no_finite_vertex_left(tmp_path: Path) -> None:
    path = write_ply(tmp_path / "allnan.ply", np.full((4, 3), np.nan))
    with pytest.raises(InvalidPointCloudError) as exc:
        read_ply(path, drop_non_finite=True)
    _check_error(exc, path, "all 4 vertices have non-finite coordinates")


# --------------------------------------------------------------------------------------------
# write_ply: validation and atomicity


WRITE_ERRORS = [
    pytest.param(
        {"coords": np.zeros((4, 2))}, "coords must be a numeric (N, 3) array", id="coords_shape"
    ),
    pytest.param({"colors": np.zeros((3, 3))}, "colors must have shape (4, 3)", id="colors_shape"),
    pytest.param(
        {"colors": np.full((4, 3), 300)}, "integer colors must lie in 0..255", id="colors_range"
    ),
    pytest.param({"colors": np.full((4, 3), np.nan)}, "colors contain NaN", id="colors_nan"),
    pytest.param(
        {"normals": np.zeros((4, 2))}, "normals must be a numeric (4, 3) array", id="normals_shape"
    ),
    pytest.param(
        {"faces": np.array([[0, 1, 4]])}, "face vertex indices must lie in 0..3", id="face_range"
    ),
    pytest.param(
        {"faces": np.zeros((1, 3), np.float32)},
        "faces must be an integer (F, 3) array",
        id="face_dtype",
    ),
    pytest.param({"color_alpha": True}, "color_alpha=True needs colors", id="alpha_without_colors"),
    pytest.param({"byte_order": "="}, "byte_order must be '<' or '>'", id="byte_order"),
    pytest.param(
        {"vertex_properties": {"x": np.zeros(4)}},
        "vertex property 'x' is already written",
        id="property_clash",
    ),
    pytest.param(
        {"vertex_properties": {"my label": np.zeros(4)}},
        "invalid vertex property name",
        id="property_name",
    ),
    pytest.param(
        {"vertex_properties": {"label": np.zeros(3)}}, "must have shape (4,)", id="property_shape"
    ),
    pytest.param(
        {"vertex_properties": {"label": np.array([0, 1, 2, 2**40])}},
        "do not fit a 32-bit PLY integer",
        id="property_too_wide",
    ),
    pytest.param(
        {"vertex_properties": {"label": np.array(["a", "b", "c", "d"])}},
        "has no PLY type",
        id="property_strings",
    ),
]


@pytest.mark.parametrize(("overrides", "phrase"), WRITE_ERRORS)
def test_write_ply_rejects_bad_input_and_keeps_old_file(
    tmp_path: Path, overrides: dict, phrase: str
) -> None:
    path = tmp_path / "out.ply"
    path.write_bytes(b"previous")
    kwargs = {"coords": np.zeros((4, 3)), **overrides}
    with pytest.raises(InvalidPointCloudError) as exc:
        write_ply(path, **kwargs)
    _check_error(exc, path, phrase)
    assert path.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.ply"]


def test_write_ply_overwrites_atomically_and_creates_folders(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "cloud.ply"
    write_ply(path, np.zeros((2, 3)))
    returned = write_ply(str(path), np.ones((5, 3)))
    assert returned == path
    assert read_ply(path).num_points == 5
    assert [p.name for p in path.parent.iterdir()] == ["cloud.ply"]


def test_write_ply_accepts_empty_cloud(tmp_path: Path) -> None:
    path = write_ply(
        tmp_path / "empty.ply",
        np.zeros((0, 3)),
        colors=np.zeros((0, 3)),
        faces=np.zeros((0, 3), int),
    )
    ply = plyfile.PlyData.read(str(path))
    assert ply["vertex"].count == 0 and ply["face"].count == 0
    with pytest.raises(InvalidPointCloudError, match="no vertices"):
        read_ply(path)


def test_reading_never_imports_torch() -> None:
    code = (
        "import sys, numpy as np, tempfile, os\n"
        "from dknet.io.ply import read_ply, write_ply\n"
        "p = os.path.join(tempfile.mkdtemp(), 'c.ply')\n"
        "write_ply(p, np.zeros((3, 3)), faces=np.array([[0, 1, 2]]))\n"
        "read_ply(p)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
