//! Writing a whole population: cohort, registry, lists, QA seeds, truth.

use crate::codes::CONDITIONS;
use crate::date::Date;
use crate::names::nicknames;
use crate::nhs::{self, NhsPool};
use crate::output::{check_absent, field, header, number, AtomicFile};
use crate::person::{Address, Person, PersonGenerator};
use crate::places::REGIONS;
use crate::typo::typo;
use crate::{Config, SynthError};
use rand::seq::SliceRandom;
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// The files [`generate`] writes, in order.
pub const FILES: [&str; 8] = [
    "cohort.csv",
    "registry.csv",
    "enrolled.csv",
    "objections.csv",
    "qa_seeds.csv",
    "truth.csv",
    "truth_registry.csv",
    "synth.json",
];

const COHORT_HEADER: &[&str] = &[
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
const REGISTRY_HEADER: &[&str] = &[
    "nhs_number",
    "date_of_birth",
    "given_name",
    "family_name",
    "sex",
    "postcode",
];
const ENROLLED_HEADER: &[&str] = &["nhs_number", "date_of_birth", "enrolled_on"];
const OBJECTIONS_HEADER: &[&str] = &[
    "nhs_number",
    "date_of_birth",
    "given_name",
    "family_name",
    "postcode",
    "received_on",
];
const QA_HEADER: &[&str] = &[
    "nhs_number",
    "date_of_birth",
    "given_name",
    "family_name",
    "address_line_1",
    "address_line_2",
    "address_line_3",
    "address_line_4",
    "address_line_5",
    "postcode",
    "mobile",
    "email",
];
const TRUTH_HEADER: &[&str] = &["file", "row", "cohort_row", "errors"];

// Independent streams derived from the seed.
const D_PERSON: u64 = 1;
const D_ROLES: u64 = 2;
const D_NHS: u64 = 3;
const D_SHUFFLE: u64 = 4;
const D_REGISTRY: u64 = 5;
const D_ENROLLED: u64 = 6;
const D_OBJECTIONS: u64 = 7;
const D_QA: u64 = 8;

fn domain_key(seed: u64, domain: u64) -> [u8; 32] {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(domain);
    let mut k = [0u8; 32];
    rng.fill_bytes(&mut k);
    k
}

fn stream(key: &[u8; 32], i: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::from_seed(*key);
    rng.set_stream(i);
    rng
}

/// Row counts of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Rows in cohort.csv.
    pub cohort: u64,
    /// Rows in registry.csv.
    pub registry: u64,
    /// Registry rows for people outside the cohort.
    pub registry_outsiders: u64,
    /// Rows in enrolled.csv.
    pub enrolled: u64,
    /// Rows in objections.csv.
    pub objections: u64,
    /// Rows in qa_seeds.csv.
    pub qa_seeds: u64,
    /// NHS numbers handed out from the wider never-issued range (0 unless
    /// the population is bigger than the 999 test block).
    pub nhs_outside_test_block: u64,
}

impl Summary {
    /// One line for the terminal: the row counts, the time and rate, and
    /// where the files went; a second line if NHS numbers came from outside
    /// the test block.
    pub fn console(&self, secs: f64, out: &Path) -> String {
        let mut o = format!(
            "synth: {} people, {} registry rows ({} outside the cohort), {} enrolled, {} objections, {} QA seeds \
             in {:.2} s ({:.0} people/s) -> {}",
            self.cohort,
            self.registry,
            self.registry_outsiders,
            self.enrolled,
            self.objections,
            self.qa_seeds,
            secs,
            self.cohort as f64 / secs.max(1e-9),
            out.display()
        );
        if self.nhs_outside_test_block > 0 {
            o.push_str(&format!(
                "\nsynth: note: {} NHS numbers come from the never-issued 998…900 blocks (the 999 test block holds 909,090)",
                self.nhs_outside_test_block
            ));
        }
        o
    }
}

/// Who appears where: person indices, shuffled.
struct Plan {
    people: u64,
    gen: PersonGenerator,
    pool: NhsPool,
    registry: Vec<u32>,
    enrolled: Vec<u32>,
    objections: Vec<u32>,
    qa_first: u64,
    qa_count: u64,
    registry_outsiders: u64,
}

fn outsiders_for(members: usize, fraction: f64) -> usize {
    if fraction <= 0.0 {
        return 0;
    }
    (members as f64 * fraction / (1.0 - fraction)).round() as usize
}

