//! The table model: one- and two-way tables with totals, nested columns,
//! cumulative tables and cells shared between linked tables.
//!
//! A table's *grid* is its leaf cells plus, when asked for, a `Total` row
//! (column sums) and a `Total` column (row sums). Grid cells are addressed by
//! `(row, column)` indices; the total row is the last row and the total column
//! the last column.

// Grid code indexes several parallel grids by (row, column).
#![allow(clippy::needless_range_loop)]

use crate::policy::Policy;
use serde::{Deserialize, Serialize};

/// The label of total rows and columns.
pub const TOTAL: &str = "Total";

/// A cell of a table shared with another table of the same release (linked
/// tables): every cell with the same `key` holds the same count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SharedCell {
    /// Row label (or `Total`).
    pub row: String,
    /// Column label (or `Total`).
    pub column: String,
    /// Key naming the shared quantity, e.g. `invited:all`.
    pub key: String,
}

/// A row of a table that is the sum of rows of another table of the same
/// release, column by column (columns matched by label; exempt columns and
/// columns the other table lacks are not related). E.g. uptake by age band
/// `50-54` = uptake by quota stratum `female / 50-54` + `male / 50-54`.
/// Readers are assumed to know it: the audit adds the equations, and
/// secondary suppression treats each as a margin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowSum {
    /// Row label in this table (a leaf row).
    pub row: String,
    /// Id of the other table.
    pub table: String,
    /// Leaf rows of the other table that add up to `row`.
    pub rows: Vec<String>,
}

/// A weighted sum of one column of this table bounded by, or equal to, a
/// cell of another table of the same release: `Σ weights[i] × (row i,
/// column) = (row, to_column) of table`, or `≤` when the last row is an
/// open bucket (`4 or more`: each counted at least its weight). E.g. people
/// by number of invitations received, weighted by that number, add up to
/// the invitations sent. The audit adds the relation; secondary suppression
/// leaves it to the audit-driven repair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightedSum {
    /// Column of this table.
    pub column: String,
    /// One weight per leaf row.
    pub weights: Vec<u64>,
    /// The last row counts each of its members as at least its weight.
    #[serde(default)]
    pub open_last: bool,
    /// Id of the other table.
    pub table: String,
    /// Row of the other table (or `Total`).
    pub row: String,
    /// Column of the other table (or `Total`).
    pub to_column: String,
}

/// A cell that quotes cells already published in another release (of
/// another series, e.g. the service evaluation quoting a study's latest
/// release): its count is the sum of the quoted cells' counts, and it is
/// published as the sum of their published values (`*` when any of them is
/// `*`), never rounded again. A reader learns nothing from a faithful quote;
/// the audit relates the two (`cell = Σ quoted`) and checks that the
/// published value is the faithful one — a quote published with any other
/// value is audited as a rounded count tied to the quoted cells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quote {
    /// Row label in this table (or `Total`).
    pub row: String,
    /// Column label in this table (or `Total`).
    pub column: String,
    /// Series (study) of the quoted release.
    pub study: String,
    /// Sequence number of the quoted release.
    pub sequence: u32,
    /// Table id in the quoted release.
    pub table: String,
    /// `[row, column]` labels of the quoted cells (added up).
    pub cells: Vec<[String; 2]>,
}

/// The faithful published value of a quote, from the quoted cells'
/// published values: their sum, or `*` when any is `*`.
pub fn quoted_value(cells: &[Published]) -> Published {
    let mut sum = 0u64;
    for c in cells {
        match c {
            Published::Count(v) => sum += v,
            Published::Suppressed => return Published::Suppressed,
        }
    }
    Published::Count(sum)
}

