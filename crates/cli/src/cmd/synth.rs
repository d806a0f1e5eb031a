//! `trialink synth`: synthetic populations with realistic errors and ground
//! truth, and `trialink synth uptake`: simulated trial feedback for a batch.

use crate::error::{CliError, CliResult};
use std::path::PathBuf;
use std::process::ExitCode;
use synth::uptake::UptakeConfig;
use synth::{parse_date, parse_rate, Config, Date, ErrorOverrides, ErrorRates};

const AFTER_HELP: &str = include_str!("../../help/synth.txt");

/// Options for `trialink synth`.
#[derive(clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    after_help = AFTER_HELP
)]
pub struct Args {
    #[command(subcommand)]
    sub: Option<SynthSub>,
    #[command(flatten)]
    pop: PopulationArgs,
}

#[derive(clap::Subcommand)]
enum SynthSub {
    /// Simulate a trial's sign-up feedback for an invitation batch.
    Uptake(UptakeArgs),
}

/// Population options.
#[derive(clap::Args)]
struct PopulationArgs {
    /// People in the cohort.
    #[arg(long, required = true, value_name = "N")]
    people: Option<u64>,
    /// Output directory (created if needed).
    #[arg(long, required = true, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Seed; the same seed and options give byte-identical files.
    #[arg(long, default_value_t = 42, value_name = "S")]
    seed: u64,
    /// Overwrite existing output files.
    #[arg(long)]
    force: bool,
    /// Date ages are counted at (keeps output independent of today's date);
    /// no date of birth falls after it.
    #[arg(long, default_value = "2026-01-01", value_parser = parse_date, value_name = "DATE")]
    as_of: Date,
    /// Youngest age in the cohort.
    #[arg(long, default_value_t = 18, value_name = "YEARS")]
    min_age: u32,
    /// Share of the cohort who volunteered for the registry.
    #[arg(long, default_value_t = 0.10, value_parser = parse_rate, value_name = "P")]
    registry_fraction: f64,
    /// Share of registry rows that are people outside the cohort.
    #[arg(long, default_value_t = 0.20, value_parser = parse_rate, value_name = "P")]
    outsider_fraction: f64,
    /// Share of the cohort on the trial's enrolled list.
    #[arg(long, default_value_t = 0.005, value_parser = parse_rate, value_name = "P")]
    enrolled_fraction: f64,
    /// Share of the cohort who asked not to be contacted.
    #[arg(long, default_value_t = 0.005, value_parser = parse_rate, value_name = "P")]
    objection_fraction: f64,
    /// Share of enrolled/objection rows for people outside the cohort.
    #[arg(long, default_value_t = 0.10, value_parser = parse_rate, value_name = "P")]
    list_outsider_fraction: f64,
    /// Error rate (mistyped NHS number; separately DOB a day out) in enrolled and objection rows.
    #[arg(long, default_value_t = 0.01, value_parser = parse_rate, value_name = "P")]
    list_error_rate: f64,
    /// Number of QA seed people.
    #[arg(long, default_value_t = 10, value_name = "N")]
    qa_seeds: u32,
    /// Write objections.csv as careless operators do: NHS numbers with
    /// Unicode spaces, full-width or Arabic-Indic digits or a leading `'`,
    /// dates as dd.mm.yyyy, dd-mm-yyyy, yyyy/mm/dd or an ISO date-time (to
    /// test that `noncontact add` loses no objector to formatting).
    #[arg(long)]
    messy_objections: bool,
    /// Multiply every registry error rate below by F (0 = a clean registry).
    #[arg(long, default_value_t = 1.0, value_name = "F")]
    error_scale: f64,
    /// Registry: given and family name each mistyped (sub/del/ins/transposition/keyboard).
    #[arg(long, value_parser = parse_rate, value_name = "P")]
    typo_rate: Option<f64>,
    /// Registry: given name replaced by a nickname (among names that have one).
    #[arg(long, value_parser = parse_rate, value_name = "P")]
    nickname_rate: Option<f64>,
    /// Registry: given and family names swapped.
    #[arg(long, value_parser = parse_rate, value_name = "P")]
    swap_names_rate: Option<f64>,
    /// Registry: given and family name each blank.
    #[arg(long, value_parser = parse_rate, value_name = "P")]
    name_blank_rate: Option<f64>,
    /// Registry: day and month of birth swapped (where that gives another real date).
    #[arg(long, value_parser = parse_rate, value_name = "P")]
    dob_swap_rate: Option<f64>,
    /// Registry: date of birth one day out.
    #[arg(long, value_parser = parse_rate, value_name = "P")]
    dob_shift_rate: Option<f64>,
    /// Registry: date of birth blank.
    #[arg(long, value_parser = parse_rate, value_name = "P")]
    dob_blank_rate: Option<f64>,
    /// Registry: NHS number missing.
    #[arg(long, value_parser = parse_rate, value_name = "P")]
    nhs_missing_rate: Option<f64>,
    /// Registry: NHS number mistyped (fails the check digit).
    #[arg(long, value_parser = parse_rate, value_name = "P")]
    nhs_mistype_rate: Option<f64>,
    /// Registry: another cohort member's (valid) NHS number.
    #[arg(long, value_parser = parse_rate, value_name = "P")]
    nhs_wrong_rate: Option<f64>,
    /// Registry: moved (a different postcode).
    #[arg(long, value_parser = parse_rate, value_name = "P")]
    moved_rate: Option<f64>,
    /// Registry: postcode blank.
    #[arg(long, value_parser = parse_rate, value_name = "P")]
    postcode_blank_rate: Option<f64>,
    /// Registry: sex blank.
    #[arg(long, value_parser = parse_rate, value_name = "P")]
    sex_blank_rate: Option<f64>,
}

