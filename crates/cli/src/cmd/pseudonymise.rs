//! `trialink pseudonymise`: NHS number + date of birth → keyed tokens
//! (formats: docs/formats.md, tokens and manifests).

use crate::args::{IdentifierArgs, KeepArgs, OutputArgs};
use crate::error::{CliError, CliResult};
use crate::open;
use pseudonym::PseudonymiseRun;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options for `trialink pseudonymise` (the rows: `pseudonym::TokenRows`).
#[derive(clap::Args)]
#[command(after_help = include_str!("../../help/pseudonymise.txt"))]
pub struct Args {
    /// The scope key file (from `trialink keys derive`).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The CSV to pseudonymise (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub input: String,
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub ids: IdentifierArgs,
    /// Also write `nhs_token` (HMAC of the NHS number alone).
    #[arg(long)]
    pub with_nhs_token: bool,
    #[command(flatten)]
    pub keep: KeepArgs,
    /// Add a `clk` column encoded with this linkage schema (clkhash v3).
    #[arg(long, value_name = "FILE")]
    pub clk_schema: Option<PathBuf>,
    /// The key's scope, when the key file does not name one.
    #[arg(long)]
    pub scope: Option<String>,
    /// Write rows whose NHS number and date of birth are BOTH blank with an
    /// empty token instead of rejecting them (e.g. uptake feedback rows that
    /// carry only an invitation reference). Counted in the manifest.
    #[arg(long)]
    pub allow_blank: bool,
}

pub fn run(a: Args) -> CliResult {
    let kf = open::load_key(&a.key)?;
    let scope = open::token_scope(&kf, a.scope.as_deref())?;
    let run = PseudonymiseRun {
        key: &kf.key,
        key_path: &a.key,
        scope: scope.as_ref(),
        as_of: open::as_of(a.ids.as_of.as_deref())?,
        formats: open::dob_formats(&a.ids.dob_format)?,
        input: &a.input,
        plan: a.out.plan(),
        nhs_column: a.ids.nhs_column.as_deref(),
        dob_column: a.ids.dob_column.as_deref(),
        keep: &a.keep.keep,
        with_nhs_token: a.with_nhs_token,
        allow_blank: a.allow_blank,
        version: env!("CARGO_PKG_VERSION"),
    };
    let (src, size) = open::input(&a.input, "input")?;
    let clk = |header: &[String], manifest: &mut tabular::Manifest| -> Result<_, CliError> {
        let Some(path) = &a.clk_schema else {
            return Ok(None);
        };
        let cells = bloom::clk::run::token_clk_cells(path, &kf.key, header, manifest);
        cells
            .map(Some)
            .map_err(|e| CliError::new(&e).maybe_hint(e.hint()))
    };
    let pb = crate::progress::rows("pseudonymise", size);
    let lines = run.run(src, clk, |bytes_read| pb.set_position(bytes_read))?;
    pb.finish_and_clear();
    lines.iter().for_each(|l| eprintln!("{l}"));
    Ok(ExitCode::SUCCESS)
}
