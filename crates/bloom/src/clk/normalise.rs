//! Values before hashing: formatting integers and text encodings,
//! accent folding, Soundex, the keyed field filters and the transforms
//! blocking parts apply.

use super::*;
use schema::{TextEncoding, Transform};

/// Append `n` in decimal (positional n-gram prefixes).
#[inline]
pub(crate) fn push_decimal(buf: &mut Vec<u8>, mut n: usize) {
    let mut d = [0u8; 20];
    let mut i = d.len();
    loop {
        i -= 1;
        d[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&d[i..]);
}

pub(crate) fn encodable(s: &str, enc: TextEncoding) -> Result<(), &'static str> {
    match enc {
        TextEncoding::Utf8 => Ok(()),
        TextEncoding::Ascii => s.is_ascii().then_some(()).ok_or("ascii"),
        TextEncoding::Latin1 => s.chars().all(|c| (c as u32) < 256).then_some(()).ok_or("latin-1"),
    }
}

pub(crate) fn push_encoded(buf: &mut Vec<u8>, s: &str, enc: TextEncoding) {
    match enc {
        TextEncoding::Utf8 | TextEncoding::Ascii => buf.extend_from_slice(s.as_bytes()),
        TextEncoding::Latin1 => buf.extend(s.chars().map(|c| c as u32 as u8)),
    }
}

/// Python's `str(int(s, 10))` for ASCII input: surrounding whitespace, a
/// sign, digits with single underscores between them.
pub(crate) fn canonical_integer(s: &str) -> Option<(String, i128)> {
    let t = s.trim();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let b = body.as_bytes();
    if b.is_empty() || !b[0].is_ascii_digit() || !b[b.len() - 1].is_ascii_digit() {
        return None;
    }
    let mut digits = String::with_capacity(b.len());
    let mut prev_us = false;
    for &c in b {
        if c == b'_' {
            if prev_us {
                return None;
            }
            prev_us = true;
        } else if c.is_ascii_digit() {
            prev_us = false;
            digits.push(c as char);
        } else {
            return None;
        }
    }
    let stripped = digits.trim_start_matches('0');
    let stripped = if stripped.is_empty() { "0" } else { stripped };
    let value: i128 = stripped.parse().ok()?;
    let value = if neg { -value } else { value };
    let out = if neg && stripped != "0" {
        format!("-{stripped}")
    } else {
        stripped.to_string()
    };
    Some((out, value))
}

/// Fold common Latin letters with diacritics to ASCII (for phonetic codes).
pub(crate) fn fold_ascii(c: char) -> Option<char> {
    let c = c.to_ascii_uppercase();
    if c.is_ascii_alphabetic() {
        return Some(c);
    }
    let base = match c {
        'À'..='Å' | 'à'..='å' | 'Ā' | 'ā' | 'Ą' | 'ą' => 'A',
        'Ç' | 'ç' | 'Ć' | 'ć' | 'Č' | 'č' => 'C',
        'Ď' | 'ď' | 'Đ' | 'đ' | 'Ð' | 'ð' => 'D',
        'È'..='Ë' | 'è'..='ë' | 'Ē' | 'ē' | 'Ę' | 'ę' | 'Ě' | 'ě' => 'E',
        'Ì'..='Ï' | 'ì'..='ï' | 'Ī' | 'ī' => 'I',
        'Ł' | 'ł' => 'L',
        'Ñ' | 'ñ' | 'Ń' | 'ń' | 'Ň' | 'ň' => 'N',
        'Ò'..='Ö' | 'Ø' | 'ò'..='ö' | 'ø' | 'Ō' | 'ō' | 'Ő' | 'ő' => 'O',
        'Ř' | 'ř' => 'R',
        'Ś' | 'ś' | 'Š' | 'š' | 'ß' => 'S',
        'Ť' | 'ť' => 'T',
        'Ù'..='Ü' | 'ù'..='ü' | 'Ū' | 'ū' | 'Ů' | 'ů' | 'Ű' | 'ű' => 'U',
        'Ý' | 'ý' | 'ÿ' | 'Ÿ' => 'Y',
        'Ź' | 'ź' | 'Ż' | 'ż' | 'Ž' | 'ž' => 'Z',
        _ => return None,
    };
    Some(base)
}

/// American Soundex (letters only; accents folded first). Empty when the
/// value has no letters.
pub fn soundex(s: &str) -> String {
    let mut out = String::with_capacity(4);
    soundex_into(s, &mut out);
    out
}

