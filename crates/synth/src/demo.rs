//! The demo's script: every party of the recruitment service in turn, on a
//! synthetic population, as the list of steps `trialink demo` carries out.
//!
//! [`script`] returns the steps: what each party says it does, the
//! `trialink` commands it runs (with the same arguments a real party would
//! give), and the synthetic events between them (the trial's feedback split
//! into weeks, the mailer's returns, the objections and deaths that arrive
//! before the reminder). [`perform`] carries out the file steps; running
//! commands and writing the test-only master key are
//! [`crate::demo_run::DemoRun`]'s. The same seed gives the same steps, and
//! so the same files.
//!
//! The story: the service makes the keys and registers the study (which may
//! send reminders); the registry and the trial upload tokens; objections go
//! on the non-contact list; the registry is linked to the cohort; the
//! service invites per a request with quotas and two SWAT arms; the trial
//! returns two weeks of uptake, the mailer returns undelivered letters; more
//! invitees object and some die; the service sends one reminder round to
//! the invitees who have not answered (every exclusion applied again) and
//! the trial returns a third week of uptake; the analyst reports (weekly
//! recruitment against target included) and audits; a second, small study
//! shows suppression; the service evaluates itself across studies.

use crate::date::Date;
use crate::followup::{self, FollowUpConfig};
use crate::output::AtomicFile;
use crate::{returns, SynthError};
use std::path::{Path, PathBuf};

/// The demo's date: ages, the invitation date and the week-1 reports.
pub const AS_OF: &str = "2026-11-21";
/// The reminder's date (after the request's `after_days` of 14).
pub const REMINDER_DAY: &str = "2026-12-07";
/// The demo study.
pub const STUDY: &str = "demo-study";
/// The second, small study (weekly reports with suppressed cells).
pub const SMALL: &str = "demo-small";
const REGISTRY_SCOPE: &str = "registry:demo-registry";
const TRIAL_SCOPE: &str = "trial:demo-study";
/// Marks a directory as the demo's own, so a re-run may clear it.
pub const MARKER: &str = ".trialink-demo";
/// Invitees who object between the invitation and the reminder.
const LATER_OBJECTION_RATE: f64 = 0.01;
/// Invitees who die between the invitation and the reminder.
const LATER_DEATH_RATE: f64 = 0.005;

/// The files the demo writes for its parties to read.
#[derive(Debug, Clone, Copy)]
pub struct Assets<'a> {
    /// The study request (TOML).
    pub request: &'a str,
    /// The reminder request (TOML).
    pub reminder: &'a str,
    /// The study's register entry (TOML).
    pub study: &'a str,
    /// The registry's CLK linkage schema (JSON).
    pub clk_schema: &'a str,
}

/// One step of the demo.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A party says what it does next.
    Say {
        /// Who.
        party: &'static str,
        /// What.
        what: String,
    },
    /// Run `trialink` with these arguments.
    Run(Vec<String>),
    /// Write the test-only master key derived from the seed here.
    MasterKey(PathBuf),
    /// Write a file.
    Write {
        /// Where.
        path: PathBuf,
        /// What.
        contents: String,
    },
    /// Remove a report directory left by an earlier run.
    Clear(PathBuf),
    /// The mailer's returns for a batch.
    Returns {
        /// The batch file.
        batch: PathBuf,
        /// The returns file to write.
        out: PathBuf,
    },
    /// Split a feedback file by its `date` column at each boundary date
    /// into `<stem>-week1.csv`, `<stem>-week2.csv`, ….
    SplitWeeks {
        /// The feedback file.
        input: PathBuf,
        /// The first day of each week after the first.
        boundaries: Vec<&'static str>,
    },
    /// Objections and deaths among a batch's invitees ([`followup`]).
    FollowUp {
        /// The batch file.
        batch: PathBuf,
        /// The cohort it was drawn from.
        cohort: PathBuf,
        /// The later cohort extract to write.
        cohort_out: PathBuf,
        /// The later objections file to write.
        objections_out: PathBuf,
    },
}

/// Builds the script.
struct Script {
    out: PathBuf,
    work: PathBuf,
    seed: u64,
    steps: Vec<Step>,
}

impl Script {
    /// A path under the work directory.
    fn w(&self, rel: &str) -> PathBuf {
        self.work.join(rel)
    }

    fn say(&mut self, party: &'static str, what: &str) {
        self.steps.push(Step::Say {
            party,
            what: what.to_string(),
        });
    }

