//! The `pseudonymise` row job: a CSV row's NHS number and date of birth
//! become `token` (and `nhs_token` if asked), optionally beside cells
//! computed from the same row (a CLK), then the kept columns.
//!
//! Runs inside [`tabular::run_ordered`]. Every row is accounted for: written,
//! written with a blank token (`--allow-blank` rows whose NHS number and DOB
//! are both blank, counted), written with cells but no token (the extra
//! cells were computed but the identifiers were unusable, counted by
//! reason), or rejected by line, column and reason.

use crate::row::{Pseudonymiser, RowField};
use std::collections::BTreeMap;
use tabular::cell::Line;
use tabular::{
    BatchOut, ByteRecord, Committed, Manifest, OutputPlan, RowCells, RowJob, RowsOut, RunOutputs, Source,
    TabularError,
};

/// Where the job finds its columns.
#[derive(Debug, Clone)]
pub struct TokenColumns {
    pub nhs: usize,
    pub dob: usize,
    /// Columns passed through (neutralised), in order.
    pub keep: Vec<usize>,
    /// The header's width: other rows are rejected as `ragged_row`.
    pub width: usize,
    /// Write rows whose NHS number and DOB are both blank with an empty token.
    pub allow_blank: bool,
}

/// One batch's output.
#[derive(Default, Debug)]
pub struct TokenOut {
    pub rows: RowsOut,
    /// Rows written with the extra cells but no token: why the token failed.
    pub cells_only: Vec<&'static str>,
    /// Rows written with a blank token (`allow_blank`).
    pub blank_rows: u64,
}

impl BatchOut for TokenOut {
    fn clear(&mut self) {
        self.rows.clear();
        self.cells_only.clear();
        self.blank_rows = 0;
    }
}

/// Tokens for each row, with optional extra cells `C` (computed first: a
/// row without a usable NHS number may still link by them).
///
/// Reads a CSV with an NHS number and a date of birth column and writes a
/// token file: `token` (HMAC-SHA256 of NHS number + DOB under the key), then
/// `nhs_token` if asked, then the `--keep` columns. Rows with an invalid NHS
/// number or date are rejected by line and reason in `<output>.rejects.csv`;
/// `<output>.manifest.json` records the scope, key fingerprint, digests and
/// counts. The output appears only when the run succeeds. Dates of birth are
/// read as YYYY-MM-DD, YYYYMMDD or DD/MM/YYYY unless --dob-format is given.
pub struct TokenRows<C> {
    pub pseudonymiser: Pseudonymiser,
    pub cols: TokenColumns,
    pub cells: Option<C>,
}

impl<C: RowCells> TokenRows<C> {
    /// The output's header line: `token`, `nhs_token` if asked, the extra
    /// cells, the kept columns.
    pub fn header(&self, input_header: &[String]) -> Vec<u8> {
        let mut names: Vec<&[u8]> = vec![b"token"];
        if self.pseudonymiser.with_nhs_token() {
            names.push(b"nhs_token");
        }
        if let Some(c) = &self.cells {
            names.extend(c.names().into_iter().map(str::as_bytes));
        }
        names.extend(self.cols.keep.iter().map(|&k| input_header[k].as_bytes()));
        tabular::cell::header_line(&names)
    }
}

/// What a whole run wrote: [`TokenOut`] summed over the batches.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct TokenTotals {
    /// Rows written (with a token, a blank token, or cells only).
    pub rows_out: u64,
    /// Rows written with a blank token (`allow_blank`).
    pub blank_rows: u64,
    /// Rows written with the extra cells but no token, by why the token failed.
    pub cells_only: BTreeMap<&'static str, u64>,
}

impl TokenTotals {
    fn add(&mut self, o: &TokenOut) {
        self.rows_out += o.rows.rows_out;
        self.blank_rows += o.blank_rows;
        for code in &o.cells_only {
            *self.cells_only.entry(code).or_default() += 1;
        }
    }

    /// Rows written with the extra cells but no token.
    pub fn cells_only_total(&self) -> u64 {
        self.cells_only.values().sum()
    }

    /// One line for the operator: rows read, written (with how many had a
    /// CLK but no token, or blank identifiers), rejected and why.
    pub fn summary(&self, rows_in: u64, done: &Committed) -> String {
        let mut msg = format!("pseudonymised {rows_in} rows: {} written", self.rows_out);
        let cells_only = self.cells_only_total();
        if cells_only > 0 {
            let reasons: Vec<String> = self.cells_only.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            msg.push_str(&format!(
                " ({cells_only} with a CLK but no token: {})",
                reasons.join(", ")
            ));
        }
        if self.blank_rows > 0 {
            msg.push_str(&format!(" ({} with blank identifiers)", self.blank_rows));
        }
        msg.push_str(&format!(", {} rejected", done.rejected));
        if done.rejected > 0 {
            msg.push_str(&format!(" ({})", done.reasons()));
        }
        msg
    }
}

