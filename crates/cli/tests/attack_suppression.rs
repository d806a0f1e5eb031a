//! Adversarial tests of the suppression promise (issue 14; issue 15 item 1):
//! whoever asked not to be contacted, is excluded or already enrolled is
//! never invited, whatever the lists look like, and a run that had to drop
//! rows a person's safety depends on does not report success.
//!
//! Each probe asserts the safe outcome on the batch's contents: the person
//! is not in the batch, or the run that lost their row failed loudly (exit
//! 1 with the row in the rejects file, or exit 2 with no batch). Probes
//! that fail today are `#[ignore = "attack: ..."]` with the finding.

mod common;
#[path = "attack_suppression/harness.rs"]
mod harness;

use common::*;
use harness::*;

/// Digits of `s` written in another Unicode decimal block.
fn digits_in(s: &str, zero: u32) -> String {
    s.chars()
        .map(|c| char::from_u32(zero + c.to_digit(10).unwrap()).unwrap())
        .collect()
}

fn split3(n: &str, sep: &str) -> String {
    format!("{}{sep}{}{sep}{}", &n[..3], &n[3..6], &n[6..])
}

/// Forms of an NHS number the issue says must be normalised (Unicode
/// spaces, zero-width characters, Unicode decimal digits, a leading `'`),
/// and other forms that are unambiguous.
fn normalisable_forms(n: &str) -> Vec<(&'static str, String)> {
    vec![
        ("plain", n.to_string()),
        ("ascii spaces", split3(n, " ")),
        ("ascii hyphens", split3(n, "-")),
        ("nbsp", split3(n, "\u{a0}")),
        ("narrow nbsp", split3(n, "\u{202f}")),
        ("thin space", split3(n, "\u{2009}")),
        ("figure space", split3(n, "\u{2007}")),
        ("en space", split3(n, "\u{2002}")),
        ("ideographic space", split3(n, "\u{3000}")),
        ("zwsp", split3(n, "\u{200b}")),
        ("zwj", split3(n, "\u{200d}")),
        ("zwnj", split3(n, "\u{200c}")),
        ("word joiner", split3(n, "\u{2060}")),
        ("bom mid-field", split3(n, "\u{feff}")),
        ("leading/trailing spaces", format!("  {n} ")),
        ("leading nbsp", format!("\u{a0}{n}")),
        ("trailing zwsp", format!("{n}\u{200b}")),
        ("full-width", digits_in(n, 0xff10)),
        ("arabic-indic", digits_in(n, 0x660)),
        ("ext arabic-indic", digits_in(n, 0x6f0)),
        ("devanagari", digits_in(n, 0x966)),
        ("bengali", digits_in(n, 0x9e6)),
        ("leading apostrophe", format!("'{n}")),
        ("apostrophe + spaces", format!("'{}", split3(n, " "))),
    ]
}

/// Forms a careless export produces that are not safely normalisable:
/// refused (exit 1, row in the rejects file) or, if accepted, the right
/// person suppressed.
fn mangled_forms(n: &str) -> Vec<(&'static str, String)> {
    let sci = format!("{}.{}E+09", &n[..1], &n[1..6]);
    vec![
        ("excel sci", sci),
        ("excel sci lower", format!("{}.{}e9", &n[..1], &n[1..])),
        ("excel formula", format!("={n}")),
        ("excel text formula", format!("=\"{n}\"")),
        ("trailing .0", format!("{n}.0")),
        ("leading zero", format!("0{n}")),
        ("tabs", split3(n, "\t")),
        ("en dash", split3(n, "\u{2013}")),
        ("em dash", split3(n, "\u{2014}")),
        ("minus sign", split3(n, "\u{2212}")),
        ("non-breaking hyphen", split3(n, "\u{2011}")),
        ("unicode hyphen", split3(n, "\u{2010}")),
        ("soft hyphen", split3(n, "\u{ad}")),
        ("lrm mark", format!("\u{200e}{n}")),
        ("rtl override", format!("\u{202e}{n}")),
        ("parenthesised", format!("({}) {} {}", &n[..3], &n[3..6], &n[6..])),
        ("prefixed label", format!("NHS {n}")),
        ("math bold digits", digits_in(n, 0x1d7ce)),
        ("superscript digits", n.chars().map(sup).collect()),
        ("circled digits", n.chars().map(circled).collect()),
        ("nine digits", n[..9].to_string()),
        ("eleven digits", format!("{n}1")),
        ("two numbers", format!("{n}/{n}")),
        ("dot separators", split3(n, ".")),
        ("slash separators", split3(n, "/")),
        ("double quotes inside", format!("\"{n}\"")),
        ("fullwidth apostrophe", format!("\u{ff07}{n}")),
        ("right single quote", format!("\u{2019}{n}")),
        ("backtick", format!("`{n}")),
        ("newline inside", split3(n, "\n")),
        ("nul inside", split3(n, "\0")),
    ]
}

