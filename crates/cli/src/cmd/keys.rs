//! `trialink keys` (not built yet).

use crate::error::{CliError, CliResult};

/// `trialink keys` subcommands.
#[derive(clap::Subcommand)]
pub enum KeysCommand {}

pub fn run(_c: KeysCommand) -> CliResult {
    Err(CliError::new("`trialink keys` is not built yet"))
}
