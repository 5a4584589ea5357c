// rvos track: SAM 2 video object tracking from point, box or mask prompts on one frame, written
// as palette PNGs of object ids (the layout DAVIS-style evaluators read).
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cuda/cuda.h"
#include "eval/common.h"
#include "eval/overlay.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "io/video.h"
#include "models/sam2/config.h"
#include "models/sam2/sam2_base.h"
#include "models/sam2/video_predictor.h"
#include "ops/ops.h"
#include "rvos/version.h"
#include "tensor/parallel.h"
#include "tools/commands.h"

namespace rvos::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A wrong flag value or input file, found before anything is tracked: reported on one line
// with exit status 2 (failures while tracking or writing are exit status 1).
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct TrackArgs {
  std::string model, config, frames, out, device = "cpu", save_logits;
  int64_t prompt_frame = 0;
  bool overlay = false, no_progress = false;
  int threads = 0;
  // The prompt flags, read back in command-line order (which --obj-id a prompt follows).
  CLI::Option *obj_id = nullptr, *point = nullptr, *box = nullptr, *mask = nullptr;
  std::vector<std::string> obj_id_values, point_values, box_values, mask_values;
};

// What one object is prompted with on the prompt frame.
struct ObjectPrompt {
  int64_t obj_id = 0;
  std::vector<std::array<float, 2>> points;
  std::vector<int64_t> labels;
  std::optional<std::array<float, 4>> box;
  std::vector<uint8_t> mask;  // H x W, 1 = object; empty without a mask
  std::string mask_file;
};

std::string in_quotes(const std::string& s) { return "'" + s + "'"; }

std::string join(const std::vector<std::string>& items, const std::string& sep) {
  std::string r;
  for (size_t i = 0; i < items.size(); ++i) r += (i ? sep : "") + items[i];
  return r;
}