fn sup(c: char) -> char {
    ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'][c.to_digit(10).unwrap() as usize]
}
fn circled(c: char) -> char {
    match c.to_digit(10).unwrap() {
        0 => '⓪',
        d => char::from_u32(0x2460 + d - 1).unwrap(),
    }
}

/// Objection `i` names person `i` in `forms[i]`; person `forms.len()` and
/// up are controls. Returns the failures (invited and not loudly rejected).
fn objection_forms_probe(forms: &[(&'static str, String)], with_names: bool) -> Vec<String> {
    let w = World::new();
    let ps = people(forms.len() + 3);
    let text = if with_names {
        objections_full(
            &forms
                .iter()
                .zip(&ps)
                .map(|((_, f), p)| (f.clone(), p))
                .collect::<Vec<_>>(),
        )
    } else {
        objections(
            &forms
                .iter()
                .zip(&ps)
                .map(|((_, f), p)| (f.clone(), p.dob.clone()))
                .collect::<Vec<_>>(),
        )
    };
    let nc = w.noncontact(&text, &[]);
    assert!(matches!(nc.code(), Some(0 | 1)), "{}", nc.text());
    let values: Vec<&str> = ps.iter().flat_map(|p| [p.nhs.as_str(), p.family.as_str()]).collect();
    assert_no_echo(&nc.text(), &values, "noncontact add");
    assert_no_echo(&nc.rejects, &values, "rejects file");
    // every row accounted for
    let m = nc.manifest.as_ref().expect("manifest");
    let data_lines = text.lines().count() as u64 - 1;
    let r = &m["rows"];
    assert_eq!(
        r["in"].as_u64().unwrap(),
        r["out"].as_u64().unwrap() + r["rejected"].as_u64().unwrap(),
        "{r}"
    );
    let inv = w.invite(cohort_of(&ps), "", &[]);
    assert_no_echo(&inv.text(), &values, "invite");
    let controls: Vec<&str> = ps[forms.len()..].iter().map(|p| p.family.as_str()).collect();
    inv.assert_batch(&[], &controls, "objection forms");
    let rejected = nc.rejected_lines();
    let mut fails = Vec::new();
    let mut line = 2usize;
    for ((name, form), p) in forms.iter().zip(&ps) {
        let loud = nc.code() == Some(1) && rejected.contains(&line);
        if inv.invited(&p.family) && !loud {
            fails.push(format!("{name} ({form:?}): invited, nc exit {:?}", nc.code()));
        }
        line += 1 + form.matches('\n').count();
    }
    let _ = data_lines;
    fails
}

/// Sanity: the harness can see an invitation (the probes can fail), and a
/// plain objection suppresses exactly its person.
#[test]
fn plain_objection_suppresses_exactly_one_person() {
    let w = World::new();
    let ps = people(8);
    let nc = w.noncontact(objections(&[(ps[3].nhs.clone(), ps[3].dob.clone())]), &[]);
    assert_eq!(nc.code(), Some(0), "{}", nc.text());
    let inv = w.invite(cohort_of(&ps), "", &[]);
    assert_eq!(inv.code(), Some(0), "{}", inv.text());
    let others: Vec<&str> = ps.iter().filter(|p| p.nhs != ps[3].nhs).map(|p| p.family.as_str()).collect();
    inv.assert_batch(&[&ps[3].family], &others, "plain");
    assert_eq!(inv.stage("non_contact_list"), 1);
    inv.assert_accounted(8);
}

/// The CLK fallback, on people built to be far apart, suppresses only the
/// objector (else every probe relying on it would pass vacuously).
#[test]
fn clk_objection_suppresses_only_its_person() {
    let w = World::new();
    let ps = people(60);
    let nc = w.noncontact(objections_full(&[(String::new(), &ps[7])]), &[]);
    assert_eq!(nc.code(), Some(0), "{}", nc.text());
    let inv = w.invite(cohort_of(&ps), "", &[]);
    let others: Vec<&str> = ps.iter().skip(8).map(|p| p.family.as_str()).collect();
    inv.assert_batch(&[&ps[7].family], &others, "clk");
    assert_eq!(inv.stage("non_contact_clk"), 1, "{}", inv.text());
}

/// Per-person forms: form `name` of person `i`'s NHS number.
fn forms_for(ps: &[Person], f: fn(&str) -> Vec<(&'static str, String)>) -> Vec<(&'static str, String)> {
    let names = f("9990000000");
    ps.iter()
        .zip(names)
        .map(|(p, (name, _))| (name, f(&p.nhs).into_iter().find(|(n, _)| *n == name).unwrap().1))
        .collect()
}

#[test]
fn normalisable_objection_nhs_forms_suppress_the_person() {
    let n = normalisable_forms("9990000000").len();
    let ps = people(n + 4);
    let forms = forms_for(&ps, normalisable_forms);
    // Strong: each is normalised and the person not invited, exit 0.
    let w = World::new();
    let text = objections(&forms.iter().zip(&ps).map(|((_, f), p)| (f.clone(), p.dob.clone())).collect::<Vec<_>>());
    let nc = w.noncontact(&text, &[]);
    let inv = w.invite(cohort_of(&ps), "", &[]);
    let controls: Vec<&str> = ps[n..].iter().map(|p| p.family.as_str()).collect();
    inv.assert_batch(&[], &controls, "controls");
    let bad: Vec<_> = forms
        .iter()
        .zip(&ps)
        .filter(|(_, p)| inv.invited(&p.family))
        .map(|((n, f), _)| format!("{n} ({f:?})"))
        .collect();
    assert!(bad.is_empty(), "invited despite objection: {bad:?}\nnc: {}", nc.text());
    assert_eq!(nc.code(), Some(0), "normalisable forms rejected: {}\n{}", nc.text(), nc.rejects);
    assert_eq!(inv.stage("non_contact_list"), n as u64);
}

/// Mangled NHS numbers, objection file with NHS number and DOB only (no
/// CLK fallback possible): each is refused loudly or suppresses the person.
#[test]
fn mangled_objection_nhs_forms_fail_loudly_or_suppress() {
    let n = mangled_forms("9990000000").len();
    let ps = people(n + 4);
    let forms = forms_for(&ps, mangled_forms);
    let fails = objection_forms_probe(&forms, false);
    assert!(fails.is_empty(), "{fails:#?}");
}

/// The same, with name, DOB and postcode present and exact.
#[test]
fn mangled_objection_nhs_forms_with_names_fail_loudly_or_suppress() {
    let n = mangled_forms("9990000000").len();
    let ps = people(n + 4);
    let forms = forms_for(&ps, mangled_forms);
    let fails = objection_forms_probe(&forms, true);
    assert!(fails.is_empty(), "{fails:#?}");
}

/// An Excel-mangled NHS number (or junk) beside a name that differs from
/// the cohort's the ordinary way (nickname, married name, moved house): the
/// row is kept as a CLK that matches nobody. The precise key was in the
/// file and was lost; the run must not report success (or the person must
/// still be found).
#[test]
#[ignore = "attack: a present-but-unusable NHS number (Excel 9.99100E+09, =\"...\", N/A) with names is kept as a CLK and exits 0; when the names differ (nickname, married name, moved) the objector is invited"]
fn mangled_nhs_with_inexact_names_is_not_silently_degraded_to_clk() {
    let w = World::new();
    let ps = people(10);
    let mut text = String::from("nhs_number,date_of_birth,given_name,family_name,postcode\n");
    let n = 4;
    for p in &ps[..n] {
        let sci = format!("{}.{}E+09", &p.nhs[..1], &p.nhs[1..6]);
        let junk = [sci, format!("=\"{}\"", p.nhs), "N/A".into(), format!("{}.0", p.nhs)];
        let j = &junk[ps.iter().position(|q| q.nhs == p.nhs).unwrap()];
        text.push_str(&format!("{j},{},{},Marriedname,ZZ9 9ZZ\n", p.dob, &p.given[..3]));
    }
    let nc = w.noncontact(&text, &[]);
    let inv = w.invite(cohort_of(&ps), "", &[]);
    let controls: Vec<&str> = ps[n..].iter().map(|p| p.family.as_str()).collect();
    inv.assert_batch(&[], &controls, "controls");
    let invited: Vec<&str> = ps[..n].iter().filter(|p| inv.invited(&p.family)).map(|p| p.family.as_str()).collect();
    assert!(
        invited.is_empty() || nc.code() == Some(1),
        "objectors with a mangled NHS number invited ({invited:?}) after `noncontact add` exited {:?}: {}",
        nc.code(),
        nc.text()
    );
}

/// The NHS number alone decides: any DOB (one day out, day/month swapped,
/// missing, impossible, another format, junk) still suppresses the person.
#[test]
fn objection_dob_never_needed_for_a_match() {
    let w = World::new();
    let ps = people(16);
    let swap = |d: &str| format!("{}-{}-{}", &d[..4], &d[8..10], &d[5..7]);
    let day_out = |d: &str| {
        let day: u32 = d[8..10].parse().unwrap();
        format!("{}-{:02}", &d[..7], if day == 1 { 2 } else { day - 1 })
    };
    let us = |d: &str| format!("{}/{}/{}", &d[5..7], &d[8..10], &d[..4]);
    let dobs: Vec<(&str, String)> = vec![
        ("one day out", day_out(&ps[0].dob)),
        ("day/month swapped", swap(&ps[1].dob)),
        ("missing", String::new()),
        ("impossible", "1960-02-30".into()),
        ("US format", us(&ps[4].dob)),
        ("future", "2031-01-01".into()),
        ("junk", "unknown".into()),
        ("two-digit year", "01/03/60".into()),
        ("excel serial", "22341".into()),
        ("iso datetime", format!("{}T00:00:00Z", ps[9].dob)),
        ("with spaces", format!(" {} ", ps[10].dob)),
        ("another person's", ps[12].dob.clone()),
    ];
    let rows: Vec<(String, String)> = dobs
        .iter()
        .zip(&ps)
        .map(|((_, d), p)| (p.nhs.clone(), d.clone()))
        .collect();
    let nc = w.noncontact(objections(&rows), &[]);
    assert!(matches!(nc.code(), Some(0 | 1)), "{}", nc.text());
    let inv = w.invite(cohort_of(&ps), "", &[]);
    let controls: Vec<&str> = ps[dobs.len()..].iter().map(|p| p.family.as_str()).collect();
    inv.assert_batch(&[], &controls, "controls");
    let bad: Vec<String> = dobs
        .iter()
        .zip(&ps)
        .filter(|(_, p)| inv.invited(&p.family))
        .map(|((n, d), _)| format!("{n} ({d})"))
        .collect();
    assert!(bad.is_empty(), "invited: {bad:?}\n{}\n{}", nc.text(), nc.rejects);
}

/// An objections file in one of the forms a spreadsheet or another
/// system produces. Safe: exit 0 and every objector suppressed; exit 1
/// and at least as many rows rejected as objectors invited (and the books
/// balance); or exit 2 (refused, nothing echoed).
fn file_probe(ctx: &str, bytes: Vec<u8>, objectors: &[Person], all: &[Person]) {
    let w = World::new();
    let nc = w.noncontact(&bytes, &[]);
    let values: Vec<&str> = all.iter().flat_map(|p| [p.nhs.as_str(), p.family.as_str(), p.given.as_str()]).collect();
    assert_no_echo(&nc.text(), &values, ctx);
    assert_no_echo(&nc.rejects, &values, ctx);
    let inv = w.invite(cohort_of(all), "", &[]);
    let invited: Vec<&str> = objectors
        .iter()
        .filter(|p| inv.invited(&p.family))
        .map(|p| p.family.as_str())
        .collect();
    let controls: Vec<&str> = all
        .iter()
        .filter(|p| !objectors.iter().any(|o| o.nhs == p.nhs))
        .map(|p| p.family.as_str())
        .collect();
    inv.assert_batch(&[], &controls, ctx);
    match nc.code() {
        Some(0) => assert!(
            invited.is_empty(),
            "{ctx}: exit 0 but {} of {} objectors invited: {invited:?}\n{}",
            invited.len(),
            objectors.len(),
            nc.text()
        ),
        Some(1) => {
            let m = nc.manifest.as_ref().expect("manifest");
            let r = &m["rows"];
            assert_eq!(
                r["in"].as_u64().unwrap(),
                r["out"].as_u64().unwrap() + r["rejected"].as_u64().unwrap(),
                "{ctx}: {r}"
            );
            assert!(
                r["rejected"].as_u64().unwrap() >= invited.len() as u64,
                "{ctx}: exit 1 but {} objectors invited and only {} rows rejected\n{}",
                invited.len(),
                r["rejected"],
                nc.text()
            );
        }
        Some(2) => assert!(!stderr(&nc.out).is_empty(), "{ctx}: exit 2 without a message"),
        c => panic!("{ctx}: exit {c:?}: {}", nc.text()),
    }
    if nc.code() == Some(0) {
        // every data row accounted for
        let m = nc.manifest.as_ref().expect("manifest");
        assert_eq!(m["rows"]["rejected"], 0, "{ctx}");
        assert!(m["rows"]["in"].as_u64().unwrap() >= objectors.len() as u64, "{ctx}: {}", m["rows"]);
    }
}

fn obj_lines(objectors: &[Person]) -> Vec<String> {
    objectors
        .iter()
        .map(|p| format!("{},{},{},{},{}", p.nhs, p.dob, p.given, p.family, p.postcode))
        .collect()
}
const OBJ_HEADER: &str = "nhs_number,date_of_birth,given_name,family_name,postcode";

fn setup_file(n_obj: usize) -> (Vec<Person>, Vec<Person>) {
    let all = people(n_obj + 4);
    (all[..n_obj].to_vec(), all)
}

#[test]
fn objections_with_utf8_bom() {
    let (o, all) = setup_file(6);
    let t = format!("\u{feff}{OBJ_HEADER}\n{}\n", obj_lines(&o).join("\n"));
    file_probe("utf8 bom", t.into_bytes(), &o, &all);
}

#[test]
fn objections_with_crlf() {
    let (o, all) = setup_file(6);
    let t = format!("{OBJ_HEADER}\r\n{}\r\n", obj_lines(&o).join("\r\n"));
    file_probe("crlf", t.into_bytes(), &o, &all);
}

#[test]
fn objections_with_lone_cr() {
    let (o, all) = setup_file(6);
    let t = format!("{OBJ_HEADER}\r{}\r", obj_lines(&o).join("\r"));
    file_probe("lone cr", t.into_bytes(), &o, &all);
}

#[test]
fn objections_with_mixed_line_endings() {
    let (o, all) = setup_file(6);
    let l = obj_lines(&o);
    let t = format!("{OBJ_HEADER}\r\n{}\r{}\n{}\r\n{}\r{}\n{}", l[0], l[1], l[2], l[3], l[4], l[5]);
    file_probe("mixed endings", t.into_bytes(), &o, &all);
}

#[test]
fn objections_in_utf16le() {
    let (o, all) = setup_file(6);
    let t = format!("\u{feff}{OBJ_HEADER}\r\n{}\r\n", obj_lines(&o).join("\r\n"));
    let b: Vec<u8> = t.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    file_probe("utf16le", b, &o, &all);
}

#[test]
fn objections_in_utf16be_without_bom() {
    let (o, all) = setup_file(6);
    let t = format!("{OBJ_HEADER}\n{}\n", obj_lines(&o).join("\n"));
    let b: Vec<u8> = t.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
    file_probe("utf16be", b, &o, &all);
}

#[test]
fn objections_with_latin1_names() {
    let (o, all) = setup_file(6);
    let mut b = format!("{OBJ_HEADER}\n").into_bytes();
    for (i, l) in obj_lines(&o).iter().enumerate() {
        b.extend_from_slice(l.as_bytes());
        if i % 2 == 0 {
            // a Latin-1 é in the postcode's neighbour: the family name
            b.extend_from_slice(b"\xe9");
        }
        b.push(b'\n');
    }
    // The CLK names no longer match exactly; the NHS number still does.
    file_probe("latin1", b, &o, &all);
}

#[test]
fn objections_with_trailing_delimiters() {
    let (o, all) = setup_file(6);
    let t = format!("{OBJ_HEADER},\n{}\n", obj_lines(&o).iter().map(|l| format!("{l},")).collect::<Vec<_>>().join("\n"));
    file_probe("trailing delimiter (header too)", t.into_bytes(), &o, &all);
    let t = format!("{OBJ_HEADER}\n{}\n", obj_lines(&o).iter().map(|l| format!("{l},")).collect::<Vec<_>>().join("\n"));
    file_probe("trailing delimiter (rows only)", t.into_bytes(), &o, &all);
}

#[test]
fn objections_with_ragged_rows() {
    let (o, all) = setup_file(6);
    let t = format!(
        "{OBJ_HEADER}\n{}\n",
        o.iter()
            .enumerate()
            .map(|(i, p)| match i % 3 {
                0 => format!("{},{}", p.nhs, p.dob),
                1 => format!("{},{},{},{},{},extra,cells", p.nhs, p.dob, p.given, p.family, p.postcode),
                _ => p.nhs.clone(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    );
    file_probe("ragged rows", t.into_bytes(), &o, &all);
}

#[test]
fn objections_with_quoted_and_variant_headers() {
    let (o, all) = setup_file(5);
    for h in [
        "\"nhs_number\",\"date_of_birth\",\"given_name\",\"family_name\",\"postcode\"",
        "NHS Number,Date of Birth,Given Name,Family Name,Postcode",
        "nhs number ,dob,given_name,family_name,postcode",
        " nhs_number,date_of_birth,given_name,family_name,postcode",
        "NHS_NUMBER,DATE_OF_BIRTH,GIVEN_NAME,FAMILY_NAME,POSTCODE",
        "NHS No,DOB,Forename,Surname,Postcode",
        "NHS No.,D.O.B.,First name,Last name,Post code",
        "nhsnumber,birth_date,given_name,family_name,postcode",
        "NHS\u{a0}Number,dob,given_name,family_name,postcode",
    ] {
        let t = format!("{h}\n{}\n", obj_lines(&o).join("\n"));
        file_probe(&format!("header {h:?}"), t.into_bytes(), &o, &all);
    }
}

#[test]
fn objections_with_duplicated_nhs_column() {
    let (o, all) = setup_file(5);
    // first nhs_number column blank, the second holds the numbers
    let t = format!(
        "nhs_number,date_of_birth,nhs_number\n{}\n",
        o.iter().map(|p| format!(",{},{}", p.dob, p.nhs)).collect::<Vec<_>>().join("\n")
    );
    file_probe("duplicate nhs column (first blank)", t.into_bytes(), &o, &all);
    // two different NHS-number columns (nhs_no and nhs_number)
    let t = format!(
        "nhs_no,date_of_birth,nhs_number\n{}\n",
        o.iter().map(|p| format!(",{},{}", p.dob, p.nhs)).collect::<Vec<_>>().join("\n")
    );
    file_probe("nhs_no blank + nhs_number", t.into_bytes(), &o, &all);
}

/// Issue 15 item 1: one unclosed quote must not swallow the rest.
#[test]
#[ignore = "attack: an unclosed quote on row 2 swallows 48 of 50 objections; noncontact add says added 2 (of 2 rows), exit 0 (issue 15 item 1)"]
fn objections_with_unclosed_quote_in_the_middle() {
    let (o, all) = setup_file(50);
    let mut lines = vec!["nhs_number,date_of_birth,note".to_string()];
    for (i, p) in o.iter().enumerate() {
        let note = if i == 1 { "\"Please do not contact me" } else { "" };
        lines.push(format!("{},{},{note}", p.nhs, p.dob));
    }
    file_probe("unclosed quote", (lines.join("\n") + "\n").into_bytes(), &o, &all);
}

/// A quote opened mid-field (not at the start): lenient readers treat it
/// as a literal, strict ones as an error; neither may lose rows silently.
#[test]
fn objections_with_stray_quotes() {
    let (o, all) = setup_file(8);
    let mut lines = vec!["nhs_number,date_of_birth,note".to_string()];
    for (i, p) in o.iter().enumerate() {
        let note = match i {
            1 => "said \"no thanks",
            3 => "\"quoted\" then more",
            5 => "\"\"",
            _ => "",
        };
        lines.push(format!("{},{},{note}", p.nhs, p.dob));
    }
    file_probe("stray quotes", (lines.join("\n") + "\n").into_bytes(), &o, &all);
}

#[test]
fn objections_with_blank_and_whitespace_lines_in_the_middle() {
    let (o, all) = setup_file(6);
    let l = obj_lines(&o);
    let t = format!("{OBJ_HEADER}\n{}\n{}\n\n{}\n   \n{}\n,,,,\n{}\n\n\n{}\n", l[0], l[1], l[2], l[3], l[4], l[5]);
    file_probe("blank lines", t.into_bytes(), &o, &all);
}

#[test]
fn objections_file_of_only_a_header_or_empty() {
    let all = people(4);
    for t in [format!("{OBJ_HEADER}\n"), OBJ_HEADER.to_string(), String::new(), "\n".into()] {
        file_probe(&format!("{t:?}"), t.into_bytes(), &[], &all);
    }
}

#[test]
fn objections_semicolon_or_tab_delimited() {
    let (o, all) = setup_file(5);
    for d in [";", "\t", "|"] {
        let t = format!(
            "{}\n{}\n",
            OBJ_HEADER.replace(',', d),
            obj_lines(&o).iter().map(|l| l.replace(',', d)).collect::<Vec<_>>().join("\n")
        );
        file_probe(&format!("delimiter {d:?}"), t.into_bytes(), &o, &all);
    }
}

/// Two exports concatenated: the second header sits in the middle.
#[test]
fn objections_concatenated_files() {
    let (o, all) = setup_file(8);
    let l = obj_lines(&o);
    let t = format!("{OBJ_HEADER}\n{}\n{OBJ_HEADER}\n{}\n", l[..4].join("\n"), l[4..].join("\n"));
    file_probe("concatenated", t.into_bytes(), &o, &all);
    // the second file without a final newline before the next header
    let t = format!("{OBJ_HEADER}\n{}{OBJ_HEADER}\n{}\n", l[..4].join("\n"), l[4..].join("\n"));
    file_probe("concatenated without newline", t.into_bytes(), &o, &all);
}

/// A NUL byte or control characters in an unrelated column.
#[test]
fn objections_with_control_bytes_in_other_columns() {
    let (o, all) = setup_file(6);
    let t = format!(
        "{OBJ_HEADER}\n{}\n",
        o.iter()
            .enumerate()
            .map(|(i, p)| format!("{},{},{}{},{},{}", p.nhs, p.dob, p.given, ["\0", "\x1b[2J", "\x0c", "\x7f", "\u{85}", "\u{2028}"][i], p.family, p.postcode))
            .collect::<Vec<_>>()
            .join("\n")
    );
    file_probe("control bytes", t.into_bytes(), &o, &all);
}