impl<C: RowCells> TokenRows<C> {
    /// Write the header and every row of `src` to `out` (rejects by line,
    /// column and reason), in input order, calling `progress` with the
    /// bytes read after each batch.
    pub fn run(
        &self,
        src: &mut Source,
        out: &mut RunOutputs,
        mut progress: impl FnMut(u64),
    ) -> Result<TokenTotals, TabularError> {
        let header = src.header().to_vec();
        out.write(&self.header(&header))?;
        let mut totals = TokenTotals::default();
        tabular::run_ordered(src, self, |done, bytes_read| -> Result<(), TabularError> {
            out.write_rows(&done.rows, &header)?;
            totals.add(done);
            progress(bytes_read);
            Ok(())
        })?;
        Ok(totals)
    }

    /// Record what the tokens are made under: the key's scope and
    /// fingerprint (as the manifest's and as a `token` key record) and the
    /// date dates of birth were checked against.
    pub fn record_key(
        &self,
        key: &crate::Key,
        scope: Option<&crate::Scope>,
        as_of: crate::Date,
        manifest: &mut Manifest,
    ) {
        manifest.as_of = Some(as_of.to_string());
        manifest.scope = scope.map(|s| s.to_string());
        manifest.key_fingerprint = Some(key.fingerprint().to_string());
        manifest.keys.push(tabular::KeyRecord {
            role: "token".into(),
            scope: manifest.scope.clone(),
            fingerprint: key.fingerprint().to_string(),
        });
    }

    /// Record the columns read and kept (named from `header`), the date
    /// formats and options, and the counts the row accounting needs beyond
    /// rows in/out/rejected: rows with extra cells (the CLK) but no token,
    /// by reason, and blank-identifier rows.
    pub fn record(&self, totals: &TokenTotals, header: &[String], manifest: &mut Manifest) {
        let p = &self.pseudonymiser;
        manifest.option("nhs_column", header[self.cols.nhs].clone());
        manifest.option("dob_column", header[self.cols.dob].clone());
        manifest.option("dob_formats", p.formats().patterns());
        manifest.option("with_nhs_token", p.with_nhs_token());
        manifest.option("allow_blank", self.cols.allow_blank);
        let keep: Vec<String> = self.cols.keep.iter().map(|&i| header[i].clone()).collect();
        manifest.option("keep", keep);
        if self.cells.is_some() {
            let x = &mut manifest.extra;
            x.insert("clk_only_rows".into(), totals.cells_only_total().into());
            let by_reason = totals
                .cells_only
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect();
            x.insert("clk_only_by_reason".into(), by_reason);
        }
        if self.cols.allow_blank {
            manifest
                .extra
                .insert("blank_identifier_rows".into(), totals.blank_rows.into());
        }
    }
}

impl<C: RowCells> RowJob for TokenRows<C> {
    type Worker = C::Scratch;
    type Out = TokenOut;

    fn worker(&self) -> C::Scratch {
        C::Scratch::default()
    }

    fn row(&self, s: &mut C::Scratch, line: u64, rec: &ByteRecord, out: &mut TokenOut) {
        let cols = &self.cols;
        if rec.len() != cols.width {
            return out.rows.reject(line, None, "ragged_row");
        }
        if let Some(c) = &self.cells {
            if let Err((column, reason)) = c.compute(s, rec) {
                return out.rows.reject(line, column, reason);
            }
        }
        let blank = rec[cols.nhs].trim_ascii().is_empty() && rec[cols.dob].trim_ascii().is_empty();
        let tokens = if blank && cols.allow_blank {
            out.blank_rows += 1;
            None
        } else {
            match self.pseudonymiser.row(&rec[cols.nhs], &rec[cols.dob]) {
                Ok(t) => Some(t),
                Err(r) if self.cells.is_some() => {
                    out.cells_only.push(r.code);
                    None
                }
                Err(r) => {
                    let col = match r.field {
                        RowField::Nhs => cols.nhs,
                        RowField::Dob => cols.dob,
                    };
                    return out.rows.reject(line, Some(col), r.code);
                }
            }
        };
        let mut l = Line::new(&mut out.rows.bytes);
        match &tokens {
            Some(t) => {
                l.plain(&t.token.to_hex());
                if let Some(n) = t.nhs_token {
                    l.plain(&n.to_hex());
                }
            }
            None => {
                l.plain(b"");
                if self.pseudonymiser.with_nhs_token() {
                    l.plain(b"");
                }
            }
        }
        if let Some(c) = &self.cells {
            c.write(s, &mut l);
        }
        for &k in &cols.keep {
            // A person may open a token file: defuse spreadsheet formulae.
            l.text(&rec[k]);
        }
        l.end();
        out.rows.rows_out += 1;
    }
}

