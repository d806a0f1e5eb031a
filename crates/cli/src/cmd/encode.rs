//! `trialink encode`: records → clkhash-compatible CLKs (DESIGN §4.6, §8),
//! with keyed blocking keys when the schema defines blocking passes.

use crate::cmd::pseudonymise::{sidecar, tab_err, DOB_COLUMNS, NHS_COLUMNS};
use crate::error::{CliError, CliResult, Context};
use bloom::clk::{push_base64, schema::Schema, schema_digest, ClkEncoder, ClkSecret, Scratch};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tabular::{FileRecord, KeyRecord, Manifest, OutputMode, Rejects, RowCounts, Source, TableOutput};

/// Options for `trialink encode`.
///
/// Encodes each row of a CSV as a CLK (Cryptographic Long-term Key: a keyed
/// Bloom filter of name, date of birth, sex, postcode … n-grams) under a
/// linkage schema v3. The CLKs are byte-identical to clkhash 0.18's for the
/// same schema and secret, so anonlink users can link with them. Schema
/// features are matched to CSV columns by their `identifier`. If the schema
/// has trialink blocking passes (`"trialink": {"blocking": [...]}`) a
/// `blocking` column of keyed blocking keys is written beside `clk`.
/// Output columns: `clk`, `blocking` (if any), then the `--keep` columns.
/// Rows with values the schema refuses go to `<output>.rejects.csv`.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  \
trialink encode --schema schema.json --secret-file clk.secret --input volunteers.csv --output volunteers.clk.csv --keep ref\n  \
trialink encode --schema schema.json --key registry.key --input volunteers.csv --output -\n\n\
Both parties must use the same schema and secret; with --key the secret is derived from the key.")]
#[command(group(clap::ArgGroup::new("secret_source").required(true).args(["secret_file", "key"])))]
pub struct Args {
    /// The linkage schema (clkhash v3 JSON).
    #[arg(long, value_name = "FILE")]
    pub schema: PathBuf,
    /// A file whose content (less one trailing newline) is the CLK secret.
    #[arg(long, value_name = "FILE")]
    pub secret_file: Option<PathBuf>,
    /// A trialink key file; the secret is derived from it (DESIGN §8).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// The CSV to encode (`-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub input: String,
    /// The CLK file to write (`-` for stdout). Must not exist unless --force.
    #[arg(long, value_name = "FILE")]
    pub output: String,
    /// A column to pass through unchanged (never an encoded or identifier column). Repeat for several.
    #[arg(long, value_name = "COLUMN")]
    pub keep: Vec<String>,
    /// Do not write the `blocking` column even if the schema defines passes.
    #[arg(long)]
    pub no_blocking: bool,
    /// Replace existing output files.
    #[arg(long)]
    pub force: bool,
    /// Where to write the manifest (default `<output>.manifest.json`).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Where to write rejects (default `<output>.rejects.csv`).
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
}

/// Load and parse a schema file, with the file name in errors.
pub fn load_schema(path: &Path) -> Result<(Schema, String), CliError> {
    let bytes = tabular::limited::read(path, tabular::limited::SCHEMA)
        .map_err(|e| CliError::new(format!("schema {}: cannot read: {e}", path.display())))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| CliError::new(format!("schema {}: not UTF-8", path.display())))?;
    let schema = Schema::from_json(text).map_err(|e| {
        CliError::new(format!("schema {}: {e}", path.display())).hint("the schema must be an anonlink/clkhash linkage schema v3; see fixtures/vectors/clk_schema_blake.json")
    })?;
    Ok((schema, schema_digest(&bytes)))
}

/// The CLK secret from `--secret-file` or `--key`, with a key record for the manifest.
pub fn load_secret(
    secret_file: Option<&Path>,
    key: Option<&Path>,
) -> Result<(ClkSecret, Option<KeyRecord>), CliError> {
    match (secret_file, key) {
        (Some(p), None) => {
            let s = ClkSecret::read_file(p)
                .map_err(|e| CliError::new(format!("secret file {}: cannot read: {e}", p.display())))?;
            if s.expose().is_empty() {
                return Err(CliError::new(format!("secret file {}: is empty", p.display()))
                    .hint("put the shared CLK secret in the file"));
            }
            Ok((s, None))
        }
        (None, Some(k)) => {
            let kf = crate::cmd::keys::load(k)?;
            let rec = KeyRecord {
                role: "clk".into(),
                scope: kf.scope.as_ref().map(|s| s.to_string()),
                fingerprint: kf.key.fingerprint().to_string(),
            };
            Ok((ClkSecret::from_trialink_key(kf.key.expose_secret()), Some(rec)))
        }
        _ => Err(CliError::new("give exactly one of --secret-file and --key")),
    }
}

/// Rows read per batch; the next batch is read while this one is encoded.
const BATCH: usize = 16384;
/// Rows per parallel work item (one output buffer each, written in order).
const CHUNK: usize = 256;

