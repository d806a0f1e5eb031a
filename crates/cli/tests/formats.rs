//! Table formats through the commands: a file's extension decides (`.csv`;
//! `.parquet`, `.parq`, `.pq`), else `--format`, else CSV; manifests record
//! the format of every table read and written; files whose bytes contradict
//! the choice, Parquet on standard input or output, and hostile Parquet files
//! are refused with exit 2 and a clear message — never a panic, never a value.
//! The Parquet round trips need a CLI built with `--features parquet`
//! (`cargo test -p trialink-cli --features parquet --test cli -- formats::`).

use crate::common;
use common::*;
use std::path::Path;
use std::process::Output;

fn registry() -> std::path::PathBuf {
    fixtures().join("pseudonymise/registry.csv")
}

/// Every NHS number and date of birth in the registry fixture.
fn values() -> Vec<String> {
    let text = std::fs::read_to_string(registry()).unwrap();
    let mut v = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[1].len() >= 10 {
            v.push(f[1].replace(' ', ""));
        }
        v.push(f[2].to_string());
    }
    v
}

fn pseudonymise(dir: &Path, input: &str, output: &str, extra: &[&str]) -> Output {
    let key = if dir.join("bpor.key").exists() {
        dir.join("bpor.key")
    } else {
        scope_key(dir, "registry:bpor", "bpor.key")
    };
    let mut args = vec![
        "pseudonymise",
        "--key",
        key.to_str().unwrap(),
        "--input",
        input,
        "--output",
        output,
        "--as-of",
        "2026-11-21",
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn manifest(p: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn assert_refused(o: &Output, needle: &str) {
    let secrets = values();
    let refs: Vec<&str> = secrets.iter().map(String::as_str).collect();
    assert_error(o, needle, &refs);
}

#[test]
fn manifests_record_the_csv_format_of_input_and_output() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("t.csv");
    let o = pseudonymise(d.path(), registry().to_str().unwrap(), out.to_str().unwrap(), &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m = manifest(&d.path().join("t.csv.manifest.json"));
    assert_eq!(m["inputs"][0]["format"], "csv", "{m}");
    assert_eq!(m["outputs"][0]["format"], "csv", "{m}");
}

#[test]
fn an_unnamed_output_takes_format_and_a_named_extension_wins() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("t.tokens");
    let o = pseudonymise(
        d.path(),
        registry().to_str().unwrap(),
        out.to_str().unwrap(),
        &["--format", "csv"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&out).unwrap().starts_with("token\n"));
    // `--format parquet` does not make a `.csv` input Parquet.
    let out2 = d.path().join("t2.csv");
    let o = pseudonymise(
        d.path(),
        registry().to_str().unwrap(),
        out2.to_str().unwrap(),
        &["--format", "parquet"],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&out2).unwrap());
}

#[test]
fn parquet_bytes_are_never_read_as_csv() {
    let d = tempfile::tempdir().unwrap();
    for (name, extra) in [("c.csv", None), ("c.dat", None), ("c.dat", Some("csv"))] {
        let p = d.path().join(name);
        std::fs::write(&p, b"PAR1\x15\x04\x15\x10PAR1").unwrap();
        let out = d.path().join("o.csv");
        let mut args = vec![];
        if let Some(f) = extra {
            args = vec!["--format", f];
        }
        let o = pseudonymise(d.path(), p.to_str().unwrap(), out.to_str().unwrap(), &args);
        assert_refused(&o, "Parquet file");
        let e = stderr(&o);
        assert!(
            e.contains("--format parquet") || e.contains("end .parquet"),
            "{e}"
        );
        assert!(!out.exists());
    }
}

#[test]
fn parquet_on_standard_input_or_output_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("o.csv");
    let o = pseudonymise(d.path(), "-", out.to_str().unwrap(), &["--format", "parquet"]);
    assert_refused(&o, "standard input");
    let o = pseudonymise(
        d.path(),
        registry().to_str().unwrap(),
        "-",
        &["--format", "parquet"],
    );
    assert_refused(&o, "standard output");
}

#[test]
fn an_unknown_format_is_refused_with_the_choices() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("o.csv");
    let o = pseudonymise(
        d.path(),
        registry().to_str().unwrap(),
        out.to_str().unwrap(),
        &["--format", "xlsx"],
    );
    assert_refused(&o, "parquet");
    for args in [
        vec![
            "link", "--left", "a", "--right", "b", "--output", "c", "--format", "tsv",
        ],
        vec![
            "filter", "check", "--filter", "f", "--tokens", "t", "--output", "o", "--format", "x",
        ],
    ] {
        assert_refused(&run(&args), "possible values");
    }
}

#[cfg(not(feature = "parquet"))]
#[test]
fn parquet_needs_the_feature() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("o.parquet");
    let o = pseudonymise(d.path(), registry().to_str().unwrap(), out.to_str().unwrap(), &[]);
    assert_refused(&o, "without Parquet support");
    let out = d.path().join("o.tbl");
    let o = pseudonymise(
        d.path(),
        registry().to_str().unwrap(),
        out.to_str().unwrap(),
        &["--format", "parquet"],
    );
    assert_refused(&o, "without Parquet support");
}

