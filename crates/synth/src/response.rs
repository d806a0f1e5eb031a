//! A demographic response model for simulated uptake: who answers an
//! invitation, and who of those goes on to enrol, by age, sex, ethnic
//! group, region and registry membership.
//!
//! Each factor is an **odds ratio** applied on the logit scale to the arm's
//! response rate (and, for enrolment, to the chance that a responder
//! consents): `logit p = logit base + Σ ln ORᵢ`. A factor missing from the
//! model (or a label it does not list) has odds ratio 1, so a model never
//! changes the overall level by itself more than its factors say.
//!
//! **Defaults.** The directions follow published participation patterns in
//! UK screening programmes and trial recruitment; the sizes are round
//! numbers chosen to give differences of the order reported, not estimates
//! from any one study:
//!
//! * age: response rises through the fifties to a peak in the late sixties
//!   and early seventies and falls in the oldest groups (screening uptake by
//!   age; older invitees are also more often ineligible, so enrolment given
//!   response falls from 75);
//! * sex: men respond less than women, and younger men least of all
//!   (a further odds ratio for men under 60);
//! * ethnic group: lower response among Black, Asian, Mixed and Other
//!   groups than White British invitees, and among people whose ethnicity
//!   is not stated (repeatedly reported for cancer screening and for trial
//!   recruitment, with consent also somewhat lower);
//! * region: lower response in London and the North (more deprived and
//!   more mobile populations; the area-deprivation gradient is one of the
//!   most consistent findings), higher in the South East and South West;
//! * registry volunteers, who have already said they want to take part in
//!   research, respond about three times the odds of others (and consent a
//!   little more often).
//!
//! **Overrides.** [`ResponseModel::from_json`] reads a JSON object whose
//! keys replace the defaults they name: `age` (`{"<first age>": OR, …}`,
//! each band running to the next), `sex`, `young_men`
//! (`{"below_age": 60, "odds": 0.85}`), `ethnic_group`, `region`
//! (`{"<label>": OR}`), `registry` (OR), and `enrolment` (an object with
//! `age`, `ethnic_group` and `registry` for the consent step). A label the
//! file gives replaces that label's default; unknown keys are errors.

use crate::SynthError;
use std::collections::BTreeMap;

/// What the model knows of an invitee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Age in whole years.
    pub age: u32,
    /// `male|female|other|unknown`.
    pub sex: String,
    /// ONS ethnic group (`White`, …, `Not stated`).
    pub ethnic_group: String,
    /// Region name.
    pub region: String,
    /// A research-registry volunteer.
    pub registry: bool,
}

/// Odds ratios by label; missing labels have odds ratio 1.
pub type Odds = BTreeMap<String, f64>;

/// A demographic response model (see the module documentation).
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseModel {
    /// Response odds ratio by the first age of a band (each band runs to
    /// the next listed age).
    pub age: BTreeMap<u32, f64>,
    /// By sex.
    pub sex: Odds,
    /// Men under `young_men.0` years: a further odds ratio `young_men.1`.
    pub young_men: (u32, f64),
    /// By ethnic group.
    pub ethnic_group: Odds,
    /// By region.
    pub region: Odds,
    /// Registry volunteers.
    pub registry: f64,
    /// Consent (given response) odds ratio by the first age of a band.
    pub enrol_age: BTreeMap<u32, f64>,
    /// Consent odds ratio by ethnic group.
    pub enrol_ethnic_group: Odds,
    /// Consent odds ratio of registry volunteers.
    pub enrol_registry: f64,
}

fn odds(pairs: &[(&str, f64)]) -> Odds {
    pairs.iter().map(|&(k, v)| (k.to_string(), v)).collect()
}

