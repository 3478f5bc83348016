// dknet::otsu_thresholds on CUDA: contract and raw-pointer launcher (no torch types; the torch
// glue lives in otsu_thresholds.cpp).
//
// Contract (seed eq. S6; identical to the Numba kernel, thresholds bit-identical):
//   Input    masks (I, N) float32, contiguous; num_bins K >= 1.
//   Bins     m = clamp(value, 0, 1) with NaN counted as 0; bin = min(floor(m * K), K - 1) with
//            m * K a float32 product (__fmul_rn), so m = 1.0 lands in the last bin.
//   Split    for t in 1..K-1: n_low / n_high and s_low / s_high = sum of k * h[k] over bins
//            [0, t) / [t, K), all int64; a split needs n_low > 0 and n_high > 0. In float64:
//            mu_low = s_low / n_low, mu_high = s_high / n_high,
//            var = (double)n_low * (double)n_high * (mu_low - mu_high) * (mu_low - mu_high),
//            left to right with __ddiv_rn / __dsub_rn / __dmul_rn (never fused).
//   Output   thresholds (I,) float32 = float32((double)t* / K) for the t* with the largest var
//            (strict >, so the smallest t wins ties); 0.0 when no split exists (N = 0 or every
//            value in one bin).
//   Fixes    the authors' GPU histogram raced on its counters and put m = 1.0 one bin past the
//            end. Here each block counts into a shared-memory integer histogram with atomics
//            (integer sums are exact, so the counts never depend on scheduling) and merges it
//            into the row's global integer histogram; one thread per row then scans the splits.
//   Limits   N < 2^31 (int32 bin counts).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace dknet {
namespace otsu_thresholds {

struct Problem {
  const float* masks;      // (I, N)
  std::int64_t num_rows;   // I
  std::int64_t num_cols;   // N
  std::int64_t num_bins;   // K
};

// Bytes of device workspace `compute` needs (I > 0).
std::size_t workspace_bytes(const Problem& problem);

// Writes thresholds (I,) float32. Asynchronous on `stream`.
cudaError_t compute(const Problem& problem, float* thresholds, void* workspace,
                    cudaStream_t stream);

}  // namespace otsu_thresholds
}  // namespace dknet
