#pragma once
// F.interpolate on [N, C, H, W] (and [N, C, W] for linear/nearest) tensors.
#include <string>
#include <utility>
#include <vector>

#include "ops/common.h"

namespace rvos {

enum class InterpMode { Nearest, NearestExact, Linear, Bilinear, Bicubic };
InterpMode interp_mode_from_name(const std::string& name);  // "nearest", "bilinear", ...

struct InterpolateOptions {
  Shape size;                        // output spatial size, or empty to use scale_factor
  std::vector<double> scale_factor;  // one per spatial dim (or one for all)
  InterpMode mode = InterpMode::Nearest;
  bool align_corners = false;        // linear/bilinear/bicubic only
  bool antialias = false;            // bilinear/bicubic downsampling, as PyTorch's antialias=True
  bool recompute_scale_factor = false;

  // The options for an output of `size`, or for `factors` times the input.
  static InterpolateOptions to_size(InterpMode mode, Shape size, bool align_corners = false, bool antialias = false) {
    InterpolateOptions o;
    o.mode = mode;
    o.size = std::move(size);
    o.align_corners = align_corners;
    o.antialias = antialias;
    return o;
  }
  static InterpolateOptions by_scale(InterpMode mode, std::vector<double> factors, bool align_corners = false,
                                     bool recompute_scale_factor = false) {
    InterpolateOptions o;
    o.mode = mode;
    o.scale_factor = std::move(factors);
    o.align_corners = align_corners;
    o.recompute_scale_factor = recompute_scale_factor;
    return o;
  }
};

Tensor interpolate(const Tensor& x, const InterpolateOptions& options);

}  // namespace rvos
