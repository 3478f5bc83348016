"""Numba kernel of ``dknet.ops.merge_candidates`` (seed Algorithm 2 as connected components).

Serial: a scene has at most a few hundred candidates, so the whole op is a few microseconds of
work and thread start-up would cost more than it saves.
"""

from __future__ import annotations

import numpy as np

from dknet.ops._numba._jit import jit

__all__ = ["merge_candidates"]


@jit()
def _find_root(parent: np.ndarray, x: int) -> int:
    """Root of ``x`` in a union-find forest, halving the path on the way."""
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


@jit()
def merge_candidates(
    scores: np.ndarray, heat: np.ndarray, candidate_ptr: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group candidates linked by a merge score above ``threshold`` (see the public op).

    Args:
        scores: (K, K) float32 merge scores, C-contiguous.
        heat: (K,) float32 heat of each candidate.
        candidate_ptr: (B+1,) int64 candidate boundaries per scene (validated by the caller).
        threshold: link threshold (strict ``>``), used as float32.

    Returns:
        ``(group_ids, centers, group_ptr)``: (K,) int64 group of each candidate, (G,) int64 the
        candidate with the largest heat of each group (ties: smaller index), (B+1,) int64 group
        boundaries per scene.
    """
    k = heat.shape[0]
    num_scenes = candidate_ptr.shape[0] - 1
    t = np.float32(threshold)
    # Union by smaller root: every root is the smallest candidate index of its component.
    parent = np.arange(k, dtype=np.int64)
    for b in range(num_scenes):
        start = candidate_ptr[b]
        end = candidate_ptr[b + 1]
        for i in range(start, end):
            for j in range(i + 1, end):
                if scores[i, j] > t or scores[j, i] > t:
                    ri = _find_root(parent, i)
                    rj = _find_root(parent, j)
                    if ri < rj:
                        parent[rj] = ri
                    elif rj < ri:
                        parent[ri] = rj

    group_ids = np.empty(k, dtype=np.int64)
    group_ptr = np.zeros(num_scenes + 1, dtype=np.int64)
    num_groups = 0
    for b in range(num_scenes):
        for i in range(candidate_ptr[b], candidate_ptr[b + 1]):
            root = _find_root(parent, i)
            if root == i:
                # The root is the group's smallest member, met first: numbering by smallest index.
                group_ids[i] = num_groups
                num_groups += 1
            else:
                group_ids[i] = group_ids[root]
        group_ptr[b + 1] = num_groups

    centers = np.full(num_groups, -1, dtype=np.int64)
    for i in range(k):
        g = group_ids[i]
        if centers[g] < 0 or heat[i] > heat[centers[g]]:
            centers[g] = i
    return group_ids, centers, group_ptr
