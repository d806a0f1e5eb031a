//! `trialink invite` (not built yet).

use crate::error::{CliError, CliResult};

/// Options for `trialink invite`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> CliResult {
    Err(CliError::new("`trialink invite` is not built yet"))
}
