"""`dknet predict` on CPU: model time per scene, end-to-end process time, peak memory.

Model time is :meth:`dknet.engine.predict.Predictor.predict` on one scene after import and
load (warm-up run first), for the CPU configuration (m = 16, 5 levels) and the paper
configuration (m = 32, 7 levels), both randomly initialised (random weights mine the most
candidates, T = 150, so decoding is at its most expensive). The scene is a ``dknet synth``
room resampled to exactly the requested vertex count. End to end is a fresh ``dknet predict``
process (spconv import, checkpoint load, read, superpoints, model, writing ply/npz/json) on one
scene and on ten copies in one call; its peak RSS comes from ``getrusage(RUSAGE_CHILDREN)``.

Usage: ``python benchmarks/bench_predict.py [--points 240000] [--repeats 3] [--skip-process]``
"""

from __future__ import annotations

import argparse
import logging
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

logging.basicConfig(level=logging.INFO, format="%(message)s")
log = logging.getLogger("bench_predict")


def make_scene(folder: Path, num_points: int) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic room resampled to ``num_points`` vertices (coords metres, colours uint8)."""
    from typer.testing import CliRunner

    from dknet.cli import app
    from dknet.io.ply import read_ply

    root = folder / "synth"
    result = CliRunner().invoke(app, ["synth", str(root), "--scenes", "1", "--seed", "3"])
    assert result.exit_code == 0, result.output
    cloud = read_ply(next(root.glob("scans*/*/*_vh_clean_2.ply")))
    rng = np.random.default_rng(0)
    idx = rng.choice(cloud.num_points, num_points, replace=num_points > cloud.num_points)
    jitter = rng.normal(scale=0.003, size=(num_points, 3)).astype(np.float32)
    coords = cloud.coords[idx] + jitter
    colors = np.rint(cloud.colors[idx] * 255).astype(np.uint8)
    return coords, colors


def time_model(config_name: str, coords: np.ndarray, colors: np.ndarray, repeats: int) -> dict:
    import torch

    from dknet.engine.predict import Predictor
    from dknet.models import DKNet, ModelConfig

    torch.manual_seed(0)
    config = ModelConfig.cpu() if config_name == "cpu" else ModelConfig.paper()
    predictor = Predictor(DKNet(config), "cpu")
    predictor.predict(coords, colors)  # warm-up (Numba JIT, allocator)
    times, instances = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        pred = predictor.predict(coords, colors)
        times.append(time.perf_counter() - start)
        instances = len(pred.instances)
    return {"median": statistics.median(times), "min": min(times), "instances": instances}


def run_process(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (GB) of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=240_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--configs", default="cpu,paper")
    parser.add_argument("--skip-process", action="store_true")
    opts = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_predict."))
    try:
        coords, colors = make_scene(folder, opts.points)
        log.info("scene: %d points", coords.shape[0])
        for name in opts.configs.split(","):
            r = time_model(name, coords, colors, opts.repeats)
            log.info(
                "model %-5s %d points: median %.2f s, min %.2f s, %d instances",
                name, coords.shape[0], r["median"], r["min"], r["instances"],
            )  # fmt: skip
        if opts.skip_process:
            return
        import torch

        from dknet.io.ply import write_ply
        from dknet.models import DKNet, ModelConfig
        from dknet.models.checkpoint import checkpoint_metadata

        torch.manual_seed(0)
        model = DKNet(ModelConfig.cpu())
        payload = checkpoint_metadata(model.config)
        payload["torch_version"] = str(payload["torch_version"])
        payload["model"] = model.state_dict()
        torch.save(payload, folder / "cpu.pth")
        scenes = folder / "scenes"
        for k in range(10):
            write_ply(scenes / f"s{k:02d}.ply", coords, colors=colors)
        dknet = [sys.executable, "-m", "dknet", "predict", "-c", str(folder / "cpu.pth")]
        wall, peak = run_process([*dknet, str(scenes / "s00.ply"), "-o", str(folder / "o1")])
        log.info("process, 1 scene: %.1f s wall, peak RSS %.2f GB", wall, peak)
        wall, peak = run_process([*dknet, str(scenes), "-o", str(folder / "o10")])
        log.info("process, 10 scenes: %.1f s wall (%.1f s per scene), peak RSS %.2f GB",
                 wall, wall / 10, peak)  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
