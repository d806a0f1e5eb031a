//! Python exceptions. Every one derives from `trialink.TrialinkError` and
//! carries `code` (a stable reason code, as in the CLI's rejects files and
//! manifests), `hint` (what to do next, as the CLI prints it) and, where the
//! library knows one, a position (`line`, `row`, `column`, `json_path`).
//! Messages are the library's, so they match the CLI's and hold no values.

use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;

pyo3::create_exception!(
    trialink,
    TrialinkError,
    PyException,
    "Base class of trialink errors."
);
pyo3::create_exception!(
    trialink,
    KeyFileError,
    TrialinkError,
    "A key or secret file was refused."
);
pyo3::create_exception!(
    trialink,
    ScopeError,
    TrialinkError,
    "A scope label breaks the scope grammar."
);
pyo3::create_exception!(
    trialink,
    SchemaError,
    TrialinkError,
    "A linkage schema was refused."
);
pyo3::create_exception!(
    trialink,
    InputError,
    TrialinkError,
    "An input table or column was refused."
);
pyo3::create_exception!(trialink, LinkError, TrialinkError, "Linkage could not run.");
pyo3::create_exception!(trialink, FilterError, TrialinkError, "A TLBF filter was refused.");

/// Add the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("TrialinkError", py.get_type::<TrialinkError>())?;
    m.add("KeyFileError", py.get_type::<KeyFileError>())?;
    m.add("ScopeError", py.get_type::<ScopeError>())?;
    m.add("SchemaError", py.get_type::<SchemaError>())?;
    m.add("InputError", py.get_type::<InputError>())?;
    m.add("LinkError", py.get_type::<LinkError>())?;
    m.add("FilterError", py.get_type::<FilterError>())?;
    Ok(())
}

/// An exception of type `T` with `message` and attributes.
pub fn raise<T: pyo3::type_object::PyTypeInfo>(
    message: String,
    code: &str,
    hint: Option<&str>,
    attrs: &[(&str, Option<u64>)],
) -> PyErr {
    Python::attach(|py| {
        let err = PyErr::new::<T, _>(message);
        let value = err.value(py);
        let set = || -> PyResult<()> {
            value.setattr("code", code)?;
            value.setattr("hint", hint)?;
            for name in ["row", "line", "json_path"] {
                value.setattr(name, py.None())?;
            }
            for (name, v) in attrs {
                value.setattr(*name, *v)?;
            }
            Ok(())
        };
        match set() {
            Ok(()) => err,
            Err(e) => e,
        }
    })
}

/// A key-file error as `KeyFileError` (code, line, hint).
pub fn key_file(e: pseudonym::keyfile::KeyFileError) -> PyErr {
    use pseudonym::keyfile::KeyFileError as E;
    let (code, line) = match &e {
        E::BadLine { line } => ("bad_line", Some(*line as u64)),
        E::DuplicateKey { line } => ("duplicate_key", Some(*line as u64)),
        E::MissingKey => ("missing_key", None),
        E::BadScope { line } => ("bad_scope", Some(*line as u64)),
        E::FingerprintMismatch { line } => ("fingerprint_mismatch", Some(*line as u64)),
        E::NotUtf8 => ("not_utf8", None),
        E::TooLarge => ("too_large", None),
        E::Permissions { .. } => ("permissions", None),
        E::Exists => ("exists", None),
        E::Io(_) => ("io", None),
    };
    raise::<KeyFileError>(e.to_string(), code, Some(e.hint()), &[("line", line)])
}

/// A tabular (file) error as `InputError`, with its record position.
pub fn tabular(e: tabular::TabularError) -> PyErr {
    use tabular::TabularError as E;
    let (code, line, record) = match &e {
        E::Open { .. } => ("open", None, None),
        E::Empty { .. } => ("empty", None, None),
        E::Read { line, record, .. } => ("read", Some(*line), Some(*record)),
        E::RecordTooLong { line, record, .. } => ("record_too_long", Some(*line), Some(*record)),
        E::TooManyColumns { line, record, .. } => ("too_many_columns", Some(*line), Some(*record)),
        E::OutputExists { .. } => ("output_exists", None, None),
        E::Write { .. } => ("write", None, None),
        _ => ("input", None, None),
    };
    raise::<InputError>(e.to_string(), code, e.hint(), &[("line", line), ("row", record)])
}

/// A bad argument (`ValueError`, no data in it).
pub fn argument(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(message.into())
}
