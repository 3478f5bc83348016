"""`dknet predict` end to end on CPU: every input kind, the 1:1 vertex mapping, file contents,
bad inputs, units, devices, overwriting, and quiet output."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dknet.cli import app
from dknet.io.ply import read_ply, read_vertex_property, write_ply
from dknet.io.scannet import MESH_SUFFIX
from dknet.io.submission import check_submission

runner = CliRunner()


def _predict(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["predict", *args], catch_exceptions=False)
    return result.exit_code, result.output


def _check_outputs(out: Path, scene: str, coords: np.ndarray, faces: np.ndarray | None) -> dict:
    """Every output agrees with the input vertex for vertex and with each other."""
    n = coords.shape[0]
    ply = read_ply(out / f"{scene}.ply")
    np.testing.assert_array_equal(ply.coords, coords.astype(np.float32))
    if faces is None:
        assert ply.faces is None
    else:
        np.testing.assert_array_equal(ply.faces, faces)
    data = np.load(out / f"{scene}.npz")
    instance, label, score = data["instance"], data["label"], data["score"]
    assert instance.shape == label.shape == score.shape == data["semantic"].shape == (n,)
    np.testing.assert_array_equal(read_vertex_property(out / f"{scene}.ply", "instance"), instance)
    np.testing.assert_array_equal(read_vertex_property(out / f"{scene}.ply", "label"), label)
    np.testing.assert_array_equal(read_vertex_property(out / f"{scene}.ply", "score"), score)
    masks = data["masks"]
    k = masks.shape[0]
    assert masks.shape == (k, n) and data["instance_labels"].shape == (k,)
    for i in range(k):
        np.testing.assert_array_equal(masks[i], instance == i)
    assigned = instance >= 0
    np.testing.assert_array_equal(label[assigned], data["instance_labels"][instance[assigned]])
    np.testing.assert_array_equal(score[assigned], data["instance_scores"][instance[assigned]])
    np.testing.assert_array_equal(label[~assigned], data["semantic"][~assigned])
    assert np.all(score[~assigned] == 0)
    doc = json.loads((out / f"{scene}.json").read_text())
    assert doc["num_vertices"] == n and doc["num_instances"] == k
    for entry in doc["instances"]:
        members = coords[instance == entry["id"]]
        assert entry["num_vertices"] == members.shape[0] > 0
        assert entry["nyu40_id"] == data["instance_labels"][entry["id"]]
        np.testing.assert_allclose(entry["bbox_min"], members.min(axis=0), atol=1e-5)
        np.testing.assert_allclose(entry["bbox_max"], members.max(axis=0), atol=1e-5)
    return doc


def test_mesh_with_colours_end_to_end(
    tmp_path: Path, trained_checkpoint: Path, synth_root: Path
) -> None:
    mesh = next((synth_root / "scans").glob(f"*/*{MESH_SUFFIX}"))
    source = read_ply(mesh)
    arbitrary = tmp_path / "room.ply"  # a mesh with no segs.json beside it
    shutil.copy(mesh, arbitrary)
    out = tmp_path / "out"
    code, output = _predict(str(arbitrary), "-c", str(trained_checkpoint), "-o", str(out))
    assert code == 0, output
    doc = _check_outputs(out, "room", source.coords, source.faces)
    assert doc["superpoints"] == "mesh" and doc["has_colors"] is True
    assert doc["num_instances"] > 0
    assert "room" in output and "Instances per class" in output


def test_point_cloud_without_colours(
    tmp_path: Path, trained_checkpoint: Path, sphere_scene: tuple[np.ndarray, np.ndarray]
) -> None:
    coords, colors = sphere_scene
    far = coords + np.float32(40.0)  # far from the origin
    write_ply(tmp_path / "bare.ply", far)
    write_ply(tmp_path / "far.ply", far, colors=colors)
    out = tmp_path / "out"
    code, output = _predict(
        str(tmp_path / "bare.ply"), str(tmp_path / "far.ply"), "-c", str(trained_checkpoint),
        "-o", str(out), "--format", "ply,npz,json,scannet",
    )  # fmt: skip
    assert code == 0, output
    assert "bare.ply: no vertex colours" in output and "far.ply: no vertex" not in output
    doc = _check_outputs(out, "bare", far, None)
    assert doc["superpoints"] == "knn" and doc["has_colors"] is False
    # The spheres are found although the scene lies 40 m from the origin (coordinates centred).
    assert _check_outputs(out, "far", far, None)["num_instances"] >= 3
    counts = {"bare": coords.shape[0], "far": coords.shape[0]}
    report = check_submission(out / "scannet", num_vertices=counts)
    assert report.ok, report.problems


def test_scannet_pointcept_folders_and_globs_share_one_load(
    tmp_path: Path,
    trained_checkpoint: Path,
    synth_root: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dknet.models
    from dknet.engine.predict import predict_files

    calls = []
    original = dknet.models.load_checkpoint

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(dknet.models, "load_checkpoint", counting)
    scene_dir = sorted((synth_root / "scans").iterdir())[0]
    mesh = read_ply(scene_dir / f"{scene_dir.name}{MESH_SUFFIX}")
    pointcept = tmp_path / "pointcept" / "pc_scene"
    pointcept.mkdir(parents=True)
    np.save(pointcept / "coord.npy", mesh.coords)
    np.save(pointcept / "color.npy", np.rint(mesh.colors * 255).astype(np.uint8))
    outcomes = list(
        predict_files(
            [str(synth_root / "scans*" / "*"), scene_dir, str(pointcept)],
            trained_checkpoint,
            tmp_path / "out",
            device="cpu",
        )
    )
    assert len(calls) == 1
    assert [o.ok for o in outcomes] == [True] * 4  # 3 ScanNet scenes (one named twice) + 1
    by_id = {o.scene_id: o for o in outcomes}
    assert by_id[scene_dir.name].result is not None
    assert by_id[scene_dir.name].result.superpoints == "file"  # the shipped segs.json
    assert by_id["pc_scene"].result is not None and by_id["pc_scene"].result.superpoints == "knn"
    _check_outputs(tmp_path / "out", scene_dir.name, mesh.coords, mesh.faces)
    _check_outputs(tmp_path / "out", "pc_scene", mesh.coords, None)


def test_bad_inputs_fail_alone(
    tmp_path: Path, trained_checkpoint: Path, sphere_scene: tuple[np.ndarray, np.ndarray]
) -> None:
    coords, colors = sphere_scene
    write_ply(tmp_path / "good.ply", coords, colors=colors)
    (tmp_path / "empty.ply").write_bytes(b"")
    (tmp_path / "notes.ply").write_text("these are not the points you are looking for\n")
    bad = coords.copy()
    bad[7] = np.nan
    write_ply(tmp_path / "nan.ply", bad, colors=colors)
    write_ply(tmp_path / "novertex.ply", np.zeros((0, 3), np.float32))
    out = tmp_path / "out"
    names = ["empty.ply", "notes.ply", "nan.ply", "novertex.ply", "missing.ply", "good.ply"]
    code, output = _predict(
        *[str(tmp_path / n) for n in names], "-c", str(trained_checkpoint), "-o", str(out)
    )
    assert code == 1
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 5, output
    for name, text in zip(
        names[:5],
        ["empty", "not a PLY", "non-finite", "no vertices", "no such file"],
        strict=True,
    ):
        assert any(name in line and text in line for line in errors), (name, output)
    assert (out / "good.ply").is_file() and not (out / "nan.ply").exists()
    assert "1 of 6 scenes predicted" in output


def test_units_device_overwrite_and_flags(
    tmp_path: Path, trained_checkpoint: Path, sphere_scene: tuple[np.ndarray, np.ndarray]
) -> None:
    coords, colors = sphere_scene
    write_ply(tmp_path / "mm.ply", coords * 1000, colors=colors)
    out = tmp_path / "out"
    ckpt = ["-c", str(trained_checkpoint), "-o", str(out), "--no-superpoints"]
    code, output = _predict(str(tmp_path / "mm.ply"), *ckpt)
    assert code == 0 and "millimetres" in output and "--scale 0.001" in output
    code, output = _predict(str(tmp_path / "mm.ply"), *ckpt)
    assert code == 1 and "already exists" in output and "--overwrite" in output
    code, output = _predict(str(tmp_path / "mm.ply"), *ckpt, "--overwrite", "--scale", "0.001")
    assert code == 0 and "millimetres" not in output, output
    doc = json.loads((out / "mm.json").read_text())
    assert doc["scale"] == 0.001 and doc["superpoints"] == "off"
    np.testing.assert_array_equal(read_ply(out / "mm.ply").coords, coords * np.float32(1000))

    code, output = _predict(str(tmp_path / "mm.ply"), *ckpt, "--format", "ply,obj")
    assert code == 1 and "unknown output format obj" in output
    # Without --checkpoint the bundled default model predicts.
    code, output = _predict(str(tmp_path / "mm.ply"), "-o", str(tmp_path / "default"))
    assert code == 0, output
    from dknet.bundled import default_model

    document = json.loads((tmp_path / "default" / "mm.json").read_text())
    assert document["checkpoint"] == str(default_model().path)
    code, output = _predict(str(tmp_path / "mm.ply"), *ckpt, "--scale", "0")
    assert code == 1 and "--scale" in output
    code, output = _predict(str(tmp_path / "mm.ply"), "-c", str(tmp_path / "none.pth"))
    assert code == 1 and "checkpoint not found" in output


def test_render_writes_a_png_per_scene(
    tmp_path: Path, trained_checkpoint: Path, sphere_scene: tuple[np.ndarray, np.ndarray]
) -> None:
    from PIL import Image

    from dknet.io.prediction_outputs import instance_colors
    from dknet.render import render_layout

    coords, colors = sphere_scene
    write_ply(tmp_path / "s.ply", coords, colors=colors)
    out = tmp_path / "out"
    ckpt = ["-c", str(trained_checkpoint), "-o", str(out), "--no-superpoints"]
    code, output = _predict(str(tmp_path / "s.ply"), *ckpt, "--format", "npz", "--render")
    assert code == 0, output
    assert sorted(p.name for p in out.iterdir()) == ["s.npz", "s.png"]
    assert "(npz,png)" in output
    with Image.open(out / "s.png") as image:
        assert image.format == "PNG" and image.size == (1600, 800)
        pixels = np.asarray(image.convert("RGB"))
    # Every predicted instance's colour shows in the top view.
    data = np.load(out / "s.npz")
    k = data["instance_labels"].shape[0]
    assert k >= 3
    top = render_layout().top
    view = pixels[top.y0 : top.y1, top.x0 : top.x1]
    for color in instance_colors(k):
        assert np.all(view == color, axis=-1).any()

    # The PNG alone is enough to stop the scene without --overwrite; --format png works too.
    (out / "s.npz").unlink()
    before = (out / "s.png").read_bytes()
    code, output = _predict(str(tmp_path / "s.ply"), *ckpt, "--format", "npz,png")
    assert code == 1 and "already exists" in output
    assert (out / "s.png").read_bytes() == before and not (out / "s.npz").exists()
    code, output = _predict(str(tmp_path / "s.ply"), *ckpt, "--render", "--overwrite")
    assert code == 0, output
    assert sorted(p.name for p in out.iterdir()) == ["s.json", "s.npz", "s.ply", "s.png"]


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="checks the message on a CPU-only machine"
)
def test_cuda_without_gpu_is_one_line(tmp_path: Path, trained_checkpoint: Path) -> None:
    write_ply(tmp_path / "a.ply", np.zeros((4, 3), np.float32))
    code, output = _predict(
        str(tmp_path / "a.ply"), "-c", str(trained_checkpoint), "--device", "cuda"
    )
    assert code == 1
    assert "torch sees no CUDA GPU" in output and "Traceback" not in output


def test_random_model_maps_every_vertex(tmp_path: Path) -> None:
    """Duplicated and far-apart vertices each get their own row, in input order."""
    import torch

    from dknet.engine.inputs import InputSpec, read_input
    from dknet.engine.predict import Predictor, write_outputs
    from dknet.models import DKNet, ModelConfig

    torch.manual_seed(0)
    predictor = Predictor(DKNet(ModelConfig(width=8, levels=3)), "cpu")
    rng = np.random.default_rng(0)
    coords = rng.uniform(0, 3, size=(3000, 3)).astype(np.float32)
    coords[1000:1500] = coords[:500]  # exact duplicates
    colors = rng.integers(0, 256, size=(3000, 3)).astype(np.uint8)
    write_ply(tmp_path / "r.ply", coords, colors=colors)
    scene = read_input(InputSpec(tmp_path / "r.ply", "ply", "r"))
    result = predictor.predict_scene(scene, use_superpoints=False)
    pred = result.prediction
    assert pred.semantic_labels.shape == pred.point_instance.shape == (3000,)
    # Duplicated vertices share a voxel, so they get the same semantic class.
    np.testing.assert_array_equal(pred.semantic_labels[1000:1500], pred.semantic_labels[:500])
    write_outputs(tmp_path / "out", result)
    _check_outputs(tmp_path / "out", "r", coords, None)


def test_one_process_is_quiet(
    tmp_path: Path, trained_checkpoint: Path, sphere_scene: tuple[np.ndarray, np.ndarray]
) -> None:
    """No third-party warning reaches the terminal by default (spconv's import triggers one)."""
    coords, colors = sphere_scene
    write_ply(tmp_path / "s.ply", coords, colors=colors)
    env = {k: v for k, v in os.environ.items() if k != "TORCH_LOGS"}
    proc = subprocess.run(
        [sys.executable, "-m", "dknet", "predict", str(tmp_path / "s.ply"),
         "-c", str(trained_checkpoint), "-o", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == "", proc.stderr
    assert "s" in proc.stdout and (tmp_path / "out" / "s.npz").is_file()
