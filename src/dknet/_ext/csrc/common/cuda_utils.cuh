// Device helpers shared by dknet's CUDA kernels. Plain CUDA C++ (no torch headers), so every
// .cu file of the extension compiles with `nvcc -c` alone.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

// Return the CUDA error of `expr` from the enclosing host function when it is not cudaSuccess.
#define DKNET_CUDA_TRY(expr)                        \
  do {                                              \
    const cudaError_t dknet_status_ = (expr);       \
    if (dknet_status_ != cudaSuccess) {             \
      return dknet_status_;                         \
    }                                               \
  } while (0)

namespace dknet {

constexpr unsigned kFullWarpMask = 0xffffffffu;

// Bump allocator over one device byte buffer owned by the caller (a torch tensor in the glue).
// With a null base it only measures: the same layout code computes the size and the pointers.
class WorkspaceCarver {
 public:
  explicit WorkspaceCarver(void* base) : base_(static_cast<char*>(base)) {}

  template <typename T>
  T* take(std::size_t count) {
    const std::size_t offset = offset_;
    offset_ = align_up(offset + count * sizeof(T));
    return base_ == nullptr ? nullptr : reinterpret_cast<T*>(base_ + offset);
  }

  std::size_t bytes() const { return offset_ == 0 ? kAlignment : offset_; }

 private:
  static constexpr std::size_t kAlignment = 256;
  static std::size_t align_up(std::size_t value) {
    return (value + kAlignment - 1) / kAlignment * kAlignment;
  }
  char* base_;
  std::size_t offset_ = 0;
};

// Number of blocks of `threads` threads covering `items`, clamped to [1, cap].
inline unsigned grid_for(std::int64_t items, int threads, std::int64_t cap = 65535) {
  std::int64_t blocks = (items + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > cap) blocks = cap;
  return static_cast<unsigned>(blocks);
}

// Scene boundaries clamped into [0, n] and made non-decreasing, so a malformed `ptr` can never
// make a kernel read or write out of bounds (the public wrapper validates `ptr` beforehand).
struct SceneRange {
  std::int64_t begin;
  std::int64_t end;
};

__device__ __forceinline__ SceneRange scene_range(const std::int64_t* ptr, std::int64_t scene,
                                                  std::int64_t n) {
  std::int64_t begin = ptr[scene];
  std::int64_t end = ptr[scene + 1];
  begin = begin < 0 ? 0 : (begin > n ? n : begin);
  end = end < begin ? begin : (end > n ? n : end);
  return {begin, end};
}

// Scene of packed row `i`: the largest b in [0, num_scenes) with ptr[b] <= i (binary search).
__device__ __forceinline__ std::int64_t scene_of(const std::int64_t* ptr, std::int64_t num_scenes,
                                                 std::int64_t i) {
  std::int64_t lo = 0;
  std::int64_t hi = num_scenes - 1;
  while (lo < hi) {
    const std::int64_t mid = (lo + hi + 1) / 2;
    if (ptr[mid] <= i) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// float32 -> uint32 key whose unsigned order is the numeric order. -0.0 is folded onto +0.0 so
// equal values tie (and fall back to the index rule). NaN maps to 0, below every number.
__device__ __forceinline__ std::uint32_t ascending_float_key(float value) {
  if (value != value) return 0u;
  if (value == 0.0f) value = 0.0f;
  const std::uint32_t bits = __float_as_uint(value);
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

// float32 -> uint32 key whose unsigned order is the *decreasing* numeric order; NaN sorts last.
__device__ __forceinline__ std::uint32_t descending_float_key(float value) {
  if (value != value) return 0xffffffffu;
  return 0xffffffffu - ascending_float_key(value);
}

// Squared distance exactly as the ops contract writes it, each operation rounded to float32 and
// never fused: d2 = (dx*dx + dy*dy) + dz*dz with dx = xa - xb, ...
__device__ __forceinline__ float squared_distance(float xa, float ya, float za, float xb, float yb,
                                                  float zb) {
  const float dx = __fsub_rn(xa, xb);
  const float dy = __fsub_rn(ya, yb);
  const float dz = __fsub_rn(za, zb);
  return __fadd_rn(__fadd_rn(__fmul_rn(dx, dx), __fmul_rn(dy, dy)), __fmul_rn(dz, dz));
}

// Adds 1 to hist[bin] for every lane with `active`. Must be called by all 32 lanes of a warp.
// Lanes hitting the same bin are combined first (soft masks and squared distances pile up in a
// few bins, and one atomic per distinct bin avoids serialising on them). Integer sums are exact,
// so the result does not depend on the order of the atomics.
__device__ __forceinline__ void warp_histogram_add(unsigned* hist, int bin, bool active) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 700
  const unsigned peers = __match_any_sync(kFullWarpMask, active ? bin : -1);
  const int lane = static_cast<int>(threadIdx.x & 31u);
  if (active && lane == __ffs(peers) - 1) {
    atomicAdd(hist + bin, static_cast<unsigned>(__popc(peers)));
  }
#else
  if (active) atomicAdd(hist + bin, 1u);
#endif
}

// Appends `value` for every lane with `flag` to out[*counter...] (one shared atomic per warp).
// Must be called by all 32 lanes of a warp; the order of the appended values is unspecified.
template <typename T>
__device__ __forceinline__ void warp_append(bool flag, T value, T* out, int* counter) {
  const unsigned mask = __ballot_sync(kFullWarpMask, flag);
  if (mask == 0u) return;
  const int lane = static_cast<int>(threadIdx.x & 31u);
  const int leader = __ffs(mask) - 1;
  int base = 0;
  if (lane == leader) base = atomicAdd(counter, __popc(mask));
  base = __shfl_sync(kFullWarpMask, base, leader);
  if (flag) out[base + __popc(mask & ((1u << lane) - 1u))] = value;
}

}  // namespace dknet
