//! Generating synthetic NHS numbers (the generator side; parsing lives in
//! `pseudonym`).
//!
//! Numbers come from the 999 000 0000–999 999 9999 test block, which holds
//! 909,090 usable numbers (909,091 pass Modulus 11, less the placeholder
//! 999 999 9999). Populations that need more numbers continue in the
//! "never issued" blocks 998 000 000n, 997 000 000n, … down to 900 000 000n
//! (test-only ranges); any population that fits in the test block stays in it.

use rand::seq::SliceRandom;
use rand::Rng;

/// First number of the 999 test block.
pub const TEST_BLOCK_FIRST: u64 = 9_990_000_000;
/// Last number of the 999 test block.
pub const TEST_BLOCK_LAST: u64 = 9_999_999_999;
/// First number of the wider never-issued range used beyond the test block.
pub const WIDE_RANGE_FIRST: u64 = 9_000_000_000;

const WEIGHTS: [u32; 9] = [10, 9, 8, 7, 6, 5, 4, 3, 2];

/// The Modulus 11 check digit of a 9-digit body, or `None` where the check
/// comes out as 10 (no valid number has that body).
pub fn check_digit(body: u32) -> Option<u8> {
    debug_assert!(body < 1_000_000_000);
    let mut sum = 0u32;
    let mut b = body;
    for w in WEIGHTS.iter().rev() {
        sum += (b % 10) * w;
        b /= 10;
    }
    match 11 - sum % 11 {
        11 => Some(0),
        10 => None,
        c => Some(c as u8),
    }
}

/// Whether a 10-digit number (as an integer) is one of the repeated-digit
/// placeholders (`0000000000` … `9999999999`).
pub fn is_repeated_digit(n: u64) -> bool {
    (n % 10) * 1_111_111_111 == n
}

/// Whether the 10-character ASCII string is a valid NHS number: ten digits,
/// Modulus 11 check holds, not a repeated-digit placeholder.
pub fn is_valid(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let mut body = 0u32;
    for &c in &b[..9] {
        body = body * 10 + u32::from(c - b'0');
    }
    let n = u64::from(body) * 10 + u64::from(b[9] - b'0');
    check_digit(body) == Some(b[9] - b'0') && !is_repeated_digit(n)
}

/// The full number for `body`, if its check digit exists and it is no placeholder.
pub fn from_body(body: u32) -> Option<u64> {
    let c = check_digit(body)?;
    let n = u64::from(body) * 10 + u64::from(c);
    (!is_repeated_digit(n)).then_some(n)
}

/// Append the 10 digits of `n` to `out`.
pub fn write_digits(n: u64, out: &mut Vec<u8>) {
    let mut buf = [b'0'; 10];
    let mut v = n;
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.extend_from_slice(&buf);
}

/// The 10 digits of `n` as a `String`.
pub fn digits(n: u64) -> String {
    let mut v = Vec::with_capacity(10);
    write_digits(n, &mut v);
    String::from_utf8(v).expect("ASCII digits")
}

/// Valid numbers in block `k` below the test block (`0` = the 999 block).
#[cfg(test)]
fn block_count(k: u32) -> usize {
    let first = (999 - k) * 1_000_000;
    (first..first + 1_000_000)
        .filter(|&b| from_body(b).is_some())
        .count()
}

/// A shuffled pool of distinct valid numbers, one per synthetic person.
#[derive(Clone)]
pub struct NhsPool {
    numbers: Vec<u64>,
}

impl NhsPool {
    /// `count` distinct valid numbers in a random order drawn from `rng`:
    /// the whole 999 block when it suffices, then as many further blocks as
    /// needed. `None` if `count` exceeds what the 999–900 range holds.
    pub fn new<R: Rng>(count: usize, rng: &mut R) -> Option<NhsPool> {
        let mut numbers = Vec::with_capacity(count.max(909_090));
        let mut block = 0u32;
        while numbers.len() < count || block == 0 {
            if block >= 100 {
                return None;
            }
            let first = (999 - block) * 1_000_000;
            let start = numbers.len();
            numbers.extend((first..first + 1_000_000).filter_map(from_body));
            // Shuffle each block on its own so that the 999 block is used
            // up before any number from a wider block is handed out.
            numbers[start..].shuffle(rng);
            block += 1;
        }
        numbers.truncate(count);
        Some(NhsPool { numbers })
    }

