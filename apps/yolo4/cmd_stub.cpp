// Commands whose implementation lands with the model; until then they say so.
#include "commands.h"
#include "yolo4/core/error.h"

namespace yolo4::cli {

int run_command(int, char**) { fail("'run' needs the model, which is not built yet"); }
int bench_command(int, char**) { fail("'bench' needs the model, which is not built yet"); }

}  // namespace yolo4::cli
