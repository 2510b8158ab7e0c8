// dlbricks: the CLI is a thin dispatcher over the library (DESIGN.md "CLI contract").
#include <cstdio>
#include <vector>

#include "commands.h"

namespace dlbricks::cli {

int Fail(const Status& status) {
  std::fprintf(stderr, "dlbricks: %s\n", status.message().c_str());
  return status.ExitCode();
}

}  // namespace dlbricks::cli

int main(int argc, char** argv) {
  using namespace dlbricks::cli;
  CLI::App app{"dlbricks: composable benchmark bricks for deep-learning models"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "dlbricks 0.1.0");
  Context ctx;
  // One line per subcommand (each defined in cmd_<name>.cc).
  const std::vector<void (*)(CLI::App&, Context&)> commands = {
      RegisterInspect,
      RegisterAnalyze,
      RegisterGenerate,
      RegisterRun,
      RegisterMeasure,
      RegisterEstimate,
      RegisterValidate,
      RegisterPredictor,
      RegisterReport,
      RegisterCompare,
  };
  for (auto* reg : commands) reg(app, ctx);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return ctx.exit_code;
}
