// rvos: the command-line front end. Thin: parse arguments, call the library.
#include <CLI/CLI.hpp>

#include <iostream>
#include <vector>
#include <string>

#include "rvos/version.h"
#include "tools/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"rvos: referring video object segmentation in C++ (tensors, autograd, CPU and CUDA kernels)", "rvos"};
  app.set_version_flag("--version", std::string("rvos ") + RVOS_VERSION);
  app.require_subcommand(0, 1);
  app.footer(
      "Examples:\n"
      "  rvos info                 build, threads and devices\n"
      "  rvos demo --steps 200     train a small network with autograd and AdamW\n"
      "  rvos eval --dataset davis --pred out/valid/anno_0 --gt DAVIS   J, F and J&F of predictions\n"
      "  rvos inspect model.pt     keys, dtypes and shapes of a checkpoint\n"
      "  rvos convert model.pt model.safetensors   a PyTorch checkpoint to safetensors\n"
      "  rvos track --model sam2.1_hiera_tiny.pt --frames bmx/ --point 210,350 --out masks/bmx   track an object with SAM 2\n"
      "  rvos help demo            flags of one command\n"
      "Run 'rvos CMD --help' for the flags of a command.");

  const std::vector<rvos::cli::Command> commands{rvos::cli::add_info(app), rvos::cli::add_demo(app),
                                                 rvos::cli::add_eval(app), rvos::cli::add_pack_ytvos(app),
                                                 rvos::cli::add_pack_mevis(app), rvos::cli::add_overlay(app),
                                                 rvos::cli::add_convert(app), rvos::cli::add_inspect(app),
                                                 rvos::cli::add_track(app)};

  std::string help_topic;
  CLI::App* help = app.add_subcommand("help", "Show help for rvos or for one command");
  help->add_option("command", help_topic, "Command to explain (e.g. demo)");
  help->footer("Example:\n  rvos help info");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (help->parsed() || app.get_subcommands().empty()) {
    if (help_topic.empty()) {
      // app.help() would describe the parsed "help" subcommand itself.
      std::cout << app.get_formatter()->make_help(&app, "rvos", CLI::AppFormatMode::Normal);
      return 0;
    }
    for (CLI::App* sub : app.get_subcommands({})) {
      if (sub->get_name() == help_topic) {
        std::cout << sub->get_formatter()->make_help(sub, "rvos " + sub->get_name(), CLI::AppFormatMode::Normal);
        return 0;
      }
    }
    std::cerr << "rvos help: unknown command '" << help_topic << "' (see 'rvos help')\n";
    return 2;
  }
  for (const auto& c : commands) {
    if (!c.app->parsed()) continue;
    try {
      return c.run();
    } catch (const std::exception& e) {
      std::cerr << "rvos " << c.app->get_name() << ": error: " << e.what() << "\n";
      return 1;
    }
  }
  return 0;
}
