//! Token files read for exchangeable filters (TLBF): the tokens a filter is
//! built from, and the row job that checks a token file against a filter.
//!
//! A row whose token cell is empty is rejected as `missing_token`, one that
//! is not 64 hex digits as `bad_token`, a row of the wrong width as
//! `ragged_row`; every row is accounted for.

use bloom::tlbf::Tlbf;
use pseudonym::Token;
use tabular::cell::Line;
use tabular::{ByteRecord, Rejects, RowJob, RowsOut, RunOutputs, Source, TabularError};

fn token_of(cell: &[u8]) -> Result<Token, &'static str> {
    Token::from_hex_bytes(cell).map_err(|_| {
        if cell.is_empty() {
            "missing_token"
        } else {
            "bad_token"
        }
    })
}

/// The distinct tokens of column `col` (sorted), and the number of rows
/// that held a valid token; other rows go to `rejects`.
pub fn read_tokens(
    src: &mut Source,
    col: usize,
    rejects: &mut Rejects,
) -> Result<(Vec<[u8; 32]>, u64), TabularError> {
    let header = src.header().to_vec();
    let mut tokens = Vec::new();
    let mut rec = ByteRecord::new();
    while src.read(&mut rec)? {
        let line = src.position().line;
        if rec.len() != header.len() {
            rejects.add(line, "", "ragged_row")?;
            continue;
        }
        match token_of(&rec[col]) {
            Ok(t) => tokens.push(t.0),
            Err(code) => rejects.add(line, &header[col], code)?,
        }
    }
    let valid = tokens.len() as u64;
    tokens.sort_unstable();
    tokens.dedup();
    Ok((tokens, valid))
}

/// Writes `token,in_filter` (1 or 0) and the kept columns for every row.
pub struct FilterCheck<'a> {
    pub filter: &'a Tlbf,
    /// The token column.
    pub col: usize,
    /// Columns passed through (neutralised), in order.
    pub keep: Vec<usize>,
    /// The header's width.
    pub width: usize,
}

/// One batch of [`FilterCheck`]: its rows, and how many were in the filter.
#[derive(Default, Debug)]
pub struct CheckOut {
    pub rows: RowsOut,
    pub hits: u64,
}

impl tabular::BatchOut for CheckOut {
    fn clear(&mut self) {
        self.rows.clear();
        self.hits = 0;
    }
}

impl FilterCheck<'_> {
    /// Write the header and a line for every row of `src` to `out` (rejects
    /// by line, column and reason), in input order; returns the rows
    /// written and how many of them were in the filter.
    pub fn run(&self, src: &mut Source, out: &mut RunOutputs) -> Result<(u64, u64), TabularError> {
        let header = src.header().to_vec();
        out.write(&self.header(&header))?;
        let (mut rows_out, mut hits) = (0u64, 0u64);
        tabular::run_ordered(src, self, |done, _| -> Result<(), TabularError> {
            out.write_rows(&done.rows, &header)?;
            rows_out += done.rows.rows_out;
            hits += done.hits;
            Ok(())
        })?;
        Ok((rows_out, hits))
    }

    /// The output's header line.
    pub fn header(&self, input_header: &[String]) -> Vec<u8> {
        let mut names: Vec<&[u8]> = vec![b"token", b"in_filter"];
        names.extend(self.keep.iter().map(|&k| input_header[k].as_bytes()));
        tabular::cell::header_line(&names)
    }
}

impl RowJob for FilterCheck<'_> {
    type Worker = ();
    type Out = CheckOut;
    fn worker(&self) {}
    fn row(&self, _: &mut (), line: u64, rec: &ByteRecord, out: &mut CheckOut) {
        if rec.len() != self.width {
            return out.rows.reject(line, None, "ragged_row");
        }
        let t = match token_of(&rec[self.col]) {
            Ok(t) => t,
            Err(code) => return out.rows.reject(line, Some(self.col), code),
        };
        let inside = self.filter.contains(&t.0);
        out.hits += u64::from(inside);
        let mut l = Line::new(&mut out.rows.bytes);
        l.plain(&t.to_hex()).plain(if inside { b"1" } else { b"0" });
        for &k in &self.keep {
            l.text(&rec[k]);
        }
        l.end();
        out.rows.rows_out += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(text: &str) -> Source {
        Source::from_reader("t", Box::new(std::io::Cursor::new(text.as_bytes().to_vec()))).unwrap()
    }

    #[test]
    fn build_and_check_account_for_every_row() {
        let a = "aa".repeat(32);
        let b = "bb".repeat(32);
        let text = format!("token,ref\n{a},1\n{a},2\n,3\nxyz,4\n{b}\n");
        let mut rejects = Rejects::create(None, tabular::OutputMode::New).unwrap();
        let (tokens, valid) = read_tokens(&mut src(&text), 0, &mut rejects).unwrap();
        assert_eq!((tokens.len(), valid, rejects.total()), (1, 2, 3));
        let filter = Tlbf::build(tokens.iter(), 0.001, [0; 8]).unwrap();
        let job = FilterCheck {
            filter: &filter,
            col: 0,
            keep: vec![1],
            width: 2,
        };
        let mut out = CheckOut::default();
        for (i, row) in [[a.as_str(), "=x"], [b.as_str(), "y"], ["", "z"]]
            .iter()
            .enumerate()
        {
            job.row(&mut (), i as u64 + 2, &ByteRecord::from(row.to_vec()), &mut out);
        }
        assert_eq!(out.hits, 1);
        assert_eq!(out.rows.rows_out, 2);
        assert_eq!(out.rows.rejects[0].reason, "missing_token");
        let text = String::from_utf8(out.rows.bytes).unwrap();
        assert_eq!(text, format!("{a},1,'=x\n{b},0,y\n"));
    }
}
