//! One synthetic person, drawn from England-like distributions.
//!
//! A person is a pure function of the population's seed and the person's
//! index (each index has its own ChaCha stream), so any file can regenerate
//! any person without holding the population in memory, in any order and on
//! any thread.

use crate::codes::{self, CONDITIONS, ETHNICITIES};
use crate::date::Date;
use crate::names::*;
use crate::places::{Districts, BUILDINGS, INWARD_LETTERS, LOCALITIES, REGIONS, STREET_STEMS, STREET_TYPES};
use crate::tables::{pick_ranked, tables, Weighted};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Recorded sex (NHS Data Dictionary person stated gender code 1/2/9/X).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sex {
    /// 1
    Male,
    /// 2
    Female,
    /// 9, not specified
    Other,
    /// X, not known
    Unknown,
}

impl Sex {
    /// The value written in the `sex` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
            Sex::Other => "other",
            Sex::Unknown => "unknown",
        }
    }
}

/// A postal address: five lines (blank lines last) and a postcode.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Address {
    /// `address_line_1` … `address_line_5`.
    pub lines: [String; 5],
    /// Postcode, `ZZ99 3VZ`/`ZZ99 3WZ`, or blank.
    pub postcode: String,
}

/// A synthetic person as the cohort records them.
#[derive(Clone)]
pub struct Person {
    /// NHS number (10 digits as an integer).
    pub nhs: u64,
    /// Given name.
    pub given: String,
    /// Family name.
    pub family: String,
    /// Date of birth.
    pub dob: Date,
    /// Recorded sex.
    pub sex: Sex,
    /// True ethnic category letter (never `Z`), used to pick names.
    pub true_ethnic: u8,
    /// Recorded ethnic category letter (`Z` when not stated).
    pub ethnic: u8,
    /// Index into [`REGIONS`].
    pub region: u8,
    /// Address (blank when the S-flag is set).
    pub address: Address,
    /// Last three digits of the 07700 900xxx mobile, if recorded.
    pub mobile: Option<u16>,
    /// Email at example.org, if recorded.
    pub email: Option<String>,
    /// GP practice code (letter + 5 digits).
    pub gp_practice: String,
    /// Bit `i` set when the person has `CONDITIONS[i]`.
    pub conditions: u32,
    /// Death recorded.
    pub deceased: bool,
    /// Serving in the armed forces.
    pub armed_forces: bool,
    /// In prison.
    pub prison: bool,
    /// Restricted record: address, phone and email withheld.
    pub s_flag: bool,
    /// Registered a National Data Opt-out.
    pub opt_out: bool,
}

// Identifiers stay out of Debug output, synthetic or not.
impl std::fmt::Debug for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Address(..)")
    }
}

impl std::fmt::Debug for Person {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Person(..)")
    }
}

/// Per-mille / per-100k Bernoulli draws.
pub(crate) fn chance<R: Rng>(rng: &mut R, numerator: u32, denominator: u32) -> bool {
    rng.gen_range(0..denominator) < numerator
}

#[derive(Clone, Copy)]
enum Pool {
    British,
    Irish,
    European,
    Indian,
    Muslim,
    Chinese,
    African,
    Caribbean,
    Other,
}

fn given_list(pool: Pool, female: bool, birth_year: i32) -> &'static [&'static str] {
    match (pool, female) {
        (Pool::British | Pool::Caribbean, f) => match (birth_year, f) {
            (..=1959, false) => BRITISH_MALE_OLD,
            (..=1959, true) => BRITISH_FEMALE_OLD,
            (1960..=1989, false) => BRITISH_MALE_MID,
            (1960..=1989, true) => BRITISH_FEMALE_MID,
            (_, false) => BRITISH_MALE_NEW,
            (_, true) => BRITISH_FEMALE_NEW,
        },
        (Pool::Irish, false) => IRISH_MALE,
        (Pool::Irish, true) => IRISH_FEMALE,
        (Pool::European, false) => EUROPEAN_MALE,
        (Pool::European, true) => EUROPEAN_FEMALE,
        (Pool::Indian, false) => INDIAN_MALE,
        (Pool::Indian, true) => INDIAN_FEMALE,
        (Pool::Muslim, false) => MUSLIM_MALE,
        (Pool::Muslim, true) => MUSLIM_FEMALE,
        (Pool::Chinese, false) => CHINESE_MALE,
        (Pool::Chinese, true) => CHINESE_FEMALE,
        (Pool::African, false) => AFRICAN_MALE,
        (Pool::African, true) => AFRICAN_FEMALE,
        (Pool::Other, false) => OTHER_MALE,
        (Pool::Other, true) => OTHER_FEMALE,
    }
}

