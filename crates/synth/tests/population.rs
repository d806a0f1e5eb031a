//! Whole-population tests: determinism, validity of every value, and error
//! rates measured against the ground truth.

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use synth::codes::{CONDITIONS, ETHNICITIES};
use synth::names::nicknames;
use synth::nhs;
use synth::places::{is_postcode_format, REGIONS};
use synth::typo::osa_distance;
use synth::{generate, Config, Date, ErrorRates, FILES};

struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn read(path: &Path) -> Table {
        let mut r = csv::Reader::from_path(path).unwrap();
        let header = r.headers().unwrap().iter().map(String::from).collect();
        let rows = r
            .records()
            .map(|rec| rec.unwrap().iter().map(String::from).collect())
            .collect();
        Table { header, rows }
    }
    fn col(&self, name: &str) -> usize {
        self.header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    }
    fn get<'a>(&self, row: &'a [String], name: &str) -> &'a str {
        &row[self.col(name)]
    }
}

fn small(seed: u64, people: u64) -> Config {
    Config {
        people,
        seed,
        ..Config::default()
    }
}

#[test]
fn same_seed_gives_identical_bytes_and_another_seed_does_not() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    generate(&small(5, 4000), a.path(), false).unwrap();
    generate(&small(5, 4000), b.path(), false).unwrap();
    generate(&small(6, 4000), c.path(), false).unwrap();
    for f in FILES {
        let x = std::fs::read(a.path().join(f)).unwrap();
        let y = std::fs::read(b.path().join(f)).unwrap();
        assert!(x == y, "{f} differs between runs with the same seed");
        if f.ends_with(".csv") && f != "qa_seeds.csv" {
            let z = std::fs::read(c.path().join(f)).unwrap();
            assert!(x != z, "{f} is the same under another seed");
        }
    }
    // No temporary files left behind.
    assert_eq!(std::fs::read_dir(a.path()).unwrap().count(), FILES.len());
}

#[test]
fn single_threaded_output_equals_parallel_output() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    generate(&small(9, 9000), a.path(), false).unwrap();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    pool.install(|| generate(&small(9, 9000), b.path(), false).unwrap());
    for f in FILES {
        assert!(
            std::fs::read(a.path().join(f)).unwrap() == std::fs::read(b.path().join(f)).unwrap(),
            "{f}"
        );
    }
}

#[test]
fn refuses_to_overwrite_without_force() {
    let d = tempfile::tempdir().unwrap();
    generate(&small(1, 100), d.path(), false).unwrap();
    let before = std::fs::read(d.path().join("cohort.csv")).unwrap();
    let err = generate(&small(2, 100), d.path(), false).unwrap_err();
    assert!(matches!(err, synth::SynthError::Exists { .. }), "{err}");
    assert_eq!(std::fs::read(d.path().join("cohort.csv")).unwrap(), before);
    generate(&small(2, 100), d.path(), true).unwrap();
    assert_ne!(std::fs::read(d.path().join("cohort.csv")).unwrap(), before);
}