/// Append one CSV field, quoted only when it must be.
fn push_csv_field(out: &mut Vec<u8>, v: &[u8]) {
    if v.iter().any(|c| matches!(c, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for &c in v {
            if c == b'"' {
                out.push(b'"');
            }
            out.push(c);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(v);
    }
}

/// A batch of records, reused (records keep their buffers between batches).
#[derive(Default)]
struct Batch {
    recs: Vec<csv::ByteRecord>,
    lines: Vec<u64>,
    len: usize,
}

impl Batch {
    /// Read up to [`BATCH`] records; `len` 0 at the end of the input.
    fn fill(&mut self, src: &mut Source) -> Result<(), tabular::TabularError> {
        self.len = 0;
        while self.len < BATCH {
            if self.recs.len() == self.len {
                self.recs.push(csv::ByteRecord::new());
                self.lines.push(0);
            }
            if !src.read(&mut self.recs[self.len])? {
                break;
            }
            self.lines[self.len] = src.position().line;
            self.len += 1;
        }
        Ok(())
    }
}

/// The encoded output of one chunk of a batch: CSV lines, and rejects as
/// (input line, column, reason).
#[derive(Default)]
struct ChunkOut {
    bytes: Vec<u8>,
    rejects: Vec<(u64, usize, &'static str)>,
    rows_out: u64,
}

pub fn run(a: Args) -> CliResult {
    let mut manifest = Manifest::new("encode", env!("CARGO_PKG_VERSION"));
    let (schema, digest) = load_schema(&a.schema)?;
    let (secret, key_rec) = load_secret(a.secret_file.as_deref(), a.key.as_deref())?;
    let describe = schema.describe();
    let encoder = ClkEncoder::new(schema, &secret)
        .map_err(|e| CliError::new(format!("schema {}: {e}", a.schema.display())))?;
    drop(secret);
    let with_blocking = !a.no_blocking && !encoder.schema().hardening.blocking.is_empty();

    let mut src = Source::open(&a.input).context("input")?;
    let header = src.header().to_vec();
    let cols = encoder.schema().bind_columns(&header).map_err(|missing| {
        CliError::new(format!(
            "{}: the schema's feature{} {} {} no column in the header ({})",
            a.input,
            if missing.len() == 1 { "" } else { "s" },
            missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "),
            if missing.len() == 1 { "has" } else { "have" },
            tabular::display_header(&header)
        ))
        .hint("rename the CSV columns to the schema's feature identifiers, or mark the features \"ignored\": true")
    })?;
    let mut keep = Vec::new();
    for k in &a.keep {
        let i = src.column(Some(k), &[], k).map_err(tab_err)?;
        let name = &header[i];
        let encoded = cols
            .iter()
            .zip(&encoder.schema().features)
            .any(|(c, f)| *c == Some(i) && f.spec.is_some());
        let ident = NHS_COLUMNS
            .iter()
            .chain(DOB_COLUMNS)
            .any(|c| name.eq_ignore_ascii_case(c));
        if encoded || ident {
            return Err(CliError::new(format!(
                "--keep {k}: that column holds identifying data and never leaves the input"
            ))
            .hint("keep only non-identifying columns such as a reference"));
        }
        if keep.contains(&i) {
            return Err(CliError::new(format!("--keep {k} is given twice")));
        }
        keep.push(i);
    }

    let mode = if a.force {
        OutputMode::Replace
    } else {
        OutputMode::New
    };
    let manifest_path = sidecar(&a.output, a.manifest.as_deref(), ".manifest.json");
    let rejects_path = sidecar(&a.output, a.rejects.as_deref(), ".rejects.csv");
    let mut out = TableOutput::create(&a.output, mode).map_err(tab_err)?;
    let mut rejects = Rejects::create(rejects_path.clone(), OutputMode::Replace).map_err(tab_err)?;
    let write_err = |e: std::io::Error| CliError::new(format!("{}: cannot write: {e}", a.output));
    {
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        let mut head: Vec<&str> = vec!["clk"];
        if with_blocking {
            head.push("blocking");
        }
        for &i in &keep {
            head.push(&header[i]);
        }
        let _ = w.write_record(&head);
        out.write_all(&w.into_inner().unwrap_or_default())
            .map_err(write_err)?;
    }

    let width = header.len();
    let l = encoder.l();
    let total_bytes = if a.input == "-" {
        None
    } else {
        std::fs::metadata(&a.input).ok().map(|m| m.len())
    };
    let pb = crate::progress::rows("encode", total_bytes);
    let mut rows_out = 0u64;
    // Encode one chunk of rows (starting at batch row `base`) into `out`,
    // with this worker's scratch buffers and token cache.
    let encode_chunk =
        |recs: &[csv::ByteRecord], lines: &[u64], base: usize, out: &mut ChunkOut, s: &mut Scratch| {
            out.bytes.clear();
            out.rejects.clear();
            out.rows_out = 0;
            let mut values: Vec<&str> = Vec::with_capacity(cols.len());
            {
                'rows: for (i, rec) in recs.iter().enumerate() {
                    if rec.len() != width {
                        out.rejects.push((lines[base + i], usize::MAX, "ragged_row"));
                        continue;
                    }
                    values.clear();
                    // One UTF-8 check for the whole record (the usual case);
                    // field by field only if that fails, to name the column.
                    let whole = std::str::from_utf8(rec.as_slice()).ok();
                    for c in &cols {
                        if let (Some(c), Some(all)) = (c, whole) {
                            if let Some(v) = rec.range(*c).and_then(|r| all.get(r)) {
                                values.push(v);
                                continue;
                            }
                        }
                        match c {
                            Some(c) => match std::str::from_utf8(&rec[*c]) {
                                Ok(v) => values.push(v),
                                Err(_) => {
                                    out.rejects.push((lines[base + i], *c, "not_utf8"));
                                    continue 'rows;
                                }
                            },
                            None => values.push(""),
                        }
                    }
                    if let Err(e) = encoder.encode_into(&values, s, with_blocking) {
                        let col = encoder
                            .schema()
                            .feature_index(&e.feature)
                            .and_then(|f| cols[f])
                            .unwrap_or(usize::MAX);
                        out.rejects.push((lines[base + i], col, e.problem.code()));
                        continue;
                    }
                    push_base64(s.clk(), l, &mut out.bytes);
                    if with_blocking {
                        // `name=hex;…`: never needs quoting.
                        out.bytes.push(b',');
                        out.bytes.extend_from_slice(s.blocking().as_bytes());
                    }
                    for &k in &keep {
                        out.bytes.push(b',');
                        push_csv_field(&mut out.bytes, &tabular::neutralise(&rec[k]));
                    }
                    out.bytes.push(b'\n');
                    out.rows_out += 1;
                }
            }
        };
    // Write one batch's chunks, in order.
    let write_outs = |outs: &[ChunkOut],
                      out: &mut TableOutput,
                      rejects: &mut Rejects,
                      rows_out: &mut u64|
     -> Result<(), CliError> {
        for o in outs {
            out.write_all(&o.bytes).map_err(write_err)?;
            *rows_out += o.rows_out;
            for &(line, c, code) in &o.rejects {
                let name = header.get(c).map(String::as_str).unwrap_or("");
                rejects.add(line, name, code).map_err(tab_err)?;
            }
        }
        Ok(())
    };
    // Three stages overlap: while batch n is encoded (in chunks, in
    // parallel), batch n−1's output is written and batch n+1 is read.
    let (mut outs, mut prev_outs): (Vec<ChunkOut>, Vec<ChunkOut>) = (Vec::new(), Vec::new());
    let mut prev_chunks = 0;
    let mut cur = Batch::default();
    let mut next = Batch::default();
    cur.fill(&mut src).map_err(tab_err)?;
    while cur.len > 0 {
        let chunks = cur.len.div_ceil(CHUNK);
        if outs.len() < chunks {
            outs.resize_with(chunks, ChunkOut::default);
        }
        let recs = &cur.recs[..cur.len];
        let lines = &cur.lines[..cur.len];
        ClkEncoder::par_work_with(
            &mut outs[..chunks],
            |ci, out, s| {
                let base = ci * CHUNK;
                encode_chunk(&recs[base..(base + CHUNK).min(recs.len())], lines, base, out, s)
            },
            || -> Result<(), CliError> {
                write_outs(&prev_outs[..prev_chunks], &mut out, &mut rejects, &mut rows_out)?;
                next.fill(&mut src).map_err(tab_err)
            },
        )?;
        pb.set_position(src.bytes_read());
        std::mem::swap(&mut cur, &mut next);
        std::mem::swap(&mut outs, &mut prev_outs);
        prev_chunks = chunks;
    }
    write_outs(&prev_outs[..prev_chunks], &mut out, &mut rejects, &mut rows_out)?;
    pb.finish_and_clear();

    let input = src.finish().map_err(tab_err)?;
    let pending = out.finish().map_err(tab_err)?;
    let rej = rejects.finish().map_err(tab_err)?;
    manifest.option("schema", a.schema.display().to_string());
    manifest.option(
        "secret_source",
        if a.key.is_some() { "key" } else { "secret-file" },
    );
    if let Some(k) = &a.key {
        manifest.option("key", k.display().to_string());
    }
    manifest.option("input", a.input.clone());
    manifest.option("output", a.output.clone());
    manifest.option(
        "keep",
        keep.iter().map(|&i| header[i].clone()).collect::<Vec<_>>(),
    );
    manifest.option("blocking_column", with_blocking);
    manifest.extra.insert("clk_schema_sha256".into(), digest.into());
    manifest.extra.insert("clk_schema".into(), describe);
    if let Some(k) = key_rec {
        manifest.keys.push(k);
    }
    manifest.inputs.push(FileRecord::input("input", &input));
    manifest
        .outputs
        .push(FileRecord::output("clks", pending.summary(), Some(rows_out)));
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
        "encoded {} rows: {} CLKs written, {} rejected{}",
        input.rows,
        rows_out,
        rej.total,
        if rej.total > 0 {
            format!(
                " ({})",
                rej.by_reason
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        } else {
            String::new()
        }
    );
    Ok(ExitCode::SUCCESS)
}