/// The structure of a table (everything but the numbers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableSpec {
    /// Identifier, stable across releases (e.g. `uptake_by_arm`).
    pub id: String,
    /// Human title.
    pub title: String,
    /// Header of the label column (e.g. `arm`).
    pub row_header: String,
    /// Row labels (leaf rows, without the total).
    pub rows: Vec<String>,
    /// Column labels (leaf columns, without the total).
    pub columns: Vec<String>,
    /// Add a `Total` row: each column's sum over the rows.
    #[serde(default)]
    pub total_row: bool,
    /// Add a `Total` column: each row's sum over the columns (only when the
    /// columns are categories of one variable).
    #[serde(default)]
    pub total_column: bool,
    /// Pairs `[a, b]`: in every row, column `a` ≤ column `b` (nested
    /// measures, e.g. enrolled ≤ invited). Readers are assumed to know this.
    #[serde(default)]
    pub column_order: Vec<[String; 2]>,
    /// Columns that are not counts of people (e.g. requested quotas):
    /// published exactly, never suppressed.
    #[serde(default)]
    pub exempt_columns: Vec<String>,
    /// Counts are cumulative across releases of the same study (never fall).
    #[serde(default)]
    pub cumulative: bool,
    /// In a cumulative table, labels of rows or columns whose counts may
    /// fall between releases (e.g. `delivered` falls as returns come in).
    /// Their cells carry no monotone constraint; differences are checked
    /// in both directions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub may_fall: Vec<String>,
    /// Cells equal to cells of other tables in the same release.
    #[serde(default)]
    pub shared: Vec<SharedCell>,
    /// Rows that are sums of rows of another table of the same release.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub row_sums: Vec<RowSum>,
    /// Weighted sums of a column bounded by a cell of another table.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weighted_sums: Vec<WeightedSum>,
    /// Cells quoting cells of other releases.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quotes: Vec<Quote>,
    /// Pairs `[a, b]` for a table whose leaf rows are consecutive periods
    /// of new counts (e.g. recruitment by week): to every row, the running
    /// sum of column `a` is at most that of column `b` (enrolled to date ≤
    /// responded to date). Readers are assumed to know this.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub running_order: Vec<[String; 2]>,
    /// For such a table, also cumulative: the running sum of every column
    /// to each row (the count to date at the end of that period) never
    /// falls between releases, even in columns whose cells may (a response
    /// moved to an earlier week).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub running_cumulative: bool,
}

/// An equation of a table: `total = sum(parts)`, grid positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equation {
    /// Position of the total.
    pub total: (usize, usize),
    /// Positions of the parts.
    pub parts: Vec<(usize, usize)>,
}

impl Equation {
    /// The total followed by the parts.
    pub fn members(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        std::iter::once(self.total).chain(self.parts.iter().copied())
    }
}

/// Why a table is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// The counts do not have `rows × columns` entries.
    #[error(
        "table `{table}`: counts have {got} row(s) of widths {widths:?}, expected {rows} row(s) of {columns}"
    )]
    Shape {
        /// Table id.
        table: String,
        /// Rows in the spec.
        rows: usize,
        /// Columns in the spec.
        columns: usize,
        /// Rows given.
        got: usize,
        /// Widths given.
        widths: Vec<usize>,
    },
    /// A label is empty, duplicated, or is the reserved `Total`.
    #[error("table `{table}`: {what} label number {index} is empty, duplicated or `Total`")]
    Label {
        /// Table id.
        table: String,
        /// `row` or `column`.
        what: &'static str,
        /// 1-based index.
        index: usize,
    },
    /// A structural reference names a row or column that does not exist.
    #[error("table `{table}`: {field} names a row or column that is not in the table")]
    Reference {
        /// Table id.
        table: String,
        /// Field, e.g. `column_order`.
        field: &'static str,
    },
    /// A total column with exempt (non-count) columns would add quotas to people.
    #[error("table `{table}`: a total column cannot add exempt columns")]
    ExemptTotal {
        /// Table id.
        table: String,
    },
    /// Two tables of a release have the same id.
    #[error("table id `{table}` used twice in one release")]
    DuplicateId {
        /// Table id.
        table: String,
    },
    /// The published grid does not match the spec.
    #[error("table `{table}`: published cells do not match its rows and columns")]
    PublishedShape {
        /// Table id.
        table: String,
    },
}

impl TableSpec {
    /// Rows in the grid (with the total row).
    pub fn grid_rows(&self) -> usize {
        self.rows.len() + usize::from(self.total_row)
    }

    /// Columns in the grid (with the total column).
    pub fn grid_columns(&self) -> usize {
        self.columns.len() + usize::from(self.total_column)
    }

    /// Label of grid row `i`.
    pub fn row_label(&self, i: usize) -> &str {
        self.rows.get(i).map(String::as_str).unwrap_or(TOTAL)
    }

    /// Label of grid column `j`.
    pub fn column_label(&self, j: usize) -> &str {
        self.columns.get(j).map(String::as_str).unwrap_or(TOTAL)
    }

