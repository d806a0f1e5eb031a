//! `trialink report`: disclosure-controlled reports for a study.
//!
//! Reads the study's figures from the service store (or, with `--input`,
//! from a JSON file of the report structs), protects every table as the
//! next release of the study — audited against every earlier release
//! recorded in the store — writes CSV, Markdown and HTML, and records the
//! release in the store.

use crate::cmd::noncontact::open_store;
use crate::error::{CliError, CliResult, Context};
use disclosure::{Policy, Release};
use reports::{
    Breakdown, Formats, FrequencyBucket, FunnelStep, GroupSum, IntervalMethod, Options, ReportInput,
    ReturnReason, ReturnsData, SelectionData, ServiceData, ServiceStudy, StratumRow, SwatArm, SwatData,
    UptakeData, UptakeRow,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// The store's release-log table name for a whole report release.
const RELEASE_TABLE: &str = "report-release";

/// The release-log key and table name of the service evaluation (a key no
/// study can have: study ids are lowercase trial scopes without a colon).
const SERVICE_KEY: &str = "service:evaluation";
const SERVICE_TABLE: &str = "service-release";

/// Options for `trialink report`.
///
/// Under `--store`, figures come from the invitations, outcomes and returns
/// recorded for the study (uptake by arm, by registry match, by quota
/// stratum, by age band, sex, ethnic group and region — linked tables with
/// the same grand totals; SWAT arms; returns), and the release is recorded in the store so
/// that the next report of the study is audited against it (differencing of
/// cumulative figures). `--input FILE` reads a JSON `ReportInput` instead
/// (selection funnel and strata included); add `--store` to use and record
/// the release log all the same.
#[derive(clap::Args)]
#[command(after_help = "Example:\n  \
trialink report --store service.sqlite --study galleri-2 --out reports/galleri-2/week-03 --policy nhs-hes\n  \
trialink report --input figures.json --out reports/demo --format html\n  \
trialink report --service --store service.sqlite --out reports/service/2026-11\n\n\
Writes tables.json (audit it with `trialink audit --report DIR`), one CSV per table, statistics.csv,\n\
and selection/uptake/swat/returns .md and .html.")]
pub struct Args {
    /// The service store.
    #[arg(long, value_name = "DB")]
    pub store: Option<PathBuf>,
    /// Study id.
    #[arg(long, value_name = "ID")]
    pub study: Option<String>,
    /// Report figures as JSON instead of reading them from the store.
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Output directory.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Disclosure-control policy: built-in name or TOML file.
    #[arg(long, value_name = "NAME|FILE", default_value = "nhs-hes")]
    pub policy: String,
    /// Formats, comma-separated: csv, md, html (tables.json is always written).
    #[arg(long, value_name = "LIST", default_value = "csv,md,html")]
    pub format: String,
    /// SWAT control arm (default: the first arm by name).
    #[arg(long, value_name = "ARM")]
    pub control: Option<String>,
    /// Use Clopper–Pearson intervals for rates instead of Wilson.
    #[arg(long)]
    pub exact_intervals: bool,
    /// As-of date shown in the reports (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<String>,
    /// Replace an existing report in --out.
    #[arg(long)]
    pub force: bool,
    /// The service evaluation instead of a study's reports: per study
    /// requested vs invited, delivered, responded, enrolled and days to
    /// target; people by number of invitations received across studies;
    /// exclusions by reason. Needs --store; recorded in the store as the
    /// service's own release series.
    #[arg(long, conflicts_with_all = ["study", "input", "control"])]
    pub service: bool,
}

fn formats(list: &str) -> Result<Formats, CliError> {
    let mut f = Formats {
        csv: false,
        markdown: false,
        html: false,
    };
    for part in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match part {
            "csv" => f.csv = true,
            "md" | "markdown" => f.markdown = true,
            "html" => f.html = true,
            _ => {
                return Err(
                    CliError::new(format!("--format: unknown format `{part}`")).hint("use csv, md, html")
                )
            }
        }
    }
    Ok(f)
}

