//! `trialink synth` (not built yet).

use crate::error::{CliError, CliResult};

/// Options for `trialink synth`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> CliResult {
    Err(CliError::new("`trialink synth` is not built yet"))
}
