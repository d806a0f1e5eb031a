//! `trialink report` (not built yet).

use crate::error::{CliError, CliResult};

/// Options for `trialink report`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> CliResult {
    Err(CliError::new("`trialink report` is not built yet"))
}