fn family_list(pool: Pool) -> &'static [&'static str] {
    match pool {
        Pool::British => BRITISH_FAMILY,
        Pool::Irish => IRISH_FAMILY,
        Pool::European => EUROPEAN_FAMILY,
        Pool::Indian => INDIAN_FAMILY,
        Pool::Muslim => MUSLIM_FAMILY,
        Pool::Chinese => CHINESE_FAMILY,
        Pool::African => AFRICAN_FAMILY,
        Pool::Caribbean => CARIBBEAN_FAMILY,
        Pool::Other => OTHER_FAMILY,
    }
}

/// Name origins by ethnic category: `(given-name pools, family-name pools)`
/// with weights in percent. Mixed categories mix pools.
type Pools = &'static [(Pool, u32)];

fn name_pools(ethnic: u8) -> (Pools, Pools) {
    use Pool::*;
    match ethnic {
        b'A' => (&[(British, 100)], &[(British, 95), (Irish, 5)]),
        b'B' => (&[(British, 50), (Irish, 50)], &[(Irish, 80), (British, 20)]),
        b'C' => (&[(European, 70), (British, 30)], &[(European, 75), (British, 25)]),
        b'D' => (&[(British, 100)], &[(British, 60), (Caribbean, 40)]),
        b'E' => (&[(British, 50), (African, 50)], &[(British, 50), (African, 50)]),
        b'F' => (
            &[(British, 70), (Indian, 30)],
            &[(British, 60), (Indian, 20), (Muslim, 20)],
        ),
        b'G' => (
            &[(British, 70), (European, 30)],
            &[(British, 60), (European, 20), (Other, 20)],
        ),
        b'H' => (&[(Indian, 95), (British, 5)], &[(Indian, 100)]),
        b'J' | b'K' => (&[(Muslim, 100)], &[(Muslim, 100)]),
        b'L' => (
            &[(Indian, 40), (Muslim, 30), (Chinese, 15), (British, 15)],
            &[(Indian, 40), (Muslim, 35), (Chinese, 25)],
        ),
        b'M' => (&[(British, 100)], &[(Caribbean, 70), (British, 30)]),
        b'N' => (&[(African, 85), (British, 15)], &[(African, 100)]),
        b'P' => (&[(British, 50), (African, 50)], &[(Caribbean, 50), (African, 50)]),
        b'R' => (&[(Chinese, 80), (British, 20)], &[(Chinese, 100)]),
        _ => (&[(Other, 85), (British, 15)], &[(Other, 100)]),
    }
}

fn pick_pool<R: Rng>(pools: &[(Pool, u32)], rng: &mut R) -> Pool {
    let mut x = rng.gen_range(0..100);
    for &(p, w) in pools {
        if x < w {
            return p;
        }
        x -= w;
    }
    pools[0].0
}

fn push_number(s: &mut String, n: u32) {
    use std::fmt::Write;
    let _ = write!(s, "{n}");
}

/// Generates people, postcodes and addresses.
pub struct PersonGenerator {
    key: [u8; 32],
    ages: Weighted,
    age_values: Vec<u32>,
    as_of: Date,
    practices: Vec<u32>,
}

impl PersonGenerator {
    /// A generator whose people are drawn under `key`, aged `min_age` or
    /// more on `as_of`.
    pub fn new(key: [u8; 32], min_age: u32, as_of: Date) -> PersonGenerator {
        let w = codes::age_weights(min_age.min(codes::MAX_AGE));
        let england: u32 = REGIONS.iter().map(|r| r.population_k).sum();
        PersonGenerator {
            key,
            ages: Weighted::new(w.iter().map(|x| x.1)),
            age_values: w.iter().map(|x| x.0).collect(),
            as_of,
            // About 6,300 practices in England, shared by population.
            practices: REGIONS
                .iter()
                .map(|r| (r.population_k * 6300 / england).max(1))
                .collect(),
        }
    }

    /// The RNG stream for index `i`.
    pub fn rng(&self, i: u64) -> ChaCha8Rng {
        use rand::SeedableRng;
        let mut rng = ChaCha8Rng::from_seed(self.key);
        rng.set_stream(i);
        rng
    }

