//! Typing errors of the kinds FEBRL models: substitution, deletion,
//! insertion, transposition of neighbours, and a keyboard-near substitution
//! (a QWERTY neighbour key). Each function always changes a non-empty
//! string, by exactly one edit (Damerau–Levenshtein distance 1).

use rand::Rng;

/// Which typing error was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TypoKind {
    /// One letter replaced by another letter.
    Substitution,
    /// One character removed.
    Deletion,
    /// One letter inserted.
    Insertion,
    /// Two neighbouring, different characters swapped.
    Transposition,
    /// One letter replaced by a neighbouring key on a QWERTY keyboard.
    KeyboardNear,
}

impl TypoKind {
    /// All kinds, with the relative weights [`typo`] draws them by.
    pub const WEIGHTED: [(TypoKind, u32); 5] = [
        (TypoKind::Substitution, 25),
        (TypoKind::Deletion, 20),
        (TypoKind::Insertion, 20),
        (TypoKind::Transposition, 15),
        (TypoKind::KeyboardNear, 20),
    ];

    /// The label used in `truth.csv` (after `typo_`).
    pub fn label(self) -> &'static str {
        match self {
            TypoKind::Substitution => "substitution",
            TypoKind::Deletion => "deletion",
            TypoKind::Insertion => "insertion",
            TypoKind::Transposition => "transposition",
            TypoKind::KeyboardNear => "keyboard",
        }
    }
}

/// QWERTY neighbours of a lowercase ASCII letter.
pub fn keyboard_neighbours(c: u8) -> &'static [u8] {
    match c {
        b'q' => b"wa",
        b'w' => b"qase",
        b'e' => b"wsdr",
        b'r' => b"edft",
        b't' => b"rfgy",
        b'y' => b"tghu",
        b'u' => b"yhji",
        b'i' => b"ujko",
        b'o' => b"iklp",
        b'p' => b"ol",
        b'a' => b"qwsz",
        b's' => b"awedxz",
        b'd' => b"serfcx",
        b'f' => b"drtgvc",
        b'g' => b"ftyhbv",
        b'h' => b"gyujnb",
        b'j' => b"huikmn",
        b'k' => b"jiolm",
        b'l' => b"kop",
        b'z' => b"asx",
        b'x' => b"zsdc",
        b'c' => b"xdfv",
        b'v' => b"cfgb",
        b'b' => b"vghn",
        b'n' => b"bhjm",
        b'm' => b"njk",
        _ => b"",
    }
}

fn with_case_of(template: char, lower: u8) -> char {
    let c = lower as char;
    if template.is_uppercase() {
        c.to_ascii_uppercase()
    } else {
        c
    }
}

fn random_letter_other_than<R: Rng>(rng: &mut R, old: char) -> u8 {
    let old = old.to_ascii_lowercase();
    loop {
        let c = b'a' + rng.gen_range(0..26u8);
        if c as char != old {
            return c;
        }
    }
}

/// A typing error of a kind drawn by [`TypoKind::WEIGHTED`].
pub fn typo<R: Rng>(s: &str, rng: &mut R) -> (String, TypoKind) {
    let total: u32 = TypoKind::WEIGHTED.iter().map(|w| w.1).sum();
    let mut x = rng.gen_range(0..total);
    let mut kind = TypoKind::Substitution;
    for (k, w) in TypoKind::WEIGHTED {
        if x < w {
            kind = k;
            break;
        }
        x -= w;
    }
    typo_of_kind(s, kind, rng)
}