// Comma-separated numbers, each consumed entirely ("12,x" and "12,,3" are refused).
std::optional<std::vector<double>> parse_numbers(const std::string& text) {
  std::vector<double> values;
  size_t start = 0;
  while (true) {
    const size_t comma = text.find(',', start);
    const std::string field = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (field.empty() || std::isspace(static_cast<unsigned char>(field.front()))) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(field.c_str(), &end);
    if (errno != 0 || end != field.c_str() + field.size() || !std::isfinite(v)) return std::nullopt;
    values.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return values;
}

int64_t parse_obj_id(const std::string& text) {
  const auto v = parse_numbers(text);
  if (!v || v->size() != 1 || (*v)[0] != std::floor((*v)[0]) || (*v)[0] < 1 || (*v)[0] > 255)
    throw UsageError("--obj-id " + in_quotes(text) +
                     ": object ids are whole numbers from 1 to 255 (they are the palette indices of the mask PNGs)");
  return static_cast<int64_t>((*v)[0]);
}

void check_inside(const std::string& flag, const std::string& text, double x, double y, int64_t height,
                  int64_t width) {
  if (x < 0 || x > static_cast<double>(width) || y < 0 || y > static_cast<double>(height))
    throw UsageError(flag + " " + in_quotes(text) + ": outside the frames, which are " + std::to_string(width) + "x" +
                     std::to_string(height) + " (x in 0.." + std::to_string(width) + ", y in 0.." +
                     std::to_string(height) + ")");
}

void add_point(ObjectPrompt& object, const std::string& text, int64_t height, int64_t width) {
  const auto v = parse_numbers(text);
  if (!v || (v->size() != 2 && v->size() != 3))
    throw UsageError("--point " + in_quotes(text) +
                     ": expected x,y or x,y,label in video pixels, label 1 (object, the default) or 0 (background), "
                     "e.g. --point 120,80 or --point 40,30,0");
  const double label = v->size() == 3 ? (*v)[2] : 1.0;
  if (label != 0.0 && label != 1.0)
    throw UsageError("--point " + in_quotes(text) + ": the label must be 1 (object) or 0 (background)");
  check_inside("--point", text, (*v)[0], (*v)[1], height, width);
  object.points.push_back({static_cast<float>((*v)[0]), static_cast<float>((*v)[1])});
  object.labels.push_back(static_cast<int64_t>(label));
}

void set_box(ObjectPrompt& object, const std::string& text, int64_t height, int64_t width) {
  const auto v = parse_numbers(text);
  if (!v || v->size() != 4)
    throw UsageError("--box " + in_quotes(text) + ": expected x0,y0,x1,y1 in video pixels, e.g. --box 40,30,200,180");
  const double x0 = (*v)[0], y0 = (*v)[1], x1 = (*v)[2], y1 = (*v)[3];
  if (x1 <= x0 || y1 <= y0)
    throw UsageError("--box " + in_quotes(text) +
                     ": the second corner must be right of and below the first (x0 < x1, y0 < y1)");
  check_inside("--box", text, x0, y0, height, width);
  check_inside("--box", text, x1, y1, height, width);
  if (object.box)
    throw UsageError("--box " + in_quotes(text) + ": object " + std::to_string(object.obj_id) +
                     " already has a box (one box per object)");
  object.box = std::array<float, 4>{static_cast<float>(x0), static_cast<float>(y0), static_cast<float>(x1),
                                    static_cast<float>(y1)};
}

// The mask file's values, checked against the video size.
io::IndexedImage read_prompt_mask(const std::string& path, int64_t height, int64_t width) {
  if (!fs::is_regular_file(path))
    throw UsageError("--mask " + in_quotes(path) + (fs::exists(path) ? ": not a file" : ": no such file"));
  io::IndexedImage m;
  try {
    m = io::read_png_values(path);
  } catch (const std::exception& e) {
    throw UsageError("--mask " + in_quotes(path) + ": " + e.what());
  }
  if (m.height != height || m.width != width)
    throw UsageError("--mask " + in_quotes(path) + ": the mask is " + std::to_string(m.width) + "x" +
                     std::to_string(m.height) + " but the frames are " + std::to_string(width) + "x" +
                     std::to_string(height) + " (masks are given at the video's size)");
  return m;
}

void set_mask(std::map<int64_t, ObjectPrompt>& objects, int64_t obj_id, const std::string& path,
              std::vector<uint8_t> mask) {
  ObjectPrompt& object = objects[obj_id];
  object.obj_id = obj_id;
  if (!object.mask.empty())
    throw UsageError("--mask " + in_quotes(path) + ": object " + std::to_string(obj_id) + " already has a mask (from " +
                     in_quotes(object.mask_file) + ")");
  object.mask = std::move(mask);
  object.mask_file = path;
}

// A --mask: after an --obj-id K, the pixels of palette index K (palette PNG) or every nonzero
// pixel (gray PNG) are object K; before any --obj-id, each nonzero palette index is an object of
// that id, and a gray PNG's nonzero pixels are object 1.
void add_mask(std::map<int64_t, ObjectPrompt>& objects, const std::string& path, std::optional<int64_t> obj_id,
              int64_t height, int64_t width) {
  const io::IndexedImage m = read_prompt_mask(path, height, width);
  const bool palette = !m.palette.empty();
  std::set<int64_t> present;
  for (uint8_t v : m.values)
    if (v != 0) present.insert(v);
  if (present.empty()) throw UsageError("--mask " + in_quotes(path) + ": the mask has no object pixel (all zero)");
  auto pixels_where = [&](auto&& is_object) {
    std::vector<uint8_t> mask(m.values.size());
    for (size_t i = 0; i < m.values.size(); ++i) mask[i] = is_object(m.values[i]) ? 1 : 0;
    return mask;
  };
  if (obj_id && palette) {
    if (!present.count(*obj_id)) {
      std::vector<std::string> ids;
      for (int64_t id : present) ids.push_back(std::to_string(id));
      throw UsageError("--mask " + in_quotes(path) + " (after --obj-id " + std::to_string(*obj_id) +
                       "): the palette PNG has no pixel of index " + std::to_string(*obj_id) + "; its objects are " +
                       join(ids, ", "));
    }
    set_mask(objects, *obj_id, path, pixels_where([&](uint8_t v) { return v == *obj_id; }));
  } else if (obj_id || !palette) {
    set_mask(objects, obj_id.value_or(1), path, pixels_where([](uint8_t v) { return v != 0; }));
  } else {
    for (int64_t id : present) set_mask(objects, id, path, pixels_where([&](uint8_t v) { return v == id; }));
  }
}

// The objects and their prompts, from the prompt flags in command-line order: each --obj-id K
// starts object K, and the --point/--box/--mask flags after it belong to it; those before any
// --obj-id belong to object 1 (a palette --mask there gives one object per index).
std::vector<ObjectPrompt> collect_prompts(const CLI::App& cmd, const TrackArgs& a, int64_t height, int64_t width) {
  std::map<int64_t, ObjectPrompt> objects;
  std::optional<int64_t> current;  // the last --obj-id
  bool current_used = true;
  std::map<const CLI::Option*, size_t> next_value;
  for (const CLI::Option* opt : cmd.parse_order()) {
    if (opt != a.obj_id && opt != a.point && opt != a.box && opt != a.mask) continue;
    const std::string& value = opt->results().at(next_value[opt]++);
    if (opt == a.obj_id) {
      if (!current_used) break;  // reported below
      current = parse_obj_id(value);
      current_used = false;
      continue;
    }
    current_used = true;
    if (opt == a.mask) {
      add_mask(objects, value, current, height, width);
      continue;
    }
    const int64_t id = current.value_or(1);
    ObjectPrompt& object = objects[id];
    object.obj_id = id;
    if (opt == a.point)
      add_point(object, value, height, width);
    else
      set_box(object, value, height, width);
  }
  if (!current_used)
    throw UsageError("--obj-id " + std::to_string(*current) +
                     " has no --point, --box or --mask after it (the prompts of an object follow its --obj-id)");
  if (objects.empty())
    throw UsageError("no prompt: give --point x,y, --box x0,y0,x1,y1 or --mask PNG (see 'rvos track --help')");
  std::vector<ObjectPrompt> result;
  for (auto& [id, object] : objects) {
    if (!object.mask.empty() && (object.box || !object.points.empty()))
      throw UsageError("object " + std::to_string(id) + " has both a --mask (" + in_quotes(object.mask_file) +
                       ") and points or a box: give one or the other");
    result.push_back(std::move(object));
  }
  return result;
}

// Creates --out (and --out/overlay) and makes sure a file can be written there.
void prepare_out_dir(const std::string& dir) {
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec))
    throw UsageError("--out " + in_quotes(dir) + ": exists and is not a folder");
  fs::create_directories(dir, ec);
  if (ec) throw UsageError("--out " + in_quotes(dir) + ": cannot create the folder: " + ec.message());
  const std::string probe = (fs::path(dir) / ".rvos-track-write-test").string();
  {
    std::ofstream f(probe);
    if (!f) throw UsageError("--out " + in_quotes(dir) + ": cannot write files in the folder");
  }
  fs::remove(probe, ec);
}

