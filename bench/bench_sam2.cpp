// SAM 2 per preset size (the SAM 2.1 presets t, s, b+, l; SAM 2 has the same sizes) at 1024 px,
// float32, inference (eval mode, no autograd recording), random weights from the default
// initialisation (the speed does not depend on the values):
//   encoder           Sam2Base::forward_image: Hiera trunk, FPN neck, conv_s0 / conv_s1
//   memory_attention  prepare_memory_conditioned_features in steady state: 1 conditioning and 6
//                     previous frames (7 x 4096 memory tokens) plus 16 object pointers
//   sam_heads         forward_sam_heads on the memory-conditioned feature, no prompt
//   memory_encoder    encode_new_memory of the predicted mask
//   track_step        the whole step (memory attention, heads, memory encoder)
// The step's counters relate it to the encoder of the same size measured earlier in the run:
// a tracked frame costs one encoder pass plus one step. There is no independent reference
// implementation to run next to these (unlike the op suites' Eigen and naive loops).
//
// --device=cpu (default) or --device=cuda picks where the model and the inputs live.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cuda/cuda.h"
#include "io/preprocess.h"
#include "models/sam2/config.h"
#include "models/sam2/sam2_base.h"
#include "ops/ops.h"
#include "tensor/autograd.h"

namespace {

using rvos::DType;
using rvos::Tensor;
using namespace rvos::sam2;

// Where the model and the inputs live (--device).
rvos::Device g_device = rvos::Device::cpu();

// Device work is asynchronous: the clock is read once a value of the result has reached the host.
void wait_for(const Tensor& result) {
  if (result.device().is_cuda()) rvos::to(rvos::narrow(rvos::flatten(result), 0, 0, 1), rvos::Device::cpu());
}

struct Size {
  const char* label;
  const char* preset;
};
const Size kSizes[] = {{"tiny", "sam2.1_hiera_t"},
                       {"small", "sam2.1_hiera_s"},
                       {"base_plus", "sam2.1_hiera_b+"},
                       {"large", "sam2.1_hiera_l"}};

// The tracked frame's place in the video: far enough from the conditioning frame 0 that all 6
// previous-frame memories and 16 object pointers (the conditioning frame's and 15 previous
// frames') are used, in a video longer than max_obj_ptrs_in_encoder.
constexpr int64_t kNumFrames = 64;
constexpr int64_t kFrame = 20;

double elapsed_ms(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

// One size's model and inputs, shared by that size's benchmarks (they run one after another;
// a fixture is built when a size is first asked for and freed when another size is).
struct Fixture {
  explicit Fixture(const Size& size);

  // The frame's features; encoded on first use unless the encoder benchmark left them.
  const FrameFeatures& features();
  // The memory-conditioned feature and the heads' output on it, computed once unless the
  // benchmarks before left them.
  const Tensor& conditioned_feature();
  const SamHeadsOutput& heads_output();

  std::shared_ptr<Sam2Base> model;
  Tensor image;  // [1, 3, S, S] normalised
  MemoryBank bank;
  double parameters_m = 0;
  double encoder_ms = 0;  // 0 until the encoder benchmark of this size ran
  std::optional<FrameFeatures> encoded;
  Tensor conditioned;
  std::optional<SamHeadsOutput> heads_out;
};

Fixture::Fixture(const Size& size) {
  rvos::NoGradGuard no_grad;
  rvos::manual_seed(0);
  model = std::make_shared<Sam2Base>(sam2_preset(size.preset));
  model->eval();
  model->to(g_device);
  for (const Tensor& p : model->parameters()) parameters_m += static_cast<double>(p.numel()) / 1e6;

  const Sam2Config& config = model->config;
  const int64_t s = config.image_size();
  // Inputs are drawn on the CPU (the same values on every device), then moved.
  rvos::Generator gen(1);
  const auto random = [&](const rvos::Shape& shape) { return rvos::randn(shape, DType::F32, rvos::Device::cpu(), &gen); };
  // A random image in [0, 1] normalised as the video loader does.
  const Tensor mean = rvos::from_vector(std::vector<float>(rvos::io::kImageNetMean.begin(), rvos::io::kImageNetMean.end()),
                                        {1, 3, 1, 1});
  const Tensor stddev = rvos::from_vector(std::vector<float>(rvos::io::kImageNetStd.begin(), rvos::io::kImageNetStd.end()),
                                          {1, 3, 1, 1});
  image = rvos::to(rvos::div(rvos::sub(rvos::rand({1, 3, s, s}, DType::F32, rvos::Device::cpu(), &gen), mean), stddev),
                   g_device);

  // The bank as the video predictor holds it: memory features stored in bfloat16, low-res
  // masks, object pointers, and scores that say the object is present.
  const int64_t h = config.heads.image_embedding_size();
  const auto frame_output = [&] {
    FrameOutput out;
    out.maskmem_features = rvos::to(random({1, config.mem_dim(), h, h}), g_device, DType::BF16);
    out.pred_masks = rvos::to(random({1, 1, 4 * h, 4 * h}), g_device);
    out.obj_ptr = rvos::to(random({1, config.hidden_dim()}), g_device);
    out.object_score_logits = rvos::full({1, 1}, 5.0, DType::F32, g_device);
    return out;
  };
  bank.cond_frame_outputs[0] = frame_output();
  for (int64_t t = 1; t < kFrame; ++t) bank.non_cond_frame_outputs[t] = frame_output();
}

const FrameFeatures& Fixture::features() {
  if (!encoded) {
    rvos::NoGradGuard no_grad;
    encoded = model->forward_image(image);
  }
  return *encoded;
}

const Tensor& Fixture::conditioned_feature() {
  if (!conditioned.defined()) {
    rvos::NoGradGuard no_grad;
    conditioned = model->prepare_memory_conditioned_features(kFrame, /*is_init_cond_frame=*/false, features(), bank,
                                                             kNumFrames, /*track_in_reverse=*/false);
  }
  return conditioned;
}

const SamHeadsOutput& Fixture::heads_output() {
  if (!heads_out) {
    rvos::NoGradGuard no_grad;
    const Tensor& feature = conditioned_feature();
    heads_out = forward_sam_heads(model->heads(), model->config.heads, feature, Tensor(), Tensor(), Tensor(),
                                  features().high_res_features(), model->use_multimask(false, 0));
  }
  return *heads_out;
}

Fixture& fixture(size_t size_index) {
  static std::unique_ptr<Fixture> current;
  static size_t current_index = SIZE_MAX;
  if (current_index != size_index) {
    current.reset();  // free the previous model before building the next
    current = std::make_unique<Fixture>(kSizes[size_index]);
    current_index = size_index;
  }
  return *current;
}

// Runs `step` (which returns a result to wait for) once per iteration under the benchmark's
// clock and returns the mean ms of one call. warm_up runs it once untimed first: always on a GPU
// (library handles, allocator growth); on the CPU nothing is initialised lazily, and the
// expensive stages are not run twice.
template <typename Step>
double time_ms(benchmark::State& state, bool warm_up, Step&& step) {
  if (warm_up || g_device.is_cuda()) wait_for(step());
  double total_ms = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    wait_for(step());
    total_ms += elapsed_ms(start);
  }
  return total_ms / static_cast<double>(state.iterations());
}

// An exception (an op refusing a device, say) skips the benchmark with its message.
template <typename Body>
void guarded(benchmark::State& state, Body&& body) {
  try {
    rvos::NoGradGuard no_grad;
    body();
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
  }
}

void set_ms(benchmark::State& state, double ms) { state.counters["ms"] = benchmark::Counter(ms); }

void BM_Encoder(benchmark::State& state, size_t size_index) {
  guarded(state, [&] {
    Fixture& f = fixture(size_index);
    FrameFeatures features;
    const double ms = time_ms(state, false, [&] {
      features = f.model->forward_image(f.image);
      return features.vision_features();
    });
    f.encoded = std::move(features);
    f.encoder_ms = ms;
    set_ms(state, ms);
    state.counters["frames/s"] = benchmark::Counter(1000.0 / ms);
    state.counters["params_M"] = benchmark::Counter(f.parameters_m);
  });
}

void BM_MemoryAttention(benchmark::State& state, size_t size_index) {
  guarded(state, [&] {
    Fixture& f = fixture(size_index);
    const FrameFeatures& features = f.features();
    int64_t memory_tokens = 0, pointer_tokens = 0;
    Tensor conditioned;
    const double ms = time_ms(state, false, [&] {
      conditioned = f.model->prepare_memory_conditioned_features(kFrame, false, features, f.bank, kNumFrames, false,
                                                                 &memory_tokens, &pointer_tokens);
      return conditioned;
    });
    f.conditioned = conditioned;
    set_ms(state, ms);
    state.counters["memory_tokens"] = benchmark::Counter(static_cast<double>(memory_tokens));
    state.counters["pointer_tokens"] = benchmark::Counter(static_cast<double>(pointer_tokens));
  });
}

void BM_SamHeads(benchmark::State& state, size_t size_index) {
  guarded(state, [&] {
    Fixture& f = fixture(size_index);
    const Tensor& feature = f.conditioned_feature();
    const std::vector<Tensor> high_res = f.features().high_res_features();
    std::optional<SamHeadsOutput> out;
    const double ms = time_ms(state, true, [&] {
      out = forward_sam_heads(f.model->heads(), f.model->config.heads, feature, Tensor(), Tensor(), Tensor(),
                              high_res, f.model->use_multimask(false, 0));
      return out->high_res_masks;
    });
    f.heads_out = std::move(out);
    set_ms(state, ms);
  });
}

void BM_MemoryEncoder(benchmark::State& state, size_t size_index) {
  guarded(state, [&] {
    Fixture& f = fixture(size_index);
    const FrameFeatures& features = f.features();
    const SamHeadsOutput& heads = f.heads_output();
    const double ms = time_ms(state, true, [&] {
      return f.model->encode_new_memory(features, heads.high_res_masks, heads.object_score_logits, false).first;
    });
    set_ms(state, ms);
  });
}

void BM_TrackStep(benchmark::State& state, size_t size_index) {
  guarded(state, [&] {
    Fixture& f = fixture(size_index);
    const FrameFeatures& features = f.features();
    const double ms = time_ms(state, false, [&] {
      return f.model
          ->track_step(kFrame, false, features, PointInputs(), Tensor(), f.bank, kNumFrames, false,
                       /*run_mem_encoder=*/true)
          .maskmem_features;
    });
    set_ms(state, ms);
    if (f.encoder_ms > 0) {
      // A whole tracked frame: encoder pass + step.
      state.counters["frame_ms"] = benchmark::Counter(f.encoder_ms + ms);
      state.counters["frames/s"] = benchmark::Counter(1000.0 / (f.encoder_ms + ms));
      state.counters["step/encoder"] = benchmark::Counter(ms / f.encoder_ms);
    }
  });
}

// Takes --device=cpu|cuda out of argv (the rest is Google Benchmark's). False after saying why
// when the value is unknown or the device unusable.
bool parse_device(int& argc, char** argv) {
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--device=", 9) != 0) {
      argv[kept++] = argv[i];
      continue;
    }
    const std::string name = argv[i] + 9;
    if (name == "cpu") {
      g_device = rvos::Device::cpu();
    } else if (name == "cuda") {
      if (!rvos::cuda::is_available()) {
        std::fprintf(stderr, "bench_sam2: --device=cuda: no usable CUDA device (%s)\n",
                     rvos::cuda::device_summary().c_str());
        return false;
      }
      rvos::cuda::ensure_backend();
      g_device = rvos::Device::cuda();
    } else {
      std::fprintf(stderr, "bench_sam2: --device must be cpu or cuda, got '%s'\n", name.c_str());
      return false;
    }
  }
  argc = kept;
  argv[argc] = nullptr;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (!parse_device(argc, argv)) return 1;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("device", g_device.is_cuda() ? "cuda" : "cpu");
  // Sizes in order, each size's benchmarks together, so that each model is built once. On the
  // CPU one iteration each (the large encoder alone takes minutes on a small CPU; the cheap
  // stages get a few); on a GPU ten.
  for (size_t i = 0; i < std::size(kSizes); ++i) {
    const std::string prefix = std::string("sam2/") + kSizes[i].label + "/";
    const auto add = [&](const char* stage, void (*fn)(benchmark::State&, size_t), int64_t iterations) {
      benchmark::RegisterBenchmark((prefix + stage).c_str(), fn, i)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->Iterations(iterations);
    };
    const auto on_cpu = [](int64_t iterations) -> int64_t { return g_device.is_cuda() ? 10 : iterations; };
    add("encoder", BM_Encoder, on_cpu(1));
    add("memory_attention", BM_MemoryAttention, on_cpu(1));
    add("sam_heads", BM_SamHeads, on_cpu(3));
    add("memory_encoder", BM_MemoryEncoder, on_cpu(3));
    add("track_step", BM_TrackStep, on_cpu(1));
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
