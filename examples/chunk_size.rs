//! Measures the one-pass hasher at several read sizes on one file:
//!
//!     cargo run --release --example chunk_size -- FILE [ALGORITHM...]
//!
//! Read the file once first (e.g. `cat FILE >/dev/null`) so every size
//! reads from page cache. Prints MB/s per size, best of three runs, and the
//! ratio to the default size.

use std::time::Instant;

use glance_import_guard::hasher::DEFAULT_CHUNK_SIZE;
use glance_import_guard::{hash_file, Algorithm, HashOptions};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: chunk_size FILE [ALGORITHM...]");
    let mut algorithms: Vec<Algorithm> = args.map(|a| a.parse().unwrap()).collect();
    if algorithms.is_empty() {
        algorithms = vec![Algorithm::Md5, Algorithm::Sha512];
    }
    let sizes = [64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20];
    let mut results = Vec::new();
    for &chunk_size in &sizes {
        let options = HashOptions::with_chunk_size(chunk_size).unwrap();
        let best = (0..3)
            .map(|_| {
                let t = Instant::now();
                let d = hash_file(path.as_ref(), &algorithms, &options).unwrap();
                d.bytes as f64 / 1e6 / t.elapsed().as_secs_f64()
            })
            .fold(0.0, f64::max);
        results.push((chunk_size, best));
    }
    let default = results
        .iter()
        .find(|(s, _)| *s == DEFAULT_CHUNK_SIZE)
        .map(|r| r.1)
        .unwrap_or(1.0);
    for (size, mbps) in results {
        println!(
            "{:>6} KiB  {:>7.0} MB/s  {:.3}x default",
            size >> 10,
            mbps,
            mbps / default
        );
    }
}
