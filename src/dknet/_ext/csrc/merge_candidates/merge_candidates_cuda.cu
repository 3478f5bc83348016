// CUDA kernels of dknet::merge_candidates (contract in merge_candidates.h).
#include "merge_candidates/merge_candidates.h"

#include <cub/device/device_scan.cuh>

#include "common/cuda_utils.cuh"

namespace dknet {
namespace merge_candidates {
namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 4096;

struct Layout {
  int* parent;                   // (K,) union-find forest, parent[i] <= i
  long long* is_root;            // (K,)
  long long* group_before;       // (K,) exclusive prefix sum of is_root
  unsigned long long* best;      // (K,) per-group centre key (first G entries used)
  long long* num_groups;         // (1,)
  void* cub_temp;
  std::size_t cub_bytes;
  std::size_t total_bytes;
};

Layout carve(void* base, std::int64_t k) {
  std::size_t scan_bytes = 0;
  cub::DeviceScan::ExclusiveSum(nullptr, scan_bytes, static_cast<long long*>(nullptr),
                                static_cast<long long*>(nullptr), static_cast<int>(k));
  WorkspaceCarver carver(base);
  Layout layout{};
  layout.parent = carver.take<int>(k);
  layout.is_root = carver.take<long long>(k);
  layout.group_before = carver.take<long long>(k);
  layout.best = carver.take<unsigned long long>(k);
  layout.num_groups = carver.take<long long>(1);
  layout.cub_bytes = scan_bytes;
  layout.cub_temp = carver.take<unsigned char>(scan_bytes);
  layout.total_bytes = carver.bytes();
  return layout;
}

// Root of x. Loads are volatile (they bypass the incoherent L1) because other threads hook roots
// concurrently; a stale read only ends the walk early at a former root, which `unite` re-checks.
__device__ __forceinline__ int find_root(const volatile int* parent, int x) {
  int p = parent[x];
  while (p != x) {
    x = p;
    p = parent[x];
  }
  return x;
}

__device__ void unite(int* parent, int a, int b) {
  const volatile int* view = parent;
  while (true) {
    a = find_root(view, a);
    b = find_root(view, b);
    if (a == b) return;
    if (a > b) {
      const int t = a;
      a = b;
      b = t;
    }
    // Hook the larger root under the smaller one; fails (and retries) if b stopped being a root.
    if (atomicCAS(parent + b, b, a) == b) return;
  }
}

__global__ void init_parent_kernel(int* parent, long long k) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < k;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    parent[i] = static_cast<int>(i);
  }
}

// One block per scene (strided); threads walk the scene's m x m score block row by row, so the
// loads of scores[i, j] are coalesced.
__global__ void union_kernel(Problem problem, int* parent) {
  const long long k = problem.num_candidates;
  const float threshold = problem.threshold;
  for (long long scene = blockIdx.x; scene < problem.num_scenes; scene += gridDim.x) {
    const SceneRange range = scene_range(problem.candidate_ptr, scene, k);
    const long long m = range.end - range.begin;
    for (long long pair = threadIdx.x; pair < m * m; pair += blockDim.x) {
      const long long i = range.begin + pair / m;
      const long long j = range.begin + pair % m;
      if (i >= j) continue;
      if (problem.scores[i * k + j] > threshold || problem.scores[j * k + i] > threshold) {
        unite(parent, static_cast<int>(i), static_cast<int>(j));
      }
    }
  }
}

__global__ void roots_kernel(int* parent, long long k, long long* is_root) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < k;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int root = find_root(parent, static_cast<int>(i));
    is_root[i] = root == i ? 1 : 0;
  }
}

__global__ void count_kernel(const long long* is_root, const long long* group_before, long long k,
                             long long* num_groups) {
  *num_groups = group_before[k - 1] + is_root[k - 1];
}

// Larger key = larger heat, then smaller index.
__device__ __forceinline__ unsigned long long center_key(float heat, long long i) {
  return (static_cast<unsigned long long>(ascending_float_key(heat)) << 32) |
         static_cast<unsigned long long>(0xffffffffu - static_cast<unsigned>(i));
}

__global__ void group_ids_kernel(Problem problem, int* parent, const long long* group_before,
                                 unsigned long long* best, std::int64_t* group_ids) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
       i < problem.num_candidates; i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const long long g = group_before[find_root(parent, static_cast<int>(i))];
    group_ids[i] = g;
    atomicMax(best + g, center_key(problem.heat[i], i));
  }
}