    /// `trialink ARGS`, where `@rel` is a path under the work directory and
    /// `%rel` one under the demo directory.
    fn run(&mut self, args: &[&str]) {
        let arg = |a: &&str| match (a.strip_prefix('@'), a.strip_prefix('%')) {
            (Some(rel), _) => self.w(rel).display().to_string(),
            (_, Some(rel)) => self.out.join(rel).display().to_string(),
            _ => a.to_string(),
        };
        let v = args.iter().map(arg).collect();
        self.steps.push(Step::Run(v));
    }

    fn write(&mut self, rel: &str, contents: String) {
        let path = self.w(rel);
        self.steps.push(Step::Write { path, contents });
    }

    fn report(&mut self, study: &str, dir: &str) {
        self.steps.push(Step::Clear(self.out.join(dir)));
        let d = format!("%{dir}");
        self.run(&[
            "report",
            "--store",
            "@service/service.sqlite",
            "--study",
            study,
            "--out",
            &d,
        ]);
    }

    /// Pseudonymise a trial's feedback file for the service.
    fn feedback_tokens(&mut self, key: &str, input: &str, output: &str) {
        let (key, input, output) = (format!("@{key}"), format!("@{input}"), format!("@{output}"));
        self.run(&[
            "pseudonymise",
            "--key",
            &key,
            "--input",
            &input,
            "--output",
            &output,
            "--allow-blank",
            "--keep",
            "reference",
            "--keep",
            "status",
            "--keep",
            "date",
            "--as-of",
            AS_OF,
        ]);
    }

    /// Simulated feedback for a batch, from `start`.
    fn uptake(&mut self, batch: &str, rate: &str, start: &str, out: &str) {
        let seed = self.seed.to_string();
        let (batch, out) = (format!("@{batch}"), format!("@{out}"));
        self.run(&[
            "synth",
            "uptake",
            "--batch",
            &batch,
            "--cohort",
            "@synth/cohort.csv",
            "--qa-seeds",
            "@synth/qa_seeds.csv",
            "--rate",
            rate,
            "--seed",
            &seed,
            "--start",
            start,
            "--out",
            &out,
        ]);
    }
}

/// The demo's steps for a population of `people` from `seed`, writing under
/// `out` (its data under `out/work`).
///
/// Plays every party: the service generates a master key and derives the
/// registry and trial keys; a synthetic population is generated; the
/// registry pseudonymises its volunteers (with CLKs) and uploads; the trial
/// uploads its enrolled list; objections go on the non-contact list; the
/// service links the registry, invites per a request with quotas and two
/// SWAT arms; the trial returns uptake over two weeks; the mailer returns
/// undelivered letters; more invitees object or die; the service sends one
/// reminder round and the trial a third week of uptake; the analyst reports
/// (recruitment by week included) and audits. Prints a summary and where
/// everything is.
pub fn script(out: &Path, people: u64, seed: u64, assets: &Assets<'_>) -> Vec<Step> {
    let mut s = Script {
        out: out.to_path_buf(),
        work: out.join("work"),
        seed,
        steps: Vec::new(),
    };
    keys(&mut s, assets);
    population(&mut s, people);
    uploads(&mut s, assets);
    invite_and_uptake(&mut s, assets);
    reminder_round(&mut s, assets);
    publish(&mut s, assets);
    s.steps
}

/// The master key, the registry key, the register entry and the trial key.
fn keys(s: &mut Script, a: &Assets<'_>) {
    s.say(
        "service",
        "generates the master key (derived from the seed: TEST ONLY) and derives the registry and trial keys",
    );
    s.steps.push(Step::MasterKey(s.w("keys/master.key")));
    s.run(&["keys", "fingerprint", "@keys/master.key"]);
    s.run(&[
        "keys",
        "derive",
        "--from",
        "@keys/master.key",
        "--scope",
        REGISTRY_SCOPE,
        "--out",
        "@keys/registry.key",
    ]);
    s.say(
        "service",
        "registers the study: approvals, permitted routes and channels, reminders, retention (and a key secret that a purge destroys)",
    );
    s.write("service/study.toml", a.study.to_string());
    let store = "@service/service.sqlite";
    s.run(&[
        "study",
        "add",
        "--store",
        store,
        "--operator",
        "Demo Operator",
        "@service/study.toml",
    ]);
    s.run(&[
        "keys",
        "derive",
        "--from",
        "@keys/master.key",
        "--scope",
        TRIAL_SCOPE,
        "--store",
        store,
        "--out",
        "@keys/trial.key",
    ]);
}

