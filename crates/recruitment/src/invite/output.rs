//! A batch's files: the batch itself (exactly the route's columns), the
//! selection summary (JSON and Markdown), the rejects and the manifest,
//! each written to a temporary file beside its final name and fsynced, then
//! staged in the store and published together with the batch's records
//! (see the `store` crate).

use super::{temp_of, InviteError, BATCH_FILE, MANIFEST, REJECTS, SUMMARY_JSON, SUMMARY_MD};
use crate::request::Channel;
use crate::select;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use store::{QaSeed, StagedFile};

/// Create the output directory, refuse existing outputs and clear our own
/// stale temporaries; returns the canonical directory.
pub(crate) fn prepare_out_dir(out: &Path) -> Result<PathBuf, InviteError> {
    std::fs::create_dir_all(out).map_err(|source| InviteError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let out_dir = out.canonicalize().map_err(|source| InviteError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    for n in [BATCH_FILE, MANIFEST, SUMMARY_JSON, SUMMARY_MD, REJECTS] {
        let f = out_dir.join(n);
        if std::fs::symlink_metadata(&f).is_ok() {
            return Err(InviteError::OutputExists { path: f });
        }
        let t = temp_of(&f);
        if t.exists() {
            std::fs::remove_file(&t).map_err(|source| InviteError::Io { path: t, source })?;
        }
    }
    Ok(out_dir)
}

pub(crate) fn path_str(p: &Path) -> Result<&str, InviteError> {
    p.to_str().ok_or_else(|| InviteError::Io {
        path: p.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "path is not UTF-8"),
    })
}

/// QA seeds picked for a batch.
pub(crate) struct QaPick {
    /// Their batch cells (after `reference` and `template`).
    pub rows: Vec<Vec<Vec<u8>>>,
    /// Their data rows in the QA seeds file.
    pub file_rows: Vec<u64>,
    /// The file read.
    pub input: Option<tabular::InputSummary>,
}

/// Pick `n` usable QA seeds (rows with the route's contact details) from
/// `path`, by the request's seed.
pub(crate) fn pick_qa_seeds(
    path: Option<&Path>,
    route: store::OutputRoute,
    channel: Channel,
    n: usize,
    seed: u64,
) -> Result<QaPick, InviteError> {
    let mut pick = QaPick {
        rows: Vec::new(),
        file_rows: Vec::new(),
        input: None,
    };
    let Some(qp) = path.filter(|_| n > 0) else {
        return Ok(pick);
    };
    let qs = path_str(qp)?;
    let mut q = tabular::Source::open(qs)?;
    let (qcontact, qreq) = super::columns::contact_columns(&q, route, channel)?;
    let mut usable: Vec<(u64, Vec<Vec<u8>>)> = Vec::new();
    let mut rec = csv::ByteRecord::new();
    while q.read(&mut rec)? {
        let reachable = qreq
            .iter()
            .all(|&i| rec.get(i).is_some_and(|c| !c.trim_ascii().is_empty()));
        let cells: Option<Vec<Vec<u8>>> = qcontact
            .iter()
            .map(|c| match c.and_then(|i| rec.get(i)) {
                Some(v) => super::columns::batch_cell(route, v),
                None => Some(Vec::new()),
            })
            .collect();
        if let (true, Some(cells)) = (reachable, cells) {
            usable.push((q.rows(), cells));
        }
    }
    let qsum = q.finish()?;
    if (usable.len() as u64) < n as u64 {
        return Err(InviteError::TooFewQaSeeds {
            path: qs.to_string(),
            needed: n as u32,
            usable: usable.len() as u64,
            channel: match route {
                store::OutputRoute::NhsNotification => "nhs-notification route's (a valid NHS number)",
                _ => channel.name(),
            },
        });
    }
    let mut qrng = select::rng_for(seed, "qa-pick");
    let picks = rand::seq::index::sample(&mut qrng, usable.len(), n);
    for k in picks.iter() {
        pick.rows.push(usable[k].1.clone());
        pick.file_rows.push(usable[k].0);
    }
    pick.input = Some(qsum);
    Ok(pick)
}

/// Refuse a QA seeds file (when seeds are wanted) with a row whose NHS
/// number `is_person` names (on the non-contact list, in the cohort): on
/// route 1 the NHS number is the address, so such a seed would write to a
/// real person, perhaps one who objected.
pub(crate) fn check_qa_people(
    path: Option<&Path>,
    n: usize,
    is_person: &dyn Fn(&pseudonym::NhsNumber) -> Option<&'static str>,
) -> Result<(), InviteError> {
    let Some(qp) = path.filter(|_| n > 0) else {
        return Ok(());
    };
    let qs = path_str(qp)?;
    let mut q = tabular::Source::open(qs)?;
    let Some(col) = q.optional_column(None, &["nhs_number", "nhs_no", "nhsnumber"], "NHS number")? else {
        return Ok(());
    };
    let mut rec = csv::ByteRecord::new();
    while q.read(&mut rec)? {
        let Some(Ok(nhs)) = rec.get(col).map(pseudonym::NhsNumber::parse_normalised) else {
            continue;
        };
        if let Some(why) = is_person(&nhs) {
            return Err(InviteError::QaSeedIsAPerson {
                path: qs.to_string(),
                line: q.position().line,
                why,
            });
        }
    }
    Ok(())
}

/// The batch file being written (to its temporary name).
pub(crate) struct BatchWriter {
    w: csv::Writer<std::io::BufWriter<std::fs::File>>,
    pub path: PathBuf,
    row: Vec<Vec<u8>>,
    pub rows: u64,
}

impl BatchWriter {
    pub(crate) fn create(out_dir: &Path, columns: &[&str]) -> Result<BatchWriter, InviteError> {
        let path = out_dir.join(BATCH_FILE);
        let f = create_file(&temp_of(&path))?;
        let mut w = csv::WriterBuilder::new().from_writer(std::io::BufWriter::with_capacity(1 << 16, f));
        w.write_record(columns).map_err(|e| csv_err(&path, e))?;
        Ok(BatchWriter {
            w,
            path,
            row: Vec::with_capacity(columns.len()),
            rows: 0,
        })
    }

    /// One row: reference, template, then the cells (formula-neutralised).
    pub(crate) fn write(
        &mut self,
        reference: &str,
        template: &str,
        cells: &[Vec<u8>],
    ) -> Result<(), InviteError> {
        self.row.clear();
        self.row.push(reference.as_bytes().to_vec());
        self.row.push(template.as_bytes().to_vec());
        for cell in cells {
            self.row.push(tabular::neutralise(cell).into_owned());
        }
        self.rows += 1;
        self.w.write_record(&self.row).map_err(|e| csv_err(&self.path, e))
    }

    /// Flush and fsync the temporary file.
    pub(crate) fn finish(self) -> Result<PathBuf, InviteError> {
        let bw = self.w.into_inner().map_err(|e| InviteError::Io {
            path: self.path.clone(),
            source: e.into_error(),
        })?;
        let f = bw.into_inner().map_err(|e| InviteError::Io {
            path: self.path.clone(),
            source: e.into_error(),
        })?;
        f.sync_all().map_err(|source| InviteError::Io {
            path: self.path.clone(),
            source,
        })?;
        Ok(self.path)
    }
}

fn csv_err(p: &Path, e: csv::Error) -> InviteError {
    InviteError::Io {
        path: p.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// QA seed `k` (0-based) at batch `position`: its store record.
pub(crate) fn qa_record(reference: String, position: u32, k: usize) -> QaSeed {
    QaSeed {
        reference,
        position,
        label: format!("qa seed {}", k + 1),
    }
}

/// What goes into a batch's manifest besides the files.
pub(crate) struct ManifestParts<'a> {
    pub command: &'static str,
    pub options: BTreeMap<String, serde_json::Value>,
    pub as_of: String,
    pub seed: u64,
    pub scope: String,
    pub fingerprint: String,
    pub keys: Vec<tabular::KeyRecord>,
    pub inputs: Vec<tabular::FileRecord>,
    pub extra: BTreeMap<String, serde_json::Value>,
    pub request_path: &'a Path,
    pub cohort_rows: u64,
    /// Rows in the batch file (QA seeds included).
    pub batch_rows: u64,
    pub started: String,
}

/// The files written beside the batch, ready to stage.
pub(crate) struct SideFiles {
    pub files: Vec<PathBuf>,
    pub staged: Vec<StagedFile>,
    pub request_digest: String,
}

/// Write the summary (JSON and Markdown), the rejects and the manifest
/// beside the batch file (already written at its temporary name), fsync
/// the directory, and list the files to stage (the batch file primary).
pub(crate) fn write_side_files(
    batch_path: &Path,
    summary_json: &str,
    summary_md: &str,
    rejects: &[(u64, String, &'static str)],
    mut m: ManifestParts<'_>,
) -> Result<SideFiles, InviteError> {
    let out_dir = batch_path.parent().expect("batch file in a directory");
    let json_path = out_dir.join(SUMMARY_JSON);
    write_small(&temp_of(&json_path), summary_json.as_bytes())?;
    let md_path = out_dir.join(SUMMARY_MD);
    write_small(&temp_of(&md_path), summary_md.as_bytes())?;
    let rej_path = out_dir.join(REJECTS);
    let mut rtext = String::from("line,column,reason\n");
    for (line, col, code) in rejects {
        rtext.push_str(&format!("{line},{},{code}\n", csv_cell(col)));
    }
    write_small(&temp_of(&rej_path), rtext.as_bytes())?;

    let req_bytes = tabular::limited::read(m.request_path, tabular::limited::REQUEST).map_err(|source| {
        InviteError::Io {
            path: m.request_path.to_path_buf(),
            source,
        }
    })?;
    let request_digest = blake3::hash(&req_bytes).to_hex().to_string();
    m.inputs.push(tabular::FileRecord {
        role: "request".into(),
        path: m.request_path.display().to_string(),
        blake3: request_digest.clone(),
        bytes: req_bytes.len() as u64,
        rows: None,
        format: None,
    });
    let batch_rows = Some(m.batch_rows);
    let outputs = [
        ("batch", batch_path, batch_rows),
        ("summary", &json_path, None),
        ("summary_markdown", &md_path, None),
        ("rejects", &rej_path, Some(rejects.len() as u64)),
    ];
    let man_path = out_dir.join(MANIFEST);
    let text = manifest_text(m, &outputs, rejects)?;
    write_small(&temp_of(&man_path), text.as_bytes())?;
    store::sync_dir(batch_path)?;
    let files = vec![
        batch_path.to_path_buf(),
        man_path.clone(),
        json_path.clone(),
        md_path.clone(),
        rej_path.clone(),
    ];
    let staged = [
        &man_path,
        &json_path,
        &md_path,
        &rej_path,
        &batch_path.to_path_buf(),
    ]
    .iter()
    .map(|p| StagedFile {
        temp: temp_of(p),
        final_path: (*p).clone(),
        primary: *p == batch_path,
    })
    .collect();
    Ok(SideFiles {
        files,
        staged,
        request_digest,
    })
}

fn manifest_text(
    m: ManifestParts<'_>,
    outputs: &[(&str, &Path, Option<u64>)],
    rejects: &[(u64, String, &'static str)],
) -> Result<String, InviteError> {
    let mut man = tabular::Manifest::new(m.command, env!("CARGO_PKG_VERSION"));
    man.options = m.options;
    man.as_of = Some(m.as_of);
    man.seed = Some(m.seed);
    man.scope = Some(m.scope);
    man.key_fingerprint = Some(m.fingerprint);
    man.keys = m.keys;
    man.inputs = m.inputs;
    for (role, p, rows) in outputs {
        let t = temp_of(p);
        let bytes = std::fs::read(&t).map_err(|source| InviteError::Io {
            path: t.clone(),
            source,
        })?;
        man.outputs.push(tabular::FileRecord {
            role: (*role).into(),
            path: p.display().to_string(),
            blake3: blake3::hash(&bytes).to_hex().to_string(),
            bytes: bytes.len() as u64,
            rows: *rows,
            format: None,
        });
    }
    let mut by_reason: BTreeMap<String, u64> = BTreeMap::new();
    for (_, _, code) in rejects {
        *by_reason.entry(code.to_string()).or_insert(0) += 1;
    }
    man.rows = tabular::RowCounts {
        rows_in: m.cohort_rows,
        rows_out: m.cohort_rows - rejects.len() as u64,
        rows_rejected: rejects.len() as u64,
        rejected_by_reason: by_reason,
    };
    man.extra = m.extra;
    man.started = m.started;
    man.finished = tabular::now_rfc3339();
    let mut mtext = serde_json::to_string_pretty(&man).expect("manifest serialises");
    mtext.push('\n');
    Ok(mtext)
}

fn create_file(p: &Path) -> Result<std::fs::File, InviteError> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(p).map_err(|source| InviteError::Io {
        path: p.to_path_buf(),
        source,
    })
}

fn write_small(p: &Path, bytes: &[u8]) -> Result<(), InviteError> {
    let mut f = create_file(p)?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|source| InviteError::Io {
            path: p.to_path_buf(),
            source,
        })
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