#[test]
fn every_value_is_valid_and_synthetic() {
    let d = tempfile::tempdir().unwrap();
    let cfg = small(11, 20_000);
    let s = generate(&cfg, d.path(), false).unwrap();
    let cohort = Table::read(&d.path().join("cohort.csv"));
    assert_eq!(cohort.rows.len() as u64, s.cohort);
    assert_eq!(cohort.header.len(), 22);
    let regions: BTreeSet<&str> = REGIONS.iter().map(|r| r.name).collect();
    let codes: BTreeSet<&str> = CONDITIONS.iter().map(|c| c.code).collect();
    let letters: BTreeSet<u8> = ETHNICITIES.iter().map(|e| e.code).chain([b'Z']).collect();
    let mut seen = BTreeSet::new();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for row in &cohort.rows {
        let nhs_s = cohort.get(row, "nhs_number");
        assert!(nhs::is_valid(nhs_s), "cohort NHS number fails the check");
        let n: u64 = nhs_s.parse().unwrap();
        assert!((nhs::TEST_BLOCK_FIRST..=nhs::TEST_BLOCK_LAST).contains(&n));
        assert!(seen.insert(n), "NHS number repeated");
        let dob = Date::parse_iso(cohort.get(row, "date_of_birth")).expect("real date");
        let age = dob.years_until(cfg.as_of);
        assert!((18..=104).contains(&age));
        assert!(["male", "female", "other", "unknown"].contains(&cohort.get(row, "sex")));
        let e = cohort.get(row, "ethnic_category").as_bytes();
        assert!(e.len() == 1 && letters.contains(&e[0]));
        assert!(regions.contains(cohort.get(row, "region")));
        let mobile = cohort.get(row, "mobile");
        assert!(mobile.is_empty() || (mobile.len() == 11 && mobile.starts_with("07700900")));
        assert!(mobile.bytes().all(|b| b.is_ascii_digit()));
        let email = cohort.get(row, "email");
        assert!(email.is_empty() || (email.ends_with("@example.org") && email.matches('@').count() == 1));
        let gp = cohort.get(row, "gp_practice").as_bytes();
        assert!(gp.len() == 6 && gp[0].is_ascii_uppercase() && gp[1..].iter().all(u8::is_ascii_digit));
        let conditions = cohort.get(row, "conditions");
        if !conditions.is_empty() {
            assert!(conditions.split(';').all(|c| codes.contains(c)));
        }
        for f in [
            "deceased",
            "armed_forces",
            "prison",
            "s_flag",
            "national_data_opt_out",
        ] {
            let v = cohort.get(row, f);
            assert!(v == "0" || v == "1");
            if v == "1" {
                *counts.entry(f).or_default() += 1;
            }
        }
        let pc = cohort.get(row, "postcode");
        let line1 = cohort.get(row, "address_line_1");
        if cohort.get(row, "s_flag") == "1" {
            assert!(pc.is_empty() && line1.is_empty() && mobile.is_empty() && email.is_empty());
        } else {
            assert!(is_postcode_format(pc), "bad postcode format");
            assert_eq!(pc.starts_with("ZZ99"), line1.is_empty());
        }
        if pc.starts_with("ZZ99") {
            *counts.entry("zz99").or_default() += 1;
        }
        if cohort.get(row, "sex") == "female" {
            *counts.entry("female").or_default() += 1;
        }
        if cohort.get(row, "region") == "London" {
            *counts.entry("london").or_default() += 1;
        }
        if e[0] == b'A' {
            *counts.entry("white_british").or_default() += 1;
        }
        if e[0] == b'Z' {
            *counts.entry("not_stated").or_default() += 1;
        }
    }
    // Plausible England shares (wide bounds: these are sanity checks).
    let share = |k: &str| counts.get(k).copied().unwrap_or(0) as f64 / cohort.rows.len() as f64;
    assert!(
        (0.49..0.54).contains(&share("female")),
        "female {}",
        share("female")
    );
    assert!(
        (0.13..0.18).contains(&share("london")),
        "london {}",
        share("london")
    );
    assert!(
        (0.64..0.76).contains(&share("white_british")),
        "A {}",
        share("white_british")
    );
    assert!((0.05..0.07).contains(&share("not_stated")));
    assert!((0.048..0.060).contains(&share("national_data_opt_out")));
    assert!((0.005..0.03).contains(&share("deceased")));
    assert!((0.0005..0.004).contains(&share("s_flag")));
    assert!(share("armed_forces") > 0.0 && share("armed_forces") < 0.01);
    assert!(share("prison") > 0.0 && share("prison") < 0.01);
    assert!(share("zz99") > 0.0 && share("zz99") < 0.005);

    // Registry, lists: NHS numbers blank or 10 digits in the 999 range, dates real.
    for (file, nhs_col, dates) in [
        ("registry.csv", "nhs_number", &["date_of_birth"][..]),
        (
            "enrolled.csv",
            "nhs_number",
            &["date_of_birth", "enrolled_on"][..],
        ),
        (
            "objections.csv",
            "nhs_number",
            &["date_of_birth", "received_on"][..],
        ),
    ] {
        let t = Table::read(&d.path().join(file));
        for row in &t.rows {
            let n = t.get(row, nhs_col);
            assert!(
                n.is_empty()
                    || (n.len() == 10 && n.starts_with("999") && n.bytes().all(|b| b.is_ascii_digit()))
            );
            for c in dates {
                let v = t.get(row, c);
                assert!(
                    v.is_empty() && *c == "date_of_birth" || Date::parse_iso(v).is_some(),
                    "{file} {c}"
                );
            }
            if file == "registry.csv" {
                let pc = t.get(row, "postcode");
                assert!(pc.is_empty() || is_postcode_format(pc));
            }
        }
    }
    let qa = Table::read(&d.path().join("qa_seeds.csv"));
    assert_eq!(qa.rows.len(), 10);
    let mut qa_nhs = BTreeSet::new();
    let cohort = Table::read(&d.path().join("cohort.csv"));
    let cohort_nhs: BTreeSet<&str> = cohort.rows.iter().map(|r| cohort.get(r, "nhs_number")).collect();
    for row in &qa.rows {
        // Route 1 (NHS Notification) needs a valid NHS number for every seed,
        // from the test range and never a cohort member's.
        let nhs = qa.get(row, "nhs_number");
        assert!(nhs::is_valid(nhs) && nhs.starts_with("999"), "QA seed NHS number");
        assert!(
            !cohort_nhs.contains(nhs),
            "a QA seed shares a cohort member's NHS number"
        );
        assert!(qa_nhs.insert(nhs.to_string()), "two QA seeds share an NHS number");
        assert!(!qa.get(row, "date_of_birth").is_empty());
        assert!(!qa.get(row, "address_line_1").is_empty());
        assert!(is_postcode_format(qa.get(row, "postcode")) && !qa.get(row, "postcode").starts_with("ZZ"));
        assert!(qa.get(row, "mobile").starts_with("07700900"));
        assert!(qa.get(row, "email").ends_with("@example.org"));
    }
}

