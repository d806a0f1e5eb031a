//! CLK encoding over Arrow arrays (`trialink.encode`), byte-identical to
//! clkhash and to `trialink encode`, with keyed blocking keys.

use crate::arrays::{same_length, to_py, Text};
use crate::errors;
use crate::keys::Secret;
use arrow_array::builder::StringBuilder;
use bloom::clk::schema::SchemaError;
use bloom::clk::ClkEncoder;
use pyo3::prelude::*;
use rayon::prelude::*;
use std::path::PathBuf;

/// Rows per parallel work item.
const CHUNK: usize = 1024;

/// A linkage schema (clkhash/anonlink v3, with trialink's extensions).
///
/// >>> schema = trialink.Schema.load("fixtures/linkage/schema.json")   # doctest: +SKIP
/// >>> schema.features                                                # doctest: +SKIP
/// ['given_name', 'family_name', 'dob', 'sex', 'postcode']
#[pyclass(frozen, module = "trialink")]
pub struct Schema {
    pub(crate) schema: bloom::clk::schema::Schema,
    digest: String,
}

fn schema_error(e: SchemaError, origin: &str) -> PyErr {
    let (code, path) = match &e {
        SchemaError::Json(_) => ("json", None),
        SchemaError::Missing { path, .. } => ("missing", Some(path.clone())),
        SchemaError::Invalid { path, .. } => ("invalid", Some(path.clone())),
        SchemaError::UnknownKey { path, .. } => ("unknown_key", Some(path.clone())),
    };
    let err = errors::raise::<errors::SchemaError>(
        format!("schema {origin}: {e}"),
        code,
        Some("the schema must be an anonlink/clkhash linkage schema v3; see fixtures/vectors/clk_schema_blake.json"),
        &[],
    );
    Python::attach(|py| {
        let _ = err.value(py).setattr("json_path", path);
    });
    err
}

impl Schema {
    fn parse(bytes: &[u8], origin: &str) -> PyResult<Schema> {
        let text = std::str::from_utf8(bytes).map_err(|_| {
            errors::raise::<errors::SchemaError>(format!("schema {origin}: not UTF-8"), "not_utf8", None, &[])
        })?;
        let schema = bloom::clk::schema::Schema::from_json(text).map_err(|e| schema_error(e, origin))?;
        Ok(Schema {
            schema,
            digest: bloom::clk::schema_digest(bytes),
        })
    }
}

#[pymethods]
impl Schema {
    /// Read a schema file (at most the CLI's schema size limit).
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Schema> {
        let bytes = tabular::limited::read(&path, tabular::limited::SCHEMA).map_err(|e| {
            errors::raise::<errors::SchemaError>(
                format!("schema {}: cannot read: {e}", path.display()),
                "io",
                None,
                &[],
            )
        })?;
        Self::parse(&bytes, &path.display().to_string())
    }

    /// Parse a schema from JSON text (schemas are configuration, not secrets).
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Schema> {
        Self::parse(text.as_bytes(), "<json>")
    }

    /// Feature identifiers in schema order (the input columns).
    #[getter]
    fn features(&self) -> Vec<String> {
        self.schema
            .features
            .iter()
            .map(|f| f.identifier.clone())
            .collect()
    }

    /// Features that are encoded (not ``"ignored": true``).
    #[getter]
    fn encoded_features(&self) -> Vec<String> {
        self.schema
            .features
            .iter()
            .filter(|f| f.spec.is_some())
            .map(|f| f.identifier.clone())
            .collect()
    }

    /// CLK length in bits.
    #[getter]
    fn l(&self) -> usize {
        self.schema.l
    }

    /// Blocking pass names (trialink extension), in schema order.
    #[getter]
    fn blocking_passes(&self) -> Vec<String> {
        self.schema
            .hardening
            .blocking
            .iter()
            .map(|b| b.name.clone())
            .collect()
    }

    /// SHA-256 of the schema's bytes, hex (as in manifests).
    #[getter]
    fn digest(&self) -> String {
        self.digest.clone()
    }

    /// The schema's description as recorded in manifests (JSON text).
    fn describe(&self) -> String {
        self.schema.describe().to_string()
    }

    /// For each feature, the index of its column in ``names`` (exact, then
    /// case-insensitive), or ``None`` for an ignored feature with no column.
    /// Raises ``InputError`` naming the encoded features with no column.
    fn bind(&self, names: Vec<String>) -> PyResult<Vec<Option<usize>>> {
        self.schema.bind_columns(&names).map_err(|missing| {
            errors::raise::<errors::InputError>(
                format!(
                    "the schema's features {} have no column in the table ({})",
                    missing.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "),
                    tabular::display_header(&names)
                ),
                "missing_column",
                Some("rename the columns to the schema's feature identifiers, or mark the features \"ignored\": true"),
                &[],
            )
        })
    }

    fn __repr__(&self) -> String {
        format!("Schema(l={}, features={:?})", self.schema.l, self.features())
    }
}

