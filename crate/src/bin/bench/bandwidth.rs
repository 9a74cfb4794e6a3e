//! `tutor bandwidth`: the machine's memory read bandwidth, the physical limit of token
//! generation (every generated token reads all the weights once). One buffer far larger than
//! the caches is summed by N threads, each over its own slice, like STREAM's read kernel.

use std::time::Instant;

use super::Res;

#[derive(clap::Args)]
pub struct BandwidthArgs {
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    threads: u64,
    /// Buffer size; far larger than the caches (at least 64).
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(64..))]
    mib: u64,
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    reps: u64,
}

/// Sum of one slice with 8 independent lanes (vectorizes; no dependency chain on one register).
fn sum_slice(v: &[u64]) -> u64 {
    let mut acc = [0u64; 8];
    let mut chunks = v.chunks_exact(8);
    for c in &mut chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a = a.wrapping_add(*x);
        }
    }
    let tail: u64 = chunks.remainder().iter().fold(0u64, |a, x| a.wrapping_add(*x));
    acc.iter().fold(tail, |a, x| a.wrapping_add(*x))
}

/// Read `buf` once with `threads` threads; returns bytes per second.
fn read_once(buf: &[u64], threads: usize) -> f64 {
    let per = buf.len().div_ceil(threads);
    let t0 = Instant::now();
    let total = std::thread::scope(|s| {
        let hs: Vec<_> = buf.chunks(per).map(|part| s.spawn(move || sum_slice(part))).collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).fold(0u64, u64::wrapping_add)
    });
    let dt = t0.elapsed().as_secs_f64();
    std::hint::black_box(total);
    (buf.len() * 8) as f64 / dt
}

pub fn bandwidth(args: &BandwidthArgs) -> Res<()> {
    let (threads, mib, reps) = (args.threads as usize, args.mib as usize, args.reps as usize);
    let n = mib * 1024 * 1024 / 8;
    // Written first, so every page is resident before the timed reads.
    let buf: Vec<u64> = (0..n as u64).collect();
    read_once(&buf, threads); // warm-up
    let mut gbs: Vec<f64> = (0..reps).map(|_| read_once(&buf, threads) / 1e9).collect();
    gbs.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{}",
        serde_json::json!({
            "threads": threads,
            "buffer_bytes": n * 8,
            "reps": reps,
            "read_gb_s_best": gbs[gbs.len() - 1],
            "read_gb_s_median": gbs[gbs.len() / 2],
            "read_gb_s_min": gbs[0],
        })
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_slice_matches_a_plain_sum_with_a_tail() {
        let v: Vec<u64> = (0..1003).map(|i| i * 3 + 1).collect();
        assert_eq!(sum_slice(&v), v.iter().sum::<u64>());
        assert!(read_once(&v, 3) > 0.0);
    }
}