    /// True for the total row.
    pub fn is_total_row(&self, i: usize) -> bool {
        i >= self.rows.len()
    }

    /// True for the total column.
    pub fn is_total_column(&self, j: usize) -> bool {
        j >= self.columns.len()
    }

    /// True for a leaf (neither in the total row nor in the total column).
    pub fn is_leaf(&self, i: usize, j: usize) -> bool {
        !self.is_total_row(i) && !self.is_total_column(j)
    }

    /// Grid row index of a label.
    pub fn row_index(&self, label: &str) -> Option<usize> {
        if label == TOTAL && self.total_row {
            return Some(self.rows.len());
        }
        self.rows.iter().position(|r| r == label)
    }

    /// Grid column index of a label.
    pub fn column_index(&self, label: &str) -> Option<usize> {
        if label == TOTAL && self.total_column {
            return Some(self.columns.len());
        }
        self.columns.iter().position(|c| c == label)
    }

    /// True when the cell at grid `(i, j)` of a cumulative table may fall
    /// between releases (its row or column is listed in `may_fall`).
    pub fn may_fall_at(&self, i: usize, j: usize) -> bool {
        !self.may_fall.is_empty()
            && (self
                .may_fall
                .iter()
                .any(|l| l == self.row_label(i) || l == self.column_label(j)))
    }

    /// True when grid column `j` is exempt (not a count of people).
    pub fn is_exempt(&self, j: usize) -> bool {
        !self.is_total_column(j) && self.exempt_columns.iter().any(|c| c == &self.columns[j])
    }

    /// The additive relations of the grid.
    pub fn equations(&self) -> Vec<Equation> {
        let mut out = Vec::new();
        let (nr, nc) = (self.rows.len(), self.columns.len());
        if self.total_row {
            for j in 0..self.grid_columns() {
                out.push(Equation {
                    total: (nr, j),
                    parts: (0..nr).map(|i| (i, j)).collect(),
                });
            }
        }
        if self.total_column {
            for i in 0..self.grid_rows() {
                out.push(Equation {
                    total: (i, nc),
                    parts: (0..nc).map(|j| (i, j)).collect(),
                });
            }
        }
        out
    }

    /// Nested-column pairs as grid column indices `(smaller, larger)`.
    pub fn order_pairs(&self) -> Vec<(usize, usize)> {
        self.column_order
            .iter()
            .filter_map(|[a, b]| Some((self.column_index(a)?, self.column_index(b)?)))
            .collect()
    }

    /// Running-sum pairs as grid column indices `(smaller, larger)`.
    pub fn running_pairs(&self) -> Vec<(usize, usize)> {
        self.running_order
            .iter()
            .filter_map(|[a, b]| Some((self.column_index(a)?, self.column_index(b)?)))
            .collect()
    }

    /// Shared cells as `(grid position, key)`.
    pub fn shared_positions(&self) -> Vec<((usize, usize), &str)> {
        self.shared
            .iter()
            .filter_map(|s| {
                Some((
                    (self.row_index(&s.row)?, self.column_index(&s.column)?),
                    s.key.as_str(),
                ))
            })
            .collect()
    }

    /// Check labels and references.
    pub fn validate(&self) -> Result<(), TableError> {
        let t = || self.id.clone();
        for (what, labels) in [("row", &self.rows), ("column", &self.columns)] {
            for (k, l) in labels.iter().enumerate() {
                if l.trim().is_empty() || l == TOTAL || labels[..k].contains(l) {
                    return Err(TableError::Label {
                        table: t(),
                        what,
                        index: k + 1,
                    });
                }
            }
        }
        if self.order_pairs().len() != self.column_order.len() {
            return Err(TableError::Reference {
                table: t(),
                field: "column_order",
            });
        }
        if self.running_pairs().len() != self.running_order.len() {
            return Err(TableError::Reference {
                table: t(),
                field: "running_order",
            });
        }
        if self.exempt_columns.iter().any(|c| !self.columns.contains(c)) {
            return Err(TableError::Reference {
                table: t(),
                field: "exempt_columns",
            });
        }
        if self.shared_positions().len() != self.shared.len() {
            return Err(TableError::Reference {
                table: t(),
                field: "shared",
            });
        }
        if self.total_column && !self.exempt_columns.is_empty() {
            return Err(TableError::ExemptTotal { table: t() });
        }
        Ok(())
    }
}