impl Plan {
    fn new(cfg: &Config) -> Result<Plan, SynthError> {
        let n = cfg.people;
        let mut roles = ChaCha8Rng::from_seed(domain_key(cfg.seed, D_ROLES));
        let (mut registry, mut enrolled, mut objections) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..n as u32 {
            let (a, b, c): (f64, f64, f64) = (roles.gen(), roles.gen(), roles.gen());
            if a < cfg.registry_fraction {
                registry.push(i);
            }
            if b < cfg.enrolled_fraction {
                enrolled.push(i);
            }
            if c < cfg.objection_fraction {
                objections.push(i);
            }
        }
        // Outsiders take the person indices after the cohort.
        let mut next = n as u32;
        let mut add = |list: &mut Vec<u32>, k: usize| {
            list.extend(next..next + k as u32);
            next += k as u32;
        };
        let r_out = outsiders_for(registry.len(), cfg.outsider_fraction);
        add(&mut registry, r_out);
        let e_out = outsiders_for(enrolled.len(), cfg.list_outsider_fraction);
        add(&mut enrolled, e_out);
        let o_out = outsiders_for(objections.len(), cfg.list_outsider_fraction);
        add(&mut objections, o_out);
        let with_nhs = u64::from(next);

        let mut shuffle = ChaCha8Rng::from_seed(domain_key(cfg.seed, D_SHUFFLE));
        registry.shuffle(&mut shuffle);
        enrolled.shuffle(&mut shuffle);
        objections.shuffle(&mut shuffle);

        let mut nhs_rng = ChaCha8Rng::from_seed(domain_key(cfg.seed, D_NHS));
        // QA seeds take the numbers after everyone else's (route 1, NHS
        // Notification, needs a valid NHS number for every seed). Blocks are
        // shuffled whole, so extending the pool leaves earlier numbers as
        // they were.
        let pool = NhsPool::new((with_nhs + u64::from(cfg.qa_seeds)) as usize, &mut nhs_rng).ok_or(
            SynthError::Config {
                name: "people",
                expected: "a population that fits the 999–900 NHS number blocks".into(),
            },
        )?;
        Ok(Plan {
            people: n,
            gen: PersonGenerator::new(domain_key(cfg.seed, D_PERSON), cfg.min_age, cfg.as_of),
            pool,
            registry,
            enrolled,
            objections,
            qa_first: with_nhs,
            qa_count: u64::from(cfg.qa_seeds),
            registry_outsiders: r_out as u64,
        })
    }

    fn person(&self, i: u64) -> Person {
        let nhs = if (i as usize) < self.pool.len() {
            self.pool.get(i as usize)
        } else {
            0
        };
        self.gen.person(i, nhs)
    }

    fn cohort_row(&self, i: u32) -> Option<u64> {
        (u64::from(i) < self.people).then_some(u64::from(i) + 1)
    }
}

/// Render rows `0..n` in parallel chunks, handing each chunk's output to
/// `sink` in order. Output does not depend on the number of threads.
fn par_rows<B, R, S>(n: u64, render: R, mut sink: S) -> Result<(), SynthError>
where
    B: Default + Send,
    R: Fn(u64, &mut B) + Sync,
    S: FnMut(B) -> Result<(), SynthError>,
{
    const CHUNK: u64 = 2048;
    const WAVE: u64 = 32;
    let chunks = n.div_ceil(CHUNK);
    let mut c = 0;
    while c < chunks {
        let end = (c + WAVE).min(chunks);
        let bufs: Vec<B> = (c..end)
            .into_par_iter()
            .map(|ci| {
                let mut b = B::default();
                for row in ci * CHUNK..((ci + 1) * CHUNK).min(n) {
                    render(row, &mut b);
                }
                b
            })
            .collect();
        for b in bufs {
            sink(b)?;
        }
        c = end;
    }
    Ok(())
}

fn flag(out: &mut Vec<u8>, v: bool) {
    out.extend_from_slice(if v { b",1" } else { b",0" });
}

fn write_mobile(out: &mut Vec<u8>, m: Option<u16>) {
    if let Some(m) = m {
        out.extend_from_slice(b"07700900");
        out.extend_from_slice(&[
            b'0' + (m / 100) as u8,
            b'0' + (m / 10 % 10) as u8,
            b'0' + (m % 10) as u8,
        ]);
    }
}