std::string time_text(double seconds) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.2f", seconds);
  return buffer;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int run_track(const CLI::App& cmd, const TrackArgs& a) {
  const auto t_start = Clock::now();
  if (a.threads > 0) set_num_threads(a.threads);
  if (a.device == "cuda") {
    if (!RVOS_HAVE_CUDA)
      throw UsageError("--device cuda: this build has no CUDA backend (see 'rvos info'); use --device cpu");
    if (!cuda::is_available())
      throw UsageError("--device cuda: no usable CUDA device (" + cuda::device_summary() + "); use --device cpu");
    cuda::ensure_backend();
  }

  // ---- inputs: all checked before the model is loaded and anything is written ----
  if (!fs::is_regular_file(a.model))
    throw UsageError("--model " + in_quotes(a.model) + (fs::exists(a.model) ? ": not a file" : ": no such file"));
  std::string config_name = a.config;
  if (config_name.empty()) {
    config_name = sam2::sam2_preset_for_checkpoint(a.model);
    if (config_name.empty())
      throw UsageError("--config is needed: the checkpoint name " + in_quotes(fs::path(a.model).filename().string()) +
                       " does not tell which model it is; give a preset (" + join(sam2::sam2_preset_names(), ", ") +
                       ") or an official-format YAML file");
  }
  sam2::Sam2Config config;
  try {
    config = sam2::sam2_config(config_name);
  } catch (const std::exception& e) {
    throw UsageError("--config " + in_quotes(config_name) + ": " + e.what());
  }

  std::shared_ptr<io::VideoSource> video;
  try {
    video = std::make_shared<io::VideoSource>(io::VideoSource::open(a.frames));
  } catch (const std::exception& e) {
    throw UsageError("--frames " + in_quotes(a.frames) + ": " + e.what());
  }
  const int64_t num_frames = video->num_frames(), height = video->height(), width = video->width();
  std::vector<std::string> stems;
  std::map<std::string, std::string> stem_source;
  for (const std::string& name : video->frame_names()) {
    stems.push_back(fs::path(name).stem().string());
    auto [it, fresh] = stem_source.emplace(stems.back(), name);
    if (!fresh)
      throw UsageError("--frames " + in_quotes(a.frames) + ": frames " + in_quotes(it->second) + " and " +
                       in_quotes(name) + " would both be written as " + stems.back() + ".png");
  }
  if (a.prompt_frame < 0 || a.prompt_frame >= num_frames)
    throw UsageError("--prompt-frame " + std::to_string(a.prompt_frame) + ": out of range, the video has " +
                     std::to_string(num_frames) + " frames (0.." + std::to_string(num_frames - 1) + ")");
  const std::vector<ObjectPrompt> prompts = collect_prompts(cmd, a, height, width);

  prepare_out_dir(a.out);
  const std::string overlay_dir = (fs::path(a.out) / "overlay").string();
  if (a.overlay) prepare_out_dir(overlay_dir);
  // After --out is created, so that the logits may go into it.
  if (!a.save_logits.empty()) {
    const fs::path parent = fs::path(a.save_logits).parent_path();
    if (fs::is_directory(a.save_logits))
      throw UsageError("--save-logits " + in_quotes(a.save_logits) + ": is a folder; give a file name");
    if (!parent.empty() && !fs::is_directory(parent))
      throw UsageError("--save-logits " + in_quotes(a.save_logits) + ": folder " + in_quotes(parent.string()) +
                       " does not exist");
  }

  std::shared_ptr<sam2::Sam2Base> model;
  try {
    model = sam2::Sam2Base::from_checkpoint(a.model, config, a.device == "cuda" ? Device::cuda() : Device::cpu());
  } catch (const std::exception& e) {
    // A config that does not fit lists hundreds of keys: one line, cut short, with the likely cause.
    std::string why = e.what();
    std::replace(why.begin(), why.end(), '\n', ' ');
    std::replace(why.begin(), why.end(), '\t', ' ');
    if (why.size() > 400) why = why.substr(0, 400) + " ...";
    const bool key_mismatch = why.find("state_dict") != std::string::npos;
    throw UsageError("--model " + in_quotes(a.model) + " (config " + config.name + "): " + why +
                     (key_mismatch ? " (is --config the checkpoint's model?)" : ""));
  }
  model->eval();
  const double load_s = seconds_since(t_start);

  // ---- prompts and tracking ----
  NoGradGuard no_grad;
  sam2::VideoPredictor predictor(model);
  predictor.init_state(video);
  const auto t_prompt = Clock::now();
  for (const ObjectPrompt& p : prompts) {
    if (!p.mask.empty())
      predictor.add_new_mask(a.prompt_frame, p.obj_id, from_vector(p.mask, {height, width}));
    else
      predictor.add_new_points_or_box(a.prompt_frame, p.obj_id, p.points, p.labels, true, true, p.box);
  }
  const double prompt_s = seconds_since(t_prompt);

  // Overlays read the frames again through their own source, so that a video file's
  // decoder position of the predictor's source is left alone.
  std::optional<io::VideoSource> overlay_video;
  if (a.overlay) overlay_video.emplace(io::VideoSource::open(a.frames));
  const eval::OverlayStyle overlay_style{0.5, true};
  const io::Palette palette = io::davis_palette();

  std::vector<int64_t> obj_ids;
  std::vector<bool> written(static_cast<size_t>(num_frames), false);
  std::vector<std::vector<int64_t>> areas(static_cast<size_t>(num_frames));
  std::map<int64_t, Tensor> logits_by_frame;
  int64_t frames_written = 0;
  eval::Progress progress(num_frames, "frames", !a.no_progress);

  auto on_frame = [&](const sam2::FrameMasks& fm) {
    const auto f = static_cast<size_t>(fm.frame_idx);
    if (written[f]) return;  // the prompt frame again, at the start of the backward pass
    if (obj_ids.empty()) obj_ids = fm.obj_ids;
    const int64_t n = static_cast<int64_t>(fm.obj_ids.size()), hw = height * width;
    const Tensor logits = contiguous(to(reshape(fm.video_res_masks, {n, height, width}), DType::F32));
    const float* d = logits.data<float>();
    // Each pixel goes to the object of highest positive logit (ties: the earlier, lower id).
    io::IndexedImage ids{height, width, std::vector<uint8_t>(static_cast<size_t>(hw), 0), palette};
    std::vector<int64_t> area(static_cast<size_t>(n), 0);
    for (int64_t i = 0; i < hw; ++i) {
      int64_t best = -1;
      float best_logit = 0.0f;
      for (int64_t k = 0; k < n; ++k) {
        const float v = d[k * hw + i];
        if (v > best_logit) best = k, best_logit = v;
      }
      if (best >= 0) {
        ids.values[static_cast<size_t>(i)] = static_cast<uint8_t>(fm.obj_ids[static_cast<size_t>(best)]);
        ++area[static_cast<size_t>(best)];
      }
    }
    const std::string& stem = stems[f];
    io::write_png_indexed((fs::path(a.out) / (stem + ".png")).string(), ids);
    if (overlay_video)
      io::write_png((fs::path(overlay_dir) / (stem + ".png")).string(),
                    eval::draw_overlay(overlay_video->frame(fm.frame_idx), ids.values, overlay_style));
    if (!a.save_logits.empty()) logits_by_frame[fm.frame_idx] = logits;
    areas[f] = std::move(area);
    written[f] = true;
    ++frames_written;
    progress.tick(stem);
  };

  const auto t_track = Clock::now();
  try {
    predictor.propagate_in_video(on_frame, a.prompt_frame, std::nullopt, false);
    if (a.prompt_frame > 0) predictor.propagate_in_video(on_frame, a.prompt_frame, std::nullopt, true);
  } catch (const std::exception& e) {
    progress.finish();
    throw std::runtime_error(std::string(e.what()) + " (tracking stopped; " + std::to_string(frames_written) +
                             " of " + std::to_string(num_frames) + " masks were written to " + in_quotes(a.out) + ")");
  }
  progress.finish();
  const double track_s = seconds_since(t_track);
  if (frames_written != num_frames)
    throw std::runtime_error("tracking produced " + std::to_string(frames_written) + " of " +
                             std::to_string(num_frames) + " frames");

  if (!a.save_logits.empty()) {
    io::StateDict tensors;
    for (auto& [frame, t] : logits_by_frame) tensors.emplace_back(stems[static_cast<size_t>(frame)], t);
    const nlohmann::ordered_json ids_json = obj_ids;
    io::write_safetensors(a.save_logits, tensors,
                          {{"obj_ids", ids_json.dump()},
                           {"layout", "one float32 tensor per frame, named by frame, [num_objects, H, W] mask logits "
                                      "at the video resolution, objects in the order of obj_ids; > 0 is the object"},
                           {"model", a.model},
                           {"config", config.name},
                           {"prompt_frame", std::to_string(a.prompt_frame)}});
  }

  // ---- summary ----
  nlohmann::ordered_json objects = nlohmann::ordered_json::array();
  for (const ObjectPrompt& p : prompts) {
    nlohmann::ordered_json o = {{"obj_id", p.obj_id}};
    nlohmann::ordered_json points = nlohmann::ordered_json::array();
    for (size_t i = 0; i < p.points.size(); ++i) points.push_back({p.points[i][0], p.points[i][1], p.labels[i]});
    if (!p.points.empty()) o["points"] = points;
    if (p.box) o["box"] = {(*p.box)[0], (*p.box)[1], (*p.box)[2], (*p.box)[3]};
    if (!p.mask.empty()) o["mask"] = p.mask_file;
    objects.push_back(o);
  }
  nlohmann::ordered_json frames = nlohmann::ordered_json::array();
  for (int64_t f = 0; f < num_frames; ++f) {
    nlohmann::ordered_json area = nlohmann::ordered_json::object();
    for (size_t k = 0; k < obj_ids.size(); ++k) area[std::to_string(obj_ids[k])] = areas[static_cast<size_t>(f)][k];
    frames.push_back({{"index", f}, {"name", stems[static_cast<size_t>(f)]}, {"areas", area}});
  }
  const double fps = static_cast<double>(num_frames) / std::max(track_s, 1e-9);
  nlohmann::ordered_json report = {
      {"rvos", RVOS_VERSION},
      {"model", a.model},
      {"config", config.name},
      {"frames", a.frames},
      {"num_frames", num_frames},
      {"height", height},
      {"width", width},
      {"prompt_frame", {{"index", a.prompt_frame}, {"name", stems[static_cast<size_t>(a.prompt_frame)]}}},
      {"obj_ids", obj_ids},
      {"objects", objects},
      {"masks", a.out},
      {"overlay", a.overlay ? nlohmann::ordered_json(overlay_dir) : nlohmann::ordered_json(nullptr)},
      {"logits", a.save_logits.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(a.save_logits)},
      {"per_frame", frames},
      {"timings",
       {{"load_s", load_s}, {"prompt_s", prompt_s}, {"track_s", track_s}, {"frames_per_s", fps},
        {"threads", num_threads()}}},
  };
  const std::string report_path = (fs::path(a.out) / "track.json").string();
  eval::write_text_file(report_path, report.dump(2) + "\n");

  std::cout << "tracked " << obj_ids.size() << (obj_ids.size() == 1 ? " object" : " objects") << " over "
            << num_frames << " frames from frame " << a.prompt_frame << " ("
            << stems[static_cast<size_t>(a.prompt_frame)] << ") in " << time_text(track_s) << " s ("
            << time_text(fps) << " frames/s; model loaded in " << time_text(load_s) << " s)\n";
  std::cout << "wrote " << (fs::path(a.out) / "<frame>.png").string() << " and " << report_path;
  if (a.overlay) std::cout << ", overlays in " << overlay_dir;
  if (!a.save_logits.empty()) std::cout << ", logits in " << a.save_logits;
  std::cout << "\n";
  return 0;
}

}  // namespace