/// The errors visible when comparing a registry row with its cohort row,
/// as `field:kind` codes (typo kinds folded into `typo`).
fn observed_errors(reg: &Table, r: &[String], co: &Table, c: &[String]) -> BTreeSet<String> {
    let mut e = BTreeSet::new();
    let (rg, rf) = (reg.get(r, "given_name"), reg.get(r, "family_name"));
    let (cg, cf) = (co.get(c, "given_name"), co.get(c, "family_name"));
    if rg == cf && rf == cg && cg != cf {
        e.insert("names:swapped".to_string());
    } else {
        if rg != cg {
            e.insert(
                if rg.is_empty() {
                    "given_name:blank"
                } else if osa_distance(rg, cg) == 1 {
                    "given_name:typo"
                } else if nicknames(cg).is_some_and(|n| n.contains(&rg)) {
                    "given_name:nickname"
                } else {
                    "given_name:UNEXPLAINED"
                }
                .to_string(),
            );
        }
        if rf != cf {
            e.insert(
                if rf.is_empty() {
                    "family_name:blank"
                } else if osa_distance(rf, cf) == 1 {
                    "family_name:typo"
                } else {
                    "family_name:UNEXPLAINED"
                }
                .to_string(),
            );
        }
    }
    let (rd, cd) = (reg.get(r, "date_of_birth"), co.get(c, "date_of_birth"));
    if rd != cd {
        let cdate = Date::parse_iso(cd).unwrap();
        let (y, m, d) = cdate.ymd();
        e.insert(
            if rd.is_empty() {
                "date_of_birth:blank"
            } else if Date::from_ymd(y, d, m).map(Date::iso).as_deref() == Some(rd) {
                "date_of_birth:day_month_swap"
            } else if cdate.add_days(1).iso() == rd {
                "date_of_birth:plus_one_day"
            } else if cdate.add_days(-1).iso() == rd {
                "date_of_birth:minus_one_day"
            } else {
                "date_of_birth:UNEXPLAINED"
            }
            .to_string(),
        );
    }
    let (rn, cn) = (reg.get(r, "nhs_number"), co.get(c, "nhs_number"));
    if rn != cn {
        e.insert(
            if rn.is_empty() {
                "nhs_number:missing"
            } else if !nhs::is_valid(rn) {
                "nhs_number:mistyped"
            } else {
                "nhs_number:other_person"
            }
            .to_string(),
        );
    }
    let (rp, cp) = (reg.get(r, "postcode"), co.get(c, "postcode"));
    if rp != cp {
        e.insert(
            if rp.is_empty() {
                "postcode:blank"
            } else {
                "postcode:moved"
            }
            .to_string(),
        );
    }
    if reg.get(r, "sex") != co.get(c, "sex") {
        e.insert(
            if reg.get(r, "sex").is_empty() {
                "sex:blank"
            } else {
                "sex:UNEXPLAINED"
            }
            .to_string(),
        );
    }
    e
}

