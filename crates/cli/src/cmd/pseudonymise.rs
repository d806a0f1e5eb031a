//! `trialink pseudonymise`: NHS number + date of birth → keyed tokens
//! (DESIGN §4.3, §4.4, §4.7).

use crate::cmd::keys;
use crate::error::{CliError, CliResult, Context};
use pseudonym::{Date, DobFormat, DobFormats, Pseudonymiser, RowField, TokenKey};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tabular::{
    sidecar_path, FileRecord, KeyRecord, Manifest, OutputMode, Rejects, RowCounts, Source, TableOutput,
};

/// Column names tried for the NHS number, case-insensitively.
pub const NHS_COLUMNS: &[&str] = &["nhs_number", "nhs_no", "nhsnumber", "nhs"];
/// Column names tried for the date of birth, case-insensitively.
pub const DOB_COLUMNS: &[&str] = &["date_of_birth", "dob", "birth_date", "dateofbirth"];

/// Options for `trialink pseudonymise`.
///
/// Reads a CSV with an NHS number and a date of birth column and writes a
/// token file: `token` (HMAC-SHA256 of NHS number + DOB under the key), then
/// `nhs_token` if asked, then the `--keep` columns. Rows with an invalid NHS
/// number or date are rejected by line and reason in `<output>.rejects.csv`;
/// `<output>.manifest.json` records the scope, key fingerprint, digests and
/// counts. The output appears only when the run succeeds.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
trialink pseudonymise --key bpor.key --input volunteers.csv --output volunteers.tokens.csv\n  \
trialink pseudonymise --key trial.key --input signups.csv --output - --keep reference --keep status\n\n\
Upload the output and its .manifest.json; never the input.")]
pub struct Args {
    /// The scope key file (from `trialink keys derive`).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The CSV to pseudonymise (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub input: String,
    /// The token file to write (`-` for stdout). Must not exist unless --force.
    #[arg(long, value_name = "FILE")]
    pub output: String,
    /// The NHS number column (default: found among nhs_number, nhs_no, nhsnumber).
    #[arg(long, value_name = "NAME")]
    pub nhs_column: Option<String>,
    /// The date-of-birth column (default: found among date_of_birth, dob, birth_date).
    #[arg(long, value_name = "NAME")]
    pub dob_column: Option<String>,
    /// Date formats to accept instead of the defaults (YYYY-MM-DD, YYYYMMDD,
    /// DD/MM/YYYY), in strftime notation with %Y %m %d, e.g. `%d.%m.%Y`.
    /// Repeat for several.
    #[arg(long = "dob-format", value_name = "FMT")]
    pub dob_format: Vec<String>,
    /// Also write `nhs_token` (HMAC of the NHS number alone).
    #[arg(long)]
    pub with_nhs_token: bool,
    /// A column to pass through unchanged (never the NHS number or DOB). Repeat for several.
    #[arg(long, value_name = "COLUMN")]
    pub keep: Vec<String>,
    /// Add a `clk` column encoded with this linkage schema (clkhash v3).
    #[arg(long, value_name = "FILE")]
    pub clk_schema: Option<PathBuf>,
    /// The as-of date (YYYY-MM-DD) against which dates of birth are checked (default: today, UTC).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// The key's scope, when the key file does not name one.
    #[arg(long)]
    pub scope: Option<String>,
    /// Write rows whose NHS number and date of birth are BOTH blank with an
    /// empty token instead of rejecting them (e.g. uptake feedback rows that
    /// carry only an invitation reference). Counted in the manifest.
    #[arg(long)]
    pub allow_blank: bool,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
    /// Where to write the manifest (default `<output>.manifest.json`; required for stdout to get one).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Where to write rejects (default `<output>.rejects.csv`).
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
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
    let mut v = Vec::new();
    for p in patterns {
        v.push(
            DobFormat::new(p).map_err(|e| {
                CliError::new(format!("--dob-format: {e}")).hint("e.g. --dob-format %d.%m.%Y")
            })?,
        );
    }
    Ok(DobFormats::custom(v))
}

/// The sidecar paths for an output: explicit, else beside a file output,
/// else none (stdout).
pub fn sidecar(output: &str, explicit: Option<&Path>, suffix: &str) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_path_buf()),
        None if output == "-" => None,
        None => Some(sidecar_path(Path::new(output), suffix)),
    }
}