/// The synthetic population.
fn population(s: &mut Script, people: u64) {
    s.say(
        "synthetic data",
        "generates the population: cohort, registry volunteers, enrolled list, objections, QA seeds, ground truth",
    );
    let (people, seed) = (people.to_string(), s.seed.to_string());
    // enrolled and objection lists without mistyped NHS numbers: an
    // enrolled list with rejected rows is refused by `invite` (those people
    // would be invited), and the demo runs unattended
    s.run(&[
        "synth",
        "--people",
        &people,
        "--seed",
        &seed,
        "--list-error-rate",
        "0",
        "--as-of",
        AS_OF,
        "--out",
        "@synth",
    ]);
}

/// The registry's and trial's uploads, the objections, and the registry
/// linked to the cohort.
fn uploads(s: &mut Script, a: &Assets<'_>) {
    s.say(
        "registry",
        "pseudonymises its volunteers with its own key (tokens + CLKs) and uploads the token file",
    );
    s.write("registry/clk_schema.json", a.clk_schema.to_string());
    s.run(&[
        "pseudonymise",
        "--key",
        "@keys/registry.key",
        "--input",
        "@synth/registry.csv",
        "--output",
        "@registry/registry.tokens.csv",
        "--with-nhs-token",
        "--allow-blank",
        "--clk-schema",
        "@registry/clk_schema.json",
        "--as-of",
        AS_OF,
    ]);
    s.say(
        "trial",
        "pseudonymises the people it has already enrolled and uploads them",
    );
    s.run(&[
        "pseudonymise",
        "--key",
        "@keys/trial.key",
        "--input",
        "@synth/enrolled.csv",
        "--output",
        "@trial/enrolled.tokens.csv",
        "--as-of",
        AS_OF,
    ]);
    s.say(
        "service",
        "adds objections to the non-contact list (pseudonymised on ingest under service:store)",
    );
    // the synthetic list has deliberately messy rows (an unreadable NHS
    // number is kept as a CLK); the demo has reviewed them
    s.run(&[
        "noncontact",
        "add",
        "--store",
        "@service/service.sqlite",
        "--key",
        "@keys/master.key",
        "--input",
        "@synth/objections.csv",
        "--as-of",
        AS_OF,
        "--allow-rejects",
    ]);
    s.say(
        "service",
        "links the registry upload to the cohort: exact tokens first, CLKs for the rest",
    );
    s.run(&[
        "pseudonymise",
        "--key",
        "@keys/registry.key",
        "--input",
        "@synth/cohort.csv",
        "--output",
        "@service/cohort.registry-tokens.csv",
        "--allow-blank",
        "--clk-schema",
        "@registry/clk_schema.json",
        "--as-of",
        AS_OF,
    ]);
    // The threshold was chosen with the demo's schema on synthetic
    // registries at seeds 2026 and 7: precision and recall both ≥ 0.99.
    s.run(&[
        "link",
        "--left",
        "@registry/registry.tokens.csv",
        "--right",
        "@service/cohort.registry-tokens.csv",
        "--output",
        "@service/registry-links.csv",
        "--threshold",
        "0.84",
    ]);
    s.run(&[
        "evaluate",
        "--matches",
        "@service/registry-links.csv",
        "--truth",
        "@synth/truth_registry.csv",
    ]);
}