/// An equation between cells of different tables of one release:
/// `total = sum(parts)`, cells as `(table index, (row, column))`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrossEquation {
    /// The composed cell.
    pub total: (usize, (usize, usize)),
    /// The cells it adds up.
    pub parts: Vec<(usize, (usize, usize))>,
}

impl CrossEquation {
    /// The total followed by the parts.
    pub fn members(&self) -> impl Iterator<Item = (usize, (usize, usize))> + '_ {
        std::iter::once(self.total).chain(self.parts.iter().copied())
    }
}

/// The equations of every [`RowSum`] of `specs` (one release's tables, in
/// order); an error when a row sum names a table, row or column that is not
/// there.
pub fn cross_equations(specs: &[&TableSpec]) -> Result<Vec<CrossEquation>, TableError> {
    let mut out = Vec::new();
    for (t, s) in specs.iter().enumerate() {
        for rs in &s.row_sums {
            let bad = || TableError::Reference {
                table: s.id.clone(),
                field: "row_sums",
            };
            let i = s.rows.iter().position(|r| r == &rs.row).ok_or_else(bad)?;
            let t2 = specs
                .iter()
                .position(|o| o.id == rs.table && o.id != s.id)
                .ok_or_else(bad)?;
            let o = specs[t2];
            let rows: Vec<usize> = rs
                .rows
                .iter()
                .map(|r| o.rows.iter().position(|x| x == r))
                .collect::<Option<_>>()
                .ok_or_else(bad)?;
            for (j, c) in s.columns.iter().enumerate() {
                if s.is_exempt(j) {
                    continue;
                }
                let Some(j2) = o.columns.iter().position(|x| x == c) else {
                    continue;
                };
                if o.is_exempt(j2) {
                    continue;
                }
                out.push(CrossEquation {
                    total: (t, (i, j)),
                    parts: rows.iter().map(|&i2| (t2, (i2, j2))).collect(),
                });
            }
        }
    }
    Ok(out)
}

/// A cell of a release: `(table index, (row, column))`.
pub type CellRef = (usize, (usize, usize));

/// A weighted relation between cells of one release:
/// `Σ weight × cell (=|≤) bound`, cells as `(table index, (row, column))`.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightedRelation {
    /// Weighted cells.
    pub terms: Vec<(CellRef, f64)>,
    /// `true` for `≤`, `false` for `=`.
    pub at_most: bool,
    /// The bounding cell.
    pub bound: CellRef,
}

/// The relations of every [`WeightedSum`] of `specs` (one release's
/// tables, in order); an error when one names a missing table, row or
/// column, or has the wrong number of weights.
pub fn weighted_relations(specs: &[&TableSpec]) -> Result<Vec<WeightedRelation>, TableError> {
    let mut out = Vec::new();
    for (t, s) in specs.iter().enumerate() {
        for w in &s.weighted_sums {
            let bad = || TableError::Reference {
                table: s.id.clone(),
                field: "weighted_sums",
            };
            let j = s.columns.iter().position(|c| c == &w.column).ok_or_else(bad)?;
            if w.weights.len() != s.rows.len() || s.is_exempt(j) {
                return Err(bad());
            }
            let t2 = specs
                .iter()
                .position(|o| o.id == w.table && o.id != s.id)
                .ok_or_else(bad)?;
            let o = specs[t2];
            let (Some(i2), Some(j2)) = (o.row_index(&w.row), o.column_index(&w.to_column)) else {
                return Err(bad());
            };
            out.push(WeightedRelation {
                terms: w
                    .weights
                    .iter()
                    .enumerate()
                    .map(|(i, &wt)| ((t, (i, j)), wt as f64))
                    .collect(),
                at_most: w.open_last,
                bound: (t2, (i2, j2)),
            });
        }
    }
    Ok(out)
}

/// A table of true counts, before protection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Structure.
    pub spec: TableSpec,
    /// Leaf counts, `rows × columns`.
    pub counts: Vec<Vec<u64>>,
}

