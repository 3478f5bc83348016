// CUDA kernels of dknet::voxelize (contract in voxelize.h).
#include "voxelize/voxelize.h"

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>

#include <climits>

#include "common/cuda_utils.cuh"

namespace dknet {
namespace voxelize {
namespace {

constexpr int kThreads = 256;
constexpr std::int64_t kMaxBlocks = 4096;

// Bit layout of the sort keys. One pass: key = scene | vx | vy | vz (vz in the lowest bits) when
// the four fields fit in 64 bits. Otherwise two stable passes: first by low = vy | vz, then by
// high = scene | vx (the wrapper keeps every extent below 2^31 voxels, so both always fit).
struct PackInfo {
  int bits_b;
  int bits_x;
  int bits_y;
  int bits_z;
  int two_pass;
  int overflow;
};

struct Layout {
  long long* mins;               // (B, 3) per-scene minimum voxel index
  long long* maxs;               // (B, 3) per-scene maximum voxel index
  PackInfo* info;
  unsigned long long* low_keys;  // (N,) vy | vz per point (two-pass layout only)
  unsigned long long* keys_in;   // (N,)
  unsigned long long* keys_out;  // (N,) sorted
  long long* order_in;           // (N,) 0..N-1
  long long* order_mid;          // (N,) order after the first of two passes
  long long* first;              // (N,) 1 where a sorted run (voxel) starts
  long long* voxel_end;          // (N,) inclusive prefix sum of `first`
  SortSummary* summary;
  void* cub_temp;
  std::size_t cub_bytes;
  std::size_t total_bytes;
};

Layout carve(void* base, std::int64_t n, std::int64_t b) {
  std::size_t sort_bytes = 0;
  std::size_t scan_bytes = 0;
  const int items = static_cast<int>(n);
  cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, static_cast<unsigned long long*>(nullptr),
                                  static_cast<unsigned long long*>(nullptr),
                                  static_cast<long long*>(nullptr),
                                  static_cast<long long*>(nullptr), items);
  cub::DeviceScan::InclusiveSum(nullptr, scan_bytes, static_cast<long long*>(nullptr),
                                static_cast<long long*>(nullptr), items);
  WorkspaceCarver carver(base);
  Layout layout{};
  layout.mins = carver.take<long long>(3 * b);
  layout.maxs = carver.take<long long>(3 * b);
  layout.info = carver.take<PackInfo>(1);
  layout.low_keys = carver.take<unsigned long long>(n);
  layout.keys_in = carver.take<unsigned long long>(n);
  layout.keys_out = carver.take<unsigned long long>(n);
  layout.order_in = carver.take<long long>(n);
  layout.order_mid = carver.take<long long>(n);
  layout.first = carver.take<long long>(n);
  layout.voxel_end = carver.take<long long>(n);
  layout.summary = carver.take<SortSummary>(1);
  layout.cub_bytes = sort_bytes > scan_bytes ? sort_bytes : scan_bytes;
  layout.cub_temp = carver.take<unsigned char>(layout.cub_bytes);
  layout.total_bytes = carver.bytes();
  return layout;
}

__device__ __forceinline__ long long voxel_index(const float* coords, long long i, int axis,
                                                 float voxel_size) {
  return static_cast<long long>(floorf(__fdiv_rn(coords[3 * i + axis], voxel_size)));
}

__device__ __forceinline__ int bit_length(unsigned long long value) {
  return value == 0ull ? 0 : 64 - __clzll(static_cast<long long>(value));
}

// Voxel index of point i relative to its scene's minimum, per axis.
__device__ __forceinline__ void relative_index(const Problem& problem, const long long* mins,
                                               long long i, long long* scene,
                                               unsigned long long rel[3]) {
  *scene = scene_of(problem.ptr, problem.num_scenes, i);
  for (int a = 0; a < 3; ++a) {
    rel[a] = static_cast<unsigned long long>(
        voxel_index(problem.coords, i, a, problem.voxel_size) - mins[3 * *scene + a]);
  }
}

__global__ void init_bounds_kernel(long long* mins, long long* maxs, long long count) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < count;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    mins[i] = LLONG_MAX;
    maxs[i] = LLONG_MIN;
  }
}

