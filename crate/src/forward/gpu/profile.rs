//! GPU time per kernel, to see where a step's GPU time goes. Opt-in with `TUTOR_GPU_PROFILE=1`
//! on an adapter with timestamp queries (natively; WebGPU exposes them only behind a flag).
//! While profiling, each dispatch gets its own compute pass with begin and end timestamps, so
//! recording costs more than usual, but the GPU times are the kernels' own. The table (per
//! kernel and dispatch size, over the context's lifetime) goes to stderr when the context is
//! dropped.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Timestamped dispatches per recorder; later ones run unprofiled.
pub const MAX_STAMPED: u32 = 2048;

/// Timestamp queries of one recorder's dispatches, by kernel and workgroup count.
pub struct Stamps {
    pub query_set: wgpu::QuerySet,
    pub names: Vec<(&'static str, u32)>,
}

pub struct Profiler {
    period_ns: f64,
    pending: Mutex<Vec<(wgpu::Buffer, Vec<(&'static str, u32)>)>>,
    /// (kernel, workgroups) → (dispatches, GPU ns).
    totals: Mutex<BTreeMap<(&'static str, u32), (u64, f64)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Profiler {
    /// A profiler when `TUTOR_GPU_PROFILE` is set and the adapter has timestamp queries.
    pub fn wanted(adapter: &wgpu::Adapter) -> bool {
        std::env::var_os("TUTOR_GPU_PROFILE").is_some() && adapter.features().contains(wgpu::Features::TIMESTAMP_QUERY)
    }

    pub fn new(queue: &wgpu::Queue) -> Self {
        Self { period_ns: queue.get_timestamp_period() as f64, pending: Mutex::new(Vec::new()), totals: Mutex::new(BTreeMap::new()) }
    }

    pub fn stamps(&self, device: &wgpu::Device) -> Stamps {
        let query_set = device.create_query_set(&wgpu::QuerySetDescriptor { label: Some("profile"), ty: wgpu::QueryType::Timestamp, count: 2 * MAX_STAMPED });
        Stamps { query_set, names: Vec::new() }
    }

    /// Records the resolution of `stamps` into a buffer that [`Profiler::collect`] reads once
    /// the submission is done.
    pub fn resolve(&self, device: &wgpu::Device, encoder: &mut wgpu::CommandEncoder, stamps: Stamps) {
        let n = stamps.names.len() as u64;
        if n == 0 {
            return;
        }
        let bytes = 16 * n;
        let resolved = device.create_buffer(&wgpu::BufferDescriptor { label: Some("profile resolve"), size: bytes, usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC, mapped_at_creation: false });
        let read = device.create_buffer(&wgpu::BufferDescriptor { label: Some("profile read"), size: bytes, usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST, mapped_at_creation: false });
        encoder.resolve_query_set(&stamps.query_set, 0..2 * n as u32, &resolved, 0);
        encoder.copy_buffer_to_buffer(&resolved, 0, &read, 0, bytes);
        lock(&self.pending).push((read, stamps.names));
    }

    /// Adds the timestamps of finished submissions to the totals (call after waiting on the
    /// queue).
    pub fn collect(&self, device: &wgpu::Device) {
        let pending: Vec<_> = lock(&self.pending).drain(..).collect();
        for (buf, names) in pending {
            buf.map_async(wgpu::MapMode::Read, .., |_| ());
            if device.poll(wgpu::PollType::wait_indefinitely()).is_err() {
                return;
            }
            let Ok(view) = buf.get_mapped_range(..) else { continue };
            let ticks: Vec<u64> = view.chunks_exact(8).map(|c| u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])).collect();
            drop(view);
            buf.unmap();
            let mut totals = lock(&self.totals);
            for (i, key) in names.into_iter().enumerate() {
                let ns = ticks[2 * i + 1].saturating_sub(ticks[2 * i]) as f64 * self.period_ns;
                let t = totals.entry(key).or_insert((0, 0.0));
                t.0 += 1;
                t.1 += ns;
            }
        }
    }

    /// Kernels by total GPU time.
    pub fn report(&self) -> String {
        let totals = lock(&self.totals);
        let all: f64 = totals.values().map(|t| t.1).sum();
        let mut rows: Vec<_> = totals.iter().collect();
        rows.sort_by(|a, b| b.1 .1.total_cmp(&a.1 .1));
        let mut out = format!("{:<24} {:>10} {:>9} {:>10} {:>10} {:>6}\n", "kernel", "workgroups", "calls", "total ms", "mean µs", "share");
        for ((name, groups), (calls, ns)) in rows {
            out += &format!("{name:<24} {groups:>10} {calls:>9} {:>10.2} {:>10.2} {:>5.1}%\n", ns / 1e6, ns / 1e3 / *calls as f64, 100.0 * ns / all.max(1.0));
        }
        out + &format!("total GPU time in kernels: {:.2} ms\n", all / 1e6)
    }
}

impl Drop for Profiler {
    fn drop(&mut self) {
        eprintln!("GPU time per kernel (TUTOR_GPU_PROFILE):\n{}", self.report());
    }
}
