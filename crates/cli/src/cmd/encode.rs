//! `trialink encode` (not built yet).

use crate::error::{CliError, CliResult};

/// Options for `trialink encode`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> CliResult {
    Err(CliError::new("`trialink encode` is not built yet"))
}
