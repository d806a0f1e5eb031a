//! Study requests, cohort criteria, quotas, SWAT arms, QA seeds, minimised batches, uptake and returns

#![forbid(unsafe_code)]