// Per-scene min/max voxel index per axis. A warp whose points all belong to one scene reduces
// with shuffles and issues one atomic per axis; warps straddling a scene boundary fall back to
// per-point atomics. Integer min/max atomics are exact, hence deterministic.
__global__ void bounds_kernel(Problem problem, long long* mins, long long* maxs) {
  const long long n = problem.num_points;
  const long long stride = static_cast<long long>(gridDim.x) * blockDim.x;
  const int lane = static_cast<int>(threadIdx.x & 31u);
  for (long long base = blockIdx.x * static_cast<long long>(blockDim.x); base < n;
       base += stride) {
    const long long i = base + threadIdx.x;
    const bool valid = i < n;
    const long long scene = valid ? scene_of(problem.ptr, problem.num_scenes, i) : -1;
    long long lo[3];
    long long hi[3];
#pragma unroll
    for (int a = 0; a < 3; ++a) {
      const long long v = valid ? voxel_index(problem.coords, i, a, problem.voxel_size) : 0;
      lo[a] = valid ? v : LLONG_MAX;
      hi[a] = valid ? v : LLONG_MIN;
    }
    const long long scene0 = __shfl_sync(kFullWarpMask, scene, 0);
    const bool uniform = __all_sync(kFullWarpMask, !valid || scene == scene0);
    if (uniform) {
      if (scene0 < 0) continue;  // the whole warp is past the end
#pragma unroll
      for (int a = 0; a < 3; ++a) {
        for (int offset = 16; offset > 0; offset /= 2) {
          const long long other_lo = __shfl_down_sync(kFullWarpMask, lo[a], offset);
          const long long other_hi = __shfl_down_sync(kFullWarpMask, hi[a], offset);
          lo[a] = other_lo < lo[a] ? other_lo : lo[a];
          hi[a] = other_hi > hi[a] ? other_hi : hi[a];
        }
        if (lane == 0) {
          atomicMin(mins + 3 * scene0 + a, lo[a]);
          atomicMax(maxs + 3 * scene0 + a, hi[a]);
        }
      }
    } else if (valid) {
#pragma unroll
      for (int a = 0; a < 3; ++a) {
        atomicMin(mins + 3 * scene + a, lo[a]);
        atomicMax(maxs + 3 * scene + a, hi[a]);
      }
    }
  }
}

// One thread: the largest per-axis extent over non-empty scenes decides the key layout.
__global__ void pack_info_kernel(const long long* mins, const long long* maxs, long long num_scenes,
                                 PackInfo* info) {
  unsigned long long span[3] = {0ull, 0ull, 0ull};
  for (long long b = 0; b < num_scenes; ++b) {
    if (mins[3 * b] > maxs[3 * b]) continue;  // empty scene
    for (int a = 0; a < 3; ++a) {
      const unsigned long long s = static_cast<unsigned long long>(maxs[3 * b + a]) -
                                   static_cast<unsigned long long>(mins[3 * b + a]);
      span[a] = s > span[a] ? s : span[a];
    }
  }
  PackInfo out;
  out.bits_b = bit_length(static_cast<unsigned long long>(num_scenes - 1));
  out.bits_x = bit_length(span[0]);
  out.bits_y = bit_length(span[1]);
  out.bits_z = bit_length(span[2]);
  out.two_pass = out.bits_b + out.bits_x + out.bits_y + out.bits_z > 64 ? 1 : 0;
  out.overflow =
      out.two_pass && (out.bits_b + out.bits_x > 64 || out.bits_y + out.bits_z > 64) ? 1 : 0;
  *info = out;
}

// One-pass keys (scene | vx | vy | vz); two-pass keys: low (vy | vz) per point and high
// (scene | vx), the latter gathered later in the order of the first pass.
__global__ void keys_kernel(Problem problem, const long long* mins, const PackInfo* info,
                            unsigned long long* keys, unsigned long long* low_keys,
                            long long* order) {
  const PackInfo pack = *info;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
       i < problem.num_points; i += static_cast<long long>(gridDim.x) * blockDim.x) {
    order[i] = i;
    long long scene = 0;
    unsigned long long rel[3];
    relative_index(problem, mins, i, &scene, rel);
    const unsigned long long low = (rel[1] << pack.bits_z) | rel[2];
    if (pack.two_pass) {
      low_keys[i] = low;
    } else {
      const int shift_x = pack.bits_y + pack.bits_z;
      const unsigned long long high = (static_cast<unsigned long long>(scene) << pack.bits_x) |
                                      rel[0];
      // A shift by 64 is undefined: high is 0 then (a single voxel per axis and scene).
      keys[i] = (shift_x < 64 ? high << shift_x : 0ull) | low;
    }
  }
}

// Two-pass layout: high keys (scene | vx) of the points in the order the first pass left them.
__global__ void high_keys_kernel(Problem problem, const long long* mins, const PackInfo* info,
                                 const long long* order, unsigned long long* keys) {
  const PackInfo pack = *info;
  for (long long r = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
       r < problem.num_points; r += static_cast<long long>(gridDim.x) * blockDim.x) {
    long long scene = 0;
    unsigned long long rel[3];
    relative_index(problem, mins, order[r], &scene, rel);
    keys[r] = (static_cast<unsigned long long>(scene) << pack.bits_x) | rel[0];
  }
}

