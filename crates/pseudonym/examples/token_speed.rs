//! Token throughput: `TokenKey` (zeroizing pre-keyed state over
//! `sha2::compress256`) against the `hmac` crate's cloned keyed state, which
//! `TokenKey` used before it was made to zeroize.
//!
//! `cargo run --release -p pseudonym --example token_speed [TOKENS]`
use hmac::{Hmac, Mac};
use pseudonym::{Date, Dob, DobFormats, Key, NhsNumber, TokenKey};
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000_000);
    let key = Key::from_bytes([0x5a; 32]);
    let tk = TokenKey::new(&key);
    let keyed = Hmac::<sha2::Sha256>::new_from_slice(key.expose_secret()).expect("any length");
    let nhs = NhsNumber::parse("9991335056").expect("valid");
    let dob = Dob::parse(
        "1980-01-05",
        &DobFormats::default(),
        Date::new(2026, 11, 21).unwrap(),
    )
    .expect("valid");
    let mut msg = [0u8; 47];
    msg[..26].copy_from_slice(b"trialink-token-v1\0nhs_dob\0");
    msg[26..36].copy_from_slice(nhs.as_bytes());
    msg[37..47].copy_from_slice(dob.iso().as_bytes());
    assert_eq!(
        tk.token_nhs_dob(&nhs, &dob).0,
        <[u8; 32]>::from(keyed.clone().chain_update(msg).finalize().into_bytes())
    );
    for round in 0..3 {
        let t = Instant::now();
        let mut acc = 0u8;
        for i in 0..n {
            msg[46] = i as u8;
            let mut m = keyed.clone();
            m.update(std::hint::black_box(&msg));
            acc ^= m.finalize().into_bytes()[0];
        }
        let a = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for i in 0..n {
            msg[46] = i as u8;
            acc ^= tk.mac_of(std::hint::black_box(&msg)).0[0];
        }
        let b = t.elapsed().as_secs_f64();
        let t = Instant::now();
        for _ in 0..n {
            acc ^= tk.token_nhs_dob(std::hint::black_box(&nhs), &dob).0[0];
        }
        let c = t.elapsed().as_secs_f64();
        println!(
            "round {round}: hmac crate (cloned state) {:.2} M tokens/s; TokenKey::mac_of {:.2} M/s; TokenKey::token_nhs_dob {:.2} M/s (acc {acc})",
            n as f64 / a / 1e6,
            n as f64 / b / 1e6,
            n as f64 / c / 1e6
        );
    }
}
