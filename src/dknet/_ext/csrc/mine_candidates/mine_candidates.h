// dknet::mine_candidates on CUDA (LN-NMS, seed Algorithm 1): contract and raw-pointer launchers
// (no torch types; the torch glue lives in mine_candidates.cpp).
//
// Contract (identical to the Numba kernel, integer outputs bit for bit):
//   Inputs   heat (N,) float32, coords (N, 3) float32 metres, semantic (N,) int64, ptr (B+1,)
//            int64; radius > 0, local_ratio, score_threshold (all used as float32);
//            max_candidates, max_neighbors >= 0. All on one CUDA device, contiguous.
//   Distance d2(i, j) = (dx*dx + dy*dy) + dz*dz with dx = xi - xj, ..., every operation rounded
//            to float32 and never fused (__fsub_rn / __fmul_rn / __fadd_rn). R2 = r * r and
//            R2_bg = 4 * R2 in float32; "within R" is d2 < R2, "within 2R" is d2 < R2_bg.
//   Loop     per scene, visit points by decreasing heat (ties: smaller index first); a point is
//            eligible when it is not suppressed and heat >= score_threshold. The visited c
//            suppresses every point within R (any class, c included); F = points within R with
//            c's class (suppressed ones included), G = points within 2R with another class.
//            c is rejected when heat[c] < local_ratio * max(heat over F) (float32 product; its
//            suppressions stay), otherwise accepted with size |F|. Stop after max_candidates
//            acceptances or when no eligible point is left.
//   Caps     a list longer than max_neighbors keeps the max_neighbors smallest (d2, index),
//            compared as one uint64 key (float32 bits of d2 << 32 | index in the scene; d2 >= 0
//            so its bits sort like the value). Stored lists are sorted by ascending index.
//   Outputs  candidate_idx (K,) global, by scene then acceptance order; candidate_ptr (B+1,);
//            sizes (K,); fg_ptr (K+1,), fg_idx; bg_ptr (K+1,), bg_idx; all int64.
//   Fixes    the authors' op copied its state between host and device once per candidate. Here
//            the whole loop runs on the device, one block per scene, in one launch; the host
//            waits once, after the loop, to learn the output sizes.
//   Method   each scene is sorted once by x (cub radix sort) so a candidate only scans the slab
//            of points whose float32 x-gap alone does not rule out d2 < R2_bg (exact: d2 >=
//            dx*dx after rounding, and the slab bounds are found by a warp-wide 33-ary search
//            with that same predicate). The block appends F and G keys to scratch buffers; when a list exceeds
//            its cap, a block-wide 8-bit radix select over those keys finds the cap-th smallest.
//            After the loop, one block per accepted candidate writes both lists in index order.
//   Determinism  the visiting order is a stable sort; suppression flags, counts and the float
//            maximum do not depend on the order of the threads; the select works on the set of
//            keys, not on their order in the scratch buffer.
//   Limits   N < 2^31; coords and heat must be finite.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace dknet {
namespace mine_candidates {

struct Problem {
  const float* heat;            // (N,)
  const float* coords;          // (N, 3)
  const std::int64_t* semantic;  // (N,)
  const std::int64_t* ptr;       // (B+1,)
  std::int64_t num_points;       // N
  std::int64_t num_scenes;       // B
  float radius;
  float local_ratio;
  float score_threshold;
  std::int64_t max_candidates;  // per scene
  std::int64_t max_neighbors;   // cap of each F / G list
  std::int64_t largest_scene;   // max over b of ptr[b+1] - ptr[b] (bounds the slots per scene)
};

struct Totals {
  std::int64_t num_candidates;  // K
  std::int64_t num_fg;          // length of fg_idx
  std::int64_t num_bg;          // length of bg_idx
};

struct Outputs {
  std::int64_t* candidate_idx;  // (K,)
  std::int64_t* candidate_ptr;  // (B+1,)
  std::int64_t* sizes;          // (K,)
  std::int64_t* fg_ptr;         // (K+1,)
  std::int64_t* fg_idx;         // (num_fg,)
  std::int64_t* bg_ptr;         // (K+1,)
  std::int64_t* bg_idx;         // (num_bg,)
};

// Candidate slots per scene: max_candidates, but never more than the points of the batch.
std::int64_t slots_per_scene(const Problem& problem);

// Bytes of device workspace `search` and `write_outputs` share (N > 0, B > 0, slots > 0).
std::size_t workspace_bytes(const Problem& problem);

// Sorts, runs the candidate loop of every scene and sizes the outputs. Waits once on `stream`.
cudaError_t search(const Problem& problem, void* workspace, cudaStream_t stream, Totals* totals);

// Writes every output; call after `search` with the same workspace and its totals.
cudaError_t write_outputs(const Problem& problem, const Totals& totals, const Outputs& out,
                          void* workspace, cudaStream_t stream);

}  // namespace mine_candidates
}  // namespace dknet
