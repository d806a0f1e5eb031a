//! Checks made before anything is read or written: the study register
//! (route, channel, agreement, legal basis), the as-of date, and the
//! cohort's columns for objections kept as CLKs.

use super::{iso, InviteError, MAX_AS_OF_DAYS};
use crate::request::{Channel, Validated};
use pseudonym::Date;
use store::Store;

/// Check a request against the study register before anything is written:
/// the route and channel must be permitted, the study open, the data
/// sharing agreement in force on `today` (or the as-of date, whichever is
/// later), routes 3 and 4 need section 251 support or consent, and registry
/// prioritisation / enrolled-list suppression need a recorded basis. A study
/// with no register entry may use only the service mailer (the behaviour
/// before the register), without registry prioritisation or an enrolled
/// list (no basis is recorded for either).
pub fn check_governance(
    store: &Store,
    v: &Validated,
    registry: bool,
    enrolled: bool,
    today: Date,
) -> Result<(), InviteError> {
    let r = &v.request;
    let route = v.route;
    store.check_not_purged(&r.study)?;
    match store.study_get(&r.study)? {
        None if route == store::OutputRoute::ServiceMailer => {
            for (used, purpose) in [
                (registry, "registry prioritisation (--registry, --registry-links)"),
                (enrolled, "enrolled-list suppression (--enrolled)"),
            ] {
                if used {
                    return Err(InviteError::UnregisteredProcessing {
                        study: r.study.clone(),
                        purpose,
                    });
                }
            }
        }
        None => {
            return Err(InviteError::NotRegistered {
                study: r.study.clone(),
                route,
            })
        }
        Some(entry) => {
            let channel = match r.channel {
                Channel::Postal => store::RegisterChannel::Postal,
                Channel::Sms => store::RegisterChannel::Sms,
                Channel::Email => store::RegisterChannel::Email,
            };
            entry.check_route(route, channel, today.max(v.as_of))?;
            let a = &entry.entry.approvals;
            let none = store::LegalBasis::None;
            if registry && a.registry_basis == none {
                return Err(InviteError::NoBasis {
                    study: r.study.clone(),
                    key: "approvals.registry_basis",
                    purpose: "registry prioritisation (--registry)",
                });
            }
            if enrolled && a.enrolled_basis == none {
                return Err(InviteError::NoBasis {
                    study: r.study.clone(),
                    key: "approvals.enrolled_basis",
                    purpose: "enrolled-list suppression (--enrolled)",
                });
            }
        }
    }
    Ok(())
}

/// Refuse an as-of date more than [`MAX_AS_OF_DAYS`] from `today` unless
/// a backdating reason is given; returns the reason (trimmed, non-empty).
pub fn check_as_of(as_of: Date, today: Date, backdate: Option<&str>) -> Result<Option<&str>, InviteError> {
    let days = (as_of.days_since_epoch() - today.days_since_epoch()).abs();
    let backdate = backdate.map(str::trim).filter(|b| !b.is_empty());
    if days > MAX_AS_OF_DAYS && backdate.is_none() {
        return Err(InviteError::AsOfFarFromToday {
            as_of: iso(as_of),
            today: iso(today),
            days,
        });
    }
    Ok(backdate)
}

/// The cohort columns an objection kept as a CLK (no NHS number) is
/// compared on, with the names each may go by.
const CLK_COLUMNS: [(&str, &[&str]); 3] = [
    ("given_name", &["given_name", "first_name", "forename"]),
    ("family_name", &["family_name", "surname", "last_name"]),
    ("postcode", &["postcode", "post_code"]),
];

/// Refuse a cohort that cannot be compared with the objections kept as
/// CLKs (name, date of birth, postcode): without those columns the CLK
/// objectors would go unchecked, in silence. (A cohort that cannot be
/// opened is reported where the run opens it.)
pub fn check_clk_columns(store: &Store, cohort: &std::path::Path) -> Result<(), InviteError> {
    let clks = store
        .noncontact_clks()
        .map_err(InviteError::NoncontactClks)?
        .len();
    let Some(src) = (clks > 0)
        .then(|| cohort.to_str().filter(|c| *c != "-"))
        .flatten()
        .and_then(|c| tabular::Source::open(c).ok())
    else {
        return Ok(());
    };
    let missing: Vec<&str> = CLK_COLUMNS
        .iter()
        .filter(|(_, names)| !matches!(src.optional_column(None, names, "CLK column"), Ok(Some(_))))
        .map(|(name, _)| *name)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(InviteError::NoClkColumns {
        path: cohort.display().to_string(),
        clks,
        missing: missing.join(", "),
    })
}

/// The note for a study with no register entry, which only route 2
/// (service-mailer) is open to; none for a registered study.
pub fn unregistered_note(store: &Store, study: &str) -> Option<String> {
    matches!(store.study_get(study), Ok(None)).then(|| {
        format!(
            "trialink: note: study {study} has no entry in the study register; only route 2 (service-mailer) is open to it. \
             Register it with `trialink study add`."
        )
    })
}
