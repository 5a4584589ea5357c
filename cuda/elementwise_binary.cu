// Binary arithmetic elementwise kernels, and where.
#include "cuda/elementwise_loops.cuh"

using namespace rvos::elementwise;

RVOS_CUDA_BINARY(Add)
RVOS_CUDA_BINARY(AddScaled)
RVOS_CUDA_BINARY(Sub)
RVOS_CUDA_BINARY(Mul)
RVOS_CUDA_BINARY(Div)
RVOS_CUDA_BINARY(Pow)
RVOS_CUDA_BINARY(Maximum)
RVOS_CUDA_BINARY(Minimum)
RVOS_CUDA_BINARY(Atan2)
RVOS_CUDA_BINARY(Lerp)

RVOS_CUDA_TERNARY(Where)