/// The invitation batch, two weeks of uptake feedback, the returns, and the
/// week-1 reports.
fn invite_and_uptake(s: &mut Script, a: &Assets<'_>) {
    s.say("service", "builds the invitation batch: criteria, exclusions, non-contact, enrolled, cap, quotas (registry volunteers first, by token and by the links above), SWAT arms, QA seeds");
    s.write("service/request.toml", a.request.to_string());
    // the demo's clock is its fixed date, so a seed gives the same files
    s.run(&[
        "invite",
        "--store",
        "@service/service.sqlite",
        "--key",
        "@keys/master.key",
        "--cohort",
        "@synth/cohort.csv",
        "--request",
        "@service/request.toml",
        "--out",
        "@mailer/batch-001",
        "--registry",
        "@registry/registry.tokens.csv",
        "--registry-links",
        "@service/registry-links.csv",
        "--enrolled",
        "@trial/enrolled.tokens.csv",
        "--qa-seeds",
        "@synth/qa_seeds.csv",
        "--today",
        AS_OF,
    ]);
    s.say(
        "trial",
        "records sign-ups over two weeks and sends feedback (references, or tokens of NHS number + DOB)",
    );
    s.uptake(
        "mailer/batch-001/invitations.csv",
        "0.12",
        "2026-11-23",
        "trial/feedback.csv",
    );
    s.steps.push(Step::SplitWeeks {
        input: s.w("trial/feedback.csv"),
        boundaries: vec!["2026-11-30"],
    });
    for n in 1..=2 {
        let tokens = format!("trial/feedback-week{n}.tokens.csv");
        s.feedback_tokens("keys/trial.key", &format!("trial/feedback-week{n}.csv"), &tokens);
        s.say("service", &format!("records week {n}'s uptake feedback"));
        let input = format!("@{tokens}");
        s.run(&[
            "uptake",
            "--store",
            "@service/service.sqlite",
            "--key",
            "@keys/master.key",
            "--study",
            STUDY,
            "--input",
            &input,
            // the simulated trial sends rows naming nobody invited (listed
            // by line in the notes), which an operator has reviewed
            "--allow-unmatched",
        ]);
        if n == 1 {
            s.say("mailer", "returns undelivered letters (reference + reason)");
            s.steps.push(Step::Returns {
                batch: s.w("mailer/batch-001/invitations.csv"),
                out: s.w("mailer/returns.csv"),
            });
            s.run(&[
                "returns",
                "--store",
                "@service/service.sqlite",
                "--input",
                "@mailer/returns.csv",
            ]);
            s.say("analyst", "publishes the week-1 reports (disclosure-controlled)");
            s.report(STUDY, "week1");
        }
    }
}

/// Objections and deaths arrive; one reminder round to the invitees who
/// have not answered; a third week of feedback.
fn reminder_round(s: &mut Script, a: &Assets<'_>) {
    s.say(
        "service",
        "hears of more objections, and a new cohort extract marks some invitees deceased",
    );
    s.steps.push(Step::FollowUp {
        batch: s.w("mailer/batch-001/invitations.csv"),
        cohort: s.w("synth/cohort.csv"),
        cohort_out: s.w("synth/cohort-later.csv"),
        objections_out: s.w("synth/objections-later.csv"),
    });
    s.run(&[
        "noncontact",
        "add",
        "--store",
        "@service/service.sqlite",
        "--key",
        "@keys/master.key",
        "--input",
        "@synth/objections-later.csv",
        "--as-of",
        REMINDER_DAY,
    ]);
    s.say("service", "sends one reminder round for the first batch: invitees who have not responded, were not returned and are not excluded now (every exclusion applied again), each under their invitation's reference");
    s.write("service/reminder.toml", a.reminder.to_string());
    s.run(&[
        "invite",
        "--store",
        "@service/service.sqlite",
        "--key",
        "@keys/master.key",
        "--cohort",
        "@synth/cohort-later.csv",
        "--request",
        "@service/reminder.toml",
        "--reminder-of",
        "@mailer/batch-001",
        "--out",
        "@mailer/batch-001-reminder",
        "--enrolled",
        "@trial/enrolled.tokens.csv",
        "--qa-seeds",
        "@synth/qa_seeds.csv",
        "--today",
        REMINDER_DAY,
    ]);
    s.say(
        "trial",
        "records the sign-ups that follow the reminder and sends week 3's feedback",
    );
    s.uptake(
        "mailer/batch-001-reminder/invitations.csv",
        "0.06",
        "2026-12-09",
        "trial/feedback-week3.csv",
    );
    s.feedback_tokens(
        "keys/trial.key",
        "trial/feedback-week3.csv",
        "trial/feedback-week3.tokens.csv",
    );
    s.run(&[
        "uptake",
        "--store",
        "@service/service.sqlite",
        "--key",
        "@keys/master.key",
        "--study",
        STUDY,
        "--input",
        "@trial/feedback-week3.tokens.csv",
        // the simulated trial sends rows naming nobody invited (listed
        // by line in the notes), which an operator has reviewed
        "--allow-unmatched",
    ]);
}

