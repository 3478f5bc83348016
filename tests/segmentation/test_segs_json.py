"""segs.json reading and writing, ScanNet's output name, and segment_ply end to end."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from dknet.errors import ConfigError, DatasetLayoutError, InvalidPointCloudError
from dknet.io.ply import write_ply
from dknet.segmentation import (
    read_segs_json,
    scene_id_from_mesh,
    segment_mesh,
    segment_ply,
    segs_json_path,
    write_segs_json,
)


def write_mesh(path: Path, *, faces: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A bumpy 12 x 12 grid mesh."""
    rng = np.random.default_rng(0)
    x, y = np.meshgrid(np.arange(12), np.arange(12), indexing="ij")
    z = 0.3 * np.sin(x / 2.0) + rng.normal(0, 0.01, x.shape)
    coords = np.stack([x * 0.1, y * 0.1, z * 0.1], axis=-1).reshape(-1, 3).astype(np.float32)
    idx = np.arange(144).reshape(12, 12)
    a, b, c, d = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[:-1, 1:].ravel(), idx[1:, 1:]
    tri = np.concatenate([np.stack([a, b, d.ravel()], 1), np.stack([a, d.ravel(), c], 1)])
    write_ply(path, coords, faces=tri if faces else None)
    return coords, tri


def test_scannet_names() -> None:
    mesh = Path("scans/scene0000_00/scene0000_00_vh_clean_2.ply")
    assert segs_json_path(mesh) == mesh.with_name("scene0000_00_vh_clean_2.0.010000.segs.json")
    assert segs_json_path("a/room.ply", k_threshold=0.005).name == "room.0.005000.segs.json"
    assert scene_id_from_mesh(mesh) == "scene0000_00"
    assert scene_id_from_mesh("x/scene0001_01_vh_clean.ply") == "scene0001_01"
    assert scene_id_from_mesh("room.ply") == "room"


def test_write_read_round_trip(tmp_path: Path) -> None:
    ids = np.array([5, 5, 0, 7, 5], np.int64)
    path = write_segs_json(tmp_path / "sub" / "scene0000_00_vh_clean_2.0.010000.segs.json", ids)
    text = path.read_text()
    assert text == (
        '{"params":{"kThresh":0.01,"segMinVerts":20},"sceneId":"scene0000_00",'
        '"segIndices":[5,5,0,7,5]}'
    )
    assert read_segs_json(path).tolist() == ids.tolist()
    assert not list(path.parent.glob(".*.tmp"))  # the atomic write left no temporary file

    other = write_segs_json(
        tmp_path / "b.json", ids[:0], scene_id='a "b"', extra_params={"graph": "knn"}
    )
    data = json.loads(other.read_text())
    assert data == {
        "params": {"kThresh": 0.01, "segMinVerts": 20, "graph": "knn"},
        "sceneId": 'a "b"',
        "segIndices": [],
    }
    with pytest.raises(InvalidPointCloudError, match="1-D integer"):
        write_segs_json(tmp_path / "c.json", np.zeros(3, np.float32) + 0.5)


def test_read_rejects_malformed_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.segs.json"
    bad.write_text('{"segIndices": [1, 2.5]}')
    with pytest.raises(DatasetLayoutError, match="segIndices"):
        read_segs_json(bad)
    bad.write_text("{not json")
    with pytest.raises(DatasetLayoutError, match="malformed JSON"):
        read_segs_json(bad)
    with pytest.raises(DatasetLayoutError, match="cannot read"):
        read_segs_json(tmp_path / "missing.segs.json")


def test_segment_ply_mesh(tmp_path: Path) -> None:
    mesh = tmp_path / "scene0000_00_vh_clean_2.ply"
    coords, tri = write_mesh(mesh)
    result = segment_ply(mesh)
    assert result.path == tmp_path / "scene0000_00_vh_clean_2.0.010000.segs.json"
    assert result.graph == "mesh" and result.num_vertices == 144
    written = read_segs_json(result.path)
    assert written.tolist() == segment_mesh(coords, tri).tolist()
    assert result.num_segments == np.unique(written).size
    assert json.loads(result.path.read_text())["sceneId"] == "scene0000_00"

    with pytest.raises(ConfigError, match="already exists"):
        segment_ply(mesh)
    again = segment_ply(mesh, overwrite=True, min_vertices=200)
    assert again.num_segments == 1 and np.unique(read_segs_json(again.path)).size == 1
    with pytest.raises(ConfigError, match="output is a folder"):
        segment_ply(mesh, tmp_path)


def test_segment_ply_point_cloud(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cloud = tmp_path / "cloud.ply"
    write_mesh(cloud, faces=False)
    with caplog.at_level(logging.WARNING, logger="dknet"):
        result = segment_ply(cloud, tmp_path / "out.json")
    assert result.graph == "knn"
    assert "has no faces" in caplog.text
    params = json.loads(result.path.read_text())["params"]
    assert params["graph"] == "knn" and params["kNeighbors"] == 8
    with pytest.raises(InvalidPointCloudError, match="has no faces"):
        segment_ply(cloud, tmp_path / "other.json", graph="mesh")

    mesh = tmp_path / "mesh.ply"
    write_mesh(mesh)
    forced = segment_ply(mesh, graph="knn")
    assert forced.graph == "knn"
    with pytest.raises(ConfigError, match="graph must be one of"):
        segment_ply(mesh, tmp_path / "x.json", graph="voxels")  # type: ignore[arg-type]
