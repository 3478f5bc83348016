"""Benchmark the training data pipeline on a ScanNet-sized scene (CPU).

Builds one 150 000-point room (8 x 8 x 3 m: floor, four walls and 60 box-shaped instances,
~1 500 superpoints) and a 300 000-point version (twice as dense, so the crop to 250 000 points
acts), then times, after warm-up, the median and p90 of repeated runs of:

* each augmentation step alone (linear map, both elastic distortions, crop, colour shift);
* the whole :class:`~dknet.data.transforms.TrainAugmentation` call (the number that matters:
  target well under 1 s per scene);
* ``SceneDataset.__getitem__`` on the scene written as ``dknet preprocess`` output (loading the
  ``.npy`` files plus augmentation);
* ``collate_scenes`` of 4 augmented scenes.

Usage::

    python benchmarks/bench_augment.py [--repeats 20] [--warmup 2] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from dknet.data.collate import collate_scenes
from dknet.data.dataset import SceneDataset
from dknet.data.preprocess import write_scene
from dknet.data.transforms import (
    SceneArrays,
    TrainAugmentation,
    color_shift,
    crop,
    elastic_distortion,
    random_linear_map,
)
from dknet.io.atomic import atomic_write_text
from dknet.io.scannet import ScanNetScene

#: The whole augmentation of one 150 000-point scene should take well under this (seconds).
TARGET_S = 1.0


@dataclass(frozen=True)
class Row:
    step: str
    points: int
    median_ms: float
    p90_ms: float
    cpu_median_ms: float


def build_scene(num_points: int, seed: int = 0) -> SceneArrays:
    """A centred room of ``num_points`` points: 20 % floor, 20 % walls, 60 % in 60 boxes."""
    rng = np.random.default_rng(seed)
    n_floor = num_points // 5
    n_wall = num_points // 5
    n_obj = num_points - n_floor - n_wall
    floor = np.column_stack([rng.uniform(0, 8, (n_floor, 2)), np.zeros(n_floor)])
    t = rng.uniform(0, 32, n_wall)  # position along the perimeter
    side, along = (t // 8).astype(int), t % 8
    wall_xy = np.select(
        [side[:, None] == k for k in range(4)],
        [np.column_stack([along, np.zeros(n_wall)]),
         np.column_stack([np.full(n_wall, 8.0), along]),
         np.column_stack([8 - along, np.full(n_wall, 8.0)]),
         np.column_stack([np.zeros(n_wall), 8 - along])],
    )  # fmt: skip
    walls = np.column_stack([wall_xy, rng.uniform(0, 3, n_wall)])
    owner = rng.integers(0, 60, n_obj)
    centres = np.column_stack([rng.uniform(1, 7, (60, 2)), rng.uniform(0.3, 1.0, 60)])
    half = rng.uniform(0.2, 0.6, (60, 3))
    objects = centres[owner] + rng.uniform(-1, 1, (n_obj, 3)) * half[owner]
    coords = np.concatenate([floor, walls, objects])
    coords -= coords.mean(axis=0)
    semantic = np.concatenate(
        [np.full(n_floor, 1), np.zeros(n_wall, np.int64), 2 + owner % 18]
    ).astype(np.int64)
    instance = np.concatenate([np.full(n_floor + n_wall, -1), owner]).astype(np.int64)
    cells = np.floor(coords / 0.4).astype(np.int64)
    _, superpoints = np.unique(cells, axis=0, return_inverse=True)
    return SceneArrays(
        scene_id=f"bench{num_points}",
        coords=coords.astype(np.float32),
        colors=rng.integers(0, 256, (num_points, 3)).astype(np.uint8),
        semantic_labels=semantic,
        instance_labels=instance,
        superpoints=superpoints.reshape(-1).astype(np.int64),
    )


def time_call(
    fn: Callable[[int], object], *, warmup: int, repeats: int
) -> list[tuple[float, float]]:
    """(wall, process CPU) seconds per call of ``fn(i)`` (i = the run's seed), after warm-up.

    CPU time is reported too because the machine is shared: it does not count the time this
    process waited for a core.
    """
    for i in range(warmup):
        fn(10_000 + i)
    samples = []
    for i in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn(i)
        samples.append((time.perf_counter() - wall, time.process_time() - cpu))
    return samples


def summarise(step: str, points: int, samples: list[tuple[float, float]]) -> Row:
    ordered = sorted(w for w, _ in samples)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    cpu = statistics.median(c for _, c in samples)
    return Row(step, points, 1e3 * statistics.median(ordered), 1e3 * p90, 1e3 * cpu)


def steps(scene: SceneArrays) -> dict[str, Callable[[int], object]]:
    """One callable per timed step, each taking the run's seed."""
    aug = TrainAugmentation()
    rgb = scene.colors.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    metric = random_linear_map(scene.coords, np.random.default_rng(0))
    grid = metric * aug.scale
    grid6 = elastic_distortion(grid, np.random.default_rng(1), granularity=6, magnitude=40)
    grid20 = elastic_distortion(grid6, np.random.default_rng(2), granularity=20, magnitude=160)
    shifted = grid20 - grid20.min(axis=0)

    def rng(i: int) -> np.random.Generator:
        return np.random.default_rng(i)

    return {
        "random_linear_map": lambda i: random_linear_map(scene.coords, rng(i)),
        "elastic_distortion (6, 40)": lambda i: elastic_distortion(
            grid, rng(i), granularity=6, magnitude=40
        ),
        "elastic_distortion (20, 160)": lambda i: elastic_distortion(
            grid6, rng(i), granularity=20, magnitude=160
        ),
        "crop": lambda i: crop(shifted, rng(i)),
        "color_shift": lambda i: color_shift(rgb, rng(i)),
        "TrainAugmentation (all)": lambda i: aug(scene, rng(i)),
    }


def machine() -> dict[str, object]:
    import torch

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "load_average_1min": os.getloadavg()[0],
    }


