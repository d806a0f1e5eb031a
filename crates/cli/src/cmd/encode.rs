//! `trialink encode`: records → clkhash-compatible CLKs, with keyed blocking
//! keys when the schema defines blocking passes (formats: docs/formats.md).

use crate::args::{KeepArgs, OutputArgs};
use crate::error::{CliError, CliResult};
use crate::open;
use bloom::clk::run::{ClkRunError, EncodeRun, EncodeTo};
use std::path::PathBuf;
use std::process::ExitCode;

/// Options for `trialink encode` (the rows: `bloom::clk::row::RowEncoder`).
#[derive(clap::Args)]
#[command(after_help = include_str!("../../help/encode.txt"))]
#[command(group(clap::ArgGroup::new("secret_source").required(true).args(["secret_file", "key"])))]
pub struct Args {
    /// The linkage schema (clkhash v3 JSON).
    #[arg(long, value_name = "FILE")]
    pub schema: PathBuf,
    /// A file whose content (less one trailing newline) is the CLK secret.
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
    /// A trialink key file; the secret is derived from it (docs/formats.md, CLK secrets).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// The CSV to encode (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub input: String,
    #[command(flatten)]
    pub out: OutputArgs,
    #[command(flatten)]
    pub keep: KeepArgs,
    /// Do not write the `blocking` column even if the schema defines passes.
    #[arg(long)]
    pub no_blocking: bool,
}

pub fn run(a: Args) -> CliResult {
    let schema = open::load_schema(&a.schema)?;
    let (secret, key_rec) = open::load_secret(a.secret_file.as_deref(), a.key.as_deref())?;
    let run = EncodeRun::new(&a.schema, schema, &secret, env!("CARGO_PKG_VERSION")).map_err(clk_err)?;
    drop(secret);
    let (src, size) = open::input(&a.input, "input")?;
    let to = EncodeTo {
        input: &a.input,
        plan: a.out.plan(),
        keep: &a.keep.keep,
        blocking: !a.no_blocking,
        key: a.key.as_deref().zip(key_rec),
    };
    let pb = crate::progress::rows("encode", size);
    let line = run.run(src, to, &mut |b| pb.set_position(b)).map_err(clk_err)?;
    pb.finish_and_clear();
    eprintln!("{line}");
    Ok(ExitCode::SUCCESS)
}

fn clk_err(e: ClkRunError) -> CliError {
    CliError::new(&e).maybe_hint(e.hint())
}
