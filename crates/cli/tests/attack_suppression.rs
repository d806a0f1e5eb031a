//! Adversarial tests of the suppression promise (issue 14; issue 15 item 1):
//! whoever asked not to be contacted, is excluded or already enrolled is
//! never invited, whatever the lists look like, and a run that had to drop
//! rows a person's safety depends on does not report success.
//!
//! Each probe asserts the safe outcome on the batch's contents: the person
//! is not in the batch, or the run that lost their row failed loudly (exit
//! 1 with the row in the rejects file, or exit 2 with no batch). Probes
//! that found a defect were fixed; one documented limitation stays ignored.

use crate::common;
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
    let values: Vec<&str> = ps
        .iter()
        .flat_map(|p| [p.nhs.as_str(), p.family.as_str()])
        .collect();
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
    let others: Vec<&str> = ps
        .iter()
        .filter(|p| p.nhs != ps[3].nhs)
        .map(|p| p.family.as_str())
        .collect();
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
    let text = objections(
        &forms
            .iter()
            .zip(&ps)
            .map(|((_, f), p)| (f.clone(), p.dob.clone()))
            .collect::<Vec<_>>(),
    );
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
    assert!(
        bad.is_empty(),
        "invited despite objection: {bad:?}\nnc: {}",
        nc.text()
    );
    assert_eq!(
        nc.code(),
        Some(0),
        "normalisable forms rejected: {}\n{}",
        nc.text(),
        nc.rejects
    );
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
fn mangled_nhs_with_inexact_names_is_not_silently_degraded_to_clk() {
    let w = World::new();
    let ps = people(10);
    let mut text = String::from("nhs_number,date_of_birth,given_name,family_name,postcode\n");
    let n = 4;
    for p in &ps[..n] {
        let sci = format!("{}.{}E+09", &p.nhs[..1], &p.nhs[1..6]);
        let junk = [
            sci,
            format!("=\"{}\"", p.nhs),
            "N/A".into(),
            format!("{}.0", p.nhs),
        ];
        let j = &junk[ps.iter().position(|q| q.nhs == p.nhs).unwrap()];
        text.push_str(&format!("{j},{},{},Marriedname,ZZ9 9ZZ\n", p.dob, &p.given[..3]));
    }
    let nc = w.noncontact(&text, &[]);
    let inv = w.invite(cohort_of(&ps), "", &[]);
    let controls: Vec<&str> = ps[n..].iter().map(|p| p.family.as_str()).collect();
    inv.assert_batch(&[], &controls, "controls");
    let invited: Vec<&str> = ps[..n]
        .iter()
        .filter(|p| inv.invited(&p.family))
        .map(|p| p.family.as_str())
        .collect();
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
    let values: Vec<&str> = all
        .iter()
        .flat_map(|p| [p.nhs.as_str(), p.family.as_str(), p.given.as_str()])
        .collect();
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
        assert!(
            m["rows"]["in"].as_u64().unwrap() >= objectors.len() as u64,
            "{ctx}: {}",
            m["rows"]
        );
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
    let t = format!(
        "{OBJ_HEADER}\r\n{}\r{}\n{}\r\n{}\r{}\n{}",
        l[0], l[1], l[2], l[3], l[4], l[5]
    );
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
    let t = format!(
        "{OBJ_HEADER},\n{}\n",
        obj_lines(&o)
            .iter()
            .map(|l| format!("{l},"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    file_probe("trailing delimiter (header too)", t.into_bytes(), &o, &all);
    let t = format!(
        "{OBJ_HEADER}\n{}\n",
        obj_lines(&o)
            .iter()
            .map(|l| format!("{l},"))
            .collect::<Vec<_>>()
            .join("\n")
    );
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
                1 => format!(
                    "{},{},{},{},{},extra,cells",
                    p.nhs, p.dob, p.given, p.family, p.postcode
                ),
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
        o.iter()
            .map(|p| format!(",{},{}", p.dob, p.nhs))
            .collect::<Vec<_>>()
            .join("\n")
    );
    file_probe("duplicate nhs column (first blank)", t.into_bytes(), &o, &all);
    // two different NHS-number columns (nhs_no and nhs_number)
    let t = format!(
        "nhs_no,date_of_birth,nhs_number\n{}\n",
        o.iter()
            .map(|p| format!(",{},{}", p.dob, p.nhs))
            .collect::<Vec<_>>()
            .join("\n")
    );
    file_probe("nhs_no blank + nhs_number", t.into_bytes(), &o, &all);
}

/// Issue 15 item 1: one unclosed quote must not swallow the rest.
#[test]
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
    let t = format!(
        "{OBJ_HEADER}\n{}\n{}\n\n{}\n   \n{}\n,,,,\n{}\n\n\n{}\n",
        l[0], l[1], l[2], l[3], l[4], l[5]
    );
    file_probe("blank lines", t.into_bytes(), &o, &all);
}

#[test]
fn objections_file_of_only_a_header_or_empty() {
    let all = people(4);
    for t in [
        format!("{OBJ_HEADER}\n"),
        OBJ_HEADER.to_string(),
        String::new(),
        "\n".into(),
    ] {
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
            obj_lines(&o)
                .iter()
                .map(|l| l.replace(',', d))
                .collect::<Vec<_>>()
                .join("\n")
        );
        file_probe(&format!("delimiter {d:?}"), t.into_bytes(), &o, &all);
    }
}

