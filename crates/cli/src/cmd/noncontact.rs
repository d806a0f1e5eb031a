//! `trialink noncontact` (not built yet).

use crate::error::{CliError, CliResult};

/// `trialink noncontact` subcommands.
#[derive(clap::Subcommand)]
pub enum NoncontactCommand {}

pub fn run(_c: NoncontactCommand) -> CliResult {
    Err(CliError::new("`trialink noncontact` is not built yet"))
}