/// [`soundex`], appended to `out`.
pub fn soundex_into(s: &str, out: &mut String) {
    fn code(c: char) -> u8 {
        match c {
            'B' | 'F' | 'P' | 'V' => b'1',
            'C' | 'G' | 'J' | 'K' | 'Q' | 'S' | 'X' | 'Z' => b'2',
            'D' | 'T' => b'3',
            'L' => b'4',
            'M' | 'N' => b'5',
            'R' => b'6',
            'H' | 'W' => b'h',
            _ => b'0', // vowels and Y
        }
    }
    let mut letters = s.chars().filter_map(fold_ascii);
    let Some(first) = letters.next() else {
        return;
    };
    let mut code4 = [b'0'; 4];
    code4[0] = first as u8;
    let mut n = 1;
    let mut last = code(first);
    for c in letters {
        let d = code(c);
        if d == b'h' {
            continue;
        }
        if d != b'0' && d != last {
            code4[n] = d;
            n += 1;
            if n == 4 {
                break;
            }
        }
        last = d;
    }
    out.extend(code4.iter().map(|&b| b as char));
}

/// Bits each bigram sets in a field filter.
pub const FIELD_FILTER_K: usize = 2;

/// A 64-bit keyed Bloom filter of `value`'s bigrams, the value padded with
/// a space at each end: each bigram sets [`FIELD_FILTER_K`] bits, bit `i`
/// taken from byte `i` of `HMAC-SHA256(K_block, "trialink-field-v1" 0 group 0 bigram)`
/// modulo 64 (bit 0 the most significant). Characters, not bytes, form bigrams.
pub fn field_filter(mac: &prefixmac::PrefixMac, value: &str) -> u64 {
    let mut chars: Vec<char> = Vec::with_capacity(value.len() + 2);
    chars.push(' ');
    chars.extend(value.chars());
    chars.push(' ');
    let mut f = 0u64;
    let mut buf = [0u8; 8];
    for w in chars.windows(2) {
        let n = w[0].encode_utf8(&mut buf[..4]).len();
        let m = w[1].encode_utf8(&mut buf[n..]).len();
        let d = mac.mac(&buf[..n + m]);
        for b in &d[..FIELD_FILTER_K] {
            f |= 1u64 << (63 - (b % 64));
        }
    }
    f
}

/// Days since 1970-01-01 of a `YYYYMMDD` date (proleptic Gregorian).
pub(crate) fn day_number(v: &str) -> Option<i64> {
    let y: i64 = v.get(0..4)?.parse().ok()?;
    let m: i64 = v.get(4..6)?.parse().ok()?;
    let d: i64 = v.get(6..8)?.parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    Some(tabular::calendar::days_from_civil(y, m as u32, d as u32))
}

/// Apply a blocking/salt transform to a formatted value.
pub fn apply_transform(t: Transform, v: &str) -> String {
    let mut out = String::new();
    apply_transform_into(t, v, &mut out);
    out
}

/// [`apply_transform`], appended to `out`.
pub fn apply_transform_into(t: Transform, v: &str, out: &mut String) {
    fn upper_no_space(v: &str, out: &mut String) {
        for c in v.chars().filter(|c| !c.is_whitespace()) {
            if c.is_ascii() {
                out.push(c.to_ascii_uppercase());
            } else {
                out.extend(c.to_uppercase());
            }
        }
    }
    match t {
        Transform::Value => out.push_str(v),
        Transform::Upper => upper_no_space(v, out),
        Transform::Year => out.push_str(v.get(0..4).unwrap_or("")),
        Transform::MonthDay => out.push_str(v.get(4..8).unwrap_or("")),
        Transform::YearMonth => out.push_str(v.get(0..6).unwrap_or("")),
        Transform::DayMonthSet => {
            if let (Some(m), Some(d)) = (v.get(4..6), v.get(6..8)) {
                let (a, b) = if m <= d { (m, d) } else { (d, m) };
                out.push_str(a);
                out.push_str(b);
            }
        }
        Transform::Soundex => soundex_into(v, out),
        Transform::Initial => {
            if let Some(c) = v.chars().find_map(fold_ascii) {
                out.push(c);
            }
        }
        Transform::DayPairEven | Transform::DayPairOdd => {
            if let Some(n) = day_number(v) {
                let n = if t == Transform::DayPairOdd { n + 1 } else { n };
                out.push_str(&n.div_euclid(2).to_string());
            }
        }
        Transform::PostcodeSector => {
            let start = out.len();
            upper_no_space(v, out);
            let n = out[start..].chars().count();
            if n >= 5 {
                let cut = out[start..]
                    .char_indices()
                    .nth(n - 2)
                    .map_or(out.len(), |(i, _)| start + i);
                out.truncate(cut);
            }
        }
        Transform::PostcodeDistrict => {
            let start = out.len();
            upper_no_space(v, out);
            let n = out[start..].chars().count();
            if n >= 5 {
                let cut = out[start..]
                    .char_indices()
                    .nth(n - 3)
                    .map_or(out.len(), |(i, _)| start + i);
                out.truncate(cut);
            }
        }
    }
}
