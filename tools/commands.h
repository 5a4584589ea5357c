#pragma once
// Each rvos subcommand adds itself to the CLI11 app and returns the function
// that runs it once the arguments are parsed.
#include <CLI/CLI.hpp>
#include <functional>

namespace rvos::cli {

struct Command {
  CLI::App* app;
  std::function<int()> run;
};

Command add_info(CLI::App& parent);
Command add_demo(CLI::App& parent);
Command add_eval(CLI::App& parent);
Command add_pack_ytvos(CLI::App& parent);
Command add_pack_mevis(CLI::App& parent);
Command add_overlay(CLI::App& parent);
Command add_convert(CLI::App& parent);
Command add_inspect(CLI::App& parent);
Command add_track(CLI::App& parent);

}  // namespace rvos::cli