fn write_address(out: &mut Vec<u8>, a: &Address) {
    for line in &a.lines {
        field(out, line);
        out.push(b',');
    }
    field(out, &a.postcode);
}

fn cohort_line(p: &Person, out: &mut Vec<u8>) {
    nhs::write_digits(p.nhs, out);
    out.push(b',');
    field(out, &p.given);
    out.push(b',');
    field(out, &p.family);
    out.push(b',');
    p.dob.write_iso(out);
    out.push(b',');
    out.extend_from_slice(p.sex.as_str().as_bytes());
    out.push(b',');
    out.push(p.ethnic);
    out.push(b',');
    write_address(out, &p.address);
    out.push(b',');
    write_mobile(out, p.mobile);
    out.push(b',');
    if let Some(e) = &p.email {
        field(out, e);
    }
    out.push(b',');
    out.extend_from_slice(p.gp_practice.as_bytes());
    out.push(b',');
    field(out, REGIONS[p.region as usize].name);
    out.push(b',');
    let mut first = true;
    for (b, c) in CONDITIONS.iter().enumerate() {
        if p.conditions & (1 << b) != 0 {
            if !first {
                out.push(b';');
            }
            out.extend_from_slice(c.code.as_bytes());
            first = false;
        }
    }
    flag(out, p.deceased);
    flag(out, p.armed_forces);
    flag(out, p.prison);
    flag(out, p.s_flag);
    flag(out, p.opt_out);
    out.push(b'\n');
}

/// A registry (or list) copy of a person after errors.
struct Record {
    nhs: String,
    dob: String,
    given: String,
    family: String,
    sex: &'static str,
    postcode: String,
    errors: Vec<String>,
}

fn off_by_one<R: Rng>(dob: Date, rng: &mut R) -> (Date, &'static str) {
    if rng.gen_bool(0.5) {
        (dob.add_days(1), "date_of_birth:plus_one_day")
    } else {
        (dob.add_days(-1), "date_of_birth:minus_one_day")
    }
}

fn moved<R: Rng>(gen: &PersonGenerator, p: &Person, rng: &mut R) -> Address {
    loop {
        let region = if rng.gen_bool(0.8) {
            p.region
        } else {
            rng.gen_range(0..REGIONS.len() as u8)
        };
        let a = gen.address(rng, region);
        if a.postcode != p.address.postcode {
            return a;
        }
    }
}

impl Plan {
    /// Registry copy of person `idx`, errors drawn from `rng`.
    fn registry_copy<R: Rng>(&self, cfg: &Config, idx: u32, p: &Person, rng: &mut R) -> Record {
        let e = &cfg.errors;
        let mut errors = Vec::new();
        let mut given = p.given.clone();
        let mut family = p.family.clone();
        let (u_swap, u_given, u_family): (f64, f64, f64) = (rng.gen(), rng.gen(), rng.gen());
        if u_swap < e.name_swap {
            std::mem::swap(&mut given, &mut family);
            errors.push("names:swapped".to_string());
        } else {
            if u_given < e.given_blank {
                given.clear();
                errors.push("given_name:blank".into());
            } else if u_given < e.given_blank + e.given_typo {
                let (t, k) = typo(&given, rng);
                given = t;
                errors.push(format!("given_name:typo_{}", k.label()));
            } else if u_given < e.given_blank + e.given_typo + e.nickname {
                if let Some(n) = nicknames(&given) {
                    given = n[rng.gen_range(0..n.len())].to_string();
                    errors.push("given_name:nickname".into());
                }
            }
            if u_family < e.family_blank {
                family.clear();
                errors.push("family_name:blank".into());
            } else if u_family < e.family_blank + e.family_typo {
                let (t, k) = typo(&family, rng);
                family = t;
                errors.push(format!("family_name:typo_{}", k.label()));
            }
        }

        let u_dob: f64 = rng.gen();
        let mut dob = Some(p.dob);
        if u_dob < e.dob_blank {
            dob = None;
            errors.push("date_of_birth:blank".into());
        } else if u_dob < e.dob_blank + e.dob_day_month_swap {
            let (y, m, d) = p.dob.ymd();
            if d <= 12 && d != m {
                dob = Date::from_ymd(y, d, m);
                errors.push("date_of_birth:day_month_swap".into());
            }
        } else if u_dob < e.dob_blank + e.dob_day_month_swap + e.dob_off_by_one {
            let (d, label) = off_by_one(p.dob, rng);
            dob = Some(d);
            errors.push(label.into());
        }

        let u_nhs: f64 = rng.gen();
        let mut nhs_s = nhs::digits(p.nhs);
        if u_nhs < e.nhs_missing {
            nhs_s.clear();
            errors.push("nhs_number:missing".into());
        } else if u_nhs < e.nhs_missing + e.nhs_mistyped {
            nhs_s = nhs::mistype(p.nhs, rng).0;
            errors.push("nhs_number:mistyped".into());
        } else if u_nhs < e.nhs_missing + e.nhs_mistyped + e.nhs_other_person && self.people >= 2 {
            let mut j = rng.gen_range(0..self.people);
            if j == u64::from(idx) {
                j = (j + 1) % self.people;
            }
            nhs_s = nhs::digits(self.pool.get(j as usize));
            errors.push("nhs_number:other_person".into());
        }

        let u_pc: f64 = rng.gen();
        let mut postcode = p.address.postcode.clone();
        if u_pc < e.postcode_blank {
            postcode.clear();
            errors.push("postcode:blank".into());
        } else if u_pc < e.postcode_blank + e.postcode_moved {
            postcode = moved(&self.gen, p, rng).postcode;
            errors.push("postcode:moved".into());
        }

        let u_sex: f64 = rng.gen();
        let mut sex = p.sex.as_str();
        if u_sex < e.sex_blank {
            sex = "";
            errors.push("sex:blank".into());
        }
        Record {
            nhs: nhs_s,
            dob: dob.map(Date::iso).unwrap_or_default(),
            given,
            family,
            sex,
            postcode,
            errors,
        }
    }

