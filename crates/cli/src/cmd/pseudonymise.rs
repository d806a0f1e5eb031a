//! `trialink pseudonymise`: NHS number + date of birth → keyed tokens
//! (formats: docs/formats.md, tokens and manifests).

use crate::args::{IdentifierArgs, KeepArgs, OutputArgs};
use crate::error::{CliError, CliResult};
use crate::open;
use pseudonym::{Pseudonymiser, TokenColumns, TokenKey, TokenRows};
use std::path::PathBuf;
use std::process::ExitCode;
use tabular::{columns, Manifest, RowCells, RunOutputs};

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
    let mut manifest = Manifest::new("pseudonymise", env!("CARGO_PKG_VERSION"));
    let kf = open::load_key(&a.key)?;
    let scope = open::token_scope(&kf, a.scope.as_deref())?;
    let as_of = open::as_of(a.ids.as_of.as_deref())?;
    let formats = open::dob_formats(&a.ids.dob_format)?;

    let (mut src, size) = open::input(&a.input, "input")?;
    let nhs = src.column(a.ids.nhs_column.as_deref(), columns::NHS_NUMBER, "NHS number")?;
    let dob = src.column(
        a.ids.dob_column.as_deref(),
        columns::DATE_OF_BIRTH,
        "date of birth",
    )?;
    let header = src.header().to_vec();
    let clk = match &a.clk_schema {
        None => None,
        Some(path) => Some(
            bloom::clk::run::token_clk_cells(path, &kf.key, &header, &mut manifest)
                .map_err(|e| CliError::new(&e).maybe_hint(e.hint()))?,
        ),
    };
    let keep = src.keep_columns(&a.keep.keep, |i| {
        i == nhs || i == dob || clk.as_ref().is_some_and(|c| c.reads_column(i))
    })?;

    let mut run = RunOutputs::create(a.out.plan())?;
    let job = TokenRows {
        pseudonymiser: Pseudonymiser::new(TokenKey::new(&kf.key), formats, as_of, a.with_nhs_token),
        cols: TokenColumns {
            nhs,
            dob,
            keep,
            width: header.len(),
            allow_blank: a.allow_blank,
        },
        cells: clk,
    };
    let pb = crate::progress::rows("pseudonymise", size);
    let totals = job.run(&mut src, &mut run, |bytes_read| pb.set_position(bytes_read))?;
    pb.finish_and_clear();
    let input = src.finish()?;

    manifest.option("key", a.key.display().to_string());
    manifest.option("input", a.input.clone());
    manifest.option("output", a.out.output.clone());
    job.record(&totals, &header, &mut manifest);
    job.record_key(&kf.key, scope.as_ref(), as_of, &mut manifest);
    let done = run.commit(&mut manifest, ("input", &input), "tokens", totals.rows_out, true)?;
    debug_assert!(manifest.rows.balanced());
    eprintln!("{}", totals.summary(input.rows, &done));
    if let Some(mp) = &done.manifest {
        eprintln!("manifest: {}", mp.display());
    }
    Ok(ExitCode::SUCCESS)
}