pub fn run(args: Args) -> CliResult {
    let policy = Policy::load(&args.policy)
        .map_err(|e| CliError::new(e).hint("use nhs-hes, opensafely, threshold-10 or a policy TOML file"))?;
    let formats = formats(&args.format)?;
    if args.out.join("tables.json").exists() && !args.force {
        return Err(
            CliError::new(format!("{} already holds a report", args.out.display()))
                .hint("choose a new --out directory (one per release) or pass --force"),
        );
    }
    if args.service && args.store.is_none() {
        return Err(CliError::new("--service needs --store").hint("pass --store DB"));
    }
    let mut store = match (&args.store, &args.input) {
        (Some(p), _) => Some(open_store(Some(p))?),
        (None, None) => Some(open_store(None)?),
        (None, Some(_)) => None,
    };
    let release_table = if args.service {
        SERVICE_TABLE
    } else {
        RELEASE_TABLE
    };
    let mut input = match &args.input {
        _ if args.service => service_from_store(store.as_ref().expect("store opened"))?,
        Some(path) => {
            let text = tabular::limited::read_to_string(path, tabular::limited::REPORT_JSON)
                .map_err(|e| CliError::new(format!("reading {}: {e}", path.display())))?;
            let mut i: ReportInput = serde_json::from_str(&text).map_err(|e| {
                CliError::new(format!("{}:{}:{}: {}", path.display(), e.line(), e.column(), e.to_string().split(" at line").next().unwrap_or("invalid JSON")))
                    .hint("expected the JSON form of reports::ReportInput (see fixtures/disclosure/report_input.json)")
            })?;
            if let Some(s) = &args.study {
                if s != &i.study {
                    return Err(CliError::new("--study differs from the input file's `study`"));
                }
            }
            if i.study.is_empty() {
                i.study = args.study.clone().unwrap_or_default();
            }
            i
        }
        None => {
            let study = args
                .study
                .clone()
                .ok_or_else(|| CliError::new("--study is required with --store").hint("pass --study ID"))?;
            from_store(
                store.as_ref().expect("store opened"),
                &study,
                args.control.as_deref(),
            )?
        }
    };
    if let Some(d) = &args.as_of {
        input.as_of = d.clone();
    }
    if let (Some(c), Some(sw)) = (&args.control, input.swat.as_mut()) {
        sw.control = c.clone();
    }
    let earlier: Vec<Release> = match &store {
        Some(s) => s
            .releases(&input.study, release_table)
            .context("reading the release log")?
            .into_iter()
            .enumerate()
            .map(|(k, (_, _, content))| {
                serde_json::from_str::<Release>(&content).map_err(|_| {
                    CliError::new(format!(
                        "release log entry {} of study is not a readable release",
                        k + 1
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    let options = Options {
        confidence: 0.95,
        interval: if args.exact_intervals {
            IntervalMethod::ClopperPearson
        } else {
            IntervalMethod::Wilson
        },
    };
    let report = reports::build(&input, &policy, &earlier, options).map_err(|e| {
        let hint = match e {
            reports::ReportError::Protect(disclosure::ProtectError::Refused { .. }) => {
                "too few new people since the last release to publish safely: wait for more data"
            }
            _ => "check the report input",
        };
        CliError::new(e).hint(hint)
    })?;
    let release = report.release();
    let json = serde_json::to_string(&release).expect("release serialises");
    // record and write together: the release is logged only if its files are written
    if let Some(s) = store.as_mut() {
        s.begin().context("starting a store transaction")?;
        if let Err(e) = s.log_release(&input.study, release_table, &policy.name, &json) {
            let _ = s.rollback();
            return Err(CliError::new(format!("recording the release: {e}")));
        }
    }
    let files = match reports::write_report(&report, &args.out, formats) {
        Ok(f) => f,
        Err(e) => {
            if let Some(s) = store.as_mut() {
                let _ = s.rollback();
            }
            return Err(CliError::new(e));
        }
    };
    if let Some(s) = store.as_mut() {
        s.commit().context("recording the release")?;
    }
    let p = &report.protected;
    eprintln!(
        "report: study {}, release {}, policy {}: {} table(s), {} suppressed cell(s) ({} small, {} secondary, {} added after the audit); audit over {} release(s) passed",
        input.study,
        p.sequence,
        policy.name,
        p.tables.len(),
        p.suppressed(),
        p.count(disclosure::CellStatus::Primary),
        p.count(disclosure::CellStatus::Secondary),
        p.count(disclosure::CellStatus::Repair),
        p.audit.releases
    );
    for f in files {
        outln!("{}", f.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Fill the report structs from the store.
fn from_store(store: &store::Store, study: &str, control: Option<&str>) -> Result<ReportInput, CliError> {
    if let Some(p) = store.study_purge_record(study).context("reading the store")? {
        return Err(CliError::new(format!(
            "study {study} was purged on {}: its person-level data is destroyed, and its {} published release(s) stand as published",
            p.purged, p.releases_kept
        ))
        .hint("the reports already published for it are unchanged; `trialink study show ID` gives the purge record"));
    }
    if !store.study_exists(study).context("reading the store")? {
        return Err(CliError::new("no such study in the store")
            .hint("check --study against the batches recorded by `trialink invite`"));
    }
    let rows = store.uptake_detail(study).context("reading uptake figures")?;
    let (breakdowns, by_arm) = uptake_breakdowns(&rows);
    let arms: Vec<SwatArm> = by_arm
        .iter()
        .map(|(a, c)| SwatArm {
            arm: a.clone(),
            delivered: c[1],
            enrolled: c[3],
        })
        .collect();
    let swat = if arms.len() >= 2 {
        let control = control.map(str::to_string).unwrap_or_else(|| arms[0].arm.clone());
        Some(SwatData { control, arms })
    } else {
        None
    };
    let invited: u64 = by_arm.values().map(|c| c[0]).sum();
    let returned: u64 = by_arm.values().map(|c| c[4]).sum();
    let selection = selection_from_store(store, study)?;
    let mut by_reason: Vec<ReturnReason> = store
        .returns_by_reason(study)
        .context("reading returns")?
        .into_iter()
        .map(|(reason, count)| ReturnReason { reason, count })
        .collect();
    if by_reason.is_empty() {
        by_reason.push(ReturnReason {
            reason: "all reasons".into(),
            count: returned,
        });
    }
    Ok(ReportInput {
        study: study.to_string(),
        as_of: String::new(),
        selection,
        uptake: Some(UptakeData { breakdowns }),
        swat,
        returns: Some(ReturnsData { invited, by_reason }),
        service: None,
    })
}

/// The service evaluation's figures from the store, across every study.
fn service_from_store(store: &store::Store) -> Result<ReportInput, CliError> {
    let studies: Vec<ServiceStudy> = store
        .service_studies()
        .context("reading study figures")?
        .into_iter()
        .map(|f| ServiceStudy {
            study: f.study,
            requested: f.requested,
            invited: f.invited,
            delivered: f.invited.saturating_sub(f.returned),
            responded: f.responded,
            enrolled: f.enrolled,
            days_to_target: f.days_to_target,
        })
        .collect();
    if studies.is_empty() {
        return Err(CliError::new("the store holds no invitation batch")
            .hint("the service evaluation covers studies with batches recorded by `trialink invite`"));
    }
    let mut people = [0u64; 4];
    for (n, count) in store
        .invitation_frequency()
        .context("reading invitation frequency")?
    {
        people[(n.clamp(1, 4) - 1) as usize] += count;
    }
    let frequency = people
        .iter()
        .enumerate()
        .map(|(k, &p)| FrequencyBucket {
            invitations: k as u64 + 1,
            people: p,
        })
        .collect();
    let exclusions = store
        .service_exclusions()
        .context("reading batch summaries")?
        .into_iter()
        .map(|(reason, count)| FunnelStep {
            reason: group_label(reason.replace('_', " ")),
            count,
        })
        .collect();
    Ok(ReportInput {
        study: SERVICE_KEY.to_string(),
        as_of: String::new(),
        service: Some(ServiceData {
            studies,
            frequency,
            exclusions,
        }),
        ..Default::default()
    })
}

/// Demographic variables of the uptake report: the store's column name and
/// the variable name shown.
const DEMOGRAPHICS: [(&str, &str); 4] = [
    ("age_band", "age band"),
    ("sex", "sex"),
    ("ethnic_group", "ethnic group"),
    ("region", "region"),
];

/// A quota stratum key (`sex=female|age_band=50-54`) as its labels
/// (`female / 50-54`), as the selection report shows it.
fn stratum_label(key: &str) -> String {
    key.split('|')
        .map(|p| p.split_once('=').map(|(_, b)| b).unwrap_or(p))
        .collect::<Vec<_>>()
        .join(" / ")
}

/// A group label a table can hold: never empty, never `Total`.
fn group_label(label: String) -> String {
    if label.trim().is_empty() {
        "not recorded".into()
    } else if label == disclosure::TOTAL {
        format!("{label} (group)")
    } else {
        label
    }
}

/// Uptake by arm, registry match, quota stratum and each demographic
/// variable: margins of one cross-classification, so their grand totals
/// agree and the tables are linked. A demographic that is a stratification
/// variable (every invitation's stratum names the same value) is declared
/// the sum of its strata, so disclosure control sees that relation too.
/// Also returns the arm counts `[invited, delivered, responded, enrolled,
/// returned]`.
fn uptake_breakdowns(rows: &[store::figures::UptakeDetail]) -> (Vec<Breakdown>, BTreeMap<String, [u64; 5]>) {
    let mut by: Vec<(String, BTreeMap<String, [u64; 5]>)> = ["arm", "registry", "stratum"]
        .iter()
        .chain(DEMOGRAPHICS.iter().map(|d| &d.1))
        .map(|v| (v.to_string(), BTreeMap::new()))
        .collect();
    for r in rows {
        let mut keys = vec![
            r.arm.clone(),
            if r.registry {
                "registry volunteer".into()
            } else {
                "not a volunteer".into()
            },
            stratum_label(&r.stratum),
        ];
        keys.extend(
            DEMOGRAPHICS
                .iter()
                .map(|d| r.demographic(d.0).unwrap_or_default().to_string()),
        );
        for ((_, m), k) in by.iter_mut().zip(keys) {
            let e = m.entry(group_label(k)).or_default();
            e[0] += r.invited;
            e[1] += r.delivered();
            e[2] += r.responded;
            e[3] += r.enrolled;
            e[4] += r.returned;
        }
    }
    // demographic groups that are unions of quota strata
    let mut sums: BTreeMap<String, Vec<GroupSum>> = BTreeMap::new();
    for (column, variable) in DEMOGRAPHICS {
        let mut groups: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        let consistent = !rows.is_empty()
            && rows.iter().all(|r| {
                let named = r
                    .stratum
                    .split('|')
                    .find_map(|p| p.split_once('=').filter(|(a, _)| *a == column).map(|(_, b)| b));
                match named {
                    Some(v) if Some(v) == r.demographic(column) => {
                        groups
                            .entry(v.to_string())
                            .or_default()
                            .insert(group_label(stratum_label(&r.stratum)));
                        true
                    }
                    _ => false,
                }
            });
        if consistent {
            sums.insert(
                variable.to_string(),
                groups
                    .into_iter()
                    .map(|(group, strata)| GroupSum {
                        group: group_label(group),
                        of: "stratum".into(),
                        groups: strata.into_iter().collect(),
                    })
                    .collect(),
            );
        }
    }
    let by_arm = by[0].1.clone();
    let breakdowns = by
        .into_iter()
        .filter(|(_, m)| !m.is_empty())
        .map(|(v, m)| Breakdown {
            sums: sums.remove(&v).unwrap_or_default(),
            variable: v,
            rows: m
                .iter()
                .map(|(g, c)| UptakeRow {
                    group: g.clone(),
                    invited: c[0],
                    delivered: c[1],
                    responded: c[2],
                    enrolled: c[3],
                })
                .collect(),
        })
        .collect();
    (breakdowns, by_arm)
}

/// The selection report from the summaries `invite` recorded with each
/// committed batch of the study (summed over batches): the exclusion funnel
/// from the eligible population to the invitations, and requested vs actual
/// per quota stratum.
fn selection_from_store(store: &store::Store, study: &str) -> Result<Option<SelectionData>, CliError> {
    let batches = store.batch_summaries(study).context("reading batch summaries")?;
    if batches.is_empty() {
        return Ok(None);
    }
    let bad = || {
        CliError::new("the store holds a batch summary this version cannot read")
            .hint("report with the trialink version that made the batch")
    };
    let mut funnel: Vec<(String, u64)> = Vec::new();
    let mut strata: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let (mut eligible, mut not_selected, mut invited) = (0u64, 0u64, 0u64);
    for (_, _, json) in &batches {
        let v: serde_json::Value = serde_json::from_str(json).map_err(|_| bad())?;
        let steps = v["funnel"].as_array().ok_or_else(bad)?;
        let cohort_rows = v["cohort_rows"].as_u64().ok_or_else(bad)?;
        let mut before_exclusions = cohort_rows;
        for st in steps {
            let stage = st["stage"].as_str().ok_or_else(bad)?;
            let count = st["count"].as_u64().ok_or_else(bad)?;
            match stage {
                // not people the study could invite: rows rejected and people outside the criteria
                "rejected" | "not_eligible" => before_exclusions = before_exclusions.saturating_sub(count),
                "not_selected" => not_selected += count,
                "invited" => invited += count,
                _ => match funnel.iter_mut().find(|(r, _)| r == stage) {
                    Some((_, c)) => *c += count,
                    None => funnel.push((stage.to_string(), count)),
                },
            }
        }
        eligible += before_exclusions;
        for t in v["strata"].as_array().ok_or_else(bad)? {
            let name = t["stratum"].as_str().ok_or_else(bad)?.to_string();
            let e = strata.entry(name).or_default();
            e.0 += t["requested"].as_u64().ok_or_else(bad)?;
            e.1 += t["selected"].as_u64().ok_or_else(bad)?;
        }
    }
    // Stratum names look like `sex=female|age_band=50-54`.
    let variables: Vec<String> = strata
        .keys()
        .next()
        .map(|k| {
            k.split('|')
                .filter_map(|p| p.split_once('=').map(|(a, _)| a.replace('_', " ")))
                .collect()
        })
        .unwrap_or_default();
    let rows = strata
        .into_iter()
        .map(|(k, (requested, actual))| StratumRow {
            labels: k
                .split('|')
                .map(|p| p.split_once('=').map(|(_, b)| b).unwrap_or(p).to_string())
                .collect(),
            requested,
            actual,
        })
        .collect();
    Ok(Some(SelectionData {
        cohort: eligible,
        funnel: funnel
            .into_iter()
            .map(|(reason, count)| FunnelStep {
                reason: reason.replace('_', " "),
                count,
            })
            .collect(),
        not_selected,
        invited,
        strata_variables: variables,
        strata: rows,
    }))
}
