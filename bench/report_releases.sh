#!/usr/bin/env bash
# Weekly releases of several studies plus the weekly service evaluation,
# each protected against everything published before it (every release of
# every study and of the service series, as `trialink report --store`
# does), then one audit of all of them together (`trialink audit --store`).
#
#   bench/report_releases.sh [WEEKS=40] [INVITATIONS=3000] [POLICY=nhs-hes] [STUDIES=5] [exact]
#
# Study k has INVITATIONS / k invitations (study 5 is small and suppresses
# much). Each study's synthetic report set (crates/reports/examples/
# release_bench.rs) has three SWAT arms, registry volunteers, quota strata
# sex x age band, skewed ethnic groups and nine regions: 11 tables, 236
# cells per release. The service evaluation quotes each study's latest
# release. Targets: <= 10 s for any single release and <= 120 s
# for the full audit on a 2-core machine. Pass `exact` to time the exact
# joint audit instead of the fast one (same verdict). Set
# TRIALINK_AUDIT_PROFILE=1 to print where each audit spends its time
# (=trace: also one line per finding left to the whole series' solver).
# Its `windows` and `whole parts` figures split the findings' time between
# window programs and the whole series' solver; `warm starts missed so
# far [a, b, c]` counts, over the process, incremental re-solves whose
# point broke a constraint (a) or that ran into solver trouble (b, those
# retried on the other basis included), and retries on the other basis
# that got through (c); every other miss is solved from scratch, which is
# what makes the slowest releases slow. `refine round` lines give each
# round of groups of open findings pushed down and up together, and
# `points carried in Xs` the time spent extending the previous release's
# points. STOP_AFTER_WEEK=N stops after week N (then audits those weeks'
# releases).
set -euo pipefail
cd "$(dirname "$0")/.."
# The audit's solver: COIN-OR Clp (feature `clp`) when Debian's
# coinor-libclp-dev is installed, as a production build should have it;
# TRIALINK_SOLVER=microlp (or no Clp) times the default, pure-Rust build.
FEATURES=()
if [ "${TRIALINK_SOLVER:-clp}" = clp ] && [ -e /usr/include/coin/Clp_C_Interface.h ]; then
  FEATURES=(--features clp)
  echo "solver: Clp (cargo feature clp)" >&2
else
  echo "solver: microlp (install coinor-libclp-dev for the clp feature)" >&2
fi
cargo build --release -q -p reports --example release_bench "${FEATURES[@]}"
exec target/release/examples/release_bench "${1:-40}" "${2:-3000}" "${3:-nhs-hes}" "${4:-5}" "${5:-}"
