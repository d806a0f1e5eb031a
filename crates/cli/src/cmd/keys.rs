//! `trialink keys generate|derive|fingerprint` (key files: docs/formats.md).

use crate::error::{CliError, CliResult};
use crate::open::{load_key, open_existing_store, parse_scope};
use pseudonym::keyfile;
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
    /// under different scopes cannot be joined. A study registered in the
    /// store before its first data has a key secret there (destroyed when the
    /// study is purged): derive its `trial:<study>` key with `--store`.
    #[command(
        after_help = include_str!("../../help/keys_derive.txt")
    )]
    Derive {
        /// The service store, for a registered study's key (`trial:<study>` scopes).
        #[arg(long, value_name = "DB")]
        store: Option<PathBuf>,
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
        KeysCommand::Derive {
            from,
            scope,
            out,
            store,
        } => {
            let scope = parse_scope(&scope)?;
            let master = load_key(&from)?;
            if store.is_some() && !scope.as_str().starts_with("trial:") {
                return Err(
                    CliError::new(format!("--store applies to trial:<study> scopes, not {scope}"))
                        .hint("drop --store for registry and service scopes"),
                );
            }
            let mut db = store
                .as_deref()
                .map(|p| open_existing_store(Some(p)))
                .transpose()?;
            if let Some(db) = db.as_mut() {
                crate::open::bind_master(db, &master.key)?;
            }
            let (key, note) = store::service::scope_key(db.as_ref(), &master.key, &scope).map_err(|e| {
                CliError::new(e).hint("a purged study's key is destroyed; it cannot be derived again")
            })?;
            note.iter().for_each(|n| eprintln!("{n}"));
            write(&out, &key, Some(&scope))?;
            eprintln!("wrote {} for scope {scope} (mode 0600)", out.display());
            outln!("{}", key.fingerprint());
        }
        KeysCommand::Fingerprint { file } => {
            let kf = load_key(&file)?;
            match &kf.scope {
                Some(s) => outln!("{}  scope {s}", kf.key.fingerprint()),
                None => outln!("{}", kf.key.fingerprint()),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
