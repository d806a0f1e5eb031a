//! The CLI integration tests: one test binary, one module per area.
//! Each module runs the built `trialink` binary as a user would.

mod adversary;
mod attack;
mod attack_disclosure;
mod attack_suppression;
mod audit;
mod common;
mod crash;
mod demo;
mod disclosure_union;
mod encode;
mod encode_schema;
mod fail_closed;
mod filter;
mod formats;
mod hostile;
mod hostile_formats;
mod hygiene;
mod invite;
mod keys;
mod kill_more;
mod link;
mod markers;
mod noncontact;
mod pseudonymise;
mod purge;
mod reminders;
mod report;
mod report_allocation;
mod report_demographics;
mod report_service;
mod returns;
mod study;
mod synth;
mod uptake;
