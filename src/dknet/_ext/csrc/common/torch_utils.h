// Torch-facing helpers of the extension's op glue: argument checks, workspace allocation, the
// current CUDA stream and CUDA error reporting. Only the per-op .cpp files include this header.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <cstdint>
#include <limits>

#ifdef WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

namespace dknet {

// Shown when a CUDA op of an extension built without CUDA is called.
constexpr const char* kBuiltWithoutCuda =
    "dknet was built without CUDA support; rebuild with FORCE_CUDA=1 or run `dknet doctor`";

// Checks one tensor argument of `op`: CUDA, on `device`, `dtype`, `dim` dimensions, contiguous.
inline void check_arg(const char* op, const char* name, const at::Tensor& t, at::ScalarType dtype,
                      int64_t dim, const at::Device& device) {
  TORCH_CHECK(t.is_cuda(), "dknet::", op, ": ", name, " must be a CUDA tensor, got one on ",
              t.device(), " (CPU tensors run on Numba through dknet.ops)");
  TORCH_CHECK(t.device() == device, "dknet::", op, ": ", name, " is on ", t.device(),
              " but the first argument is on ", device);
  TORCH_CHECK(t.scalar_type() == dtype, "dknet::", op, ": ", name, " must be ", dtype, ", got ",
              t.scalar_type());
  TORCH_CHECK(t.dim() == dim, "dknet::", op, ": ", name, " must have ", dim,
              " dimensions, got shape ", t.sizes());
  TORCH_CHECK(t.is_contiguous(), "dknet::", op, ": ", name, " must be contiguous");
}

// Kernels index points with 32-bit integers.
inline void check_count(const char* op, const char* what, int64_t count) {
  TORCH_CHECK(count < std::numeric_limits<int32_t>::max(), "dknet::", op, ": ", what, " = ",
              count, " exceeds the CUDA kernels' limit of 2^31 - 1");
}

// A device byte buffer for a kernel's scratch memory, from torch's caching allocator.
inline at::Tensor workspace(const at::Tensor& like, std::size_t bytes) {
  return at::empty({static_cast<int64_t>(bytes)}, like.options().dtype(at::kByte));
}

#ifdef WITH_CUDA
inline cudaStream_t current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }

inline void check_cuda(cudaError_t status, const char* op) {
  TORCH_CHECK(status == cudaSuccess, "dknet::", op, ": CUDA error: ", cudaGetErrorString(status));
}
#endif

}  // namespace dknet
