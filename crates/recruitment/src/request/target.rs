//! `[quotas.target]`: quotas stated as enrolments or responses rather than
//! invitations (the allocation that meets them is [`crate::allocation`]).

use super::Quotas;
use serde::{Deserialize, Serialize};

/// What a stratum's target counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// People enrolled (ever randomised).
    Enrolled,
    /// People who responded in any way.
    Responded,
}

impl Outcome {
    /// `enrolled` or `responded`.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Enrolled => "enrolled",
            Outcome::Responded => "responded",
        }
    }
}

fn default_min_age() -> u32 {
    56
}

fn default_rate() -> f64 {
    0.05
}

/// `[quotas.target]`: targets stated as enrolments or responses.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// What the targets count (`enrolled` or `responded`).
    pub outcome: Outcome,
    /// The total target. Required with `proportional = true` (the eligible
    /// population's distribution); with listed strata it must equal their
    /// sum when given.
    pub total: Option<u32>,
    /// Only invitations at least this many days before the as-of date are
    /// evidence (default 56).
    #[serde(default = "default_min_age")]
    pub history_min_age_days: u32,
    /// Fix the prior strength M (pseudo-invitations) instead of estimating it.
    pub prior_strength: Option<f64>,
    /// The rate assumed when the store holds no history (default 0.05).
    #[serde(default = "default_rate")]
    pub default_rate: f64,
    /// Allocate only what the study still lacks: per stratum, the target
    /// minus the study's own enrolments (or responses) recorded so far and
    /// the expected successes of its invitations still awaiting an outcome
    /// (made after the history cut-off, no outcome yet), never below 0.
    /// For top-up batches of a study sent in waves.
    #[serde(default)]
    pub net_of_study: bool,
    /// Send only this share of the allocation now (a first wave, topped up
    /// later with `net_of_study`); default 1.
    pub wave_fraction: Option<f64>,
}

impl TargetSpec {
    /// Check the target against its quotas: `(key, message)` on failure.
    pub fn check(&self, q: &Quotas) -> Result<(), (String, String)> {
        let bad = |k: &str, m: &str| Err((format!("quotas.target.{k}"), m.to_string()));
        if !(self.default_rate > 0.0 && self.default_rate <= 1.0) {
            return bad("default_rate", "expected a rate in (0, 1]");
        }
        if let Some(m) = self.prior_strength {
            if !(m.is_finite() && m > 0.0) {
                return bad(
                    "prior_strength",
                    "expected a positive number of pseudo-invitations",
                );
            }
        }
        if let Some(f) = self.wave_fraction {
            if !(f > 0.0 && f <= 1.0) {
                return bad("wave_fraction", "expected a share in (0, 1]");
            }
        }
        if q.allow_fill {
            return bad(
                "outcome",
                "response-adjusted quotas cannot be combined with `allow_fill`",
            );
        }
        let listed: u64 = q.stratum.iter().map(|s| s.count as u64).sum();
        match (q.proportional, self.total) {
            (true, None) => bad(
                "total",
                "expected the total to match the eligible distribution with",
            ),
            (_, Some(0)) => bad("total", "expected at least 1"),
            (false, Some(t)) if t as u64 != listed => bad(
                "total",
                &format!("the strata's targets add up to {listed}, but the total is {t}"),
            ),
            _ => Ok(()),
        }
    }
}
