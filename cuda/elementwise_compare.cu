// Comparison and logic elementwise kernels (every dtype, bool results).
#include "cuda/elementwise_loops.cuh"

using namespace rvos::elementwise;

RVOS_CUDA_BINARY(Eq)
RVOS_CUDA_BINARY(Ne)
RVOS_CUDA_BINARY(Lt)
RVOS_CUDA_BINARY(Le)
RVOS_CUDA_BINARY(Gt)
RVOS_CUDA_BINARY(Ge)
RVOS_CUDA_BINARY(LogicalAnd)
RVOS_CUDA_BINARY(LogicalOr)
RVOS_CUDA_BINARY(LogicalXor)
