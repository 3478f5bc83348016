// dknet::voxelize on CUDA: contract and raw-pointer launchers (no torch types, so the .cu file
// compiles with plain nvcc; the torch glue lives in voxelize.cpp).
//
// Contract (identical to the Numba kernel, integer outputs bit for bit):
//   Inputs   coords (N, 3) float32 metres, ptr (B+1,) int64 scene boundaries, voxel_size > 0
//            (used as float32). All on one CUDA device, contiguous.
//   Grid     per point and axis v = (int64) floor(float32(coords) / float32(voxel_size)), the
//            division rounded to nearest float32 (__fdiv_rn); then each scene's per-axis minimum
//            of v is subtracted so indices start at 0.
//   Voxels   the distinct (b, vx, vy, vz), sorted lexicographically (scene first).
//   Outputs  voxel_coords (M, 4) int32 rows (b, vx, vy, vz); point_to_voxel (N,) int64;
//            voxel_to_point_ptr (M+1,) int64 and voxel_to_point_idx (N,) int64, the CSR of the
//            inverse map with point indices ascending inside each voxel; voxel_ptr (B+1,) int64.
//   Method   per-scene extents (integer atomics) give the fewest bits per field; when
//            (b, vx, vy, vz) fit in one uint64 key, one stable LSD radix sort (cub) of
//            (key, point index) over just those bits orders the voxels and keeps point indices
//            ascending inside each voxel; otherwise two stable passes sort by (vy, vz) and then
//            by (b, vx). First-of-run flags and an inclusive prefix sum number the voxels.
//   Determinism  integer keys, integer min/max atomics and stable sorts: the result does not
//            depend on scheduling.
//   Syncs    two: the extents (to choose the key layout and the sort's bit range) and the
//            voxel count.
//   Limits   N < 2^31; per-axis extents below 2^64 voxels with bits(B-1) + bits(x extent) <= 64
//            (the public wrapper already caps extents at 2^31 voxels); `sort_points` reports a
//            violation as `overflow`.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace dknet {
namespace voxelize {

struct Problem {
  const float* coords;     // (N, 3)
  const std::int64_t* ptr;  // (B+1,)
  std::int64_t num_points;  // N
  std::int64_t num_scenes;  // B
  float voxel_size;
};

// Outputs whose sizes are known before the voxel count (N and B+1 entries).
struct PointOutputs {
  std::int64_t* point_to_voxel;      // (N,)
  std::int64_t* voxel_to_point_idx;  // (N,)
  std::int64_t* voxel_ptr;           // (B+1,)
};

// Outputs sized by the voxel count M.
struct VoxelOutputs {
  std::int32_t* voxel_coords;        // (M, 4)
  std::int64_t* voxel_to_point_ptr;  // (M+1,)
};

struct SortSummary {
  std::int64_t num_voxels;  // M
  int overflow;             // 1 if the extents do not fit the sort keys (outputs invalid)
};

// Bytes of device workspace `sort_points` and `write_voxels` share (N > 0, B > 0).
std::size_t workspace_bytes(std::int64_t num_points, std::int64_t num_scenes);

// Keys, stable sort, voxel numbering, point outputs. Waits once on `stream` to read the summary.
cudaError_t sort_points(const Problem& problem, const PointOutputs& out, void* workspace,
                        cudaStream_t stream, SortSummary* summary);

// Voxel rows and the inverse-map offsets; call after `sort_points` with the same workspace and
// point outputs.
cudaError_t write_voxels(const Problem& problem, std::int64_t num_voxels,
                         const PointOutputs& points, const VoxelOutputs& out, void* workspace,
                         cudaStream_t stream);

}  // namespace voxelize
}  // namespace dknet
