//! Response-adjusted vs proportional allocation over a sequence of
//! simulated studies, against the ground truth of the synthetic response
//! model.
//!
//! A synthetic population is generated; each study's eligible pool is a
//! random 70% of the people aged 50–74 (male or female) at its date, and
//! its target is `--target` enrolments spread as the pool is over age band
//! × sex × ethnic group. Each study is allocated twice from the same
//! history:
//!
//! * **adjusted**: `recruitment::allocation::plan` with the store's uptake
//!   history (the earlier studies' invitations and outcomes);
//! * **proportional**: invitations in proportion to the pool, as many as
//!   the target needs at the history's overall enrolment rate.
//!
//! Invitees are chosen by `recruitment::select` (registry volunteers first,
//! then by rank), and each answers and enrols with the probabilities the
//! default [`ResponseModel`] gives them. Only the adjusted arm's studies are
//! recorded in the store (a temporary directory), so each later study
//! learns from the earlier ones. Also shown: the invitations proportional
//! allocation needs for the expected enrolment of *every* stratum to reach
//! its target (the truth's rates, volunteers first); the adjusted plan
//! sent in waves with top-ups of each stratum's shortfall once outcomes
//! are known, computed by the product's `net_of_study` arithmetic
//! ([`waves`]); and the sampling floor of a one-shot allocation
//! ([`noise_floor`]).
//!
//! `cargo run --release -p synth --example allocation_sim -- [--people N] [--studies S] [--target T] [--seed X]`

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use recruitment::allocation;
use recruitment::request::{self, Dim, Validated};
use recruitment::select::{self, Candidate};
use std::collections::BTreeMap;
use std::path::Path;
use synth::response::{Profile, ResponseModel};
use synth::uptake::{CONSENT, RANDOMISED};
use synth::Date;

/// The base response rate of an invitation before the model's odds.
const BASE: f64 = 0.15;

struct Person {
    dob: Date,
    sex: String,
    ethnic_group: String,
    region: String,
    registry: bool,
}

struct Args {
    people: u64,
    studies: u32,
    target: u32,
    seed: u64,
}

fn args() -> Args {
    let mut a = Args {
        people: 400_000,
        studies: 8,
        target: 2000,
        seed: 2026,
    };
    let v: Vec<String> = std::env::args().skip(1).collect();
    for w in v.chunks(2) {
        let n = w.get(1).and_then(|x| x.parse::<u64>().ok());
        match (w[0].as_str(), n) {
            ("--people", Some(n)) => a.people = n,
            ("--studies", Some(n)) => a.studies = n as u32,
            ("--target", Some(n)) => a.target = n as u32,
            ("--seed", Some(n)) => a.seed = n,
            _ => {
                eprintln!("usage: allocation_sim [--people N] [--studies S] [--target T] [--seed X]");
                std::process::exit(2);
            }
        }
    }
    a
}

fn population(dir: &Path, a: &Args) -> Vec<Person> {
    let cfg = synth::Config {
        people: a.people,
        seed: a.seed,
        ..synth::Config::default()
    };
    synth::generate(&cfg, dir, false).expect("population");
    let mut volunteers = std::collections::HashSet::new();
    let mut r = csv::Reader::from_path(dir.join("truth_registry.csv")).expect("truth");
    for rec in r.records() {
        let rec = rec.expect("row");
        volunteers.insert(rec[1].parse::<u64>().expect("row number"));
    }
    let mut r = csv::Reader::from_path(dir.join("cohort.csv")).expect("cohort");
    let h = r.headers().expect("header").clone();
    let col = |n: &str| h.iter().position(|c| c == n).expect("column");
    let (dob, sex, eth, region, dead) = (
        col("date_of_birth"),
        col("sex"),
        col("ethnic_category"),
        col("region"),
        col("deceased"),
    );
    let mut out = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.expect("row");
        let Some(d) = Date::parse_iso(&rec[dob]) else {
            continue;
        };
        if &rec[dead] == "1" {
            continue;
        }
        out.push(Person {
            dob: d,
            sex: rec[sex].to_string(),
            ethnic_group: synth::codes::ethnic_group(rec[eth].bytes().next().unwrap_or(b'Z')).to_string(),
            region: rec[region].to_string(),
            registry: volunteers.contains(&(i as u64 + 1)),
        });
    }
    out
}

