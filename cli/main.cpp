#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"gemma-qat: quantization-aware training and export for Gemma 4"};
  app.require_subcommand(1);
  CLI11_PARSE(app, argc, argv);
  return 0;
}
