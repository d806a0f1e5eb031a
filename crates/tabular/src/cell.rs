//! Writing CSV cells: the one quoting rule and the one formula-defusing rule
//! for every CSV trialink writes.
//!
//! **Quoting** ([`push_field`]): a field is quoted only when it must be —
//! when it holds a comma, a double quote, CR or LF — with inner quotes
//! doubled; a record whose only field is empty is written `""` so the line is
//! not blank. This is the `csv` crate's `QuoteStyle::Necessary`, byte for
//! byte.
//!
//! **Cell safety** ([`neutralise`], OWASP "CSV injection"): a text cell that
//! a spreadsheet would run as a formula — starting with `=`, `+`, `-`, `@`,
//! tab or carriage return — is prefixed with a single quote. A plain signed
//! number (`-5`, `+1.5`: a sign, digits, at most one `.`, a digit right
//! after the sign) is data and is left alone: spreadsheets read it as a
//! number, not a formula, and prefixing it would turn a count into text.
//! A cell that already starts with quotes before such a character (`'=A1`)
//! gets one more, so that the rule is one-to-one: [`restore`] is its exact
//! inverse for a reader of such files, removing a quote only where
//! [`neutralise`] added one.

use std::borrow::Cow;

fn signed_number(rest: &[u8]) -> bool {
    !rest.is_empty()
        && rest[0].is_ascii_digit()
        && rest.iter().all(|c| c.is_ascii_digit() || *c == b'.')
        && rest.iter().filter(|&&c| c == b'.').count() <= 1
}

/// Whether [`neutralise`] prefixes this cell: it would run as a formula
/// once any leading quotes are taken off.
pub fn needs_prefix(cell: &[u8]) -> bool {
    let start = cell.iter().take_while(|&&c| c == b'\'').count();
    formula(&cell[start..])
}

fn formula(cell: &[u8]) -> bool {
    match cell.first() {
        Some(b'+' | b'-') if signed_number(&cell[1..]) => false,
        Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r') => true,
        _ => false,
    }
}

/// Prefix a cell that a spreadsheet would run as a formula with `'` (see the
/// module documentation for the rule); every other cell is returned as is.
pub fn neutralise(cell: &[u8]) -> Cow<'_, [u8]> {
    if needs_prefix(cell) {
        let mut v = Vec::with_capacity(cell.len() + 1);
        v.push(b'\'');
        v.extend_from_slice(cell);
        Cow::Owned(v)
    } else {
        Cow::Borrowed(cell)
    }
}

/// [`neutralise`] for text.
pub fn neutralise_str(cell: &str) -> Cow<'_, str> {
    if needs_prefix(cell.as_bytes()) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The exact inverse of [`neutralise_str`]: the leading `'` is removed only
/// when the rest is a cell [`neutralise`] prefixes (`'=A1` → `=A1`), so a
/// value that really starts with a quote (`'quoted`) or a prefixed number
/// the rule never writes (`'-5`) is kept as it is. For every text `s`,
/// `restore(&neutralise_str(s)) == s`.
pub fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if needs_prefix(rest.as_bytes()) => rest,
        _ => cell,
    }
}

/// Append one CSV field (no separator), quoted only when it must be.
pub fn push_field(out: &mut Vec<u8>, v: &[u8]) {
    if v.iter().any(|c| matches!(c, b',' | b'"' | b'\n' | b'\r')) {
        out.push(b'"');
        for &c in v {
            if c == b'"' {
                out.push(b'"');
            }
            out.push(c);
        }
        out.push(b'"');
    } else {
        out.extend_from_slice(v);
    }
}

/// One CSV record being appended to a buffer: fields separated by commas,
/// quoted by [`push_field`], ended by `\n`.
pub struct Line<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    fields: usize,
}

impl<'a> Line<'a> {
    /// Start a record at the end of `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        let start = out.len();
        Line {
            out,
            start,
            fields: 0,
        }
    }

    /// Append a field, quoted when it must be.
    pub fn field(&mut self, v: &[u8]) -> &mut Self {
        self.sep();
        push_field(self.out, v);
        self
    }

    /// Append a field known to need no quoting (hex, base64, numbers).
    pub fn plain(&mut self, v: &[u8]) -> &mut Self {
        debug_assert!(!v.iter().any(|c| matches!(c, b',' | b'"' | b'\n' | b'\r')));
        self.sep();
        self.out.extend_from_slice(v);
        self
    }

    /// Append a field that `write` appends to the buffer directly (it must
    /// need no quoting: hex, base64, numbers).
    pub fn plain_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        self.sep();
        write(self.out);
        self
    }

    /// Append a field a person may open: [`neutralise`]d, then quoted.
    pub fn text(&mut self, v: &[u8]) -> &mut Self {
        self.field(&neutralise(v))
    }

    fn sep(&mut self) {
        if self.fields > 0 {
            self.out.push(b',');
        }
        self.fields += 1;
    }

    /// End the record (an empty record is written `""`).
    pub fn end(self) {
        if self.out.len() == self.start {
            self.out.extend_from_slice(b"\"\"");
        }
        self.out.push(b'\n');
    }
}

/// A header line for `names`.
pub fn header_line<S: AsRef<[u8]>>(names: &[S]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut line = Line::new(&mut out);
    for n in names {
        line.field(n.as_ref());
    }
    line.end();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn neutralise_formulae() {
        assert_eq!(&*neutralise(b"=SUM(A1)"), b"'=SUM(A1)");
        assert_eq!(&*neutralise(b"@cmd"), b"'@cmd");
        assert_eq!(&*neutralise(b"+1"), b"+1");
        assert_eq!(&*neutralise(b"-1.5"), b"-1.5");
        assert_eq!(&*neutralise(b"-1+2"), b"'-1+2");
        assert_eq!(&*neutralise(b"+A1"), b"'+A1");
        assert_eq!(&*neutralise(b"-"), b"'-");
        assert_eq!(&*neutralise(b"-.5"), b"'-.5");
        assert_eq!(&*neutralise(b"\tx"), b"'\tx");
        assert_eq!(&*neutralise(b"Smith"), b"Smith");
        assert_eq!(&*neutralise(b""), b"");
    }

    #[test]
    fn restore_only_what_neutralise_added() {
        assert_eq!(restore("'=A1"), "=A1");
        assert_eq!(restore("'-x"), "-x");
        assert_eq!(restore("'-5"), "'-5");
        assert_eq!(restore("'quoted"), "'quoted");
        assert_eq!(restore("''=A1"), "'=A1");
        assert_eq!(&*neutralise(b"'=A1"), b"''=A1");
        assert_eq!(&*neutralise(b"'x"), b"'x");
        assert_eq!(restore("plain"), "plain");
        assert_eq!(restore("'"), "'");
    }

    proptest! {
        #[test]
        fn restore_inverts_neutralise(s in "[=+@\\-'\t\r0-9.a-z]{0,8}") {
            let n = neutralise_str(&s);
            prop_assert_eq!(restore(&n), s.as_str());
        }

        #[test]
        fn lines_match_the_csv_crate(fields in proptest::collection::vec(
            proptest::collection::vec(proptest::sample::select(vec![b'a', b',', b'"', b'\n', b'\r', b' ', b'#']), 0..5),
            1..4,
        )) {
            let mut mine = Vec::new();
            let mut line = Line::new(&mut mine);
            for f in &fields {
                line.field(f);
            }
            line.end();
            let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
            w.write_record(&fields).unwrap();
            prop_assert_eq!(mine, w.into_inner().unwrap());
        }
    }
}
