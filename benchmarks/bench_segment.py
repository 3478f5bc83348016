"""Benchmark ScanNet's mesh over-segmentation (``dknet.segmentation.segment_mesh``).

Builds a ScanNet-sized mesh, warms the Numba kernels up, then reports the median and p90 of
repeated runs of the whole ``segment_mesh`` call and of its stages (vertex normals, edge list,
edge weights, edge sort, the two union-find passes). Mesh sources:

* ``grid`` (default): a 490 x 490 height field (240 100 vertices, 478 242 triangles, vertex
  valence 6 as on a scan), a gently curved surface with 2 mm noise, 2 cm spacing;
* ``synth``: ``dknet synth`` rooms side by side, cut to 240 000 vertices;
* ``--ply FILE``: any mesh, e.g. a real ``*_vh_clean_2.ply``.

``--shuffle`` renumbers vertices and reorders faces at random, the worst case for memory
locality (a scan's vertex order is spatially coherent, much like the grid's).

Usage::

    python benchmarks/bench_segment.py [--mesh grid|synth] [--ply FILE] [--shuffle]
        [--points] [--repeats 20] [--warmup 2] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dknet.io.atomic import atomic_write_text
from dknet.segmentation import compact_segments, mesh_edges, segment_mesh, segment_points
from dknet.segmentation._graph import sort_keys

TARGET_S = 0.5  # whole segment_mesh call, 240 000 vertices, 2-core machine, after warm-up


def grid_mesh(side: int = 490, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A noisy curved height field, triangulated along one diagonal."""
    rng = np.random.default_rng(seed)
    x, y = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    z = 0.3 * np.sin(x / 40.0) * np.cos(y / 30.0) + rng.normal(0.0, 0.002, x.shape)
    vertices = np.stack([x * 0.02, y * 0.02, z], axis=-1).reshape(-1, 3).astype(np.float32)
    idx = np.arange(side * side).reshape(side, side)
    a, b = idx[:-1, :-1].ravel(), idx[1:, :-1].ravel()
    c, d = idx[:-1, 1:].ravel(), idx[1:, 1:].ravel()
    faces = np.concatenate([np.stack([a, b, d], 1), np.stack([a, d, c], 1)])
    return vertices, faces


def synth_mesh(target: int = 240_000) -> tuple[np.ndarray, np.ndarray]:
    """``dknet synth`` rooms (seed 0) side by side, cut to the first ``target`` vertices."""
    from dknet.synth import generate_scene

    parts_v, parts_f, count, index = [], [], 0, 0
    while count < target:
        scene = generate_scene(index, seed=0)
        parts_v.append(scene.vertices.astype(np.float32) + np.float32(20.0 * index))
        parts_f.append(scene.faces + count)
        count += scene.vertices.shape[0]
        index += 1
    faces = np.concatenate(parts_f)
    return np.concatenate(parts_v)[:target], faces[(faces < target).all(axis=1)]


def shuffled(vertices: np.ndarray, faces: np.ndarray, seed: int = 1) -> tuple:
    rng = np.random.default_rng(seed)
    perm = rng.permutation(vertices.shape[0])
    new_id = np.empty_like(perm)
    new_id[perm] = np.arange(perm.size)
    return vertices[perm], new_id[faces][rng.permutation(faces.shape[0])]


def timed(func: Callable[[], object], repeats: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        func()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    times.sort()
    return {
        "median_s": statistics.median(times),
        "p90_s": times[min(len(times) - 1, round(0.9 * (len(times) - 1)))],
        "min_s": times[0],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mesh", choices=("grid", "synth"), default="grid")
    parser.add_argument("--ply", type=Path, default=None, help="benchmark this mesh instead")
    parser.add_argument("--shuffle", action="store_true", help="random vertex and face order")
    parser.add_argument(
        "--points", action="store_true", help="also time segment_points on the bare vertices"
    )
    parser.add_argument("--repeats", type=int, default=20, help="timed runs per stage")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs before timing")
    parser.add_argument("--json", type=Path, default=None, help="save results to this file")
    args = parser.parse_args(argv)

    if args.ply is not None:
        from dknet.io.ply import read_ply

        cloud = read_ply(args.ply)
        if cloud.faces is None:
            parser.error(f"{args.ply} has no faces")
        vertices, faces, source = cloud.coords, cloud.faces, str(args.ply)
    elif args.mesh == "synth":
        vertices, faces = synth_mesh()
        source = "synth"
    else:
        vertices, faces = grid_mesh()
        source = "grid"
    if args.shuffle:
        vertices, faces = shuffled(vertices, faces)
        source += " (shuffled)"

    from dknet.segmentation._numba import edge_weights, felzenszwalb, mesh_vertex_normals

    start = time.perf_counter()
    seg = segment_mesh(vertices, faces)
    first_call = time.perf_counter() - start

    # Stage inputs, prepared once, exactly as segment_mesh prepares them.
    faces64 = np.ascontiguousarray(faces, dtype=np.int64)
    normals, _ = mesh_vertex_normals(vertices, faces64)
    edge_a, edge_b = mesh_edges(faces64)
    weights = edge_weights(vertices, normals, edge_a, edge_b, True)
    ends = (edge_a << 32) | edge_b
    keys = sort_keys(weights)
    k = np.float32(0.01)

    stages = {
        "segment_mesh (total)": lambda: segment_mesh(vertices, faces),
        "vertex normals (numba)": lambda: mesh_vertex_normals(vertices, faces64),
        "edge list (numpy)": lambda: mesh_edges(faces64),
        "edge weights (numba)": lambda: edge_weights(vertices, normals, edge_a, edge_b, True),
        "sort (numpy)": lambda: sort_keys(weights),
        "union-find passes (numba)": lambda: felzenszwalb(vertices.shape[0], ends, keys, k, 20),
    }
    if args.points:
        stages["segment_points (kNN variant)"] = lambda: segment_points(vertices)
    results = {name: timed(func, args.repeats, args.warmup) for name, func in stages.items()}

    sizes = np.bincount(compact_segments(seg))
    print(
        f"mesh: {source}, {vertices.shape[0]:,} vertices, {faces.shape[0]:,} faces, "
        f"{edge_a.size:,} directed edges -> {sizes.size:,} segments "
        f"(median {int(np.median(sizes))} vertices)"
    )
    print(f"first call (Numba compile or cache load included): {first_call:.3f} s")
    print(f"{'stage':28s} {'median':>10s} {'p90':>10s}")
    for name, r in results.items():
        print(f"{name:28s} {1e3 * r['median_s']:8.1f} ms {1e3 * r['p90_s']:8.1f} ms")
    total = results["segment_mesh (total)"]["median_s"]
    verdict = "meets" if total <= TARGET_S else "MISSES"
    print(f"total {total:.3f} s {verdict} the {TARGET_S} s target")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip

    if args.json is not None:
        record = {
            "mesh": source,
            "num_vertices": int(vertices.shape[0]),
            "num_faces": int(faces.shape[0]),
            "num_segments": int(sizes.size),
            "first_call_s": first_call,
            "stages": results,
            "cpus": os.cpu_count(),
        }
        atomic_write_text(args.json, json.dumps(record, indent=2) + "\n")
    return 0 if total <= TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
