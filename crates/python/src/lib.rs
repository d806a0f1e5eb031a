//! The native half of the `trialink` Python package: thin pyo3 bindings over
//! the `pseudonym`, `bloom` and `linkage` libraries, taking and returning
//! Arrow arrays through the Arrow C Data Interface (`arrow-pyarrow`).
//!
//! Everything here converts: Arrow arrays in, library calls, Arrow arrays
//! out. Table handling (choosing columns, casting to strings, assembling the
//! result table) is in the pure-Python `trialink` package beside it
//! (`python/trialink`), which is the public API; this module is
//! `trialink._native`.
//!
//! Secrets never cross into Python: a [`keys::Key`] or [`keys::Secret`] is
//! loaded from a file and only its fingerprint can be read back; neither can
//! be built from a Python string, printed or pickled. Errors are Python
//! exceptions ([`errors`]) carrying the library's codes and positions, never
//! a value from the data.

use pyo3::prelude::*;

pub mod arrays;
pub mod clk;
pub mod errors;
pub mod filter;
pub mod keys;
pub mod link;
pub mod tokens;

/// The `trialink._native` extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    m.add_class::<keys::Key>()?;
    m.add_class::<keys::Secret>()?;
    m.add_class::<clk::Schema>()?;
    m.add_class::<filter::Tlbf>()?;
    m.add_function(wrap_pyfunction!(tokens::pseudonymise_arrays, m)?)?;
    m.add_function(wrap_pyfunction!(clk::encode_arrays, m)?)?;
    m.add_function(wrap_pyfunction!(link::link_arrays, m)?)?;
    m.add_function(wrap_pyfunction!(link::candidates, m)?)?;
    m.add_function(wrap_pyfunction!(link::dice_pairs, m)?)?;
    m.add_function(wrap_pyfunction!(link::assign_greedy, m)?)?;
    m.add_function(wrap_pyfunction!(link::block_pairs, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
