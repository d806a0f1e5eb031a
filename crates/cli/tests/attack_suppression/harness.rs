#![allow(dead_code)]
//! Harness for the suppression attack tests: a synthetic cohort of people
//! who are easy to tell apart (distinct names, dates of birth, postcodes,
//! so that the CLK fallback at 0.75 does not suppress the wrong person), a
//! store and master key per test, and runners for `noncontact add` and
//! `invite` that return who was invited (by family name).

use crate::common::*;
use serde_json::Value;
use std::cell::Cell;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

pub const HEADER: [&str; 22] = [
    "nhs_number",
    "given_name",
    "family_name",
    "date_of_birth",
    "sex",
    "ethnic_category",
    "address_line_1",
    "address_line_2",
    "address_line_3",
    "address_line_4",
    "address_line_5",
    "postcode",
    "mobile",
    "email",
    "gp_practice",
    "region",
    "conditions",
    "deceased",
    "armed_forces",
    "prison",
    "s_flag",
    "national_data_opt_out",
];

pub fn col(name: &str) -> usize {
    HEADER.iter().position(|h| *h == name).unwrap()
}

/// The NHS check digit of nine digits (None: 10, never issued).
pub fn check_digit(d9: &str) -> Option<u32> {
    let s: u32 = d9
        .chars()
        .enumerate()
        .map(|(i, c)| c.to_digit(10).unwrap() * (10 - i as u32))
        .sum();
    match 11 - s % 11 {
        11 => Some(0),
        10 => None,
        r => Some(r),
    }
}

/// `n` valid NHS numbers from the 999 test block (9991000000 up).
pub fn nhs_numbers(n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut k = 100_000u32;
    while out.len() < n {
        let d9 = format!("999{k:06}");
        k += 1;
        if let Some(c) = check_digit(&d9) {
            out.push(format!("{d9}{c}"));
        }
    }
    out
}

const GIVEN: [&str; 40] = [
    "Aurelia",
    "Bartholomew",
    "Cressida",
    "Dmitri",
    "Evangeline",
    "Fergus",
    "Gwendolyn",
    "Horatio",
    "Imogen",
    "Jedediah",
    "Kallista",
    "Lysander",
    "Marguerite",
    "Nikolai",
    "Ottoline",
    "Peregrine",
    "Quintessa",
    "Rasmus",
    "Seraphina",
    "Thaddeus",
    "Ulrika",
    "Valentin",
    "Wilhelmina",
    "Xavier",
    "Yolanda",
    "Zebulon",
    "Anastasia",
    "Benedikt",
    "Clementine",
    "Desmond",
    "Eleonora",
    "Florian",
    "Georgiana",
    "Hieronymus",
    "Isadora",
    "Joachim",
    "Kunigunde",
    "Leopold",
    "Mirabel",
    "Napoleon",
];
const SYL: [&str; 16] = [
    "brack", "wist", "mond", "quay", "zell", "thorp", "gule", "fenn", "ock", "rix", "vant", "sly", "hub",
    "peg", "jaw", "cud",
];
const AREA: [&str; 20] = [
    "AB", "BD", "CF", "DH", "EX", "GL", "HU", "IP", "KT", "LN", "ME", "NR", "OX", "PL", "RG", "SN", "TQ",
    "WF", "YO", "ZE",
];

#[derive(Clone, Debug)]
pub struct Person {
    pub nhs: String,
    pub given: String,
    pub family: String,
    /// ISO date of birth
    pub dob: String,
    pub postcode: String,
}

/// `n` people, all aged 50–75 at 2026-11-21, mutually far apart as CLKs.
pub fn people(n: usize) -> Vec<Person> {
    assert!(n <= 240);
    nhs_numbers(n)
        .into_iter()
        .enumerate()
        .map(|(i, nhs)| {
            let a = SYL[i % 16];
            let b = SYL[(i / 16 + 7 * i + 3) % 16];
            let fam = format!("{}{}{}", &a[..1].to_uppercase(), &a[1..], b);
            Person {
                nhs,
                given: GIVEN[i % 40].to_string(),
                family: format!("{fam}{}", ["", "ley", "ton", "by", "wick", "ham"][i / 40]),
                dob: format!(
                    "{}-{:02}-{:02}",
                    1952 + (i * 7) % 22,
                    1 + (i * 5) % 12,
                    1 + (i * 11) % 28
                ),
                postcode: format!(
                    "{}{} {}{}{}",
                    AREA[i % 20],
                    1 + i % 9,
                    (i / 20) % 10,
                    (b'A' + (i % 26) as u8) as char,
                    (b'Z' - ((i * 3) % 26) as u8) as char
                ),
            }
        })
        .collect()
}

