use super::*;

const BASE: &str = r#"
study = "galleri-2"
channel = "postal"
invitations = 10
seed = 42
as_of = "2026-11-21"
[criteria]
min_age = 50
max_age = 77
[[arms]]
name = "A"
template = "letter-a"
[[arms]]
name = "B"
template = "letter-b"
fields = ["given_name", "postcode"]
"#;

fn today() -> Date {
    Date::new(2026, 11, 21).unwrap()
}

#[test]
fn minimal_request_parses() {
    let v = parse("r.toml", BASE, today()).unwrap();
    assert_eq!(v.request.study, "galleri-2");
    assert_eq!(v.request.qa_seeds, 2);
    assert_eq!(v.request.frequency_cap.max_invitations, 3);
    assert!(v.dims.is_empty());
    assert_eq!(v.route, store::OutputRoute::ServiceMailer);
}

#[test]
fn route_is_parsed_and_unknown_route_named() {
    let v = parse("r.toml", &format!("route = \"organisation\"\n{BASE}"), today()).unwrap();
    assert_eq!(v.route, store::OutputRoute::Organisation);
    let e = parse("r.toml", &format!("route = \"pigeon\"\n{BASE}"), today()).unwrap_err();
    assert!(e.to_string().contains("`route`"), "{e}");
}

#[test]
fn unknown_key_is_named() {
    let e = parse("r.toml", &format!("{BASE}\n[criteria2]\nx = 1\n"), today()).unwrap_err();
    assert!(e.to_string().contains("criteria2"), "{e}");
    let e = parse("r.toml", &BASE.replace("min_age", "minimum_age"), today()).unwrap_err();
    assert!(e.to_string().contains("minimum_age"), "{e}");
    assert!(e.to_string().contains("line "), "{e}");
}

#[test]
fn unknown_template_field_is_refused() {
    let e = parse("r.toml", &BASE.replace("\"postcode\"]", "\"mobile\"]"), today()).unwrap_err();
    let s = e.to_string();
    assert!(s.contains("arms[1].fields") && s.contains("mobile"), "{s}");
}

#[test]
fn quotas_must_add_up_and_be_possible() {
    let q = |strata: &str| format!("{BASE}\n[quotas]\nby = [\"sex\", \"age_band\"]\n{strata}");
    let ok = q("[[quotas.stratum]]\nsex = \"female\"\nage_band = \"50-54\"\ncount = 6\n[[quotas.stratum]]\nsex = \"male\"\nage_band = \"50-54\"\ncount = 4\n");
    let v = parse("r.toml", &ok, today()).unwrap();
    assert_eq!(
        v.explicit,
        vec![
            ("sex=female|age_band=50-54".to_string(), 6),
            ("sex=male|age_band=50-54".to_string(), 4)
        ]
    );
    let short = ok.replace("count = 4", "count = 3");
    assert!(parse("r.toml", &short, today())
        .unwrap_err()
        .to_string()
        .contains("add up to 9"));
    let outside = ok.replace(
        "age_band = \"50-54\"\ncount = 4",
        "age_band = \"30-34\"\ncount = 4",
    );
    assert!(parse("r.toml", &outside, today())
        .unwrap_err()
        .to_string()
        .contains("impossible"));
    let missing = ok.replace("sex = \"male\"\n", "");
    assert!(parse("r.toml", &missing, today())
        .unwrap_err()
        .to_string()
        .contains("missing"));
    let extra = ok.replace("count = 6", "count = 6\nregion = \"London\"");
    assert!(parse("r.toml", &extra, today())
        .unwrap_err()
        .to_string()
        .contains("not a `quotas.by`"));
    let dup = ok.replace("sex = \"male\"", "sex = \"female\"");
    assert!(parse("r.toml", &dup, today())
        .unwrap_err()
        .to_string()
        .contains("twice"));
}

#[test]
fn other_rules() {
    for (from, to, needle) in [
        ("invitations = 10", "invitations = 0", "invitations"),
        ("study = \"galleri-2\"", "study = \"Galleri 2\"", "study"),
        ("as_of = \"2026-11-21\"", "as_of = \"2026-02-30\"", "as_of"),
        ("max_age = 77", "max_age = 40", "max_age"),
        ("name = \"B\"", "name = \"A\"", "arms[1].name"),
        ("channel = \"postal\"", "channel = \"fax\"", "fax"),
    ] {
        let e = parse("r.toml", &BASE.replace(from, to), today()).unwrap_err();
        assert!(e.to_string().contains(needle), "{to}: {e}");
    }
}

