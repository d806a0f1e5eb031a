//! A reminder batch's summary: every invitation of the batch followed up
//! counted once, by stage (`in = reminded + Σ reasons`), and every cohort
//! row counted as an invitation run counts it.

use crate::invite::FunnelRow;
use std::collections::BTreeMap;

/// The reminder batch's summary (counts only).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReminderSummary {
    /// Always `reminder`.
    pub kind: &'static str,
    /// Study.
    pub study: String,
    /// The reminder channel.
    pub channel: &'static str,
    /// The reminder route.
    pub route: &'static str,
    /// Seed.
    pub seed: u64,
    /// The invitation batch followed up.
    pub reminder_of: i64,
    /// Its invitation date.
    pub invited_on: String,
    /// The reminder date (today).
    pub reminded_on: String,
    /// Minimum days after the invitation (and after an earlier reminder).
    pub after_days: u32,
    /// Most reminders per invitation.
    pub max_reminders: u32,
    /// Invitations in the batch followed up.
    pub invitations: u64,
    /// Reminders in this batch (QA seeds excluded).
    pub reminded: u64,
    /// QA seeds in this batch.
    pub qa_seeds: u32,
    /// The invitations' funnel, in order: `in = reminded + Σ reasons`.
    pub funnel: Vec<FunnelRow>,
    /// Cohort rows read.
    pub cohort_rows: u64,
    /// The cohort rows' funnel (as an invitation run counts them; rows of
    /// people not invited in the batch are `not_selected`).
    pub cohort_funnel: Vec<FunnelRow>,
    /// Reminders per reminder arm.
    pub arms: BTreeMap<String, u64>,
}

/// Stages of the invitations' funnel, in precedence order.
pub const STAGES: &[&str] = &[
    "responded",
    "returned",
    "max_reminders",
    "reminded_recently",
    "not_in_cohort",
    "rejected",
    "not_eligible",
    "deceased",
    "national_data_opt_out",
    "s_flag",
    "armed_forces",
    "prison",
    "no_contact_details",
    "non_contact_list",
    "non_contact_clk",
    "already_enrolled",
    "frequency_cap",
    "duplicate_person_excluded",
    "not_selected",
    "reminded",
];

/// Counts per funnel stage.
#[derive(Default)]
pub(super) struct Tally(BTreeMap<&'static str, u64>);

impl Tally {
    pub(super) fn add(&mut self, stage: &'static str) {
        debug_assert!(STAGES.contains(&stage), "{stage}");
        *self.0.entry(stage).or_insert(0) += 1;
    }

    pub(super) fn rows(&self) -> Vec<FunnelRow> {
        let mut remaining: u64 = self.0.values().sum();
        STAGES
            .iter()
            .map(|&s| {
                let count = self.0.get(s).copied().unwrap_or(0);
                remaining -= count;
                FunnelRow {
                    stage: s,
                    count,
                    remaining,
                }
            })
            .collect()
    }

    pub(super) fn describe(&self) -> String {
        let v: Vec<String> = self.0.iter().map(|(k, n)| format!("{k} {n}")).collect();
        v.join(", ")
    }
}

/// The reminder summary as Markdown.
pub fn summary_markdown(s: &ReminderSummary) -> String {
    let mut o = format!(
        "# Reminder summary: {}\n\nReminders of batch {} (invited {}), made {} by route {}, channel {}, seed {}: \
         {} of {} invitations reminded (plus {} QA seeds, not counted). At least {} days after the invitation, \
         at most {} reminders per invitation. Plain counts for the service's own review.\n\n",
        s.study,
        s.reminder_of,
        s.invited_on,
        s.reminded_on,
        s.route,
        s.channel,
        s.seed,
        s.reminded,
        s.invitations,
        s.qa_seeds,
        s.after_days,
        s.max_reminders
    );
    o.push_str("## Invitations followed up\n\n| stage | invitations | remaining |\n|---|---:|---:|\n");
    o.push_str(&format!(
        "| invitations | {} | {} |\n",
        s.invitations, s.invitations
    ));
    for f in &s.funnel {
        o.push_str(&format!("| {} | {} | {} |\n", f.stage, f.count, f.remaining));
    }
    o.push_str("\n## Cohort rows\n\n| stage | rows | remaining |\n|---|---:|---:|\n");
    o.push_str(&format!(
        "| cohort rows | {} | {} |\n",
        s.cohort_rows, s.cohort_rows
    ));
    for f in &s.cohort_funnel {
        o.push_str(&format!("| {} | {} | {} |\n", f.stage, f.count, f.remaining));
    }
    o.push_str("\n## Reminder arms\n\n| arm | reminded |\n|---|---:|\n");
    for (a, n) in &s.arms {
        o.push_str(&format!("| {a} | {n} |\n"));
    }
    o
}

impl super::ReminderReport {
    /// What the run did, for a person at a terminal: the reminder batch,
    /// why invitations were not followed up, and the file (counts only).
    pub fn console(&self) -> String {
        use std::fmt::Write as _;
        let s = &self.summary;
        let mut o = format!(
            "reminder batch {} for study {}: {} reminders of batch {} ({} invitations) + {} QA seeds, route {}, {} channel\n\
             invitations followed up ({}):\n",
            self.batch_id, s.study, s.reminded, s.reminder_of, s.invitations, s.qa_seeds, s.route, s.channel, s.invitations
        );
        for f in s.funnel.iter().filter(|f| f.count > 0) {
            let _ = writeln!(
                o,
                "  {:<26} {:>10}   remaining {:>10}",
                f.stage, f.count, f.remaining
            );
        }
        let _ = write!(o, "wrote {}", self.batch_file.display());
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use suppression::Reason;

    #[test]
    fn tally_adds_up_and_keeps_stage_order() {
        let mut t = Tally::default();
        for s in ["reminded", "responded", "deceased", "reminded", "not_in_cohort"] {
            t.add(s);
        }
        let rows = t.rows();
        assert_eq!(rows.len(), STAGES.len());
        assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), 5);
        assert_eq!(rows.last().unwrap().remaining, 0);
        assert_eq!(rows[0].stage, "responded");
        assert_eq!(rows[0].remaining, 4);
    }

    #[test]
    fn every_cohort_reason_is_a_stage() {
        for r in Reason::ORDER {
            if !matches!(r, Reason::AlreadyInvited | Reason::Invited) {
                assert!(STAGES.contains(&r.code()), "{}", r.code());
            }
        }
    }
}