/// Options for `trialink synth uptake`.
#[derive(clap::Args)]
#[command(after_help = include_str!("../../help/synth_uptake.txt"))]
struct UptakeArgs {
    /// The invitation batch (postal, SMS or email columns).
    #[arg(long, value_name = "FILE")]
    batch: PathBuf,
    /// Feedback file to write.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Response rate of the first arm (templates in sorted order).
    #[arg(long, value_parser = parse_rate, value_name = "R")]
    rate: f64,
    /// Seed.
    #[arg(long, default_value_t = 1, value_name = "S")]
    seed: u64,
    /// The cohort the batch was drawn from: lets responders be reported by NHS number + DOB.
    #[arg(long, value_name = "FILE")]
    cohort: Option<PathBuf>,
    /// QA seeds file: marks the seeds in the batch.
    #[arg(long, value_name = "FILE")]
    qa_seeds: Option<PathBuf>,
    /// Relative response increase per further arm (0.3: the second arm responds 30% more).
    #[arg(long, default_value_t = 0.3, value_name = "E")]
    arm_effect: f64,
    /// Response rate of one template, overriding --rate/--arm-effect (repeatable).
    #[arg(long, value_name = "TEMPLATE=R")]
    arm_rate: Vec<String>,
    /// Share of responders reported by invitation reference (the rest by NHS number + DOB).
    #[arg(long, default_value_t = 0.6, value_parser = parse_rate, value_name = "P")]
    by_reference: f64,
    /// Share of NHS number + DOB responders with an error in one of them.
    #[arg(long, default_value_t = 0.02, value_parser = parse_rate, value_name = "P")]
    error_rate: f64,
    /// Rows matching nothing, as a share of responders.
    #[arg(long, default_value_t = 0.02, value_parser = parse_rate, value_name = "P")]
    unmatched: f64,
    /// Share of QA seeds in the batch that answer.
    #[arg(long, default_value_t = 0.5, value_parser = parse_rate, value_name = "P")]
    qa_response: f64,
    /// First day of feedback.
    #[arg(long, default_value = "2026-02-01", value_parser = parse_date, value_name = "DATE")]
    start: Date,
    /// Demographic response model: `default` (response and consent varying by age, sex,
    /// ethnic group, region and registry membership, in the directions published
    /// participation patterns show) or a JSON file of overrides. Needs --cohort.
    #[arg(long, value_name = "default|FILE", requires = "cohort")]
    response_model: Option<String>,
    /// Registry file (`nhs_number` column): its people are volunteers to the response model.
    #[arg(long, value_name = "FILE", requires = "response_model")]
    registry: Option<PathBuf>,
    /// Overwrite existing output files.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> CliResult {
    match args.sub {
        Some(SynthSub::Uptake(u)) => run_uptake(u),
        None => run_population(args.pop),
    }
}

