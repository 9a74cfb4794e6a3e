//! The WebGPU device, a pipeline cache keyed by kernel name and `override` constants, buffer
//! upload and f32 readback.
//!
//! Errors never panic: wgpu's default handler for uncaptured errors panics, so the context
//! installs one that records them, and they come back as [`GpuError::Validation`] from the next
//! readback (natively wgpu reports them synchronously, so pipeline creation also checks).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::contraction::{contraction_async, Rounding};
use super::profile::{Profiler, Stamps, MAX_STAMPED};
use super::{GpuError, FMA_EXACT};

/// One compute kernel: a WGSL source whose entry point and pipeline label are `name`.
/// `sources` are concatenated (a shared prelude, then the kernel's own file).
/// A kernel with pipeline-overridable constants (`override` in WGSL) is compiled once per set of
/// values ([`GpuContext::pipeline_with`]); every pipeline of it keeps the label `name`.
#[derive(Debug, Clone, Copy)]
pub struct Kernel {
    pub name: &'static str,
    pub sources: &'static [&'static str],
}

/// A command encoder that keeps one compute pass open across consecutive dispatches: a decode
/// step records a few hundred, and a pass each costs host time in wgpu and the driver (WebGPU
/// orders the dispatches of a pass as it orders passes). A copy or `GpuContext::submit` ends
/// the open pass.
pub struct Recorder {
    encoder: wgpu::CommandEncoder,
    pass: Option<wgpu::ComputePass<'static>>,
    /// While profiling: each dispatch's pass timestamps.
    stamps: Option<Stamps>,
}

impl Recorder {
    /// The open compute pass, begun if none is. While profiling, every dispatch (`name`,
    /// `groups` workgroups) gets a pass of its own with begin and end timestamps.
    fn pass(&mut self, name: &'static str, groups: u32) -> &mut wgpu::ComputePass<'static> {
        let Self { encoder, pass, stamps } = self;
        if let Some(s) = stamps.as_mut().filter(|s| (s.names.len() as u32) < MAX_STAMPED) {
            let i = 2 * s.names.len() as u32;
            s.names.push((name, groups));
            *pass = None;
            let writes = wgpu::ComputePassTimestampWrites { query_set: &s.query_set, beginning_of_pass_write_index: Some(i), end_of_pass_write_index: Some(i + 1) };
            return pass.insert(encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(name), timestamp_writes: Some(writes) }).forget_lifetime());
        }
        pass.get_or_insert_with(|| encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some("forward"), timestamp_writes: None }).forget_lifetime())
    }

    /// Ends the open pass (if any) and records a buffer copy.
    pub fn copy_buffer_to_buffer(&mut self, src: &wgpu::Buffer, src_offset: u64, dst: &wgpu::Buffer, dst_offset: u64, size: u64) {
        self.pass = None;
        self.encoder.copy_buffer_to_buffer(src, src_offset, dst, dst_offset, size);
    }
}

/// Device, queue and compiled pipelines. `Sync` natively: one context can serve many threads.
pub struct GpuContext {
    pub instance: wgpu::Instance,
    pub adapter: wgpu::Adapter,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    /// "name (backend, device type, driver info)" of the adapter.
    pub adapter_info: String,
    /// The limits the device was created with.
    pub limits: wgpu::Limits,
    /// How the shader compiler rounds multiply-adds (the `contraction` probe, run at creation).
    pub rounding: Rounding,
    /// GPU time per kernel, when asked for (`TUTOR_GPU_PROFILE`).
    profiler: Option<Profiler>,
    pipelines: Mutex<HashMap<PipelineKey, Arc<wgpu::ComputePipeline>>>,
    /// Bind groups (with their uniform params) of recorded dispatches, for reuse.
    dispatches: Mutex<HashMap<DispatchKey, wgpu::BindGroup>>,
    errors: Arc<Mutex<Vec<String>>>,
    /// Why the device was lost, once it is.
    lost: Arc<Mutex<Option<String>>>,
}

/// A compiled pipeline: the kernel's name and its override constants (values as f64 bits).
type PipelineKey = (&'static str, Vec<(&'static str, u64)>);

/// A dispatch's pipeline, bound buffers and uniform params. A decode step records the same
/// few hundred dispatches every time (weights and activation buffers are fixed; only the
/// position-dependent params of RoPE, the KV store and attention change), and on a real GPU
/// creating each one's uniform buffer, queued write and bind group anew cost more than the
/// kernels themselves. A cached bind group's params buffer is written once, at creation, so
/// reusing it never races with a queued write.
type DispatchKey = (PipelineKey, Vec<wgpu::Buffer>, Vec<u32>);

