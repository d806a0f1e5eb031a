//! The cohort's columns and the batch file's columns.

use super::InviteError;
use crate::request::{Channel, Criteria, GpCriteria};
use pseudonym::NhsNumber;

/// Column indexes in the cohort.
pub(crate) struct Columns {
    pub nhs: usize,
    pub dob: usize,
    pub sex: Option<usize>,
    pub ethnic: Option<usize>,
    pub given: Option<usize>,
    pub family: Option<usize>,
    pub postcode: Option<usize>,
    pub region: Option<usize>,
    pub conditions: Option<usize>,
    /// Required when the request has GP practice criteria.
    pub gp_practice: Option<usize>,
    pub flags: [usize; 5],
    /// The batch's source columns after `reference` and `template`.
    pub contact: Vec<Option<usize>>,
    /// Columns that must be non-blank for someone to be reachable.
    pub required: Vec<usize>,
}

impl Columns {
    /// Find the cohort's columns for a request's criteria, route and channel.
    pub(crate) fn find(
        src: &tabular::Source,
        c: &Criteria,
        gp: &GpCriteria,
        route: store::OutputRoute,
        channel: Channel,
    ) -> Result<Columns, InviteError> {
        let gp_names = ["gp_practice", "gp_practice_code", "practice_code"];
        // Fields are looked up in the order written (the first missing
        // column is the one reported).
        let cols = Columns {
            nhs: src.column(None, &["nhs_number", "nhs_no", "nhsnumber"], "NHS number")?,
            dob: src.column(None, &["date_of_birth", "dob", "birth_date"], "date of birth")?,
            sex: src.optional_column(None, &["sex", "gender"], "sex")?,
            ethnic: src.optional_column(None, &["ethnic_category", "ethnicity"], "ethnic category")?,
            region: src.optional_column(None, &["region"], "region")?,
            given: src.optional_column(None, &["given_name", "first_name", "forename"], "given name")?,
            family: src.optional_column(None, &["family_name", "surname", "last_name"], "family name")?,
            postcode: src.optional_column(None, &["postcode", "post_code"], "postcode")?,
            conditions: if c.required_conditions.is_empty() && c.excluded_conditions.is_empty() {
                src.optional_column(None, &["conditions"], "conditions")?
            } else {
                Some(src.column(None, &["conditions"], "conditions")?)
            },
            gp_practice: if gp.is_empty() {
                None
            } else {
                Some(src.column(None, &gp_names, "GP practice code")?)
            },
            flags: [
                src.column(None, &["deceased"], "deceased flag")?,
                src.column(
                    None,
                    &["national_data_opt_out", "ndop"],
                    "National Data Opt-out flag",
                )?,
                src.column(None, &["s_flag", "sensitive"], "S-flag")?,
                src.column(None, &["armed_forces"], "armed forces flag")?,
                src.column(None, &["prison"], "prison flag")?,
            ],
            contact: Vec::new(),
            required: Vec::new(),
        };
        let (contact, required) = contact_columns(src, route, channel)?;
        Ok(Columns {
            contact,
            required,
            ..cols
        })
    }
}

/// The columns of a batch file: route 1 (the NHS notification service)
/// carries the reference, the template and the NHS number only; routes 2–4
/// carry the channel's contact fields.
pub fn batch_columns(route: store::OutputRoute, channel: Channel) -> &'static [&'static str] {
    match route {
        store::OutputRoute::NhsNotification => NOTIFICATION_COLUMNS,
        _ => channel.columns(),
    }
}

/// Route 1's batch columns.
const NOTIFICATION_COLUMNS: &[&str] = &["reference", "template", "nhs_number"];

/// The source columns a batch row takes after `reference` and `template`
/// (`None`: an optional column the file lacks) and those that must be
/// usable for a person to be reachable.
pub(crate) fn contact_columns(
    src: &tabular::Source,
    route: store::OutputRoute,
    channel: Channel,
) -> Result<(Vec<Option<usize>>, Vec<usize>), InviteError> {
    if route == store::OutputRoute::NhsNotification {
        let i = src.column(None, &["nhs_number", "nhs_no", "nhsnumber"], "NHS number")?;
        return Ok((vec![Some(i)], vec![i]));
    }
    let mut contact = Vec::new();
    let mut required = Vec::new();
    for &c in channel.contact_columns() {
        let must = c == "given_name" || c == "family_name" || channel.required_columns().contains(&c);
        let idx = if must {
            Some(src.column(None, &[c], c)?)
        } else {
            src.optional_column(None, &[c], c)?
        };
        if channel.required_columns().contains(&c) {
            required.push(idx.expect("required column found"));
        }
        contact.push(idx);
    }
    Ok((contact, required))
}

/// A batch cell from a source cell: route 1's NHS number in its normal
/// form (`None` when it does not parse: the row is unusable), any other
/// value trimmed.
pub(crate) fn batch_cell(route: store::OutputRoute, cell: &[u8]) -> Option<Vec<u8>> {
    if route == store::OutputRoute::NhsNotification {
        NhsNumber::parse_bytes(cell).ok().map(|n| n.as_bytes().to_vec())
    } else {
        Some(cell.trim_ascii().to_vec())
    }
}
