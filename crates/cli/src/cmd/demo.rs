//! `trialink demo`: every flow of DESIGN §1 end to end on a synthetic
//! population, in a fresh directory.
//!
//! The demo plays each party in turn by running `trialink` itself with the
//! same commands a real party would run, printing each command as it goes, so
//! the transcript doubles as a tutorial. Keys are derived from the seed and
//! labelled test-only; the same seed writes the same files.

use crate::error::{CliError, CliResult};
use pseudonym::{keyfile, Key};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// The demo's study request.
pub const REQUEST: &str = include_str!("../demo/request.toml");
/// The demo's CLK linkage schema (clkhash v3) for registry records.
pub const CLK_SCHEMA: &str = include_str!("../demo/clk_schema.json");
/// The demo study's register entry.
pub const STUDY_TOML: &str = include_str!("../demo/study.toml");

const AS_OF: &str = "2026-11-21";
const STUDY: &str = "demo-study";
/// The second, small study (weekly reports with suppressed cells).
const SMALL: &str = "demo-small";
const REGISTRY_SCOPE: &str = "registry:demo-registry";
const TRIAL_SCOPE: &str = "trial:demo-study";
/// Marks a directory as the demo's own, so a re-run may clear it.
const MARKER: &str = ".trialink-demo";

/// Options for `trialink demo`.
///
/// Plays every party: the service generates a master key and derives the
/// registry and trial keys; a synthetic population is generated; the
/// registry pseudonymises its volunteers (with CLKs) and uploads; the trial
/// uploads its enrolled list; objections go on the non-contact list; the
/// service links the registry, invites per a request with quotas and two
/// SWAT arms; the trial returns uptake over two weeks; the mailer returns
/// undelivered letters; the analyst reports and audits. Prints a summary and
/// where everything is.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  trialink demo\n  trialink demo --out /tmp/demo --people 20000 --seed 7")]
pub struct Args {
    /// Directory for the run (its `work/` data is regenerated each run).
    #[arg(long, value_name = "DIR", default_value = "reports/demo")]
    pub out: PathBuf,
    /// People in the synthetic population.
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    pub people: u64,
    /// Seed for the population, keys and every random choice.
    #[arg(long, default_value_t = 2026)]
    pub seed: u64,
}

struct Demo {
    exe: PathBuf,
    out: PathBuf,
    work: PathBuf,
    transcript: String,
    started: Instant,
}

impl Demo {
    fn p(&self, rel: &str) -> String {
        self.work.join(rel).display().to_string()
    }

    fn say(&mut self, party: &str, what: &str) {
        let line = format!("\n[{party}] {what}");
        outln!("{line}");
        self.transcript.push_str(&line);
        self.transcript.push('\n');
    }