/// A typing error of `kind` where the string allows it; otherwise the
/// nearest kind that does (a one-letter name cannot lose a letter, so it
/// gains one). Returns the new string and the kind actually applied.
pub fn typo_of_kind<R: Rng>(s: &str, kind: TypoKind, rng: &mut R) -> (String, TypoKind) {
    let mut c: Vec<char> = s.chars().collect();
    let letters: Vec<usize> = (0..c.len()).filter(|&i| c[i].is_ascii_alphabetic()).collect();
    match kind {
        TypoKind::Substitution | TypoKind::KeyboardNear if !letters.is_empty() => {
            let p = letters[rng.gen_range(0..letters.len())];
            let old = c[p];
            let new = if kind == TypoKind::KeyboardNear {
                let n = keyboard_neighbours(old.to_ascii_lowercase() as u8);
                n[rng.gen_range(0..n.len())]
            } else {
                random_letter_other_than(rng, old)
            };
            c[p] = with_case_of(old, new);
            (c.into_iter().collect(), kind)
        }
        TypoKind::Deletion if c.len() >= 2 => {
            let p = rng.gen_range(0..c.len());
            c.remove(p);
            (c.into_iter().collect(), kind)
        }
        TypoKind::Transposition => {
            let pairs: Vec<usize> = (1..c.len().saturating_sub(1))
                .filter(|&p| c[p] != c[p + 1])
                .collect();
            if pairs.is_empty() {
                return typo_of_kind(s, TypoKind::Substitution, rng);
            }
            let p = pairs[rng.gen_range(0..pairs.len())];
            c.swap(p, p + 1);
            (c.into_iter().collect(), kind)
        }
        _ => {
            // Insertion, and the fallback for strings too short or without
            // letters for the kind asked for.
            let p = if c.is_empty() {
                0
            } else {
                rng.gen_range(1..=c.len())
            };
            let letter = b'a' + rng.gen_range(0..26u8);
            let ch = if p == 0 {
                letter.to_ascii_uppercase() as char
            } else {
                letter as char
            };
            c.insert(p, ch);
            (c.into_iter().collect(), TypoKind::Insertion)
        }
    }
}

/// Optimal-string-alignment distance (Damerau–Levenshtein with adjacent
/// transpositions), used to classify observed errors.
pub fn osa_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1).min(d[i][j - 1] + 1).min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn neighbours_cover_the_alphabet_and_exclude_the_key() {
        for c in b'a'..=b'z' {
            let n = keyboard_neighbours(c);
            assert!(!n.is_empty(), "{}", c as char);
            assert!(!n.contains(&c));
        }
        assert_eq!(osa_distance("Smith", "Smtih"), 1);
        assert_eq!(osa_distance("Smith", "Smith"), 0);
        assert_eq!(osa_distance("Smith", "Smyth"), 1);
        assert_eq!(osa_distance("Smith", "Smit"), 1);
        assert_eq!(osa_distance("Smith", "Jones"), 5);
    }

    #[test]
    fn fallbacks() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(
            typo_of_kind("A", TypoKind::Deletion, &mut rng).1,
            TypoKind::Insertion
        );
        assert_eq!(
            typo_of_kind("Aa", TypoKind::Transposition, &mut rng).1,
            TypoKind::Substitution
        );
        assert_eq!(
            typo_of_kind("", TypoKind::Substitution, &mut rng).1,
            TypoKind::Insertion
        );
        assert_eq!(
            typo_of_kind("--", TypoKind::KeyboardNear, &mut rng).1,
            TypoKind::Insertion
        );
    }

    proptest! {
        #[test]
        fn every_typo_changes_the_string_by_one_edit(s in "[A-Z][a-z'-]{0,14}", seed: u64, k in 0usize..5) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let kind = TypoKind::WEIGHTED[k].0;
            let (t, applied) = typo_of_kind(&s, kind, &mut rng);
            prop_assert_ne!(&t, &s);
            prop_assert_eq!(osa_distance(&s, &t), 1);
            if applied == TypoKind::KeyboardNear {
                let (a, b) = s.chars().zip(t.chars()).find(|(a, b)| a != b).unwrap();
                prop_assert!(keyboard_neighbours(a.to_ascii_lowercase() as u8).contains(&(b.to_ascii_lowercase() as u8)));
            }
            let (t2, _) = typo(&s, &mut rng);
            prop_assert_ne!(&t2, &s);
            prop_assert_eq!(osa_distance(&s, &t2), 1);
        }

        #[test]
        fn typos_of_any_unicode_change_the_string(s in "\\PC{1,12}", seed: u64) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let (t, _) = typo(&s, &mut rng);
            prop_assert_ne!(t, s);
        }
    }
}
