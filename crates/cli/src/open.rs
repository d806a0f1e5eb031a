//! Opening what commands are given by path: stores, key files, linkage
//! schemas, CLK secrets, filters; and parsing the options every identifier
//! command shares (`--as-of`, `--dob-format`, scopes). Each turns a library
//! error into a [`CliError`] naming the file, with a hint.

use crate::error::{CliError, Context};
use bloom::clk::{schema::Schema, ClkSecret};
use bloom::tlbf::Tlbf;
use pseudonym::keyfile::{self, KeyFile};
use pseudonym::{Date, DobFormat, DobFormats, Scope};
use std::path::Path;
use tabular::KeyRecord;

/// Open the store at `--store` or the default path (created on first use),
/// telling batches an interrupted run left behind.
pub fn open_store(p: Option<&Path>) -> Result<store::Store, CliError> {
    store::service::open(p, false, &mut crate::say).map_err(open_err)
}

/// Open an existing store (for commands that only add to what `invite`
/// recorded): a missing file is an error, not a new store.
pub fn open_existing_store(p: Option<&Path>) -> Result<store::Store, CliError> {
    store::service::open(p, true, &mut crate::say).map_err(open_err)
}

/// Refuse a master key other than the one the store was first used with.
pub fn bind_master(store: &mut store::Store, master: &pseudonym::Key) -> Result<(), CliError> {
    store.bind_master_key(master).map_err(open_err)
}

fn open_err(e: store::service::OpenError) -> CliError {
    CliError::new(&e).maybe_hint(e.hint())
}

/// Read a key file (errors name the file and a line number, never the
/// key), warning on stderr when it is labelled test-only.
pub fn load_key(path: &Path) -> Result<KeyFile, CliError> {
    keyfile::open(path, &mut |w| eprintln!("{w}")).map_err(key_err)
}

/// Load the service's master key (a scope key is refused).
pub fn load_master(p: &Path) -> Result<pseudonym::Key, CliError> {
    load_key(p)?.master(p).map_err(key_err)
}

/// Parse a scope label with a hint on the grammar.
pub fn parse_scope(s: &str) -> Result<Scope, CliError> {
    keyfile::parse_scope(s).map_err(key_err)
}

/// The scope of a key's tokens (see `KeyFile::token_scope`).
pub fn token_scope(kf: &KeyFile, given: Option<&str>) -> Result<Option<Scope>, CliError> {
    kf.token_scope(given).map_err(key_err)
}

fn key_err(e: keyfile::KeyUseError) -> CliError {
    CliError::new(&e).hint(e.hint())
}

/// Parse `--as-of`, defaulting to today (UTC).
pub fn as_of(opt: Option<&str>) -> Result<Date, CliError> {
    match opt {
        None => Ok(Date::today_utc()),
        Some(s) => Date::parse_iso(s).ok_or_else(|| {
            CliError::new("--as-of is not a date").hint("write it as YYYY-MM-DD, e.g. 2026-11-21")
        }),
    }
}

/// Parse `--dob-format` options.
pub fn dob_formats(patterns: &[String]) -> Result<DobFormats, CliError> {
    let v: Result<Vec<DobFormat>, _> = patterns.iter().map(|p| DobFormat::new(p)).collect();
    let v = v.map_err(|e| CliError::new(format!("--dob-format: {e}")).hint("e.g. --dob-format %d.%m.%Y"))?;
    Ok(DobFormats::custom(v))
}

/// `--dob-format` options, or the lenient defaults when none are given.
pub fn dob_formats_or_lenient(patterns: &[String]) -> Result<DobFormats, CliError> {
    match patterns {
        [] => Ok(DobFormats::lenient()),
        _ => dob_formats(patterns),
    }
}

/// Load and parse a linkage schema, with the file name in errors; returns
/// the schema and the SHA-256 of its bytes.
pub fn load_schema(path: &Path) -> Result<(Schema, String), CliError> {
    Schema::read_file(path).map_err(|e| {
        let hint = e.hint();
        CliError::new(e).maybe_hint(hint)
    })
}

/// The CLK secret from `--secret-file` or `--key`, with a key record for the manifest.
pub fn load_secret(
    secret_file: Option<&Path>,
    key: Option<&Path>,
) -> Result<(ClkSecret, Option<KeyRecord>), CliError> {
    match (secret_file, key) {
        (Some(p), None) => Ok((
            ClkSecret::read_nonempty(p).map_err(|e| CliError::new(&e).maybe_hint(e.hint()))?,
            None,
        )),
        (None, Some(k)) => {
            let kf = load_key(k)?;
            Ok((
                ClkSecret::from_trialink_key(kf.key.expose_secret()),
                Some(kf.record("clk")),
            ))
        }
        _ => Err(CliError::new("give exactly one of --secret-file and --key")),
    }
}

/// Read a TLBF file with the path in errors. The header's parameters
/// (`k` ≤ 64, `m` ≤ 2^34) and the file's length against the declared `m` are
/// checked before the bitmap is read or allocated.
pub fn read_filter(path: &Path) -> Result<Tlbf, CliError> {
    Tlbf::read_file(path).map_err(|e| {
        CliError::new(format!("filter {}: {e}", path.display())).hint(
            "ask the sender for the file again; a TLBF file is checked end to end by its SHA-256 trailer",
        )
    })
}

/// Open an input CSV (`-` for stdin), with its size for a progress bar;
/// errors start with `what` (e.g. `input`).
pub fn input(path: &str, what: &str) -> Result<(tabular::Source, Option<u64>), CliError> {
    let src = tabular::Source::open(path).context(what)?;
    let size = (path != "-")
        .then(|| std::fs::metadata(path).ok().map(|m| m.len()))
        .flatten();
    Ok((src, size))
}