__global__ void run_starts_kernel(const unsigned long long* keys, const long long* sorted_points,
                                  const unsigned long long* low_keys, const PackInfo* info,
                                  long long n, long long* first) {
  const bool two_pass = info->two_pass != 0;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    bool starts = i == 0 || keys[i] != keys[i - 1];
    if (!starts && two_pass) {
      starts = low_keys[sorted_points[i]] != low_keys[sorted_points[i - 1]];
    }
    first[i] = starts ? 1 : 0;
  }
}

__global__ void point_to_voxel_kernel(const long long* sorted_points, const long long* voxel_end,
                                      long long n, std::int64_t* point_to_voxel) {
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    point_to_voxel[sorted_points[i]] = voxel_end[i] - 1;
  }
}

// Scenes occupy the same rows before and after the sort (the scene is the most significant
// field), so the first voxel of scene b is the number of voxels that start before row ptr[b].
__global__ void voxel_ptr_kernel(const std::int64_t* ptr, long long num_scenes, long long n,
                                 const long long* first, const long long* voxel_end,
                                 std::int64_t* voxel_ptr) {
  for (long long b = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x;
       b <= num_scenes; b += static_cast<long long>(gridDim.x) * blockDim.x) {
    long long row = ptr[b];
    row = row < 0 ? 0 : (row > n ? n : row);
    voxel_ptr[b] = row < n ? voxel_end[row] - first[row] : voxel_end[n - 1];
  }
}

__global__ void summary_kernel(const long long* voxel_end, long long n, SortSummary* summary) {
  summary->num_voxels = voxel_end[n - 1];
  summary->overflow = 0;
}

__device__ __forceinline__ unsigned long long low_bits(unsigned long long value, int bits) {
  return bits >= 64 ? value : value & ((1ull << bits) - 1ull);
}

__global__ void voxel_rows_kernel(const unsigned long long* keys, const long long* sorted_points,
                                  const unsigned long long* low_keys, const long long* first,
                                  const long long* voxel_end, long long n, const PackInfo* info,
                                  long long num_voxels, std::int32_t* voxel_coords,
                                  std::int64_t* voxel_to_point_ptr) {
  const PackInfo pack = *info;
  const int shift_x = pack.bits_y + pack.bits_z;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    if (i == 0) voxel_to_point_ptr[num_voxels] = n;
    if (!first[i]) continue;
    unsigned long long high;
    unsigned long long low;
    if (pack.two_pass) {
      high = keys[i];
      low = low_keys[sorted_points[i]];
    } else {
      high = shift_x < 64 ? keys[i] >> shift_x : 0ull;
      low = low_bits(keys[i], shift_x);
    }
    const long long v = voxel_end[i] - 1;
    voxel_coords[4 * v + 0] = static_cast<std::int32_t>(pack.bits_x < 64 ? high >> pack.bits_x : 0);
    voxel_coords[4 * v + 1] = static_cast<std::int32_t>(low_bits(high, pack.bits_x));
    voxel_coords[4 * v + 2] = static_cast<std::int32_t>(pack.bits_z < 64 ? low >> pack.bits_z : 0);
    voxel_coords[4 * v + 3] = static_cast<std::int32_t>(low_bits(low, pack.bits_z));
    voxel_to_point_ptr[v] = i;
  }
}

// Sort bits [0, bits); at least one so the sort always writes its outputs.
int end_bit(int bits) { return bits < 1 ? 1 : bits; }

}  // namespace

std::size_t workspace_bytes(std::int64_t num_points, std::int64_t num_scenes) {
  return carve(nullptr, num_points, num_scenes).total_bytes;
}

