//! `trialink filter build|check`: exchangeable Bloom filters of tokens
//! (TLBF v1, DESIGN §4.5).

use crate::cmd::pseudonymise::{sidecar, tab_err};
use crate::error::{CliError, CliResult, Context};
use bloom::tlbf::{fingerprint_bytes, Tlbf};
use pseudonym::Token;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tabular::{
    sidecar_path, AtomicOutput, FileRecord, KeyRecord, Manifest, OutputMode, Rejects, RowCounts, Source,
};

/// `trialink filter` subcommands.
#[derive(clap::Subcommand)]
pub enum FilterCommand {
    /// Build a TLBF filter from a token file.
    ///
    /// Reads the `token` column of a token file (duplicates counted once) and
    /// writes a TLBF v1 filter sized for the number of distinct tokens at the
    /// false-positive rate asked for. The header records the fingerprint of
    /// the key the tokens were made with: taken from `--key`, `--fingerprint`,
    /// or the token file's manifest. Rows without a valid token go to
    /// `<output>.rejects.csv`.
    #[command(after_help = "Example:\n  \
trialink filter build --tokens objections.tokens.csv --fpr 0.001 --output noncontact.tlbf\n\n\
A false positive only ever errs towards not contacting someone.")]
    Build(BuildArgs),
    /// Check which tokens of a token file a TLBF filter contains.
    ///
    /// Writes `token,in_filter` (1 or 0) for every row, then any `--keep`
    /// columns. Refuses a filter whose key fingerprint differs from the token
    /// file's manifest.
    #[command(after_help = "Example:\n  \
trialink filter check --filter noncontact.tlbf --tokens cohort.tokens.csv --output cohort.checked.csv")]
    Check(CheckArgs),
}

/// Options for `trialink filter build`.
#[derive(clap::Args)]
pub struct BuildArgs {
    /// Token file (CSV with a `token` column; `-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub tokens: String,
    /// Target false-positive rate, e.g. 0.001.
    #[arg(long, value_name = "P")]
    pub fpr: f64,
    /// The TLBF file to write. Must not exist unless --force.
    #[arg(long, value_name = "FILE")]
    pub output: String,
    /// The token column (default `token`).
    #[arg(long, value_name = "NAME")]
    pub column: Option<String>,
    /// Key fingerprint for the header (16 hex characters).
    #[arg(long, value_name = "HEX", conflicts_with = "key")]
    pub fingerprint: Option<String>,
    /// The key the tokens were made with (only its fingerprint is used).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
    /// Where to write the manifest (default `<output>.manifest.json`).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
}

/// Options for `trialink filter check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// The TLBF filter.
    #[arg(long, value_name = "FILE")]
    pub filter: PathBuf,
    /// Token file to check (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub tokens: String,
    /// Where to write `token,in_filter` (`-` for stdout).
    #[arg(long, value_name = "FILE")]
    pub output: String,
    /// The token column (default `token`).
    #[arg(long, value_name = "NAME")]
    pub column: Option<String>,
    /// A column to pass through. Repeat for several.
    #[arg(long, value_name = "COLUMN")]
    pub keep: Vec<String>,
    /// Check even though the token file's manifest names a different key.
    #[arg(long)]
    pub ignore_fingerprint: bool,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
    /// Where to write the manifest (default `<output>.manifest.json`).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
}

pub fn run(c: FilterCommand) -> CliResult {
    match c {
        FilterCommand::Build(a) => build(a),
        FilterCommand::Check(a) => check(a),
    }
}

