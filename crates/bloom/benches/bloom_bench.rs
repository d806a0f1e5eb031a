//! `cargo bench -p bloom --bench bloom_bench`: CLK encoding records/s and Dice
//! comparisons/s per core for every kernel this CPU has. Prints plain lines
//! (`name value unit`) that bench/bloom_bench.sh collects.

use bloom::clk::{schema::Schema, ClkEncoder, ClkSecret};
use bloom::dice::{and_popcounts_with, ClkMatrix, Kernel};
use rayon::prelude::*;
use std::time::Instant;

const GIVEN: &[&str] = &[
    "Oliver", "Amelia", "George", "Isla", "Mohammed", "Olivia", "Siân", "Dafydd", "Chloé", "Łukasz", "Priya",
    "Wei", "O'Neil", "Mary Ann", "Jean-Luc", "Aoife",
];
const FAMILY: &[&str] = &[
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Ó Súilleabháin",
    "ap Gruffydd",
    "García",
    "Nguyen",
    "Okafor",
    "Müller",
    "Khan",
    "Patel",
    "O'Brien",
    "Li",
];
const POSTCODES: &[&str] = &[
    "LS1 4AP", "EC1A 1BB", "W1A 0AX", "B33 8TH", "NE1 7RU", "DN55 1PT", "M1 1AE", "CR2 6XH", "SW1A 1AA", "",
];

