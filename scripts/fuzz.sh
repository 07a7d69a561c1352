#!/usr/bin/env bash
# Fuzzing (issue 16 item 6): runs every cargo-fuzz target of fuzz/ for FUZZ_SECONDS seconds each
# (default 20), starting from the seed corpus checked in under fuzz/corpus/TARGET.
#
#   scripts/fuzz.sh                          # every target, 20 s each
#   FUZZ_SECONDS=600 scripts/fuzz.sh adpcm   # one target, longer
#   FUZZ_FEATURES=storage scripts/fuzz.sh url_options   # with the archive builder's options
#
# - cargo-fuzz comes from crates.io, pinned, into .tmp/tools (nothing installed by hand).
# - Stable toolchain: `-s none` builds without a sanitizer (our crates deny unsafe code, so
#   AddressSanitizer has nothing to find that Rust's own checks miss), and then cargo-fuzz passes
#   rustc only stable flags (`-Cpasses=sancov-module`, `-Cllvm-args=-sanitizer-coverage-*`,
#   `--cfg fuzzing`): no nightly, no RUSTC_BOOTSTRAP. Debug assertions and overflow checks are on.
# - Builds go to .tmp/fuzz-target (fuzz/Cargo.toml keeps debug info off and 16 codegen units);
#   inputs found while fuzzing go to .tmp/fuzz/corpus/TARGET, never into the checkout.
# - A crash, a panic, a failed assertion, a timeout (10 s per input) or running out of memory
#   fails the script; the input is kept under .tmp/fuzz/artifacts/TARGET/ and its path printed
#   with the command that replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${FUZZ_SECONDS:-20}
cargo_fuzz_version=0.13.2
tools=$root/.tmp/tools
work=$root/.tmp/fuzz
target_dir=$root/.tmp/fuzz-target

if ! "$tools/bin/cargo-fuzz" --version 2>/dev/null | grep -qx "cargo-fuzz $cargo_fuzz_version"; then
  echo "== installing cargo-fuzz $cargo_fuzz_version into $tools"
  cargo install --locked --quiet cargo-fuzz --version "$cargo_fuzz_version" --root "$tools"
fi
export PATH="$tools/bin:$PATH"

flags=(--sanitizer none --codegen-units 16 --target-dir "$target_dir")
# FUZZ_FEATURES=storage adds the archive builder to url_options (a much longer build).
if [ -n "${FUZZ_FEATURES:-}" ]; then flags+=(--features "$FUZZ_FEATURES"); fi
cd fuzz
if [ "$#" -gt 0 ]; then targets=("$@"); else mapfile -t targets < <(cargo fuzz list); fi
echo "== building ${#targets[@]} fuzz targets"
start=$SECONDS
cargo fuzz build "${flags[@]}"
echo "== fuzz targets built in $((SECONDS - start)) s"

failed=()
summary=()
for t in "${targets[@]}"; do
  mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
  log=$work/$t.log
  echo "== fuzzing $t for $seconds s"
  # The first corpus directory receives new inputs; the checked-in seeds are only read.
  set +e
  cargo fuzz run "${flags[@]}" "$t" "$work/corpus/$t" "corpus/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/$t/" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  if [ "$rc" != 0 ]; then
    tail -n 40 "$log"
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    echo "== FUZZ FAILURE in $t (exit $rc); log: $log"
    if [ -n "$artifact" ]; then
      echo "== input: $artifact"
      echo "== replay: (cd fuzz && cargo fuzz run ${flags[*]} $t $artifact)"
    fi
    failed+=("$t")
    summary+=("$(printf '%-16s FAILED after %s executions' "$t" "${execs:-?}")")
  else
    summary+=("$(printf '%-16s %10s executions in %s s (%s exec/s)' "$t" "${execs:-?}" "$seconds" "${rate:-?}")")
  fi
done

echo "== fuzzing summary"
printf '  %s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "== fuzz targets failed: ${failed[*]}"
  exit 1
fi