/// One chunk's output: base64 CLKs and blocking cells back to back, row
/// ends, and rejects.
#[derive(Default)]
struct ChunkOut {
    clk: Vec<u8>,
    blk: Vec<u8>,
    ends: Vec<(usize, usize)>,
    reject: Vec<Option<(&'static str, usize)>>,
}

/// CLKs for the rows of `columns` (one array per schema feature, ``None``
/// for an ignored feature without a column).
///
/// Returns ``(clk, blocking, reject, reject_feature)``: base64 CLKs (null for
/// a rejected row), blocking cells (``pass=hex16;…``, or ``None`` without
/// ``blocking``), the reason code of each rejected row and the feature at
/// fault — the codes ``trialink encode`` writes to its rejects file.
#[pyfunction]
#[pyo3(signature = (columns, schema, secret, *, blocking=true))]
#[allow(clippy::type_complexity)]
pub fn encode_arrays<'py>(
    py: Python<'py>,
    columns: Vec<Option<Bound<'py, PyAny>>>,
    schema: &Schema,
    secret: &Secret,
    blocking: bool,
) -> PyResult<(
    Bound<'py, PyAny>,
    Option<Bound<'py, PyAny>>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
)> {
    if columns.len() != schema.schema.features.len() {
        return Err(errors::argument(format!(
            "expected {} columns (one per schema feature), got {}",
            schema.schema.features.len(),
            columns.len()
        )));
    }
    let cols: Vec<Option<Text>> = columns
        .iter()
        .zip(&schema.schema.features)
        .map(|(c, f)| c.as_ref().map(|c| Text::from_py(c, &f.identifier)).transpose())
        .collect::<PyResult<_>>()?;
    let n = cols.iter().flatten().map(Text::len).next().unwrap_or(0);
    for (c, f) in cols.iter().zip(&schema.schema.features) {
        if let Some(c) = c {
            same_length(n, c, &f.identifier)?;
        }
    }
    let encoder = ClkEncoder::new(schema.schema.clone(), &secret.secret)
        .map_err(|e| errors::raise::<errors::SchemaError>(format!("schema: {e}"), "encoder", None, &[]))?;
    let blocking = blocking && !schema.schema.hardening.blocking.is_empty();
    let l = encoder.l();
    let chunks: Vec<ChunkOut> = py.detach(|| {
        (0..n.div_ceil(CHUNK))
            .into_par_iter()
            .map(|c| encode_chunk(&encoder, &cols, c * CHUNK..((c + 1) * CHUNK).min(n), blocking, l))
            .collect()
    });
    let features = &schema.schema.features;
    let mut clk = StringBuilder::with_capacity(n, n * l.div_ceil(6));
    let mut blk = StringBuilder::new();
    let mut rej = StringBuilder::new();
    let mut rej_f = StringBuilder::new();
    for ch in &chunks {
        let (mut c0, mut b0) = (0, 0);
        for (&(ce, be), r) in ch.ends.iter().zip(&ch.reject) {
            match r {
                None => {
                    clk.append_value(std::str::from_utf8(&ch.clk[c0..ce]).unwrap_or_default());
                    if blocking {
                        blk.append_value(std::str::from_utf8(&ch.blk[b0..be]).unwrap_or_default());
                    }
                    rej.append_null();
                    rej_f.append_null();
                }
                Some((code, f)) => {
                    clk.append_null();
                    if blocking {
                        blk.append_null();
                    }
                    rej.append_value(code);
                    rej_f.append_value(&features[*f].identifier);
                }
            }
            (c0, b0) = (ce, be);
        }
    }
    let blk_out = if blocking {
        Some(to_py(py, &blk.finish())?)
    } else {
        None
    };
    Ok((
        to_py(py, &clk.finish())?,
        blk_out,
        to_py(py, &rej.finish())?,
        to_py(py, &rej_f.finish())?,
    ))
}

/// Encode rows `range` with this thread's scratch buffers.
fn encode_chunk(
    encoder: &ClkEncoder,
    cols: &[Option<Text>],
    range: std::ops::Range<usize>,
    blocking: bool,
    l: usize,
) -> ChunkOut {
    let mut out = ChunkOut::default();
    ClkEncoder::with_thread_scratch(|s| {
        let mut values: Vec<&str> = Vec::with_capacity(cols.len());
        for i in range {
            values.clear();
            let mut bad = None;
            for (f, c) in cols.iter().enumerate() {
                match c.as_ref().map(|c| c.str(i)) {
                    Some(Some(v)) => values.push(v),
                    Some(None) => {
                        bad = Some(("not_utf8", f));
                        break;
                    }
                    None => values.push(""),
                }
            }
            if bad.is_none() {
                if let Err(e) = encoder.encode_into(&values, s, blocking) {
                    let f = encoder.schema().feature_index(&e.feature).unwrap_or(0);
                    bad = Some((e.problem.code(), f));
                }
            }
            if bad.is_none() {
                bloom::clk::push_base64(s.clk(), l, &mut out.clk);
                if blocking {
                    out.blk.extend_from_slice(s.blocking().as_bytes());
                }
            }
            out.ends.push((out.clk.len(), out.blk.len()));
            out.reject.push(bad);
        }
    });
    out
}
