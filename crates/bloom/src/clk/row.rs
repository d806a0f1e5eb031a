//! A CLK encoder bound to a CSV header: the one row engine for every command
//! that writes CLKs (`encode`, and `pseudonymise --clk-schema`).
//!
//! [`RowEncoder::bind`] finds each schema feature's column once; then each
//! record is encoded straight from its bytes (one UTF-8 check per record,
//! field by field only to name the column at fault) into the `clk` cell and,
//! when the schema has blocking passes and they are wanted, the `blocking`
//! cell. It implements [`tabular::RowCells`], so it runs inside
//! [`tabular::run_ordered`] on its own (through [`tabular::CellRows`]) or
//! beside other cells.

use super::{push_base64, ClkEncoder, Scratch};
use tabular::cell::Line;
use tabular::ByteRecord;

/// A [`ClkEncoder`] with the input column of each schema feature.
///
/// Encodes each row of a CSV as a CLK (Cryptographic Long-term Key: a keyed
/// Bloom filter of name, date of birth, sex, postcode … n-grams) under a
/// linkage schema v3. The CLKs are byte-identical to clkhash 0.18's for the
/// same schema and secret, so anonlink users can link with them. Schema
/// features are matched to CSV columns by their `identifier`. If the schema
/// has trialink blocking passes (`"trialink": {"blocking": [...]}`) a
/// `blocking` column of keyed blocking keys is written beside `clk`.
/// Output columns: `clk`, `blocking` (if any), then the `--keep` columns.
/// Rows with values the schema refuses go to `<output>.rejects.csv`.
#[derive(Debug)]
pub struct RowEncoder {
    encoder: ClkEncoder,
    /// The column of each schema feature (`None`: an ignored feature the header lacks).
    cols: Vec<Option<usize>>,
    blocking: bool,
}

/// Per-worker buffers for [`RowEncoder`].
#[derive(Default)]
pub struct RowScratch {
    clk: Scratch,
    /// Spare storage for a record's values (kept empty between rows).
    values: Vec<&'static str>,
}

impl RowEncoder {
    /// Bind `encoder` to `header`. `blocking`: write the `blocking` cell
    /// when the schema defines passes. `Err` lists the hashed features the
    /// header lacks.
    pub fn bind(encoder: ClkEncoder, header: &[String], blocking: bool) -> Result<RowEncoder, Vec<String>> {
        let cols = encoder.schema().bind_columns(header)?;
        let blocking = blocking && !encoder.schema().hardening.blocking.is_empty();
        Ok(RowEncoder {
            encoder,
            cols,
            blocking,
        })
    }

    /// The encoder.
    pub fn encoder(&self) -> &ClkEncoder {
        &self.encoder
    }

    /// Whether rows get a `blocking` cell.
    pub fn blocking(&self) -> bool {
        self.blocking
    }
}

impl tabular::RowCells for RowEncoder {
    type Scratch = RowScratch;

    fn names(&self) -> Vec<&str> {
        if self.blocking {
            vec!["clk", "blocking"]
        } else {
            vec!["clk"]
        }
    }

    /// Columns holding a feature the CLK encodes (ignored features excluded).
    fn reads_column(&self, i: usize) -> bool {
        self.cols
            .iter()
            .zip(&self.encoder.schema().features)
            .any(|(c, f)| *c == Some(i) && f.spec.is_some())
    }

    fn compute(&self, s: &mut RowScratch, rec: &ByteRecord) -> Result<(), (Option<usize>, &'static str)> {
        let mut values: Vec<&str> = std::mem::take(&mut s.values);
        let result = self.encode_into(rec, &mut values, &mut s.clk);
        values.clear();
        // The same allocation back, emptied (an in-place collect).
        s.values = values.into_iter().map(|_| "").collect();
        result
    }

