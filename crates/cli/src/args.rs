//! Option groups several commands share, flattened into their `Args`.

use crate::error::CliError;
use std::path::PathBuf;

/// The service store, which must exist.
#[derive(clap::Args, Debug)]
pub struct StoreArgs {
    /// The service store (default: $TRIALINK_STORE, else ./trialink-store.sqlite).
    #[arg(long, value_name = "DB")]
    pub store: Option<PathBuf>,
}

impl StoreArgs {
    /// Open the store, which must exist.
    pub fn open(&self) -> Result<store::Store, CliError> {
        crate::open::open_existing_store(self.store.as_deref())
    }
}

/// Where the identifying columns are and how dates of birth are written.
#[derive(clap::Args, Debug)]
pub struct IdentifierArgs {
    /// The NHS number column (default: found among nhs_number, nhs_no, nhsnumber, nhs).
    #[arg(long, value_name = "NAME")]
    pub nhs_column: Option<String>,
    /// The date-of-birth column (default: found among date_of_birth, dob, birth_date, dateofbirth).
    #[arg(long, value_name = "NAME")]
    pub dob_column: Option<String>,
    /// Date formats to accept instead of the command's defaults, in
    /// strftime notation with %Y %m %d, e.g. `%d.%m.%Y`. Repeat for several.
    #[arg(long = "dob-format", value_name = "FMT")]
    pub dob_format: Vec<String>,
    /// The as-of date (YYYY-MM-DD) against which dates of birth are checked (default: today, UTC).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
}

/// A data output and its sidecars.
#[derive(clap::Args, Debug)]
pub struct OutputArgs {
    /// The file to write (`-` for stdout). Must not exist unless --force.
    #[arg(long, value_name = "FILE")]
    pub output: String,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
    /// Where to write the manifest (default `<output>.manifest.json`; required for stdout to get one).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Where to write rejects (default `<output>.rejects.csv`).
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    #[command(flatten)]
    pub format: FormatArgs,
}

impl OutputArgs {
    /// The library's view of these options.
    pub fn plan(&self) -> tabular::OutputPlan<'_> {
        tabular::OutputPlan {
            output: &self.output,
            force: self.force,
            manifest: self.manifest.as_deref(),
            rejects: self.rejects.as_deref(),
        }
    }
}

/// The table format of inputs and outputs whose names do not say.
#[derive(clap::Args, Debug, Default)]
pub struct FormatArgs {
    /// Table format (csv or parquet) of every input and output whose name
    /// has no .csv, .parquet, .parq or .pq extension, and of `-`; a named
    /// extension always decides. Default: CSV. A file that is Parquet but
    /// would be read as CSV is refused. Rejects files are always CSV.
    #[arg(long, value_name = "FORMAT", value_parser = ["csv", "parquet"])]
    pub format: Option<String>,
}

impl FormatArgs {
    /// The format asked for, if any.
    pub fn get(&self) -> Option<tabular::Format> {
        self.format.as_deref().and_then(tabular::Format::parse)
    }
}

/// Columns passed through unchanged.
#[derive(clap::Args, Debug)]
pub struct KeepArgs {
    /// A column to pass through unchanged (never an identifying or encoded column). Repeat for several.
    #[arg(long, value_name = "COLUMN")]
    pub keep: Vec<String>,
}