/// CPU seconds used by this thread (`thread`) or process, from /proc: the
/// machine is shared, so wall-clock rates understate what a core does.
fn cpu_secs(thread: bool) -> f64 {
    let path = if thread {
        "/proc/thread-self/stat"
    } else {
        "/proc/self/stat"
    };
    let Ok(stat) = std::fs::read_to_string(path) else {
        return f64::NAN;
    };
    let after = &stat[stat.rfind(')').map(|i| i + 2).unwrap_or(0)..];
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(f64::NAN)
        + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(f64::NAN);
    ticks / 100.0
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Synthetic records: names and postcodes from short lists (`unique` =
/// false: the token cache's best case) or made up afresh for every record
/// (`unique` = true: every value and most n-grams new, its worst case).
fn records(n: usize, unique: bool) -> Vec<[String; 6]> {
    let mut x = 0x9e3779b97f4a7c15u64;
    let word = |r: u64, len: u64| -> String {
        (0..3 + r % len)
            .map(|i| (b'a' + ((r >> (5 * i + 8)) % 26) as u8) as char)
            .collect()
    };
    (0..n)
        .map(|i| {
            let r = xorshift(&mut x);
            if unique {
                let r2 = xorshift(&mut x);
                let r3 = xorshift(&mut x);
                return [
                    format!("r{i}"),
                    word(r, 6),
                    word(r2, 8),
                    format!(
                        "{}-{:02}-{:02}",
                        1920 + (r3 >> 16) % 90,
                        1 + (r3 >> 24) % 12,
                        1 + (r3 >> 32) % 28
                    ),
                    ["F", "M", "U"][((r3 >> 40) % 3) as usize].to_string(),
                    format!(
                        "{} {}{}",
                        word(r3, 2).to_uppercase(),
                        r3 % 10,
                        word(r2 >> 7, 1).to_uppercase()
                    ),
                ];
            }
            [
                format!("r{i}"),
                GIVEN[(r % 16) as usize].to_string(),
                FAMILY[((r >> 8) % 16) as usize].to_string(),
                format!(
                    "{}-{:02}-{:02}",
                    1920 + (r >> 16) % 90,
                    1 + (r >> 24) % 12,
                    1 + (r >> 32) % 28
                ),
                ["F", "M", "U"][((r >> 40) % 3) as usize].to_string(),
                POSTCODES[((r >> 44) % 10) as usize].to_string(),
            ]
        })
        .collect()
}

/// Run `f` for about a second; returns (items per wall second, items per CPU second of this thread).
fn rate(mut f: impl FnMut() -> f64) -> (f64, f64) {
    let t = Instant::now();
    let c0 = cpu_secs(true);
    let mut n = 0.0;
    while t.elapsed().as_secs_f64() < 1.0 {
        n += f();
    }
    (n / t.elapsed().as_secs_f64(), n / (cpu_secs(true) - c0))
}

fn bench_encode() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/vectors/");
    let only = std::env::var("BENCH_SCHEMA").ok();
    for name in ["clk_schema_blake.json", "clk_schema_double.json"] {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let schema = Schema::from_json(&std::fs::read_to_string(format!("{dir}{name}")).unwrap()).unwrap();
        let enc = ClkEncoder::new(schema, &ClkSecret::from_bytes(b"bench-secret")).unwrap();
        let recs = records(400_000, false);
        let refs: Vec<Vec<&str>> = recs
            .iter()
            .map(|r| r.iter().map(String::as_str).collect())
            .collect();
        let _ = enc.encode_many(&refs[..20_000]); // warm up
        let t = Instant::now();
        let c0 = cpu_secs(false);
        let out = enc.encode_many(&refs);
        let (wall, cpu) = (t.elapsed().as_secs_f64(), cpu_secs(false) - c0);
        assert!(out.iter().all(Result::is_ok));
        println!(
            "clk_encode[{name}, {} threads] {:.0} records/s wall, {:.0} per CPU-second",
            rayon::current_num_threads(),
            refs.len() as f64 / wall,
            refs.len() as f64 / cpu
        );
        for (label, cache) in [("", 1usize << 16), (", no token cache", 0)] {
            let mut s = bloom::clk::Scratch::with_cache(cache);
            let mut i = 0;
            let (w, c) = rate(|| {
                for _ in 0..1000 {
                    std::hint::black_box(enc.encode_with(&refs[i % refs.len()], &mut s).unwrap());
                    i += 1;
                }
                1000.0
            });
            println!("clk_encode[{name}, 1 thread{label}] {w:.0} records/s wall, {c:.0} per CPU-second");
        }
        let fresh = records(200_000, true);
        let fresh: Vec<Vec<&str>> = fresh
            .iter()
            .map(|r| r.iter().map(String::as_str).collect())
            .collect();
        let mut s = bloom::clk::Scratch::default();
        let mut i = 0;
        let (w, c) = rate(|| {
            for _ in 0..1000 {
                std::hint::black_box(enc.encode_with(&fresh[i % fresh.len()], &mut s).unwrap());
                i += 1;
            }
            1000.0
        });
        println!("clk_encode[{name}, 1 thread, every name and postcode new] {w:.0} records/s wall, {c:.0} per CPU-second");
    }
}

fn bench_dice() {
    let stride = 16; // 1024-bit CLKs
    let rows = 4096; // 512 KiB: in L2
    let mut x = 42u64;
    let mut m = ClkMatrix::new(stride);
    for _ in 0..rows {
        let row: Vec<u64> = (0..stride).map(|_| xorshift(&mut x) & xorshift(&mut x)).collect();
        m.push(&row);
    }
    let queries: Vec<Vec<u64>> = (0..512)
        .map(|_| (0..stride).map(|_| xorshift(&mut x) & xorshift(&mut x)).collect())
        .collect();
    let pops: Vec<u32> = queries
        .iter()
        .map(|q| q.iter().map(|w| w.count_ones()).sum())
        .collect();
    let mut out = vec![0u32; rows];
    for k in Kernel::available() {
        let mut sink = 0u64;
        let (w, c) = rate(|| {
            for q in &queries {
                and_popcounts_with(k, q, m.words(), stride, &mut out);
                sink += out[7] as u64;
            }
            (queries.len() * rows) as f64
        });
        std::hint::black_box(sink);
        println!(
            "dice_all_pairs[{}] {w:.0} comparisons/s/core wall, {c:.0} per CPU-second",
            k.name()
        );
    }
    let mut hits = 0usize;
    let (w, c) = rate(|| {
        for (q, &qp) in queries.iter().zip(&pops) {
            m.scan(q, qp, 0, rows, 0.8, |_, _| hits += 1);
        }
        (queries.len() * rows) as f64
    });
    println!(
        "dice_scan_threshold[{}] {w:.0} comparisons/s/core wall, {c:.0} per CPU-second",
        Kernel::best().name()
    );
    let (w, c) = rate(|| {
        for (q, &qp) in queries.iter().zip(&pops) {
            let start = (xorshift(&mut x) as usize) % (rows - 32);
            m.scan(q, qp, start, start + 32, 0.8, |_, _| hits += 1);
        }
        (queries.len() * 32) as f64
    });
    std::hint::black_box(hits);
    println!(
        "dice_blocked32[{}] {w:.0} comparisons/s/core wall, {c:.0} per CPU-second",
        Kernel::best().name()
    );
    let t = Instant::now();
    let c0 = cpu_secs(false);
    let total: usize = (0..rayon::current_num_threads() * 4)
        .into_par_iter()
        .map(|_| {
            let mut out = vec![0u32; rows];
            let mut c = 0usize;
            for _ in 0..20 {
                for q in &queries {
                    and_popcounts_with(Kernel::best(), q, m.words(), stride, &mut out);
                    c += rows;
                }
            }
            c
        })
        .sum();
    println!(
        "dice_all_pairs_all_cores[{}, {} threads] {:.0} comparisons/s wall, {:.0} per CPU-second",
        Kernel::best().name(),
        rayon::current_num_threads(),
        total as f64 / t.elapsed().as_secs_f64(),
        total as f64 / (cpu_secs(false) - c0)
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let want = |n: &str| args.is_empty() || args.iter().any(|a| a == n);
    if want("dice") {
        bench_dice();
    }
    if want("encode") {
        bench_encode();
    }
}
