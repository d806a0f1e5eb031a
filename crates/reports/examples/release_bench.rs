//! Time to protect the k-th weekly cumulative release of one study, k = 1..K.
//!
//! A synthetic study (3,000 invitations, three SWAT arms, registry
//! volunteers, quota strata sex × age band, skewed ethnic groups, nine
//! regions) gains responses, enrolments and returns week by week; each
//! week's full report set (selection, uptake by arm / registry / stratum /
//! age band / sex / ethnic group / region, SWAT, returns) is protected as
//! the next release against every earlier one, as `trialink report --store`
//! does.
//!
//! `cargo run --release -p reports --example release_bench -- [K] [INVITATIONS] [POLICY] [exact]`

use disclosure::{Policy, Release};
use reports::{
    Breakdown, FunnelStep, GroupSum, Options, ReportInput, ReturnReason, ReturnsData, SelectionData,
    StratumRow, SwatArm, SwatData, UptakeData, UptakeRow,
};
use std::collections::BTreeMap;
use std::time::Instant;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut x = self.next() % total;
        for (k, &w) in weights.iter().enumerate() {
            if x < w {
                return k;
            }
            x -= w;
        }
        weights.len() - 1
    }
    fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
}

struct Person {
    labels: [String; 7], // arm, registry, stratum, age, sex, ethnic, region
    returned_week: Option<u32>,
    responded_week: Option<u32>,
    enrolled_week: Option<u32>,
}

const VARS: [&str; 7] = [
    "arm",
    "registry",
    "stratum",
    "age band",
    "sex",
    "ethnic group",
    "region",
];

fn population(n: usize, weeks: u32, rng: &mut Rng) -> Vec<Person> {
    let ages = ["50-54", "55-59", "60-64", "65-69", "70-74", "75-79"];
    let eth = ["White", "Asian", "Black", "Mixed", "Other", "Not stated"];
    let regions = [
        "London",
        "South East",
        "South West",
        "East of England",
        "East Midlands",
        "West Midlands",
        "North West",
        "North East",
        "Yorkshire and The Humber",
    ];
    (0..n)
        .map(|_| {
            let age = ages[rng.pick(&[22, 22, 19, 16, 14, 7])];
            let sex = ["female", "male"][rng.pick(&[51, 49])];
            let arm = ["A", "B", "C"][rng.pick(&[1, 1, 1])];
            let reg = if rng.chance(200) {
                "registry volunteer"
            } else {
                "not a volunteer"
            };
            let e = eth[rng.pick(&[770, 80, 40, 28, 28, 54])];
            let r = regions[rng.pick(&[15, 16, 10, 11, 9, 11, 13, 5, 10])];
            let week = |rng: &mut Rng| 1 + (rng.next() % u64::from(weeks)) as u32;
            let returned_week = if rng.chance(30) { Some(week(rng)) } else { None };
            let boost = if reg == "registry volunteer" { 2 } else { 1 };
            let responded_week = if returned_week.is_none() && rng.chance(130 * boost) {
                Some(week(rng))
            } else {
                None
            };
            let enrolled_week = match responded_week {
                Some(w) if rng.chance(550) => Some(w + (rng.next() % 2) as u32),
                _ => None,
            };
            Person {
                labels: [
                    arm.into(),
                    reg.into(),
                    format!("{sex} / {age}"),
                    age.into(),
                    sex.into(),
                    e.into(),
                    r.into(),
                ],
                returned_week,
                responded_week,
                enrolled_week,
            }
        })
        .collect()
}

fn input(study: &str, people: &[Person], week: u32) -> ReportInput {
    let by_week = |w: Option<u32>| w.is_some_and(|w| w <= week);
    let mut breakdowns = Vec::new();
    for (v, name) in VARS.iter().enumerate() {
        let mut m: BTreeMap<&str, [u64; 4]> = BTreeMap::new();
        for p in people {
            let e = m.entry(&p.labels[v]).or_default();
            e[0] += 1;
            e[1] += u64::from(!by_week(p.returned_week));
            e[2] += u64::from(by_week(p.responded_week));
            e[3] += u64::from(by_week(p.enrolled_week));
        }
        let sums = if *name == "age band" || *name == "sex" {
            let mut g: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
            for p in people {
                g.entry(&p.labels[v]).or_default().insert(&p.labels[2]);
            }
            g.into_iter()
                .map(|(k, s)| GroupSum {
                    group: k.into(),
                    of: "stratum".into(),
                    groups: s.into_iter().map(String::from).collect(),
                })
                .collect()
        } else {
            vec![]
        };
        breakdowns.push(Breakdown {
            variable: name.to_string(),
            rows: m
                .iter()
                .map(|(g, c)| UptakeRow {
                    group: g.to_string(),
                    invited: c[0],
                    delivered: c[1],
                    responded: c[2],
                    enrolled: c[3],
                })
                .collect(),
            sums,
        });
    }
    let arms = breakdowns[0]
        .rows
        .iter()
        .map(|r| SwatArm {
            arm: r.group.clone(),
            delivered: r.delivered,
            enrolled: r.enrolled,
        })
        .collect();
    let invited = people.len() as u64;
    let returned = people.iter().filter(|p| by_week(p.returned_week)).count() as u64;
    let strata = breakdowns[2]
        .rows
        .iter()
        .map(|r| StratumRow {
            labels: r.group.split(" / ").map(String::from).collect(),
            requested: r.invited,
            actual: r.invited,
        })
        .collect();
    ReportInput {
        study: study.into(),
        as_of: format!("week {week}"),
        selection: Some(SelectionData {
            cohort: invited * 6 + 497,
            funnel: vec![
                FunnelStep {
                    reason: "deceased".into(),
                    count: 120,
                },
                FunnelStep {
                    reason: "national data opt-out".into(),
                    count: 370,
                },
                FunnelStep {
                    reason: "armed forces".into(),
                    count: 3,
                },
                FunnelStep {
                    reason: "non-contact list".into(),
                    count: 4,
                },
            ],
            not_selected: invited * 5,
            invited,
            strata_variables: vec!["sex".into(), "age band".into()],
            strata,
            allocation: None,
        }),
        uptake: Some(UptakeData { breakdowns }),
        swat: Some(SwatData {
            control: "A".into(),
            arms,
        }),
        returns: Some(ReturnsData {
            invited,
            by_reason: vec![ReturnReason {
                reason: "all reasons".into(),
                count: returned,
            }],
        }),
        service: None,
        recruitment: None,
    }
}

