// dknet::merge_candidates on CUDA: contract and raw-pointer launchers (no torch types; the torch
// glue lives in merge_candidates.cpp).
//
// Contract (seed Algorithm 2; identical to the Numba kernel, integer outputs bit for bit):
//   Inputs   scores (K, K) float32, heat (K,) float32, candidate_ptr (B+1,) int64, threshold
//            (used as float32). All on one CUDA device, contiguous.
//   Graph    an edge (i, j) for every i != j of the same scene with scores[i, j] > threshold or
//            scores[j, i] > threshold (diagonal and cross-scene entries ignored). Its connected
//            components equal the groups of the greedy single-linkage loop of Algorithm 2.
//   Outputs  group_ids (K,) int64 numbered 0..G-1 by scene, then by the smallest member index;
//            centers (G,) int64 = the member with the largest heat, ties -> smaller index;
//            group_ptr (B+1,) int64 group boundaries per scene. K = 0 works (handled by the glue).
//   Method   one block per scene unites the endpoints of every edge in a lock-free union-find
//            whose parent pointers always point to a smaller index (compare-and-swap hooks the
//            larger root under the smaller one). Every component ends as one tree rooted at its
//            smallest index, whatever the order of the unions: the result is deterministic. Roots
//            numbered by an exclusive prefix sum give the canonical group order; centres come
//            from an integer atomicMax over (heat key, ~index).
//   Limits   K < 2^31; heat must be finite (NaN heat never wins a centre).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace dknet {
namespace merge_candidates {

struct Problem {
  const float* scores;                // (K, K)
  const float* heat;                  // (K,)
  const std::int64_t* candidate_ptr;  // (B+1,)
  std::int64_t num_candidates;        // K
  std::int64_t num_scenes;            // B
  float threshold;
};

struct Outputs {
  std::int64_t* group_ids;  // (K,)
  std::int64_t* centers;    // (G,)
  std::int64_t* group_ptr;  // (B+1,)
};

// Bytes of device workspace `find_groups` and `write_groups` share (K > 0).
std::size_t workspace_bytes(std::int64_t num_candidates);

// Connected components and their canonical numbering. Waits once on `stream` to read G.
cudaError_t find_groups(const Problem& problem, void* workspace, cudaStream_t stream,
                        std::int64_t* num_groups);

// group_ids, centers and group_ptr; call after `find_groups` with the same workspace.
cudaError_t write_groups(const Problem& problem, std::int64_t num_groups, const Outputs& out,
                         void* workspace, cudaStream_t stream);

}  // namespace merge_candidates
}  // namespace dknet
