//! Study requests, cohort criteria, quotas, SWAT arms, QA seeds, minimised
//! invitation batches and reminder batches, uptake feedback and returns.
//!
//! * [`request`] parses and validates the study request (TOML; unknown keys
//!   are errors naming the key). `fixtures/requests/example.toml` is a
//!   commented example.
//! * [`invite::invite`] runs the pipeline: the cohort is pseudonymised row
//!   by row (`service:store`, `trial:<study>` and, with a registry file, the
//!   registry's scope); criteria, standard exclusions and the suppression
//!   lists are applied on tokens with a funnel that adds up; quotas are met
//!   per stratum (registry volunteers first, then by a seeded rank);
//!   invitees are balanced across SWAT arms within strata; QA seeds are
//!   placed at random positions; the batch holds exactly the route's
//!   columns (route 1, the NHS notification service: reference, template,
//!   NHS number; routes 2–4: the channel's contact fields) and a UUID v4
//!   reference per row derived by HMAC under a service-held key. The request
//!   is checked against the study register first (route, channel, agreement,
//!   legal basis). The batch file and its store records are committed
//!   together (see the `store` crate).
//! * [`links`] reads `trialink link` output as registry volunteers, trusted
//!   only through the manifest chain back to the cohort being invited.
//! * [`feedback`] records uptake feedback and returns against invitations,
//!   accounting for every row; [`notes`] writes the notes and manifest
//!   beside each input.
//! * [`reminder`] makes reminder batches: follow-ups of an invitation batch
//!   to invitees who have not answered, every exclusion applied again.
//! * [`select`] holds the pure selection and allocation functions.
//! * [`demographics`] maps cohort cells to the coarse labels kept in the
//!   store.
//!
//! Identifiers never leave this crate except as the batch's columns (contact
//! fields, or route 1's NHS number): the store receives tokens and coarse
//! labels only.

#![forbid(unsafe_code)]

pub mod allocation;
pub mod batch;
pub mod demographics;
pub mod feedback;
#[cfg(any(fuzzing, test))]
pub mod fuzz_hooks;
pub mod invite;
pub mod links;
pub mod notes;
pub mod reminder;
pub mod request;
pub mod select;

pub use batch::{run_batch, BatchDone, BatchError, BatchRun};
pub use invite::{invite, BatchOptions, InviteError, InviteOptions, InviteReport, Summary};
pub use reminder::{remind, ReminderError, ReminderOptions, ReminderReport};
pub use request::{Channel, Request, RequestError, Validated};
