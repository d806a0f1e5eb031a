//! `trialink evaluate` (not built yet).

use crate::error::{CliError, CliResult};

/// Options for `trialink evaluate`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> CliResult {
    Err(CliError::new("`trialink evaluate` is not built yet"))
}
