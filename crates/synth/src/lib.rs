//! Synthetic populations with realistic errors and ground truth.
//!
//! [`generate`] writes, for one seed, a directory of CSV files that stand in
//! for every party's data in the recruitment service:
//!
//! | file | who holds it | columns |
//! |---|---|---|
//! | `cohort.csv` | the Service: the identifiable eligible population | `nhs_number, given_name, family_name, date_of_birth, sex, ethnic_category, address_line_1 … address_line_5, postcode, mobile, email, gp_practice, region, conditions, deceased, armed_forces, prison, s_flag, national_data_opt_out` |
//! | `registry.csv` | a research registry: a subset of the cohort plus outsiders, with errors | `nhs_number, date_of_birth, given_name, family_name, sex, postcode` |
//! | `enrolled.csv` | a trial's already-enrolled list | `nhs_number, date_of_birth, enrolled_on` |
//! | `objections.csv` | requests not to be contacted | `nhs_number, date_of_birth, given_name, family_name, postcode, received_on` |
//! | `qa_seeds.csv` | the Service's internal QA team (a valid NHS number from the test range, never a cohort member's, for route 1; DOB; contact details) | `nhs_number, date_of_birth, given_name, family_name, address_line_1 … address_line_5, postcode, mobile, email` |
//! | `truth.csv` | ground truth | `file, row, cohort_row, errors` |
//! | `truth_registry.csv` | ground truth for `trialink evaluate --truth` | `left, right` |
//! | `synth.json` | the parameters and row counts of the run | |
//!
//! **Values.** NHS numbers are 10 digits without spaces, from the 999 test
//! block with valid Modulus 11 check digits, distinct per person (a
//! population larger than the block's 909,090 numbers continues in the
//! never-issued 998…900 blocks, see [`nhs`]). Dates are `YYYY-MM-DD`. `sex`
//! is `male|female|other|unknown`. `ethnic_category` is the NHS Data
//! Dictionary letter (`A`–`S`, `Z` not stated; [`codes::ETHNICITIES`]).
//! `region` is the ONS English region name ([`places::REGIONS`]).
//! Postcodes have the real format and agree with the town; `ZZ99 3VZ` (no
//! fixed abode) and `ZZ99 3WZ` (not known) occur with blank address lines.
//! Mobiles are `07700900000`–`07700900999` (never issued), emails are at
//! `example.org`. `gp_practice` is a letter and five digits (the letter
//! follows the region, as real practice codes do). `conditions` holds SNOMED
//! CT concept ids separated by `;` ([`codes::CONDITIONS`]), empty for none.
//! Flags are `0` or `1`. With `s_flag` = 1 (restricted record) the address
//! lines, postcode, mobile and email are blank.
//!
//! **Rows** are numbered from 1, not counting the header, as `trialink link`
//! numbers them by default. `truth.csv` has one row per row of
//! `registry.csv`, `enrolled.csv` and `objections.csv` (`file` is the file
//! name without `.csv`); `cohort_row` is blank for people outside the cohort;
//! `errors` lists the errors applied to that row, `;`-separated, as
//! `field:kind` (e.g. `given_name:typo_keyboard;date_of_birth:day_month_swap`).
//! `truth_registry.csv` has `left` = registry row, `right` = cohort row for
//! every registry row that belongs to a cohort member.
//!
//! **Errors** ([`ErrorRates`], FEBRL-like defaults) are drawn per field and
//! are exclusive within a field: a value gets at most one error kind. Names
//! may be swapped (then neither name gets another error); a given name may
//! be blanked, mistyped ([`typo`]) or replaced by a nickname
//! ([`names::NICKNAMES`]; the nickname rate applies to names that have one);
//! a date of birth may be blanked, have day and month swapped (only where
//! that gives a different real date, i.e. day ≤ 12 and day ≠ month) or move
//! by one day; an NHS number may be missing, mistyped (one digit changed or
//! two neighbours swapped — always failing the check digit) or another cohort
//! member's valid number; a postcode may be blank or the person may have
//! moved (a new address, usually in the same region); sex may be blank.
//!
//! **Determinism.** Every person is a pure function of the seed and their
//! index (one ChaCha8 stream each), every error of the seed and the row, so
//! output is byte-identical for the same configuration whatever the number
//! of threads. Files are written under temporary names and renamed into
//! place at the end; existing files are never overwritten unless forced.
//!
//! [`uptake`] simulates a trial's sign-up feedback for an invitation batch.