#[cfg(feature = "parquet")]
mod parquet {
    use super::*;
    use tabular::{Format, OutputMode, Source, TableOutput};

    /// Write CSV bytes as a Parquet file.
    fn to_parquet(csv: &[u8], path: &Path) {
        let mut o = TableOutput::create_as(path.to_str().unwrap(), OutputMode::New, Format::Parquet).unwrap();
        std::io::Write::write_all(&mut o, csv).unwrap();
        o.finish().unwrap().persist().unwrap();
    }

    /// Every record of a table (header first) as strings.
    fn records(path: &Path) -> Vec<Vec<String>> {
        let mut src = Source::open(path.to_str().unwrap()).unwrap();
        let mut out = vec![src.header().to_vec()];
        let mut rec = tabular::ByteRecord::new();
        while src.read(&mut rec).unwrap() {
            out.push(
                rec.iter()
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect(),
            );
        }
        out
    }

    #[test]
    fn pseudonymise_reads_and_writes_parquet_as_it_does_csv() {
        let d = tempfile::tempdir().unwrap();
        let pq_in = d.path().join("registry.parquet");
        to_parquet(&std::fs::read(registry()).unwrap(), &pq_in);
        let csv_out = d.path().join("t.csv");
        let o = pseudonymise(
            d.path(),
            registry().to_str().unwrap(),
            csv_out.to_str().unwrap(),
            &[],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let pq_out = d.path().join("t.parquet");
        let o = pseudonymise(d.path(), pq_in.to_str().unwrap(), pq_out.to_str().unwrap(), &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(records(&csv_out), records(&pq_out));
        // The same rejects (positions as if the file were a CSV) and counts.
        assert_eq!(
            std::fs::read(d.path().join("t.csv.rejects.csv")).unwrap(),
            std::fs::read(d.path().join("t.parquet.rejects.csv")).unwrap()
        );
        let (mc, mp) = (
            manifest(&d.path().join("t.csv.manifest.json")),
            manifest(&d.path().join("t.parquet.manifest.json")),
        );
        assert_eq!(mc["rows"], mp["rows"]);
        assert_eq!(mp["inputs"][0]["format"], "parquet");
        assert_eq!(mp["outputs"][0]["format"], "parquet");
        // Unnamed files take --format.
        let unnamed_in = d.path().join("registry.tbl");
        std::fs::copy(&pq_in, &unnamed_in).unwrap();
        let unnamed_out = d.path().join("t.tbl");
        let o = pseudonymise(
            d.path(),
            unnamed_in.to_str().unwrap(),
            unnamed_out.to_str().unwrap(),
            &["--format", "parquet"],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        assert_eq!(&std::fs::read(&unnamed_out).unwrap()[..4], b"PAR1");
        let m = manifest(&d.path().join("t.tbl.manifest.json"));
        assert_eq!(m["inputs"][0]["format"], "parquet");
        assert_eq!(m["outputs"][0]["format"], "parquet");
        // Without --format the unnamed Parquet input is refused, not misread.
        let o = pseudonymise(d.path(), unnamed_in.to_str().unwrap(), "-", &[]);
        assert_refused(&o, "Parquet file");
    }

    fn encode(dir: &Path, input: &Path, out: &str) {
        let o = run(&[
            "encode",
            "--schema",
            fixtures().join("linkage/schema.json").to_str().unwrap(),
            "--secret-file",
            dir.join("secret.txt").to_str().unwrap(),
            "--input",
            input.to_str().unwrap(),
            "--output",
            dir.join(out).to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
    }

    #[test]
    fn encode_link_and_filter_give_the_csv_results_through_parquet() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path();
        std::fs::write(dir.join("secret.txt"), "synthetic-test-secret\n").unwrap();
        for side in ["registry", "cohort"] {
            let csv = fixtures().join(format!("synth/{side}.csv"));
            let pq = dir.join(format!("{side}.pq"));
            to_parquet(&std::fs::read(&csv).unwrap(), &pq);
            encode(dir, &csv, &format!("{side}.clk.csv"));
            encode(dir, &pq, &format!("{side}.clk.parquet"));
            assert_eq!(
                records(&dir.join(format!("{side}.clk.csv"))),
                records(&dir.join(format!("{side}.clk.parquet")))
            );
        }
        let link = |ext: &str| {
            let out = dir.join(format!("links.{ext}"));
            let o = run(&[
                "link",
                "--left",
                dir.join(format!("registry.clk.{ext}")).to_str().unwrap(),
                "--right",
                dir.join(format!("cohort.clk.{ext}")).to_str().unwrap(),
                "--output",
                out.to_str().unwrap(),
            ]);
            assert!(o.status.success(), "{}", stderr(&o));
            out
        };
        let (lc, lp) = (link("csv"), link("parquet"));
        let links = records(&lc);
        assert!(links.len() > 10, "{links:?}");
        assert_eq!(links, records(&lp));
        let m = manifest(&dir.join("links.parquet.manifest.json"));
        assert!(
            m["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .all(|i| i["format"] == "parquet"),
            "{m}"
        );
        assert_eq!(m["outputs"][0]["format"], "parquet", "{m}");

        // filter build and check over Parquet token files.
        let tokens = dir.join("t.parquet");
        let o = pseudonymise(dir, registry().to_str().unwrap(), tokens.to_str().unwrap(), &[]);
        assert!(o.status.success(), "{}", stderr(&o));
        let key = dir.join("bpor.key");
        let filt = dir.join("f.tlbf");
        let o = run(&[
            "filter",
            "build",
            "--tokens",
            tokens.to_str().unwrap(),
            "--fpr",
            "0.001",
            "--output",
            filt.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let checked = dir.join("checked.pq");
        let o = run(&[
            "filter",
            "check",
            "--filter",
            filt.to_str().unwrap(),
            "--tokens",
            tokens.to_str().unwrap(),
            "--output",
            checked.to_str().unwrap(),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let rows = records(&checked);
        assert_eq!(rows[0], vec!["token", "in_filter"]);
        assert!(
            rows.len() > 30 && rows[1..].iter().all(|r| r[1] == "true"),
            "{rows:?}"
        );
    }

    /// The thrift compact varint of a zigzag-encoded i64.
    fn varint(n: i64) -> Vec<u8> {
        let mut z = ((n << 1) ^ (n >> 63)) as u64;
        let mut out = Vec::new();
        loop {
            if z < 0x80 {
                out.push(z as u8);
                return out;
            }
            out.push((z as u8 & 0x7f) | 0x80);
            z >>= 7;
        }
    }

    /// `file` with every `num_rows` field (i64, field id one after the
    /// previous) in its footer replaced by `claim`, the footer length fixed.
    fn claim_rows(file: &[u8], rows: i64, claim: i64) -> Vec<u8> {
        let n = file.len();
        let flen = u32::from_le_bytes(file[n - 8..n - 4].try_into().unwrap()) as usize;
        let footer = &file[n - 8 - flen..n - 8];
        let mut pat = vec![0x16];
        pat.extend(varint(rows));
        let mut rep = vec![0x16];
        rep.extend(varint(claim));
        let mut new = Vec::new();
        let mut i = 0;
        let mut hits = 0;
        while i < footer.len() {
            if footer[i..].starts_with(&pat) {
                new.extend_from_slice(&rep);
                i += pat.len();
                hits += 1;
            } else {
                new.push(footer[i]);
                i += 1;
            }
        }
        assert!(hits > 0, "no num_rows field found");
        let mut out = file[..n - 8 - flen].to_vec();
        out.extend_from_slice(&new);
        out.extend_from_slice(&(new.len() as u32).to_le_bytes());
        out.extend_from_slice(b"PAR1");
        out
    }

    #[test]
    fn hostile_parquet_files_exit_2_without_values() {
        let d = tempfile::tempdir().unwrap();
        let good = d.path().join("good.parquet");
        let csv = std::fs::read(registry()).unwrap();
        to_parquet(&csv, &good);
        let bytes = std::fs::read(&good).unwrap();
        let rows = csv.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count() as i64 - 1;
        let n = bytes.len();
        let mut huge_footer = bytes.clone();
        huge_footer[n - 8..n - 4].copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("truncated-half", bytes[..n / 2].to_vec(), ""),
            ("truncated-footer", bytes[..n - 3].to_vec(), ""),
            ("only-magic", b"PAR1".to_vec(), ""),
            ("csv-named-parquet", csv.clone(), "not a readable Parquet file"),
            ("footer-claims-2gib", huge_footer, ""),
            ("rows-claimed-huge", claim_rows(&bytes, rows, i64::MAX / 4), ""),
            ("rows-claimed-more", claim_rows(&bytes, rows, rows + 1000), ""),
            ("rows-claimed-negative", claim_rows(&bytes, rows, -5), ""),
        ];
        for (name, data, needle) in cases {
            let p = d.path().join(format!("{name}.parquet"));
            std::fs::write(&p, &data).unwrap();
            let out = d.path().join(format!("{name}.out.csv"));
            let o = pseudonymise(d.path(), p.to_str().unwrap(), out.to_str().unwrap(), &[]);
            let e = stderr(&o);
            assert!(
                e.contains(p.to_str().unwrap()),
                "{name}: the error names the file: {e}"
            );
            assert_refused(&o, needle);
            assert!(!out.exists(), "{name}: no output on error");
        }
        // The wrong schema: a token file where a cohort is expected.
        let tokens = d.path().join("tokens.parquet");
        let o = pseudonymise(
            d.path(),
            registry().to_str().unwrap(),
            tokens.to_str().unwrap(),
            &[],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let o = pseudonymise(d.path(), tokens.to_str().unwrap(), "-", &[]);
        assert_refused(&o, "token");
    }
}
