//! `trialink.Tlbf`: the exchangeable token filter (TLBF v1), built from and
//! checked against Arrow arrays of hex tokens.

use crate::arrays::{to_py, Text};
use crate::errors;
use crate::keys::Key;
use arrow_array::builder::BooleanBuilder;
use bloom::tlbf;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::path::PathBuf;

/// A TLBF v1 filter of tokens.
///
/// >>> f = trialink.Tlbf.build(tokens["token"], key, fpr=0.001)   # doctest: +SKIP
/// >>> f.check(other["token"])                                     # doctest: +SKIP
/// <pyarrow.lib.BooleanArray ...>
#[pyclass(frozen, module = "trialink")]
pub struct Tlbf {
    filter: tlbf::Tlbf,
}

fn filter_error(e: tlbf::TlbfError) -> PyErr {
    errors::raise::<errors::FilterError>(format!("TLBF: {e}"), "tlbf", None, &[])
}

/// Parse every non-empty cell of `tokens` as a hex token; a bad cell is an
/// `InputError` naming its row.
fn parse_tokens(tokens: &Text) -> PyResult<Vec<Option<[u8; 32]>>> {
    (0..tokens.len())
        .map(|i| {
            let b = tokens.get(i);
            if b.is_empty() {
                return Ok(None);
            }
            pseudonym::Token::from_hex_bytes(b)
                .map(|t| Some(t.0))
                .map_err(|_| {
                    errors::raise::<errors::InputError>(
                        format!("tokens: row {}: expected 64 hexadecimal characters", i + 1),
                        "bad_token",
                        None,
                        &[("row", Some(i as u64 + 1))],
                    )
                })
        })
        .collect()
}

#[pymethods]
impl Tlbf {
    /// Build a filter of the (non-null) ``tokens`` (hex strings) made under
    /// ``key``, sized for false-positive rate ``fpr``; the header records the
    /// key's fingerprint (as ``trialink filter build --key``).
    #[staticmethod]
    fn build(tokens: &Bound<'_, PyAny>, key: &Key, fpr: f64) -> PyResult<Tlbf> {
        if !(fpr > 0.0 && fpr < 1.0) {
            return Err(errors::argument("fpr must be between 0 and 1 (exclusive)"));
        }
        let toks: Vec<[u8; 32]> = parse_tokens(&Text::from_py(tokens, "tokens")?)?
            .into_iter()
            .flatten()
            .collect();
        let filter = tlbf::Tlbf::build(toks.iter(), fpr, key.key.fingerprint().0).map_err(filter_error)?;
        Ok(Tlbf { filter })
    }

    /// Read a TLBF file (header, caps and checksum checked before use).
    #[staticmethod]
    fn load(path: PathBuf) -> PyResult<Tlbf> {
        Ok(Tlbf {
            filter: tlbf::Tlbf::read_file(&path).map_err(filter_error)?,
        })
    }

    /// Parse TLBF bytes.
    #[staticmethod]
    fn from_bytes(data: &[u8]) -> PyResult<Tlbf> {
        Ok(Tlbf {
            filter: tlbf::Tlbf::from_bytes(data).map_err(filter_error)?,
        })
    }

    /// The file's bytes.
    fn to_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.filter.to_bytes())
    }

    /// Write the filter to ``path`` atomically (refusing an existing file
    /// unless ``overwrite``).
    #[pyo3(signature = (path, *, overwrite=false))]
    fn save(&self, path: &str, overwrite: bool) -> PyResult<()> {
        let mode = if overwrite {
            tabular::OutputMode::Replace
        } else {
            tabular::OutputMode::New
        };
        let mut out = tabular::AtomicOutput::create(path, mode).map_err(errors::tabular)?;
        self.filter.write_to(&mut out).map_err(filter_error)?;
        out.finish().and_then(|p| p.persist()).map_err(errors::tabular)?;
        Ok(())
    }

    /// Membership of each token (hex strings): a boolean array, null for a
    /// null token. False positives occur at about the built-for rate.
    fn check<'py>(&self, py: Python<'py>, tokens: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let toks = parse_tokens(&Text::from_py(tokens, "tokens")?)?;
        let mut out = BooleanBuilder::with_capacity(toks.len());
        for t in &toks {
            out.append_option(t.as_ref().map(|t| self.filter.contains(t)));
        }
        to_py(py, &out.finish())
    }

    /// Number of hash functions.
    #[getter]
    fn k(&self) -> u32 {
        self.filter.k()
    }

    /// Number of bits.
    #[getter]
    fn m(&self) -> u64 {
        self.filter.m()
    }

    /// Number of tokens inserted.
    #[getter]
    fn n(&self) -> u64 {
        self.filter.n()
    }

    /// Fingerprint of the key the tokens were made with (16 hex characters).
    #[getter]
    fn fingerprint(&self) -> String {
        self.filter.fingerprint_hex()
    }

    fn __repr__(&self) -> String {
        format!(
            "Tlbf(n={}, m={}, k={}, fingerprint='{}')",
            self.filter.n(),
            self.filter.m(),
            self.filter.k(),
            self.filter.fingerprint_hex()
        )
    }
}
