//! `trialink keys generate|derive|fingerprint` (DESIGN §4.1).

use crate::error::{CliError, CliResult};
use pseudonym::keyfile::{self, KeyFile};
use pseudonym::{Key, Scope};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `trialink keys` subcommands.
#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Generate a new 256-bit key from the OS random generator.
    ///
    /// The file is created with mode 0600 and never overwritten. Its comment
    /// lines give the creation time, the scope (if any) and the fingerprint.
    #[command(
        after_help = "Example:\n  trialink keys generate --out service-master.key --scope service:master"
    )]
    Generate {
        /// Where to write the key (must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// A scope label recorded in the file (e.g. `service:master`).
        #[arg(long, value_name = "LABEL")]
        scope: Option<String>,
    },
    /// Derive a scope key from a master key (HKDF-SHA256).
    ///
    /// Hand the derived key to the counterparty over a secure channel; tokens
    /// under different scopes cannot be joined.
    #[command(
        after_help = "Example:\n  trialink keys derive --from service-master.key --scope registry:bpor --out bpor.key"
    )]
    Derive {
        /// The master key file.
        #[arg(long, value_name = "MASTER")]
        from: PathBuf,
        /// The scope, e.g. `trial:galleri-2` or `registry:bpor`.
        #[arg(long)]
        scope: String,
        /// Where to write the derived key (must not exist).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Print a key file's fingerprint (safe to publish) and scope.
    #[command(after_help = "Example:\n  trialink keys fingerprint bpor.key")]
    Fingerprint {
        /// The key file.
        file: PathBuf,
    },
}

/// Read a key file, turning every failure into a clear CLI error that names
/// the file and a line number, never the key.
pub fn load(path: &Path) -> Result<KeyFile, CliError> {
    let kf = keyfile::read(path)
        .map_err(|e| CliError::new(format!("key file {}: {e}", path.display())).hint(e.hint()))?;
    if kf.test_only {
        eprintln!(
            "warning: {} is labelled test-only: never use it for real data",
            path.display()
        );
    }
    Ok(kf)
}

/// Parse a scope label with a hint on the grammar.
pub fn parse_scope(s: &str) -> Result<Scope, CliError> {
    Scope::new(s).map_err(|e| {
        CliError::new(format!("invalid scope: {e}"))
            .hint("scopes look like `trial:galleri-2`, `registry:bpor`, `service:store`")
    })
}

fn write(path: &Path, key: &Key, scope: Option<&Scope>) -> Result<(), CliError> {
    keyfile::write_new(path, key, scope, &tabular::now_rfc3339(), false)
        .map_err(|e| CliError::new(format!("key file {}: {e}", path.display())).hint(e.hint()))
}

pub fn run(c: KeysCommand) -> CliResult {
    match c {
        KeysCommand::Generate { out, scope } => {
            let scope = scope.as_deref().map(parse_scope).transpose()?;
            let key = Key::generate()
                .map_err(|_| CliError::new("the operating system's random generator failed"))?;
            write(&out, &key, scope.as_ref())?;
            eprintln!("wrote {} (mode 0600)", out.display());
            outln!("{}", key.fingerprint());
        }
        KeysCommand::Derive { from, scope, out } => {
            let scope = parse_scope(&scope)?;
            let master = load(&from)?;
            let key = master.key.derive(&scope);
            write(&out, &key, Some(&scope))?;
            eprintln!("wrote {} for scope {scope} (mode 0600)", out.display());
            outln!("{}", key.fingerprint());
        }
        KeysCommand::Fingerprint { file } => {
            let kf = load(&file)?;
            match &kf.scope {
                Some(s) => outln!("{}  scope {s}", kf.key.fingerprint()),
                None => outln!("{}", kf.key.fingerprint()),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
