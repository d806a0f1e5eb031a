//! Arrow arrays across the boundary: strings in (as byte slices), strings,
//! floats, integers and booleans out.

use crate::errors;
use arrow_array::{make_array, Array, ArrayRef};
use arrow_pyarrow::{FromPyArrow, ToPyArrow};
use arrow_schema::DataType;
use pyo3::prelude::*;

/// A string (or binary) column borrowed from a pyarrow array: row `i` as bytes,
/// a null as empty.
pub struct Text {
    array: ArrayRef,
}

impl Text {
    /// Import a pyarrow array of `string`, `large_string`, `string_view`,
    /// `binary` or `large_binary`; anything else is a `TypeError` naming
    /// `what` (the Python layer casts other types first).
    pub fn from_py(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Text> {
        let data = arrow_data::ArrayData::from_pyarrow_bound(&single(obj)?)?;
        let array = make_array(data);
        match array.data_type() {
            DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView => Ok(Text { array }),
            t => Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "{what}: expected a string or binary array, got {t}"
            ))),
        }
    }

    /// Rows.
    pub fn len(&self) -> usize {
        self.array.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.array.is_empty()
    }

    /// Row `i` as bytes (empty for a null).
    pub fn get(&self, i: usize) -> &[u8] {
        use arrow_array::cast::AsArray;
        if self.array.is_null(i) {
            return b"";
        }
        match self.array.data_type() {
            DataType::Utf8 => self.array.as_string::<i32>().value(i).as_bytes(),
            DataType::LargeUtf8 => self.array.as_string::<i64>().value(i).as_bytes(),
            DataType::Utf8View => self.array.as_string_view().value(i).as_bytes(),
            DataType::Binary => self.array.as_binary::<i32>().value(i),
            DataType::LargeBinary => self.array.as_binary::<i64>().value(i),
            DataType::BinaryView => self.array.as_binary_view().value(i),
            _ => b"",
        }
    }

    /// Row `i` as text (`None` if it is not UTF-8; empty for a null).
    pub fn str(&self, i: usize) -> Option<&str> {
        std::str::from_utf8(self.get(i)).ok()
    }
}

/// A `pyarrow.ChunkedArray` as one array (others as they are).
pub fn single<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    if obj.hasattr("num_chunks")? {
        obj.call_method0("combine_chunks")
    } else {
        Ok(obj.clone())
    }
}

/// Export an Arrow array to pyarrow.
pub fn to_py<'py>(py: Python<'py>, a: &dyn Array) -> PyResult<Bound<'py, PyAny>> {
    a.to_data().to_pyarrow(py)
}

/// Rows of `a` must equal `n`.
pub fn same_length(n: usize, a: &Text, what: &str) -> PyResult<()> {
    if a.len() != n {
        return Err(errors::argument(format!(
            "{what} has {} rows where {n} were expected",
            a.len()
        )));
    }
    Ok(())
}
