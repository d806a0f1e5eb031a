//! Carrying out the demo's script ([`crate::demo::script`]): each party's
//! `trialink` commands run as child processes of the binary given, printed
//! as they go, the file steps performed, the test-only master key written,
//! and a transcript kept beside the reports.

use crate::demo::{self, Assets, Step, AS_OF};
use crate::SynthError;
use pseudonym::{keyfile, Key};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;
use tabular::Say;

/// Why the demo stopped.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// Too small a population for the reports to mean anything.
    #[error("--people must be at least 1000")]
    People,
    /// The output directory holds something the demo did not make.
    #[error(transparent)]
    Dir(SynthError),
    /// The binary could not be run.
    #[error("cannot run {}: {source}", exe.display())]
    Spawn {
        /// The binary.
        exe: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A step's command failed; what it printed follows.
    #[error("demo step `trialink {command}` failed ({status}):\n{output}")]
    StepFailed {
        /// The subcommand.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed (stdout, then stderr): synthetic data only.
        output: String,
    },
    /// The master key could not be written.
    #[error("key file {}: {source}", path.display())]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: keyfile::KeyFileError,
    },
    /// A file step failed.
    #[error("demo step: {0}")]
    Step(SynthError),
    /// The transcript could not be written.
    #[error("cannot write the transcript: {0}")]
    Transcript(std::io::Error),
}

impl DemoError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            DemoError::People => Some("the reports need a population to be meaningful"),
            DemoError::Dir(_) => Some("choose another --out directory"),
            _ => None,
        }
    }
}

/// Tell a line and keep it in the transcript.
fn tell(say: &mut dyn FnMut(Say), transcript: &mut String, line: String) {
    transcript.push_str(&line);
    transcript.push('\n');
    say(Say::Figure(line));
}

/// The demo's master key: derived from the seed, labelled test-only.
fn demo_master(seed: u64) -> Key {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&seed.to_le_bytes());
    b[8..27].copy_from_slice(b"trialink-demo-seed!");
    Key::from_bytes(b).derive_info(b"trialink-demo-master-v1")
}

/// A demo run: the script for `people` from `seed`, written under `out`,
/// its commands run by `exe` (the `trialink` binary).
pub struct DemoRun<'a> {
    /// The `trialink` binary.
    pub exe: &'a Path,
    /// Directory for the run (its `work/` data is regenerated).
    pub out: &'a Path,
    /// People in the synthetic population (at least 1000).
    pub people: u64,
    /// Seed for the population, keys and every random choice.
    pub seed: u64,
    /// What the parties read.
    pub assets: &'a Assets<'a>,
}

impl DemoRun<'_> {
    /// Carry out every step, telling `say` each party's line, each command
    /// and its output (less test-only key warnings), then the uptake by arm
    /// as published and where everything is; `TRANSCRIPT.txt` in `out`
    /// keeps the parties' lines, the commands and the summary.
    pub fn run(&self, say: &mut dyn FnMut(Say)) -> Result<(), DemoError> {
        if self.people < 1000 {
            return Err(DemoError::People);
        }
        let started = Instant::now();
        demo::fresh_dir(&self.out.join("work")).map_err(DemoError::Dir)?;
        let mut transcript = String::new();
        for step in demo::script(self.out, self.people, self.seed, self.assets) {
            match &step {
                Step::Say { party, what } => tell(say, &mut transcript, format!("\n[{party}] {what}")),
                Step::Run(args) => {
                    let shown: Vec<String> = args
                        .iter()
                        .map(|a| {
                            if a.contains(' ') {
                                format!("\"{a}\"")
                            } else {
                                a.clone()
                            }
                        })
                        .collect();
                    let shown = shown.join(" ");
                    say(Say::Figure(format!("  $ trialink {shown}")));
                    transcript.push_str(&format!("    $ trialink {shown}\n"));
                    for l in self.run_trialink(args)? {
                        say(Say::Figure(format!("    {l}")));
                    }
                }
                Step::MasterKey(path) => keyfile::write_new(path, &demo_master(self.seed), None, AS_OF, true)
                    .map_err(|source| DemoError::KeyFile {
                        path: path.clone(),
                        source,
                    })?,
                file_step => {
                    demo::perform(file_step, self.seed).map_err(DemoError::Step)?;
                }
            }
        }
        if let Ok(text) = std::fs::read_to_string(self.out.join("report/uptake_by_arm.csv")) {
            let line = "\n[summary] uptake by SWAT arm, as published";
            tell(say, &mut transcript, line.into());
            for l in text.lines() {
                say(Say::Figure(format!("    {}", l.replace(',', "  "))));
            }
        }
        let summary = demo::summary(self.out, started.elapsed().as_secs_f64());
        say(Say::Figure(summary.clone()));
        transcript.push_str(&summary);
        std::fs::write(self.out.join("TRANSCRIPT.txt"), &transcript).map_err(DemoError::Transcript)
    }

    /// Run `trialink <args>`; its output lines (stdout, then stderr) less
    /// test-only key warnings, or the step's failure.
    fn run_trialink(&self, args: &[String]) -> Result<Vec<String>, DemoError> {
        let o = Command::new(self.exe)
            .args(args)
            .output()
            .map_err(|source| DemoError::Spawn {
                exe: self.exe.to_path_buf(),
                source,
            })?;
        let stdout = String::from_utf8_lossy(&o.stdout);
        let stderr = String::from_utf8_lossy(&o.stderr);
        if !o.status.success() {
            return Err(DemoError::StepFailed {
                command: args.first().cloned().unwrap_or_default(),
                status: o.status,
                output: format!("{stdout}{stderr}"),
            });
        }
        Ok(stdout
            .lines()
            .chain(stderr.lines())
            .filter(|l| !l.starts_with("warning: ") || !l.contains("test-only"))
            .map(str::to_string)
            .collect())
    }
}