#![forbid(unsafe_code)]

mod batch;
pub mod codes;
pub mod date;
pub mod demo;
pub mod demo_run;
pub mod followup;
pub mod messy;
pub mod names;
pub mod nhs;
pub mod output;
pub mod person;
pub mod places;
mod population;
pub mod response;
pub mod returns;
pub mod tables;
pub mod typo;
pub mod uptake;

pub use date::Date;
pub use population::{generate, generate_with_progress, Summary, FILES};

use std::path::{Path, PathBuf};

/// What can go wrong. Messages name files, lines and settings, never a
/// value from the data.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// An output file exists and overwriting was not asked for.
    #[error("{} already exists", path.display())]
    Exists {
        /// The file.
        path: PathBuf,
    },
    /// A setting is out of range.
    #[error("invalid setting {name}: expected {expected}")]
    Config {
        /// The setting.
        name: &'static str,
        /// What it must be.
        expected: String,
    },
    /// A required column is missing from an input file.
    #[error("{}: no column {column}; the header has: {header}", path.display())]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column looked for.
        column: String,
        /// The header's column names.
        header: String,
    },
    /// An input file could not be read as CSV.
    #[error("{}: line {line}: {message}", path.display())]
    Input {
        /// The file.
        path: PathBuf,
        /// 1-based line number (0 if unknown).
        line: u64,
        /// What was wrong (never a value from the data).
        message: String,
    },
}

impl SynthError {
    /// What to do about this error, for the command line.
    pub fn hint(&self) -> &'static str {
        match self {
            SynthError::Exists { .. } => "pass --force to overwrite, or choose another --out directory",
            SynthError::Config { .. } => "see `trialink synth --help` for the ranges",
            SynthError::MissingColumn { .. } => {
                "the batch needs reference, template, given_name, family_name and the channel's contact columns"
            }
            _ => "check the files named above",
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> SynthError {
        SynthError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Parse a share or rate given as text: a number between 0 and 1.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err("expected a number between 0 and 1".into()),
    }
}

/// Parse a date given as text: a real date as YYYY-MM-DD.
pub fn parse_date(s: &str) -> Result<Date, String> {
    Date::parse_iso(s).ok_or_else(|| "expected a real date as YYYY-MM-DD".to_string())
}

/// Registry error rates set one by one, each replacing the (scaled)
/// default of the errors it names.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ErrorOverrides {
    /// Given and family name each mistyped.
    pub typo: Option<f64>,
    /// Given name replaced by a nickname.
    pub nickname: Option<f64>,
    /// Given and family names swapped.
    pub swap_names: Option<f64>,
    /// Given and family name each blank.
    pub name_blank: Option<f64>,
    /// Day and month of birth swapped.
    pub dob_swap: Option<f64>,
    /// Date of birth one day out.
    pub dob_shift: Option<f64>,
    /// Date of birth blank.
    pub dob_blank: Option<f64>,
    /// NHS number missing.
    pub nhs_missing: Option<f64>,
    /// NHS number mistyped.
    pub nhs_mistype: Option<f64>,
    /// Another cohort member's NHS number.
    pub nhs_wrong: Option<f64>,
    /// Moved: a different postcode.
    pub moved: Option<f64>,
    /// Postcode blank.
    pub postcode_blank: Option<f64>,
    /// Sex blank.
    pub sex_blank: Option<f64>,
}

/// Error rates for registry rows, each the probability that one value gets
/// that error. See the crate documentation for how they combine.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorRates {
    /// Given name mistyped.
    pub given_typo: f64,
    /// Given name replaced by a nickname (among names that have one).
    pub nickname: f64,
    /// Given name blank.
    pub given_blank: f64,
    /// Family name mistyped.
    pub family_typo: f64,
    /// Family name blank.
    pub family_blank: f64,
    /// Given and family name swapped.
    pub name_swap: f64,
    /// Day and month of birth swapped (where that gives another real date).
    pub dob_day_month_swap: f64,
    /// Date of birth one day early or late.
    pub dob_off_by_one: f64,
    /// Date of birth blank.
    pub dob_blank: f64,
    /// NHS number missing.
    pub nhs_missing: f64,
    /// NHS number mistyped (fails the check digit).
    pub nhs_mistyped: f64,
    /// NHS number of another cohort member (valid, wrong).
    pub nhs_other_person: f64,
    /// Moved: a different postcode.
    pub postcode_moved: f64,
    /// Postcode blank.
    pub postcode_blank: f64,
    /// Sex blank.
    pub sex_blank: f64,
}