/// Cached dispatches before the cache is emptied (each step adds a few dozen new
/// position-dependent ones; cached bind groups keep their buffers alive).
const DISPATCH_CACHE: usize = 4096;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl GpuContext {
    /// Blocking [`GpuContext::new_async`] (native only; in the browser await the async one).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new() -> Result<Self, GpuError> {
        pollster::block_on(Self::new_async())
    }

    /// Picks a high-performance adapter and creates a device with the adapter's largest
    /// storage-buffer binding and buffer sizes (the Gemma output head is ~178 MB) and WebGPU's
    /// default limits otherwise. No optional features (no `shader-f16`: SwiftShader lacks it).
    pub async fn new_async() -> Result<Self, GpuError> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle().with_env();
        if std::env::var_os("WGPU_BACKEND").is_none() {
            desc.backends = wgpu::Backends::all();
        }
        let instance = wgpu::Instance::new(desc);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
                ..Default::default()
            })
            .await
            .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        let info = adapter.get_info();
        let adapter_info = format!("{} ({:?}, {:?}, {} {})", info.name, info.backend, info.device_type, info.driver, info.driver_info);
        let profile = Profiler::wanted(&adapter);
        let supported = adapter.limits();
        let mut limits = wgpu::Limits::default().or_worse_values_from(&supported);
        limits.max_storage_buffer_binding_size = supported.max_storage_buffer_binding_size;
        limits.max_buffer_size = supported.max_buffer_size;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("tutor-runtime"),
                required_features: if profile { wgpu::Features::TIMESTAMP_QUERY } else { wgpu::Features::empty() },
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::disabled(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .map_err(|e| GpuError::RequestDevice { adapter: adapter_info.clone(), message: e.to_string() })?;
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| lock(&sink).push(e.to_string())));
        let lost = Arc::new(Mutex::new(None));
        let lost_sink = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            *lock(&lost_sink) = Some(format!("{reason:?}: {message}"));
        });
        let mut ctx = Self {
            instance,
            adapter,
            device,
            queue,
            adapter_info,
            limits,
            rounding: Rounding { fuses_mul_add: false, fma_fused: false },
            profiler: None,
            pipelines: Mutex::new(HashMap::new()),
            dispatches: Mutex::new(HashMap::new()),
            errors,
            lost,
        };
        ctx.rounding = contraction_async(&ctx).await?;
        ctx.profiler = profile.then(|| Profiler::new(&ctx.queue));
        Ok(ctx)
    }

    /// `GpuError::DeviceLost` once the device is gone (driver reset, GPU process crash, or
    /// `device.destroy()`): the caller falls back to the CPU.
    pub fn check_lost(&self) -> Result<(), GpuError> {
        match lock(&self.lost).as_ref() {
            Some(why) => Err(GpuError::DeviceLost(why.clone())),
            None => Ok(()),
        }
    }

    /// Largest storage buffer a kernel can bind, in bytes.
    pub fn max_storage_binding(&self) -> u64 {
        self.limits.max_storage_buffer_binding_size.min(self.limits.max_buffer_size)
    }

    /// Errors recorded since the last call, as one `Validation` error.
    pub fn take_error(&self) -> Result<(), GpuError> {
        self.check_lost()?;
        let mut errors = lock(&self.errors);
        if errors.is_empty() {
            return Ok(());
        }
        let message = errors.join("; ");
        errors.clear();
        Err(GpuError::Validation(message))
    }

    /// The compute pipeline of `kernel`, compiled on first use (auto layout, entry point and
    /// label = `kernel.name`).
    pub fn pipeline(&self, kernel: &Kernel) -> Result<Arc<wgpu::ComputePipeline>, GpuError> {
        self.pipeline_with(kernel, &[])
    }

    /// [`GpuContext::pipeline`] with values for the kernel's `override` constants, compiled
    /// once per set of values.
    /// Kernels built on `fma_exact.wgsl` also get `NATIVE_FMA` (the adapter's `fma()` is
    /// rounded once).
    pub fn pipeline_with(&self, kernel: &Kernel, constants: &[(&'static str, f64)]) -> Result<Arc<wgpu::ComputePipeline>, GpuError> {
        let key: PipelineKey = (kernel.name, constants.iter().map(|&(k, v)| (k, v.to_bits())).collect());
        if let Some(p) = lock(&self.pipelines).get(&key) {
            return Ok(p.clone());
        }
        let source: String = kernel.sources.concat();
        let mut constants = constants.to_vec();
        if self.rounding.fma_fused && kernel.sources.contains(&FMA_EXACT) {
            constants.push(("NATIVE_FMA", 1.0));
        }
        let constants = &constants[..];
        let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(kernel.name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(kernel.name),
            layout: None,
            module: &module,
            entry_point: Some(kernel.name),
            compilation_options: wgpu::PipelineCompilationOptions { constants, ..Default::default() },
            cache: None,
        });
        // Natively wgpu-core validates synchronously; in the browser errors surface at readback.
        self.take_error().map_err(|e| GpuError::Shader { name: kernel.name, message: e.to_string() })?;
        // Two threads may compile the same kernel at once: the first one stored wins, so every
        // bind group made from a pipeline's auto layout meets that same pipeline at dispatch.
        Ok(lock(&self.pipelines).entry(key).or_insert_with(|| Arc::new(pipeline)).clone())
    }

    fn check_size(&self, name: &str, bytes: u64) -> Result<(), GpuError> {
        let limit = self.max_storage_binding();
        if bytes > limit {
            return Err(GpuError::BufferTooLarge { name: name.to_string(), bytes, limit });
        }
        Ok(())
    }

    /// A read-only storage buffer holding `bytes` (e.g. a tensor's raw GGUF blocks) as u32
    /// words, little-endian, zero-padded to a multiple of 4 bytes.
    pub fn upload_bytes(&self, name: &str, bytes: &[u8]) -> Result<wgpu::Buffer, GpuError> {
        let padded = bytes.len().div_ceil(4).max(1) * 4;
        self.check_size(name, padded as u64)?;
        // create_buffer + write_buffer, not wgpu's create_buffer_init: that one panics when the
        // device is lost, this one records an error.
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(name),
            size: padded as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if padded == bytes.len() {
            self.queue.write_buffer(&buf, 0, bytes);
        } else {
            // Not a multiple of 4 bytes (e.g. an odd number of Q5_0 blocks): pad a copy.
            let mut padded_bytes = Vec::with_capacity(padded);
            padded_bytes.extend_from_slice(bytes);
            padded_bytes.resize(padded, 0);
            self.queue.write_buffer(&buf, 0, &padded_bytes);
        }
        if padded > 1 << 20 {
            // Queued writes are staged until the next submission: send big ones now, so loading
            // a model does not hold every tensor twice.
            self.queue.submit(std::iter::empty());
        }
        Ok(buf)
    }

    /// A storage buffer holding `data` (activations, norm weights).
    pub fn upload_f32(&self, name: &str, data: &[f32]) -> Result<wgpu::Buffer, GpuError> {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.upload_bytes(name, &bytes)
    }

    /// An uninitialized f32 storage buffer of `len` elements that kernels write and
    /// [`GpuContext::read_f32`] reads.
    pub fn output_f32(&self, name: &str, len: usize) -> Result<wgpu::Buffer, GpuError> {
        let bytes = (len.max(1) * 4) as u64;
        self.check_size(name, bytes)?;
        Ok(self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(name),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        }))
    }

    /// A small uniform buffer of u32 parameters.
    fn uniform_u32(&self, name: &str, params: &[u32]) -> wgpu::Buffer {
        let mut bytes: Vec<u8> = params.iter().flat_map(|v| v.to_le_bytes()).collect();
        bytes.resize(bytes.len().div_ceil(16).max(1) * 16, 0);
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(name),
            size: bytes.len() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&buf, 0, &bytes);
        buf
    }

    /// One bind group for `pipeline`'s group 0, binding i = `buffers[i]`.
    fn bind_group(&self, pipeline: &wgpu::ComputePipeline, label: &str, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry<'_>> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32, resource: b.as_entire_binding() })
            .collect();
        self.device.create_bind_group(&wgpu::BindGroupDescriptor { label: Some(label), layout: &pipeline.get_bind_group_layout(0), entries: &entries })
    }

    /// Records one dispatch of `kernel` (compiled with these `override` constants) into
    /// `encoder`'s open compute pass: binding i = `buffers[i]`, then a uniform holding
    /// `params`. The bind group is reused whenever the same kernel runs on the same buffers
    /// with the same params (see [`DispatchKey`]).
    pub fn dispatch(
        &self,
        encoder: &mut Recorder,
        kernel: &Kernel,
        constants: &[(&'static str, f64)],
        buffers: &[&wgpu::Buffer],
        params: &[u32],
        workgroups: [u32; 3],
    ) -> Result<(), GpuError> {
        let max = self.limits.max_compute_workgroups_per_dimension;
        if workgroups.iter().any(|&g| g > max) {
            return Err(GpuError::Shape(format!("{}: dispatch {workgroups:?} exceeds {max} workgroups per dimension", kernel.name)));
        }
        let pipeline = self.pipeline_with(kernel, constants)?;
        let key: DispatchKey = (
            (kernel.name, constants.iter().map(|&(k, v)| (k, v.to_bits())).collect()),
            buffers.iter().map(|&b| b.clone()).collect(),
            params.to_vec(),
        );
        let cached = lock(&self.dispatches).get(&key).cloned();
        let bind = match cached {
            Some(b) => b,
            None => {
                let uniform = self.uniform_u32(kernel.name, params);
                let mut all = buffers.to_vec();
                all.push(&uniform);
                let b = self.bind_group(&pipeline, kernel.name, &all);
                let mut cache = lock(&self.dispatches);
                if cache.len() >= DISPATCH_CACHE {
                    cache.clear();
                }
                cache.insert(key, b.clone());
                b
            }
        };
        let pass = encoder.pass(kernel.name, workgroups.iter().product());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind, &[]);
        if workgroups.iter().all(|&g| g > 0) {
            pass.dispatch_workgroups(workgroups[0], workgroups[1], workgroups[2]);
        }
        Ok(())
    }

    /// A fresh command encoder.
    pub fn encoder(&self, label: &str) -> Recorder {
        let stamps = self.profiler.as_ref().map(|p| p.stamps(&self.device));
        Recorder { encoder: self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) }), pass: None, stamps }
    }

    /// Ends `rec`'s open pass and submits it (with its timestamps' resolution, if profiling).
    pub fn submit(&self, mut rec: Recorder) -> wgpu::SubmissionIndex {
        rec.pass = None;
        if let (Some(p), Some(s)) = (&self.profiler, rec.stamps.take()) {
            p.resolve(&self.device, &mut rec.encoder, s);
        }
        self.queue.submit([rec.encoder.finish()])
    }

    /// Submits `encoder` (if any) plus a copy of the first `len` f32 of `src` into a mappable
    /// buffer, and returns them once the GPU is done.
    pub async fn read_f32_async(&self, encoder: Option<Recorder>, src: &wgpu::Buffer, len: usize) -> Result<Vec<f32>, GpuError> {
        let bytes = (len * 4) as u64;
        if bytes > src.size() {
            return Err(GpuError::Readback(format!("{len} f32 requested from a {}-byte buffer", src.size())));
        }
        if len == 0 {
            return Ok(Vec::new());
        }
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = encoder.unwrap_or_else(|| self.encoder("readback"));
        encoder.copy_buffer_to_buffer(src, 0, &staging, 0, bytes);
        self.submit(encoder);
        let (tx, rx) = oneshot();
        staging.map_async(wgpu::MapMode::Read, .., move |r| tx.send(r));
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        if let Some(p) = &self.profiler {
            p.collect(&self.device);
        }
        let mapped = rx.await;
        self.take_error()?;
        match mapped {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(GpuError::Readback(e.to_string())),
            None => return Err(GpuError::Readback("the map callback was dropped".into())),
        }
        let out = {
            let view = staging.get_mapped_range(..).map_err(|e| GpuError::Readback(e.to_string()))?;
            view.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        };
        staging.unmap();
        Ok(out)
    }

    /// Blocking [`GpuContext::read_f32_async`] (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_f32(&self, encoder: Option<Recorder>, src: &wgpu::Buffer, len: usize) -> Result<Vec<f32>, GpuError> {
        pollster::block_on(self.read_f32_async(encoder, src, len))
    }

    /// Submits `encoder` and waits until the GPU has finished it (native only; for timing).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn submit_and_wait(&self, encoder: Recorder) -> Result<(), GpuError> {
        let index = self.submit(encoder);
        self.device
            .poll(wgpu::PollType::Wait { submission_index: Some(index), timeout: None })
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        self.take_error()
    }
}

/// A single-value channel whose receiver is a future (wgpu's map callback → `async` readback).
struct Shared<T> {
    value: Option<T>,
    waker: Option<Waker>,
    sender_gone: bool,
}

struct Sender<T>(Arc<Mutex<Shared<T>>>);
struct Receiver<T>(Arc<Mutex<Shared<T>>>);

fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Arc::new(Mutex::new(Shared { value: None, waker: None, sender_gone: false }));
    (Sender(shared.clone()), Receiver(shared))
}

impl<T> Sender<T> {
    fn send(self, value: T) {
        let waker = {
            let mut s = lock(&self.0);
            s.value = Some(value);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut s = lock(&self.0);
            s.sender_gone = true;
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Future for Receiver<T> {
    /// `None` if the sender was dropped without sending.
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut s = lock(&self.0);
        if let Some(v) = s.value.take() {
            return Poll::Ready(Some(v));
        }
        if s.sender_gone {
            return Poll::Ready(None);
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
