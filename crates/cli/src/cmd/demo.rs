//! `trialink demo`: every flow of the service end to end on a synthetic
//! population, each party's commands run by this binary and printed as a
//! tutorial: the steps are `synth::demo`'s, the run `synth::demo_run`'s.

use crate::error::{CliError, CliResult};
use std::path::PathBuf;
use std::process::ExitCode;
use synth::demo::Assets;
use synth::demo_run::DemoRun;

/// What the demo's parties read: the study request, the reminder request,
/// the study's register entry and the registry's CLK schema (clkhash v3).
const ASSETS: Assets<'static> = Assets {
    request: include_str!("../demo/request.toml"),
    reminder: include_str!("../demo/reminder.toml"),
    study: include_str!("../demo/study.toml"),
    clk_schema: include_str!("../demo/clk_schema.json"),
};

/// Options for `trialink demo` (the steps: `synth::demo::script`).
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  trialink demo\n  trialink demo --out /tmp/demo --people 20000 --seed 7")]
pub struct Args {
    /// Directory for the run (its `work/` data is regenerated each run).
    #[arg(long, value_name = "DIR", default_value = "reports/demo")]
    pub out: PathBuf,
    /// People in the synthetic population.
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    pub people: u64,
    /// Seed for the population, keys and every random choice.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
}

pub fn run(a: Args) -> CliResult {
    let exe = std::env::current_exe()
        .map_err(|e| CliError::new(format!("cannot find the trialink binary: {e}")))?;
    let run = DemoRun {
        exe: &exe,
        out: &a.out,
        people: a.people,
        seed: a.seed,
        assets: &ASSETS,
    };
    run.run(&mut crate::say)
        .map_err(|e| CliError::new(&e).maybe_hint(e.hint()))?;
    Ok(ExitCode::SUCCESS)
}
