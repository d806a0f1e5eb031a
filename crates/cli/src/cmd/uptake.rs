//! `trialink uptake` (not built yet).

use crate::error::{CliError, CliResult};

/// Options for `trialink uptake`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> CliResult {
    Err(CliError::new("`trialink uptake` is not built yet"))
}