impl Table {
    /// A one-way table: one count column, with a total row.
    pub fn one_way(id: &str, title: &str, row_header: &str, column: &str, rows: &[(&str, u64)]) -> Table {
        Table {
            spec: TableSpec {
                id: id.into(),
                title: title.into(),
                row_header: row_header.into(),
                rows: rows.iter().map(|r| r.0.to_string()).collect(),
                columns: vec![column.to_string()],
                total_row: true,
                total_column: false,
                column_order: vec![],
                exempt_columns: vec![],
                cumulative: false,
                may_fall: vec![],
                shared: vec![],
                row_sums: vec![],
                weighted_sums: vec![],
                quotes: vec![],
                running_order: vec![],
                running_cumulative: false,
            },
            counts: rows.iter().map(|r| vec![r.1]).collect(),
        }
    }

    /// A two-way table with a total row and a total column.
    pub fn two_way(
        id: &str,
        title: &str,
        row_header: &str,
        rows: &[&str],
        columns: &[&str],
        counts: Vec<Vec<u64>>,
    ) -> Table {
        Table {
            spec: TableSpec {
                id: id.into(),
                title: title.into(),
                row_header: row_header.into(),
                rows: rows.iter().map(|s| s.to_string()).collect(),
                columns: columns.iter().map(|s| s.to_string()).collect(),
                total_row: true,
                total_column: true,
                column_order: vec![],
                exempt_columns: vec![],
                cumulative: false,
                may_fall: vec![],
                shared: vec![],
                row_sums: vec![],
                weighted_sums: vec![],
                quotes: vec![],
                running_order: vec![],
                running_cumulative: false,
            },
            counts,
        }
    }

    /// Check the shape and the spec.
    pub fn validate(&self) -> Result<(), TableError> {
        self.spec.validate()?;
        let (r, c) = (self.spec.rows.len(), self.spec.columns.len());
        if self.counts.len() != r || self.counts.iter().any(|row| row.len() != c) {
            return Err(TableError::Shape {
                table: self.spec.id.clone(),
                rows: r,
                columns: c,
                got: self.counts.len(),
                widths: self.counts.iter().map(Vec::len).collect(),
            });
        }
        Ok(())
    }

    /// The full grid of true counts, totals included.
    pub fn grid(&self) -> Vec<Vec<u64>> {
        let s = &self.spec;
        let mut g = vec![vec![0u64; s.grid_columns()]; s.grid_rows()];
        for (i, row) in self.counts.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                g[i][j] = v;
            }
        }
        fill_totals(s, &mut g);
        g
    }
}

/// Fill the total row and column of a grid from its leaves by addition.
pub(crate) fn fill_totals(s: &TableSpec, g: &mut [Vec<u64>]) {
    let (nr, nc) = (s.rows.len(), s.columns.len());
    if s.total_column {
        for row in g.iter_mut().take(nr) {
            row[nc] = row[..nc].iter().sum();
        }
    }
    if s.total_row {
        for j in 0..s.grid_columns() {
            g[nr][j] = (0..nr).map(|i| g[i][j]).sum();
        }
    }
}

/// A published cell: a number or `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Published {
    /// A published (possibly rounded) count.
    Count(u64),
    /// Suppressed, shown as `*`.
    Suppressed,
}

impl Published {
    /// The number, if published.
    pub fn count(self) -> Option<u64> {
        match self {
            Published::Count(v) => Some(v),
            Published::Suppressed => None,
        }
    }

    /// True for `*`.
    pub fn is_suppressed(self) -> bool {
        self == Published::Suppressed
    }
}

impl std::fmt::Display for Published {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Published::Count(v) => write!(f, "{v}"),
            Published::Suppressed => f.write_str("*"),
        }
    }
}

impl Serialize for Published {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Published::Count(v) => s.serialize_u64(*v),
            Published::Suppressed => s.serialize_str("*"),
        }
    }
}