    /// Person `i`, with NHS number `nhs`.
    pub fn person(&self, i: u64, nhs: u64) -> Person {
        let mut rng = self.rng(i);
        let t = tables();
        let region = t.regions.sample(&mut rng) as u8;
        let age = self.age_values[self.ages.sample(&mut rng)];
        // Born uniformly within the year of life that gives this age on as_of.
        let hi = self.as_of.years_before(age as i32);
        let lo = self.as_of.years_before(age as i32 + 1).add_days(1);
        let dob = Date::from_days(rng.gen_range(lo.days()..=hi.days()));
        let birth_year = dob.ymd().0;

        let sex_draw = rng.gen_range(0..100_000u32);
        let female = rng.gen_range(0..1000) < codes::female_per_mille(age);
        let sex = if sex_draw < codes::SEX_OTHER_PER_100K {
            Sex::Other
        } else if sex_draw < codes::SEX_OTHER_PER_100K + codes::SEX_UNKNOWN_PER_100K {
            Sex::Unknown
        } else if female {
            Sex::Female
        } else {
            Sex::Male
        };

        let eth = if region == crate::places::LONDON {
            &t.ethnic_london
        } else {
            &t.ethnic_rest
        };
        let true_ethnic = ETHNICITIES[eth.sample(&mut rng)].code;
        let ethnic = if chance(&mut rng, codes::NOT_STATED_PER_MILLE, 1000) {
            b'Z'
        } else {
            true_ethnic
        };

        let (gp, fp) = name_pools(true_ethnic);
        let given =
            pick_ranked(given_list(pick_pool(gp, &mut rng), female, birth_year), &mut rng).to_string();
        let family_pool = pick_pool(fp, &mut rng);
        let mut family = pick_ranked(family_list(family_pool), &mut rng).to_string();
        if matches!(family_pool, Pool::British) {
            // Half of British family names come from the composed long tail,
            // drawn on a side stream (index with the top bit set) so that the
            // main stream, and every other field, is as it was without it.
            let mut side = self.rng(i | 1 << 63);
            if side.gen_bool(0.5) {
                family = pick_ranked(SURNAME_STEMS, &mut side).to_string();
                family.push_str(pick_ranked(SURNAME_ENDINGS, &mut side));
            }
        }
        if matches!(family_pool, Pool::British) && chance(&mut rng, 15, 1000) {
            family.push('-');
            family.push_str(pick_ranked(BRITISH_FAMILY, &mut rng));
        }

        let address = self.address(&mut rng, region);
        let mobile = chance(&mut rng, codes::mobile_per_mille(age), 1000).then(|| rng.gen_range(0..1000u16));
        let email = chance(&mut rng, codes::email_per_mille(age), 1000)
            .then(|| email(&given, &family, birth_year, &mut rng));

        let r = &REGIONS[region as usize];
        let letter = r.gp_letters[rng.gen_range(0..r.gp_letters.len())];
        let k = rng.gen_range(0..self.practices[region as usize]);
        let gp_practice = format!("{}8{}{:03}", letter as char, 1 + k / 999 % 9, k % 999 + 1);

        let group = codes::condition_age_group(age);
        let mut conditions = 0u32;
        for (b, c) in CONDITIONS.iter().enumerate() {
            if chance(&mut rng, c.per_10k[group], 10_000) {
                conditions |= 1 << b;
            }
        }

        let male = sex == Sex::Male;
        let deceased = chance(&mut rng, codes::deceased_per_100k(age), 100_000);
        let armed_forces = chance(&mut rng, codes::armed_forces_per_100k(age, male), 100_000);
        let prison = chance(&mut rng, codes::prison_per_100k(age, male), 100_000);
        let s_flag = chance(&mut rng, codes::S_FLAG_PER_100K, 100_000);
        let opt_out = chance(&mut rng, codes::OPT_OUT_PER_100K, 100_000);

        let mut p = Person {
            nhs,
            given,
            family,
            dob,
            sex,
            true_ethnic,
            ethnic,
            region,
            address,
            mobile,
            email,
            gp_practice,
            conditions,
            deceased,
            armed_forces,
            prison,
            s_flag,
            opt_out,
        };
        if s_flag {
            p.address = Address::default();
            p.mobile = None;
            p.email = None;
        }
        p
    }

