// Unary elementwise kernels: same-dtype ops, floating ops and predicates.
#include "cuda/elementwise_loops.cuh"

using namespace rvos::elementwise;

RVOS_CUDA_UNARY(Neg)
RVOS_CUDA_UNARY(Abs)
RVOS_CUDA_UNARY(Sign)
RVOS_CUDA_UNARY(Square)
RVOS_CUDA_UNARY(Relu)
RVOS_CUDA_UNARY(Floor)
RVOS_CUDA_UNARY(Ceil)
RVOS_CUDA_UNARY(Round)
RVOS_CUDA_UNARY(Clamp)

RVOS_CUDA_UNARY(Exp)
RVOS_CUDA_UNARY(Log)
RVOS_CUDA_UNARY(Sqrt)
RVOS_CUDA_UNARY(Rsqrt)
RVOS_CUDA_UNARY(Reciprocal)
RVOS_CUDA_UNARY(Sin)
RVOS_CUDA_UNARY(Cos)
RVOS_CUDA_UNARY(Tanh)
RVOS_CUDA_UNARY(Erf)
RVOS_CUDA_UNARY(Sigmoid)
RVOS_CUDA_UNARY(Silu)
RVOS_CUDA_UNARY(Gelu)
RVOS_CUDA_UNARY(GeluTanh)
RVOS_CUDA_UNARY(PowScalar)

RVOS_CUDA_UNARY(LogicalNot)
RVOS_CUDA_UNARY(IsNan)
RVOS_CUDA_UNARY(IsFinite)
