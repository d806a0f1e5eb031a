//! `trialink filter` (not built yet).

use crate::error::{CliError, CliResult};

/// `trialink filter` subcommands.
#[derive(clap::Subcommand)]
pub enum FilterCommand {}

pub fn run(_c: FilterCommand) -> CliResult {
    Err(CliError::new("`trialink filter` is not built yet"))
}
