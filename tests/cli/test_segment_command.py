"""`dknet segment` through Typer's CliRunner: output file, overwrite rule, errors, arguments."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dknet.cli import app
from dknet.io.ply import write_ply

runner = CliRunner()


@pytest.fixture
def mesh(tmp_path: Path) -> Path:
    x, y = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    z = np.where(x < 4, 0.0, (x - 4) * 1.0)  # a floor folding up into a ramp
    coords = np.stack([x, y, z], axis=-1).reshape(-1, 3).astype(np.float32)
    idx = np.arange(64).reshape(8, 8)
    a, b, c, d = (idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[:-1, 1:].ravel(),
                  idx[1:, 1:].ravel())  # fmt: skip
    faces = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])
    path = tmp_path / "scene0000_00_vh_clean_2.ply"
    write_ply(path, coords, faces=faces)
    return path


def test_writes_scannet_named_file_and_refuses_overwrite(mesh: Path) -> None:
    result = runner.invoke(app, ["segment", str(mesh)])
    assert result.exit_code == 0, result.output
    out = mesh.with_name("scene0000_00_vh_clean_2.0.010000.segs.json")
    data = json.loads(out.read_text())
    assert data["sceneId"] == "scene0000_00" and len(data["segIndices"]) == 64
    assert "segments over 64 vertices (mesh graph" in " ".join(result.output.split())

    again = runner.invoke(app, ["segment", str(mesh)])
    assert again.exit_code == 1
    assert "already exists" in again.output and "--overwrite" in again.output
    forced = runner.invoke(app, ["segment", str(mesh), "--overwrite", "--min-vertices", "100"])
    assert forced.exit_code == 0, forced.output
    assert len(set(json.loads(out.read_text())["segIndices"])) == 1


def test_options_reach_the_library(
    mesh: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dknet.segmentation as module

    calls: list[tuple] = []
    real = module.segment_ply

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "segment_ply", spy)
    out = tmp_path / "custom.json"
    result = runner.invoke(
        app,
        ["segment", str(mesh), "-o", str(out), "--graph", "knn", "--k-threshold", "0.02",
         "--min-vertices", "5", "--neighbors", "6"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert calls == [
        (
            (mesh, out),
            {"overwrite": False, "graph": "knn", "k_threshold": 0.02, "min_vertices": 5,
             "k_neighbors": 6},
        )
    ]  # fmt: skip
    assert json.loads(out.read_text())["params"]["graph"] == "knn"


def test_bad_input_is_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.ply"
    bad.write_text("not a ply file\n")
    result = runner.invoke(app, ["segment", str(bad)])
    assert result.exit_code == 1
    assert result.output.startswith("error:") and "broken.ply" in result.output
    assert "Traceback" not in result.output
    missing = runner.invoke(app, ["segment", str(tmp_path / "none.ply")])
    assert missing.exit_code == 1 and "none.ply" in missing.output
    assert not list(tmp_path.glob("*.segs.json"))


def test_point_cloud_without_faces(tmp_path: Path) -> None:
    cloud = tmp_path / "cloud.ply"
    rng = np.random.default_rng(0)
    write_ply(cloud, rng.random((60, 3)).astype(np.float32))
    result = runner.invoke(app, ["segment", str(cloud)])
    assert result.exit_code == 0, result.output
    assert "knn graph" in result.output
    assert (tmp_path / "cloud.0.010000.segs.json").is_file()
    as_mesh = runner.invoke(
        app, ["segment", str(cloud), "--graph", "mesh", "-o", str(tmp_path / "x.json")]
    )
    assert as_mesh.exit_code == 1 and "has no faces" in as_mesh.output


def test_usage_errors_exit_2(mesh: Path) -> None:
    assert runner.invoke(app, ["segment"]).exit_code == 2
    assert runner.invoke(app, ["segment", str(mesh), "--graph", "voxels"]).exit_code == 2
    assert runner.invoke(app, ["segment", str(mesh), "--k-threshold", "-1"]).exit_code == 2
