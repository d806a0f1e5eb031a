//! Disclosure control for published counts: policies, primary and secondary
//! suppression, rounding, and an audit of what a reader can infer.
//!
//! * [`Policy`] — policies are data (TOML, see [`policy`]), with the
//!   built-ins `nhs-hes` (default), `opensafely` and `threshold-10`.
//! * [`Table`] — one- and two-way tables with totals, nested columns,
//!   cumulative tables and cells shared between linked tables ([`table`]).
//! * [`protect_release`] — primary suppression, rounding, secondary
//!   suppression, and repair driven by the audit across every earlier
//!   release of the same study ([`protect`]); gives a [`Protected`] whose
//!   [`Protected::release`] is the serialisable [`Release`] to publish and
//!   record.
//! * [`audit()`] — the linear program of everything a reader of every
//!   release of every series (studies and the service evaluation) knows:
//!   published cells with their rounding bounds, totals, nested columns,
//!   linked tables, quotes of other releases ([`Quote`]), counts that never
//!   fall between releases; split into independent parts; each suppressed
//!   cell's feasible interval, each rounded count's number of feasible
//!   values (`min_rounded_values`) and every difference between releases
//!   ([`mod@audit`]).
//!
//! ```
//! use disclosure::{protect, audit, Policy, Table};
//! let t = Table::one_way("uptake", "Enrolled by arm", "arm", "enrolled",
//!     &[("A", 3), ("B", 40), ("C", 52)]);
//! let policy = Policy::default_policy();
//! let p = protect(&[t], &policy).unwrap();
//! let release = p.release();
//! assert!(release.tables[0].cells[0][0].is_suppressed());
//! assert!(audit(&[release], &policy).unwrap().passed());
//! ```

// No unsafe code but the declared calls into Clp (`audit/clp.rs`, cargo
// feature `clp` only).
#![cfg_attr(not(feature = "clp"), forbid(unsafe_code))]
#![cfg_attr(feature = "clp", deny(unsafe_code))]

pub mod audit;
#[cfg(any(fuzzing, test))]
pub mod fuzz_hooks;
pub mod policy;
pub mod protect;
pub mod table;

pub use audit::{audit, audit_fast, AuditError, AuditReport, Finding, FindingKind, Interval};
pub use policy::{Policy, PolicyError, TotalsRule, ZeroRule, BUILTIN_POLICIES};
pub use protect::{protect, protect_release, CellStatus, ProtectError, Protected, ProtectedTable};
pub use table::{
    cross_equations, derived_rate, quoted_value, CrossEquation, Published, PublishedTable, Quote, Release,
    RowSum, SharedCell, Table, TableError, TableSpec, WeightedSum, RELEASE_FORMAT, TOTAL,
};
