//! `trialink encode`: records → clkhash-compatible CLKs, with keyed blocking
//! keys when the schema defines blocking passes (formats: docs/formats.md).

use crate::args::{KeepArgs, OutputArgs};
use crate::error::{CliError, CliResult};
use crate::open;
use bloom::clk::{row::RowEncoder, ClkEncoder};
use std::path::PathBuf;
use std::process::ExitCode;
use tabular::{CellRows, Manifest, RowCells, RunOutputs};

/// Options for `trialink encode` (the rows: `bloom::clk::row::RowEncoder`).
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
trialink encode --schema schema.json --secret-file clk.secret --input volunteers.csv --output volunteers.clk.csv --keep ref\n  \
trialink encode --schema schema.json --key registry.key --input volunteers.csv --output -\n\n\
Both parties must use the same schema and secret; with --key the secret is derived from the key.")]
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
    let mut manifest = Manifest::new("encode", env!("CARGO_PKG_VERSION"));
    let (schema, digest) = open::load_schema(&a.schema)?;
    let (secret, key_rec) = open::load_secret(a.secret_file.as_deref(), a.key.as_deref())?;
    let describe = schema.describe();
    let encoder = ClkEncoder::new(schema, &secret)
        .map_err(|e| CliError::new(format!("schema {}: {e}", a.schema.display())))?;
    drop(secret);

    let (mut src, size) = open::input(&a.input, "input")?;
    let header = src.header().to_vec();
    let cells = RowEncoder::bind(encoder, &header, !a.no_blocking).map_err(|missing| {
        CliError::new(format!(
            "{}: the schema's feature{} {} {} no column in the header ({})",
            a.input,
            if missing.len() == 1 { "" } else { "s" },
            missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "),
            if missing.len() == 1 { "has" } else { "have" },
            tabular::display_header(&header)
        ))
        .hint("rename the CSV columns to the schema's feature identifiers, or mark the features \"ignored\": true")
    })?;
    let keep = a.keep.resolve(&src, |i| cells.reads_column(i))?;
    let with_blocking = cells.blocking();

    let mut run = RunOutputs::create(a.out.plan())?;
    let job = CellRows {
        cells,
        keep,
        width: header.len(),
    };
    run.write(&job.header(&header))?;
    let pb = crate::progress::rows("encode", size);
    let mut rows_out = 0u64;
    tabular::run_ordered(&mut src, &job, |done, bytes_read| -> Result<(), CliError> {
        run.write_rows(done, &header)?;
        rows_out += done.rows_out;
        pb.set_position(bytes_read);
        Ok(())
    })?;
    pb.finish_and_clear();
    let input = src.finish()?;

    manifest.option("schema", a.schema.display().to_string());
    manifest.option(
        "secret_source",
        if a.key.is_some() { "key" } else { "secret-file" },
    );
    if let Some(k) = &a.key {
        manifest.option("key", k.display().to_string());
    }
    manifest.option("input", a.input.clone());
    manifest.option("output", a.out.output.clone());
    manifest.option("keep", KeepArgs::names(&job.keep, &header));
    manifest.option("blocking_column", with_blocking);
    manifest.extra.insert("clk_schema_sha256".into(), digest.into());
    manifest.extra.insert("clk_schema".into(), describe);
    manifest.keys.extend(key_rec);
    let done = run.commit(&mut manifest, ("input", &input), "clks", rows_out, true)?;
    eprintln!(
        "encoded {} rows: {} CLKs written, {} rejected{}",
        input.rows,
        rows_out,
        done.rejected,
        if done.rejected > 0 {
            format!(" ({})", done.reasons())
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}