    /// A fresh address in `region` (or a pseudo-postcode with no address).
    pub fn address<R: Rng>(&self, rng: &mut R, region: u8) -> Address {
        let special = rng.gen_range(0..100_000u32);
        if special < codes::NO_FIXED_ABODE_PER_100K {
            return Address {
                postcode: "ZZ99 3VZ".into(),
                ..Address::default()
            };
        }
        if special < codes::NO_FIXED_ABODE_PER_100K + codes::ADDRESS_NOT_KNOWN_PER_100K {
            return Address {
                postcode: "ZZ99 3WZ".into(),
                ..Address::default()
            };
        }
        let r = &REGIONS[region as usize];
        let town = &r.towns[tables().towns[region as usize].sample(rng)];
        let mut lines: Vec<String> = Vec::with_capacity(5);
        let street = {
            let mut s = String::with_capacity(24);
            s.push_str(STREET_STEMS[rng.gen_range(0..STREET_STEMS.len())]);
            s.push(' ');
            s.push_str(STREET_TYPES[rng.gen_range(0..STREET_TYPES.len())]);
            s
        };
        let number = 1 + rng.gen_range(0..200u32) * rng.gen_range(1..=100u32) / 100;
        let flat = chance(rng, 12, 100);
        let mut with_locality = chance(rng, 25, 100);
        if flat {
            let mut f = String::from("Flat ");
            push_number(&mut f, rng.gen_range(1..=40));
            lines.push(f);
            if chance(rng, 1, 2) {
                lines.push(BUILDINGS[rng.gen_range(0..BUILDINGS.len())].to_string());
                lines.push(street);
                with_locality = false;
            } else {
                let mut s = String::new();
                push_number(&mut s, number);
                s.push(' ');
                s.push_str(&street);
                lines.push(s);
            }
        } else {
            let mut s = String::new();
            push_number(&mut s, number);
            s.push(' ');
            s.push_str(&street);
            lines.push(s);
        }
        if with_locality {
            lines.push(LOCALITIES[rng.gen_range(0..LOCALITIES.len())].to_string());
        }
        lines.push(town.name.to_string());
        if !town.county.is_empty() && chance(rng, 40, 100) && lines.len() < 5 {
            lines.push(town.county.to_string());
        }
        let mut out = Address::default();
        for (slot, line) in out.lines.iter_mut().zip(lines) {
            *slot = line;
        }
        let mut pc = String::with_capacity(8);
        match town.districts {
            Districts::Range(lo, hi) => {
                pc.push_str(town.area);
                push_number(&mut pc, u32::from(rng.gen_range(lo..=hi)));
            }
            Districts::List(l) => pc.push_str(l[rng.gen_range(0..l.len())]),
        }
        pc.push(' ');
        pc.push((b'0' + rng.gen_range(0..10u8)) as char);
        pc.push(INWARD_LETTERS[rng.gen_range(0..INWARD_LETTERS.len())] as char);
        pc.push(INWARD_LETTERS[rng.gen_range(0..INWARD_LETTERS.len())] as char);
        out.postcode = pc;
        out
    }
}

fn email_part(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn email<R: Rng>(given: &str, family: &str, birth_year: i32, rng: &mut R) -> String {
    let g = email_part(given);
    let f = email_part(family);
    let mut s = String::with_capacity(40);
    match rng.gen_range(0..5) {
        0 => {
            s.push_str(&g);
            s.push('.');
            s.push_str(&f);
        }
        1 => {
            s.push_str(&g);
            s.push('.');
            s.push_str(&f);
            push_number(&mut s, rng.gen_range(1..100));
        }
        2 => {
            s.push(g.chars().next().unwrap_or('x'));
            s.push_str(&f);
            push_number(&mut s, rng.gen_range(1..1000));
        }
        3 => {
            s.push_str(&f);
            s.push('.');
            s.push_str(&g);
        }
        _ => {
            use std::fmt::Write;
            s.push_str(&g);
            let _ = write!(s, "{:02}", birth_year.rem_euclid(100));
        }
    }
    s.push_str("@example.org");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::places::is_postcode_format;

    #[test]
    fn people_are_reproducible_and_well_formed() {
        let as_of = Date::from_ymd(2026, 1, 1).unwrap();
        let g = PersonGenerator::new([7; 32], 18, as_of);
        for i in 0..3000 {
            let p = g.person(i, 9_990_000_000 + i);
            let q = g.person(i, 9_990_000_000 + i);
            assert_eq!(p.given, q.given);
            assert_eq!(p.address, q.address);
            let age = p.dob.years_until(as_of);
            assert!((18..=codes::MAX_AGE as i32).contains(&age), "age {age}");
            assert!(!p.given.is_empty() && !p.family.is_empty());
            if p.s_flag {
                assert!(p.address.postcode.is_empty() && p.mobile.is_none());
            } else {
                assert!(is_postcode_format(&p.address.postcode), "{}", p.address.postcode);
            }
            if let Some(e) = &p.email {
                assert!(e.ends_with("@example.org") && e.len() > "@example.org".len());
            }
            let gp = p.gp_practice.as_bytes();
            assert!(gp.len() == 6 && gp[0].is_ascii_uppercase() && gp[1..].iter().all(u8::is_ascii_digit));
            // Lines are filled from the top.
            let filled = p.address.lines.iter().take_while(|l| !l.is_empty()).count();
            assert!(p.address.lines[filled..].iter().all(String::is_empty));
        }
    }
}
