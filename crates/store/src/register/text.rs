//! The register as the operator reads it: one entry with its purge or key
//! state and its full history (`study show`), the list of studies (`study
//! list`), and what a purge did (`study purge`). Plain text, one fact per
//! line, tab-separated where the output is a table.

use super::RegisterRecord;
use crate::purge::PurgeRecord;
use crate::{Result, Store, StoreError};
use std::fmt::Write as _;

/// The entry's fields, one per line, names padded to a column.
pub fn describe(r: &RegisterRecord) -> String {
    let e = &r.entry;
    let a = &e.approvals;
    let routes = e
        .routes
        .iter()
        .map(|x| format!("{x} ({})", x.number()))
        .collect::<Vec<_>>()
        .join(", ");
    let channels = e.channels.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ");
    let version = format!("{} ({} by {})", r.version, r.changed, r.operator);
    let s251 = a.section_251_reference.as_deref().unwrap_or("(none)");
    let fields: [(&str, &dyn std::fmt::Display); 14] = [
        ("study", &e.study),
        ("status", &r.status.name()),
        ("version", &version),
        ("organisation", &e.organisation),
        ("ethics_reference", &a.ethics_reference),
        ("section_251_reference", &s251),
        ("dsa_reference", &a.dsa_reference),
        ("dsa_expires", &a.dsa_expires),
        ("registry_basis", &a.registry_basis),
        ("enrolled_basis", &a.enrolled_basis),
        ("routes", &routes),
        ("channels", &channels),
        ("retain_until", &e.retain_until),
        ("reminders", &if e.reminders { "yes" } else { "no" }),
    ];
    let mut t = String::new();
    for (name, value) in fields {
        let _ = writeln!(t, "{name:<23}{value}");
    }
    t
}

/// The purge record's line in `study show`.
fn purge_line(p: &PurgeRecord) -> String {
    format!(
        "purged                 {} by {}{}; key secret {}; deleted {} invitations, {} outcomes, {} returns, {} enrolments; {} releases kept\n",
        p.purged,
        p.operator,
        p.override_reason
            .as_deref()
            .map(|x| format!(" (override: {x})"))
            .unwrap_or_default(),
        if p.key_destroyed { "destroyed" } else { "none held" },
        p.invitations,
        p.outcomes,
        p.returns,
        p.enrolled,
        p.releases_kept
    )
}

/// What `study purge` reports: what was deleted, the key secret, what was
/// kept, and (when the trial was given a copy of the key, `fingerprint`)
/// The line an operator sees after a register change: `study ID: <what>
/// by OPERATOR at TIME (version N)`, `what` being `added`, `updated` or
/// `closed`.
pub fn change_line(r: &RegisterRecord, what: &str) -> String {
    format!(
        "study {}: {what} by {} at {} (version {})\n",
        r.entry.study, r.operator, r.changed, r.version
    )
}

/// whose the copies are to destroy.
pub fn purge_summary(r: &PurgeRecord, fingerprint: Option<&str>) -> String {
    let mut t = format!(
        "study {}: purged by {} at {}{}\n  deleted: {} batches, {} invitations, {} QA seeds, {} outcomes ({} history rows), {} returns, {} enrolments\n  key secret: {}\n  kept: {} published releases and this purge record\n",
        r.study,
        r.operator,
        r.purged,
        r.override_reason
            .as_deref()
            .map(|x| format!(" (override before retention date: {x})"))
            .unwrap_or_default(),
        r.batches,
        r.invitations,
        r.qa_seeds,
        r.outcomes,
        r.outcome_history,
        r.returns,
        r.enrolled,
        if r.key_destroyed {
            "destroyed: the study's tokens can no longer be linked to anyone"
        } else {
            "none held (the study's key derives from the master key alone and could not be destroyed)"
        },
        r.releases_kept
    );
    if let Some(fp) = fingerprint {
        let _ = writeln!(
            t,
            "  the trial's copy of the study key (fingerprint {fp}) and files made under it are the trial's to destroy under its agreement"
        );
    }
    t
}

impl Store {
    /// `study show`: the entry ([`describe`]), its purge record or where its
    /// key comes from, and its whole history with the keys each change
    /// touched. An unregistered study is [`StoreError::StudyNotRegistered`].
    pub fn study_show(&self, study: &str) -> Result<String> {
        let rec = self
            .study_get(study)?
            .ok_or_else(|| StoreError::StudyNotRegistered {
                study: study.to_string(),
            })?;
        let mut t = describe(&rec);
        match self.study_purge_record(study)? {
            Some(p) => t.push_str(&purge_line(&p)),
            None => {
                let key = if self.study_has_secret(study)? {
                    "includes a secret held in the store (destroyed by a purge)"
                } else {
                    "derives from the master key alone (no secret in the store)"
                };
                let _ = writeln!(t, "study key              {key}");
            }
        }
        let history = self.study_history(study)?;
        let _ = writeln!(t, "history ({} changes, append-only):", history.len());
        let _ = writeln!(t, "  seq\tversion\taction\tchanged\toperator\tstatus\tchanges");
        let mut prev: Option<&RegisterRecord> = None;
        for h in &history {
            let r = &h.record;
            let changes = match prev.map(|p| r.changed_keys(p)) {
                None => "-".to_string(),
                Some(keys) if keys.is_empty() => "(none)".to_string(),
                Some(keys) => keys.join(","),
            };
            let _ = writeln!(
                t,
                "  {}\t{}\t{}\t{}\t{}\t{}\t{}",
                h.seq,
                r.version,
                h.action.name(),
                r.changed,
                r.operator,
                r.status.name(),
                changes
            );
            prev = Some(r);
        }
        Ok(t)
    }

    /// `study list`: a tab-separated table of every study in the register,
    /// purged studies shown as `purged`.
    pub fn study_list_table(&self) -> Result<String> {
        let mut t = String::from("study\tstatus\tversion\tdsa_expires\tretain_until\troutes\torganisation\n");
        for r in &self.study_list()? {
            let e = &r.entry;
            let routes = e.routes.iter().map(|x| x.name()).collect::<Vec<_>>().join(",");
            let status = match self.study_purge_record(&e.study)? {
                Some(_) => "purged",
                None => r.status.name(),
            };
            let _ = writeln!(
                t,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}",
                e.study, status, r.version, e.approvals.dsa_expires, e.retain_until, routes, e.organisation
            );
        }
        Ok(t)
    }
}
