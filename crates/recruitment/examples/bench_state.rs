//! Build service-scale store state for `bench/invite_scale.sh`: a non-contact
//! list and a history of prior invitations, part of them for people in the
//! cohort (so the suppression and frequency-cap paths do real work).
//!
//! ```text
//! cargo run --release -p recruitment --example bench_state -- \
//!     STORE MASTER_KEY COHORT_CSV NONCONTACT_TOKENS PRIOR_INVITATIONS
//! ```

use pseudonym::{Date, Dob, DobFormats, NhsNumber, Scope, TokenKey};
use rand::{Rng, SeedableRng};
use std::time::Instant;

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 6 {
        eprintln!("usage: bench_state STORE MASTER_KEY COHORT_CSV NONCONTACT_TOKENS PRIOR_INVITATIONS");
        std::process::exit(2);
    }
    let n_nc: usize = a[4].parse().expect("NONCONTACT_TOKENS");
    let n_hist: usize = a[5].parse().expect("PRIOR_INVITATIONS");
    let kf = pseudonym::keyfile::read(std::path::Path::new(&a[2])).expect("master key");
    let tk = TokenKey::new(&kf.key.derive(&Scope::service_store()));
    let as_of = Date::new(2026, 11, 21).unwrap();
    let t = Instant::now();
    // Service tokens of the cohort.
    let mut rdr = csv::Reader::from_path(&a[3]).expect("cohort");
    let h = rdr.byte_headers().unwrap().clone();
    let ni = h.iter().position(|x| x == b"nhs_number").unwrap();
    let di = h.iter().position(|x| x == b"date_of_birth").unwrap();
    let mut cohort = Vec::new();
    let mut cohort_nhs = Vec::new();
    let mut rec = csv::ByteRecord::new();
    while rdr.read_byte_record(&mut rec).unwrap() {
        if let (Ok(n), Ok(d)) = (
            NhsNumber::parse_bytes(&rec[ni]),
            Dob::parse_bytes(&rec[di], &DobFormats::default(), as_of),
        ) {
            cohort.push(tk.token_nhs_dob(&n, &d).0);
            cohort_nhs.push(tk.token_nhs(&n).0);
        }
    }
    eprintln!("cohort tokens: {} in {:.1?}", cohort.len(), t.elapsed());
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
    let mut store = store::Store::open(std::path::Path::new(&a[1])).expect("store");

    // Non-contact: 2.5% of the cohort, the rest people outside it.
    let t = Instant::now();
    let mut nc: Vec<[u8; 32]> = Vec::with_capacity(n_nc);
    for _ in 0..(n_nc / 40).min(cohort.len()) {
        nc.push(cohort_nhs[rng.gen_range(0..cohort_nhs.len())]);
    }
    nc.sort_unstable();
    nc.dedup();
    while nc.len() < n_nc {
        nc.push(rng.gen());
    }
    let nc: Vec<store::NonContactEntry> = nc
        .into_iter()
        .map(|nhs| store::NonContactEntry {
            nhs,
            dob: None,
            dob_given: false,
        })
        .collect();
    let c = store.noncontact_add(&nc, "bench").unwrap();
    eprintln!("non-contact: {} added in {:.1?}", c.added, t.elapsed());
    drop(nc);

    // History: 30% of invitations to cohort members, over the last two years.
    let t = Instant::now();
    let chunk = 1_000_000;
    let mut done = 0;
    let mut b = 0u64;
    while done < n_hist {
        let n = chunk.min(n_hist - done);
        let day0 = as_of.days_since_epoch() - 730;
        let d = Date::from_days_since_epoch(day0 + rng.gen_range(0..730)).unwrap();
        let mut iso = [0u8; 10];
        d.write_iso(&mut iso);
        let iso = std::str::from_utf8(&iso).unwrap().to_string();
        let rows: Vec<store::Invitation> = (0..n)
            .map(|i| store::Invitation {
                reference: format!("hist-{:012}", done + i),
                position: i as u32 + 1,
                service_token: if rng.gen_bool(0.3) {
                    cohort[rng.gen_range(0..cohort.len())]
                } else {
                    rng.gen()
                },
                study_token: rng.gen(),
                service_nhs_token: None,
                study_nhs_token: None,
                arm: "A".into(),
                template: "t".into(),
                registry: false,
                stratum: "all".into(),
                age_band: "60-64".into(),
                sex: "female".into(),
                ethnic_group: "White".into(),
                region: "London".into(),
            })
            .collect();
        store
            .load_history(&format!("history-{b}"), b, &iso, &rows)
            .unwrap();
        done += n;
        b += 1;
        eprintln!("history: {done} invitations ({:.1?})", t.elapsed());
    }
}
