//! `trialink demo` (not built yet).

use crate::error::{CliError, CliResult};

/// Options for `trialink demo`.
#[derive(clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> CliResult {
    Err(CliError::new("`trialink demo` is not built yet"))
}