/// The cumulative reports, the small study, the service evaluation and the
/// audits.
fn publish(s: &mut Script, a: &Assets<'_>) {
    s.say(
        "analyst",
        "publishes the cumulative reports (recruitment by week against target included), audited against the week-1 release",
    );
    s.report(STUDY, "report");
    s.run(&["audit", "--report", "%week1"]);
    s.run(&["audit", "--report", "%report"]);
    small_study(s, a);
    s.say(
        "service",
        "publishes its own evaluation across studies (requested vs invited, uptake, time to target, invitations per person, exclusions), quoting each study's latest published release",
    );
    s.steps.push(Step::Clear(s.out.join("service-report")));
    s.run(&[
        "report",
        "--service",
        "--store",
        "@service/service.sqlite",
        "--out",
        "%service-report",
    ]);
    s.say(
        "analyst",
        "audits everything the store has published together: every release of both studies and the service evaluation",
    );
    s.run(&["audit", "--store", "@service/service.sqlite"]);
}

/// The second, small study: 150 invitations, uptake recorded and reported
/// weekly, so that its reports show the suppression a small count gets.
fn small_study(s: &mut Script, a: &Assets<'_>) {
    s.say(
        "service",
        "registers a second, small study (150 invitations) and invites for it",
    );
    s.write("service/small-study.toml", a.study.replace(STUDY, SMALL));
    s.run(&[
        "study",
        "add",
        "--store",
        "@service/service.sqlite",
        "--operator",
        "Demo Operator",
        "@service/small-study.toml",
    ]);
    let scope = format!("trial:{SMALL}");
    s.run(&[
        "keys",
        "derive",
        "--from",
        "@keys/master.key",
        "--scope",
        &scope,
        "--store",
        "@service/service.sqlite",
        "--out",
        "@keys/small-trial.key",
    ]);
    let request = a
        .request
        .replace(&format!("study = \"{STUDY}\""), &format!("study = \"{SMALL}\""))
        .replace("invitations = 12000", "invitations = 150")
        .replace("seed = 20261121", "seed = 20261122");
    s.write("service/small-request.toml", request);
    s.run(&[
        "invite",
        "--store",
        "@service/service.sqlite",
        "--key",
        "@keys/master.key",
        "--cohort",
        "@synth/cohort.csv",
        "--request",
        "@service/small-request.toml",
        "--out",
        "@mailer/batch-002",
        "--qa-seeds",
        "@synth/qa_seeds.csv",
    ]);
    s.uptake(
        "mailer/batch-002/invitations.csv",
        "0.12",
        "2026-11-23",
        "trial/small-feedback.csv",
    );
    s.steps.push(Step::SplitWeeks {
        input: s.w("trial/small-feedback.csv"),
        boundaries: vec!["2026-11-30"],
    });
    for n in 1..=2 {
        let tokens = format!("trial/small-feedback-week{n}.tokens.csv");
        s.feedback_tokens(
            "keys/small-trial.key",
            &format!("trial/small-feedback-week{n}.csv"),
            &tokens,
        );
        s.say(
            "service",
            &format!("records the small study's week-{n} uptake; the analyst publishes its week-{n} reports"),
        );
        let input = format!("@{tokens}");
        s.run(&[
            "uptake",
            "--store",
            "@service/service.sqlite",
            "--key",
            "@keys/master.key",
            "--study",
            SMALL,
            "--input",
            &input,
            // the simulated trial sends rows naming nobody invited (listed
            // by line in the notes), which an operator has reviewed
            "--allow-unmatched",
        ]);
        s.report(SMALL, &format!("small-week{n}"));
    }
}

/// Carry out a file step (`Say`, `Run` and `MasterKey` are the caller's:
/// they return `Ok(false)`).
pub fn perform(step: &Step, seed: u64) -> Result<bool, SynthError> {
    match step {
        Step::Say { .. } | Step::Run(_) | Step::MasterKey(_) => return Ok(false),
        Step::Write { path, contents } => {
            let mut f = AtomicFile::create(path, true)?;
            f.write_all(contents.as_bytes())?;
            f.commit()?;
        }
        Step::Clear(dir) => {
            if dir.exists() {
                std::fs::remove_dir_all(dir).map_err(|e| SynthError::io(dir, e))?;
            }
        }
        Step::Returns { batch, out } => {
            returns::simulate(batch, out, seed)?;
        }
        Step::SplitWeeks { input, boundaries } => {
            split_weeks(input, boundaries)?;
        }
        Step::FollowUp {
            batch,
            cohort,
            cohort_out,
            objections_out,
        } => {
            let on = Date::parse_iso(REMINDER_DAY).expect("a valid constant date");
            let cfg = FollowUpConfig {
                seed,
                objection_rate: LATER_OBJECTION_RATE,
                death_rate: LATER_DEATH_RATE,
                on: on.add_days(-3),
            };
            followup::simulate(batch, cohort, &cfg, cohort_out, objections_out)?;
        }
    }
    Ok(true)
}