fn fold(code: &str) -> String {
    match code.split_once(":typo_") {
        Some((f, _)) => format!("{f}:typo"),
        None => code.to_string(),
    }
}

/// `(count, n)` → assert within `z` standard errors of `p`.
fn assert_rate(name: &str, count: u64, n: u64, p: f64) {
    let obs = count as f64 / n as f64;
    let se = (p * (1.0 - p) / n as f64).sqrt().max(1e-9);
    let z = (obs - p) / se;
    println!("{name:<32} configured {p:.4}  measured {obs:.4}  (n = {n}, z = {z:+.2})");
    assert!(
        z.abs() < 4.0,
        "{name}: measured {obs} vs configured {p} (z = {z:.2}, n = {n})"
    );
}

#[test]
fn error_rates_match_the_configuration_and_the_truth() {
    let d = tempfile::tempdir().unwrap();
    let cfg = Config {
        people: 40_000,
        seed: 2024,
        registry_fraction: 0.5,
        ..Config::default()
    };
    generate(&cfg, d.path(), false).unwrap();
    let co = Table::read(&d.path().join("cohort.csv"));
    let reg = Table::read(&d.path().join("registry.csv"));
    let truth = Table::read(&d.path().join("truth.csv"));
    let pairs = Table::read(&d.path().join("truth_registry.csv"));

    let reg_truth: Vec<&Vec<String>> = truth.rows.iter().filter(|t| t[0] == "registry").collect();
    assert_eq!(reg_truth.len(), reg.rows.len());
    let linked: Vec<(usize, usize, &str)> = reg_truth
        .iter()
        .enumerate()
        .filter(|(_, t)| !t[2].is_empty())
        .map(|(i, t)| {
            assert_eq!(t[1], (i + 1).to_string(), "truth rows in registry order");
            (i, t[2].parse::<usize>().unwrap() - 1, t[3].as_str())
        })
        .collect();
    // truth_registry.csv is the linked subset, as 1-based left,right.
    assert_eq!(pairs.header, ["left", "right"]);
    assert_eq!(pairs.rows.len(), linked.len());
    for (p, (r, c, _)) in pairs.rows.iter().zip(&linked) {
        assert_eq!(p[0], (r + 1).to_string());
        assert_eq!(p[1], (c + 1).to_string());
    }
    let outsiders = reg.rows.len() - linked.len();
    assert_eq!(outsiders as f64, (linked.len() as f64 * 0.2 / 0.8).round());
    assert_rate(
        "registry_fraction",
        linked.len() as u64,
        cfg.people,
        cfg.registry_fraction,
    );
    let distinct: BTreeSet<usize> = linked.iter().map(|l| l.1).collect();
    assert_eq!(
        distinct.len(),
        linked.len(),
        "a cohort member appears once in the registry"
    );

    let mut count: BTreeMap<&str, u64> = BTreeMap::new();
    let mut denom: BTreeMap<&str, u64> = BTreeMap::new();
    let bump = |m: &mut BTreeMap<&str, u64>, k: &'static str| *m.entry(k).or_default() += 1;
    for &(r, c, codes) in &linked {
        let (rr, cr) = (&reg.rows[r], &co.rows[c]);
        let cohort_pc_blank = co.get(cr, "postcode").is_empty();
        let mut stated: BTreeSet<String> = codes.split(';').filter(|s| !s.is_empty()).map(fold).collect();
        if cohort_pc_blank {
            stated.remove("postcode:blank");
        }
        let seen = observed_errors(&reg, rr, &co, cr);
        assert_eq!(seen, stated, "registry row {} vs cohort row {}", r + 1, c + 1);

        let has = |k: &str| stated.contains(k);
        bump(&mut denom, "name_swap");
        if has("names:swapped") {
            bump(&mut count, "name_swap");
        } else {
            for (k, code) in [
                ("given_blank", "given_name:blank"),
                ("given_typo", "given_name:typo"),
                ("family_blank", "family_name:blank"),
                ("family_typo", "family_name:typo"),
            ] {
                bump(&mut denom, k);
                if has(code) {
                    bump(&mut count, k);
                }
            }
            if nicknames(co.get(cr, "given_name")).is_some() {
                bump(&mut denom, "nickname");
                if has("given_name:nickname") {
                    bump(&mut count, "nickname");
                }
            }
        }
        let (_, m, dd) = Date::parse_iso(co.get(cr, "date_of_birth")).unwrap().ymd();
        if dd <= 12 && dd != m {
            bump(&mut denom, "dob_day_month_swap");
            if has("date_of_birth:day_month_swap") {
                bump(&mut count, "dob_day_month_swap");
            }
        }
        for (k, hit) in [
            ("dob_blank", has("date_of_birth:blank")),
            (
                "dob_off_by_one",
                has("date_of_birth:plus_one_day") || has("date_of_birth:minus_one_day"),
            ),
            ("nhs_missing", has("nhs_number:missing")),
            ("nhs_mistyped", has("nhs_number:mistyped")),
            ("nhs_other_person", has("nhs_number:other_person")),
            ("sex_blank", has("sex:blank")),
        ] {
            bump(&mut denom, k);
            if hit {
                bump(&mut count, k);
            }
        }
        if !cohort_pc_blank {
            for (k, code) in [
                ("postcode_blank", "postcode:blank"),
                ("postcode_moved", "postcode:moved"),
            ] {
                bump(&mut denom, k);
                if has(code) {
                    bump(&mut count, k);
                }
            }
        }
    }
    // Typo kinds: each label agrees with the edit seen, and kinds come in
    // their configured proportions.
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    for &(r, c, codes) in &linked {
        for code in codes.split(';') {
            let Some((field, kind)) = code.split_once(":typo_") else {
                continue;
            };
            let (got, was) = (reg.get(&reg.rows[r], field), co.get(&co.rows[c], field));
            let (g, w): (Vec<char>, Vec<char>) = (got.chars().collect(), was.chars().collect());
            match kind {
                "deletion" => assert_eq!(g.len() + 1, w.len()),
                "insertion" => assert_eq!(g.len(), w.len() + 1),
                "transposition" | "substitution" | "keyboard" => {
                    assert_eq!(g.len(), w.len());
                    let diff: Vec<usize> = (0..g.len()).filter(|&i| g[i] != w[i]).collect();
                    if kind == "transposition" {
                        assert!(diff.len() == 2 && diff[1] == diff[0] + 1 && g[diff[0]] == w[diff[1]]);
                    } else {
                        assert_eq!(diff.len(), 1);
                        if kind == "keyboard" {
                            let (a, b) = (w[diff[0]].to_ascii_lowercase(), g[diff[0]].to_ascii_lowercase());
                            assert!(synth::typo::keyboard_neighbours(a as u8).contains(&(b as u8)));
                        }
                    }
                }
                other => panic!("unknown typo kind {other}"),
            }
            *kinds.entry(kind.to_string()).or_default() += 1;
        }
    }
    let typos: u64 = kinds.values().sum();
    let total_weight: u32 = synth::typo::TypoKind::WEIGHTED.iter().map(|w| w.1).sum();
    for (kind, w) in synth::typo::TypoKind::WEIGHTED {
        let p = f64::from(w) / f64::from(total_weight);
        assert_rate(
            &format!("typo kind {}", kind.label()),
            kinds.get(kind.label()).copied().unwrap_or(0),
            typos,
            p,
        );
    }

    let e = &cfg.errors;
    for (k, p) in e.fields() {
        assert_rate(k, count.get(k).copied().unwrap_or(0), denom[k], p);
    }

    // Enrolled and objection lists: errors visible exactly as the truth says.
    for (file, name) in [("enrolled.csv", "enrolled"), ("objections.csv", "objections")] {
        let t = Table::read(&d.path().join(file));
        let rows: Vec<&Vec<String>> = truth.rows.iter().filter(|x| x[0] == name).collect();
        assert_eq!(rows.len(), t.rows.len());
        for (row, tr) in t.rows.iter().zip(rows) {
            let Some(c) = tr[2].parse::<usize>().ok() else {
                continue;
            };
            let cr = &co.rows[c - 1];
            let nhs_ok = t.get(row, "nhs_number") == co.get(cr, "nhs_number");
            let dob_ok = t.get(row, "date_of_birth") == co.get(cr, "date_of_birth");
            assert_eq!(!nhs_ok, tr[3].contains("nhs_number:mistyped"));
            assert_eq!(!dob_ok, tr[3].contains("one_day"));
            if !nhs_ok {
                assert!(!nhs::is_valid(t.get(row, "nhs_number")));
            }
        }
    }
}