impl Default for ResponseModel {
    fn default() -> Self {
        ResponseModel {
            age: [
                (0, 0.6),
                (40, 0.7),
                (50, 0.8),
                (55, 0.9),
                (60, 1.0),
                (65, 1.15),
                (70, 1.15),
                (75, 0.95),
                (80, 0.75),
                (85, 0.55),
            ]
            .into_iter()
            .collect(),
            sex: odds(&[("female", 1.0), ("male", 0.8), ("other", 0.9), ("unknown", 0.9)]),
            young_men: (60, 0.8),
            ethnic_group: odds(&[
                ("White", 1.0),
                ("Mixed", 0.75),
                ("Asian", 0.65),
                ("Black", 0.55),
                ("Other", 0.7),
                ("Not stated", 0.75),
            ]),
            region: odds(&[
                ("North East", 0.85),
                ("North West", 0.85),
                ("Yorkshire and The Humber", 0.9),
                ("East Midlands", 0.95),
                ("West Midlands", 0.9),
                ("East of England", 1.05),
                ("London", 0.75),
                ("South East", 1.1),
                ("South West", 1.1),
            ]),
            registry: 3.0,
            enrol_age: [(0, 1.0), (75, 0.75), (80, 0.6)].into_iter().collect(),
            enrol_ethnic_group: odds(&[("Mixed", 0.9), ("Asian", 0.85), ("Black", 0.85), ("Other", 0.9)]),
            enrol_registry: 1.3,
        }
    }
}

fn logit_shift(p: f64, log_odds: f64) -> f64 {
    if p <= 0.0 || p >= 1.0 {
        return p.clamp(0.0, 1.0);
    }
    let z = (p / (1.0 - p)).ln() + log_odds;
    1.0 / (1.0 + (-z).exp())
}

fn banded(bands: &BTreeMap<u32, f64>, age: u32) -> f64 {
    bands.range(..=age).next_back().map_or(1.0, |(_, &v)| v)
}

fn label(o: &Odds, k: &str) -> f64 {
    o.get(k).copied().unwrap_or(1.0)
}

impl ResponseModel {
    /// The response odds ratio of a profile.
    pub fn response_odds(&self, p: &Profile) -> f64 {
        let young_man = p.sex == "male" && p.age < self.young_men.0;
        banded(&self.age, p.age)
            * label(&self.sex, &p.sex)
            * if young_man { self.young_men.1 } else { 1.0 }
            * label(&self.ethnic_group, &p.ethnic_group)
            * label(&self.region, &p.region)
            * if p.registry { self.registry } else { 1.0 }
    }

    /// The chance that this person responds when the arm's rate is `base`.
    pub fn response(&self, base: f64, p: &Profile) -> f64 {
        logit_shift(base, self.response_odds(p).ln())
    }

    /// The chance that a responder consents when the base chance is `base`.
    pub fn consent(&self, base: f64, p: &Profile) -> f64 {
        let or = banded(&self.enrol_age, p.age)
            * label(&self.enrol_ethnic_group, &p.ethnic_group)
            * if p.registry { self.enrol_registry } else { 1.0 };
        logit_shift(base, or.ln())
    }

