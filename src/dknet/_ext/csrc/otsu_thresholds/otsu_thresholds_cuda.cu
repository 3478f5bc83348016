// CUDA kernels of dknet::otsu_thresholds (contract in otsu_thresholds.h).
#include "otsu_thresholds/otsu_thresholds.h"

#include "common/cuda_utils.cuh"

namespace dknet {
namespace otsu_thresholds {
namespace {

constexpr int kThreads = 256;
// Values of one row counted by one block (keeps enough blocks per row to fill the GPU).
constexpr long long kChunk = 16384;
// Largest K whose histogram lives in shared memory (32 KiB); larger K count in global memory.
constexpr long long kMaxSharedBins = 8192;
constexpr unsigned kMaxGridY = 65535;

__device__ __forceinline__ int bin_of(float value, int num_bins, float bins_f32) {
  // NaN compares false: it counts as 0, like the clamp of the contract.
  const float m = value > 0.0f ? (value < 1.0f ? value : 1.0f) : 0.0f;
  const int bin = static_cast<int>(floorf(__fmul_rn(m, bins_f32)));
  return bin < num_bins - 1 ? bin : num_bins - 1;
}

// Grid: x = chunks of a row, y = rows (strided). Every block adds its chunk's counts into the
// row's global histogram (I, K) int32.
template <bool kShared>
__global__ void histogram_kernel(Problem problem, unsigned* hist) {
  extern __shared__ unsigned shared_hist[];
  const int num_bins = static_cast<int>(problem.num_bins);
  const float bins_f32 = static_cast<float>(num_bins);
  const long long begin = blockIdx.x * kChunk;
  long long end = begin + kChunk;
  if (end > problem.num_cols) end = problem.num_cols;
  for (long long row = blockIdx.y; row < problem.num_rows; row += gridDim.y) {
    unsigned* row_hist = hist + row * num_bins;
    unsigned* counts = kShared ? shared_hist : row_hist;
    if (kShared) {
      for (int k = threadIdx.x; k < num_bins; k += blockDim.x) shared_hist[k] = 0u;
      __syncthreads();
    }
    const float* values = problem.masks + row * problem.num_cols;
    // Uniform trip count per warp: warp_histogram_add needs all 32 lanes.
    for (long long base = begin; base < end; base += blockDim.x) {
      const long long i = base + threadIdx.x;
      const bool active = i < end;
      const int bin = active ? bin_of(values[i], num_bins, bins_f32) : 0;
      warp_histogram_add(counts, bin, active);
    }
    if (kShared) {
      __syncthreads();
      for (int k = threadIdx.x; k < num_bins; k += blockDim.x) {
        const unsigned c = shared_hist[k];
        if (c != 0u) atomicAdd(row_hist + k, c);
      }
      __syncthreads();
    }
  }
}

// One thread per row: scan the K - 1 splits in the contract's exact double arithmetic.
__global__ void split_kernel(Problem problem, const unsigned* hist, float* thresholds) {
  const long long num_bins = problem.num_bins;
  for (long long row = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
       row < problem.num_rows; row += static_cast<long long>(gridDim.x) * blockDim.x) {
    const unsigned* h = hist + row * num_bins;
    long long n_total = 0;
    long long s_total = 0;
    for (long long k = 0; k < num_bins; ++k) {
      n_total += h[k];
      s_total += k * static_cast<long long>(h[k]);
    }
    long long n_low = 0;
    long long s_low = 0;
    double best_var = -1.0;
    long long best_t = 0;
    for (long long t = 1; t < num_bins; ++t) {
      n_low += h[t - 1];
      s_low += (t - 1) * static_cast<long long>(h[t - 1]);
      const long long n_high = n_total - n_low;
      if (n_low == 0 || n_high == 0) continue;
      const double mu_low = __ddiv_rn(static_cast<double>(s_low), static_cast<double>(n_low));
      const double mu_high =
          __ddiv_rn(static_cast<double>(s_total - s_low), static_cast<double>(n_high));
      const double diff = __dsub_rn(mu_low, mu_high);
      const double var = __dmul_rn(
          __dmul_rn(__dmul_rn(static_cast<double>(n_low), static_cast<double>(n_high)), diff),
          diff);
      if (var > best_var) {  // strict: the smallest t wins ties
        best_var = var;
        best_t = t;
      }
    }
    thresholds[row] = __double2float_rn(
        __ddiv_rn(static_cast<double>(best_t), static_cast<double>(num_bins)));
  }
}

}  // namespace

std::size_t workspace_bytes(const Problem& problem) {
  WorkspaceCarver carver(nullptr);
  carver.take<unsigned>(problem.num_rows * problem.num_bins);
  return carver.bytes();
}

cudaError_t compute(const Problem& problem, float* thresholds, void* workspace,
                    cudaStream_t stream) {
  WorkspaceCarver carver(workspace);
  unsigned* hist = carver.take<unsigned>(problem.num_rows * problem.num_bins);
  DKNET_CUDA_TRY(cudaMemsetAsync(
      hist, 0, sizeof(unsigned) * static_cast<std::size_t>(problem.num_rows * problem.num_bins),
      stream));
  if (problem.num_cols > 0) {
    long long chunks = (problem.num_cols + kChunk - 1) / kChunk;
    const dim3 grid(static_cast<unsigned>(chunks),
                    static_cast<unsigned>(problem.num_rows < kMaxGridY ? problem.num_rows
                                                                       : kMaxGridY));
    if (problem.num_bins <= kMaxSharedBins) {
      const std::size_t shared = sizeof(unsigned) * static_cast<std::size_t>(problem.num_bins);
      histogram_kernel<true><<<grid, kThreads, shared, stream>>>(problem, hist);
    } else {
      histogram_kernel<false><<<grid, kThreads, 0, stream>>>(problem, hist);
    }
    DKNET_CUDA_TRY(cudaGetLastError());
  }
  split_kernel<<<grid_for(problem.num_rows, kThreads), kThreads, 0, stream>>>(problem, hist,
                                                                              thresholds);
  return cudaGetLastError();
}

}  // namespace otsu_thresholds
}  // namespace dknet
