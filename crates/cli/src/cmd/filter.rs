//! `trialink filter build|check`: exchangeable Bloom filters of tokens
//! (TLBF v1, docs/formats.md).

use crate::error::{CliError, CliResult};
use crate::open;
use bloom::tlbf::{fingerprint_bytes, Tlbf};
use std::path::PathBuf;
use std::process::ExitCode;
use suppression::filter_rows::{read_tokens, FilterCheck};
use tabular::{KeyRecord, Manifest, OutputPlan, RunOutputs};

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
    #[command(flatten)]
    pub format: crate::args::FormatArgs,
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
    /// Build even though the token file's manifest records rejected rows
    /// (the count is kept in the filter's manifest, and `invite` still
    /// refuses such a filter as an enrolled list).
    #[arg(long)]
    pub allow_source_rejects: bool,
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
    #[command(flatten)]
    pub format: crate::args::FormatArgs,
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

/// The filter's parameters, for the manifest.
fn describe(filter: &Tlbf) -> serde_json::Value {
    serde_json::json!({ "n": filter.n(), "m": filter.m(), "k": filter.k(), "estimated_fpr": filter.estimated_fpr() })
}

/// The key fingerprint for a filter's header, and the key's record: from
/// `--fingerprint`, `--key`, or the token file's manifest, which must agree.
fn header_fingerprint(a: &BuildArgs) -> Result<(String, Option<KeyRecord>), CliError> {
    let from_manifest = open::manifest_fingerprint(&a.tokens)?;
    let (fp_hex, key_rec) = match (&a.fingerprint, &a.key, &from_manifest) {
        (Some(f), _, _) => (f.to_ascii_lowercase(), None),
        (None, Some(k), _) => {
            let kf = open::load_key(k)?;
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
    Ok((fp_hex, key_rec))
}

/// Rows the token file's manifest records as rejected when it was made
/// (those people are missing from a filter built from it): refused unless
/// `--allow-source-rejects`.
fn source_rows_rejected(a: &BuildArgs) -> Result<u64, CliError> {
    let p = tabular::sidecar_path(std::path::Path::new(&a.tokens), ".manifest.json");
    if a.tokens == "-" || !p.exists() {
        return Ok(0);
    }
    let rejected = Manifest::read(&p)?.rows.rows_rejected;
    if rejected > 0 && !a.allow_source_rejects {
        return Err(CliError::new(format!(
            "{}: its manifest records {rejected} rejected row(s) when the tokens were made: those people would be missing from the filter",
            a.tokens
        ))
        .hint("fix the rows at source (see the rejects file beside the token file) and make the tokens again, or pass --allow-source-rejects for a list where missing people do no harm (never an enrolled or objection list)"));
    }
    Ok(rejected)
}

fn build(a: BuildArgs) -> CliResult {
    let mut manifest = Manifest::new("filter build", env!("CARGO_PKG_VERSION"));
    if !(a.fpr > 0.0 && a.fpr < 1.0) {
        return Err(CliError::new("--fpr must be between 0 and 1 (exclusive)").hint("e.g. --fpr 0.001"));
    }
    let (fp_hex, key_rec) = header_fingerprint(&a)?;
    let source_rejected = source_rows_rejected(&a)?;
    let fp = fingerprint_bytes(&fp_hex).map_err(|e| CliError::new(format!("--fingerprint: {e}")))?;

    let (mut src, _) = open::input(&a.tokens, "tokens")?;
    let col = src.column(a.column.as_deref(), &["token"], "token")?;
    let mut run = RunOutputs::create(OutputPlan {
        output: &a.output,
        force: a.force,
        manifest: a.manifest.as_deref(),
        rejects: None,
    })?;
    let (tokens, rows_ok) = read_tokens(&mut src, col, run.rejects())?;
    let filter = Tlbf::build(tokens.iter(), a.fpr, fp).map_err(|e| CliError::new(format!("--fpr: {e}")))?;
    run.write(&filter.to_bytes())?;
    let input = src.finish()?;
    manifest.option("tokens", a.tokens.clone());
    manifest.option("output", a.output.clone());
    manifest.option("fpr", a.fpr);
    manifest.key_fingerprint = Some(fp_hex.clone());
    manifest.keys.extend(key_rec);
    manifest.extra.insert("tlbf".into(), describe(&filter));
    if source_rejected > 0 {
        manifest
            .extra
            .insert(suppression::SOURCE_ROWS_REJECTED.into(), source_rejected.into());
    }
    let done = run.commit(&mut manifest, ("tokens", &input), "filter", rows_ok, false)?;
    eprintln!(
        "filter of {} distinct tokens ({} rows, {} rejected): m = {} bits, k = {}, key {}",
        filter.n(),
        input.rows,
        done.rejected,
        filter.m(),
        filter.k(),
        fp_hex
    );
    Ok(ExitCode::SUCCESS)
}

fn check(a: CheckArgs) -> CliResult {
    let mut manifest = Manifest::new("filter check", env!("CARGO_PKG_VERSION"));
    let filter = open::read_filter(&a.filter)?;
    if let Some(m) = open::manifest_fingerprint(&a.tokens)? {
        if m != filter.fingerprint_hex() && !a.ignore_fingerprint {
            return Err(CliError::new(format!(
                "the filter was made under key {}, the tokens under key {m}: they cannot be compared",
                filter.fingerprint_hex()
            ))
            .hint("make both under the same scope key (see `trialink keys derive`)"));
        }
    }
    let (mut src, _) = open::input(&a.tokens, "tokens")?;
    let col = src.column(a.column.as_deref(), &["token"], "token")?;
    let header = src.header().to_vec();
    let keep = a
        .keep
        .iter()
        .map(|k| src.column(Some(k), &[], k))
        .collect::<Result<Vec<_>, _>>()?;
    let mut run = RunOutputs::create(OutputPlan {
        output: &a.output,
        force: a.force,
        manifest: a.manifest.as_deref(),
        rejects: None,
    })?;
    let job = FilterCheck {
        filter: &filter,
        col,
        keep,
        width: header.len(),
    };
    let (rows_out, hits) = job.run(&mut src, &mut run)?;
    let input = src.finish()?;
    manifest.option("filter", a.filter.display().to_string());
    manifest.option("tokens", a.tokens.clone());
    manifest.option("output", a.output.clone());
    manifest.option("keep", crate::args::KeepArgs::names(&job.keep, &header));
    manifest.key_fingerprint = Some(filter.fingerprint_hex());
    manifest.extra.insert("in_filter".into(), hits.into());
    manifest.extra.insert("tlbf".into(), describe(&filter));
    let done = run.commit(&mut manifest, ("tokens", &input), "checked", rows_out, true)?;
    eprintln!(
        "checked {} tokens: {} in the filter (expected false-positive rate {:.2e}), {} rejected",
        rows_out,
        hits,
        filter.estimated_fpr(),
        done.rejected
    );
    Ok(ExitCode::SUCCESS)
}