    /// The defaults with the overrides of a JSON object (see the module
    /// documentation); `path` names the file in errors.
    pub fn from_json(text: &str, path: &std::path::Path) -> Result<ResponseModel, SynthError> {
        let bad = |key: &str, expected: &str| SynthError::Input {
            path: path.to_path_buf(),
            line: 0,
            message: format!("`{key}`: expected {expected}"),
        };
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| SynthError::Input {
            path: path.to_path_buf(),
            line: e.line() as u64,
            message: format!("column {}: not a valid JSON response model", e.column()),
        })?;
        let obj = v.as_object().ok_or_else(|| bad("(top level)", "a JSON object"))?;
        let mut m = ResponseModel::default();
        for (k, val) in obj {
            match k.as_str() {
                "age" => merge_bands(&mut m.age, val).map_err(|e| bad("age", e))?,
                "sex" => merge_odds(&mut m.sex, val).map_err(|e| bad("sex", e))?,
                "ethnic_group" => merge_odds(&mut m.ethnic_group, val).map_err(|e| bad("ethnic_group", e))?,
                "region" => merge_odds(&mut m.region, val).map_err(|e| bad("region", e))?,
                "registry" => m.registry = positive(val).map_err(|e| bad("registry", e))?,
                "young_men" => m.young_men = young_men(val, m.young_men).map_err(|e| bad("young_men", e))?,
                "enrolment" => {
                    enrolment(&mut m, val).map_err(|(key, e)| bad(&format!("enrolment.{key}"), e))?
                }
                other => {
                    return Err(bad(
                        other,
                        "one of age, sex, young_men, ethnic_group, region, registry, enrolment",
                    ))
                }
            }
        }
        Ok(m)
    }

    /// `default` (the documented defaults) or a JSON file of overrides,
    /// read with the size cap of a request file.
    pub fn load(spec: &str) -> Result<ResponseModel, SynthError> {
        if spec == "default" {
            return Ok(ResponseModel::default());
        }
        let path = std::path::Path::new(spec);
        let text = tabular::limited::read_to_string(path, tabular::limited::REQUEST).map_err(|e| {
            SynthError::Io {
                path: path.to_path_buf(),
                source: e,
            }
        })?;
        ResponseModel::from_json(&text, path)
    }

    /// The model as JSON (for the truth file), in the override format.
    pub fn to_json(&self) -> serde_json::Value {
        let bands = |b: &BTreeMap<u32, f64>| -> serde_json::Map<String, serde_json::Value> {
            b.iter().map(|(k, v)| (k.to_string(), (*v).into())).collect()
        };
        serde_json::json!({
            "age": bands(&self.age),
            "sex": self.sex,
            "young_men": {"below_age": self.young_men.0, "odds": self.young_men.1},
            "ethnic_group": self.ethnic_group,
            "region": self.region,
            "registry": self.registry,
            "enrolment": {
                "age": bands(&self.enrol_age),
                "ethnic_group": self.enrol_ethnic_group,
                "registry": self.enrol_registry,
            },
        })
    }
}

const ODDS: &str = "a positive, finite odds ratio";

fn positive(v: &serde_json::Value) -> Result<f64, &'static str> {
    v.as_f64().filter(|x| x.is_finite() && *x > 0.0).ok_or(ODDS)
}

fn merge_odds(o: &mut Odds, v: &serde_json::Value) -> Result<(), &'static str> {
    let obj = v.as_object().ok_or("an object of label: odds ratio")?;
    for (k, x) in obj {
        o.insert(k.clone(), positive(x)?);
    }
    Ok(())
}

fn merge_bands(b: &mut BTreeMap<u32, f64>, v: &serde_json::Value) -> Result<(), &'static str> {
    let obj = v.as_object().ok_or("an object of first age: odds ratio")?;
    for (k, x) in obj {
        let age: u32 = k.parse().map_err(|_| "ages (whole years) as keys")?;
        b.insert(age, positive(x)?);
    }
    Ok(())
}

fn young_men(v: &serde_json::Value, mut cur: (u32, f64)) -> Result<(u32, f64), &'static str> {
    const WANT: &str = "{\"below_age\": years, \"odds\": odds ratio}";
    let obj = v.as_object().ok_or(WANT)?;
    for (k, x) in obj {
        match k.as_str() {
            "below_age" => cur.0 = x.as_u64().and_then(|a| u32::try_from(a).ok()).ok_or(WANT)?,
            "odds" => cur.1 = positive(x)?,
            _ => return Err(WANT),
        }
    }
    Ok(cur)
}

