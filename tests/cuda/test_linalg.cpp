// Matrix products on the device against the CPU: matmul / bmm / linear through cuBLAS and
// cuBLASLt, every floating dtype, odd sizes, transposed and strided operands (taken without copies
// where cuBLAS can read them), broadcast batches, fused bias and activation epilogues, TF32 as an
// opt-in, streams and threads.
#include <thread>

#include "cuda_testing.h"
#include "rvos/version.h"

// The device layer is called directly here; a build without CUDA has none.
#if RVOS_HAVE_CUDA
#include "cuda/gemm.h"
#include "cuda/stream.h"

using namespace rvos;
using namespace rvos::testing;

namespace {

// float32 / float64 tight; 16-bit types accumulate in float32 but round inputs and outputs.
const DtypeTolerance kDtypes[] = {{DType::F32, 2e-5, 2e-5},
                                  {DType::F64, 1e-12, 1e-12},
                                  {DType::BF16, 3e-2, 2e-2},
                                  {DType::F16, 1e-2, 1e-2}};

int64_t allocations() { return cuda::memory_stats(0).num_allocs; }

}  // namespace

TEST_CASE("matmul 2-D at odd sizes matches the CPU in every floating dtype, forward and backward") {
  if (!gpu_present()) return;
  for (const DtypeTolerance& c : kDtypes) {
    const std::string name = std::string("matmul 37x13 @ 13x29 ") + dtype_name(c.dtype);
    const auto f = [](const TensorList& x) { return matmul(x[0], x[1]); };
    check_cuda_matches_cpu(name, f, {random({37, 13}, c.dtype, 1), random({13, 29}, c.dtype, 2)}, {c.atol, c.rtol, true});
    check_cuda_matches_cpu(name + " (transposed inputs)", f, {random({37, 13}, c.dtype, 3), random({13, 29}, c.dtype, 4)},
                           {c.atol, c.rtol, true, true});
  }
}

TEST_CASE("matmul with explicitly transposed operands (op T) in every combination") {
  if (!gpu_present()) return;
  for (const DtypeTolerance& c : kDtypes) {
    INFO(dtype_name(c.dtype));
    check_cuda_matches_cpu("a^T @ b", [](const TensorList& x) { return matmul(transpose(x[0], 0, 1), x[1]); },
                           {random({13, 37}, c.dtype, 5), random({13, 29}, c.dtype, 6)}, {c.atol, c.rtol, true});
    check_cuda_matches_cpu("a @ b^T", [](const TensorList& x) { return matmul(x[0], transpose(x[1], 0, 1)); },
                           {random({37, 13}, c.dtype, 7), random({29, 13}, c.dtype, 8)}, {c.atol, c.rtol, true});
    check_cuda_matches_cpu("a^T @ b^T",
                           [](const TensorList& x) { return matmul(transpose(x[0], 0, 1), transpose(x[1], 0, 1)); },
                           {random({13, 37}, c.dtype, 9), random({29, 13}, c.dtype, 10)}, {c.atol, c.rtol, true});
  }
}

TEST_CASE("transposed operands reach cuBLAS without a copy") {
  if (!gpu_present()) return;
  NoGradGuard no_grad;
  const Tensor a = to(random({13, 37}, DType::F32, 11), Device::cuda());
  const Tensor b = to(random({29, 13}, DType::F32, 12), Device::cuda());
  Tensor warm = matmul(transpose(a, 0, 1), transpose(b, 0, 1));  // handles and workspace exist afterwards
  const int64_t before = allocations();
  const Tensor y = matmul(transpose(a, 0, 1), transpose(b, 0, 1));
  CHECK(allocations() - before == 1);  // the result only
  CHECK_CLOSE(to(y, Device::cpu()), matmul(transpose(to(a, Device::cpu()), 0, 1), transpose(to(b, Device::cpu()), 0, 1)),
              2e-5, 2e-5);
  const Tensor a3 = to(random({3, 13, 37}, DType::F32, 13), Device::cuda());
  const Tensor b3 = to(random({3, 29, 13}, DType::F32, 14), Device::cuda());
  const int64_t before3 = allocations();
  const Tensor y3 = bmm(transpose(a3, 1, 2), transpose(b3, 1, 2));
  CHECK(allocations() - before3 == 1);
  CHECK_CLOSE(to(y3, Device::cpu()),
              bmm(transpose(to(a3, Device::cpu()), 1, 2), transpose(to(b3, Device::cpu()), 1, 2)), 2e-5, 2e-5);
  cuda::MatrixBatch m{a.raw_data(), DType::F32, 37, 13, 1, 37, 0};
  CHECK(cuda::gemm_accepts(m));
  m.row_stride = 2;  // neither a unit row nor a unit column stride
  CHECK_FALSE(cuda::gemm_accepts(m));
}