def markdown(rows: list[Row]) -> str:
    lines = [
        "| step | points | median (ms) | p90 (ms) | CPU median (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.step} | {r.points:,} | {r.median_ms:.1f} | {r.p90_ms:.1f} | {r.cpu_median_ms:.1f} |"
        for r in rows
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per step")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before timing")
    parser.add_argument("--json", type=Path, default=None, help="save results to this file")
    args = parser.parse_args(argv)

    rows: list[Row] = []
    for num_points in (150_000, 300_000):
        scene = build_scene(num_points)
        for step, fn in steps(scene).items():
            if num_points != 150_000 and step not in ("crop", "TrainAugmentation (all)"):
                continue
            samples = time_call(fn, warmup=args.warmup, repeats=args.repeats)
            rows.append(summarise(step, num_points, samples))

    scene = build_scene(150_000)
    with tempfile.TemporaryDirectory() as tmp:
        write_scene(
            ScanNetScene(
                scene_id=scene.scene_id,
                source=Path(tmp),
                coords=scene.coords,
                colors=scene.colors,
                superpoints=scene.superpoints,
                semantic_labels=scene.semantic_labels,
                instance_labels=scene.instance_labels,
                gt_ids=np.zeros(scene.num_points, np.int64),
            ),
            tmp,
            fmt="scannet",
        )
        dataset = SceneDataset(tmp, augmentation=TrainAugmentation())

        def get(i: int) -> object:
            dataset.set_epoch(i)
            return dataset[0]

        rows.append(
            summarise(
                "SceneDataset[i] (load + augment)",
                150_000,
                time_call(get, warmup=args.warmup, repeats=args.repeats),
            )
        )
        batch = [get(i) for i in range(4)]
        rows.append(
            summarise(
                "collate_scenes (4 scenes)",
                600_000,
                time_call(
                    lambda i: collate_scenes(batch), warmup=args.warmup, repeats=args.repeats
                ),
            )
        )

    sys.stdout.write(markdown(rows) + "\n")
    full = next(r for r in rows if r.step == "TrainAugmentation (all)" and r.points == 150_000)
    verdict = "within" if full.median_ms < 1e3 * TARGET_S else "OVER"
    sys.stdout.write(f"full augmentation, 150 000 points: {verdict} the {TARGET_S} s target\n")
    if args.json is not None:
        payload = {
            "command": " ".join(
                [
                    "python",
                    "benchmarks/bench_augment.py",
                    *(argv if argv is not None else sys.argv[1:]),
                ]
            ),
            "machine": machine(),
            "results": [asdict(r) for r in rows],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(args.json, json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
