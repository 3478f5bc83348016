"""Over-segmentation of the synthetic mesh: grid tiles, small ones merged within their owner.

A segment starts as one tile of one primitive face (a few-by-few block of grid vertices). Hidden
surface removal leaves some tiles with few vertices; each such tile is merged into the nearest
segment of the *same owner* (the same object, wall, floor or piece of clutter), so a segment never
straddles two instances, or an instance and unannotated surface.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

__all__ = ["MIN_SEGMENT_VERTICES", "over_segment", "segment_ids_from_labels"]

#: Segments smaller than this are merged into a neighbour of the same owner where one exists.
MIN_SEGMENT_VERTICES = 20


def _compact(labels: np.ndarray) -> np.ndarray:
    _, inverse = np.unique(labels, return_inverse=True)
    return inverse.astype(np.int64)


def over_segment(
    points: np.ndarray,
    tile: np.ndarray,
    owner: np.ndarray,
    *,
    spacing: float,
    min_size: int = MIN_SEGMENT_VERTICES,
    rounds: int = 8,
) -> np.ndarray:
    """Segment labels from grid tiles, with small segments merged into same-owner neighbours.

    Merging is deterministic: a small segment joins the segment of its nearest neighbouring
    vertex (within a search radius that grows each round) among those of the same owner that
    are larger (ties: higher label), so chains of merges never form a cycle.

    Args:
        points: (V, 3) float vertex positions, metres.
        tile: (V,) int64 tile id per vertex (vertices of one tile share an owner).
        owner: (V,) int64 owner id per vertex.
        spacing: grid spacing, metres (sets the search radius).
        min_size: segments below this many vertices are merged where possible.
        rounds: at most this many merge passes.

    Returns:
        (V,) int64 compact segment labels 0..S-1.
    """
    seg = _compact(tile)
    if len(seg) == 0:
        return seg
    tree: cKDTree | None = None
    radius = 1.6 * spacing
    for _ in range(rounds):
        sizes = np.bincount(seg)
        small = sizes[seg] < min_size
        if not small.any():
            break
        if tree is None:
            tree = cKDTree(points)
        src = np.flatnonzero(small)
        dist, nbr = tree.query(points[src], k=12, distance_upper_bound=radius)
        valid = nbr < len(points)
        nbr_safe = np.where(valid, nbr, 0)
        src_seg = np.broadcast_to(seg[src][:, None], nbr.shape)
        dst_seg = seg[nbr_safe]
        valid &= owner[nbr_safe] == owner[src][:, None]
        valid &= dst_seg != src_seg
        # Only merge "upwards" (bigger, or as big with a higher label): no merge cycles.
        s_src, s_dst = sizes[src_seg], sizes[dst_seg]
        valid &= (s_dst > s_src) | ((s_dst == s_src) & (dst_seg > src_seg))
        if valid.any():
            cand_src = src_seg[valid]
            cand_dst = dst_seg[valid]
            cand_dist = dist[valid]
            order = np.lexsort((cand_dst, cand_dist, cand_src))
            cand_src, cand_dst = cand_src[order], cand_dst[order]
            first = np.ones(len(cand_src), dtype=bool)
            first[1:] = cand_src[1:] != cand_src[:-1]
            target = np.arange(len(sizes), dtype=np.int64)
            target[cand_src[first]] = cand_dst[first]
            # Follow merge chains (a -> b -> c) to their end; they are acyclic by construction.
            while True:
                nxt = target[target]
                if np.array_equal(nxt, target):
                    break
                target = nxt
            seg = _compact(target[seg])
        radius *= 1.6
    return _absorb_leftovers(points, seg, owner, min_size)


def _absorb_leftovers(
    points: np.ndarray, seg: np.ndarray, owner: np.ndarray, min_size: int
) -> np.ndarray:
    """Merge each remaining small segment into the nearest large segment of its owner.

    Catches slivers far from the rest of their owner (e.g. a strip of wall between two pieces
    of furniture). An owner made only of small segments becomes one segment.
    """
    sizes = np.bincount(seg)
    small = sizes < min_size
    if not small.any():
        return seg
    _, first = np.unique(seg, return_index=True)
    seg_owner = owner[first]
    target = np.arange(len(sizes), dtype=np.int64)
    for own in np.unique(seg_owner[small]):
        members = np.flatnonzero(owner == own)
        is_small = small[seg[members]]
        big, little = members[~is_small], members[is_small]
        if len(big) == 0:
            here = np.unique(seg[members])
            target[here] = here[int(np.argmax(sizes[here]))]
            continue
        dist, nearest = cKDTree(points[big]).query(points[little])
        src, dst = seg[little], seg[big[nearest]]
        order = np.lexsort((dst, dist, src))
        src, dst = src[order], dst[order]
        first_of_src = np.ones(len(src), dtype=bool)
        first_of_src[1:] = src[1:] != src[:-1]
        target[src[first_of_src]] = dst[first_of_src]
    return _compact(target[seg])


def segment_ids_from_labels(labels: np.ndarray) -> np.ndarray:
    """ScanNet-like segment ids: each segment is named by its lowest vertex index.

    Args:
        labels: (V,) int64 compact segment labels.

    Returns:
        (V,) int64 segment id per vertex (not compact, as in ScanNet's segs.json).
    """
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    return first[inverse].astype(np.int64)