fn run_population(a: PopulationArgs) -> CliResult {
    let people = a.people.ok_or_else(|| CliError::new("--people is required"))?;
    let out = a.out.ok_or_else(|| CliError::new("--out is required"))?;
    if !(0.0..=100.0).contains(&a.error_scale) {
        return Err(CliError::new("--error-scale must be between 0 and 100"));
    }
    let e = ErrorRates::default()
        .scaled(a.error_scale)
        .overridden(&ErrorOverrides {
            typo: a.typo_rate,
            nickname: a.nickname_rate,
            swap_names: a.swap_names_rate,
            name_blank: a.name_blank_rate,
            dob_swap: a.dob_swap_rate,
            dob_shift: a.dob_shift_rate,
            dob_blank: a.dob_blank_rate,
            nhs_missing: a.nhs_missing_rate,
            nhs_mistype: a.nhs_mistype_rate,
            nhs_wrong: a.nhs_wrong_rate,
            moved: a.moved_rate,
            postcode_blank: a.postcode_blank_rate,
            sex_blank: a.sex_blank_rate,
        });
    let cfg = Config {
        people,
        seed: a.seed,
        as_of: a.as_of,
        min_age: a.min_age,
        registry_fraction: a.registry_fraction,
        outsider_fraction: a.outsider_fraction,
        enrolled_fraction: a.enrolled_fraction,
        objection_fraction: a.objection_fraction,
        list_outsider_fraction: a.list_outsider_fraction,
        qa_seeds: a.qa_seeds,
        errors: e,
        list_error_rate: a.list_error_rate,
        messy_objections: a.messy_objections,
    };
    let started = std::time::Instant::now();
    let pb = crate::progress::rows("synth", Some(people));
    let result = synth::generate_with_progress(&cfg, &out, a.force, &mut |done| pb.set_position(done));
    pb.finish_and_clear();
    let s = result.map_err(synth_error)?;
    eprintln!("{}", s.console(started.elapsed().as_secs_f64(), &out));
    Ok(ExitCode::SUCCESS)
}

fn synth_error(e: synth::SynthError) -> CliError {
    CliError::new(&e).hint(e.hint())
}

fn run_uptake(a: UptakeArgs) -> CliResult {
    let arm_rates = synth::uptake::parse_arm_rates(&a.arm_rate)
        .map_err(|e| CliError::new(format!("--arm-rate {e}")).hint("e.g. --arm-rate letter_b=0.15"))?;
    let model = a
        .response_model
        .as_deref()
        .map(synth::response::ResponseModel::load);
    let model = model.transpose().map_err(|e| {
        CliError::new(format!("--response-model: {e}"))
            .hint("use `default` or a JSON object of odds ratios (see `synth::response`)")
    })?;
    let cfg = UptakeConfig {
        seed: a.seed,
        rate: a.rate,
        arm_effect: a.arm_effect,
        arm_rates,
        by_reference: a.by_reference,
        error_rate: a.error_rate,
        unmatched: a.unmatched,
        qa_response: a.qa_response,
        start: a.start,
        model,
        registry: a.registry.clone(),
    };
    let t = synth::uptake::simulate(
        &a.batch,
        a.cohort.as_deref(),
        a.qa_seeds.as_deref(),
        &cfg,
        &a.out,
        a.force,
    )
    .map_err(synth_error)?;
    eprintln!("{}", t.console(&a.out));
    Ok(ExitCode::SUCCESS)
}
