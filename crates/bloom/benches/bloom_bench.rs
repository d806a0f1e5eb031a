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

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

fn records(n: usize) -> Vec<[String; 6]> {
    let mut x = 0x9e3779b97f4a7c15u64;
    (0..n)
        .map(|i| {
            let r = xorshift(&mut x);
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

fn bench_encode() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/vectors/");
    let only = std::env::var("BENCH_SCHEMA").ok();
    for name in ["clk_schema_blake.json", "clk_schema_double.json"] {
        if only.as_deref().is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let schema = Schema::from_json(&std::fs::read_to_string(format!("{dir}{name}")).unwrap()).unwrap();
        let enc = ClkEncoder::new(schema, &ClkSecret::from_bytes(b"bench-secret")).unwrap();
        let recs = records(400_000);
        let refs: Vec<Vec<&str>> = recs
            .iter()
            .map(|r| r.iter().map(String::as_str).collect())
            .collect();
        // warm up
        let _ = enc.encode_many(&refs[..20_000]);
        let t = Instant::now();
        let out = enc.encode_many(&refs);
        let dt = t.elapsed().as_secs_f64();
        assert!(out.iter().all(Result::is_ok));
        println!(
            "clk_encode[{name}, {} threads] {:.0} records/s",
            rayon::current_num_threads(),
            refs.len() as f64 / dt
        );
        let t = Instant::now();
        let mut s = bloom::clk::Scratch::default();
        for r in &refs[..100_000] {
            std::hint::black_box(enc.encode_with(r, &mut s).unwrap());
        }
        println!(
            "clk_encode[{name}, 1 thread] {:.0} records/s",
            100_000.0 / t.elapsed().as_secs_f64()
        );
        let t = Instant::now();
        let mut s = bloom::clk::Scratch::with_cache(0);
        for r in &refs[..50_000] {
            std::hint::black_box(enc.encode_with(r, &mut s).unwrap());
        }
        println!(
            "clk_encode[{name}, 1 thread, no token cache] {:.0} records/s",
            50_000.0 / t.elapsed().as_secs_f64()
        );
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
    let mut out = vec![0u32; rows];
    for k in Kernel::available() {
        let t = Instant::now();
        let mut reps = 0u64;
        let mut sink = 0u64;
        while t.elapsed().as_secs_f64() < 1.0 {
            for q in &queries {
                and_popcounts_with(k, q, m.words(), stride, &mut out);
                sink += out[reps as usize % rows] as u64;
            }
            reps += 1;
        }
        std::hint::black_box(sink);
        let n = reps as f64 * queries.len() as f64 * rows as f64;
        println!(
            "dice_all_pairs[{}] {:.0} comparisons/s/core",
            k.name(),
            n / t.elapsed().as_secs_f64()
        );
    }
    // Full scan with thresholding (what linkage does), best kernel.
    let t = Instant::now();
    let mut hits = 0usize;
    let mut n = 0f64;
    while t.elapsed().as_secs_f64() < 1.0 {
        for q in &queries {
            let qp = q.iter().map(|w| w.count_ones()).sum();
            m.scan(q, qp, 0, rows, 0.8, |_, _| hits += 1);
        }
        n += queries.len() as f64 * rows as f64;
    }
    std::hint::black_box(hits);
    println!(
        "dice_scan_threshold[{}] {:.0} comparisons/s/core",
        Kernel::best().name(),
        n / t.elapsed().as_secs_f64()
    );
    // Blocked: each query against a block of 32 consecutive rows somewhere in the matrix.
    let t = Instant::now();
    let mut n = 0f64;
    let mut i = 0usize;
    while t.elapsed().as_secs_f64() < 1.0 {
        for q in &queries {
            let qp = q.iter().map(|w| w.count_ones()).sum();
            let start = (xorshift(&mut x) as usize) % (rows - 32);
            m.scan(q, qp, start, start + 32, 0.8, |_, _| hits += 1);
            i += 1;
        }
        n += queries.len() as f64 * 32.0;
    }
    std::hint::black_box((hits, i));
    println!(
        "dice_blocked32[{}] {:.0} comparisons/s/core",
        Kernel::best().name(),
        n / t.elapsed().as_secs_f64()
    );
    // All-pairs on both cores.
    let t = Instant::now();
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
        "dice_all_pairs_all_cores[{}, {} threads] {:.0} comparisons/s",
        Kernel::best().name(),
        rayon::current_num_threads(),
        total as f64 / t.elapsed().as_secs_f64()
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
