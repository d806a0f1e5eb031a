//! The CLI's error type: a message, an optional hint, and an exit status.
//!
//! Messages name files, lines and columns, never a value from the data.

use std::fmt::Display;
use std::process::ExitCode;

/// What a subcommand returns.
pub type CliResult = Result<ExitCode, CliError>;

/// An error printed to stderr as `error: <message>` and `hint: <hint>`.
#[derive(Debug)]
pub struct CliError {
    /// Exit status: 1 a check failed, 2 error.
    pub code: u8,
    pub message: String,
    pub hint: Option<String>,
}

impl CliError {
    /// An error that stops the run (exit 2).
    pub fn new(message: impl Display) -> Self {
        CliError {
            code: 2,
            message: message.to_string(),
            hint: None,
        }
    }

    /// A check that failed (exit 1), e.g. an unsafe cell found by `audit`.
    pub fn check_failed(message: impl Display) -> Self {
        CliError {
            code: 1,
            message: message.to_string(),
            hint: None,
        }
    }

    /// Add a hint on what to do next.
    pub fn hint(mut self, hint: impl Display) -> Self {
        self.hint = Some(hint.to_string());
        self
    }

    /// Add a hint when there is one.
    pub fn maybe_hint(self, hint: Option<impl Display>) -> Self {
        match hint {
            Some(h) => self.hint(h),
            None => self,
        }
    }

    pub fn print(&self) {
        eprintln!("error: {}", self.message);
        if let Some(h) = &self.hint {
            eprintln!("hint: {h}");
        }
    }
}

/// A tabular error, with its hint.
impl From<tabular::TabularError> for CliError {
    fn from(e: tabular::TabularError) -> Self {
        let hint = e.hint();
        CliError::new(e).maybe_hint(hint)
    }
}

/// A feedback run's error with its hint; rows matching no invitation are
/// a check that failed (exit 1).
pub fn feedback_run_err(e: recruitment::notes::RunError) -> CliError {
    let err = match e {
        recruitment::notes::RunError::Unmatched { .. } => CliError::check_failed(&e),
        _ => CliError::new(&e),
    };
    err.maybe_hint(e.hint())
}

/// Turn any library error into a [`CliError`] with exit status 2. Library
/// errors carry positions, never values, so their `Display` is safe to print.
pub trait Context<T> {
    /// Prefix the error with what was being done.
    fn context(self, what: impl Display) -> Result<T, CliError>;
}

impl<T, E: Display> Context<T> for Result<T, E> {
    fn context(self, what: impl Display) -> Result<T, CliError> {
        self.map_err(|e| CliError::new(format!("{what}: {e}")))
    }
}

/// Exit 1 when a run told of rows it did not record, else 0.
pub fn exit_code(rows_left_out: bool) -> ExitCode {
    ExitCode::from(u8::from(rows_left_out))
}