#[test]
fn populations_beyond_the_test_block_stay_distinct_and_valid() {
    // Only the number pool is exercised at full size here; whole-file runs at
    // this scale are the benchmark's job.
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let pool = nhs::NhsPool::new(1_200_000, &mut rng).unwrap();
    let mut v: Vec<u64> = (0..pool.len()).map(|i| pool.get(i)).collect();
    assert!(v
        .iter()
        .all(|&n| nhs::is_valid(&nhs::digits(n)) && n >= nhs::WIDE_RANGE_FIRST));
    v.sort_unstable();
    v.dedup();
    assert_eq!(v.len(), 1_200_000);
}

fn rate() -> impl Strategy<Value = f64> {
    (0u32..=25).prop_map(|x| f64::from(x) / 100.0)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, .. ProptestConfig::default() })]

    #[test]
    fn any_valid_configuration_gives_consistent_files(
        seed: u64,
        people in 1u64..400,
        registry in rate(),
        typo in rate(),
        nhs_missing in rate(),
        moved in rate(),
        swap in rate(),
    ) {
        let d = tempfile::tempdir().unwrap();
        let errors = ErrorRates {
            given_typo: typo,
            family_typo: typo,
            nhs_missing,
            postcode_moved: moved,
            name_swap: swap,
            ..ErrorRates::default()
        };
        let cfg = Config { people, seed, registry_fraction: registry, errors, ..Config::default() };
        let s = generate(&cfg, d.path(), false).unwrap();
        let truth = Table::read(&d.path().join("truth.csv"));
        prop_assert_eq!(truth.rows.len() as u64, s.registry + s.enrolled + s.objections);
        let co = Table::read(&d.path().join("cohort.csv"));
        prop_assert_eq!(co.rows.len() as u64, people);
        for t in &truth.rows {
            if let Ok(c) = t[2].parse::<u64>() {
                prop_assert!(c >= 1 && c <= people);
            }
        }
        let reg = Table::read(&d.path().join("registry.csv"));
        for r in &reg.rows {
            let n = reg.get(r, "nhs_number");
            prop_assert!(n.is_empty() || n.len() == 10);
            let dob = reg.get(r, "date_of_birth");
            prop_assert!(dob.is_empty() || Date::parse_iso(dob).is_some());
        }
    }
}

