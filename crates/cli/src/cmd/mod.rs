//! One module per subcommand. Each has an `Args` (or a subcommand enum) and a
//! `run` function returning [`crate::error::CliResult`]. Command modules do
//! not import each other: what they share is in [`crate::open`] (stores,
//! keys, schemas, dates), [`crate::args`] (option groups) and
//! [`crate::error`].

pub mod audit;
pub mod demo;
pub mod encode;
pub mod evaluate;
pub mod filter;
pub mod invite;
pub mod keys;
pub mod link;
pub mod noncontact;
pub mod pseudonymise;
pub mod report;
pub mod returns;
pub mod study;
pub mod synth;
pub mod uptake;