impl Default for ErrorRates {
    fn default() -> Self {
        ErrorRates {
            given_typo: 0.05,
            nickname: 0.10,
            given_blank: 0.01,
            family_typo: 0.05,
            family_blank: 0.01,
            name_swap: 0.02,
            dob_day_month_swap: 0.02,
            dob_off_by_one: 0.02,
            dob_blank: 0.005,
            nhs_missing: 0.10,
            nhs_mistyped: 0.02,
            nhs_other_person: 0.005,
            postcode_moved: 0.10,
            postcode_blank: 0.03,
            sex_blank: 0.01,
        }
    }
}

impl ErrorRates {
    /// These rates with `o`'s set rates in place of theirs.
    pub fn overridden(mut self, o: &ErrorOverrides) -> ErrorRates {
        let pairs = [
            (&mut self.given_typo, o.typo),
            (&mut self.family_typo, o.typo),
            (&mut self.nickname, o.nickname),
            (&mut self.name_swap, o.swap_names),
            (&mut self.given_blank, o.name_blank),
            (&mut self.family_blank, o.name_blank),
            (&mut self.dob_day_month_swap, o.dob_swap),
            (&mut self.dob_off_by_one, o.dob_shift),
            (&mut self.dob_blank, o.dob_blank),
            (&mut self.nhs_missing, o.nhs_missing),
            (&mut self.nhs_mistyped, o.nhs_mistype),
            (&mut self.nhs_other_person, o.nhs_wrong),
            (&mut self.postcode_moved, o.moved),
            (&mut self.postcode_blank, o.postcode_blank),
            (&mut self.sex_blank, o.sex_blank),
        ];
        for (slot, v) in pairs {
            if let Some(v) = v {
                *slot = v;
            }
        }
        self
    }

    /// Every rate multiplied by `factor` (capped at 1).
    pub fn scaled(&self, factor: f64) -> ErrorRates {
        let s = |x: f64| (x * factor).min(1.0);
        ErrorRates {
            given_typo: s(self.given_typo),
            nickname: s(self.nickname),
            given_blank: s(self.given_blank),
            family_typo: s(self.family_typo),
            family_blank: s(self.family_blank),
            name_swap: s(self.name_swap),
            dob_day_month_swap: s(self.dob_day_month_swap),
            dob_off_by_one: s(self.dob_off_by_one),
            dob_blank: s(self.dob_blank),
            nhs_missing: s(self.nhs_missing),
            nhs_mistyped: s(self.nhs_mistyped),
            nhs_other_person: s(self.nhs_other_person),
            postcode_moved: s(self.postcode_moved),
            postcode_blank: s(self.postcode_blank),
            sex_blank: s(self.sex_blank),
        }
    }

