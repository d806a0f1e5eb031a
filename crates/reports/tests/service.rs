//! The service evaluation: tables, the weighted link between people by
//! invitations received and invitations sent, protection and audit.

use disclosure::{audit, protect, Policy, Published};
use reports::{build, FrequencyBucket, FunnelStep, Options, ReportInput, ServiceData, ServiceStudy};

fn input(freq: &[u64]) -> ReportInput {
    let studies = vec![
        ServiceStudy {
            study: "alpha".into(),
            requested: 60,
            invited: 60,
            delivered: 58,
            responded: 12,
            enrolled: 5,
            days_to_target: Some(0),
        },
        ServiceStudy {
            study: "beta".into(),
            requested: 50,
            invited: 40,
            delivered: 39,
            responded: 9,
            enrolled: 3,
            days_to_target: None,
        },
    ];
    ReportInput {
        study: "service".into(),
        as_of: "2026-11-22".into(),
        service: Some(ServiceData {
            studies,
            frequency: freq
                .iter()
                .enumerate()
                .map(|(k, &people)| FrequencyBucket {
                    invitations: k as u64 + 1,
                    people,
                })
                .collect(),
            exclusions: vec![
                FunnelStep {
                    reason: "deceased".into(),
                    count: 40,
                },
                FunnelStep {
                    reason: "armed forces".into(),
                    count: 2,
                },
            ],
        }),
        ..Default::default()
    }
}

#[test]
fn service_tables_protected_and_audited() {
    // 70 people invited once, 12 twice, 0 three times, 1 six times: 100
    let inp = input(&[70, 12, 0, 1]);
    let policy = Policy::builtin("nhs-hes").unwrap();
    let r = build(&inp, &policy, &[], Options::default()).unwrap();
    let rel = r.release();
    // per-study figures and exclusions quote the studies' own
    // published releases; with none published yet, only the service's own
    // counts (and the days, which are not counts of people) are published
    let ids: Vec<&str> = rel.tables.iter().map(|t| t.spec.id.as_str()).collect();
    assert_eq!(ids, ["service_time_to_target", "service_frequency"]);
    assert_eq!(
        rel.table("service_frequency").unwrap().spec.rows,
        ["1 invitation", "2 invitations", "3 invitations", "4 or more"]
    );
    // counts never 1..=7
    for t in &rel.tables {
        for (i, row) in t.cells.iter().enumerate() {
            for (j, c) in row.iter().enumerate() {
                if let Published::Count(v) = c {
                    if !t.spec.is_exempt(j) {
                        assert!(!(1..=7).contains(v), "{} ({i}, {j}) = {v}", t.spec.id);
                    }
                }
            }
        }
    }
    assert!(rel.table("service_frequency").unwrap().cells[3][0].is_suppressed());
    assert!(r.protected.audit.passed());
    assert!(audit(std::slice::from_ref(&rel), &policy).unwrap().passed());
    assert_eq!(r.kinds(), vec![reports::ReportKind::Service]);
}

/// Without the weighted relation, secondary suppression inside the
/// frequency table looks enough; with what readers know (people weighted by
/// invitations add up to at most the invitations sent), `4 or more` = 1 is
/// pinned to [1, 6]. The report (which states the relation) protects it.
#[test]
fn weighted_relation_matters() {
    let inp = input(&[70, 12, 0, 1]);
    // totals rounded afresh (the relation itself is what is tested)
    let mut policy = Policy::builtin("nhs-hes").unwrap();
    policy.round.totals = disclosure::TotalsRule::RoundTrue;
    let (mut tables, _) = reports::build::tables(&inp).unwrap();
    let relation = tables[2].spec.weighted_sums.clone();
    assert_eq!(relation.len(), 1);
    tables[2].spec.weighted_sums.clear();
    let naive = protect(&tables, &policy).unwrap();
    assert!(naive.audit.passed(), "safe if readers knew nothing more");
    let mut rel = naive.release();
    rel.tables[2].spec.weighted_sums = relation;
    let rep = audit(&[rel], &policy).unwrap();
    let f = rep
        .failures()
        .next()
        .expect("the weighted relation narrows `4 or more`");
    assert_eq!(
        (f.table.as_str(), f.row.as_str()),
        ("service_frequency", "4 or more")
    );
    // with the relation the tables protect themselves
    let mut with = tables.clone();
    with[2].spec.weighted_sums = rel_relation(&inp);
    let r = protect(&with, &policy).unwrap();
    assert!(audit(&[r.release()], &policy).unwrap().passed());
}

#[test]
fn service_input_errors() {
    let policy = Policy::builtin("nhs-hes").unwrap();
    // more invitations implied by the frequency than sent
    let e = build(&input(&[70, 40, 0, 1]), &policy, &[], Options::default()).unwrap_err();
    assert!(e.to_string().contains("service.frequency"), "{e}");
    let mut bad = input(&[70, 12, 0, 1]);
    bad.service.as_mut().unwrap().frequency[1].invitations = 5;
    let e = build(&bad, &policy, &[], Options::default()).unwrap_err();
    assert!(e.to_string().contains("service.frequency[1]"), "{e}");
}

fn rel_relation(inp: &ReportInput) -> Vec<disclosure::WeightedSum> {
    reports::build::tables(inp).unwrap().0[2]
        .spec
        .weighted_sums
        .clone()
}
