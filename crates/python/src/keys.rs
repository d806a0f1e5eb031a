//! `trialink.Key` and `trialink.Secret`: key material that Python can hold
//! and pass back, but never read, print, build from a string or pickle.

use crate::errors;
use pseudonym::{keyfile, Scope};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use std::path::PathBuf;

/// A trialink key (master or scope key), loaded from a key file.
///
/// Only the fingerprint and the scope can be read back. Keys cannot be made
/// from Python strings or bytes, are not printed by ``repr`` and cannot be
/// pickled: on a cluster, give executors the key file's path.
///
/// >>> key = trialink.Key.load("registry.key")          # doctest: +SKIP
/// >>> key.fingerprint                                   # doctest: +SKIP
/// 'df669beb65955670'
#[pyclass(frozen, module = "trialink")]
pub struct Key {
    pub(crate) key: pseudonym::Key,
    pub(crate) scope: Option<Scope>,
    pub(crate) test_only: bool,
}

#[pymethods]
impl Key {
    /// Load a key file (``TRIALINK-KEY-1``; mode 0600, at most 64 KiB).
    /// Raises ``KeyFileError`` with ``code`` and ``line``.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Key> {
        let kf = py.detach(|| keyfile::read(&path)).map_err(errors::key_file)?;
        Ok(Key {
            key: kf.key,
            scope: kf.scope,
            test_only: kf.test_only,
        })
    }

    /// The scope key for ``scope`` (HKDF-SHA256, as ``trialink keys derive``).
    /// Raises ``ScopeError`` for a label outside the scope grammar.
    fn derive(&self, scope: &str) -> PyResult<Key> {
        let s = parse_scope(scope)?;
        Ok(Key {
            key: self.key.derive(&s),
            scope: Some(s),
            test_only: self.test_only,
        })
    }

    /// The key's fingerprint (16 hex characters), safe to publish.
    #[getter]
    fn fingerprint(&self) -> String {
        self.key.fingerprint().to_string()
    }

    /// The scope named by the key file's ``# scope:`` comment, or by ``derive``.
    #[getter]
    fn scope(&self) -> Option<String> {
        self.scope.as_ref().map(|s| s.to_string())
    }

    /// Whether the key file is labelled ``# label: test-only``.
    #[getter]
    fn test_only(&self) -> bool {
        self.test_only
    }

    fn __repr__(&self) -> String {
        match &self.scope {
            Some(s) => format!("Key(fingerprint='{}', scope='{s}')", self.key.fingerprint()),
            None => format!("Key(fingerprint='{}')", self.key.fingerprint()),
        }
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(not_picklable())
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Key>()
            .map(|o| o.get().key.ct_eq(&self.key))
            .unwrap_or(false)
    }

    fn __hash__(&self) -> u64 {
        u64::from_be_bytes(self.key.fingerprint().0)
    }
}

/// A CLK secret shared between the parties that link (as for
/// ``trialink encode --secret-file``), or derived from a trialink key (as for
/// ``trialink encode --key``). Never printed, never pickled.
#[pyclass(frozen, module = "trialink")]
pub struct Secret {
    pub(crate) secret: bloom::clk::ClkSecret,
    pub(crate) from_key: Option<String>,
}

#[pymethods]
impl Secret {
    /// Read a secret file (its content less one trailing newline). Raises
    /// ``KeyFileError`` if it cannot be read or is empty.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Secret> {
        let s = py
            .detach(|| bloom::clk::ClkSecret::read_file(&path))
            .map_err(|e| {
                errors::raise::<errors::KeyFileError>(
                    format!("secret file {}: cannot read: {}", path.display(), e.kind()),
                    "io",
                    Some("check the path and that the file holds the shared CLK secret"),
                    &[],
                )
            })?;
        if s.expose().is_empty() {
            return Err(errors::raise::<errors::KeyFileError>(
                format!("secret file {}: is empty", path.display()),
                "empty",
                Some("put the shared CLK secret in the file"),
                &[],
            ));
        }
        Ok(Secret {
            secret: s,
            from_key: None,
        })
    }

    /// The CLK secret derived from a trialink key (HKDF, "clk-secret").
    #[staticmethod]
    fn from_key(key: &Key) -> Secret {
        Secret {
            secret: bloom::clk::ClkSecret::from_trialink_key(key.key.expose_secret()),
            from_key: Some(key.key.fingerprint().to_string()),
        }
    }

    fn __repr__(&self) -> String {
        match &self.from_key {
            Some(fp) => format!("Secret(from key {fp})"),
            None => "Secret(<redacted>)".to_string(),
        }
    }

    fn __reduce__(&self) -> PyResult<()> {
        Err(not_picklable())
    }
}

fn not_picklable() -> PyErr {
    PyTypeError::new_err(
        "trialink keys and secrets cannot be pickled; pass the key or secret file's path to workers instead",
    )
}

/// Validate a scope label, as `ScopeError`.
pub fn parse_scope(scope: &str) -> PyResult<Scope> {
    Scope::new(scope).map_err(|e| {
        errors::raise::<errors::ScopeError>(
            format!("scope: {e}"),
            match e {
                pseudonym::ScopeError::Length => "scope_length",
                pseudonym::ScopeError::Characters => "scope_characters",
            },
            Some("e.g. trial:galleri-2 or registry:bpor"),
            &[],
        )
    })
}
