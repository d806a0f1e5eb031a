//! `trialink returns` (not built yet).

use crate::error::{CliError, CliResult};

/// Options for `trialink returns`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> CliResult {
    Err(CliError::new("`trialink returns` is not built yet"))
}
