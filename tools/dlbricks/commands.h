// Each CLI subcommand lives in its own cmd_<name>.cc and registers itself here.
// A subcommand only parses flags into the stage's options struct and calls the library.
#pragma once

#include <CLI/CLI.hpp>

#include "dlbricks/status.h"

namespace dlbricks::cli {

// Where a subcommand's callback leaves the process exit code (0 ok, 1 failure, 2 bad input).
struct Context {
  int exit_code = 0;
};

// Prints "dlbricks: <message>" on one line to stderr and returns the exit code to use.
int Fail(const Status& status);

// One declaration per subcommand.
void RegisterInspect(CLI::App& app, Context& ctx);
void RegisterAnalyze(CLI::App& app, Context& ctx);
void RegisterGenerate(CLI::App& app, Context& ctx);
void RegisterRun(CLI::App& app, Context& ctx);
void RegisterMeasure(CLI::App& app, Context& ctx);
void RegisterEstimate(CLI::App& app, Context& ctx);
void RegisterValidate(CLI::App& app, Context& ctx);
void RegisterPredictor(CLI::App& app, Context& ctx);
void RegisterReport(CLI::App& app, Context& ctx);
void RegisterCompare(CLI::App& app, Context& ctx);

}  // namespace dlbricks::cli
