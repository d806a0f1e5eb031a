//! What happens to invitees after an invitation batch, before a reminder:
//! some object to being contacted and some die.
//!
//! [`simulate`] reads the batch and the cohort it was drawn from (invitees
//! are found by the channel's contact fields, as in [`crate::uptake`]) and
//! writes two files for the next run against the service:
//!
//! * a later cohort extract: the cohort unchanged except that the chosen
//!   invitees who died have `deceased` = `1`;
//! * a later objections file in the `objections.csv` format
//!   (`nhs_number, date_of_birth, given_name, family_name, postcode,
//!   received_on`) for the chosen invitees who objected, received on the
//!   given date.
//!
//! Each cohort member whose contact fields are those of exactly one batch
//! row (QA seeds are never cohort members)
//! objects with probability `objection_rate` and otherwise dies with
//! probability `death_rate`, by ChaCha8 draws from the seed in cohort
//! order, so the same inputs and seed write the same files.

use crate::batch;
use crate::date::Date;
use crate::output::AtomicFile;
use crate::SynthError;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// The chances of each event for an invitee, and when they happen.
#[derive(Debug, Clone)]
pub struct FollowUpConfig {
    /// Seed for the draws.
    pub seed: u64,
    /// Chance that an invitee asks not to be contacted.
    pub objection_rate: f64,
    /// Chance that an invitee (who did not object) dies.
    pub death_rate: f64,
    /// The date objections are received.
    pub on: Date,
}

/// How many invitees objected and died.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FollowUp {
    /// Invitees on the later objections file.
    pub objections: u64,
    /// Invitees marked deceased in the later cohort.
    pub deaths: u64,
}

/// Write the later cohort `cohort_out` and the objections file
/// `objections_out` for the invitees of `batch` found in `cohort`.
/// Replaces both files.
pub fn simulate(
    batch_path: &Path,
    cohort: &Path,
    cfg: &FollowUpConfig,
    cohort_out: &Path,
    objections_out: &Path,
) -> Result<FollowUp, SynthError> {
    for (name, p) in [
        ("objection_rate", cfg.objection_rate),
        ("death_rate", cfg.death_rate),
    ] {
        if !(0.0..=1.0).contains(&p) {
            return Err(SynthError::Config {
                name,
                expected: "a probability between 0 and 1".into(),
            });
        }
    }
    let b = batch::read(batch_path)?;
    let (mut r, h) = batch::open(cohort)?;
    let cols = batch::contact_indices(cohort, &h, b.channel)?;
    let col = |n: &str| batch::column(cohort, &h, n);
    let [nhs, dob, given, family, postcode, deceased] = [
        col("nhs_number")?,
        col("date_of_birth")?,
        col("given_name")?,
        col("family_name")?,
        col("postcode")?,
        col("deceased")?,
    ];
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x666f_6c6c_6f77_7570);
    let mut later = csv::Writer::from_writer(Vec::new());
    let mut objections = csv::Writer::from_writer(Vec::new());
    later.write_record(&h).map_err(|e| io(cohort_out, e))?;
    objections
        .write_record([
            "nhs_number",
            "date_of_birth",
            "given_name",
            "family_name",
            "postcode",
            "received_on",
        ])
        .map_err(|e| io(objections_out, e))?;
    let received = cfg.on.iso();
    let mut n = FollowUp::default();
    let mut rec = csv::ByteRecord::new();
    while r
        .read_byte_record(&mut rec)
        .map_err(|e| batch::csv_error(cohort, e))?
    {
        let invitee = b.rows_of(&rec, &cols).is_some_and(|rows| rows.len() == 1);
        let event = if invitee {
            let u: f64 = rng.gen();
            if u < cfg.objection_rate {
                1
            } else if u < cfg.objection_rate + (1.0 - cfg.objection_rate) * cfg.death_rate {
                2
            } else {
                0
            }
        } else {
            0
        };
        if event == 1 {
            objections
                .write_record([
                    &rec[nhs],
                    &rec[dob],
                    &rec[given],
                    &rec[family],
                    &rec[postcode],
                    received.as_bytes(),
                ])
                .map_err(|e| io(objections_out, e))?;
            n.objections += 1;
        }
        if event == 2 {
            let row: csv::ByteRecord = rec
                .iter()
                .enumerate()
                .map(|(i, f)| if i == deceased { &b"1"[..] } else { f })
                .collect();
            later.write_byte_record(&row).map_err(|e| io(cohort_out, e))?;
            n.deaths += 1;
        } else {
            later.write_byte_record(&rec).map_err(|e| io(cohort_out, e))?;
        }
    }
    for (w, p) in [(later, cohort_out), (objections, objections_out)] {
        let bytes = w.into_inner().map_err(|e| io(p, e.into_error().into()))?;
        let mut f = AtomicFile::create(p, true)?;
        f.write_all(&bytes)?;
        f.commit()?;
    }
    Ok(n)
}