#[test]
fn the_pseudonym_parser_agrees_with_the_generator() {
    // `pseudonym` parses what parties upload; an independent implementation
    // of the same rules. Every cohort value must parse, every mistyped
    // registry NHS number must be rejected.
    let d = tempfile::tempdir().unwrap();
    let cfg = Config {
        people: 5000,
        seed: 31,
        registry_fraction: 0.5,
        ..Config::default()
    };
    generate(&cfg, d.path(), false).unwrap();
    let as_of = pseudonym::Date::new(2026, 1, 1).unwrap();
    let formats = pseudonym::DobFormats::default();
    let co = Table::read(&d.path().join("cohort.csv"));
    for r in &co.rows {
        assert!(pseudonym::NhsNumber::parse(co.get(r, "nhs_number")).is_ok());
        assert!(pseudonym::Dob::parse(co.get(r, "date_of_birth"), &formats, as_of).is_ok());
    }
    let reg = Table::read(&d.path().join("registry.csv"));
    let truth = Table::read(&d.path().join("truth.csv"));
    let mut mistyped = 0;
    for (r, t) in reg
        .rows
        .iter()
        .zip(truth.rows.iter().filter(|t| t[0] == "registry"))
    {
        let n = reg.get(r, "nhs_number");
        let parsed = pseudonym::NhsNumber::parse(n);
        if t[3].contains("nhs_number:mistyped") {
            mistyped += 1;
            assert!(parsed.is_err());
        } else if !n.is_empty() {
            assert!(parsed.is_ok());
        }
        let dob = reg.get(r, "date_of_birth");
        if !dob.is_empty() {
            assert!(pseudonym::Dob::parse(dob, &formats, as_of).is_ok());
        }
    }
    assert!(mistyped > 0);
}