/// A cohort row for `p` (every flag 0, region valid).
pub fn row(p: &Person) -> Vec<String> {
    let mut r = vec![String::new(); HEADER.len()];
    r[col("nhs_number")] = p.nhs.clone();
    r[col("given_name")] = p.given.clone();
    r[col("family_name")] = p.family.clone();
    r[col("date_of_birth")] = p.dob.clone();
    r[col("sex")] = "female".into();
    r[col("ethnic_category")] = "A".into();
    r[col("address_line_1")] = "1 High Street".into();
    r[col("address_line_2")] = "Town".into();
    r[col("postcode")] = p.postcode.clone();
    r[col("mobile")] = "07700900001".into();
    r[col("email")] = "x@example.org".into();
    r[col("gp_practice")] = "D81229".into();
    r[col("region")] = "East of England".into();
    for f in [
        "deceased",
        "armed_forces",
        "prison",
        "s_flag",
        "national_data_opt_out",
    ] {
        r[col(f)] = "0".into();
    }
    r
}

pub fn quote(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

pub fn csv_line(r: &[String]) -> String {
    r.iter().map(|v| quote(v)).collect::<Vec<_>>().join(",")
}

/// A cohort CSV (LF) of the header and these rows.
pub fn cohort_csv(rows: &[Vec<String>]) -> String {
    let mut s = HEADER.join(",") + "\n";
    for r in rows {
        s.push_str(&csv_line(r));
        s.push('\n');
    }
    s
}

pub fn cohort_of(ps: &[Person]) -> String {
    cohort_csv(&ps.iter().map(row).collect::<Vec<_>>())
}

pub struct World {
    pub dir: tempfile::TempDir,
    pub key: PathBuf,
    pub store: PathBuf,
    n: Cell<u32>,
}

pub struct Nc {
    pub out: Output,
    pub rejects: String,
    pub manifest: Option<Value>,
}

impl Nc {
    pub fn code(&self) -> Option<i32> {
        self.out.status.code()
    }
    /// Data lines (1-based file line numbers) listed in the rejects file.
    pub fn rejected_lines(&self) -> BTreeSet<usize> {
        self.rejects
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').next()?.parse().ok())
            .collect()
    }
    pub fn text(&self) -> String {
        format!("{}{}", stdout(&self.out), stderr(&self.out))
    }
}

pub struct Inv {
    pub out: Output,
    pub dir: PathBuf,
    /// Family names in the batch (None: no batch written).
    pub batch: Option<BTreeSet<String>>,
    pub summary: Option<Value>,
    pub manifest: Option<Value>,
}

impl Inv {
    pub fn code(&self) -> Option<i32> {
        self.out.status.code()
    }
    pub fn invited(&self, family: &str) -> bool {
        self.batch.as_ref().is_some_and(|b| b.contains(family))
    }
    pub fn text(&self) -> String {
        format!("{}{}", stdout(&self.out), stderr(&self.out))
    }
    pub fn stage(&self, stage: &str) -> u64 {
        let s = self.summary.as_ref().expect("no summary");
        s["funnel"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["stage"] == stage)
            .unwrap_or_else(|| panic!("no stage {stage}"))["count"]
            .as_u64()
            .unwrap()
    }
    /// Every cohort row is accounted for: the funnel adds up to the rows
    /// read, the manifest's rows in = out + rejected.
    pub fn assert_accounted(&self, data_rows: u64) {
        let s = self.summary.as_ref().expect("no summary");
        let f = s["funnel"].as_array().unwrap();
        let sum: u64 = f.iter().map(|x| x["count"].as_u64().unwrap()).sum();
        assert_eq!(s["cohort_rows"].as_u64(), Some(data_rows), "{s}");
        assert_eq!(sum, data_rows, "funnel does not add up: {s}");
        let m = self.manifest.as_ref().expect("no manifest");
        let r = &m["rows"];
        assert_eq!(r["in"].as_u64(), Some(data_rows), "{r}");
        assert_eq!(
            r["in"].as_u64().unwrap(),
            r["out"].as_u64().unwrap() + r["rejected"].as_u64().unwrap(),
            "{r}"
        );
    }
    /// The batch exists and holds every control (so the run could invite:
    /// the probe can fail) and none of the suppressed.
    pub fn assert_batch(&self, suppressed: &[&str], controls: &[&str], ctx: &str) {
        let b = self
            .batch
            .as_ref()
            .unwrap_or_else(|| panic!("{ctx}: no batch; exit {:?}: {}", self.code(), self.text()));
        for c in controls {
            assert!(b.contains(*c), "{ctx}: control {c} not invited: {}", self.text());
        }
        let bad: Vec<_> = suppressed.iter().filter(|s| b.contains(**s)).collect();
        assert!(
            bad.is_empty(),
            "{ctx}: INVITED {bad:?}; exit {:?}\n{}",
            self.code(),
            self.text()
        );
    }
}

pub fn pstr(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let key = master_key(dir.path());
        let store = dir.path().join("service.sqlite");
        create_store(&store, &key);
        World {
            dir,
            key,
            store,
            n: Cell::new(0),
        }
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }
    fn next(&self) -> u32 {
        self.n.set(self.n.get() + 1);
        self.n.get()
    }

    /// `noncontact add` of these bytes (a fresh file name each call).
    pub fn noncontact(&self, bytes: impl AsRef<[u8]>, extra: &[&str]) -> Nc {
        let n = self.next();
        let input = self.write(&format!("objections{n}.csv"), bytes);
        let rej = self.path(&format!("objections{n}.rejects.csv"));
        let man = self.path(&format!("objections{n}.manifest.json"));
        let mut args = vec![
            "noncontact".to_string(),
            "add".into(),
            "--store".into(),
            pstr(&self.store),
            "--key".into(),
            pstr(&self.key),
            "--input".into(),
            pstr(&input),
            "--rejects".into(),
            pstr(&rej),
            "--manifest".into(),
            pstr(&man),
            "--as-of".into(),
            "2026-11-21".into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let out = bin().args(&args).output().unwrap();
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        Nc {
            out,
            rejects: std::fs::read_to_string(&rej).unwrap_or_default(),
            manifest: std::fs::read(&man)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok()),
        }
    }

    /// `invite` of this cohort with a request inviting everyone eligible
    /// (a fresh study id and output dir each call).
    pub fn invite(&self, cohort: impl AsRef<[u8]>, req_extra: &str, args: &[&str]) -> Inv {
        let n = self.next();
        self.invite_as(
            &format!("study{n}"),
            "2026-11-21",
            "2026-11-21",
            cohort,
            req_extra,
            args,
        )
    }

    pub fn invite_as(
        &self,
        study: &str,
        today: &str,
        as_of: &str,
        cohort: impl AsRef<[u8]>,
        req_extra: &str,
        args: &[&str],
    ) -> Inv {
        let n = self.next();
        let cohort = self.write(&format!("cohort{n}.csv"), cohort);
        let req = self.write(
            &format!("req{n}.toml"),
            format!(
                "study = \"{study}\"\nchannel = \"postal\"\ninvitations = 900\nseed = {n}\n\
                 as_of = \"{as_of}\"\nqa_seeds = 0\n{req_extra}\n[[arms]]\nname = \"A\"\ntemplate = \"t\"\n"
            ),
        );
        let dir = self.path(&format!("out{n}"));
        let mut a = vec![
            "invite".to_string(),
            "--store".into(),
            pstr(&self.store),
            "--key".into(),
            pstr(&self.key),
            "--cohort".into(),
            pstr(&cohort),
            "--request".into(),
            pstr(&req),
            "--out".into(),
            pstr(&dir),
        ];
        a.extend(args.iter().map(|s| s.to_string()));
        let out = bin().env("TRIALINK_TODAY", today).args(&a).output().unwrap();
        assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
        let batch = std::fs::read_to_string(dir.join("invitations.csv"))
            .ok()
            .map(|t| {
                let mut lines = t.lines();
                let h: Vec<&str> = lines.next().unwrap().split(',').collect();
                let fi = h.iter().position(|c| *c == "family_name").unwrap();
                lines
                    .map(|l| l.split(',').nth(fi).unwrap().to_string())
                    .collect::<BTreeSet<_>>()
            });
        let read = |f: &str| {
            std::fs::read(dir.join(f))
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
        };
        Inv {
            summary: read("selection-summary.json"),
            manifest: read("invitations.csv.manifest.json"),
            out,
            dir,
            batch,
        }
    }

    pub fn run(&self, args: &[&str]) -> Output {
        run(args)
    }
}

/// No output of a run contains any of these values.
pub fn assert_no_echo(text: &str, values: &[&str], ctx: &str) {
    for v in values {
        if v.len() >= 4 {
            assert!(!text.contains(v), "{ctx}: output echoes {v:?}: {text}");
        }
    }
}

/// Objections CSV with columns nhs_number,date_of_birth (raw cells, the
/// caller's line endings).
pub fn objections(rows: &[(String, String)]) -> String {
    let mut s = String::from("nhs_number,date_of_birth\n");
    for (n, d) in rows {
        s.push_str(&format!("{},{}\n", quote(n), quote(d)));
    }
    s
}

/// Objections with names and postcodes (the CLK fallback's columns).
pub fn objections_full(rows: &[(String, &Person)]) -> String {
    let mut s = String::from("nhs_number,date_of_birth,given_name,family_name,postcode\n");
    for (n, p) in rows {
        s.push_str(&format!(
            "{},{},{},{},{}\n",
            quote(n),
            p.dob,
            p.given,
            p.family,
            p.postcode
        ));
    }
    s
}