fn age_band(age: u32) -> String {
    recruitment::demographics::age_band(age as u16)
}

fn profile(p: &Person, on: Date) -> Profile {
    Profile {
        age: p.dob.years_until(on).max(0) as u32,
        sex: p.sex.clone(),
        ethnic_group: p.ethnic_group.clone(),
        region: p.region.clone(),
        registry: p.registry,
    }
}

/// One study's eligible pool: indices into the population, their strata.
struct Study {
    as_of: Date,
    members: Vec<usize>,
    labels: Vec<String>,
    cands: Vec<Candidate>,
    /// Per member: the truth's chance of enrolling if invited.
    p_enrol: Vec<f64>,
    p_respond: Vec<f64>,
}

const DIMS: [Dim; 3] = [Dim::AgeBand, Dim::Sex, Dim::EthnicGroup];

fn study(pop: &[Person], s: u32, seed: u64, model: &ResponseModel) -> Study {
    let as_of = Date::from_ymd(2026, 1, 5).expect("date").add_days(91 * s as i32);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (s as u64) << 32);
    let mut members = Vec::new();
    let mut member_labels = Vec::new();
    for (i, p) in pop.iter().enumerate() {
        let age = p.dob.years_until(as_of);
        if !(50..=74).contains(&age) || !(p.sex == "male" || p.sex == "female") || rng.gen::<f64>() >= 0.7 {
            continue;
        }
        members.push(i);
        member_labels.push(request::stratum_label(&DIMS, |d| match d {
            Dim::AgeBand => age_band(age as u32),
            Dim::Sex => p.sex.clone(),
            Dim::EthnicGroup => p.ethnic_group.clone(),
            Dim::Region => p.region.clone(),
        }));
    }
    let labels: Vec<String> = member_labels
        .iter()
        .cloned()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let idx: BTreeMap<&str, u32> = labels
        .iter()
        .enumerate()
        .map(|(k, l)| (l.as_str(), k as u32))
        .collect();
    let cands = members
        .iter()
        .zip(&member_labels)
        .map(|(&i, l)| Candidate {
            stratum: idx[l.as_str()],
            registry: pop[i].registry,
            rank: rng.gen(),
        })
        .collect();
    let mut p_enrol = Vec::new();
    let mut p_respond = Vec::new();
    for &i in &members {
        let pr = profile(&pop[i], as_of);
        let r = model.response(BASE, &pr);
        p_respond.push(r);
        p_enrol.push(r * model.consent(CONSENT, &pr) * RANDOMISED);
    }
    Study {
        as_of,
        members,
        labels,
        cands,
        p_enrol,
        p_respond,
    }
}

fn request_for(s: u32, st: &Study, target: u32) -> Validated {
    let text = format!(
        "study = \"sim-{s}\"\nchannel = \"postal\"\ninvitations = 1000000\nseed = {s}\nas_of = \"{}\"\n\
         [[arms]]\nname = \"A\"\ntemplate = \"a\"\n\
         [quotas]\nby = [\"age_band\", \"sex\", \"ethnic_group\"]\nproportional = true\n\
         [quotas.target]\noutcome = \"enrolled\"\ntotal = {target}\n",
        st.as_of.iso()
    );
    let today = pseudonym::Date::parse_iso(&st.as_of.iso()).expect("date");
    request::parse("sim.toml", &text, today).expect("request")
}

