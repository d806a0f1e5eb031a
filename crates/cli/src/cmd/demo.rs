//! `trialink demo`: every flow of the service end to end on a synthetic
//! population, in a fresh directory.
//!
//! The demo plays each party in turn by running `trialink` itself with the
//! same commands a real party would run, printing each command as it goes, so
//! the transcript doubles as a tutorial. The steps are `synth::demo`'s
//! script; this command carries them out. Keys are derived from the seed and
//! labelled test-only; the same seed writes the same files.

use crate::error::{CliError, CliResult};
use pseudonym::{keyfile, Key};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;
use synth::demo::{Assets, Step, AS_OF};

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

/// The demo's master key: derived from the seed, labelled test-only.
fn demo_master(seed: u64) -> Key {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&seed.to_le_bytes());
    b[8..27].copy_from_slice(b"trialink-demo-seed!");
    Key::from_bytes(b).derive_info(b"trialink-demo-master-v1")
}

/// Run `trialink <args>`, printing the command and its output; fails
/// naming the step.
fn run_trialink(exe: &Path, args: &[String], transcript: &mut String) -> Result<(), CliError> {
    let shown = args
        .iter()
        .map(|a| {
            if a.contains(' ') {
                format!("\"{a}\"")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ");
    outln!("  $ trialink {shown}");
    let _ = writeln!(transcript, "    $ trialink {shown}");
    let o = Command::new(exe)
        .args(args)
        .output()
        .map_err(|e| CliError::new(format!("cannot run {}: {e}", exe.display())))?;
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    if !o.status.success() {
        return Err(CliError::new(format!(
            "demo step `trialink {}` failed ({}):\n{stdout}{stderr}",
            args.first().map_or("", String::as_str),
            o.status,
        )));
    }
    for l in stdout
        .lines()
        .chain(stderr.lines())
        .filter(|l| !l.starts_with("warning: ") || !l.contains("test-only"))
    {
        outln!("    {l}");
    }
    Ok(())
}

pub fn run(a: Args) -> CliResult {
    if a.people < 1000 {
        return Err(CliError::new("--people must be at least 1000")
            .hint("the reports need a population to be meaningful"));
    }
    let exe = std::env::current_exe()
        .map_err(|e| CliError::new(format!("cannot find the trialink binary: {e}")))?;
    let started = Instant::now();
    synth::demo::fresh_dir(&a.out.join("work"))
        .map_err(|e| CliError::new(e).hint("choose another --out directory"))?;
    let mut transcript = String::new();
    for step in synth::demo::script(&a.out, a.people, a.seed, &ASSETS) {
        match &step {
            Step::Say { party, what } => {
                let line = format!("\n[{party}] {what}");
                outln!("{line}");
                transcript.push_str(&line);
                transcript.push('\n');
            }
            Step::Run(args) => run_trialink(&exe, args, &mut transcript)?,
            Step::MasterKey(path) => keyfile::write_new(path, &demo_master(a.seed), None, AS_OF, true)
                .map_err(|e| CliError::new(format!("key file {}: {e}", path.display())))?,
            file_step => {
                synth::demo::perform(file_step, a.seed)
                    .map_err(|e| CliError::new(format!("demo step: {e}")))?;
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string(a.out.join("report/uptake_by_arm.csv")) {
        let line = "\n[summary] uptake by SWAT arm, as published";
        outln!("{line}");
        transcript.push_str(line);
        transcript.push('\n');
        for l in text.lines() {
            outln!("    {}", l.replace(',', "  "));
        }
    }
    let summary = synth::demo::summary(&a.out, started.elapsed().as_secs_f64());
    outln!("{summary}");
    transcript.push_str(&summary);
    std::fs::write(a.out.join("TRANSCRIPT.txt"), &transcript)
        .map_err(|e| CliError::new(format!("cannot write the transcript: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
