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
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/preprocess.h"
#include "models/sam2/config.h"
#include "models/sam2/sam2_base.h"
#include "ops/ops.h"
#include "tensor/autograd.h"

namespace {

using rvos::DType;
using rvos::Tensor;
using namespace rvos::sam2;

// Everything is made on this device. SAM 2 runs on the CPU only for now; a --device switch
// belongs here once it runs on CUDA (with a device synchronisation before each clock read).
const rvos::Device kDevice = rvos::Device::cpu();

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
  model->to(kDevice);
  model->eval();
  for (const Tensor& p : model->parameters()) parameters_m += static_cast<double>(p.numel()) / 1e6;

  const Sam2Config& config = model->config;
  const int64_t s = config.image_size();
  rvos::Generator gen(1);
  // A random image in [0, 1] normalised as the video loader does.
  const Tensor mean = rvos::from_vector(std::vector<float>(rvos::io::kImageNetMean.begin(), rvos::io::kImageNetMean.end()),
                                        {1, 3, 1, 1}, kDevice);
  const Tensor stddev = rvos::from_vector(std::vector<float>(rvos::io::kImageNetStd.begin(), rvos::io::kImageNetStd.end()),
                                          {1, 3, 1, 1}, kDevice);
  image = rvos::div(rvos::sub(rvos::rand({1, 3, s, s}, DType::F32, kDevice, &gen), mean), stddev);

  // The bank as the video predictor holds it: memory features stored in bfloat16, low-res
  // masks, object pointers, and scores that say the object is present.
  const int64_t h = config.heads.image_embedding_size();
  const auto frame_output = [&] {
    FrameOutput out;
    out.maskmem_features = rvos::to(rvos::randn({1, config.mem_dim(), h, h}, DType::F32, kDevice, &gen), DType::BF16);
    out.pred_masks = rvos::randn({1, 1, 4 * h, 4 * h}, DType::F32, kDevice, &gen);
    out.obj_ptr = rvos::randn({1, config.hidden_dim()}, DType::F32, kDevice, &gen);
    out.object_score_logits = rvos::full({1, 1}, 5.0, DType::F32, kDevice);
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
    conditioned = model->prepare_memory_conditioned_features(kFrame, /*is_init_cond_frame=*/false,
                                                                      features(), bank, kNumFrames,
                                                                      /*track_in_reverse=*/false);
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

// Runs `step` once per iteration under the benchmark's clock and returns the mean ms of one
// call. An exception (an op refusing a device, say) skips the benchmark with its message.
template <typename Step>
double time_ms(benchmark::State& state, Step&& step) {
  double total_ms = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    step();
    total_ms += elapsed_ms(start);
  }
  return total_ms / static_cast<double>(state.iterations());
}

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
    const double ms = time_ms(state, [&] { features = f.model->forward_image(f.image); });
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
    const double ms = time_ms(state, [&] {
      conditioned = f.model->prepare_memory_conditioned_features(kFrame, false, features, f.bank, kNumFrames, false,
                                                                 &memory_tokens, &pointer_tokens);
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
    f.heads_output();  // warm-up
    const double ms = time_ms(state, [&] {
      SamHeadsOutput out = forward_sam_heads(f.model->heads(), f.model->config.heads, feature, Tensor(), Tensor(),
                                             Tensor(), high_res, f.model->use_multimask(false, 0));
      benchmark::DoNotOptimize(out.high_res_masks.raw_data());
    });
    set_ms(state, ms);
  });
}

void BM_MemoryEncoder(benchmark::State& state, size_t size_index) {
  guarded(state, [&] {
    Fixture& f = fixture(size_index);
    const SamHeadsOutput& heads = f.heads_output();
    f.model->encode_new_memory(f.features(), heads.high_res_masks, heads.object_score_logits, false);  // warm-up
    const double ms = time_ms(state, [&] {
      auto [memory, pos] =
          f.model->encode_new_memory(f.features(), heads.high_res_masks, heads.object_score_logits, false);
      benchmark::DoNotOptimize(memory.raw_data());
    });
    set_ms(state, ms);
  });
}

void BM_TrackStep(benchmark::State& state, size_t size_index) {
  guarded(state, [&] {
    Fixture& f = fixture(size_index);
    f.heads_output();  // a warm-up when run alone; already there after the stage benchmarks
    const double ms = time_ms(state, [&] {
      TrackStepOutput out = f.model->track_step(kFrame, false, f.features(), PointInputs(), Tensor(), f.bank,
                                                kNumFrames, false, /*run_mem_encoder=*/true);
      benchmark::DoNotOptimize(out.maskmem_features.raw_data());
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

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // Sizes in order, each size's benchmarks together, so that each model is built once. One
  // iteration each: the large encoder alone takes tens of seconds on a small CPU; the cheap
  // stages get a few.
  for (size_t i = 0; i < std::size(kSizes); ++i) {
    const std::string prefix = std::string("sam2/") + kSizes[i].label + "/";
    const auto add = [&](const char* stage, void (*fn)(benchmark::State&, size_t), int64_t iterations) {
      benchmark::RegisterBenchmark((prefix + stage).c_str(), fn, i)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime()
          ->Iterations(iterations);
    };
    add("encoder", BM_Encoder, 1);
    add("memory_attention", BM_MemoryAttention, 1);
    add("sam_heads", BM_SamHeads, 3);
    add("memory_encoder", BM_MemoryEncoder, 3);
    add("track_step", BM_TrackStep, 1);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
