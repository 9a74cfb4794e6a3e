//! Byte sources for a GGUF that may be split into N shards (consecutive byte ranges).
//!
//! The loader never needs the whole file in one buffer: it asks a [`ShardSource`]
//! for the byte range it needs (the header, then one tensor at a time).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Errors reading bytes out of a sequence of shards.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("read of {len} bytes at offset {offset} runs past the end of the model ({total} bytes)")]
    OutOfRange { offset: u64, len: u64, total: u64 },
    #[error("I/O error on shard {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no shards given")]
    Empty,
}

/// Random access to the concatenation of a model's shards.
pub trait ShardSource {
    /// Total bytes of all shards together.
    fn len(&self) -> u64;
    /// Fill `buf` with the bytes at `offset..offset+buf.len()` of the concatenation.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), ShardError>;
}

/// Where each shard starts in the concatenation: `starts[i]..starts[i+1]` is shard i.
pub(crate) fn shard_starts(lens: impl Iterator<Item = u64>) -> Vec<u64> {
    let mut starts = vec![0u64];
    let mut acc = 0u64;
    for l in lens {
        acc = acc.saturating_add(l);
        starts.push(acc);
    }
    starts
}

/// Split a read of `len` bytes at `offset` into (shard index, offset in shard, length) pieces.
pub(crate) fn pieces(starts: &[u64], offset: u64, len: u64) -> Result<Vec<(usize, u64, usize)>, ShardError> {
    let total = *starts.last().unwrap_or(&0);
    let end = offset.checked_add(len).filter(|&e| e <= total).ok_or(ShardError::OutOfRange {
        offset,
        len,
        total,
    })?;
    let mut out = Vec::new();
    let mut pos = offset;
    while pos < end {
        // Last shard whose start is <= pos (skipping empty shards).
        let idx = starts.partition_point(|&s| s <= pos) - 1;
        let shard_end = starts[idx + 1];
        let take = (shard_end.min(end) - pos) as usize;
        out.push((idx, pos - starts[idx], take));
        pos += take as u64;
    }
    Ok(out)
}

/// Shards held in memory (tests, and the wasm build where JS hands over shard bytes).
pub struct MemShards {
    shards: Vec<Vec<u8>>,
    starts: Vec<u64>,
}

impl MemShards {
    pub fn new(shards: Vec<Vec<u8>>) -> Self {
        let starts = shard_starts(shards.iter().map(|s| s.len() as u64));
        Self { shards, starts }
    }
}

impl ShardSource for MemShards {
    fn len(&self) -> u64 {
        *self.starts.last().unwrap_or(&0)
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), ShardError> {
        let mut filled = 0;
        for (idx, off, take) in pieces(&self.starts, offset, buf.len() as u64)? {
            let off = off as usize;
            buf[filled..filled + take].copy_from_slice(&self.shards[idx][off..off + take]);
            filled += take;
        }
        Ok(())
    }
}

/// Shards as files on disk, opened once and read with seeks.
pub struct FileShards {
    files: Vec<(PathBuf, File)>,
    starts: Vec<u64>,
}

impl FileShards {
    /// Open the given shard files, in order.
    pub fn open<P: AsRef<Path>>(paths: &[P]) -> Result<Self, ShardError> {
        if paths.is_empty() {
            return Err(ShardError::Empty);
        }
        let mut files = Vec::with_capacity(paths.len());
        let mut lens = Vec::with_capacity(paths.len());
        for p in paths {
            let path = p.as_ref().to_path_buf();
            let io = |source| ShardError::Io { path: path.clone(), source };
            let f = File::open(&path).map_err(io)?;
            lens.push(f.metadata().map_err(io)?.len());
            files.push((path, f));
        }
        Ok(Self { files, starts: shard_starts(lens.into_iter()) })
    }
}

impl ShardSource for FileShards {
    fn len(&self) -> u64 {
        *self.starts.last().unwrap_or(&0)
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), ShardError> {
        let mut filled = 0;
        for (idx, off, take) in pieces(&self.starts, offset, buf.len() as u64)? {
            let (path, f) = &mut self.files[idx];
            let io = |source| ShardError::Io { path: path.clone(), source };
            f.seek(SeekFrom::Start(off)).map_err(io)?;
            f.read_exact(&mut buf[filled..filled + take]).map_err(io)?;
            filled += take;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_across_shard_boundaries() {
        let whole: Vec<u8> = (0..100u8).collect();
        let mut src = MemShards::new(vec![whole[..7].to_vec(), vec![], whole[7..50].to_vec(), whole[50..].to_vec()]);
        assert_eq!(src.len(), 100);
        for (off, len) in [(0, 100), (5, 10), (7, 43), (49, 2), (99, 1), (100, 0)] {
            let mut buf = vec![0u8; len];
            src.read_at(off as u64, &mut buf).unwrap();
            assert_eq!(&buf[..], &whole[off..off + len]);
        }
        let mut buf = [0u8; 2];
        assert!(matches!(src.read_at(99, &mut buf), Err(ShardError::OutOfRange { .. })));
        assert!(matches!(src.read_at(u64::MAX, &mut buf), Err(ShardError::OutOfRange { .. })));
    }
}
