"""Forward and forward+backward time and peak memory of DKNet on a ScanNet-size synthetic scene.

    python benchmarks/bench_model.py [--config paper|cpu] [--points 150000] [--device cpu|cuda]
                                     [--batch 1] [--repeats 3] [--stage 3]

The scene is a ``dknet synth`` room (scan preset) resampled to ``--points`` vertices; weights
are random (speed does not depend on them, except through the number of instances found, which
the script reports). Forward = ``model.predict`` (inference, eval mode); forward+backward = one
training step at ``--stage`` (``model(batch, stage)["total"].backward()``). Peak memory is the
process's peak RSS growth on CPU (``ru_maxrss``) and ``torch.cuda.max_memory_allocated`` on CUDA.
Timings synchronise the device.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import numpy as np
import torch

from dknet.data.batch import PointBatch
from dknet.models import DKNet, ModelConfig
from dknet.synth import generate_scene


def scene_batch(points: int, seed: int) -> PointBatch:
    scene = generate_scene(0, seed=seed)
    rng = np.random.default_rng(seed)
    idx = rng.choice(scene.vertices.shape[0], size=points, replace=points > scene.vertices.shape[0])
    coords = scene.vertices[idx].astype(np.float32)
    from dknet.labels import NYU40_TO_SEMANTIC

    semantic = np.array([NYU40_TO_SEMANTIC.get(int(v), -1) for v in scene.nyu40[idx]])
    return PointBatch.from_scene(
        coords - coords.mean(axis=0),
        scene.colors[idx],
        semantic_labels=semantic,
        instance_labels=scene.instance_ids[idx],
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", choices=("paper", "cpu"), default="cpu")
    parser.add_argument("--points", type=int, default=150_000)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--stage", type=int, default=3)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    device = torch.device(args.device)
    torch.manual_seed(0)
    config = ModelConfig.paper() if args.config == "paper" else ModelConfig.cpu()
    model = DKNet(config).to(device)
    scenes = [scene_batch(args.points, seed) for seed in range(args.batch)]
    if args.batch == 1:
        batch = scenes[0]
    else:
        batch = PointBatch.concat(scenes)
    batch = batch.to(device)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def timed(fn) -> list[float]:  # type: ignore[no-untyped-def]
        fn()  # warm-up (JIT, spconv tuning)
        times = []
        for _ in range(args.repeats):
            _sync(device)
            t0 = time.perf_counter()
            fn()
            _sync(device)
            times.append(time.perf_counter() - t0)
        return times

    preds: list = []

    def forward() -> None:
        preds[:] = model.predict(batch)

    def train_step() -> None:
        model.train()
        model.zero_grad(set_to_none=True)
        model(batch, stage=args.stage)["total"].backward()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    fwd = timed(forward)
    fwd_mem = (
        torch.cuda.max_memory_allocated(device)
        if device.type == "cuda"
        else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) * 1024
    )
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    bwd = timed(train_step)
    bwd_mem = (
        torch.cuda.max_memory_allocated(device)
        if device.type == "cuda"
        else (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) * 1024
    )
    result = {
        "config": args.config,
        "parameters": model.num_parameters(),
        "points": batch.num_points,
        "scenes": args.batch,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "forward_s_median": statistics.median(fwd),
        "forward_backward_s_median": statistics.median(bwd),
        "forward_peak_mem_mb": fwd_mem / 2**20,
        "forward_backward_peak_mem_mb": bwd_mem / 2**20,
        "instances_found": [len(p.instances.labels) for p in preds],
        "torch": str(torch.__version__),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)


if __name__ == "__main__":
    main()