/// Outcomes of the invited: `(responded, enrolled)` per stratum, and the
/// expected enrolments per stratum.
struct Outcome {
    invited: u64,
    responded: Vec<bool>,
    enrolled: Vec<bool>,
    chosen: Vec<usize>,
    by_stratum: Vec<f64>,
    expected: Vec<f64>,
}

fn run(st: &Study, requested: &[u32], rng: &mut ChaCha8Rng) -> Outcome {
    let sel = select::select(&st.cands, requested, true, false);
    let k = st.labels.len();
    let mut o = Outcome {
        invited: 0,
        responded: Vec::new(),
        enrolled: Vec::new(),
        chosen: Vec::new(),
        by_stratum: vec![0.0; k],
        expected: vec![0.0; k],
    };
    for (s, idxs) in sel.chosen.iter().enumerate() {
        for &c in idxs {
            let responds = rng.gen::<f64>() < st.p_respond[c];
            let enrols = responds && rng.gen::<f64>() < st.p_enrol[c] / st.p_respond[c];
            o.invited += 1;
            o.chosen.push(c);
            o.responded.push(responds);
            o.enrolled.push(enrols);
            o.by_stratum[s] += f64::from(u8::from(enrols));
            o.expected[s] += st.p_enrol[c];
        }
    }
    o
}

/// Share of the adjusted plan sent in the first wave of the top-up strategy.
const FIRST_WAVE: f64 = 0.6;
/// Waves of the top-up strategy (the first, then top-ups).
const WAVES: usize = 4;

/// The adjusted allocation sent in waves: the first wave is [`FIRST_WAVE`]
/// of the plan (as `wave_fraction` sends it); each later wave is a top-up
/// computed as a `net_of_study` request does: per stratum, the remaining
/// target is [`allocation::net_target`] of the study's enrolments so far
/// (every earlier answer is known by then, so nothing is pending), and its
/// invitations are [`allocation::invitations_for`] that remainder from the
/// people not yet invited (volunteers first) at the plan's rates.
/// Each eligible person's answer is drawn once (`draws`), so a later
/// wave's selection, which extends the earlier one, keeps earlier answers.
/// Returns (invitations, enrolled per stratum).
fn waves(st: &Study, plan: &allocation::Plan, draws: &[bool]) -> (u64, Vec<f64>) {
    let k = st.labels.len();
    let mut req: Vec<u32> = plan
        .requested_invitations()
        .iter()
        .map(|&r| (f64::from(r) * FIRST_WAVE).round() as u32)
        .collect();
    let mut enrolled = vec![0.0; k];
    let mut invited = 0;
    for w in 0..WAVES {
        let sel = select::select(&st.cands, &req, true, false);
        enrolled = vec![0.0; k];
        invited = 0;
        let mut so_far = vec![allocation::SoFar::default(); k];
        for (s, idxs) in sel.chosen.iter().enumerate() {
            invited += idxs.len() as u64;
            let n = idxs.iter().filter(|&&c| draws[c]).count();
            enrolled[s] = n as f64;
            so_far[s].invited = idxs.len() as u64;
            so_far[s].achieved = n as u64;
        }
        if w + 1 == WAVES {
            break;
        }
        for (s, p) in plan.strata.iter().enumerate() {
            let left = allocation::net_target(p.target, &so_far[s], p.rate.rate, p.registry_rate.rate);
            let n = so_far[s].invited;
            let rest = allocation::StratumInput {
                target: left,
                pool: p.pool.saturating_sub(n),
                registry_pool: p.registry_pool.saturating_sub(n.min(p.registry_pool)),
                rate: p.rate,
                registry_rate: p.registry_rate,
            };
            req[s] += allocation::invitations_for(&rest, left as f64) as u32;
        }
    }
    (invited, enrolled)
}