    /// The number of person `i`.
    pub fn get(&self, i: usize) -> u64 {
        self.numbers[i]
    }

    /// How many numbers the pool holds.
    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }
}

/// A mistyped copy of valid number `n`: one digit replaced, or two adjacent
/// different digits transposed, among digits 4–10 (so the `999` prefix
/// stays). Modulus 11 catches every such error, so the result always fails
/// the check; returned with whether it was a transposition.
pub fn mistype<R: Rng>(n: u64, rng: &mut R) -> (String, bool) {
    let mut d = digits(n).into_bytes();
    let transposable: Vec<usize> = (3..9).filter(|&p| d[p] != d[p + 1]).collect();
    let transposed = !transposable.is_empty() && rng.gen_bool(0.3);
    if transposed {
        let p = transposable[rng.gen_range(0..transposable.len())];
        d.swap(p, p + 1);
    } else {
        let p = rng.gen_range(3..10);
        let old = d[p] - b'0';
        let new = (old + rng.gen_range(1..10)) % 10;
        d[p] = b'0' + new;
    }
    (String::from_utf8(d).expect("ASCII digits"), transposed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn known_numbers() {
        // 943 476 5919 is the Data Dictionary's worked example.
        assert!(is_valid("9434765919"));
        assert!(!is_valid("9434765918"));
        assert_eq!(check_digit(943_476_591), Some(9));
        // Placeholders pass Modulus 11 but are not valid.
        assert!(!is_valid("9999999999"));
        assert!(!is_valid("0000000000"));
        assert!(is_repeated_digit(9_999_999_999));
        assert!(!is_repeated_digit(9_999_999_990));
        assert!(!is_valid("999000000"));
        assert!(!is_valid("99900000a0"));
    }

    #[test]
    fn test_block_holds_909_090_usable_numbers() {
        assert_eq!(block_count(0), 909_090);
    }

    #[test]
    fn pool_is_distinct_and_prefers_the_test_block() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let pool = NhsPool::new(909_090, &mut rng).unwrap();
        let mut v: Vec<u64> = (0..pool.len()).map(|i| pool.get(i)).collect();
        assert!(v
            .iter()
            .all(|&n| (TEST_BLOCK_FIRST..=TEST_BLOCK_LAST).contains(&n)));
        v.sort_unstable();
        v.dedup();
        assert_eq!(v.len(), 909_090);

        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let pool = NhsPool::new(1_000_000, &mut rng).unwrap();
        let in_test = (0..pool.len())
            .filter(|&i| pool.get(i) >= TEST_BLOCK_FIRST)
            .count();
        assert_eq!(in_test, 909_090);
        assert!((0..pool.len()).all(|i| is_valid(&digits(pool.get(i)))));
    }

    proptest! {
        #[test]
        fn generated_numbers_pass_the_check(body in 999_000_000u32..1_000_000_000) {
            if let Some(n) = from_body(body) {
                prop_assert!(is_valid(&digits(n)));
                prop_assert_eq!(n / 10, u64::from(body));
            } else {
                // Either the check digit would be 10 or it is the placeholder.
                prop_assert!(check_digit(body).is_none() || body == 999_999_999);
            }
        }

        #[test]
        fn every_mistype_fails_the_check(body in 999_000_000u32..999_999_999, seed: u64) {
            if let Some(n) = from_body(body) {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let (typo, _) = mistype(n, &mut rng);
                prop_assert_eq!(typo.len(), 10);
                prop_assert!(typo.starts_with("999"));
                prop_assert_ne!(&typo, &digits(n));
                prop_assert!(!is_valid(&typo));
            }
        }
    }
}
