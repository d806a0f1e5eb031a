//! `trialink`: privacy-preserving record linkage and disclosure-controlled
//! reporting for a clinical-trial recruitment service.
//!
//! This binary is thin: one module per subcommand under [`cmd`], each parsing
//! its options and calling the library crates, which hold all domain logic.
//!
//! Exit status: 0 success, 1 a check failed (e.g. `audit` found an unsafe
//! cell), 2 error (bad input, bad key, refused operation).

#![forbid(unsafe_code)]

/// `println!` that never panics: a closed pipe or a full disk on stdout ends
/// the informational output quietly (data outputs report their own write
/// errors through [`tabular::AtomicOutput`]).
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// Print a line a library run tells: notes to stderr, figures to stdout.
fn say(s: tabular::Say) {
    match s {
        tabular::Say::Note(l) => eprintln!("{l}"),
        tabular::Say::Figure(l) => outln!("{l}"),
    }
}

mod args;
mod cmd;
mod error;
mod open;
mod progress;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Privacy-preserving linkage and disclosure-controlled reporting for
/// clinical-trial recruitment.
///
/// Identifiers (NHS number, date of birth) are turned into keyed tokens at the
/// edge; only the final minimised invitation batch carries contact details.
#[derive(Parser)]
#[command(name = "trialink", version, about, long_about = None)]
#[command(after_help = "Exit status: 0 success, 1 a check failed, 2 error.\n\
Start with `trialink demo` to see every flow end to end.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Longest CSV row accepted, in bytes (every command reading a CSV). A
    /// longer row is an error at its line, found before it is held in memory.
    #[arg(long, global = true, value_name = "BYTES", default_value_t = tabular::DEFAULT_MAX_RECORD_BYTES)]
    max_record_bytes: usize,
}

// Parsed once per run; the size difference between variants is irrelevant.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Generate, derive and fingerprint keys.
    #[command(subcommand)]
    Keys(cmd::keys::KeysCommand),
    /// Turn NHS number + date of birth into keyed tokens.
    Pseudonymise(cmd::pseudonymise::Args),
    /// Encode records as clkhash-compatible CLKs (Bloom filters).
    Encode(cmd::encode::Args),
    /// Build or query exchangeable token filters (TLBF).
    #[command(subcommand)]
    Filter(cmd::filter::FilterCommand),
    /// Link two token/CLK files (exact tokens, then fuzzy CLKs).
    Link(cmd::link::Args),
    /// Compare a match file with ground truth: precision, recall, F1.
    Evaluate(cmd::evaluate::Args),
    /// Generate a synthetic population with realistic errors.
    Synth(cmd::synth::Args),
    /// Manage the service's non-contact list.
    #[command(subcommand)]
    Noncontact(cmd::noncontact::NoncontactCommand),
    /// Build a minimised, suppressed, quota-meeting invitation batch.
    Invite(cmd::invite::Args),
    /// Record a trial's uptake feedback.
    Uptake(cmd::uptake::Args),
    /// Record the mailer's return-to-sender file.
    Returns(cmd::returns::Args),
    /// Produce disclosure-controlled reports for a study.
    Report(cmd::report::Args),
    /// Audit published tables for disclosure risk.
    Audit(cmd::audit::Args),
    /// Run every flow end to end on synthetic data.
    Demo(cmd::demo::Args),
    /// Manage the study register (approvals, routes, retention).
    #[command(subcommand)]
    Study(cmd::study::StudyCommand),
}

/// The `--format` of the commands that read and write tables.
fn table_format(c: &Command) -> Option<tabular::Format> {
    match c {
        Command::Pseudonymise(a) => a.out.format.get(),
        Command::Encode(a) => a.out.format.get(),
        Command::Link(a) => a.format.get(),
        Command::Filter(cmd::filter::FilterCommand::Build(a)) => a.format.get(),
        Command::Filter(cmd::filter::FilterCommand::Check(a)) => a.format.get(),
        Command::Invite(a) => a.format.get(),
        _ => None,
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    tabular::set_default_limits(tabular::Limits {
        max_record_bytes: cli.max_record_bytes,
        max_columns: tabular::DEFAULT_MAX_COLUMNS,
    });
    tabular::set_default_format(table_format(&cli.command));
    let result = match cli.command {
        Command::Keys(c) => cmd::keys::run(c),
        Command::Pseudonymise(a) => cmd::pseudonymise::run(a),
        Command::Encode(a) => cmd::encode::run(a),
        Command::Filter(c) => cmd::filter::run(c),
        Command::Link(a) => cmd::link::run(a),
        Command::Evaluate(a) => cmd::evaluate::run(a),
        Command::Synth(a) => cmd::synth::run(a),
        Command::Noncontact(c) => cmd::noncontact::run(c),
        Command::Invite(a) => cmd::invite::run(a),
        Command::Uptake(a) => cmd::uptake::run(a),
        Command::Returns(a) => cmd::returns::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Audit(a) => cmd::audit::run(a),
        Command::Demo(a) => cmd::demo::run(a),
        Command::Study(c) => cmd::study::run(c),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            e.print();
            ExitCode::from(e.code)
        }
    }
}