/// A whole `pseudonymise` run: the identifier columns found, optional
/// extra cells bound to the header (a CLK), every row of the input
/// tokenised into the output ([`TokenRows`]), the rejects, manifest and
/// output committed in that order.
pub struct PseudonymiseRun<'a> {
    /// The scope key.
    pub key: &'a crate::Key,
    /// Its file (recorded in the manifest).
    pub key_path: &'a std::path::Path,
    /// The tokens' scope, when known.
    pub scope: Option<&'a crate::Scope>,
    /// The date dates of birth are checked against.
    pub as_of: crate::Date,
    /// Date-of-birth formats.
    pub formats: crate::DobFormats,
    /// The input's name, as given (`-` for stdin).
    pub input: &'a str,
    /// The output and its sidecars.
    pub plan: OutputPlan<'a>,
    /// The NHS number column, when not found by name.
    pub nhs_column: Option<&'a str>,
    /// The date-of-birth column, when not found by name.
    pub dob_column: Option<&'a str>,
    /// Columns passed through unchanged.
    pub keep: &'a [String],
    /// Also write `nhs_token`.
    pub with_nhs_token: bool,
    /// Write rows whose NHS number and DOB are both blank with a blank token.
    pub allow_blank: bool,
    /// The version recorded in the manifest.
    pub version: &'a str,
}

