//! Exchangeable token filters (TLBF) and clkhash-compatible CLK encodings
//! with a fast Dice kernel.
//!
//! - [`tlbf`]: TLBF v1, the exchangeable Bloom filter of 32-byte tokens
//!   (format in docs/formats.md): build, write, read (magic, version, length and checksum
//!   checked), membership.
//! - [`clk`]: Cryptographic Long-term Keys byte-identical to clkhash 0.18 for
//!   linkage schema v3, plus trialink's opt-in hardening.
//! - [`dice`]: Dice similarity over packed `u64` words with runtime CPU
//!   dispatch (AVX-512 VPOPCNTDQ / AVX2 / POPCNT / scalar).

#![deny(unsafe_code)]

pub mod clk;
pub mod dice;
#[cfg(any(fuzzing, test))]
pub mod fuzz_hooks;
pub mod tlbf;