/// The files [`Step::SplitWeeks`] writes for `input`: `<stem>-week<n>.csv`.
pub fn week_files(input: &Path, weeks: usize) -> Vec<PathBuf> {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    (1..=weeks)
        .map(|n| input.with_file_name(format!("{stem}-week{n}.csv")))
        .collect()
}

/// Split a feedback file by its `date` column: week 1 before the first
/// boundary, week 2 from it to the next, and so on.
pub fn split_weeks(input: &Path, boundaries: &[&str]) -> Result<Vec<PathBuf>, SynthError> {
    let bad = |line: u64, message: &str| SynthError::Input {
        path: input.to_path_buf(),
        line,
        message: message.to_string(),
    };
    let mut rdr = csv::Reader::from_path(input).map_err(|_| bad(0, "cannot be read as CSV"))?;
    let header = rdr.byte_headers().map_err(|_| bad(1, "no header"))?.clone();
    let date_col = header
        .iter()
        .position(|h| h == b"date")
        .ok_or_else(|| SynthError::MissingColumn {
            path: input.to_path_buf(),
            column: "date".into(),
            header: String::from_utf8_lossy(header.as_slice()).into_owned(),
        })?;
    let names = week_files(input, boundaries.len() + 1);
    let mut weeks: Vec<csv::Writer<Vec<u8>>> = names
        .iter()
        .map(|_| csv::Writer::from_writer(Vec::new()))
        .collect();
    let io = |p: &Path, e: csv::Error| SynthError::io(p, std::io::Error::other(e.to_string()));
    for w in &mut weeks {
        w.write_byte_record(&header).map_err(|e| io(input, e))?;
    }
    for (i, rec) in rdr.byte_records().enumerate() {
        let rec = rec.map_err(|_| bad(i as u64 + 2, "malformed CSV record"))?;
        let week = boundaries
            .iter()
            .take_while(|b| rec[date_col] >= *b.as_bytes())
            .count();
        weeks[week].write_byte_record(&rec).map_err(|e| io(input, e))?;
    }
    for (w, p) in weeks.into_iter().zip(&names) {
        let bytes = w.into_inner().map_err(|e| io(p, e.into_error().into()))?;
        let mut f = AtomicFile::create(p, true)?;
        f.write_all(&bytes)?;
        f.commit()?;
    }
    Ok(names)
}

/// Make `work` the demo's fresh data directory: remove a previous run's
/// data, refusing a directory the demo did not make.
pub fn fresh_dir(work: &Path) -> Result<(), SynthError> {
    if work.exists() {
        let empty = std::fs::read_dir(work)
            .map(|mut d| d.next().is_none())
            .unwrap_or(true);
        if !work.join(MARKER).exists() && !empty {
            return Err(SynthError::Config {
                name: "--out",
                expected: format!("a directory made by `trialink demo` ({} is not)", work.display()),
            });
        }
        std::fs::remove_dir_all(work).map_err(|e| SynthError::io(work, e))?;
    }
    for d in [
        "keys", "synth", "registry", "trial", "service", "mailer", "analyst",
    ] {
        std::fs::create_dir_all(work.join(d)).map_err(|e| SynthError::io(work, e))?;
    }
    std::fs::write(work.join(MARKER), b"made by trialink demo; safe to delete\n")
        .map_err(|e| SynthError::io(work, e))
}