    /// Enrolled/objection copy: NHS number mistyped, DOB one day out, each at `rate`.
    fn list_copy<R: Rng>(&self, rate: f64, p: &Person, rng: &mut R) -> Record {
        let mut errors = Vec::new();
        let mut nhs_s = nhs::digits(p.nhs);
        if rng.gen::<f64>() < rate {
            nhs_s = nhs::mistype(p.nhs, rng).0;
            errors.push("nhs_number:mistyped".to_string());
        }
        let mut dob = p.dob;
        if rng.gen::<f64>() < rate {
            let (d, label) = off_by_one(p.dob, rng);
            dob = d;
            errors.push(label.to_string());
        }
        Record {
            nhs: nhs_s,
            dob: dob.iso(),
            given: p.given.clone(),
            family: p.family.clone(),
            sex: p.sex.as_str(),
            postcode: p.address.postcode.clone(),
            errors,
        }
    }
}

#[derive(Default)]
struct Bufs {
    main: Vec<u8>,
    truth: Vec<u8>,
    pairs: Vec<u8>,
}

fn truth_line(out: &mut Vec<u8>, file: &str, row: u64, cohort_row: Option<u64>, errors: &[String]) {
    out.extend_from_slice(file.as_bytes());
    out.push(b',');
    number(out, row);
    out.push(b',');
    if let Some(c) = cohort_row {
        number(out, c);
    }
    out.push(b',');
    field(out, &errors.join(";"));
    out.push(b'\n');
}

/// Write the population described by `cfg` into `dir` (created if needed):
/// the files in [`FILES`]. Refuses to overwrite any of them unless `force`.
pub fn generate(cfg: &Config, dir: &Path, force: bool) -> Result<Summary, SynthError> {
    generate_with_progress(cfg, dir, force, &mut |_| {})
}