TEST_CASE("bmm and batched matmul: batch 3, broadcast batches, folded rows") {
  if (!gpu_present()) return;
  for (const DtypeTolerance& c : kDtypes) {
    INFO(dtype_name(c.dtype));
    check_cuda_matches_cpu("bmm batch 3", [](const TensorList& x) { return bmm(x[0], x[1]); },
                           {random({3, 37, 13}, c.dtype, 15), random({3, 13, 29}, c.dtype, 16)}, {c.atol, c.rtol, true, true});
    // [3, 37, 13] @ [13, 29]: the batch folds into the rows of one GEMM.
    check_cuda_matches_cpu("batched @ 2-D", [](const TensorList& x) { return matmul(x[0], x[1]); },
                           {random({3, 37, 13}, c.dtype, 17), random({13, 29}, c.dtype, 18)}, {c.atol, c.rtol, true});
    // Broadcast batch dims: b's batch stride is 0 in the strided-batched call.
    check_cuda_matches_cpu("broadcast batches", [](const TensorList& x) { return matmul(x[0], x[1]); },
                           {random({2, 1, 7, 13}, c.dtype, 19), random({3, 13, 5}, c.dtype, 20)}, {c.atol, c.rtol, true});
    check_cuda_matches_cpu("2-D @ batched", [](const TensorList& x) { return matmul(x[0], x[1]); },
                           {random({7, 13}, c.dtype, 21), random({4, 13, 9}, c.dtype, 22)}, {c.atol, c.rtol, true});
  }
}

TEST_CASE("matmul of strided views that need a copy, vectors and empty sums") {
  if (!gpu_present()) return;
  // Every other row and column: no unit stride, so the operand is copied first.
  check_cuda_matches_cpu("strided views",
                         [](const TensorList& x) {
                           return matmul(slice(slice(x[0], 0, 0, 74, 2), 1, 0, 26, 2),
                                         slice(slice(x[1], 0, 1, 26, 2), 1, 0, 58, 2));
                         },
                         {random({74, 26}, DType::F32, 23), random({26, 58}, DType::F32, 24)}, {2e-5, 2e-5, true});
  // A broadcast (stride 0) inner dimension.
  check_cuda_matches_cpu("expanded operand", [](const TensorList& x) { return matmul(expand(x[0], {37, 13}), x[1]); },
                         {random({1, 13}, DType::F32, 25), random({13, 29}, DType::F32, 26)}, {2e-5, 2e-5, false});
  const auto f = [](const TensorList& x) { return matmul(x[0], x[1]); };
  check_cuda_matches_cpu("vector @ matrix", f, {random({13}, DType::F64, 27), random({13, 29}, DType::F64, 28)},
                         {1e-12, 1e-12, true});
  check_cuda_matches_cpu("matrix @ vector", f, {random({37, 13}, DType::F64, 29), random({13}, DType::F64, 30)},
                         {1e-12, 1e-12, true});
  check_cuda_matches_cpu("vector @ vector", f, {random({13}, DType::F32, 31), random({13}, DType::F32, 32)},
                         {2e-5, 2e-5, true});
  check_cuda_matches_cpu("batch of matrices @ vector", f, {random({3, 37, 13}, DType::F32, 33), random({13}, DType::F32, 34)},
                         {2e-5, 2e-5, true});
  // k = 0: zeros, whatever the result buffer held before.
  const Tensor empty_sum = matmul(zeros({5, 0}, DType::F32, Device::cuda()), zeros({0, 7}, DType::F32, Device::cuda()));
  CHECK(empty_sum.is_cuda());
  CHECK(to_vector<float>(empty_sum) == std::vector<float>(35, 0.0f));
  CHECK(matmul(zeros({0, 4}, DType::F32, Device::cuda()), zeros({4, 3}, DType::F32, Device::cuda())).shape() ==
        Shape{0, 3});
}

