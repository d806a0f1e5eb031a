//! `trialink link` (not built yet).

use crate::error::{CliError, CliResult};

/// Options for `trialink link`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> CliResult {
    Err(CliError::new("`trialink link` is not built yet"))
}