impl PseudonymiseRun<'_> {
    /// Run over `src`: `cells` binds the extra cells (if any) to the header
    /// and records them in the manifest; `progress` is told the bytes read.
    /// Returns the lines that tell the counts and where the manifest is.
    pub fn run<C: RowCells, E: From<TabularError>>(
        self,
        mut src: Source,
        cells: impl FnOnce(&[String], &mut Manifest) -> Result<Option<C>, E>,
        progress: impl FnMut(u64),
    ) -> Result<Vec<String>, E> {
        let mut manifest = Manifest::new("pseudonymise", self.version);
        let nhs = src.column(self.nhs_column, tabular::columns::NHS_NUMBER, "NHS number")?;
        let dob = src.column(self.dob_column, tabular::columns::DATE_OF_BIRTH, "date of birth")?;
        let header = src.header().to_vec();
        let cells = cells(&header, &mut manifest)?;
        let keep = src.keep_columns(self.keep, |i| {
            i == nhs || i == dob || cells.as_ref().is_some_and(|c| c.reads_column(i))
        })?;
        let mut run = RunOutputs::create(self.plan)?;
        let job = TokenRows {
            pseudonymiser: Pseudonymiser::new(
                crate::TokenKey::new(self.key),
                self.formats,
                self.as_of,
                self.with_nhs_token,
            ),
            cols: TokenColumns {
                nhs,
                dob,
                keep,
                width: header.len(),
                allow_blank: self.allow_blank,
            },
            cells,
        };
        let totals = job.run(&mut src, &mut run, progress)?;
        let input = src.finish()?;
        manifest.option("key", self.key_path.display().to_string());
        manifest.option("input", self.input);
        manifest.option("output", self.plan.output);
        job.record(&totals, &header, &mut manifest);
        job.record_key(self.key, self.scope, self.as_of, &mut manifest);
        let done = run.commit(&mut manifest, ("input", &input), "tokens", totals.rows_out, true)?;
        debug_assert!(manifest.rows.balanced());
        let mut lines = vec![totals.summary(input.rows, &done)];
        lines.extend(
            done.manifest
                .as_ref()
                .map(|mp| format!("manifest: {}", mp.display())),
        );
        Ok(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Date, DobFormats, Key, TokenKey};

    /// Extra cells: the length of column 2, rejecting `bad`.
    struct Len;
    impl RowCells for Len {
        type Scratch = usize;
        fn names(&self) -> Vec<&str> {
            vec!["len"]
        }
        fn reads_column(&self, i: usize) -> bool {
            i == 2
        }
        fn compute(&self, s: &mut usize, rec: &ByteRecord) -> Result<(), (Option<usize>, &'static str)> {
            if &rec[2] == b"bad" {
                return Err((Some(2), "bad_name"));
            }
            *s = rec[2].len();
            Ok(())
        }
        fn write(&self, s: &usize, line: &mut Line<'_>) {
            line.plain(s.to_string().as_bytes());
        }
    }

    fn job(cells: Option<Len>, allow_blank: bool, with_nhs: bool) -> TokenRows<Len> {
        TokenRows {
            pseudonymiser: Pseudonymiser::new(
                TokenKey::new(&Key::from_bytes([3; 32])),
                DobFormats::default(),
                Date::new(2026, 11, 21).unwrap(),
                with_nhs,
            ),
            cols: TokenColumns {
                nhs: 0,
                dob: 1,
                keep: vec![3],
                width: 4,
                allow_blank,
            },
            cells,
        }
    }

    fn run(j: &TokenRows<Len>, rows: &[&[&str]]) -> TokenOut {
        let mut out = TokenOut::default();
        for (i, r) in rows.iter().enumerate() {
            j.row(&mut 0, i as u64 + 2, &ByteRecord::from(r.to_vec()), &mut out);
        }
        out
    }

    #[test]
    fn every_row_accounted_for() {
        let rows: &[&[&str]] = &[
            &["9991335056", "1980-01-05", "Ann", "=1+1"],
            &["9991335055", "1980-01-05", "Bo", "x"],
            &["", "", "Cy", "y"],
            &["9991335056", "1980-01-05", "bad", "z"],
            &["short"],
        ];
        let j = job(None, true, true);
        let o = run(&j, rows);
        assert_eq!(o.rows.rows_out, 3);
        assert_eq!(o.blank_rows, 1);
        let reasons: Vec<_> = o
            .rows
            .rejects
            .iter()
            .map(|r| (r.line, r.column, r.reason))
            .collect();
        assert_eq!(
            reasons,
            vec![(3, Some(0), "nhs_check_digit"), (6, None, "ragged_row")]
        );
        let text = String::from_utf8(o.rows.bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].ends_with(",'=1+1"), "{}", lines[0]);
        assert_eq!(lines[0].split(',').count(), 3);
        assert_eq!(lines[1], ",,y");

        let j = job(Some(Len), false, false);
        let o = run(&j, rows);
        assert_eq!(o.rows.rows_out, 3);
        assert_eq!(o.cells_only, vec!["nhs_check_digit", "nhs_missing"]);
        let reasons: Vec<_> = o.rows.rejects.iter().map(|r| (r.column, r.reason)).collect();
        assert_eq!(reasons, vec![(Some(2), "bad_name"), (None, "ragged_row")]);
        assert_eq!(
            String::from_utf8(j.header(&["n".into(), "d".into(), "g".into(), "k".into()])).unwrap(),
            "token,len,k\n"
        );
    }

    #[test]
    fn a_lone_blank_token_is_quoted() {
        let mut j = job(None, true, false);
        j.cols.keep.clear();
        let o = run(&j, &[&["", "", "a", "b"]]);
        assert_eq!(o.rows.bytes, b"\"\"\n");
    }

    #[test]
    fn a_run_writes_every_row_in_order_and_records_what_it_counted() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("o.csv");
        let csv = "nhs,dob,g,k\n9991335056,1980-01-05,Ann,x\n,,Bo,y\n9991335055,1980-01-05,Cy,z\nshort\n";
        let reader = Box::new(std::io::Cursor::new(csv.as_bytes().to_vec()));
        let mut src = tabular::Source::from_reader("in", reader).unwrap();
        let header = src.header().to_vec();
        let j = job(Some(Len), true, false);
        let plan = tabular::OutputPlan {
            output: out.to_str().unwrap(),
            force: false,
            manifest: None,
            rejects: None,
        };
        let mut run = RunOutputs::create(plan).unwrap();
        let mut batches = 0;
        let t = j.run(&mut src, &mut run, |_| batches += 1).unwrap();
        assert!(batches >= 1);
        assert_eq!(t.rows_out, 3);
        assert_eq!(t.blank_rows, 1);
        assert_eq!(t.cells_only, BTreeMap::from([("nhs_check_digit", 1)]));
        let input = src.finish().unwrap();
        let mut m = Manifest::new("pseudonymise", "0");
        j.record(&t, &header, &mut m);
        let done = run
            .commit(&mut m, ("input", &input), "tokens", t.rows_out, true)
            .unwrap();
        assert!(m.rows.balanced(), "{:?}", m.rows);
        assert_eq!(m.extra["clk_only_rows"], 1);
        assert_eq!(m.extra["clk_only_by_reason"]["nhs_check_digit"], 1);
        assert_eq!(m.extra["blank_identifier_rows"], 1);
        assert_eq!(m.options["keep"], serde_json::json!(["k"]));
        assert_eq!(m.options["nhs_column"], "nhs");
        assert_eq!(
            t.summary(input.rows, &done),
            "pseudonymised 4 rows: 3 written (1 with a CLK but no token: nhs_check_digit: 1) \
             (1 with blank identifiers), 1 rejected (ragged_row: 1)"
        );
        let text = std::fs::read_to_string(&out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "token,len,k");
        assert_eq!(
            &lines[1..]
                .iter()
                .map(|l| l.rsplit(',').next().unwrap())
                .collect::<Vec<_>>(),
            &["x", "y", "z"]
        );
    }
}
