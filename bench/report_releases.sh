#!/usr/bin/env bash
# Time to protect the k-th weekly cumulative release of one study, k = 1..K,
# each audited against every earlier release (what `trialink report --store`
# does each week), then one joint fast audit of all K releases.
#
#   bench/report_releases.sh [K=12] [INVITATIONS=3000] [POLICY=nhs-hes] [exact]
#
# The synthetic study (crates/reports/examples/release_bench.rs) has three
# SWAT arms, registry volunteers, quota strata sex x age band, skewed ethnic
# groups and nine regions: 11 tables, 236 cells per release, 36-110 of them
# suppressed. Pass `exact` to time the exact joint audit too.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p reports --example release_bench
exec target/release/examples/release_bench "${1:-12}" "${2:-3000}" "${3:-nhs-hes}" "${4:-}"