__global__ void centers_kernel(const unsigned long long* best, long long num_groups,
                               std::int64_t* centers) {
  for (long long g = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; g < num_groups;
       g += static_cast<long long>(gridDim.x) * blockDim.x) {
    const unsigned low = static_cast<unsigned>(best[g] & 0xffffffffull);
    centers[g] = static_cast<long long>(0xffffffffu - low);
  }
}

// Groups are numbered in index order, so scene b's first group is the number of roots before its
// first candidate.
__global__ void group_ptr_kernel(Problem problem, const long long* group_before,
                                 long long num_groups, std::int64_t* group_ptr) {
  const long long k = problem.num_candidates;
  for (long long b = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
       b <= problem.num_scenes; b += static_cast<long long>(gridDim.x) * blockDim.x) {
    long long row = problem.candidate_ptr[b];
    row = row < 0 ? 0 : (row > k ? k : row);
    group_ptr[b] = row < k ? group_before[row] : num_groups;
  }
}

}  // namespace

std::size_t workspace_bytes(std::int64_t num_candidates) {
  return carve(nullptr, num_candidates).total_bytes;
}

cudaError_t find_groups(const Problem& problem, void* workspace, cudaStream_t stream,
                        std::int64_t* num_groups) {
  const long long k = problem.num_candidates;
  const Layout ws = carve(workspace, k);
  const unsigned grid = grid_for(k, kThreads, kMaxBlocks);
  init_parent_kernel<<<grid, kThreads, 0, stream>>>(ws.parent, k);
  DKNET_CUDA_TRY(cudaGetLastError());
  if (problem.num_scenes > 0) {
    const unsigned scenes = static_cast<unsigned>(problem.num_scenes < 65535 ? problem.num_scenes
                                                                             : 65535);
    union_kernel<<<scenes, kThreads, 0, stream>>>(problem, ws.parent);
    DKNET_CUDA_TRY(cudaGetLastError());
  }
  roots_kernel<<<grid, kThreads, 0, stream>>>(ws.parent, k, ws.is_root);
  DKNET_CUDA_TRY(cudaGetLastError());
  std::size_t cub_bytes = ws.cub_bytes;
  DKNET_CUDA_TRY(cub::DeviceScan::ExclusiveSum(ws.cub_temp, cub_bytes, ws.is_root,
                                               ws.group_before, static_cast<int>(k), stream));
  count_kernel<<<1, 1, 0, stream>>>(ws.is_root, ws.group_before, k, ws.num_groups);
  DKNET_CUDA_TRY(cudaGetLastError());
  long long host_groups = 0;
  DKNET_CUDA_TRY(cudaMemcpyAsync(&host_groups, ws.num_groups, sizeof(long long),
                                 cudaMemcpyDeviceToHost, stream));
  DKNET_CUDA_TRY(cudaStreamSynchronize(stream));
  *num_groups = host_groups;
  return cudaSuccess;
}

cudaError_t write_groups(const Problem& problem, std::int64_t num_groups, const Outputs& out,
                         void* workspace, cudaStream_t stream) {
  const long long k = problem.num_candidates;
  const Layout ws = carve(workspace, k);
  DKNET_CUDA_TRY(cudaMemsetAsync(ws.best, 0,
                                 sizeof(unsigned long long) * static_cast<std::size_t>(k), stream));
  group_ids_kernel<<<grid_for(k, kThreads, kMaxBlocks), kThreads, 0, stream>>>(
      problem, ws.parent, ws.group_before, ws.best, out.group_ids);
  DKNET_CUDA_TRY(cudaGetLastError());
  if (num_groups > 0) {
    centers_kernel<<<grid_for(num_groups, kThreads, kMaxBlocks), kThreads, 0, stream>>>(
        ws.best, num_groups, out.centers);
    DKNET_CUDA_TRY(cudaGetLastError());
  }
  group_ptr_kernel<<<grid_for(problem.num_scenes + 1, kThreads, kMaxBlocks), kThreads, 0,
                     stream>>>(problem, ws.group_before, num_groups, out.group_ptr);
  return cudaGetLastError();
}

}  // namespace merge_candidates
}  // namespace dknet
