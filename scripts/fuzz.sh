#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ (clang++, ASan + UBSan) into build-fuzz and runs each for
# SECONDS (default 60), starting from the committed seeds in fuzz/seeds/<target> and the inputs
# of earlier findings in tests/data/fuzz/<target> (each has a regression test). Prints the
# executions and findings per target; a finding's input is kept under build-fuzz/findings/.
# Exits 1 when any target found something.
# Usage: scripts/fuzz.sh [--if-available] [SECONDS] [TARGET...]
#   --if-available: exit 0 with a note, instead of failing, when clang's fuzzer runtime is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if_available=0
if [[ "${1:-}" == "--if-available" ]]; then
  if_available=1
  shift
fi
SECONDS_PER_TARGET="${1:-60}"
shift || true
BUILD_DIR="${FUZZ_BUILD_DIR:-build-fuzz}"

# libFuzzer ships with clang (Debian: clang + libclang-rt-14-dev); check it links.
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' \
  >"$probe_dir/probe.cpp"
if ! clang++ -fsanitize=fuzzer,address,undefined "$probe_dir/probe.cpp" -o "$probe_dir/probe" \
  >/dev/null 2>&1; then
  echo "fuzz: clang++ with libFuzzer (packages clang, libclang-rt-14-dev) is not available"
  ((if_available)) && exit 0
  exit 1
fi

cmake -S . -B "$BUILD_DIR" -DYOLO4_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)" --target fuzz_all >/dev/null

targets=("$@")
if ((${#targets[@]} == 0)); then
  for src in fuzz/fuzz_*.cpp; do targets+=("$(basename "$src" .cpp)"); done
fi

# Inputs are at most 8 KB, so no legitimate parse allocates much: a big allocation means a size
# a file claims was believed.
total_findings=0
printf '%-22s %12s %9s %9s %8s\n' target executions seconds findings corpus
for target in "${targets[@]}"; do
  name="${target#fuzz_}"
  corpus="$BUILD_DIR/corpus/$name"
  findings="$BUILD_DIR/findings/$name"
  log="$BUILD_DIR/logs/$name.log"
  mkdir -p "$corpus" "$findings" "$(dirname "$log")"
  inputs=("$corpus" "fuzz/seeds/$name")
  [[ -d "tests/data/fuzz/$name" ]] && inputs+=("tests/data/fuzz/$name")
  start=$(date +%s)
  status=0
  "$BUILD_DIR/fuzz/$target" "${inputs[@]}" -max_total_time="$SECONDS_PER_TARGET" \
    -max_len=8192 -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 \
    -artifact_prefix="$findings/" -print_final_stats=1 >"$log" 2>&1 || status=$?
  elapsed=$(($(date +%s) - start))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  count=$(find "$findings" -type f | wc -l)
  if ((status != 0 && count == 0)); then count=1; fi  # e.g. a crash before any input was saved
  total_findings=$((total_findings + count))
  printf '%-22s %12s %9s %9s %8s\n' "$name" "${runs:-?}" "$elapsed" "$count" \
    "$(find "$corpus" -type f | wc -l)"
  if ((count > 0)); then
    echo "  see $log and $findings/" >&2
  fi
done
((total_findings == 0))