#[test]
fn gp_practice_codes_are_checked_with_their_position() {
    let gp = |lists: &str| BASE.replace("max_age = 77\n", &format!("max_age = 77\n{lists}"));
    let v = parse(
        "r.toml",
        &gp("gp_practices = [\"a81001\", \" B82002 \"]\nexcluded_gp_practice_prefixes = [\"Y0\"]\n"),
        today(),
    )
    .unwrap();
    assert_eq!(v.gp.include, ["A81001", "B82002"]);
    assert_eq!(v.gp.check(b"a81001"), GpVerdict::Ok);
    assert_eq!(v.gp.check(b"C83003"), GpVerdict::NotIncluded);
    assert_eq!(v.gp.check(b""), GpVerdict::Unknown);
    assert_eq!(v.gp.check(b"A8100"), GpVerdict::Malformed);
    assert_eq!(v.gp.check(b"Y01234"), GpVerdict::Excluded);
    let e = parse(
        "r.toml",
        &gp("gp_practices = [\"A81001\", \"81-001\"]\n"),
        today(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("`criteria.gp_practices[1]`") && e.contains("line 10, column 27"),
        "{e}"
    );
    assert!(!e.contains("81-001"), "no value echoed: {e}");
    let e = parse("r.toml", &gp("gp_practice_prefixes = [\"A810012\"]\n"), today())
        .unwrap_err()
        .to_string();
    assert!(e.contains("gp_practice_prefixes[0]"), "{e}");
    let e = parse(
        "r.toml",
        &gp("gp_practices = [\"A81001\"]\nexcluded_gp_practice_prefixes = [\"A8\"]\n"),
        today(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("also excluded"), "{e}");
}

#[test]
fn reminder_requests_are_checked() {
    let rem = |t: &str| format!("{}\n[reminder]\n{t}", BASE.replace("invitations = 10\n", ""));
    let v = parse("r.toml", &rem("after_days = 14\n"), today()).unwrap();
    let r = v.request.reminder.unwrap();
    assert_eq!((r.of_batch, r.after_days, r.max_reminders), (None, 14, 1));
    assert_eq!(v.request.invitations, 0);
    for (t, key) in [
        ("after_days = 0\n", "reminder.after_days"),
        ("after_days = 7\nmax_reminders = 9\n", "reminder.max_reminders"),
        ("after_days = 7\nof_batch = 0\n", "reminder.of_batch"),
        ("after_days = 7\ncolour = 1\n", "colour"),
    ] {
        let e = parse("r.toml", &rem(t), today()).unwrap_err().to_string();
        assert!(e.contains(key), "{t}: {e}");
    }
    let q = format!(
        "{}\n[quotas]\nby = [\"sex\"]\nproportional = true\n",
        rem("after_days = 7\n")
    );
    assert!(parse("r.toml", &q, today())
        .unwrap_err()
        .to_string()
        .contains("`quotas`"));
    // Without [reminder], invitations stay required.
    let e = parse("r.toml", &BASE.replace("invitations = 10\n", ""), today()).unwrap_err();
    assert!(e.to_string().contains("`invitations`"), "{e}");
}

#[test]
fn the_committed_reminder_example_parses() {
    let text = include_str!("../../../../fixtures/requests/reminder.toml");
    let v = parse("reminder.toml", text, today()).unwrap();
    assert_eq!(v.request.reminder.unwrap().after_days, 14);
    let text = include_str!("../../../../fixtures/requests/example.toml");
    parse("example.toml", text, today()).unwrap();
}

#[test]
fn criteria_regions_come_from_the_vocabulary() {
    let with = |regions: &str| BASE.replace("max_age = 77", &format!("max_age = 77\nregions = {regions}"));
    let v = parse("r.toml", &with(r#"["London", "north west", "Unknown"]"#), today()).unwrap();
    assert_eq!(v.request.criteria.regions.len(), 3);
    let e = parse("r.toml", &with(r#"["London", "Londn"]"#), today()).unwrap_err();
    assert!(e.to_string().contains("criteria.regions[1]"), "{e}");
    let many = format!("[{}]", vec!["\"London\""; 14].join(", "));
    let e = parse("r.toml", &with(&many), today()).unwrap_err();
    assert!(e.to_string().contains("criteria.regions"), "{e}");
}
