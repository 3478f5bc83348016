// Torch glue of dknet::voxelize: argument checks, output allocation, launch on the current
// stream (kernels and contract in voxelize.h / voxelize_cuda.cu).
#include <torch/library.h>

#include <cmath>
#include <tuple>

#include "common/torch_utils.h"
#ifdef WITH_CUDA
#include "voxelize/voxelize.h"
#endif

namespace dknet {
namespace {

using at::Tensor;

#ifdef WITH_CUDA
std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> voxelize_cuda(const Tensor& coords,
                                                                 const Tensor& ptr,
                                                                 double voxel_size) {
  constexpr const char* op = "voxelize";
  const at::Device device = coords.device();
  check_arg(op, "coords", coords, at::kFloat, 2, device);
  TORCH_CHECK(coords.size(1) == 3, "dknet::voxelize: coords must have shape (N, 3), got ",
              coords.sizes());
  check_arg(op, "ptr", ptr, at::kLong, 1, device);
  TORCH_CHECK(ptr.size(0) >= 1, "dknet::voxelize: ptr must have B + 1 >= 1 entries");
  const float size_f32 = static_cast<float>(voxel_size);
  TORCH_CHECK(std::isfinite(size_f32) && size_f32 > 0.0f,
              "dknet::voxelize: voxel_size must be positive and finite, got ", voxel_size);
  const int64_t n = coords.size(0);
  const int64_t b = ptr.size(0) - 1;
  check_count(op, "N", n);
  TORCH_CHECK(n == 0 || b > 0, "dknet::voxelize: ", n, " points but ptr describes no scene");

  const c10::cuda::CUDAGuard guard(device);
  const at::TensorOptions index_options = ptr.options();
  Tensor point_to_voxel = at::empty({n}, index_options);
  Tensor voxel_to_point_idx = at::empty({n}, index_options);
  Tensor voxel_ptr = at::empty({b + 1}, index_options);
  if (n == 0) {
    voxel_ptr.zero_();
    return {at::empty({0, 4}, coords.options().dtype(at::kInt)), point_to_voxel,
            at::zeros({1}, index_options), voxel_to_point_idx, voxel_ptr};
  }
  const cudaStream_t stream = current_stream();
  const voxelize::Problem problem{coords.data_ptr<float>(), ptr.data_ptr<int64_t>(), n, b,
                                  size_f32};
  Tensor scratch = workspace(coords, voxelize::workspace_bytes(n, b));
  const voxelize::PointOutputs point_outputs{point_to_voxel.data_ptr<int64_t>(),
                                             voxel_to_point_idx.data_ptr<int64_t>(),
                                             voxel_ptr.data_ptr<int64_t>()};
  voxelize::SortSummary summary{};
  check_cuda(voxelize::sort_points(problem, point_outputs, scratch.data_ptr(), stream, &summary),
             op);
  TORCH_CHECK(summary.overflow == 0,
              "dknet::voxelize: the scenes span too many voxels for 64-bit sort keys; use a "
              "larger voxel_size");
  const int64_t m = summary.num_voxels;
  Tensor voxel_coords = at::empty({m, 4}, coords.options().dtype(at::kInt));
  Tensor voxel_to_point_ptr = at::empty({m + 1}, index_options);
  const voxelize::VoxelOutputs voxel_outputs{voxel_coords.data_ptr<int32_t>(),
                                             voxel_to_point_ptr.data_ptr<int64_t>()};
  check_cuda(voxelize::write_voxels(problem, m, point_outputs, voxel_outputs, scratch.data_ptr(),
                                    stream),
             op);
  return {voxel_coords, point_to_voxel, voxel_to_point_ptr, voxel_to_point_idx, voxel_ptr};
}
#else
std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> voxelize_cuda(const Tensor&, const Tensor&,
                                                                 double) {
  TORCH_CHECK(false, kBuiltWithoutCuda);
}
#endif

}  // namespace
}  // namespace dknet

TORCH_LIBRARY_IMPL(dknet, CUDA, m) { m.impl("voxelize", &dknet::voxelize_cuda); }