    /// Run `trialink <args>`; returns its stdout. Fails naming the step.
    fn run(&mut self, args: &[&str]) -> Result<String, CliError> {
        let shown = args
            .iter()
            .map(|a| {
                let a = shorten(a, &self.out);
                if a.contains(' ') {
                    format!("\"{a}\"")
                } else {
                    a
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        outln!("  $ trialink {shown}");
        let _ = writeln!(self.transcript, "    $ trialink {shown}");
        let o = Command::new(&self.exe)
            .args(args)
            .output()
            .map_err(|e| CliError::new(format!("cannot run {}: {e}", self.exe.display())))?;
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
        if !o.status.success() {
            return Err(CliError::new(format!(
                "demo step `trialink {}` failed ({}):\n{}{}",
                args.first().copied().unwrap_or(""),
                o.status,
                stdout,
                stderr
            )));
        }
        for l in stdout
            .lines()
            .chain(stderr.lines())
            .filter(|l| !l.starts_with("warning: ") || !l.contains("test-only"))
        {
            outln!("    {l}");
        }
        Ok(stdout)
    }
}

/// Show paths relative to the demo directory.
fn shorten(arg: &str, out: &Path) -> String {
    let o = out.display().to_string();
    match arg.strip_prefix(&o) {
        Some(rest) => format!("{o}{rest}"),
        None => arg.to_string(),
    }
}

/// The demo's master key: derived from the seed, labelled test-only.
fn demo_master(seed: u64) -> Key {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&seed.to_le_bytes());
    b[8..27].copy_from_slice(b"trialink-demo-seed!");
    Key::from_bytes(b).derive_info(b"trialink-demo-master-v1")
}

/// Remove a previous run's data, only if the directory is the demo's own.
fn fresh_dir(dir: &Path) -> Result<(), CliError> {
    if dir.exists() {
        if !dir.join(MARKER).exists()
            && std::fs::read_dir(dir)
                .map(|mut d| d.next().is_some())
                .unwrap_or(false)
        {
            return Err(CliError::new(format!(
                "{} exists and was not made by `trialink demo`",
                dir.display()
            ))
            .hint("choose another --out directory"));
        }
        std::fs::remove_dir_all(dir)
            .map_err(|e| CliError::new(format!("cannot clear {}: {e}", dir.display())))?;
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::new(format!("cannot create {}: {e}", dir.display())))?;
    std::fs::write(dir.join(MARKER), b"made by trialink demo; safe to delete\n")
        .map_err(|e| CliError::new(format!("cannot write in {}: {e}", dir.display())))?;
    Ok(())
}

pub fn run(a: Args) -> CliResult {
    if a.people < 1000 {
        return Err(CliError::new("--people must be at least 1000")
            .hint("the reports need a population to be meaningful"));
    }
    let exe = std::env::current_exe()
        .map_err(|e| CliError::new(format!("cannot find the trialink binary: {e}")))?;
    std::fs::create_dir_all(&a.out)
        .map_err(|e| CliError::new(format!("cannot create {}: {e}", a.out.display())))?;
    let work = a.out.join("work");
    fresh_dir(&work)?;
    for d in [
        "keys", "synth", "registry", "trial", "service", "mailer", "analyst",
    ] {
        std::fs::create_dir_all(work.join(d))
            .map_err(|e| CliError::new(format!("cannot create {d}: {e}")))?;
    }
    let mut d = Demo {
        exe,
        out: a.out.clone(),
        work: work.clone(),
        transcript: String::new(),
        started: Instant::now(),
    };
    let seed = a.seed.to_string();

    let (master, store) = keys(&mut d, &a)?;
    population_and_uploads(&mut d, &a, &seed, &store, &master)?;
    invite_and_uptake(&mut d, &a, &seed, &store, &master)?;
    let (final_dir, service_dir) = publish_and_audit(&mut d, &a, &seed, &store, &master)?;
    finish(&mut d, &a, &final_dir, &service_dir)
}

/// Steps 1: the master key, the registry key, the study's register entry
/// and the trial key. Returns the master key and store paths.
fn keys(d: &mut Demo, a: &Args) -> Result<(String, String), CliError> {
    let work = d.work.clone();
    // 1. Keys
    d.say(
        "service",
        "generates the master key (derived from the seed: TEST ONLY) and derives the registry and trial keys",
    );
    let master_path = work.join("keys/master.key");
    keyfile::write_new(&master_path, &demo_master(a.seed), None, AS_OF, true)
        .map_err(|e| CliError::new(format!("key file {}: {e}", master_path.display())))?;
    let master = d.p("keys/master.key");
    d.run(&["keys", "fingerprint", &master])?;
    d.run(&[
        "keys",
        "derive",
        "--from",
        &master,
        "--scope",
        REGISTRY_SCOPE,
        "--out",
        &d.p("keys/registry.key"),
    ])?;
    d.say(
        "service",
        "registers the study: approvals, permitted routes and channels, retention (and a key secret that a purge destroys)",
    );
    let store = d.p("service/service.sqlite");
    std::fs::write(work.join("service/study.toml"), STUDY_TOML)
        .map_err(|e| CliError::new(format!("cannot write the study register entry: {e}")))?;
    d.run(&[
        "study",
        "add",
        "--store",
        &store,
        "--operator",
        "Demo Operator",
        &d.p("service/study.toml"),
    ])?;
    d.run(&[
        "keys",
        "derive",
        "--from",
        &master,
        "--scope",
        TRIAL_SCOPE,
        "--store",
        &store,
        "--out",
        &d.p("keys/trial.key"),
    ])?;

    Ok((master, store))
}

/// Steps 2–6: the population, the registry's and trial's uploads, the
/// objections, and the registry linked to the cohort.
fn population_and_uploads(
    d: &mut Demo,
    a: &Args,
    seed: &str,
    store: &str,
    master: &str,
) -> Result<(), CliError> {
    let work = d.work.clone();
    // 2. Population
    d.say("synthetic data", "generates the population: cohort, registry volunteers, enrolled list, objections, QA seeds, ground truth");
    let people = a.people.to_string();
    d.run(&[
        "synth",
        "--people",
        &people,
        "--seed",
        seed,
        // enrolled and objection lists without mistyped NHS numbers: an
        // enrolled list with rejected rows is refused by `invite` (those
        // people would be invited), and the demo runs unattended
        "--list-error-rate",
        "0",
        "--as-of",
        AS_OF,
        "--out",
        &d.p("synth"),
    ])?;

    // 3. Registry upload
    d.say(
        "registry",
        "pseudonymises its volunteers with its own key (tokens + CLKs) and uploads the token file",
    );
    std::fs::write(work.join("registry/clk_schema.json"), CLK_SCHEMA)
        .map_err(|e| CliError::new(format!("cannot write the CLK schema: {e}")))?;
    d.run(&[
        "pseudonymise",
        "--key",
        &d.p("keys/registry.key"),
        "--input",
        &d.p("synth/registry.csv"),
        "--output",
        &d.p("registry/registry.tokens.csv"),
        "--with-nhs-token",
        "--allow-blank",
        "--clk-schema",
        &d.p("registry/clk_schema.json"),
        "--as-of",
        AS_OF,
    ])?;

    // 4. Trial's enrolled list
    d.say(
        "trial",
        "pseudonymises the people it has already enrolled and uploads them",
    );
    d.run(&[
        "pseudonymise",
        "--key",
        &d.p("keys/trial.key"),
        "--input",
        &d.p("synth/enrolled.csv"),
        "--output",
        &d.p("trial/enrolled.tokens.csv"),
        "--as-of",
        AS_OF,
    ])?;

    // 5. Objections
    d.say(
        "service",
        "adds objections to the non-contact list (pseudonymised on ingest under service:store)",
    );
    d.run(&[
        "noncontact",
        "add",
        "--store",
        store,
        "--key",
        master,
        "--input",
        &d.p("synth/objections.csv"),
        "--as-of",
        AS_OF,
        // the synthetic list has deliberately messy rows (an unreadable
        // NHS number is kept as a CLK); the demo has reviewed them
        "--allow-rejects",
    ])?;

    // 6. Link the registry to the cohort
    d.say(
        "service",
        "links the registry upload to the cohort: exact tokens first, CLKs for the rest",
    );
    d.run(&[
        "pseudonymise",
        "--key",
        &d.p("keys/registry.key"),
        "--input",
        &d.p("synth/cohort.csv"),
        "--output",
        &d.p("service/cohort.registry-tokens.csv"),
        "--allow-blank",
        "--clk-schema",
        &d.p("registry/clk_schema.json"),
        "--as-of",
        AS_OF,
    ])?;
    d.run(&[
        "link",
        "--left",
        &d.p("registry/registry.tokens.csv"),
        "--right",
        &d.p("service/cohort.registry-tokens.csv"),
        "--output",
        &d.p("service/registry-links.csv"),
        // Chosen with the demo's schema (demo/clk_schema.json) on synthetic
        // registries at seeds 2026 and 7: precision and recall both ≥ 0.99.
        "--threshold",
        "0.84",
    ])?;
    d.run(&[
        "evaluate",
        "--matches",
        &d.p("service/registry-links.csv"),
        "--truth",
        &d.p("synth/truth_registry.csv"),
    ])?;

    Ok(())
}

/// Steps 7–9: the invitation batch, two weeks of uptake feedback, the
/// returns, and the week-1 reports.
fn invite_and_uptake(d: &mut Demo, a: &Args, seed: &str, store: &str, master: &str) -> Result<(), CliError> {
    let work = d.work.clone();
    // 7. Invitations
    d.say("service", "builds the invitation batch: criteria, exclusions, non-contact, enrolled, cap, quotas (registry volunteers first, by token and by the links above), SWAT arms, QA seeds");
    std::fs::write(work.join("service/request.toml"), REQUEST)
        .map_err(|e| CliError::new(format!("cannot write the request: {e}")))?;
    d.run(&[
        "invite",
        "--store",
        store,
        "--key",
        master,
        "--cohort",
        &d.p("synth/cohort.csv"),
        "--request",
        &d.p("service/request.toml"),
        "--out",
        &d.p("mailer/batch-001"),
        "--registry",
        &d.p("registry/registry.tokens.csv"),
        "--registry-links",
        &d.p("service/registry-links.csv"),
        "--enrolled",
        &d.p("trial/enrolled.tokens.csv"),
        "--qa-seeds",
        &d.p("synth/qa_seeds.csv"),
        // the demo's clock is its fixed date, so a seed gives the same files
        "--today",
        AS_OF,
    ])?;
    let batch = d.p("mailer/batch-001/invitations.csv");

    // 8. Uptake over two weeks
    d.say(
        "trial",
        "records sign-ups over two weeks and sends feedback (references, or tokens of NHS number + DOB)",
    );
    d.run(&[
        "synth",
        "uptake",
        "--batch",
        &batch,
        "--cohort",
        &d.p("synth/cohort.csv"),
        "--qa-seeds",
        &d.p("synth/qa_seeds.csv"),
        "--rate",
        "0.12",
        "--seed",
        seed,
        "--start",
        "2026-11-23",
        "--out",
        &d.p("trial/feedback.csv"),
    ])?;
    let weeks = split_weeks(&work.join("trial/feedback.csv"), "2026-11-30")?;
    for (i, week) in weeks.iter().enumerate() {
        let n = i + 1;
        d.run(&[
            "pseudonymise",
            "--key",
            &d.p("keys/trial.key"),
            "--input",
            &week.display().to_string(),
            "--output",
            &d.p(&format!("trial/feedback-week{n}.tokens.csv")),
            "--allow-blank",
            "--keep",
            "reference",
            "--keep",
            "status",
            "--keep",
            "date",
            "--as-of",
            AS_OF,
        ])?;
        d.say("service", &format!("records week {n}'s uptake feedback"));
        d.run(&[
            "uptake",
            "--store",
            store,
            "--key",
            master,
            "--study",
            STUDY,
            "--input",
            &d.p(&format!("trial/feedback-week{n}.tokens.csv")),
            // the simulated trial sends some rows naming nobody invited
            // (listed by line in the notes); an operator reviews them
            "--allow-unmatched",
        ])?;
        if n == 1 {
            // 9. Returns arrive during the first week
            d.say("mailer", "returns undelivered letters (reference + reason)");
            synth::returns::simulate(Path::new(&batch), &work.join("mailer/returns.csv"), a.seed)
                .map_err(|e| CliError::new(format!("simulating returns: {e}")))?;
            d.run(&["returns", "--store", store, "--input", &d.p("mailer/returns.csv")])?;
            d.say("analyst", "publishes the week-1 reports (disclosure-controlled)");
            let w1 = a.out.join("week1").display().to_string();
            clear_reports(&a.out.join("week1"))?;
            d.run(&["report", "--store", store, "--study", STUDY, "--out", &w1])?;
        }
    }

    Ok(())
}

/// Step 10: the cumulative reports, the small study, the service
/// evaluation and the audits. Returns the final and service report dirs.
fn publish_and_audit(
    d: &mut Demo,
    a: &Args,
    seed: &str,
    store: &str,
    master: &str,
) -> Result<(PathBuf, PathBuf), CliError> {
    // 10. Reports and audit
    d.say(
        "analyst",
        "publishes the cumulative reports, audited against the week-1 release",
    );
    let final_dir = a.out.join("report");
    clear_reports(&final_dir)?;
    let fd = final_dir.display().to_string();
    d.run(&["report", "--store", store, "--study", STUDY, "--out", &fd])?;
    d.run(&["audit", "--report", &a.out.join("week1").display().to_string()])?;
    d.run(&["audit", "--report", &fd])?;
    small_study(d, a, store, master, seed)?;
    d.say(
        "service",
        "publishes its own evaluation across studies (requested vs invited, uptake, time to target, invitations per person, exclusions), quoting each study's latest published release",
    );
    let service_dir = a.out.join("service-report");
    clear_reports(&service_dir)?;
    let sd = service_dir.display().to_string();
    d.run(&["report", "--service", "--store", store, "--out", &sd])?;
    d.say(
        "analyst",
        "audits everything the store has published together: every release of both studies and the service evaluation",
    );
    d.run(&["audit", "--store", store])?;

    Ok((final_dir, service_dir))
}

/// The published uptake by arm, where everything is, and the transcript.
fn finish(d: &mut Demo, a: &Args, final_dir: &Path, service_dir: &Path) -> CliResult {
    // Uptake by arm, as published (disclosure-controlled).
    if let Ok(text) = std::fs::read_to_string(final_dir.join("uptake_by_arm.csv")) {
        d.say("summary", "uptake by SWAT arm, as published");
        for line in text.lines() {
            outln!("    {}", line.replace(',', "  "));
        }
    }
    let mut html: Vec<String> = std::fs::read_dir(final_dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "html"))
                .map(|p| p.display().to_string())
                .collect()
        })
        .unwrap_or_default();
    html.sort();
    let service_html = service_dir.join("service.html");
    if service_html.exists() {
        html.push(service_html.display().to_string());
    }
    let secs = d.started.elapsed().as_secs_f64();
    let summary = format!(
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
         \x20 {out}/work/mailer/   the minimised invitation batch and the returns file\n",
        out = a.out.display()
    );
    let summary = format!(
        "{summary}\nOpen the HTML reports in a browser:\n{}\n",
        html.iter()
            .map(|h| format!("  {h}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    outln!("{summary}");
    d.transcript.push_str(&summary);
    std::fs::write(a.out.join("TRANSCRIPT.txt"), &d.transcript)
        .map_err(|e| CliError::new(format!("cannot write the transcript: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// The second, small study: 150 invitations, uptake recorded and reported
/// weekly, so that its reports (`small-week1/`, `small-week2/`) show the
/// suppression a small count gets.
fn small_study(d: &mut Demo, a: &Args, store: &str, master: &str, seed: &str) -> Result<(), CliError> {
    d.say(
        "service",
        "registers a second, small study (150 invitations) and invites for it",
    );
    let work = d.work.clone();
    std::fs::write(
        work.join("service/small-study.toml"),
        STUDY_TOML.replace("demo-study", SMALL),
    )
    .map_err(|e| CliError::new(format!("cannot write the study register entry: {e}")))?;
    d.run(&[
        "study",
        "add",
        "--store",
        store,
        "--operator",
        "Demo Operator",
        &d.p("service/small-study.toml"),
    ])?;
    d.run(&[
        "keys",
        "derive",
        "--from",
        master,
        "--scope",
        &format!("trial:{SMALL}"),
        "--store",
        store,
        "--out",
        &d.p("keys/small-trial.key"),
    ])?;
    let request = REQUEST
        .replace("study = \"demo-study\"", &format!("study = \"{SMALL}\""))
        .replace("invitations = 12000", "invitations = 150")
        .replace("seed = 20261121", "seed = 20261122");
    std::fs::write(work.join("service/small-request.toml"), request)
        .map_err(|e| CliError::new(format!("cannot write the request: {e}")))?;
    d.run(&[
        "invite",
        "--store",
        store,
        "--key",
        master,
        "--cohort",
        &d.p("synth/cohort.csv"),
        "--request",
        &d.p("service/small-request.toml"),
        "--out",
        &d.p("mailer/batch-002"),
        "--qa-seeds",
        &d.p("synth/qa_seeds.csv"),
    ])?;
    d.run(&[
        "synth",
        "uptake",
        "--batch",
        &d.p("mailer/batch-002/invitations.csv"),
        "--cohort",
        &d.p("synth/cohort.csv"),
        "--qa-seeds",
        &d.p("synth/qa_seeds.csv"),
        "--rate",
        "0.12",
        "--seed",
        seed,
        "--start",
        "2026-11-23",
        "--out",
        &d.p("trial/small-feedback.csv"),
    ])?;
    let weeks = split_weeks(&work.join("trial/small-feedback.csv"), "2026-11-30")?;
    for (i, week) in weeks.iter().enumerate() {
        let n = i + 1;
        let tokens = d.p(&format!("trial/small-feedback-week{n}.tokens.csv"));
        d.run(&[
            "pseudonymise",
            "--key",
            &d.p("keys/small-trial.key"),
            "--input",
            &week.display().to_string(),
            "--output",
            &tokens,
            "--allow-blank",
            "--keep",
            "reference",
            "--keep",
            "status",
            "--keep",
            "date",
            "--as-of",
            AS_OF,
        ])?;
        d.say(
            "service",
            &format!("records the small study's week-{n} uptake; the analyst publishes its week-{n} reports"),
        );
        d.run(&[
            "uptake",
            "--store",
            store,
            "--key",
            master,
            "--study",
            SMALL,
            "--input",
            &tokens,
            "--allow-unmatched",
        ])?;
        let dir = a.out.join(format!("small-week{n}"));
        clear_reports(&dir)?;
        d.run(&[
            "report",
            "--store",
            store,
            "--study",
            SMALL,
            "--out",
            &dir.display().to_string(),
        ])?;
    }
    Ok(())
}

/// Remove a previous report directory, if any.
fn clear_reports(dir: &Path) -> Result<(), CliError> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .map_err(|e| CliError::new(format!("cannot clear {}: {e}", dir.display())))?;
    }
    Ok(())
}

/// Split the feedback file by its `date` column into week 1 (before
/// `boundary`) and week 2 (from it on).
fn split_weeks(path: &Path, boundary: &str) -> Result<Vec<PathBuf>, CliError> {
    let err = |e: &dyn std::fmt::Display| CliError::new(format!("{}: {e}", path.display()));
    let mut rdr = csv::Reader::from_path(path).map_err(|e| err(&e))?;
    let header = rdr.byte_headers().map_err(|e| err(&e))?.clone();
    let date_col = header
        .iter()
        .position(|h| h == b"date")
        .ok_or_else(|| err(&"no date column"))?;
    let names = [
        path.with_file_name("feedback-week1.csv"),
        path.with_file_name("feedback-week2.csv"),
    ];
    let mut ws = Vec::new();
    for n in &names {
        let mut w = csv::Writer::from_path(n).map_err(|e| err(&e))?;
        w.write_byte_record(&header).map_err(|e| err(&e))?;
        ws.push(w);
    }
    for rec in rdr.byte_records() {
        let rec = rec.map_err(|e| err(&e))?;
        let i = usize::from(rec[date_col] >= *boundary.as_bytes());
        ws[i].write_byte_record(&rec).map_err(|e| err(&e))?;
    }
    for mut w in ws {
        w.flush().map_err(|e| err(&e))?;
    }
    Ok(names.to_vec())
}
