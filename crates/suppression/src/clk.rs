//! Objections without a usable NHS number: kept as a CLK of
//! given name, family name, date of birth and postcode under the service's
//! CLK secret (docs/formats.md, CLK secret from a key: `HKDF-SHA256(salt = "trialink-v1", ikm = master,
//! info = "clk-secret")`), with the fixed schema
//! `noncontact_clk.schema.json` (clkhash linkage schema v3). At invitation a
//! cohort member whose CLK matches one of them at a deliberately low Dice
//! threshold (default [`DEFAULT_THRESHOLD`]) is not invited: a false match
//! only ever means one person not invited.
//!
//! Values are normalised before encoding, the same way on both sides: names
//! upper-cased with runs of spaces collapsed, postcodes upper-cased without
//! spaces, the date of birth as `YYYY-MM-DD` (blank when unusable).

use bloom::clk::{ClkEncoder, ClkSecret, Scratch};

/// The schema of non-contact CLKs.
pub const SCHEMA_JSON: &str = include_str!("noncontact_clk.schema.json");

/// The default Dice threshold for suppression by CLK.
pub const DEFAULT_THRESHOLD: f64 = 0.75;

/// Encodes non-contact CLKs under the service's CLK secret.
pub struct ClkCoder {
    enc: ClkEncoder,
    scratch: Scratch,
}

impl std::fmt::Debug for ClkCoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClkCoder(<keyed>)")
    }
}

fn name(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ").to_uppercase()
}

impl ClkCoder {
    /// The coder for the service's master key.
    pub fn new(master: &pseudonym::Key) -> ClkCoder {
        let schema = bloom::clk::schema::Schema::from_json(SCHEMA_JSON).expect("built-in schema parses");
        let secret = ClkSecret::from_trialink_key(master.expose_secret());
        ClkCoder {
            enc: ClkEncoder::new(schema, &secret).expect("built-in schema fits HKDF"),
            scratch: Scratch::with_cache(0),
        }
    }

    /// The CLK bytes of a person, or `None` when the family name is blank
    /// or there is neither a date of birth nor a postcode (too little to
    /// match on), or a value cannot be encoded.
    pub fn encode(
        &mut self,
        given: &str,
        family: &str,
        dob_iso: Option<&str>,
        postcode: &str,
    ) -> Option<Vec<u8>> {
        let family = name(family);
        let postcode: String = postcode
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase();
        if family.is_empty() || (dob_iso.is_none() && postcode.is_empty()) {
            return None;
        }
        let given = name(given);
        let rec = [
            given.as_str(),
            family.as_str(),
            dob_iso.unwrap_or(""),
            postcode.as_str(),
        ];
        let words = self.enc.encode_with(&rec, &mut self.scratch).ok()?;
        Some(bloom::clk::to_bytes(&words, self.enc.l()))
    }
}

/// CLKs on the non-contact list, sorted by popcount so that a query scans
/// only those whose popcount allows a Dice at or above the threshold.
#[derive(Debug, Default)]
pub struct ClkList {
    /// `(popcount, words)`, sorted.
    items: Vec<(u32, Vec<u64>)>,
}

fn words(b: &[u8]) -> Vec<u64> {
    b.chunks(8)
        .map(|c| {
            let mut w = [0u8; 8];
            w[..c.len()].copy_from_slice(c);
            u64::from_be_bytes(w)
        })
        .collect()
}

impl ClkList {
    /// A list from stored CLK bytes.
    pub fn new(clks: &[Vec<u8>]) -> ClkList {
        let mut items: Vec<(u32, Vec<u64>)> = clks
            .iter()
            .map(|c| {
                let w = words(c);
                (w.iter().map(|x| x.count_ones()).sum(), w)
            })
            .filter(|(p, _)| *p > 0)
            .collect();
        items.sort();
        ClkList { items }
    }

    /// CLKs held.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no CLK is held.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether `clk` matches any held CLK at Dice ≥ `threshold`.
    pub fn matches(&self, clk: &[u8], threshold: f64) -> bool {
        let q = words(clk);
        let pa: u32 = q.iter().map(|x| x.count_ones()).sum();
        if pa == 0 || self.items.is_empty() {
            return false;
        }
        let t = threshold.clamp(1e-6, 1.0);
        let lo = (pa as f64 * t / (2.0 - t)).floor() as u32;
        let hi = (pa as f64 * (2.0 - t) / t).ceil() as u32;
        let start = self.items.partition_point(|(p, _)| *p < lo);
        self.items[start..]
            .iter()
            .take_while(|(p, _)| *p <= hi)
            .any(|(pb, w)| {
                if w.len() != q.len() {
                    return false;
                }
                let common: u32 = w.iter().zip(&q).map(|(a, b)| (a & b).count_ones()).sum();
                bloom::dice::dice_from_counts(common, pa, *pb) >= threshold
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_match_at_the_low_threshold_and_strangers_do_not() {
        let master = pseudonym::Key::from_bytes([5; 32]);
        let mut c = ClkCoder::new(&master);
        let a = c.encode("Ann", "Smith", Some("1980-01-05"), "B25 0LG").unwrap();
        let list = ClkList::new(std::slice::from_ref(&a));
        assert!(list.matches(&a, DEFAULT_THRESHOLD));
        // case, spacing and a one-day-out DOB still match
        let b = c.encode(" ann ", "SMITH", Some("1980-01-06"), "b250lg").unwrap();
        assert!(list.matches(&b, DEFAULT_THRESHOLD));
        // a typo in the family name and no DOB still match
        let t = c.encode("Ann", "Smyth", None, "B25 0LG").unwrap();
        assert!(list.matches(&t, DEFAULT_THRESHOLD));
        let other = c
            .encode("Bartholomew", "Okonkwo", Some("1951-09-30"), "NE1 4ST")
            .unwrap();
        assert!(!list.matches(&other, DEFAULT_THRESHOLD));
        assert!(c.encode("Ann", "", Some("1980-01-05"), "B25 0LG").is_none());
        assert!(c.encode("Ann", "Smith", None, "").is_none());
        // another key, another CLK
        let mut c2 = ClkCoder::new(&pseudonym::Key::from_bytes([6; 32]));
        let a2 = c2.encode("Ann", "Smith", Some("1980-01-05"), "B25 0LG").unwrap();
        assert!(!list.matches(&a2, DEFAULT_THRESHOLD));
    }
}