    fn write(&self, s: &RowScratch, line: &mut Line<'_>) {
        line.plain_with(|out| push_base64(s.clk.clk(), self.encoder.l(), out));
        if self.blocking {
            // `name=hex;…`: never needs quoting.
            line.plain(s.clk.blocking().as_bytes());
        }
    }
}

impl RowEncoder {
    fn encode_into<'r>(
        &self,
        rec: &'r ByteRecord,
        values: &mut Vec<&'r str>,
        s: &mut Scratch,
    ) -> Result<(), (Option<usize>, &'static str)> {
        // One UTF-8 check for the whole record (the usual case); field by
        // field only if that fails, to name the column.
        let whole = std::str::from_utf8(rec.as_slice()).ok();
        for c in &self.cols {
            let v = match (c, whole) {
                (Some(c), Some(all)) => rec.range(*c).and_then(|r| all.get(r)),
                _ => None,
            };
            match (v, c) {
                (Some(v), _) => values.push(v),
                (None, Some(c)) => match std::str::from_utf8(&rec[*c]) {
                    Ok(v) => values.push(v),
                    Err(_) => return Err((Some(*c), "not_utf8")),
                },
                (None, None) => values.push(""),
            }
        }
        self.encoder.encode_into(values, s, self.blocking).map_err(|e| {
            let col = self
                .encoder
                .schema()
                .feature_index(&e.feature)
                .and_then(|f| self.cols[f]);
            (col, e.problem.code())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clk::{schema::Schema, to_base64, ClkSecret};
    use tabular::RowCells;

    fn encoder() -> ClkEncoder {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fixtures/linkage/schema.json"
        ))
        .unwrap();
        ClkEncoder::new(Schema::from_json(&text).unwrap(), &ClkSecret::from_bytes(b"s")).unwrap()
    }

    fn header(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn bound_rows_encode_as_the_encoder_does() {
        let e = encoder();
        let ids: Vec<String> = e.schema().features.iter().map(|f| f.identifier.clone()).collect();
        // The columns in reverse order, with an extra column first.
        let mut h = vec!["ref".to_string()];
        h.extend(ids.iter().rev().cloned());
        let r = RowEncoder::bind(encoder(), &h, true).unwrap();
        assert!(r.blocking());
        assert!(!r.reads_column(0));
        let value = |id: &str| match id {
            "given_name" => "Ann",
            "family_name" => "Smith",
            "date_of_birth" => "1980-01-05",
            "sex" => "female",
            _ => "LS1 4AB",
        };
        let values: Vec<String> = ids.iter().map(|id| value(id).to_string()).collect();
        let mut rec = ByteRecord::new();
        rec.push_field(b"r1");
        for v in values.iter().rev() {
            rec.push_field(v.as_bytes());
        }
        let mut s = RowScratch::default();
        let computed = r.compute(&mut s, &rec);
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let mut direct = Scratch::default();
        e.encode_into(&refs, &mut direct, true).unwrap();
        assert_eq!(computed, Ok(()));
        let mut out = Vec::new();
        let mut l = Line::new(&mut out);
        r.write(&s, &mut l);
        l.end();
        assert!(!direct.blocking().is_empty());
        let want = format!("{},{}\n", to_base64(direct.clk(), e.l()), direct.blocking());
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[test]
    fn missing_features_and_bad_bytes_are_named() {
        let e = encoder();
        let first = e.schema().features[0].identifier.clone();
        assert!(RowEncoder::bind(encoder(), &header(&["x"]), false).is_err());
        let ids: Vec<String> = e.schema().features.iter().map(|f| f.identifier.clone()).collect();
        let r = RowEncoder::bind(encoder(), &ids, false).unwrap();
        assert_eq!(r.names(), vec!["clk"]);
        let mut rec = ByteRecord::new();
        rec.push_field(b"\xff");
        for _ in 1..ids.len() {
            rec.push_field(b"a");
        }
        let mut s = RowScratch::default();
        assert_eq!(r.compute(&mut s, &rec), Err((Some(0), "not_utf8")), "{first}");
    }
}