/// The sampling floor: the mean TV from the target of a cohort of `n`
/// people drawn at random from exactly the target distribution.
fn noise_floor(target: &[f64], n: usize, rng: &mut ChaCha8Rng) -> f64 {
    let total: f64 = target.iter().sum();
    let cum: Vec<f64> = target
        .iter()
        .scan(0.0, |a, x| {
            *a += x / total;
            Some(*a)
        })
        .collect();
    let reps = 200;
    let mut sum = 0.0;
    for _ in 0..reps {
        let mut counts = vec![0.0; target.len()];
        for _ in 0..n {
            let u: f64 = rng.gen();
            let k = cum.partition_point(|&c| c < u).min(target.len() - 1);
            counts[k] += 1.0;
        }
        sum += tv(&counts, target);
    }
    sum / reps as f64
}

fn tv(a: &[f64], b: &[f64]) -> f64 {
    let (sa, sb): (f64, f64) = (a.iter().sum(), b.iter().sum());
    if sa == 0.0 || sb == 0.0 {
        return 1.0;
    }
    0.5 * a.iter().zip(b).map(|(x, y)| (x / sa - y / sb).abs()).sum::<f64>()
}

/// The invitations proportional allocation needs for every stratum's
/// expected enrolment (truth) to reach its target.
fn proportional_for_all(st: &Study, targets: &[u64]) -> u64 {
    let pools: Vec<u64> = (0..st.labels.len() as u32)
        .map(|k| st.cands.iter().filter(|c| c.stratum == k).count() as u64)
        .collect();
    // expected enrolment of the first n of each stratum, in selection order
    let all: Vec<u32> = pools.iter().map(|&p| p as u32).collect();
    let order = select::select(&st.cands, &all, true, false).chosen;
    let cum: Vec<Vec<f64>> = order
        .iter()
        .map(|idxs| {
            let mut acc = 0.0;
            let mut v = vec![0.0];
            for &c in idxs {
                acc += st.p_enrol[c];
                v.push(acc);
            }
            v
        })
        .collect();
    let ok = |total: u64| {
        let alloc = select::largest_remainder(total, &pools);
        (0..pools.len()).all(|k| cum[k][alloc[k] as usize] >= targets[k] as f64)
    };
    let total_pool: u64 = pools.iter().sum();
    if !ok(total_pool) {
        return total_pool;
    }
    let (mut lo, mut hi) = (0u64, total_pool);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if ok(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

fn record(store: &mut store::Store, dir: &Path, s: u32, st: &Study, pop: &[Person], o: &Outcome) {
    let study = format!("sim-{s}");
    let invs: Vec<store::Invitation> = o
        .chosen
        .iter()
        .enumerate()
        .map(|(pos, &c)| {
            let i = st.members[c];
            let pr = profile(&pop[i], st.as_of);
            let mut t = [0u8; 32];
            t[..8].copy_from_slice(&(i as u64).to_be_bytes());
            let mut u = t;
            u[8..12].copy_from_slice(&s.to_be_bytes());
            store::Invitation {
                reference: format!("sim-{s}-{pos}"),
                position: pos as u32 + 1,
                service_token: t,
                study_token: u,
                service_nhs_token: None,
                study_nhs_token: None,
                arm: "A".into(),
                template: "a".into(),
                registry: pr.registry,
                stratum: st.labels[st.cands[c].stratum as usize].clone(),
                age_band: age_band(pr.age),
                sex: pr.sex,
                ethnic_group: pr.ethnic_group,
                region: pr.region,
            }
        })
        .collect();
    let temp = dir.join(format!(".{study}.tmp"));
    std::fs::write(&temp, "batch").expect("write");
    let files = [store::StagedFile {
        temp,
        final_path: dir.join(format!("{study}.csv")),
        primary: true,
    }];
    let on = st.as_of.iso();
    store.ensure_study(&study, "sim").expect("study");
    let id = store
        .stage_batch(&store::NewBatch {
            study: &study,
            seed: s as u64,
            request_digest: "sim",
            channel: "postal",
            route: "service-mailer",
            as_of: &on,
            invited_on: &on,
            backdate_reason: None,
            files: &files,
            invitations: &invs,
            qa_seeds: &[],
            summary_json: "{}",
        })
        .expect("stage");
    store.publish_batch(id).expect("publish");
    let ids: BTreeMap<String, i64> = {
        let mut q = store
            .connection()
            .prepare("SELECT reference, id FROM invitations WHERE study = ?1")
            .expect("sql");
        q.query_map([&study], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("sql")
            .map(|r| r.expect("row"))
            .collect()
    };
    let later = st.as_of.add_days(14).iso();
    store.begin().expect("begin");
    for (pos, inv) in invs.iter().enumerate() {
        let id = ids[&inv.reference];
        if o.responded[pos] {
            store
                .record_outcome(id, store::UptakeStatus::ExpressedInterest, &later, "sim")
                .expect("outcome");
        }
        if o.enrolled[pos] {
            store
                .record_outcome(id, store::UptakeStatus::Randomised, &later, "sim")
                .expect("outcome");
        }
    }
    store.commit().expect("commit");
}

fn main() {
    let a = args();
    let dir = tempfile::tempdir().expect("temp dir");
    let t0 = std::time::Instant::now();
    let pop = population(&dir.path().join("pop"), &a);
    let model = ResponseModel::default();
    let mut store = store::Store::open(&dir.path().join("store.sqlite")).expect("store");
    println!(
        "population {} people ({} alive with a date of birth), {:.1} s; target {} enrolments per study over age band x sex x ethnic group; base response {BASE}",
        a.people,
        pop.len(),
        t0.elapsed().as_secs_f64(),
        a.target
    );
    println!(
        "{:>5} {:>7} {:>6} | {:>8} {:>8} {:>7} {:>7} {:>6} | {:>8} {:>8} {:>7} {:>7} | {:>9} | {:>8} {:>8} {:>7} | {:>6}",
        "study",
        "pool",
        "strata",
        "adj.inv",
        "enrolled",
        "TV",
        "TV(exp)",
        "ranout",
        "prop.inv",
        "enrolled",
        "TV",
        "TV(exp)",
        "prop.all",
        "wave.inv",
        "enrolled",
        "TV",
        "floor"
    );
    let mut pooled = [Vec::new(), Vec::new(), Vec::new()]; // target, adjusted, proportional (by label)
    let mut totals = [0u64; 5];
    // per-study TV: adjusted, proportional, adjusted in waves, sampling floor
    let (mut worst, mut mean) = ([0.0f64; 4], [0.0f64; 4]);
    for s in 0..a.studies {
        let st = study(&pop, s, a.seed, &model);
        let v = request_for(s, &st, a.target);
        let plan = allocation::plan(&store, &v, &st.labels, &vec![0; st.labels.len()], &st.cands)
            .expect("plan")
            .expect("a target");
        let targets: Vec<u64> = plan.strata.iter().map(|p| p.target).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(a.seed.wrapping_add(1000 + s as u64));
        let adj = run(&st, &plan.requested_invitations(), &mut rng);
        let pools: Vec<u64> = plan.strata.iter().map(|p| p.pool).collect();
        // the history's overall rate, volunteers included
        let (p0, p1) = (&plan.prior, &plan.registry_prior);
        let n = (p0.invitations + p1.invitations) as f64;
        let overall = if n > 0.0 {
            (p0.mean * p0.invitations as f64 + p1.mean * p1.invitations as f64) / n
        } else {
            p0.mean
        };
        let prop_total = (a.target as f64 / overall).round() as u64;
        let prop_req: Vec<u32> = select::largest_remainder(prop_total, &pools)
            .into_iter()
            .map(|x| x as u32)
            .collect();
        let mut rng = ChaCha8Rng::seed_from_u64(a.seed.wrapping_add(2000 + s as u64));
        let prop = run(&st, &prop_req, &mut rng);
        let all = proportional_for_all(&st, &targets);
        let tf: Vec<f64> = targets.iter().map(|&t| t as f64).collect();
        let ran_out = plan.strata.iter().filter(|p| p.pool_exhausted).count();
        let mut rng = ChaCha8Rng::seed_from_u64(a.seed.wrapping_add(3000 + s as u64));
        let draws: Vec<bool> = st.p_enrol.iter().map(|&p| rng.gen::<f64>() < p).collect();
        let (wave_inv, wave) = waves(&st, &plan, &draws);
        let floor = noise_floor(&tf, a.target as usize, &mut rng);
        let per_study = [
            tv(&adj.by_stratum, &tf),
            tv(&prop.by_stratum, &tf),
            tv(&wave, &tf),
            floor,
        ];
        if s > 0 {
            for (m, x) in per_study.into_iter().enumerate() {
                worst[m] = worst[m].max(x);
                mean[m] += x / f64::from(a.studies - 1).max(1.0);
            }
        }
        println!(
            "{:>5} {:>7} {:>6} | {:>8} {:>8} {:>7.4} {:>7.4} {:>6} | {:>8} {:>8} {:>7.4} {:>7.4} | {:>9} | {:>8} {:>8} {:>7.4} | {:>6.4}",
            s + 1,
            st.members.len(),
            st.labels.len(),
            adj.invited,
            adj.by_stratum.iter().sum::<f64>(),
            tv(&adj.by_stratum, &tf),
            tv(&adj.expected, &tf),
            ran_out,
            prop.invited,
            prop.by_stratum.iter().sum::<f64>(),
            tv(&prop.by_stratum, &tf),
            tv(&prop.expected, &tf),
            all,
            wave_inv,
            wave.iter().sum::<f64>(),
            tv(&wave, &tf),
            floor
        );
        if s > 0 {
            for (k, l) in st.labels.iter().enumerate() {
                for (m, x) in [tf[k], adj.by_stratum[k], prop.by_stratum[k]]
                    .into_iter()
                    .enumerate()
                {
                    pooled[m].push((l.clone(), x));
                }
            }
            totals[0] += adj.invited;
            totals[1] += prop.invited;
            totals[2] += all;
            totals[3] += 1;
            totals[4] += wave_inv;
        }
        record(&mut store, dir.path(), s, &st, &pop, &adj);
    }
    let sum_by = |v: &[(String, f64)]| -> Vec<f64> {
        let mut m: BTreeMap<&str, f64> = BTreeMap::new();
        for (l, x) in v {
            *m.entry(l.as_str()).or_default() += x;
        }
        m.into_values().collect()
    };
    let (t, ad, pr) = (sum_by(&pooled[0]), sum_by(&pooled[1]), sum_by(&pooled[2]));
    let n = totals[3].max(1);
    println!(
        "\nstudies 2..{} pooled (each learning from the ones before): enrolled cohort's TV from the target: adjusted {:.4}, proportional {:.4}",
        a.studies,
        tv(&ad, &t),
        tv(&pr, &t)
    );
    println!(
        "mean invitations per study: adjusted {}, proportional sized for the total {}, proportional sized for every stratum's target {}",
        totals[0] / n,
        totals[1] / n,
        totals[2] / n
    );
    println!(
        "mean invitations per study, adjusted in {WAVES} waves (first {FIRST_WAVE} of the plan, then top-ups of each stratum's shortfall): {}",
        totals[4] / n
    );
    println!(
        "per-study TV of the enrolled cohort from the target (mean / worst over studies 2..{}): adjusted {:.4} / {:.4}, proportional {:.4} / {:.4}, adjusted in waves {:.4} / {:.4}; sampling floor (a cohort of the target size drawn from exactly the target distribution) {:.4} / {:.4}",
        a.studies, mean[0], worst[0], mean[1], worst[1], mean[2], worst[2], mean[3], worst[3]
    );
    println!("done in {:.1} s", t0.elapsed().as_secs_f64());
}
