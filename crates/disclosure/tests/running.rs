//! Tables of periods (recruitment by week: each row a week's new counts,
//! the running sums the cumulative series a reader draws): the running
//! order between columns and counts to date that never fall between
//! releases are known to readers, so the audit and protection use them.

use disclosure::{
    audit, protect_release, Interval, Policy, Published, PublishedTable, Release, Table, RELEASE_FORMAT,
};

/// threshold-10 with a wider `min_width` (9): under it the weekly table
/// below is safe for a reader who ignores the running order, and not for
/// one who knows it.
fn policy() -> Policy {
    let mut p = Policy::builtin("threshold-10").unwrap();
    p.protect.min_width = Some(9);
    p
}

fn weekly(reminded: [u64; 3], invited: [u64; 3], running: bool) -> Table {
    let mut t = Table::two_way(
        "recruitment_by_week",
        "Recruitment by week",
        "week starting",
        &["2026-11-02", "2026-11-09", "2026-11-16"],
        &["reminded", "invited"],
        (0..3).map(|i| vec![reminded[i], invited[i]]).collect(),
    );
    t.spec.total_column = false;
    t.spec.cumulative = true;
    if running {
        t.spec.running_order.push(["reminded".into(), "invited".into()]);
        t.spec.running_cumulative = true;
    }
    t
}

/// Every reminded cell `*`, the rest published as they are (primary
/// suppression only: what a publisher without the audit would write).
fn unprotected(t: &Table, policy: &Policy) -> Release {
    let cells = t
        .grid()
        .iter()
        .enumerate()
        .map(|(i, row)| {
            row.iter()
                .enumerate()
                .map(|(j, &v)| {
                    if j == 0 && i < 3 || policy.is_small(v) {
                        Published::Suppressed
                    } else {
                        Published::Count(v)
                    }
                })
                .collect()
        })
        .collect();
    Release {
        format: RELEASE_FORMAT.into(),
        study: "weekly".into(),
        sequence: 1,
        policy: policy.clone(),
        tables: vec![PublishedTable {
            spec: t.spec.clone(),
            cells,
        }],
    }
}

#[test]
fn an_unprotected_weekly_series_is_caught_through_its_running_order() {
    // Invited 10, 0, 30; reminded 4, 5, 3 (total 12, published). Reminded
    // to date never exceeds invited to date: weeks 1-2 hold at most 10
    // reminders, so week 3 holds 2..=10 — one value short of the policy's
    // width 9 — and each of weeks 1 and 2 at most 9.
    let p = policy();
    let naive = unprotected(&weekly([4, 5, 3], [10, 0, 30], false), &p);
    let rep = audit(std::slice::from_ref(&naive), &p).unwrap();
    assert!(
        rep.passed(),
        "without the running order it looks safe: {:?}",
        rep.failures().collect::<Vec<_>>()
    );
    let naive = unprotected(&weekly([4, 5, 3], [10, 0, 30], true), &p);
    let rep = audit(std::slice::from_ref(&naive), &p).unwrap();
    let week3 = rep
        .failures()
        .find(|f| f.row == "2026-11-16" && f.column == "reminded")
        .expect("week 3's reminders are pinned");
    assert_eq!(week3.interval, Interval { lo: 2, hi: Some(10) });
    assert!(
        week3.interval.lo <= 3 && 3 <= week3.interval.hi.unwrap(),
        "the truth is inside"
    );
    // protected with the relation declared, the release passes
    let safe = protect_release("weekly", &[weekly([4, 5, 3], [10, 0, 30], true)], &p, &[]).unwrap();
    assert!(safe.audit.passed());
    let rep = audit(&[safe.release()], &p).unwrap();
    assert!(rep.passed(), "{:?}", rep.failures().collect::<Vec<_>>());
}

#[test]
fn counts_to_date_never_fall_between_releases() {
    // Week 2's new responses may fall (a response moves to an earlier
    // week), but responses to the end of week 2 never do: after 30 + 12 to
    // date in the first release, the second's week 2 holds at least 12, so
    // its week 3 at most 25 - 12 = 13.
    let p = Policy::builtin("threshold-10").unwrap();
    let mk = |rows: &[&str], counts: Vec<u64>, running: bool| {
        let pairs: Vec<(&str, u64)> = rows.iter().copied().zip(counts).collect();
        let mut t = Table::one_way(
            "recruitment_by_week",
            "Recruitment",
            "week starting",
            "responded",
            &pairs,
        );
        t.spec.cumulative = true;
        t.spec.may_fall.push("responded".into());
        t.spec.running_cumulative = running;
        t
    };
    let w = ["2026-11-02", "2026-11-09", "2026-11-16"];
    for running in [false, true] {
        let first = protect_release("weekly", &[mk(&w[..2], vec![30, 12], running)], &p, &[]).unwrap();
        assert_eq!(first.suppressed(), 0);
        let first = first.release();
        let mut second = first.clone();
        second.sequence = 2;
        second.tables[0] = PublishedTable {
            spec: mk(&w, vec![30, 20, 5], running).spec,
            cells: [30, 0, 0, 55]
                .iter()
                .map(|&v| {
                    vec![if v == 0 {
                        Published::Suppressed
                    } else {
                        Published::Count(v)
                    }]
                })
                .collect(),
        };
        let rep = audit(&[first, second], &p).unwrap();
        let week3 = rep
            .findings
            .iter()
            .find(|f| f.row == "2026-11-16" && f.kind == disclosure::FindingKind::Suppressed)
            .expect("week 3 is audited");
        assert_eq!(
            week3.interval.hi,
            Some(if running { 13 } else { 24 }),
            "running {running}"
        );
    }
}