/// Where everything is, after a run into `out` that took `secs` seconds.
pub fn summary(out: &Path, secs: f64) -> String {
    let mut html: Vec<String> = std::fs::read_dir(out.join("report"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "html"))
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    html.sort();
    let service_html = out.join("service-report/service.html");
    if service_html.exists() {
        html.push(service_html.display().to_string());
    }
    let out = out.display();
    let mut s = format!(
        "\nDone in {secs:.1} s. Everything is under {out}:\n\
         \x20 {out}/report/        the published reports (CSV, Markdown, HTML)\n\
         \x20 {out}/week1/         the week-1 release the final one was audited against\n\
         \x20 {out}/small-week1/, small-week2/ the small second study's weekly reports\n\
         \x20 {out}/service-report/ the service evaluation across studies (quoting each study's latest release)\n\
         \x20 {out}/work/keys/     test-only keys (master, registry, trial)\n\
         \x20 {out}/work/synth/    the synthetic population and ground truth (identifiable, synthetic)\n\
         \x20 {out}/work/registry/ the registry's token upload and its manifest\n\
         \x20 {out}/work/trial/    the trial's enrolled list and uptake feedback (tokens)\n\
         \x20 {out}/work/service/  the service store (tokens and coarse demographics only) and linkage\n\
         \x20 {out}/work/mailer/   the minimised invitation batch, its reminder batch and the returns file\n\
         \nOpen the HTML reports in a browser:\n"
    );
    for h in html {
        s.push_str(&format!("  {h}\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASSETS: Assets<'static> = Assets {
        request: "study = \"demo-study\"\ninvitations = 12000\nseed = 20261121\n",
        reminder: "study = \"demo-study\"\n",
        study: "study = \"demo-study\"\n",
        clk_schema: "{}",
    };

    #[test]
    fn the_script_reminds_the_first_batch_after_its_feedback_and_before_the_final_report() {
        let steps = script(Path::new("/d"), 1000, 7, &ASSETS);
        let runs: Vec<String> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Run(a) => Some(a.join(" ")),
                _ => None,
            })
            .collect();
        let at = |needle: &str| {
            runs.iter()
                .position(|r| r.contains(needle))
                .unwrap_or_else(|| panic!("no step with {needle}"))
        };
        let reminder = at("--reminder-of /d/work/mailer/batch-001 ");
        assert!(at("feedback-week2.tokens.csv") < reminder);
        assert!(at("objections-later.csv") < reminder);
        assert!(reminder < at("--out /d/report"));
        assert!(runs[reminder].contains("--cohort /d/work/synth/cohort-later.csv"));
        assert!(runs[reminder].contains(&format!("--today {REMINDER_DAY}")));
        // the small study's request is the main one's with its own id, size and seed
        let small = steps.iter().find_map(|s| match s {
            Step::Write { path, contents } if path.ends_with("small-request.toml") => Some(contents.clone()),
            _ => None,
        });
        assert_eq!(
            small.as_deref(),
            Some("study = \"demo-small\"\ninvitations = 150\nseed = 20261122\n")
        );
        assert_eq!(script(Path::new("/d"), 1000, 7, &ASSETS), steps, "deterministic");
    }

    #[test]
    fn split_weeks_puts_each_row_in_its_week_and_loses_none() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("fb.csv");
        std::fs::write(
            &f,
            "reference,date\na,2026-11-23\nb,2026-11-30\nc,2026-12-07\nd,2026-11-29\n",
        )
        .unwrap();
        let names = split_weeks(&f, &["2026-11-30", "2026-12-07"]).unwrap();
        let read = |p: &PathBuf| std::fs::read_to_string(p).unwrap();
        assert_eq!(names, week_files(&f, 3));
        assert!(names[0].ends_with("fb-week1.csv"));
        assert_eq!(read(&names[0]), "reference,date\na,2026-11-23\nd,2026-11-29\n");
        assert_eq!(read(&names[1]), "reference,date\nb,2026-11-30\n");
        assert_eq!(read(&names[2]), "reference,date\nc,2026-12-07\n");
        std::fs::write(&f, "reference\na\n").unwrap();
        assert!(matches!(
            split_weeks(&f, &["2026-11-30"]),
            Err(SynthError::MissingColumn { .. })
        ));
    }

    #[test]
    fn fresh_dir_refuses_a_directory_it_did_not_make() {
        let d = tempfile::tempdir().unwrap();
        let work = d.path().join("work");
        std::fs::create_dir_all(&work).unwrap();
        std::fs::write(work.join("precious.txt"), "x").unwrap();
        assert!(fresh_dir(&work).is_err());
        assert!(work.join("precious.txt").exists());
        std::fs::remove_file(work.join("precious.txt")).unwrap();
        fresh_dir(&work).unwrap();
        std::fs::write(work.join("keys/old"), "x").unwrap();
        fresh_dir(&work).unwrap();
        assert!(!work.join("keys/old").exists() && work.join(MARKER).exists());
    }
}
