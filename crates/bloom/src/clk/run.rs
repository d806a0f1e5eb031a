//! Whole CLK runs over a table: `encode` (each row as a CLK, with keyed
//! blocking keys when the schema has passes, then the kept columns) and
//! the CLK cells `pseudonymise` writes beside the tokens. Both record the
//! schema (its description and SHA-256) and the key in the run's manifest.

use super::row::RowEncoder;
use super::schema::{Schema, SchemaFileError};
use super::{ClkEncoder, ClkSecret, EncoderError};
use std::path::Path;
use tabular::{CellRows, KeyRecord, Manifest, OutputPlan, RowCells, RunOutputs, Source, TabularError};

/// Why a CLK run stopped. Messages name files, columns and schema
/// features, never a value.
#[derive(Debug, thiserror::Error)]
pub enum ClkRunError {
    /// The schema file could not be read or parsed.
    #[error(transparent)]
    Schema(#[from] SchemaFileError),
    /// The schema and secret cannot make an encoder.
    #[error("schema {}: {source}", path.display())]
    Encoder {
        /// The schema file.
        path: std::path::PathBuf,
        /// Why.
        source: EncoderError,
    },
    /// `encode`: schema features with no column in the input's header.
    #[error("{input}: the schema's feature{} {} {} no column in the header ({header})",
        if features.len() == 1 { "" } else { "s" },
        quoted(features),
        if features.len() == 1 { "has" } else { "have" })]
    MissingFeatures {
        /// The input.
        input: String,
        /// The features' identifiers.
        features: Vec<String>,
        /// The input's header, as shown in errors.
        header: String,
    },
    /// `pseudonymise --clk-schema`: schema features with no column in the
    /// input's header.
    #[error(
        "the CLK schema's features {} have no column in the input header",
        quoted(features)
    )]
    MissingSchemaFeatures {
        /// The features' identifiers.
        features: Vec<String>,
    },
    /// Reading the input or writing the outputs failed.
    #[error(transparent)]
    Tabular(#[from] TabularError),
}

fn quoted(features: &[String]) -> String {
    features
        .iter()
        .map(|m| format!("`{m}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl ClkRunError {
    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            ClkRunError::Schema(e) => e.hint(),
            ClkRunError::MissingFeatures { .. } | ClkRunError::MissingSchemaFeatures { .. } => Some(
                "rename the CSV columns to the schema's feature identifiers, or mark the features \"ignored\": true",
            ),
            ClkRunError::Tabular(e) => e.hint(),
            ClkRunError::Encoder { .. } => None,
        }
    }
}

/// The CLK cells `pseudonymise --clk-schema` writes beside the tokens: the
/// schema at `path` read, the CLK secret derived from the token key, the
/// features bound to the columns of `header`; all recorded in `manifest`.
pub fn token_clk_cells(
    path: &Path,
    key: &pseudonym::Key,
    header: &[String],
    manifest: &mut Manifest,
) -> Result<RowEncoder, ClkRunError> {
    let (schema, digest) = Schema::read_file(path)?;
    let describe = schema.describe();
    let secret = ClkSecret::from_trialink_key(key.expose_secret());
    let encoder = ClkEncoder::new(schema, &secret).map_err(|source| ClkRunError::Encoder {
        path: path.to_path_buf(),
        source,
    })?;
    let cells = RowEncoder::bind(encoder, header, true)
        .map_err(|features| ClkRunError::MissingSchemaFeatures { features })?;
    manifest.option("clk_schema", path.display().to_string());
    manifest.extra.insert("clk_schema_sha256".into(), digest.into());
    manifest.extra.insert("clk_schema".into(), describe);
    manifest.keys.push(KeyRecord {
        role: "clk".into(),
        scope: None,
        fingerprint: key.fingerprint().to_string(),
    });
    Ok(cells)
}

