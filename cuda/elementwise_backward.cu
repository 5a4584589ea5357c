// Elementwise gradient formulas (floating dtypes).
#include "cuda/elementwise_loops.cuh"

using namespace rvos::elementwise;

RVOS_CUDA_BINARY(SquareBackward)
RVOS_CUDA_BINARY(SqrtBackward)
RVOS_CUDA_BINARY(RsqrtBackward)
RVOS_CUDA_BINARY(ReciprocalBackward)
RVOS_CUDA_BINARY(TanhBackward)
RVOS_CUDA_BINARY(ErfBackward)
RVOS_CUDA_BINARY(SigmoidBackward)
RVOS_CUDA_BINARY(ReluBackward)
RVOS_CUDA_BINARY(GeluBackward)
RVOS_CUDA_BINARY(GeluTanhBackward)
RVOS_CUDA_BINARY(SiluBackward)
RVOS_CUDA_BINARY(MaximumBackward)
RVOS_CUDA_BINARY(MinimumBackward)
RVOS_CUDA_BINARY(ClampBackward)
RVOS_CUDA_BINARY(PowScalarBackward)

RVOS_CUDA_TERNARY(PowBackwardSelf)
RVOS_CUDA_TERNARY(PowBackwardExponent)
