//! GP practice criteria: include and exclude lists of practice codes and
//! prefixes, checked like the other criteria (a cohort column, a reason in
//! the summary, malformed cells rejected by line).

use pseudonym::{Date, DobFormats, Key};
use recruitment::invite::{self, BatchOptions, InviteOptions};
use recruitment::request;
use std::collections::BTreeMap;

fn nhs(i: u32) -> String {
    let mut n = 999_300_000u64 + i as u64 * 17;
    loop {
        let d: Vec<u64> = format!("{n:09}").bytes().map(|b| (b - b'0') as u64).collect();
        let s: u64 = d.iter().enumerate().map(|(k, &x)| x * (10 - k as u64)).sum();
        let c = (11 - s % 11) % 11;
        if c != 10 {
            return format!("{n:09}{c}");
        }
        n += 1;
    }
}

/// The run's result and its rejects file (empty when refused).
fn run(
    practices: &[&str],
    criteria: &str,
    header_gp: bool,
) -> (Result<invite::InviteReport, invite::InviteError>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store::Store::open(&dir.path().join("s.sqlite")).unwrap();
    let mut csv = String::from(
        "nhs_number,given_name,family_name,date_of_birth,address_line_1,postcode,deceased,national_data_opt_out,s_flag,armed_forces,prison",
    );
    if header_gp {
        csv.push_str(",gp_practice");
    }
    csv.push('\n');
    for (i, gp) in practices.iter().enumerate() {
        csv.push_str(&format!(
            "{},Given{i},Family{i},1960-01-{:02},{i} High St,LS1 4AP,0,0,0,0,0",
            nhs(i as u32),
            1 + i % 28
        ));
        if header_gp {
            csv.push_str(&format!(",{gp}"));
        }
        csv.push('\n');
    }
    let cohort = dir.path().join("cohort.csv");
    std::fs::write(&cohort, csv).unwrap();
    let text = format!(
        "study = \"gp\"\nchannel = \"postal\"\ninvitations = 100\nseed = 1\nas_of = \"2026-11-21\"\nqa_seeds = 0\n\
         [criteria]\n{criteria}\n[[arms]]\nname = \"A\"\ntemplate = \"a\"\n"
    );
    let rp = dir.path().join("r.toml");
    std::fs::write(&rp, &text).unwrap();
    let today = Date::new(2026, 11, 21).unwrap();
    let v = request::parse("r.toml", &text, today).unwrap();
    let r = invite::invite(
        &mut store,
        &InviteOptions {
            batch: BatchOptions {
                master: &Key::from_bytes([7; 32]),
                cohort: &cohort,
                request_path: &rp,
                request: &v,
                out_dir: &dir.path().join("out"),
                enrolled: None,
                qa_seeds: None,
                dob_formats: DobFormats::default(),
                today,
                backdate: None,
                clk_threshold: suppression::clk::DEFAULT_THRESHOLD,
                manifest_options: BTreeMap::new(),
                progress: None,
            },
            registry: None,
            registry_links: None,
        },
    );
    let rejects = std::fs::read_to_string(dir.path().join("out").join(invite::REJECTS)).unwrap_or_default();
    (r, rejects)
}

fn stage(s: &invite::Summary, name: &str) -> u64 {
    s.funnel.iter().find(|f| f.stage == name).unwrap().count
}

#[test]
fn included_excluded_unknown_and_malformed_practices() {
    let practices = [
        "A81001", // included by code
        "a81002", // included by prefix (case-insensitive)
        "A81005", // excluded by code
        "B82001", // not included
        "",       // unknown: not eligible
        "A8-001", // malformed: rejected
        "Y02001", // excluded by prefix
    ];
    let criteria = "gp_practices = [\"A81001\"]\ngp_practice_prefixes = [\"A81\", \"Y0\"]\n\
                    excluded_gp_practices = [\"A81005\"]\nexcluded_gp_practice_prefixes = [\"Y02\"]";
    let (rep, rejects) = run(&practices, criteria, true);
    let rep = rep.unwrap();
    let s = &rep.summary;
    assert_eq!(s.invited, 2);
    assert_eq!(stage(s, "not_eligible"), 4);
    assert_eq!(stage(s, "rejected"), 1);
    let by: BTreeMap<&str, u64> = s.not_eligible_by.clone();
    assert_eq!(
        by,
        BTreeMap::from([
            ("gp_practice_excluded", 2),
            ("gp_practice_not_included", 1),
            ("gp_practice_unknown", 1)
        ])
    );
    assert_eq!(by.values().sum::<u64>(), stage(s, "not_eligible"));
    assert_eq!(
        s.funnel.iter().map(|f| f.count).sum::<u64>(),
        practices.len() as u64
    );
    assert_eq!(rejects, "line,column,reason\n7,gp_practice,bad_gp_practice\n");
}

#[test]
fn a_request_with_practice_criteria_needs_the_column() {
    let e = run(&["A81001"], "gp_practices = [\"A81001\"]", false)
        .0
        .unwrap_err();
    assert!(e.to_string().contains("GP practice"), "{e}");
    // Without practice criteria the column is not needed, and not read.
    let rep = run(&["A81001", "nonsense"], "min_age = 18", true).0.unwrap();
    assert_eq!(rep.summary.invited, 2);
}
