//! The I/O ceiling for benchmarks: read a CSV as byte records and write each
//! record back out with the `csv` crate, nothing else.
//!
//! `cargo run --release -p tabular --example csv_copy -- IN OUT`

use std::io::BufWriter;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: csv_copy IN OUT");
        std::process::exit(2);
    }
    let t = std::time::Instant::now();
    let mut rdr = csv::ReaderBuilder::new()
        .buffer_capacity(1 << 16)
        .from_path(&args[1])
        .expect("open input");
    let out = std::fs::File::create(&args[2]).expect("create output");
    let mut w = csv::Writer::from_writer(BufWriter::with_capacity(1 << 16, out));
    w.write_byte_record(rdr.byte_headers().expect("header"))
        .expect("write");
    let mut rec = csv::ByteRecord::new();
    let mut n = 0u64;
    while rdr.read_byte_record(&mut rec).expect("read") {
        w.write_byte_record(&rec).expect("write");
        n += 1;
    }
    w.flush().expect("flush");
    let s = t.elapsed().as_secs_f64();
    println!("csv_copy: {n} rows in {s:.3} s = {:.0} rows/s", n as f64 / s);
}
