//! `trialink pseudonymise` (not built yet).

use crate::error::{CliError, CliResult};

/// Options for `trialink pseudonymise`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> CliResult {
    Err(CliError::new("`trialink pseudonymise` is not built yet"))
}
