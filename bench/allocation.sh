#!/usr/bin/env bash
# Response-adjusted vs proportional allocation over a sequence of simulated
# studies (crates/synth/examples/allocation_sim.rs). A synthetic population
# answers invitations as the default demographic response model says
# (synth::response); each study targets N enrolments spread as its eligible
# pool is over age band x sex x ethnic group. Prints, per study, the
# invitations and enrolments of each allocation and the total-variation
# distance of the enrolled cohort from the target (realised, and expected
# under the true rates), then the pooled figures for studies 2.. (the ones
# with an uptake history to learn from) and the mean invitations per study:
# adjusted, proportional sized for the total at the history's rate, and
# proportional sized so that every stratum's expected enrolment reaches its
# target. Also per study: the adjusted allocation sent in waves (the first
# part of the plan, then top-up batches of each stratum's shortfall of
# enrolments so far, divided by its estimated rate, computed as a top-up
# request with `net_of_study = true` computes it: how a service reaches a
# per-study target once feedback arrives), and the sampling floor — the TV a
# cohort of the target size shows when drawn at random from exactly the
# target distribution, which no one-shot allocation can beat; then the mean
# and worst per-study TV over studies 2.. for each.
#
#   bench/allocation.sh [PEOPLE] [STUDIES] [TARGET] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
people="${1:-400000}"
studies="${2:-8}"
target="${3:-2000}"
seed="${4:-2026}"
cargo build --release -q -p synth --example allocation_sim
target/release/examples/allocation_sim --people "$people" --studies "$studies" --target "$target" --seed "$seed"