fn enrolment(m: &mut ResponseModel, v: &serde_json::Value) -> Result<(), (String, &'static str)> {
    let obj = v.as_object().ok_or((
        "(object)".to_string(),
        "an object with age, ethnic_group, registry",
    ))?;
    for (k, x) in obj {
        let r = match k.as_str() {
            "age" => merge_bands(&mut m.enrol_age, x),
            "ethnic_group" => merge_odds(&mut m.enrol_ethnic_group, x),
            "registry" => positive(x).map(|r| m.enrol_registry = r),
            _ => Err("one of age, ethnic_group, registry"),
        };
        r.map_err(|e| (k.clone(), e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn who(age: u32, sex: &str, eth: &str, region: &str, registry: bool) -> Profile {
        Profile {
            age,
            sex: sex.into(),
            ethnic_group: eth.into(),
            region: region.into(),
            registry,
        }
    }

    #[test]
    fn defaults_follow_the_documented_directions() {
        let m = ResponseModel::default();
        let base = who(67, "female", "White", "South East", false);
        let r = |p: &Profile| m.response(0.1, p);
        let b = r(&base);
        assert!(
            r(&who(52, "male", "White", "South East", false))
                < r(&who(52, "female", "White", "South East", false))
        );
        assert!(
            r(&who(52, "male", "White", "South East", false))
                < r(&who(62, "male", "White", "South East", false))
        );
        for g in ["Mixed", "Asian", "Black", "Other", "Not stated"] {
            assert!(r(&who(67, "female", g, "South East", false)) < b, "{g}");
        }
        assert!(r(&who(67, "female", "White", "London", false)) < b);
        assert!(r(&who(88, "female", "White", "South East", false)) < b);
        let reg = r(&who(67, "female", "White", "South East", true));
        assert!(reg > 2.0 * b && reg < 1.0);
        // unknown labels are neutral; the base rate's extremes stay put
        assert_eq!(
            m.response_odds(&who(60, "female", "White", "Atlantis", false)),
            1.0
        );
        assert_eq!(m.response(0.0, &base), 0.0);
        assert_eq!(m.response(1.0, &base), 1.0);
        assert!(m.consent(0.6, &who(82, "female", "White", "", false)) < m.consent(0.6, &base));
    }

    #[test]
    fn overrides_replace_what_they_name() {
        let p = Path::new("model.json");
        let m = ResponseModel::from_json(
            r#"{"registry": 1.5, "sex": {"male": 0.5}, "age": {"90": 0.1}, "young_men": {"below_age": 50},
                "enrolment": {"registry": 2}}"#,
            p,
        )
        .unwrap();
        assert_eq!(m.registry, 1.5);
        assert_eq!(m.sex["male"], 0.5);
        assert_eq!(m.sex["female"], 1.0);
        assert_eq!(m.age[&90], 0.1);
        assert_eq!(m.age[&60], 1.0);
        assert_eq!(m.young_men, (50, 0.8));
        assert_eq!(m.enrol_registry, 2.0);
        let round = ResponseModel::from_json(&m.to_json().to_string(), p).unwrap();
        assert_eq!(round, m);
        assert_eq!(ResponseModel::load("default").unwrap(), ResponseModel::default());
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("m.json");
        std::fs::write(&f, r#"{"registry": 2.5}"#).unwrap();
        assert_eq!(ResponseModel::load(f.to_str().unwrap()).unwrap().registry, 2.5);
        assert!(ResponseModel::load(d.path().join("none.json").to_str().unwrap()).is_err());
        for (text, needle) in [
            (r#"{"registry": 0}"#, "`registry`"),
            (r#"{"sex": {"male": "x"}}"#, "`sex`"),
            (r#"{"age": {"fifty": 1}}"#, "`age`"),
            (r#"{"shoe_size": 1}"#, "`shoe_size`"),
            (r#"{"enrolment": {"sex": {}}}"#, "`enrolment.sex`"),
            (r#"[1]"#, "object"),
            (r#"{"#, "JSON"),
        ] {
            let e = ResponseModel::from_json(text, p).unwrap_err().to_string();
            assert!(e.contains(needle) && e.contains("model.json"), "{text}: {e}");
        }
    }
}