TEST_CASE("matmul at a larger size exercises split-K reductions in float32") {
  if (!gpu_present()) return;
  // A long inner dimension with few outputs makes cuBLAS split K; half types must still sum in float32.
  for (const DtypeTolerance& c : kDtypes) {
    INFO(dtype_name(c.dtype));
    const double scale = c.dtype == DType::F64 ? 1e-11 : (c.dtype == DType::F32 ? 2e-4 : 0.5);
    check_cuda_matches_cpu("64x4096 @ 4096x48", [](const TensorList& x) { return matmul(x[0], x[1]); },
                           {random({64, 4096}, c.dtype, 35), random({4096, 48}, c.dtype, 36)},
                           {scale, c.rtol, false});
  }
}

TEST_CASE("linear: fused bias through cuBLASLt, 3-D inputs, no bias, every dtype, with gradients") {
  if (!gpu_present()) return;
  for (const DtypeTolerance& c : kDtypes) {
    INFO(dtype_name(c.dtype));
    check_cuda_matches_cpu("linear with bias", [](const TensorList& x) { return linear(x[0], x[1], x[2]); },
                           {random({37, 13}, c.dtype, 37), random({29, 13}, c.dtype, 38), random({29}, c.dtype, 39)},
                           {c.atol, c.rtol, true});
    check_cuda_matches_cpu("linear 3-D input", [](const TensorList& x) { return linear(x[0], x[1], x[2]); },
                           {random({3, 5, 13}, c.dtype, 40), random({29, 13}, c.dtype, 41), random({29}, c.dtype, 42)},
                           {c.atol, c.rtol, true, true});
    check_cuda_matches_cpu("linear without bias", [](const TensorList& x) { return linear(x[0], x[1]); },
                           {random({37, 13}, c.dtype, 43), random({29, 13}, c.dtype, 44)}, {c.atol, c.rtol, true});
  }
  // A transposed (non-contiguous) input and a strided bias.
  check_cuda_matches_cpu("linear transposed input, strided bias",
                         [](const TensorList& x) { return linear(transpose(x[0], 0, 1), x[1], slice(x[2], 0, 0, 58, 2)); },
                         {random({13, 37}, DType::F32, 45), random({29, 13}, DType::F32, 46), random({58}, DType::F32, 47)},
                         {2e-5, 2e-5, true});
  // Only some inputs need gradients.
  check_cuda_matches_cpu("linear, weight and bias only",
                         [](const TensorList& x) { return linear(x[0].detach(), x[1], x[2]); },
                         {random({37, 13}, DType::F32, 48), random({29, 13}, DType::F32, 49), random({29}, DType::F32, 50)},
                         {2e-5, 2e-5, true});
}

TEST_CASE("linear with a fused ReLU or tanh-GELU epilogue matches the composition on the CPU") {
  if (!gpu_present()) return;
  for (const DtypeTolerance& c : kDtypes) {
    INFO(dtype_name(c.dtype));
    const double atol = c.dtype == DType::F32 ? 1e-4 : c.atol;  // cuBLASLt's GELU evaluates tanh its own way
    for (LinearActivation act : {LinearActivation::Relu, LinearActivation::GeluTanh}) {
      const auto f = [act](const TensorList& x) { return linear(x[0], x[1], x[2], act); };
      const auto f_no_bias = [act](const TensorList& x) { return linear(x[0], x[1], Tensor(), act); };
      const TensorList in = {random({37, 13}, c.dtype, 51), random({29, 13}, c.dtype, 52), random({29}, c.dtype, 53)};
      {
        NoGradGuard no_grad;  // fused into the GEMM
        check_cuda_matches_cpu("fused epilogue", f, in, {atol, c.rtol, false});
        check_cuda_matches_cpu("fused epilogue, no bias", f_no_bias, in, {atol, c.rtol, false});
      }
      // Recording a gradient: linear, then the activation op.
      check_cuda_matches_cpu("epilogue with gradients", f, in, {atol, c.rtol, true});
    }
  }
}

TEST_CASE("model shapes: attention projections and MLPs") {
  if (!gpu_present()) return;
  NoGradGuard no_grad;
  check_cuda_matches_cpu("[4096, 256] x [256, 256]^T + b",
                         [](const TensorList& x) { return linear(x[0], x[1], x[2]); },
                         {random({4096, 256}, DType::BF16, 54), random({256, 256}, DType::BF16, 55, 0.0625),
                          random({256}, DType::BF16, 56)},
                         {3e-2, 2e-2, false});
  check_cuda_matches_cpu("[2, 8, 1024, 32] @ [2, 8, 32, 1024]", [](const TensorList& x) { return matmul(x[0], x[1]); },
                         {random({2, 8, 1024, 32}, DType::F32, 57), random({2, 8, 32, 1024}, DType::F32, 58)},
                         {1e-4, 1e-5, false});
}

