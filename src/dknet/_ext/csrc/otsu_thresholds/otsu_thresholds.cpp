// Torch glue of dknet::otsu_thresholds: argument checks, output allocation, launch on the
// current stream (kernels and contract in otsu_thresholds.h / otsu_thresholds_cuda.cu).
#include <torch/library.h>

#include "common/torch_utils.h"
#ifdef WITH_CUDA
#include "otsu_thresholds/otsu_thresholds.h"
#endif

namespace dknet {
namespace {

using at::Tensor;

#ifdef WITH_CUDA
// float32(K) must be exact for the contract's float32 product m * K.
constexpr int64_t kMaxBins = int64_t{1} << 24;

Tensor otsu_thresholds_cuda(const Tensor& masks, int64_t num_bins) {
  constexpr const char* op = "otsu_thresholds";
  check_arg(op, "masks", masks, at::kFloat, 2, masks.device());
  TORCH_CHECK(num_bins >= 1 && num_bins <= kMaxBins,
              "dknet::otsu_thresholds: num_bins must be in [1, 2^24], got ", num_bins);
  const int64_t rows = masks.size(0);
  const int64_t cols = masks.size(1);
  check_count(op, "N (values per row)", cols);

  const c10::cuda::CUDAGuard guard(masks.device());
  Tensor thresholds = at::empty({rows}, masks.options());
  if (rows == 0) return thresholds;
  const otsu_thresholds::Problem problem{masks.data_ptr<float>(), rows, cols, num_bins};
  Tensor scratch = workspace(masks, otsu_thresholds::workspace_bytes(problem));
  check_cuda(otsu_thresholds::compute(problem, thresholds.data_ptr<float>(), scratch.data_ptr(),
                                      current_stream()),
             op);
  return thresholds;
}
#else
Tensor otsu_thresholds_cuda(const Tensor&, int64_t) {
  TORCH_CHECK(false, kBuiltWithoutCuda);
}
#endif

}  // namespace
}  // namespace dknet

TORCH_LIBRARY_IMPL(dknet, CUDA, m) { m.impl("otsu_thresholds", &dknet::otsu_thresholds_cuda); }
