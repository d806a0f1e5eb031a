//! Rates shown beside a table's counts: which columns, and their values
//! from the published cells.

use crate::build::{Report, ReportKind};
use crate::stats::Estimate;
use disclosure::ProtectedTable;

/// A derived column: a rate of two columns of a table.
pub(crate) struct RateColumn {
    pub name: &'static str,
    pub numerator: &'static str,
    pub denominator: &'static str,
}

pub(crate) fn rate_columns(t: &ProtectedTable) -> Vec<RateColumn> {
    match ReportKind::of_table(&t.spec.id) {
        _ if t.spec.id == "service_studies" => rate_columns_uptake(),
        ReportKind::Uptake => rate_columns_uptake(),
        ReportKind::Swat => vec![RateColumn {
            name: "enrolment rate",
            numerator: "enrolled",
            denominator: TOTAL_COL,
        }],
        _ => vec![],
    }
}

fn rate_columns_uptake() -> Vec<RateColumn> {
    vec![
        RateColumn {
            name: "response rate",
            numerator: "responded",
            denominator: "delivered",
        },
        RateColumn {
            name: "enrolment rate",
            numerator: "enrolled",
            denominator: "delivered",
        },
    ]
}

const TOTAL_COL: &str = disclosure::TOTAL;

pub(crate) fn rate_of(report: &Report, t: &ProtectedTable, i: usize, rc: &RateColumn) -> Option<Estimate> {
    let n = t.spec.column_index(rc.numerator)?;
    let d = t.spec.column_index(rc.denominator)?;
    report.rate(t.published(i, n), t.published(i, d))
}