    /// `(name, value)` for every rate, for manifests.
    pub fn fields(&self) -> [(&'static str, f64); 15] {
        [
            ("given_typo", self.given_typo),
            ("nickname", self.nickname),
            ("given_blank", self.given_blank),
            ("family_typo", self.family_typo),
            ("family_blank", self.family_blank),
            ("name_swap", self.name_swap),
            ("dob_day_month_swap", self.dob_day_month_swap),
            ("dob_off_by_one", self.dob_off_by_one),
            ("dob_blank", self.dob_blank),
            ("nhs_missing", self.nhs_missing),
            ("nhs_mistyped", self.nhs_mistyped),
            ("nhs_other_person", self.nhs_other_person),
            ("postcode_moved", self.postcode_moved),
            ("postcode_blank", self.postcode_blank),
            ("sex_blank", self.sex_blank),
        ]
    }

    fn validate(&self) -> Result<(), SynthError> {
        for (name, v) in self.fields() {
            if !(0.0..=1.0).contains(&v) {
                return Err(SynthError::Config {
                    name,
                    expected: "a rate between 0 and 1".into(),
                });
            }
        }
        let groups: [(&'static str, f64); 5] = [
            (
                "given_blank + given_typo + nickname",
                self.given_blank + self.given_typo + self.nickname,
            ),
            ("family_blank + family_typo", self.family_blank + self.family_typo),
            (
                "dob_blank + dob_day_month_swap + dob_off_by_one",
                self.dob_blank + self.dob_day_month_swap + self.dob_off_by_one,
            ),
            (
                "nhs_missing + nhs_mistyped + nhs_other_person",
                self.nhs_missing + self.nhs_mistyped + self.nhs_other_person,
            ),
            (
                "postcode_blank + postcode_moved",
                self.postcode_blank + self.postcode_moved,
            ),
        ];
        for (name, sum) in groups {
            if sum > 1.0 + 1e-12 {
                return Err(SynthError::Config {
                    name,
                    expected: "rates of one field summing to at most 1".into(),
                });
            }
        }
        Ok(())
    }
}

/// Everything that shapes a synthetic population.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// People in the cohort.
    pub people: u64,
    /// Seed: same seed and settings, same bytes.
    pub seed: u64,
    /// Date ages are counted at and dates run up to.
    pub as_of: Date,
    /// Youngest age in the cohort (and among outsiders).
    pub min_age: u32,
    /// Share of cohort members who volunteered for the registry.
    pub registry_fraction: f64,
    /// Share of registry rows that are people outside the cohort.
    pub outsider_fraction: f64,
    /// Share of cohort members on the trial's enrolled list.
    pub enrolled_fraction: f64,
    /// Share of cohort members who asked not to be contacted.
    pub objection_fraction: f64,
    /// Share of enrolled/objection rows that are people outside the cohort.
    pub list_outsider_fraction: f64,
    /// Number of QA seed people.
    pub qa_seeds: u32,
    /// Registry error rates.
    pub errors: ErrorRates,
    /// Rate of a mistyped NHS number, and separately of a date of birth one
    /// day out, in enrolled and objection rows.
    pub list_error_rate: f64,
    /// Write objections.csv with NHS numbers and dates of birth in the messy
    /// forms of [`messy`] (Unicode spaces and digits, a leading `'`, other
    /// date forms), chosen at random per row.
    pub messy_objections: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            people: 10_000,
            seed: 42,
            as_of: Date::from_ymd(2026, 1, 1).expect("real date"),
            min_age: 18,
            registry_fraction: 0.10,
            outsider_fraction: 0.20,
            enrolled_fraction: 0.005,
            objection_fraction: 0.005,
            list_outsider_fraction: 0.10,
            qa_seeds: 10,
            errors: ErrorRates::default(),
            list_error_rate: 0.01,
            messy_objections: false,
        }
    }
}

impl Config {
    /// Check every setting is in range.
    pub fn validate(&self) -> Result<(), SynthError> {
        if self.people == 0 || self.people > 50_000_000 {
            return Err(SynthError::Config {
                name: "people",
                expected: "between 1 and 50,000,000".into(),
            });
        }
        if self.min_age > codes::MAX_AGE {
            return Err(SynthError::Config {
                name: "min_age",
                expected: format!("at most {}", codes::MAX_AGE),
            });
        }
        let (y, _, _) = self.as_of.ymd();
        if !(2000..=2100).contains(&y) {
            return Err(SynthError::Config {
                name: "as_of",
                expected: "a date in 2000–2100".into(),
            });
        }
        let rates: [(&'static str, f64); 6] = [
            ("registry_fraction", self.registry_fraction),
            ("enrolled_fraction", self.enrolled_fraction),
            ("objection_fraction", self.objection_fraction),
            ("list_error_rate", self.list_error_rate),
            ("outsider_fraction", self.outsider_fraction),
            ("list_outsider_fraction", self.list_outsider_fraction),
        ];
        for (name, v) in rates {
            if !(0.0..=1.0).contains(&v) {
                return Err(SynthError::Config {
                    name,
                    expected: "a rate between 0 and 1".into(),
                });
            }
        }
        if self.outsider_fraction > 0.9 || self.list_outsider_fraction > 0.9 {
            return Err(SynthError::Config {
                name: "outsider_fraction",
                expected: "at most 0.9 (outsiders are a share of the rows)".into(),
            });
        }
        if self.qa_seeds > 10_000 {
            return Err(SynthError::Config {
                name: "qa_seeds",
                expected: "at most 10,000".into(),
            });
        }
        self.errors.validate()
    }
}
