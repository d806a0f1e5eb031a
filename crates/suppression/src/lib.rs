//! Standard exclusions, non-contact and enrolled lists, invitation-frequency cap

#![forbid(unsafe_code)]