/// Two exports concatenated: the second header sits in the middle.
#[test]
fn objections_concatenated_files() {
    let (o, all) = setup_file(8);
    let l = obj_lines(&o);
    let t = format!(
        "{OBJ_HEADER}\n{}\n{OBJ_HEADER}\n{}\n",
        l[..4].join("\n"),
        l[4..].join("\n")
    );
    file_probe("concatenated", t.into_bytes(), &o, &all);
    // the second file without a final newline before the next header
    let t = format!(
        "{OBJ_HEADER}\n{}{OBJ_HEADER}\n{}\n",
        l[..4].join("\n"),
        l[4..].join("\n")
    );
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
            .map(|(i, p)| format!(
                "{},{},{}{},{},{}",
                p.nhs,
                p.dob,
                p.given,
                ["\0", "\x1b[2J", "\x0c", "\x7f", "\u{85}", "\u{2028}"][i],
                p.family,
                p.postcode
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
    file_probe("control bytes", t.into_bytes(), &o, &all);
}

// ---------------------------------------------------------------- cohort

const FLAGS: [&str; 5] = [
    "deceased",
    "national_data_opt_out",
    "s_flag",
    "armed_forces",
    "prison",
];

/// Run a cohort whose rows are given; `excluded` must not be invited,
/// `controls` must be. Safe also: exit 2 with no batch.
fn cohort_probe(
    ctx: &str,
    rows: &[Vec<String>],
    excluded: &[&Person],
    controls: &[&Person],
    req: &str,
) -> Inv {
    let w = World::new();
    let inv = w.invite(cohort_csv(rows), req, &[]);
    cohort_check(ctx, &inv, excluded, controls);
    inv
}

fn cohort_check(ctx: &str, inv: &Inv, excluded: &[&Person], controls: &[&Person]) {
    if inv.batch.is_none() && inv.code() == Some(2) {
        return; // refused loudly
    }
    let ex: Vec<&str> = excluded.iter().map(|p| p.family.as_str()).collect();
    let co: Vec<&str> = controls.iter().map(|p| p.family.as_str()).collect();
    inv.assert_batch(&ex, &co, ctx);
}

fn with(p: &Person, f: impl Fn(&mut Vec<String>)) -> Vec<String> {
    let mut r = row(p);
    f(&mut r);
    r
}

/// A second (or first, or third) row for a person carrying an exclusion
/// excludes the person.
#[test]
fn duplicate_rows_with_conflicting_flags_exclude_the_person() {
    let ps = people(40);
    let mut rows = Vec::new();
    let mut excluded = Vec::new();
    let mut i = 0;
    for f in FLAGS {
        for place in 0..3 {
            let p = &ps[i];
            i += 1;
            let flagged = with(p, |r| r[col(f)] = "1".into());
            match place {
                0 => rows.extend([row(p), flagged]),
                1 => rows.extend([flagged, row(p)]),
                _ => rows.extend([row(p), row(p), flagged]),
            }
            excluded.push(p);
        }
    }
    let controls: Vec<&Person> = ps[i..].iter().collect();
    rows.extend(controls.iter().map(|p| row(p)));
    let inv = cohort_probe("duplicate flags", &rows, &excluded, &controls, "");
    inv.assert_accounted(rows.len() as u64);
    assert!(inv.stage("duplicate_person_excluded") > 0, "{}", inv.text());
}

/// A flag value that is not understood must not mean "not excluded".
#[test]
fn unrecognised_flag_values_never_mean_not_excluded() {
    let values = [
        "1",
        "Y",
        "y",
        "yes",
        "YES",
        "Yes ",
        "TRUE",
        "true",
        "T",
        "1 ",
        " 1",
        "1.0",
        "01",
        "2",
        "-1",
        "x",
        "X",
        "D",
        "deceased",
        "?",
        "N/A",
        "unknown",
        "ja",
        "on",
        "\u{a0}1",
        "\u{ff11}",
        "\u{661}",
        "1\u{200b}",
        "\"1\"",
        "'1",
        "=1",
        "Y\u{a0}",
    ];
    let ps = people(values.len() * FLAGS.len() / 2 + 12);
    let mut rows = Vec::new();
    let mut excluded = Vec::new();
    let mut i = 0;
    for (k, v) in values.iter().enumerate() {
        // each value on two of the five flags, rotating
        for f in [FLAGS[k % 5], FLAGS[(k + 2) % 5]] {
            let p = &ps[i % (ps.len() - 8)];
            let _ = p;
            let q = &ps[i];
            i += 1;
            rows.push(with(q, |r| r[col(f)] = v.to_string()));
            excluded.push((q, f, *v));
        }
    }
    let controls: Vec<&Person> = ps[i..].iter().collect();
    rows.extend(controls.iter().map(|p| row(p)));
    let w = World::new();
    let inv = w.invite(cohort_csv(&rows), "", &[]);
    let co: Vec<&str> = controls.iter().map(|p| p.family.as_str()).collect();
    inv.assert_batch(&[], &co, "controls");
    let bad: Vec<String> = excluded
        .iter()
        .filter(|(p, _, _)| inv.invited(&p.family))
        .map(|(_, f, v)| format!("{f}={v:?}"))
        .collect();
    assert!(bad.is_empty(), "invited with an exclusion flag value: {bad:?}");
    inv.assert_accounted(rows.len() as u64);
}

/// The same unrecognised values on a duplicate row of a person whose other
/// row is clean.
#[test]
fn unrecognised_flag_values_on_a_duplicate_row_exclude_the_person() {
    let values = [
        "Y", "yes", "TRUE", "1 ", "x", "?", "unknown", "\u{ff11}", "1.0", "2",
    ];
    let ps = people(values.len() + 4);
    let mut rows = Vec::new();
    for (p, v) in ps.iter().zip(values) {
        rows.push(row(p));
        rows.push(with(p, |r| r[col("deceased")] = v.to_string()));
    }
    let controls: Vec<&Person> = ps[values.len()..].iter().collect();
    rows.extend(controls.iter().map(|p| row(p)));
    let w = World::new();
    let inv = w.invite(cohort_csv(&rows), "", &[]);
    let co: Vec<&str> = controls.iter().map(|p| p.family.as_str()).collect();
    inv.assert_batch(&[], &co, "controls");
    let bad: Vec<String> = ps
        .iter()
        .zip(values)
        .filter(|(p, _)| inv.invited(&p.family))
        .map(|(_, v)| format!("deceased={v:?}"))
        .collect();
    assert!(bad.is_empty(), "invited: {bad:?}\n{}", inv.text());
}

/// The flagged duplicate row writes the NHS number differently.
#[test]
fn duplicate_row_with_nhs_number_in_another_form_excludes_the_person() {
    let ps = people(20);
    type Form = (&'static str, fn(&str) -> String);
    let forms: Vec<Form> = vec![
        ("spaces", |n| split3(n, " ")),
        ("hyphens", |n| split3(n, "-")),
        ("nbsp", |n| split3(n, "\u{a0}")),
        ("zwsp", |n| format!("{n}\u{200b}")),
        ("full-width", |n| digits_in(n, 0xff10)),
        ("apostrophe", |n| format!("'{n}")),
        ("padded", |n| format!(" {n} ")),
        ("en dash", |n| split3(n, "\u{2013}")),
    ];
    let mut rows = Vec::new();
    for (k, (_, f)) in forms.iter().enumerate() {
        let p = &ps[k];
        // clean row in plain form; flagged row in the other form — and the
        // other way round for odd k
        let flagged = with(p, |r| {
            r[col("national_data_opt_out")] = "1".into();
            if k % 2 == 0 {
                r[0] = f(&p.nhs);
            }
        });
        let clean = with(p, |r| {
            if k % 2 == 1 {
                r[0] = f(&p.nhs);
            }
        });
        rows.extend([clean, flagged]);
    }
    let controls: Vec<&Person> = ps[forms.len()..].iter().collect();
    rows.extend(controls.iter().map(|p| row(p)));
    let w = World::new();
    let inv = w.invite(cohort_csv(&rows), "", &[]);
    let co: Vec<&str> = controls.iter().map(|p| p.family.as_str()).collect();
    inv.assert_batch(&[], &co, "controls");
    let bad: Vec<&str> = forms
        .iter()
        .zip(&ps)
        .filter(|(_, p)| inv.invited(&p.family))
        .map(|((n, _), _)| *n)
        .collect();
    assert!(
        bad.is_empty(),
        "opted-out person invited when the duplicate row's NHS number was written as {bad:?}"
    );
    inv.assert_accounted(rows.len() as u64);
}

/// The flagged row is dropped earlier in the funnel for another reason
/// (out of the age range, no contact details, rejected): its exclusion
/// must still reach the person's other row.
#[test]
fn exclusion_on_a_row_dropped_for_another_reason_still_excludes_the_person() {
    let ps = people(20);
    type Mut = fn(&mut Vec<String>);
    let cases: Vec<(&str, Mut)> = vec![
        ("out of age range", |r| {
            r[col("date_of_birth")] = "1996-05-05".into()
        }),
        ("impossible dob", |r| {
            r[col("date_of_birth")] = "1960-02-30".into()
        }),
        ("blank dob", |r| r[col("date_of_birth")] = String::new()),
        ("no contact details", |r| {
            for c in ["address_line_1", "address_line_2", "postcode", "mobile", "email"] {
                r[col(c)] = String::new();
            }
        }),
        ("bad sex", |r| r[col("sex")] = "zz".into()),
        ("bad postcode", |r| r[col("postcode")] = "NOT A POSTCODE".into()),
        ("bad region", |r| r[col("region")] = "Atlantis".into()),
        ("excluded condition", |r| {
            r[col("conditions")] = "363346000".into()
        }),
        ("wrong sex for criteria", |r| r[col("sex")] = "male".into()),
        ("blank given name", |r| r[col("given_name")] = String::new()),
    ];
    let req =
        "[criteria]\nmin_age = 50\nmax_age = 77\nsex = [\"female\"]\nexcluded_conditions = [\"363346000\"]\n";
    let mut rows = Vec::new();
    for (k, (_, m)) in cases.iter().enumerate() {
        let p = &ps[k];
        let mut flagged = with(p, |r| r[col("deceased")] = "1".into());
        m(&mut flagged);
        if k % 2 == 0 {
            rows.extend([row(p), flagged]);
        } else {
            rows.extend([flagged, row(p)]);
        }
    }
    let controls: Vec<&Person> = ps[cases.len()..].iter().collect();
    rows.extend(controls.iter().map(|p| row(p)));
    let w = World::new();
    let inv = w.invite(cohort_csv(&rows), req, &[]);
    let co: Vec<&str> = controls.iter().map(|p| p.family.as_str()).collect();
    inv.assert_batch(&[], &co, "controls");
    let bad: Vec<&str> = cases
        .iter()
        .zip(&ps)
        .filter(|(_, p)| inv.invited(&p.family))
        .map(|((n, _), _)| *n)
        .collect();
    assert!(
        bad.is_empty(),
        "deceased person invited when the deceased row was {bad:?}\n{}",
        inv.text()
    );
    inv.assert_accounted(rows.len() as u64);
}

/// A cohort without one of the exclusion columns, or with it named
/// differently, must be refused (not read as "nobody is excluded").
#[test]
fn cohort_missing_or_renamed_exclusion_column_is_refused_or_excludes() {
    let ps = people(8);
    for f in FLAGS {
        for variant in [
            "missing",
            "capitalised",
            "trailing space",
            "renamed",
            "duplicated",
        ] {
            let mut header: Vec<String> = HEADER.iter().map(|s| s.to_string()).collect();
            let fi = col(f);
            let mut rows: Vec<Vec<String>> = ps
                .iter()
                .enumerate()
                .map(|(i, p)| with(p, |r| r[fi] = if i == 0 { "1".into() } else { "0".into() }))
                .collect();
            match variant {
                "missing" => {
                    header.remove(fi);
                    for r in &mut rows {
                        r.remove(fi);
                    }
                }
                "capitalised" => header[fi] = f.to_uppercase(),
                "trailing space" => header[fi] = format!("{f} "),
                "renamed" => header[fi] = format!("{f}_flag"),
                _ => {
                    // a second column of the same name, holding the 1
                    header.push(f.to_string());
                    for (i, r) in rows.iter_mut().enumerate() {
                        r[fi] = "0".into();
                        r.push(if i == 0 { "1".into() } else { "0".into() });
                    }
                }
            }
            let mut text = header.join(",") + "\n";
            for r in &rows {
                text.push_str(&csv_line(r));
                text.push('\n');
            }
            let w = World::new();
            let inv = w.invite(&text, "", &[]);
            let ctx = format!("{f} column {variant}");
            if matches!(variant, "missing" | "renamed" | "duplicated")
                && inv.batch.is_none()
                && inv.code() == Some(2)
            {
                continue;
            }
            cohort_check(&ctx, &inv, &[&ps[0]], &ps[1..].iter().collect::<Vec<_>>());
        }
    }
}

#[test]
fn cohort_line_endings_and_encoding_keep_the_flag() {
    let ps = people(8);
    let mut rows: Vec<Vec<String>> = ps.iter().map(row).collect();
    // the excluded person last, where a line ending lands on the flag
    rows.swap(0, 7);
    rows[7][col("national_data_opt_out")] = "1".into();
    let lf = cohort_csv(&rows);
    let no_final = lf.trim_end().to_string();
    let variants: Vec<(&str, Vec<u8>)> = vec![
        ("crlf", lf.replace('\n', "\r\n").into_bytes()),
        ("lone cr", lf.replace('\n', "\r").into_bytes()),
        ("no final newline", no_final.clone().into_bytes()),
        (
            "crlf no final newline",
            no_final.replace('\n', "\r\n").into_bytes(),
        ),
        ("bom", format!("\u{feff}{lf}").into_bytes()),
        ("trailing spaces", lf.replace('\n', "  \n").into_bytes()),
        ("trailing comma", lf.replace('\n', ",\n").into_bytes()),
        ("trailing tab", lf.replace('\n', "\t\n").into_bytes()),
        ("nbsp after flag", lf.replace('\n', "\u{a0}\n").into_bytes()),
    ];
    for (name, bytes) in variants {
        let w = World::new();
        let inv = w.invite(&bytes, "", &[]);
        if name == "nbsp after flag" {
            // every row's last flag is unreadable: nobody invited is safe
            assert!(
                !inv.invited(&ps[0].family),
                "{name}: opted-out person invited\n{}",
                inv.text()
            );
            continue;
        }
        cohort_check(name, &inv, &[&ps[0]], &ps[1..7].iter().collect::<Vec<_>>());
    }
}

/// An unclosed quote in one row must not swallow a later row that carries
/// a person's exclusion (their earlier clean row would then be invited).
#[test]
fn cohort_unclosed_quote_does_not_swallow_an_exclusion_row() {
    let ps = people(8);
    let mut rows: Vec<Vec<String>> = ps.iter().map(row).collect();
    rows.insert(2, with(&ps[0], |r| r[col("deceased")] = "1".into()));
    let text = cohort_csv(&rows)
        .lines()
        .map(|l| {
            if l.starts_with(&ps[1].nhs) {
                l.replacen("1 High Street", "\"1 High Street", 1)
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    let w = World::new();
    let inv = w.invite(&text, "", &[]);
    if inv.batch.is_none() && matches!(inv.code(), Some(1 | 2)) {
        return;
    }
    assert!(
        !inv.invited(&ps[0].family),
        "deceased person invited: the unclosed quote swallowed their row\n{}",
        inv.text()
    );
    inv.assert_accounted(rows.len() as u64);
}

/// The cohort writes an objector's NHS number in a form the cohort reader
/// accepts: the objection (plain) must still match.
#[test]
fn cohort_nhs_forms_still_match_the_objection() {
    let n = normalisable_forms("9990000000").len();
    let ps = people(n + 4);
    let forms = forms_for(&ps, normalisable_forms);
    let w = World::new();
    let nc = w.noncontact(
        objections(
            &ps[..n]
                .iter()
                .map(|p| (p.nhs.clone(), p.dob.clone()))
                .collect::<Vec<_>>(),
        ),
        &[],
    );
    assert_eq!(nc.code(), Some(0), "{}", nc.text());
    let rows: Vec<Vec<String>> = ps
        .iter()
        .enumerate()
        .map(|(i, p)| {
            with(p, |r| {
                if i < n {
                    r[0] = forms[i].1.clone()
                }
            })
        })
        .collect();
    let inv = w.invite(cohort_csv(&rows), "", &[]);
    let co: Vec<&str> = ps[n..].iter().map(|p| p.family.as_str()).collect();
    inv.assert_batch(&[], &co, "controls");
    let bad: Vec<&str> = forms
        .iter()
        .zip(&ps)
        .filter(|(_, p)| inv.invited(&p.family))
        .map(|((n, _), _)| *n)
        .collect();
    assert!(
        bad.is_empty(),
        "objector invited when the cohort wrote the NHS number as {bad:?}"
    );
}

// -------------------------------------------------------------- enrolled

/// A registered study `enr` with an enrolled basis, its trial key, and a
/// helper that pseudonymises an enrolled CSV under it.
struct Trial {
    w: World,
    trial_key: std::path::PathBuf,
}

impl Trial {
    fn new() -> Trial {
        let w = World::new();
        let entry = w.write(
            "enr.toml",
            "study = \"enr\"\norganisation = \"Example Trials Unit\"\nroutes = [\"service-mailer\"]\n\
             channels = [\"postal\"]\nretain_until = \"2099-12-31\"\n[approvals]\nethics_reference = \"24/NE/0001\"\n\
             dsa_reference = \"DSA-1\"\ndsa_expires = \"2099-12-31\"\nregistry_basis = \"consent\"\nenrolled_basis = \"consent\"\n",
        );
        let o = run(&[
            "study",
            "add",
            "--store",
            &pstr(&w.store),
            "--operator",
            "alice",
            &pstr(&entry),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let trial_key = w.path("trial.key");
        let o = run(&[
            "keys",
            "derive",
            "--from",
            &pstr(&w.key),
            "--scope",
            "trial:enr",
            "--store",
            &pstr(&w.store),
            "--out",
            &pstr(&trial_key),
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        Trial { w, trial_key }
    }
    fn tokens(&self, name: &str, csv: &str, extra: &[&str]) -> (std::process::Output, std::path::PathBuf) {
        let input = self.w.write(&format!("{name}.csv"), csv);
        let out = self.w.path(&format!("{name}.tokens.csv"));
        let mut a = vec![
            "pseudonymise".to_string(),
            "--key".into(),
            pstr(&self.trial_key),
            "--input".into(),
            pstr(&input),
            "--output".into(),
            pstr(&out),
            "--as-of".into(),
            "2026-11-21".into(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        (bin().args(&a).output().unwrap(), out)
    }
    fn invite(&self, cohort: &str, enrolled: &std::path::Path) -> Inv {
        self.w.invite_as(
            "enr",
            "2026-11-21",
            "2026-11-21",
            cohort,
            "reinvite = true",
            &["--enrolled", &pstr(enrolled)],
        )
    }
}

fn shift_day(d: &str) -> String {
    let day: u32 = d[8..10].parse().unwrap();
    format!("{}-{:02}", &d[..7], if day == 1 { 2 } else { day - 1 })
}

/// An enrolled list with `nhs_token`: a DOB that differs from the cohort's
/// (one day out, swapped, another format) still suppresses.
#[test]
fn enrolled_with_nhs_token_matches_whatever_the_dob() {
    let t = Trial::new();
    let pp = people(10);
    let swap = |d: &str| format!("{}-{}-{}", &d[..4], &d[8..10], &d[5..7]);
    let csv = format!(
        "nhs_number,date_of_birth\n{},{}\n{},{}\n{},{}/{}/{}\n",
        pp[0].nhs,
        shift_day(&pp[0].dob),
        pp[1].nhs,
        swap(&pp[1].dob),
        pp[2].nhs,
        &pp[2].dob[8..10],
        &pp[2].dob[5..7],
        &pp[2].dob[..4]
    );
    let (o, tok) = t.tokens("enr1", &csv, &["--with-nhs-token"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let inv = t.invite(&cohort_of(&pp), &tok);
    let co: Vec<&str> = pp[3..].iter().map(|p| p.family.as_str()).collect();
    inv.assert_batch(
        &[&pp[0].family, &pp[1].family, &pp[2].family],
        &co,
        "enrolled nhs_token",
    );
}

/// The enrolled CSV writes NHS numbers the way `noncontact add` accepts
/// (NBSP, full-width digits, a leading apostrophe): the trial's
/// pseudonymise run must read them the same, or fail loudly, and invite
/// must not use a short list silently.
#[test]
fn enrolled_nhs_forms_that_noncontact_accepts() {
    let t = Trial::new();
    let pp = people(8);
    let csv = format!(
        "nhs_number,date_of_birth\n{},{}\n{},{}\n'{},{}\n",
        split3(&pp[0].nhs, "\u{a0}"),
        pp[0].dob,
        digits_in(&pp[1].nhs, 0xff10),
        pp[1].dob,
        pp[2].nhs,
        pp[2].dob
    );
    let (o, tok) = t.tokens("enr1b", &csv, &["--with-nhs-token"]);
    let pseudo = o.status.code();
    let inv = t.invite(&cohort_of(&pp), &tok);
    if pseudo == Some(1) || inv.code() == Some(1) || (inv.code() == Some(2) && inv.batch.is_none()) {
        return;
    }
    let co: Vec<&str> = pp[3..].iter().map(|p| p.family.as_str()).collect();
    inv.assert_batch(
        &[&pp[0].family, &pp[1].family, &pp[2].family],
        &co,
        "enrolled nhs forms",
    );
}

/// Cohort dates in another accepted format still meet the enrolled
/// NHS+DOB token.
#[test]
fn enrolled_nhs_dob_tokens_match_a_cohort_dob_in_another_format() {
    let t = Trial::new();
    let ps = people(8);
    let csv = format!(
        "nhs_number,date_of_birth\n{},{}\n{},{}\n",
        ps[0].nhs, ps[0].dob, ps[1].nhs, ps[1].dob
    );
    let (o, tok) = t.tokens("enr2", &csv, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<Vec<String>> = ps
        .iter()
        .enumerate()
        .map(|(i, p)| {
            with(p, |r| {
                let d = &p.dob;
                r[col("date_of_birth")] = match i {
                    0 => format!("{}/{}/{}", &d[8..10], &d[5..7], &d[..4]),
                    1 => format!("{}.{}.{}", &d[8..10], &d[5..7], &d[..4]),
                    _ => d.clone(),
                }
            })
        })
        .collect();
    let inv = t.invite(&cohort_csv(&rows), &tok);
    let co: Vec<&str> = ps[2..].iter().map(|p| p.family.as_str()).collect();
    inv.assert_batch(&[&ps[0].family, &ps[1].family], &co, "enrolled formats");
}

/// An enrolled list of NHS+DOB tokens only, with a DOB one day out: the
/// person cannot be matched. Safe: suppressed anyway, or the run says so
/// loudly (exit 1, or a refusal of DOB-keyed lists).
#[test]
#[ignore = "documented limitation (README, SECURITY.md): an enrolled list of NHS+DOB tokens only needs DOB agreement; trials send nhs_token (pseudonymise --with-nhs-token) to match on the NHS number alone"]
fn enrolled_nhs_dob_only_tokens_with_dob_one_day_out() {
    let t = Trial::new();
    let ps = people(8);
    let swap = |d: &str| format!("{}-{}-{}", &d[..4], &d[8..10], &d[5..7]);
    let csv = format!(
        "nhs_number,date_of_birth\n{},{}\n{},{}\n",
        ps[0].nhs,
        shift_day(&ps[0].dob),
        ps[1].nhs,
        swap(&ps[1].dob)
    );
    let (o, tok) = t.tokens("enr3", &csv, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    let inv = t.invite(&cohort_of(&ps), &tok);
    if inv.code() == Some(1) || (inv.code() == Some(2) && inv.batch.is_none()) {
        return;
    }
    let co: Vec<&str> = ps[2..].iter().map(|p| p.family.as_str()).collect();
    inv.assert_batch(
        &[&ps[0].family, &ps[1].family],
        &co,
        "enrolled NHS+DOB, DOB one day out",
    );
}

/// The trial's own pseudonymise run rejected an enrolled row (an Excel
/// number): the token file silently lacks that person. `invite` reads the
/// manifest: it must not report success while the list is short.
#[test]
fn enrolled_list_with_rejected_rows_is_not_accepted_silently() {
    let t = Trial::new();
    let ps = people(8);
    let sci = format!("{}.{}E+09", &ps[0].nhs[..1], &ps[0].nhs[1..6]);
    let csv = format!(
        "nhs_number,date_of_birth\n{sci},{}\n{},{}\n",
        ps[0].dob, ps[1].nhs, ps[1].dob
    );
    let (o, tok) = t.tokens("enr4", &csv, &["--with-nhs-token"]);
    let pseudo_loud = o.status.code() == Some(1);
    let inv = t.invite(&cohort_of(&ps), &tok);
    if inv.code() == Some(1) || (inv.code() == Some(2) && inv.batch.is_none()) {
        return;
    }
    assert!(
        !inv.invited(&ps[0].family),
        "enrolled person invited: their enrolled row was rejected by pseudonymise (exit {:?}, loud: {pseudo_loud}) and invite exited {:?}\n{}",
        o.status.code(),
        inv.code(),
        inv.text()
    );
}

/// Another study's enrolled tokens, or an enrolled list without its
/// manifest, are refused before anything is written.
#[test]
fn enrolled_list_of_another_scope_or_without_manifest_is_refused() {
    let t = Trial::new();
    let pp = people(8);
    let csv = format!(
        "nhs_number,date_of_birth\n{},{}\n{},{}\n",
        pp[0].nhs, pp[0].dob, pp[1].nhs, pp[1].dob
    );
    let other = scope_key(t.w.dir.path(), "trial:other", "other.key");
    let input = t.w.write("enr5.csv", &csv);
    let tok = t.w.path("enr5.tokens.csv");
    let o = run(&[
        "pseudonymise",
        "--key",
        &pstr(&other),
        "--input",
        &pstr(&input),
        "--output",
        &pstr(&tok),
        "--with-nhs-token",
        "--as-of",
        "2026-11-21",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let inv = t.invite(&cohort_of(&pp), &tok);
    assert!(
        inv.batch.is_none(),
        "another study's enrolled list was used: {}",
        inv.text()
    );
    assert_eq!(inv.code(), Some(2), "{}", inv.text());
    let (o, tok) = t.tokens("enr7", &csv, &["--with-nhs-token"]);
    assert!(o.status.success(), "{}", stderr(&o));
    std::fs::remove_file(tabular::sidecar_path(&tok, ".manifest.json")).unwrap();
    let inv = t.invite(&cohort_of(&pp), &tok);
    assert!(
        inv.batch.is_none() && inv.code() == Some(2),
        "enrolled list without manifest accepted: {}",
        inv.text()
    );
}

/// An enrolled token file edited after it was made (a row removed, the
/// manifest kept): the manifest's hash no longer matches; refused.
#[test]
fn enrolled_list_edited_after_pseudonymise_is_refused() {
    let t = Trial::new();
    let pp = people(8);
    let csv = format!(
        "nhs_number,date_of_birth\n{},{}\n{},{}\n",
        pp[0].nhs, pp[0].dob, pp[1].nhs, pp[1].dob
    );
    let (o, tok) = t.tokens("enr6", &csv, &["--with-nhs-token"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&tok).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.remove(1);
    std::fs::write(&tok, lines.join("\n") + "\n").unwrap();
    let inv = t.invite(&cohort_of(&pp), &tok);
    if inv.batch.is_none() && inv.code() == Some(2) {
        return;
    }
    inv.assert_batch(
        &[&pp[0].family, &pp[1].family],
        &[&pp[5].family],
        "edited enrolled list",
    );
}

// ------------------------------------------------ dates, frequency cap

/// `as_of` far from the clock is refused without --backdate.
#[test]
fn as_of_far_from_today_is_refused_without_backdate() {
    let ps = people(4);
    for as_of in [
        "2024-01-01",
        "2030-06-01",
        "2026-10-20",
        "2026-12-23",
        "1900-01-01",
    ] {
        let w = World::new();
        let inv = w.invite_as("s", "2026-11-21", as_of, cohort_of(&ps), "", &[]);
        assert!(inv.batch.is_none(), "as_of {as_of} accepted: {}", inv.text());
        assert_eq!(inv.code(), Some(2), "{}", inv.text());
    }
    // within 31 days: accepted
    let w = World::new();
    let inv = w.invite_as("s", "2026-11-21", "2026-10-21", cohort_of(&ps), "", &[]);
    assert_eq!(inv.code(), Some(0), "{}", inv.text());
}

/// The frequency cap counts real (clock) dates whatever as_of says: a
/// batch backdated to the past, or dated in the future, does not let
/// anyone get a second letter inside the cap.
#[test]
fn frequency_cap_holds_across_backdated_and_future_batches() {
    let ps = people(10);
    let cohort = cohort_of(&ps);
    let fams: Vec<&str> = ps.iter().map(|p| p.family.as_str()).collect();
    let cap = "[frequency_cap]\nmax_invitations = 1\nwithin_days = 365\n";
    let bd = ["--backdate", "attack test"];
    let cases: [(&str, &str, &str, &str); 5] = [
        // (first batch as_of, its today, second batch as_of, its today)
        ("2024-01-01", "2026-11-21", "2026-11-21", "2026-11-21"),
        ("2026-11-21", "2026-11-21", "2024-01-01", "2026-11-22"),
        ("2026-11-21", "2026-11-21", "2025-06-01", "2026-11-22"),
        ("2027-11-21", "2026-11-21", "2026-11-22", "2026-11-22"),
        ("2026-11-21", "2026-11-21", "2029-01-01", "2026-11-23"),
    ];
    for (a1, t1, a2, t2) in cases {
        let w = World::new();
        let first = w.invite_as("first", t1, a1, &cohort, cap, &bd);
        first.assert_batch(&[], &fams, &format!("first batch as_of {a1}"));
        let second = w.invite_as("second", t2, a2, &cohort, cap, &bd);
        let again: Vec<&str> = fams.iter().copied().filter(|f| second.invited(f)).collect();
        assert!(
            again.is_empty(),
            "cap 1 in 365 days: {} people invited again (first batch as_of {a1} on {t1}, second as_of {a2} on {t2})\n{}",
            again.len(),
            second.text()
        );
    }
}

/// The clock going backwards (a second batch made on an earlier day than
/// the first, e.g. a machine with a wrong clock) still sees the first.
#[test]
fn frequency_cap_holds_when_the_clock_goes_back() {
    let ps = people(6);
    let cohort = cohort_of(&ps);
    let fams: Vec<&str> = ps.iter().map(|p| p.family.as_str()).collect();
    let cap = "[frequency_cap]\nmax_invitations = 1\nwithin_days = 30\n";
    let w = World::new();
    let first = w.invite_as("first", "2026-11-21", "2026-11-21", &cohort, cap, &[]);
    first.assert_batch(&[], &fams, "first");
    let second = w.invite_as("second", "2026-11-01", "2026-11-01", &cohort, cap, &[]);
    let again: Vec<&str> = fams.iter().copied().filter(|f| second.invited(f)).collect();
    assert!(
        again.is_empty() || second.code() != Some(0),
        "{} invited again by a batch whose clock is 20 days before the first batch's: {}",
        again.len(),
        second.text()
    );
}

// -------------------------------------------------------------- registry

/// A registry file whose manifest names another scope than the request's
/// `[registry] scope` is refused, naming both.
#[test]
fn registry_of_another_scope_is_refused() {
    let w = World::new();
    let entry = w.write(
        "reg.toml",
        "study = \"reg\"\norganisation = \"Example Trials Unit\"\nroutes = [\"service-mailer\"]\nchannels = [\"postal\"]\n\
         retain_until = \"2099-12-31\"\n[approvals]\nethics_reference = \"24/NE/0001\"\ndsa_reference = \"DSA-1\"\n\
         dsa_expires = \"2099-12-31\"\nregistry_basis = \"consent\"\nenrolled_basis = \"none\"\n",
    );
    let o = run(&[
        "study",
        "add",
        "--store",
        &pstr(&w.store),
        "--operator",
        "alice",
        &pstr(&entry),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ps_ = people(6);
    let other = scope_key(w.dir.path(), "registry:other", "other.key");
    let input = w.write(
        "vol.csv",
        format!("nhs_number,date_of_birth\n{},{}\n", ps_[0].nhs, ps_[0].dob),
    );
    let tok = w.path("vol.tokens.csv");
    let o = run(&[
        "pseudonymise",
        "--key",
        &pstr(&other),
        "--input",
        &pstr(&input),
        "--output",
        &pstr(&tok),
        "--as-of",
        "2026-11-21",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let inv = w.invite_as(
        "reg",
        "2026-11-21",
        "2026-11-21",
        cohort_of(&ps_),
        "[registry]\nscope = \"registry:bpor\"\nprioritise = true",
        &["--registry", &pstr(&tok)],
    );
    assert_error(&inv.out, "registry:other", &[&ps_[0].nhs]);
    assert!(stderr(&inv.out).contains("registry:bpor"), "{}", stderr(&inv.out));
    assert!(inv.batch.is_none());
}

/// A headerless objections file (the first row is an objector) is refused
/// without printing the first row's values (issue 15 item 2).
#[test]
fn headerless_objections_refused_without_echo() {
    let (o, all) = setup_file(4);
    let t = format!("{}\n", obj_lines(&o).join("\n"));
    let w = World::new();
    let nc = w.noncontact(&t, &[]);
    assert_eq!(nc.code(), Some(2), "{}", nc.text());
    let values: Vec<&str> = all
        .iter()
        .flat_map(|p| {
            [
                p.nhs.as_str(),
                p.family.as_str(),
                p.given.as_str(),
                p.postcode.as_str(),
            ]
        })
        .collect();
    assert_no_echo(&nc.text(), &values, "headerless");
}