impl<'de> Deserialize<'de> for Published {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Published;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a non-negative integer count or \"*\"")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Published, E> {
                Ok(Published::Count(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Published, E> {
                u64::try_from(v)
                    .map(Published::Count)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Published, E> {
                if v == "*" {
                    Ok(Published::Suppressed)
                } else {
                    Err(E::invalid_value(
                        serde::de::Unexpected::Other("a string other than \"*\""),
                        &self,
                    ))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// A table as published: structure and published cells only (no true counts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedTable {
    /// Structure.
    pub spec: TableSpec,
    /// Grid of published cells (totals included), `grid_rows × grid_columns`.
    pub cells: Vec<Vec<Published>>,
}

impl PublishedTable {
    /// Check the grid matches the spec.
    pub fn validate(&self) -> Result<(), TableError> {
        self.spec.validate()?;
        if self.cells.len() != self.spec.grid_rows()
            || self.cells.iter().any(|r| r.len() != self.spec.grid_columns())
        {
            return Err(TableError::PublishedShape {
                table: self.spec.id.clone(),
            });
        }
        Ok(())
    }

    /// Number of `*` cells.
    pub fn suppressed(&self) -> usize {
        self.cells.iter().flatten().filter(|c| c.is_suppressed()).count()
    }
}

/// The format tag of a serialised release.
pub const RELEASE_FORMAT: &str = "trialink-release-v1";

/// One release: the tables published together for a study, with the policy
/// they were published under. This is what the store keeps in its release
/// log and what `tables.json` in a report directory holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// Always [`RELEASE_FORMAT`].
    pub format: String,
    /// Study identifier.
    pub study: String,
    /// 1 for the first release of the study, then 2, 3, …
    pub sequence: u32,
    /// The policy the tables were protected under.
    pub policy: Policy,
    /// The tables.
    pub tables: Vec<PublishedTable>,
}

impl Release {
    /// Check every table and that ids are unique.
    pub fn validate(&self) -> Result<(), TableError> {
        let mut ids: Vec<&str> = Vec::new();
        for t in &self.tables {
            t.validate()?;
            if ids.contains(&t.spec.id.as_str()) {
                return Err(TableError::DuplicateId {
                    table: t.spec.id.clone(),
                });
            }
            ids.push(&t.spec.id);
        }
        self.cross_equations()?;
        weighted_relations(&self.tables.iter().map(|t| &t.spec).collect::<Vec<_>>())?;
        Ok(())
    }

    /// A table by id.
    pub fn table(&self, id: &str) -> Option<&PublishedTable> {
        self.tables.iter().find(|t| t.spec.id == id)
    }

    /// The cross-table equations of the release's [`RowSum`]s.
    pub fn cross_equations(&self) -> Result<Vec<CrossEquation>, TableError> {
        let specs: Vec<&TableSpec> = self.tables.iter().map(|t| &t.spec).collect();
        cross_equations(&specs)
    }

    /// Total `*` cells.
    pub fn suppressed(&self) -> usize {
        self.tables.iter().map(PublishedTable::suppressed).sum()
    }
}

/// A rate (proportion) derived from published counts: `None` when either is
/// suppressed or the denominator is zero. Computed from the published
/// (rounded) counts, so it reveals nothing the counts do not.
pub fn derived_rate(numerator: Published, denominator: Published) -> Option<f64> {
    match (numerator, denominator) {
        (Published::Count(n), Published::Count(d)) if d > 0 => Some(n as f64 / d as f64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_and_equations_two_way() {
        let t = Table::two_way(
            "t",
            "T",
            "r",
            &["a", "b"],
            &["x", "y", "z"],
            vec![vec![1, 2, 3], vec![4, 5, 6]],
        );
        t.validate().unwrap();
        let g = t.grid();
        assert_eq!(g, vec![vec![1, 2, 3, 6], vec![4, 5, 6, 15], vec![5, 7, 9, 21]]);
        let eqs = t.spec.equations();
        assert_eq!(eqs.len(), 4 + 3);
        for e in eqs {
            let sum: u64 = e.parts.iter().map(|&(i, j)| g[i][j]).sum();
            assert_eq!(g[e.total.0][e.total.1], sum);
        }
    }

    #[test]
    fn validation_catches_bad_labels_and_shapes() {
        let mut t = Table::one_way("t", "T", "r", "n", &[("a", 1), ("a", 2)]);
        assert!(matches!(t.validate(), Err(TableError::Label { .. })));
        t.spec.rows[1] = "b".into();
        t.validate().unwrap();
        t.counts.push(vec![3]);
        assert!(matches!(t.validate(), Err(TableError::Shape { .. })));
    }

    #[test]
    fn published_serde() {
        let cells = vec![Published::Count(25), Published::Suppressed];
        let s = serde_json::to_string(&cells).unwrap();
        assert_eq!(s, "[25,\"*\"]");
        let back: Vec<Published> = serde_json::from_str(&s).unwrap();
        assert_eq!(back, cells);
        assert!(serde_json::from_str::<Published>("\"x\"").is_err());
        assert!(serde_json::from_str::<Published>("-1").is_err());
    }
}