/// The service evaluation's true figures at the end of `week` (the
/// per-study lines and exclusions are replaced by quotes of each study's
/// latest release when built).
fn service_input(studies: &[(String, Vec<Person>)], week: u32) -> ReportInput {
    let by_week = |w: Option<u32>| w.is_some_and(|w| w <= week);
    let lines = studies
        .iter()
        .map(|(id, people)| reports::ServiceStudy {
            study: id.clone(),
            requested: people.len() as u64,
            invited: people.len() as u64,
            delivered: people.iter().filter(|p| !by_week(p.returned_week)).count() as u64,
            responded: people.iter().filter(|p| by_week(p.responded_week)).count() as u64,
            enrolled: people.iter().filter(|p| by_week(p.enrolled_week)).count() as u64,
            days_to_target: Some(0),
        })
        .collect();
    let total: u64 = studies.iter().map(|(_, p)| p.len() as u64).sum();
    ReportInput {
        study: "service:evaluation".into(),
        as_of: format!("week {week}"),
        service: Some(reports::ServiceData {
            studies: lines,
            frequency: vec![
                reports::FrequencyBucket {
                    invitations: 1,
                    people: total,
                },
                reports::FrequencyBucket {
                    invitations: 2,
                    people: 0,
                },
            ],
            exclusions: [
                "deceased",
                "national data opt-out",
                "armed forces",
                "non-contact list",
            ]
            .iter()
            .map(|r| FunnelStep {
                reason: r.to_string(),
                count: 0,
            })
            .collect(),
        }),
        ..Default::default()
    }
}

/// `release_bench [WEEKS=40] [INVITATIONS=3000] [POLICY=nhs-hes] [STUDIES=5] [exact]`:
/// every week each study publishes its next release, then the service
/// evaluation publishes its own (quoting the studies); each is protected
/// against everything published before; at the end one audit of all.
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let weeks: u32 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(40);
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3000);
    let policy = Policy::load(args.get(3).map(String::as_str).unwrap_or("nhs-hes")).expect("policy");
    let nstudies: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(5);
    let exact = args.get(5).is_some_and(|a| a == "exact");
    let mut rng = Rng(2026);
    let studies: Vec<(String, Vec<Person>)> = (0..nstudies)
        .map(|k| {
            (
                format!("bench-study-{}", k + 1),
                population(n / (k + 1), weeks, &mut rng),
            )
        })
        .collect();
    let mut earlier: Vec<Release> = Vec::new();
    println!(
        "policy {}, {} studies ({} invitations / k for study k), {} weeks, weekly service report",
        policy.name, nstudies, n, weeks
    );
    println!(
        "week  slowest_study_s  service_s  week_total_s  suppressed_cells  repair_rounds  linear_programs"
    );
    let all = Instant::now();
    let mut slowest = 0f64;
    let stop: u32 = std::env::var("STOP_AFTER_WEEK")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(weeks);
    for week in 1..=weeks.min(stop) {
        let wt = Instant::now();
        let (mut worst, mut supp, mut rounds, mut lps) = (0f64, 0usize, 0usize, 0usize);
        for (id, people) in &studies {
            let t = Instant::now();
            let report = reports::build(&input(id, people, week), &policy, &earlier, Options::default())
                .expect("protected");
            worst = worst.max(t.elapsed().as_secs_f64());
            supp += report.release().suppressed();
            rounds += report.protected.repair_rounds;
            lps += report.protected.audit.linear_programs;
            earlier.push(report.release());
        }
        let t = Instant::now();
        let report = reports::build(
            &service_input(&studies, week),
            &policy,
            &earlier,
            Options::default(),
        )
        .expect("service");
        let service_s = t.elapsed().as_secs_f64();
        earlier.push(report.release());
        slowest = slowest.max(worst).max(service_s);
        println!(
            "{week:>4}  {worst:>15.3}  {service_s:>9.3}  {:>12.3}  {supp:>16}  {rounds:>13}  {lps:>15}",
            wt.elapsed().as_secs_f64()
        );
    }
    let t = Instant::now();
    let rep = if exact {
        disclosure::audit(&earlier, &policy)
    } else {
        disclosure::audit_fast(&earlier, &policy)
    }
    .expect("audit");
    println!(
        "joint audit ({}) of {} releases: {:.3} s, {} independent parts, {} suppressed cells, {} rounded counts, {} differences, {} linear programs, passed: {}",
        if exact { "exact" } else { "fast" },
        earlier.len(),
        t.elapsed().as_secs_f64(),
        rep.components,
        rep.suppressed_cells,
        rep.rounded_cells,
        rep.differences,
        rep.linear_programs,
        rep.passed()
    );
    println!(
        "slowest single release {slowest:.3} s; total {:.1} s",
        all.elapsed().as_secs_f64()
    );
}
