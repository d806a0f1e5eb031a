//! `trialink audit` (not built yet).

use crate::error::{CliError, CliResult};

/// Options for `trialink audit`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> CliResult {
    Err(CliError::new("`trialink audit` is not built yet"))
}
