#!/usr/bin/env bash
# Run every trialink fuzz target for a bounded time, at low priority.
#
#   fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]      (default 60 s, all targets)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). cargo-fuzz passes nightly-only
# flags to rustc: a nightly toolchain is used when rustup has one, otherwise
# RUSTC_BOOTSTRAP=1 lets the stable compiler accept them.
# Committed seeds are in fuzz/corpus/<target>/ and are only read; inputs the
# fuzzer finds go to fuzz/work/<target>/ (git-ignored); crashes to
# fuzz/artifacts/<target>/. Logs go to fuzz/logs/. One summary line per target
# (a Markdown table row for RESULTS.md) is printed at the end.
# Builds without a sanitizer (the code under test is safe Rust) but with
# debug assertions and overflow checks, which cargo-fuzz turns on.
set -uo pipefail
cd "$(dirname "$0")"
secs="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list 2>/dev/null)
  [ ${#targets[@]} -gt 0 ] || mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v trialink-fuzz)
fi

tc=()
if rustup run nightly rustc --version >/dev/null 2>&1; then
  tc=(+nightly)
else
  export RUSTC_BOOTSTRAP=1
fi

mkdir -p logs work artifacts
stamp="$(date -u +%Y-%m-%dT%H%MZ)"
summary=()
status=0
for t in "${targets[@]}"; do
  mkdir -p "work/$t" "artifacts/$t"
  log="logs/$t-$stamp.log"
  echo "== $t for ${secs}s (log: fuzz/$log)" >&2
  nice -n 19 cargo "${tc[@]}" fuzz run -s none "$t" "work/$t" "corpus/$t" -- \
    -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="artifacts/$t/" -print_final_stats=1 >"$log" 2>&1
  rc=$?
  # feedback_rows/returns_rows keep a scratch store per fuzz process.
  # Only those of fuzz processes that have exited (other streams may run).
  for d in "${TMPDIR:-/tmp}"/trialink-fuzz-*; do
    [ -d "$d" ] && ! kill -0 "${d##*-}" 2>/dev/null && rm -rf "$d"
  done
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  corp=$(grep -o 'corp: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  if [ $rc -ne 0 ]; then status=1; fi
  summary+=("| $(date -u +%F) | $t | ${secs}s | ${runs:-?} | ${cov:-?} | ${ft:-?} | ${corp:-?} | exit $rc, $(ls "artifacts/$t" | wc -l) artifact(s) |")
done
echo
echo "| date | target | time | execs | cov (edges) | features | corpus | result |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${summary[@]}"
exit $status