pub fn run(a: Args) -> CliResult {
    let mut manifest = Manifest::new("pseudonymise", env!("CARGO_PKG_VERSION"));
    let kf = keys::load(&a.key)?;
    let scope = match (&kf.scope, &a.scope) {
        (Some(k), Some(o)) if k.as_str() != o => {
            return Err(
                CliError::new(format!("--scope {o} differs from the key file's scope {k}"))
                    .hint("drop --scope, or use the key derived for that scope"),
            )
        }
        (Some(k), _) => Some(k.clone()),
        (None, Some(o)) => Some(keys::parse_scope(o)?),
        (None, None) => None,
    };
    let as_of = as_of(a.as_of.as_deref())?;
    let formats = dob_formats(&a.dob_format)?;

    let mut src = Source::open(&a.input).context("input")?;
    let nhs_col = src
        .column(a.nhs_column.as_deref(), NHS_COLUMNS, "NHS number")
        .map_err(tab_err)?;
    let dob_col = src
        .column(a.dob_column.as_deref(), DOB_COLUMNS, "date of birth")
        .map_err(tab_err)?;
    let header = src.header().to_vec();
    let mut keep = Vec::with_capacity(a.keep.len());
    for k in &a.keep {
        let i = src.column(Some(k), &[], k).map_err(tab_err)?;
        let name = &header[i];
        let is_identifier = i == nhs_col
            || i == dob_col
            || NHS_COLUMNS
                .iter()
                .chain(DOB_COLUMNS)
                .any(|c| name.eq_ignore_ascii_case(c));
        if is_identifier {
            return Err(CliError::new(format!(
                "--keep {k}: that is an identifier column and never leaves the input"
            ))
            .hint("keep only non-identifying columns such as a reference or status"));
        }
        if keep.contains(&i) {
            return Err(CliError::new(format!("--keep {k} is given twice")));
        }
        keep.push(i);
    }

    let clk = match &a.clk_schema {
        None => None,
        Some(path) => Some(clk_part(path, &kf.key, &header, &keep, &mut manifest)?),
    };

    let mode = if a.force {
        OutputMode::Replace
    } else {
        OutputMode::New
    };
    let manifest_path = sidecar(&a.output, a.manifest.as_deref(), ".manifest.json");
    let rejects_path = sidecar(&a.output, a.rejects.as_deref(), ".rejects.csv");
    for p in manifest_path.iter().chain(rejects_path.iter()) {
        if mode == OutputMode::New && std::fs::symlink_metadata(p).is_ok() && Path::new(&a.output).exists() {
            return Err(
                CliError::new(format!("{}: already exists; refusing to overwrite", p.display()))
                    .hint("use --force to replace"),
            );
        }
    }
    let mut out = TableOutput::create(&a.output, mode).map_err(tab_err)?;
    let mut rejects = Rejects::create(rejects_path.clone(), OutputMode::Replace).map_err(tab_err)?;
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    let wr = |e: csv::Error| CliError::new(format!("{}: cannot write: {e}", a.output));
    let mut head: Vec<&[u8]> = vec![b"token"];
    if a.with_nhs_token {
        head.push(b"nhs_token");
    }
    if let Some(c) = &clk {
        head.push(b"clk");
        if c.blocking {
            head.push(b"blocking");
        }
    }
    for &i in &keep {
        head.push(header[i].as_bytes());
    }
    w.write_record(&head).map_err(wr)?;
    let write_err = |e: std::io::Error| CliError::new(format!("{}: cannot write: {e}", a.output));
    out.write_all(&w.into_inner().unwrap_or_default())
        .map_err(write_err)?;

    let worker = Pseudonymiser::new(TokenKey::new(&kf.key), formats.clone(), as_of, a.with_nhs_token);
    let total_bytes = if a.input == "-" {
        None
    } else {
        std::fs::metadata(&a.input).ok().map(|m| m.len())
    };
    let pb = crate::progress::rows("pseudonymise", total_bytes);
    let cols = Columns {
        nhs: nhs_col,
        dob: dob_col,
        keep: keep.clone(),
        width: header.len(),
        allow_blank: a.allow_blank,
        clk,
    };
    let mut blank_rows = 0u64;
    let mut clk_only: std::collections::BTreeMap<&'static str, u64> = Default::default();
    let rows_out = pipeline(&mut src, &worker, &cols, |done| {
        for &(line, col, code) in &done.rejects {
            let name = col.map(|c| header[c].as_str()).unwrap_or("");
            rejects.add(line, name, code).map_err(tab_err)?;
        }
        out.write_all(&done.out).map_err(write_err)?;
        blank_rows += done.blank_rows;
        for &(_, code) in &done.clk_only {
            *clk_only.entry(code).or_default() += 1;
        }
        pb.set_position(done.bytes_read);
        Ok(())
    })?;
    pb.finish_and_clear();

    let input = src.finish().map_err(tab_err)?;
    let pending = out.finish().map_err(tab_err)?;
    let rej = rejects.finish().map_err(tab_err)?;

    manifest.option("key", a.key.display().to_string());
    manifest.option("input", a.input.clone());
    manifest.option("output", a.output.clone());
    manifest.option("nhs_column", header[nhs_col].clone());
    manifest.option("dob_column", header[dob_col].clone());
    manifest.option("dob_formats", formats.patterns());
    manifest.option("with_nhs_token", a.with_nhs_token);
    manifest.option("allow_blank", a.allow_blank);
    if cols.clk.is_some() {
        let total: u64 = clk_only.values().sum();
        manifest.extra.insert("clk_only_rows".into(), total.into());
        manifest.extra.insert(
            "clk_only_by_reason".into(),
            serde_json::to_value(&clk_only).unwrap_or_default(),
        );
    }
    if a.allow_blank {
        manifest
            .extra
            .insert("blank_identifier_rows".into(), blank_rows.into());
    }
    manifest.option(
        "keep",
        keep.iter().map(|&i| header[i].clone()).collect::<Vec<_>>(),
    );
    manifest.as_of = Some(as_of.to_string());
    manifest.scope = scope.as_ref().map(|s| s.to_string());
    manifest.key_fingerprint = Some(kf.key.fingerprint().to_string());
    manifest.keys.push(KeyRecord {
        role: "token".into(),
        scope: manifest.scope.clone(),
        fingerprint: kf.key.fingerprint().to_string(),
    });
    manifest.inputs.push(FileRecord::input("input", &input));
    manifest
        .outputs
        .push(FileRecord::output("tokens", pending.summary(), Some(rows_out)));
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
    debug_assert!(manifest.rows.balanced());

    // Sidecars first, the output last: if the output exists, so do they.
    if let Some(p) = rej.pending {
        p.persist().map_err(tab_err)?;
    }
    if let Some(mp) = &manifest_path {
        manifest.write(mp).map_err(tab_err)?;
    }
    pending.persist().map_err(tab_err)?;

    let clk_only_total: u64 = clk_only.values().sum();
    let reasons = |m: &std::collections::BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut msg = format!("pseudonymised {} rows: {} written", input.rows, rows_out);
    if clk_only_total > 0 {
        let m = clk_only.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        msg.push_str(&format!(
            " ({clk_only_total} with a CLK but no token: {})",
            reasons(&m)
        ));
    }
    if blank_rows > 0 {
        msg.push_str(&format!(" ({blank_rows} with blank identifiers)"));
    }
    msg.push_str(&format!(", {} rejected", rej.total));
    if rej.total > 0 {
        msg.push_str(&format!(" ({})", reasons(&rej.by_reason)));
    }
    eprintln!("{msg}");
    if let Some(mp) = &manifest_path {
        eprintln!("manifest: {}", mp.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// A tabular error with its hint.
pub fn tab_err(e: tabular::TabularError) -> CliError {
    let hint = e.hint();
    let err = CliError::new(e);
    match hint {
        Some(h) => err.hint(h),
        None => err,
    }
}

/// Column positions a worker needs.
struct Columns {
    nhs: usize,
    dob: usize,
    keep: Vec<usize>,
    width: usize,
    allow_blank: bool,
    clk: Option<ClkPart>,
}

/// CLK encoding beside the tokens (`--clk-schema`).
struct ClkPart {
    encoder: bloom::clk::ClkEncoder,
    /// The CSV column of each schema feature.
    cols: Vec<Option<usize>>,
    blocking: bool,
}

/// Load the schema, derive the CLK secret from the token key (DESIGN §8),
/// bind the features to columns and record it all in the manifest.
fn clk_part(
    path: &Path,
    key: &pseudonym::Key,
    header: &[String],
    keep: &[usize],
    manifest: &mut Manifest,
) -> Result<ClkPart, CliError> {
    let (schema, digest) = crate::cmd::encode::load_schema(path)?;
    let describe = schema.describe();
    let secret = bloom::clk::ClkSecret::from_trialink_key(key.expose_secret());
    let encoder = bloom::clk::ClkEncoder::new(schema, &secret)
        .map_err(|e| CliError::new(format!("schema {}: {e}", path.display())))?;
    let cols = encoder.schema().bind_columns(header).map_err(|missing| {
        CliError::new(format!(
            "the CLK schema's features {} have no column in the input header",
            missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", ")
        ))
        .hint("rename the CSV columns to the schema's feature identifiers, or mark the features \"ignored\": true")
    })?;
    if let Some(&k) = keep.iter().find(|&&k| {
        cols.iter()
            .zip(&encoder.schema().features)
            .any(|(c, f)| *c == Some(k) && f.spec.is_some())
    }) {
        return Err(CliError::new(format!(
            "--keep {}: that column is encoded in the CLK and never leaves the input",
            header[k]
        )));
    }
    let blocking = !encoder.schema().hardening.blocking.is_empty();
    manifest.option("clk_schema", path.display().to_string());
    manifest.extra.insert("clk_schema_sha256".into(), digest.into());
    manifest.extra.insert(
        "clk_schema".into(),
        serde_json::to_value(describe).unwrap_or_default(),
    );
    manifest.keys.push(KeyRecord {
        role: "clk".into(),
        scope: None,
        fingerprint: key.fingerprint().to_string(),
    });
    Ok(ClkPart {
        encoder,
        cols,
        blocking,
    })
}

/// Rows read together and handed to a worker.
const BATCH: usize = 4096;

/// A batch of input records and their line numbers.
struct Batch {
    recs: Vec<csv::ByteRecord>,
    lines: Vec<u64>,
    len: usize,
    bytes_read: u64,
}

/// A processed batch: output bytes, rejects (line, column, reason), rows out.
struct Done {
    out: Vec<u8>,
    rejects: Vec<(u64, Option<usize>, &'static str)>,
    /// Rows written with a CLK but no token: (line, why the token failed).
    clk_only: Vec<(u64, &'static str)>,
    rows_out: u64,
    blank_rows: u64,
    bytes_read: u64,
    batch: Batch,
}

/// Tokenise one batch into CSV bytes.
fn work(
    p: &Pseudonymiser,
    cols: &Columns,
    batch: Batch,
    out: Vec<u8>,
    scratch: &mut bloom::clk::Scratch,
) -> Done {
    let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(out);
    let mut rejects = Vec::new();
    let mut clk_only = Vec::new();
    let (mut rows_out, mut blank_rows) = (0, 0);
    let mut values: Vec<&str> = Vec::new();
    'rows: for i in 0..batch.len {
        let rec = &batch.recs[i];
        let line = batch.lines[i];
        if rec.len() != cols.width {
            rejects.push((line, None, "ragged_row"));
            continue;
        }
        // The CLK first: a row without a usable NHS number may still link by it.
        let mut clk_fields: Option<(String, Option<String>)> = None;
        if let Some(c) = &cols.clk {
            values.clear();
            for col in &c.cols {
                match col {
                    Some(ci) => match std::str::from_utf8(&rec[*ci]) {
                        Ok(v) => values.push(v),
                        Err(_) => {
                            rejects.push((line, Some(*ci), "not_utf8"));
                            continue 'rows;
                        }
                    },
                    None => values.push(""),
                }
            }
            let col_of = |e: &bloom::clk::ValueError| {
                c.encoder
                    .schema()
                    .feature_index(&e.feature)
                    .and_then(|f| c.cols[f])
            };
            let bits = match c.encoder.encode_with(&values, scratch) {
                Ok(b) => b,
                Err(e) => {
                    rejects.push((line, col_of(&e), e.problem.code()));
                    continue;
                }
            };
            let blocking = if c.blocking {
                match c.encoder.blocking_keys(&values) {
                    Ok(b) => Some(b),
                    Err(e) => {
                        rejects.push((line, col_of(&e), e.problem.code()));
                        continue;
                    }
                }
            } else {
                None
            };
            clk_fields = Some((bloom::clk::to_base64(&bits, c.encoder.l()), blocking));
        }
        let blank = rec[cols.nhs].trim_ascii().is_empty() && rec[cols.dob].trim_ascii().is_empty();
        let tokens = if blank && cols.allow_blank {
            blank_rows += 1;
            None
        } else {
            match p.row(&rec[cols.nhs], &rec[cols.dob]) {
                Ok(t) => Some(t),
                Err(r) if clk_fields.is_some() => {
                    clk_only.push((line, r.code));
                    None
                }
                Err(r) => {
                    let col = match r.field {
                        RowField::Nhs => cols.nhs,
                        RowField::Dob => cols.dob,
                    };
                    rejects.push((line, Some(col), r.code));
                    continue;
                }
            }
        };
        // Writing to a Vec cannot fail.
        match &tokens {
            Some(t) => {
                let _ = w.write_field(t.token.to_hex());
                if let Some(n) = t.nhs_token {
                    let _ = w.write_field(n.to_hex());
                }
            }
            None => {
                let _ = w.write_field(b"");
                if p.with_nhs_token() {
                    let _ = w.write_field(b"");
                }
            }
        }
        if let Some((clk, blocking)) = &clk_fields {
            let _ = w.write_field(clk);
            if let Some(b) = blocking {
                let _ = w.write_field(b);
            }
        }
        for &k in &cols.keep {
            // A person may open a token file: defuse spreadsheet formulae.
            let _ = w.write_field(tabular::neutralise(&rec[k]));
        }
        let _ = w.write_record(None::<&[u8]>);
        rows_out += 1;
    }
    values.clear();
    let out = w.into_inner().unwrap_or_default();
    Done {
        out,
        rejects,
        clk_only,
        rows_out,
        blank_rows,
        bytes_read: batch.bytes_read,
        batch,
    }
}

/// Read batches on this thread, tokenise them on worker threads, and hand the
/// results to `sink` in input order. Returns rows written.
fn pipeline(
    src: &mut Source,
    p: &Pseudonymiser,
    cols: &Columns,
    mut sink: impl FnMut(&Done) -> Result<(), CliError>,
) -> Result<u64, CliError> {
    use std::sync::mpsc::{channel, Receiver, Sender};
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    std::thread::scope(|scope| {
        let mut to: Vec<Sender<(Batch, Vec<u8>)>> = Vec::new();
        let mut from: Vec<Receiver<Done>> = Vec::new();
        for _ in 0..workers {
            let (tx, rx) = channel::<(Batch, Vec<u8>)>();
            let (dtx, drx) = channel::<Done>();
            let p = p.clone();
            scope.spawn(move || {
                let mut scratch = bloom::clk::Scratch::default();
                while let Ok((batch, out)) = rx.recv() {
                    if dtx.send(work(&p, cols, batch, out, &mut scratch)).is_err() {
                        break;
                    }
                }
            });
            to.push(tx);
            from.push(drx);
        }
        let mut free: Vec<(Batch, Vec<u8>)> = Vec::new();
        let (mut sent, mut received, mut rows_out) = (0usize, 0usize, 0u64);
        let mut eof = false;
        let mut finish_one =
            |received: &mut usize, free: &mut Vec<(Batch, Vec<u8>)>| -> Result<u64, CliError> {
                let done = from[*received % workers]
                    .recv()
                    .map_err(|_| CliError::new("a worker thread failed"))?;
                *received += 1;
                sink(&done)?;
                let n = done.rows_out;
                let mut out = done.out;
                out.clear();
                free.push((done.batch, out));
                Ok(n)
            };
        while !eof {
            let (mut batch, out) = free.pop().unwrap_or_else(|| {
                (
                    Batch {
                        recs: vec![csv::ByteRecord::new(); BATCH],
                        lines: vec![0; BATCH],
                        len: 0,
                        bytes_read: 0,
                    },
                    Vec::new(),
                )
            });
            batch.len = 0;
            while batch.len < BATCH {
                if !src.read(&mut batch.recs[batch.len]).map_err(tab_err)? {
                    eof = true;
                    break;
                }
                batch.lines[batch.len] = src.position().line;
                batch.len += 1;
            }
            batch.bytes_read = src.bytes_read();
            to[sent % workers]
                .send((batch, out))
                .map_err(|_| CliError::new("a worker thread failed"))?;
            sent += 1;
            if sent - received >= 2 * workers {
                rows_out += finish_one(&mut received, &mut free)?;
            }
        }
        while received < sent {
            rows_out += finish_one(&mut received, &mut free)?;
        }
        // Overwrite the identifiers held in the recycled records.
        for (b, _) in &mut free {
            for r in &mut b.recs {
                r.clear();
            }
        }
        drop(to);
        Ok(rows_out)
    })
}