/// An `encode` run: every row of a table as a CLK (Cryptographic Long-term
/// Key: a keyed Bloom filter of name, date of birth, sex, postcode …
/// n-grams) under a linkage schema v3, byte-identical to clkhash 0.18's for
/// the same schema and secret. With blocking passes in the schema, a
/// `blocking` column of keyed blocking keys follows `clk`; then the kept
/// columns. Rows with values the schema refuses are rejected.
pub struct EncodeRun<'a> {
    encoder: ClkEncoder,
    manifest: Manifest,
    schema: &'a Path,
}

/// Where an [`EncodeRun`] reads and writes.
pub struct EncodeTo<'a> {
    /// The input's name, as given (`-` for stdin).
    pub input: &'a str,
    /// The output and its sidecars.
    pub plan: OutputPlan<'a>,
    /// Columns passed through unchanged (never one the schema reads).
    pub keep: &'a [String],
    /// Write the `blocking` column when the schema has passes.
    pub blocking: bool,
    /// The key file the secret came from, with its record; `None` for a
    /// secret file.
    pub key: Option<(&'a Path, KeyRecord)>,
}

impl<'a> EncodeRun<'a> {
    /// The encoder for the schema read from `path` (`schema` and its
    /// `digest`) and `secret`, with the manifest begun.
    pub fn new(
        path: &'a Path,
        (schema, digest): (Schema, String),
        secret: &ClkSecret,
        version: &str,
    ) -> Result<Self, ClkRunError> {
        let mut manifest = Manifest::new("encode", version);
        let describe = schema.describe();
        let encoder = ClkEncoder::new(schema, secret).map_err(|source| ClkRunError::Encoder {
            path: path.to_path_buf(),
            source,
        })?;
        manifest.extra.insert("clk_schema_sha256".into(), digest.into());
        manifest.extra.insert("clk_schema".into(), describe);
        Ok(EncodeRun {
            encoder,
            manifest,
            schema: path,
        })
    }

    /// Encode every row of `src` (consumed: it is finished) into `to`'s output, commit it with its
    /// rejects and manifest, and return the line that tells the counts.
    /// `progress` is told the bytes read so far.
    pub fn run(
        self,
        mut src: Source,
        to: EncodeTo<'_>,
        progress: &mut dyn FnMut(u64),
    ) -> Result<String, ClkRunError> {
        let EncodeRun {
            encoder,
            mut manifest,
            schema,
        } = self;
        let header = src.header().to_vec();
        let cells = RowEncoder::bind(encoder, &header, to.blocking).map_err(|features| {
            ClkRunError::MissingFeatures {
                input: to.input.to_string(),
                features,
                header: tabular::display_header(&header),
            }
        })?;
        let keep = src.keep_columns(to.keep, |i| cells.reads_column(i))?;
        let with_blocking = cells.blocking();
        let mut run = RunOutputs::create(to.plan)?;
        let job = CellRows {
            cells,
            keep,
            width: header.len(),
        };
        run.write(&job.header(&header))?;
        let mut rows_out = 0u64;
        tabular::run_ordered(&mut src, &job, |done, bytes_read| -> Result<(), TabularError> {
            run.write_rows(done, &header)?;
            rows_out += done.rows_out;
            progress(bytes_read);
            Ok(())
        })?;
        let input = src.finish()?;
        manifest.option("schema", schema.display().to_string());
        manifest.option(
            "secret_source",
            if to.key.is_some() { "key" } else { "secret-file" },
        );
        if let Some((k, _)) = &to.key {
            manifest.option("key", k.display().to_string());
        }
        manifest.option("input", to.input);
        manifest.option("output", to.plan.output);
        let kept: Vec<String> = job.keep.iter().map(|&i| header[i].clone()).collect();
        manifest.option("keep", kept);
        manifest.option("blocking_column", with_blocking);
        manifest.keys.extend(to.key.map(|(_, r)| r));
        let done = run.commit(&mut manifest, ("input", &input), "clks", rows_out, true)?;
        Ok(format!(
            "encoded {} rows: {} CLKs written, {} rejected{}",
            input.rows,
            rows_out,
            done.rejected,
            if done.rejected > 0 {
                format!(" ({})", done.reasons())
            } else {
                String::new()
            }
        ))
    }
}