TEST_CASE("TF32 is an explicit opt-in for float32") {
  if (!gpu_present()) return;
  CHECK_FALSE(allow_tf32());
  set_allow_tf32(true);
  CHECK(allow_tf32());
  // TF32 keeps 10 mantissa bits of the inputs: about 1e-3 relative error on these sums.
  check_cuda_matches_cpu("matmul with TF32", [](const TensorList& x) { return matmul(x[0], x[1]); },
                         {random({256, 512}, DType::F32, 59), random({512, 128}, DType::F32, 60)}, {0.1, 1e-2, false});
  set_allow_tf32(false);
  check_cuda_matches_cpu("matmul without TF32", [](const TensorList& x) { return matmul(x[0], x[1]); },
                         {random({256, 512}, DType::F32, 59), random({512, 128}, DType::F32, 60)}, {2e-4, 1e-5, false});
}

TEST_CASE("matmul on a non-default stream and from several threads") {
  if (!gpu_present()) return;
  NoGradGuard no_grad;
  const Tensor a = random({67, 45}, DType::F32, 61), b = random({45, 33}, DType::F32, 62);
  const Tensor expected = matmul(a, b);
  const Tensor ga = to(a, Device::cuda()), gb = to(b, Device::cuda());
  {
    cuda::Stream stream(/*non_blocking=*/true);
    cuda::StreamGuard guard(stream.handle());
    const Tensor y = matmul(ga, gb);
    const Tensor bias = to(random({33}, DType::F32, 63), Device::cuda());
    const Tensor z = linear(ga, transpose(gb, 0, 1), bias);
    stream.synchronize();
    CHECK_CLOSE(to(y, Device::cpu()), expected, 2e-5, 2e-5);
    CHECK_CLOSE(to(z, Device::cpu()), add(expected, to(bias, Device::cpu())), 2e-5, 2e-5);
  }
  // Each thread gets its own handles.
  std::vector<Tensor> results(4);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] {
      NoGradGuard inner;
      results[i] = to(matmul(ga, gb), Device::cpu());
    });
  }
  for (auto& t : threads) t.join();
  for (const Tensor& r : results) CHECK_CLOSE(r, expected, 2e-5, 2e-5);
}

TEST_CASE("cuda::gemm: column-major results and float32 results of 16-bit inputs") {
  if (!gpu_present()) return;
  NoGradGuard no_grad;
  const Tensor a = to(random({37, 13}, DType::BF16, 64), Device::cuda());
  const Tensor b = to(random({13, 29}, DType::BF16, 65), Device::cuda());
  const Tensor expected = matmul(to(to(a, Device::cpu()), DType::F32), to(to(b, Device::cpu()), DType::F32));
  // Result stored column-major ([29, 37] contiguous, seen as its transpose), in float32.
  Tensor storage = zeros({29, 37}, DType::F32, Device::cuda());
  cuda::MatrixBatch c{storage.raw_data(), DType::F32, 37, 29, 1, 37, 0};
  cuda::MatrixBatch am{a.raw_data(), DType::BF16, 37, 13, 13, 1, 0};
  cuda::MatrixBatch bm{b.raw_data(), DType::BF16, 13, 29, 29, 1, 0};
  cuda::gemm(c, am, bm, 1, 1.0, 0.0, {});
  CHECK_CLOSE(transpose(to(storage, Device::cpu()), 0, 1), expected, 1e-4, 1e-5);
  // beta = 1 accumulates.
  cuda::gemm(c, am, bm, 1, 2.0, 1.0, {});
  CHECK_CLOSE(transpose(to(storage, Device::cpu()), 0, 1), mul(expected, 3.0), 3e-4, 1e-5);
}

TEST_CASE("matmul errors on CUDA tensors") {
  if (!gpu_present()) return;
  const Tensor i = zeros({3, 3}, DType::I32, Device::cuda());
  CHECK_THROWS_WITH_AS(matmul(i, i), doctest::Contains("matmul"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(matmul(zeros({3, 3}, DType::F32, Device::cuda()), zeros({3, 3})),
                       doctest::Contains("different devices"), std::invalid_argument);
}

#else

TEST_CASE("CUDA kernels") { MESSAGE("skipped: rvos was built without CUDA"); }

#endif
