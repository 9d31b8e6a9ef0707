// The yolo4 subcommands; each lives in its own cmd_*.cpp file.
#pragma once

namespace yolo4::cli {

// Each returns the process exit code; errors are thrown as yolo4::Error.
int run_command(int argc, char** argv);
int bench_command(int argc, char** argv);
int profile_command(int argc, char** argv);
int detect_command(int argc, char** argv);
int eval_command(int argc, char** argv);
int serve_command(int argc, char** argv);
int info_command(int argc, char** argv);

}  // namespace yolo4::cli
