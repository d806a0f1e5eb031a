//! Normalising what is unambiguous and safe before an identifier is parsed
//!: lists exported from spreadsheets and other systems carry
//! non-breaking and zero-width spaces, full-width or other Unicode decimal
//! digits, Unicode hyphens and a leading `'` (a spreadsheet's text marker).
//! None of these changes which number or date was meant, so they are mapped
//! to their ASCII form; anything else is left for the parser to reject.
//!
//! The result is held in a zeroizing buffer: it is a raw identifier.

use std::borrow::Cow;
use zeroize::Zeroize;

/// The first code point of each run of ten Unicode decimal digits
/// (General_Category = Nd) mapped to `0`–`9`. ASCII is handled separately.
const DIGIT_ZEROS: &[u32] = &[
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66, 0x0DE6,
    0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0,
    0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30,
    0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0,
    0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60, 0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC,
    0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

/// The ASCII digit a Unicode decimal digit stands for.
pub fn unicode_digit(c: char) -> Option<u8> {
    if c.is_ascii_digit() {
        return Some(c as u8);
    }
    let u = c as u32;
    DIGIT_ZEROS
        .iter()
        .find(|&&z| u >= z && u < z + 10)
        .map(|&z| b'0' + (u - z) as u8)
}

/// Zero-width and other invisible format characters that may sit inside a
/// copied number: removed.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}' | '\u{200C}' | '\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{00AD}' | '\u{180E}'
    )
}

/// Hyphens and dashes a number may be grouped with: mapped to `-`.
fn is_hyphen(c: char) -> bool {
    matches!(
        c,
        '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2212}' | '\u{FE63}' | '\u{FF0D}'
    )
}

/// Normalise an identifier cell: Unicode spaces → ASCII space, zero-width
/// characters removed, Unicode decimal digits → ASCII digits, Unicode
/// hyphens → `-`, surrounding spaces trimmed and one leading `'` dropped.
/// Other characters are kept as they are (the parser rejects them). A cell
/// that is not UTF-8 is returned trimmed but otherwise unchanged.
///
/// ASCII input without a leading `'` is borrowed, not copied.
pub fn normalise(input: &[u8]) -> Cow<'_, [u8]> {
    let t = input.trim_ascii();
    if t.is_ascii() {
        return match t.strip_prefix(b"'") {
            Some(rest) => Cow::Borrowed(rest.trim_ascii()),
            None => Cow::Borrowed(t),
        };
    }
    let Ok(s) = std::str::from_utf8(t) else {
        return Cow::Borrowed(t);
    };
    let mut out: Vec<u8> = Vec::with_capacity(t.len());
    for c in s.chars() {
        if let Some(d) = unicode_digit(c) {
            out.push(d);
        } else if is_invisible(c) {
        } else if c.is_whitespace() {
            out.push(b' ');
        } else if is_hyphen(c) {
            out.push(b'-');
        } else {
            let mut b = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
        }
    }
    let trimmed = {
        let t = out.trim_ascii();
        let t = t.strip_prefix(b"'").unwrap_or(t).trim_ascii();
        t.to_vec()
    };
    out.zeroize();
    Cow::Owned(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messy_forms() {
        for (i, want) in [
            ("9434765919", "9434765919"),
            ("'9434765919", "9434765919"),
            (" '943 476 5919 ", "943 476 5919"),
            ("943\u{00A0}476\u{00A0}5919", "943 476 5919"),
            ("943\u{200B}4765919", "9434765919"),
            ("\u{FEFF}9434765919", "9434765919"),
            ("９４３４７６５９１９", "9434765919"),
            ("٩٤٣٤٧٦٥٩١٩", "9434765919"),
            ("۹۴۳۴۷۶۵۹۱۹", "9434765919"),
            ("९४३४७६५९१९", "9434765919"),
            ("943\u{2013}476\u{2212}5919", "943-476-5919"),
            ("\u{3000}9434765919\u{2003}", "9434765919"),
            ("０５.０１.１９８０", "05.01.1980"),
            ("abc", "abc"),
        ] {
            assert_eq!(&*normalise(i.as_bytes()), want.as_bytes(), "{i:?}");
        }
    }

    #[test]
    fn ascii_is_borrowed() {
        assert!(matches!(normalise(b" 123 "), Cow::Borrowed(b"123")));
    }

    #[test]
    fn every_digit_run_is_ten_digits() {
        for &z in DIGIT_ZEROS {
            for k in 0..10 {
                let c = char::from_u32(z + k).expect("code point");
                assert_eq!(unicode_digit(c), Some(b'0' + k as u8), "{z:x}+{k}");
            }
        }
        assert_eq!(unicode_digit('a'), None);
        assert_eq!(
            unicode_digit('\u{00B2}'),
            None,
            "superscript two is not a decimal digit"
        );
    }
}