/// As [`generate`], calling `progress` with the number of cohort rows
/// written so far (the bulk of the work) as it goes.
pub fn generate_with_progress(
    cfg: &Config,
    dir: &Path,
    force: bool,
    progress: &mut dyn FnMut(u64),
) -> Result<Summary, SynthError> {
    cfg.validate()?;
    std::fs::create_dir_all(dir).map_err(|e| SynthError::io(dir, e))?;
    let paths: Vec<PathBuf> = FILES.iter().map(|f| dir.join(f)).collect();
    check_absent(&paths, force)?;
    let plan = Plan::new(cfg)?;
    let open = |i: usize| AtomicFile::create(&paths[i], force);
    let (mut cohort, mut registry, mut enrolled, mut objections, mut qa, mut truth, mut pairs) = (
        open(0)?,
        open(1)?,
        open(2)?,
        open(3)?,
        open(4)?,
        open(5)?,
        open(6)?,
    );
    write_cohort(&plan, cfg.people, &mut cohort, progress)?;
    truth.write_all(&header_bytes(TRUTH_HEADER))?;
    pairs.write_all(&header_bytes(&["left", "right"]))?;
    write_registry(cfg, &plan, &mut registry, &mut truth, &mut pairs)?;
    write_list(
        cfg,
        &plan,
        &plan.enrolled,
        ListKind::Enrolled,
        &mut enrolled,
        &mut truth,
    )?;
    write_list(
        cfg,
        &plan,
        &plan.objections,
        ListKind::Objections,
        &mut objections,
        &mut truth,
    )?;
    qa.write_all(&qa_seeds_csv(cfg, &plan))?;

    let summary = Summary {
        cohort: cfg.people,
        registry: plan.registry.len() as u64,
        registry_outsiders: plan.registry_outsiders,
        enrolled: plan.enrolled.len() as u64,
        objections: plan.objections.len() as u64,
        qa_seeds: plan.qa_count,
        nhs_outside_test_block: (0..plan.pool.len())
            .filter(|&i| plan.pool.get(i) < nhs::TEST_BLOCK_FIRST)
            .count() as u64,
    };

    let mut manifest = AtomicFile::create(&paths[7], force)?;
    manifest.write_all(manifest_json(cfg, &summary).as_bytes())?;

    for f in [cohort, registry, enrolled, objections, qa, truth, pairs, manifest] {
        f.commit()?;
    }
    Ok(summary)
}

/// A header line.
fn header_bytes(names: &[&str]) -> Vec<u8> {
    let mut h = Vec::new();
    header(&mut h, names);
    h
}

/// cohort.csv: every person, rendered in parallel, in order.
fn write_cohort(
    plan: &Plan,
    people: u64,
    cohort: &mut AtomicFile,
    progress: &mut dyn FnMut(u64),
) -> Result<(), SynthError> {
    cohort.write_all(&header_bytes(COHORT_HEADER))?;
    let mut done = 0u64;
    par_rows(
        people,
        |i, b: &mut Vec<u8>| cohort_line(&plan.person(i), b),
        |b| {
            done += b.iter().filter(|&&c| c == b'\n').count() as u64;
            progress(done);
            cohort.write_all(&b)
        },
    )
}

/// registry.csv, with its rows' truth lines and `left,right` pairs.
fn write_registry(
    cfg: &Config,
    plan: &Plan,
    registry: &mut AtomicFile,
    truth: &mut AtomicFile,
    pairs: &mut AtomicFile,
) -> Result<(), SynthError> {
    registry.write_all(&header_bytes(REGISTRY_HEADER))?;
    let key = domain_key(cfg.seed, D_REGISTRY);
    par_rows(
        plan.registry.len() as u64,
        |r, b: &mut Bufs| {
            let idx = plan.registry[r as usize];
            let p = plan.person(u64::from(idx));
            let mut rng = stream(&key, r);
            let c = plan.registry_copy(cfg, idx, &p, &mut rng);
            let o = &mut b.main;
            field(o, &c.nhs);
            o.push(b',');
            o.extend_from_slice(c.dob.as_bytes());
            o.push(b',');
            field(o, &c.given);
            o.push(b',');
            field(o, &c.family);
            o.push(b',');
            o.extend_from_slice(c.sex.as_bytes());
            o.push(b',');
            field(o, &c.postcode);
            o.push(b'\n');
            let cohort_row = plan.cohort_row(idx);
            truth_line(&mut b.truth, "registry", r + 1, cohort_row, &c.errors);
            if let Some(cr) = cohort_row {
                number(&mut b.pairs, r + 1);
                b.pairs.push(b',');
                number(&mut b.pairs, cr);
                b.pairs.push(b'\n');
            }
        },
        |b| {
            registry.write_all(&b.main)?;
            truth.write_all(&b.truth)?;
            pairs.write_all(&b.pairs)
        },
    )
}

/// The two lists of people written beside the cohort.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ListKind {
    /// enrolled.csv: the trial's enrolled list.
    Enrolled,
    /// objections.csv: objections to contact (with names and postcode).
    Objections,
}