/// The key fingerprint recorded in a token file's manifest, if there is one.
fn manifest_fingerprint(tokens: &str) -> Result<Option<String>, CliError> {
    if tokens == "-" {
        return Ok(None);
    }
    let p = sidecar_path(Path::new(tokens), ".manifest.json");
    if !p.exists() {
        return Ok(None);
    }
    Ok(Manifest::read(&p).map_err(tab_err)?.key_fingerprint)
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

fn build(a: BuildArgs) -> CliResult {
    let mut manifest = Manifest::new("filter build", env!("CARGO_PKG_VERSION"));
    if !(a.fpr > 0.0 && a.fpr < 1.0) {
        return Err(CliError::new("--fpr must be between 0 and 1 (exclusive)").hint("e.g. --fpr 0.001"));
    }
    let from_manifest = manifest_fingerprint(&a.tokens)?;
    let (fp_hex, key_rec) = match (&a.fingerprint, &a.key, &from_manifest) {
        (Some(f), _, _) => (f.to_ascii_lowercase(), None),
        (None, Some(k), _) => {
            let kf = crate::cmd::keys::load(k)?;
            let fp = kf.key.fingerprint().to_string();
            (
                fp.clone(),
                Some(KeyRecord {
                    role: "token".into(),
                    scope: kf.scope.as_ref().map(|s| s.to_string()),
                    fingerprint: fp,
                }),
            )
        }
        (None, None, Some(m)) => (m.clone(), None),
        (None, None, None) => {
            return Err(CliError::new("no key fingerprint for the filter header").hint(
                "pass --key FILE or --fingerprint HEX, or keep the token file's .manifest.json beside it",
            ))
        }
    };
    if let Some(m) = &from_manifest {
        if *m != fp_hex {
            return Err(CliError::new(format!(
                "the token file's manifest names key {m}, but the filter would say {fp_hex}"
            ))
            .hint("use the key the tokens were made with"));
        }
    }
    let fp = fingerprint_bytes(&fp_hex).map_err(|e| CliError::new(format!("--fingerprint: {e}")))?;

    let mut src = Source::open(&a.tokens).context("tokens")?;
    let col = src
        .column(a.column.as_deref(), &["token"], "token")
        .map_err(tab_err)?;
    let header = src.header().to_vec();
    let mode = if a.force {
        OutputMode::Replace
    } else {
        OutputMode::New
    };
    let manifest_path = sidecar(&a.output, a.manifest.as_deref(), ".manifest.json");
    let rejects_path = sidecar(&a.output, None, ".rejects.csv");
    let mut out = AtomicOutput::create(&a.output, mode).map_err(tab_err)?;
    let mut rejects = Rejects::create(rejects_path, OutputMode::Replace).map_err(tab_err)?;
    let mut tokens: Vec<[u8; 32]> = Vec::new();
    let mut rec = csv::ByteRecord::new();
    let mut rows_ok = 0u64;
    while src.read(&mut rec).map_err(tab_err)? {
        let line = src.position().line;
        if rec.len() != header.len() {
            rejects.add(line, "", "ragged_row").map_err(tab_err)?;
            continue;
        }
        let cell = &rec[col];
        if cell.is_empty() {
            rejects
                .add(line, &header[col], "missing_token")
                .map_err(tab_err)?;
            continue;
        }
        match Token::from_hex_bytes(cell) {
            Ok(t) => {
                tokens.push(t.0);
                rows_ok += 1;
            }
            Err(_) => rejects.add(line, &header[col], "bad_token").map_err(tab_err)?,
        }
    }
    tokens.sort_unstable();
    tokens.dedup();
    let filter = Tlbf::build(tokens.iter(), a.fpr, fp).map_err(|e| CliError::new(format!("--fpr: {e}")))?;
    out.write_all(&filter.to_bytes())
        .map_err(|e| CliError::new(format!("{}: cannot write: {e}", a.output)))?;
    let input = src.finish().map_err(tab_err)?;
    let pending = out.finish().map_err(tab_err)?;
    let rej = rejects.finish().map_err(tab_err)?;
    manifest.option("tokens", a.tokens.clone());
    manifest.option("output", a.output.clone());
    manifest.option("fpr", a.fpr);
    manifest.key_fingerprint = Some(fp_hex.clone());
    if let Some(k) = key_rec {
        manifest.keys.push(k);
    }
    manifest.extra.insert("tlbf".into(), serde_json::json!({ "n": filter.n(), "m": filter.m(), "k": filter.k(), "estimated_fpr": filter.estimated_fpr() }));
    manifest.inputs.push(FileRecord::input("tokens", &input));
    manifest
        .outputs
        .push(FileRecord::output("filter", pending.summary(), None));
    if let Some(p) = &rej.pending {
        manifest
            .outputs
            .push(FileRecord::output("rejects", p.summary(), Some(rej.total)));
    }
    manifest.rows = RowCounts {
        rows_in: input.rows,
        rows_out: rows_ok,
        rows_rejected: rej.total,
        rejected_by_reason: rej.by_reason.clone(),
    };
    if let Some(p) = rej.pending {
        p.persist().map_err(tab_err)?;
    }
    if let Some(mp) = &manifest_path {
        manifest.write(mp).map_err(tab_err)?;
    }
    pending.persist().map_err(tab_err)?;
    eprintln!(
        "filter of {} distinct tokens ({} rows, {} rejected): m = {} bits, k = {}, key {}",
        filter.n(),
        input.rows,
        rej.total,
        filter.m(),
        filter.k(),
        fp_hex
    );
    Ok(ExitCode::SUCCESS)
}

fn check(a: CheckArgs) -> CliResult {
    let mut manifest = Manifest::new("filter check", env!("CARGO_PKG_VERSION"));
    let filter = read_filter(&a.filter)?;
    if let Some(m) = manifest_fingerprint(&a.tokens)? {
        if m != filter.fingerprint_hex() && !a.ignore_fingerprint {
            return Err(CliError::new(format!(
                "the filter was made under key {}, the tokens under key {m}: they cannot be compared",
                filter.fingerprint_hex()
            ))
            .hint("make both under the same scope key (see `trialink keys derive`)"));
        }
    }
    let mut src = Source::open(&a.tokens).context("tokens")?;
    let col = src
        .column(a.column.as_deref(), &["token"], "token")
        .map_err(tab_err)?;
    let header = src.header().to_vec();
    let mut keep = Vec::new();
    for k in &a.keep {
        keep.push(src.column(Some(k), &[], k).map_err(tab_err)?);
    }
    let mode = if a.force {
        OutputMode::Replace
    } else {
        OutputMode::New
    };
    let manifest_path = sidecar(&a.output, a.manifest.as_deref(), ".manifest.json");
    let rejects_path = sidecar(&a.output, None, ".rejects.csv");
    let mut out = tabular::TableOutput::create(&a.output, mode).map_err(tab_err)?;
    let mut rejects = Rejects::create(rejects_path, OutputMode::Replace).map_err(tab_err)?;
    let mut w = csv::WriterBuilder::new().from_writer(Vec::with_capacity(1 << 16));
    let mut head = vec!["token", "in_filter"];
    for &k in &keep {
        head.push(&header[k]);
    }
    let _ = w.write_record(&head);
    let write_err = |e: std::io::Error| CliError::new(format!("{}: cannot write: {e}", a.output));
    let mut rec = csv::ByteRecord::new();
    let (mut rows_out, mut hits) = (0u64, 0u64);
    while src.read(&mut rec).map_err(tab_err)? {
        let line = src.position().line;
        if rec.len() != header.len() {
            rejects.add(line, "", "ragged_row").map_err(tab_err)?;
            continue;
        }
        let t = match Token::from_hex_bytes(&rec[col]) {
            Ok(t) => t,
            Err(_) => {
                let code = if rec[col].is_empty() {
                    "missing_token"
                } else {
                    "bad_token"
                };
                rejects.add(line, &header[col], code).map_err(tab_err)?;
                continue;
            }
        };
        let inside = filter.contains(&t.0);
        hits += inside as u64;
        let _ = w.write_field(t.to_hex());
        let _ = w.write_field(if inside { "1" } else { "0" });
        for &k in &keep {
            let _ = w.write_field(tabular::neutralise(&rec[k]));
        }
        let _ = w.write_record(None::<&[u8]>);
        rows_out += 1;
        if w.get_ref().len() > 1 << 20 {
            let full = std::mem::replace(
                &mut w,
                csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(Vec::with_capacity(1 << 16)),
            );
            out.write_all(&full.into_inner().unwrap_or_default())
                .map_err(write_err)?;
        }
    }
    out.write_all(&w.into_inner().unwrap_or_default())
        .map_err(write_err)?;
    let input = src.finish().map_err(tab_err)?;
    let pending = out.finish().map_err(tab_err)?;
    let rej = rejects.finish().map_err(tab_err)?;
    manifest.option("filter", a.filter.display().to_string());
    manifest.option("tokens", a.tokens.clone());
    manifest.option("output", a.output.clone());
    manifest.option(
        "keep",
        keep.iter().map(|&i| header[i].clone()).collect::<Vec<_>>(),
    );
    manifest.key_fingerprint = Some(filter.fingerprint_hex());
    manifest.extra.insert("in_filter".into(), hits.into());
    manifest.extra.insert("tlbf".into(), serde_json::json!({ "n": filter.n(), "m": filter.m(), "k": filter.k(), "estimated_fpr": filter.estimated_fpr() }));
    manifest.inputs.push(FileRecord::input("tokens", &input));
    manifest
        .outputs
        .push(FileRecord::output("checked", pending.summary(), Some(rows_out)));
    if let Some(p) = &rej.pending {
        manifest
            .outputs
            .push(FileRecord::output("rejects", p.summary(), Some(rej.total)));
    }
    manifest.rows = RowCounts {
        rows_in: input.rows,
        rows_out,
        rows_rejected: rej.total,
        rejected_by_reason: rej.by_reason.clone(),
    };
    if let Some(p) = rej.pending {
        p.persist().map_err(tab_err)?;
    }
    if let Some(mp) = &manifest_path {
        manifest.write(mp).map_err(tab_err)?;
    }
    pending.persist().map_err(tab_err)?;
    eprintln!(
        "checked {} tokens: {} in the filter (expected false-positive rate {:.2e}), {} rejected",
        rows_out,
        hits,
        filter.estimated_fpr(),
        rej.total
    );
    Ok(ExitCode::SUCCESS)
}