fn io(p: &Path, e: csv::Error) -> SynthError {
    SynthError::io(p, std::io::Error::other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const COHORT: &str = "nhs_number,date_of_birth,given_name,family_name,mobile,postcode,deceased\n\
9990000018,1950-01-01,Ann,Able,07700900001,LS1 1AA,0\n\
9990000026,1951-02-02,Bob,Baker,07700900002,LS1 1AB,0\n\
9990000034,1952-03-03,Cat,Cole,07700900003,LS1 1AC,0\n";

    fn files(batch: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let (b, c) = (d.path().join("batch.csv"), d.path().join("cohort.csv"));
        std::fs::write(&b, batch).unwrap();
        std::fs::write(&c, COHORT).unwrap();
        (d, b, c)
    }

    fn cfg(objection_rate: f64, death_rate: f64) -> FollowUpConfig {
        FollowUpConfig {
            seed: 1,
            objection_rate,
            death_rate,
            on: Date::parse_iso("2026-12-04").unwrap(),
        }
    }

    use std::path::PathBuf;

    #[test]
    fn only_invitees_object_or_die_and_every_cohort_row_is_kept() {
        let batch = "reference,template,given_name,family_name,mobile\nr1,t,Ann,Able,07700900001\nr2,t,Cat,Cole,07700900003\n";
        let (d, b, c) = files(batch);
        let (later, obj) = (d.path().join("later.csv"), d.path().join("obj.csv"));
        let n = simulate(&b, &c, &cfg(1.0, 0.0), &later, &obj).unwrap();
        assert_eq!(
            n,
            FollowUp {
                objections: 2,
                deaths: 0
            }
        );
        assert_eq!(
            std::fs::read_to_string(&obj).unwrap(),
            "nhs_number,date_of_birth,given_name,family_name,postcode,received_on\n\
             9990000018,1950-01-01,Ann,Able,LS1 1AA,2026-12-04\n\
             9990000034,1952-03-03,Cat,Cole,LS1 1AC,2026-12-04\n"
        );
        assert_eq!(std::fs::read_to_string(&later).unwrap(), COHORT);
        let n = simulate(&b, &c, &cfg(0.0, 1.0), &later, &obj).unwrap();
        assert_eq!(
            n,
            FollowUp {
                objections: 0,
                deaths: 2
            }
        );
        let text = std::fs::read_to_string(&later).unwrap();
        let flags: Vec<&str> = text
            .lines()
            .skip(1)
            .map(|l| l.rsplit(',').next().unwrap())
            .collect();
        assert_eq!(flags, ["1", "0", "1"], "Bob was not invited");
        assert_eq!(std::fs::read_to_string(&obj).unwrap().lines().count(), 1);
    }

    #[test]
    fn rates_out_of_range_and_missing_columns_are_refused() {
        let (d, b, c) = files("reference,template,given_name,family_name,mobile\n");
        let (later, obj) = (d.path().join("later.csv"), d.path().join("obj.csv"));
        assert!(matches!(
            simulate(&b, &c, &cfg(1.5, 0.0), &later, &obj),
            Err(SynthError::Config {
                name: "objection_rate",
                ..
            })
        ));
        std::fs::write(&c, "nhs_number,given_name,family_name,mobile\n").unwrap();
        assert!(matches!(
            simulate(&b, &c, &cfg(0.1, 0.1), &later, &obj),
            Err(SynthError::MissingColumn { .. })
        ));
        assert!(!later.exists() && !obj.exists(), "nothing written on refusal");
    }
}