Command add_track(CLI::App& parent) {
  auto a = std::make_shared<TrackArgs>();
  CLI::App* cmd = parent.add_subcommand(
      "track", "Track objects through a video with SAM 2 from points, a box or a mask on one frame");
  cmd->add_option("--model", a->model, "SAM 2 / SAM 2.1 checkpoint (.pt or .safetensors, the official 'model' dict)")
      ->required()
      ->type_name("CKPT");
  cmd->add_option("--config", a->config,
                  "Model configuration: a preset name (sam2.1_hiera_t, sam2_hiera_b+, ...; see the footer) or an "
                  "official-format YAML file. Default: guessed from the checkpoint file name "
                  "(sam2.1_hiera_tiny.pt -> sam2.1_hiera_t)")
      ->type_name("NAME|FILE");
  cmd->add_option("--frames", a->frames,
                  "Folder of frames (*.jpg/*.jpeg/*.png, in numeric order when all names are numbers) or a video "
                  "file (mp4, ...; needs a build with FFmpeg; frames are then named 00000, 00001, ...)")
      ->required()
      ->type_name("DIR|VIDEO");
  cmd->add_option("--prompt-frame", a->prompt_frame,
                  "Index (from 0, in frame order) of the frame the prompts are on; tracking runs forward from it to "
                  "the end, then backward from it to frame 0")
      ->capture_default_str()
      ->type_name("N");
  a->obj_id = cmd->add_option("--obj-id", a->obj_id_values,
                              "Starts object K (1..255, its palette index in the output PNGs): the --point, --box and "
                              "--mask flags after it belong to object K until the next --obj-id. Prompts before any "
                              "--obj-id belong to object 1")
                  ->type_name("K");
  a->point = cmd->add_option("--point", a->point_values,
                             "A click x,y[,label] in video pixels, label 1 (object, default) or 0 (background); "
                             "repeat for more clicks")
                 ->type_name("X,Y[,L]");
  a->box = cmd->add_option("--box", a->box_values,
                           "A box x0,y0,x1,y1 in video pixels (top-left, bottom-right); one per object, may be "
                           "combined with points (the box is given first, as the official predictor does)")
               ->type_name("X0,Y0,X1,Y1");
  a->mask = cmd->add_option("--mask", a->mask_values,
                            "A mask PNG of the frames' size. Before any --obj-id: a palette PNG (e.g. a DAVIS "
                            "annotation) gives one object per nonzero index, with that id; a gray PNG's nonzero "
                            "pixels are object 1. After --obj-id K: the pixels of index K (palette PNG) or the "
                            "nonzero pixels (gray PNG) are object K. Not combined with points or a box for the same "
                            "object")
                ->type_name("PNG");
  cmd->add_option("--out", a->out,
                  "Output folder (created): <frame>.png per frame, a palette PNG (DAVIS palette) whose index is the "
                  "object id, 0 background; where objects overlap the higher logit wins. Also track.json: model, "
                  "config, prompts, per-frame object areas in pixels, timings. 'rvos overlay' and 'rvos eval' read "
                  "the PNGs")
      ->required()
      ->type_name("DIR");
  cmd->add_flag("--overlay", a->overlay, "Also write <out>/overlay/<frame>.png: the masks drawn over the frames");
  cmd->add_option("--device", a->device,
                  "cpu, or cuda (a build with the CUDA backend and a GPU; float32 as on the CPU)")
      ->capture_default_str()
      ->check(CLI::IsMember({"cpu", "cuda"}));
  cmd->add_option("--save-logits", a->save_logits,
                  "Also write the mask logits at the video resolution as safetensors: one float32 tensor "
                  "[num_objects, H, W] per frame, named by frame, objects in the order of the obj_ids metadata. "
                  "Large (frames x objects x H x W x 4 bytes), and held in memory until the end")
      ->type_name("FILE.safetensors");
  cmd->add_option("--threads", a->threads, "CPU threads (0: all; OMP_NUM_THREADS also works)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--no-progress", a->no_progress, "No progress line on stderr");
  cmd->footer(
      "Objects: each --obj-id K starts object K and the prompts after it are K's; without --obj-id every\n"
      "prompt is object 1. Coordinates are in pixels of the video frames.\n"
      "Exit status: 0 done, 2 a flag or input file is wrong (nothing tracked), 1 failure while tracking.\n"
      "Presets: " +
      join(sam2::sam2_preset_names(), ", ") +
      "\n"
      "Examples:\n"
      "  rvos track --model sam2.1_hiera_tiny.pt --frames bmx/ --point 210,350 --out masks/bmx\n"
      "  rvos track --model sam2.1_hiera_small.pt --frames clip.mp4 --prompt-frame 12 --box 40,30,200,180 \\\n"
      "      --point 120,90 --point 60,40,0 --out masks/clip --overlay\n"
      "  rvos track --model ckpt.pt --config sam2.1_hiera_b+ --frames bmx/ \\\n"
      "      --obj-id 1 --point 210,350 --obj-id 2 --box 300,100,420,260 --out masks/bmx\n"
      "  rvos track --model sam2.1_hiera_large.pt --frames JPEGImages/480p/bmx-trees \\\n"
      "      --mask Annotations/480p/bmx-trees/00000.png --out pred/bmx-trees --save-logits bmx.safetensors");
  return {cmd, [cmd, a] {
            try {
              return run_track(*cmd, *a);
            } catch (const UsageError& e) {
              std::cerr << "rvos track: error: " << e.what() << "\n";
              return 2;
            }
          }};
}

}  // namespace rvos::cli