/// enrolled.csv or objections.csv, with their rows' truth lines.
fn write_list(
    cfg: &Config,
    plan: &Plan,
    list: &[u32],
    kind: ListKind,
    file: &mut AtomicFile,
    truth: &mut AtomicFile,
) -> Result<(), SynthError> {
    let is_enrolled = kind == ListKind::Enrolled;
    let (head, domain, days_back, name) = if is_enrolled {
        (ENROLLED_HEADER, D_ENROLLED, 730, "enrolled")
    } else {
        (OBJECTIONS_HEADER, D_OBJECTIONS, 1095, "objections")
    };
    file.write_all(&header_bytes(head))?;
    let key = domain_key(cfg.seed, domain);
    par_rows(
        list.len() as u64,
        |r, b: &mut Bufs| {
            let idx = list[r as usize];
            let p = plan.person(u64::from(idx));
            let mut rng = stream(&key, r);
            let c = plan.list_copy(cfg.list_error_rate, &p, &mut rng);
            let when = cfg.as_of.add_days(-rng.gen_range(0..days_back));
            let o = &mut b.main;
            if cfg.messy_objections && !is_enrolled {
                let (nhs, dob) = crate::messy::messy_row(&c.nhs, &c.dob, &mut rng);
                field(o, &nhs);
                o.push(b',');
                field(o, &dob);
            } else {
                o.extend_from_slice(c.nhs.as_bytes());
                o.push(b',');
                o.extend_from_slice(c.dob.as_bytes());
            }
            o.push(b',');
            if !is_enrolled {
                field(o, &c.given);
                o.push(b',');
                field(o, &c.family);
                o.push(b',');
                field(o, &c.postcode);
                o.push(b',');
            }
            when.write_iso(o);
            o.push(b'\n');
            truth_line(&mut b.truth, name, r + 1, plan.cohort_row(idx), &c.errors);
        },
        |b| {
            file.write_all(&b.main)?;
            truth.write_all(&b.truth)
        },
    )
}

/// qa_seeds.csv: full contact details for every seed.
fn qa_seeds_csv(cfg: &Config, plan: &Plan) -> Vec<u8> {
    let mut o = header_bytes(QA_HEADER);
    let key = domain_key(cfg.seed, D_QA);
    for k in 0..plan.qa_count {
        let mut p = plan.person(plan.qa_first + k);
        let mut rng = stream(&key, k);
        while p.address.lines[0].is_empty() {
            p.address = plan.gen.address(&mut rng, p.region);
        }
        let mobile = p.mobile.unwrap_or_else(|| rng.gen_range(0..1000));
        crate::nhs::write_digits(p.nhs, &mut o);
        o.push(b',');
        p.dob.write_iso(&mut o);
        o.push(b',');
        field(&mut o, &p.given);
        o.push(b',');
        field(&mut o, &p.family);
        o.push(b',');
        write_address(&mut o, &p.address);
        o.push(b',');
        write_mobile(&mut o, Some(mobile));
        o.push(b',');
        let email = format!(
            "qa.{}.{}@example.org",
            p.given
                .to_ascii_lowercase()
                .replace(|c: char| !c.is_ascii_alphanumeric(), ""),
            k + 1
        );
        field(&mut o, &email);
        o.push(b'\n');
    }
    o
}

fn manifest_json(cfg: &Config, s: &Summary) -> String {
    let rates: serde_json::Map<String, serde_json::Value> = cfg
        .errors
        .fields()
        .iter()
        .map(|(k, v)| (k.to_string(), serde_json::json!(v)))
        .collect();
    let v = serde_json::json!({
        "generator": "trialink synth",
        "generator_version": env!("CARGO_PKG_VERSION"),
        "seed": cfg.seed,
        "people": cfg.people,
        "as_of": cfg.as_of.iso(),
        "min_age": cfg.min_age,
        "registry_fraction": cfg.registry_fraction,
        "outsider_fraction": cfg.outsider_fraction,
        "enrolled_fraction": cfg.enrolled_fraction,
        "objection_fraction": cfg.objection_fraction,
        "list_outsider_fraction": cfg.list_outsider_fraction,
        "list_error_rate": cfg.list_error_rate,
        "registry_error_rates": rates,
        "rows": {
            "cohort.csv": s.cohort,
            "registry.csv": s.registry,
            "enrolled.csv": s.enrolled,
            "objections.csv": s.objections,
            "qa_seeds.csv": s.qa_seeds,
            "truth.csv": s.registry + s.enrolled + s.objections,
            "truth_registry.csv": s.registry - s.registry_outsiders,
        },
        "registry_outsiders": s.registry_outsiders,
        "nhs_numbers_outside_test_block": s.nhs_outside_test_block,
    });
    let mut out = serde_json::to_string_pretty(&v).expect("JSON values");
    out.push('\n');
    out
}