cudaError_t sort_points(const Problem& problem, const PointOutputs& out, void* workspace,
                        cudaStream_t stream, SortSummary* summary) {
  const long long n = problem.num_points;
  const long long b = problem.num_scenes;
  const Layout ws = carve(workspace, n, b);
  const unsigned grid = grid_for(n, kThreads, kMaxBlocks);

  // Extents first: their bit widths pick the key layout and bound the sort's bit range.
  init_bounds_kernel<<<grid_for(3 * b, kThreads, kMaxBlocks), kThreads, 0, stream>>>(
      ws.mins, ws.maxs, 3 * b);
  DKNET_CUDA_TRY(cudaGetLastError());
  bounds_kernel<<<grid, kThreads, 0, stream>>>(problem, ws.mins, ws.maxs);
  DKNET_CUDA_TRY(cudaGetLastError());
  pack_info_kernel<<<1, 1, 0, stream>>>(ws.mins, ws.maxs, b, ws.info);
  DKNET_CUDA_TRY(cudaGetLastError());
  PackInfo pack{};
  DKNET_CUDA_TRY(cudaMemcpyAsync(&pack, ws.info, sizeof(PackInfo), cudaMemcpyDeviceToHost, stream));
  DKNET_CUDA_TRY(cudaStreamSynchronize(stream));
  if (pack.overflow) {
    summary->num_voxels = 0;
    summary->overflow = 1;
    return cudaSuccess;
  }
  keys_kernel<<<grid, kThreads, 0, stream>>>(problem, ws.mins, ws.info, ws.keys_in, ws.low_keys,
                                             ws.order_in);
  DKNET_CUDA_TRY(cudaGetLastError());

  // LSD radix sorts are stable: equal keys keep ascending point indices (the CSR order).
  long long* sorted_points = reinterpret_cast<long long*>(out.voxel_to_point_idx);
  std::size_t cub_bytes = ws.cub_bytes;
  if (!pack.two_pass) {
    DKNET_CUDA_TRY(cub::DeviceRadixSort::SortPairs(
        ws.cub_temp, cub_bytes, ws.keys_in, ws.keys_out, ws.order_in, sorted_points,
        static_cast<int>(n), 0, end_bit(pack.bits_b + pack.bits_x + pack.bits_y + pack.bits_z),
        stream));
  } else {
    DKNET_CUDA_TRY(cub::DeviceRadixSort::SortPairs(
        ws.cub_temp, cub_bytes, ws.low_keys, ws.keys_out, ws.order_in, ws.order_mid,
        static_cast<int>(n), 0, end_bit(pack.bits_y + pack.bits_z), stream));
    high_keys_kernel<<<grid, kThreads, 0, stream>>>(problem, ws.mins, ws.info, ws.order_mid,
                                                    ws.keys_in);
    DKNET_CUDA_TRY(cudaGetLastError());
    cub_bytes = ws.cub_bytes;
    DKNET_CUDA_TRY(cub::DeviceRadixSort::SortPairs(
        ws.cub_temp, cub_bytes, ws.keys_in, ws.keys_out, ws.order_mid, sorted_points,
        static_cast<int>(n), 0, end_bit(pack.bits_b + pack.bits_x), stream));
  }
  run_starts_kernel<<<grid, kThreads, 0, stream>>>(ws.keys_out, sorted_points, ws.low_keys,
                                                   ws.info, n, ws.first);
  DKNET_CUDA_TRY(cudaGetLastError());
  cub_bytes = ws.cub_bytes;
  DKNET_CUDA_TRY(cub::DeviceScan::InclusiveSum(ws.cub_temp, cub_bytes, ws.first, ws.voxel_end,
                                               static_cast<int>(n), stream));
  point_to_voxel_kernel<<<grid, kThreads, 0, stream>>>(sorted_points, ws.voxel_end, n,
                                                       out.point_to_voxel);
  DKNET_CUDA_TRY(cudaGetLastError());
  voxel_ptr_kernel<<<grid_for(b + 1, kThreads, kMaxBlocks), kThreads, 0, stream>>>(
      problem.ptr, b, n, ws.first, ws.voxel_end, out.voxel_ptr);
  DKNET_CUDA_TRY(cudaGetLastError());
  summary_kernel<<<1, 1, 0, stream>>>(ws.voxel_end, n, ws.summary);
  DKNET_CUDA_TRY(cudaGetLastError());
  DKNET_CUDA_TRY(cudaMemcpyAsync(summary, ws.summary, sizeof(SortSummary), cudaMemcpyDeviceToHost,
                                 stream));
  return cudaStreamSynchronize(stream);
}

cudaError_t write_voxels(const Problem& problem, std::int64_t num_voxels,
                         const PointOutputs& points, const VoxelOutputs& out, void* workspace,
                         cudaStream_t stream) {
  const long long n = problem.num_points;
  const Layout ws = carve(workspace, n, problem.num_scenes);
  voxel_rows_kernel<<<grid_for(n, kThreads, kMaxBlocks), kThreads, 0, stream>>>(
      ws.keys_out, reinterpret_cast<const long long*>(points.voxel_to_point_idx), ws.low_keys,
      ws.first, ws.voxel_end, n, ws.info, num_voxels, out.voxel_coords, out.voxel_to_point_ptr);
  return cudaGetLastError();
}

}  // namespace voxelize
}  // namespace dknet
