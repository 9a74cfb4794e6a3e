//! GGUF reading: header, metadata and tensor infos first; tensor bytes on demand.
//!
//! Every count, length and offset read from the file is checked before it is used, so a
//! truncated or hostile file gives a typed [`GgufError`] and never a panic or a huge allocation.

use std::collections::HashMap;

use super::shards::{ShardError, ShardSource};

pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// Upper bounds on what a sane GGUF holds; anything bigger is rejected before allocation.
pub const MAX_TENSORS: u64 = 1 << 16;
pub const MAX_KV: u64 = 1 << 16;
pub const MAX_ARRAY_LEN: u64 = 1 << 24;
pub const MAX_STRING_LEN: u64 = 1 << 20;
pub const MAX_DIMS: u32 = 4;
const DEFAULT_ALIGNMENT: u64 = 32;

#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error(transparent)]
    Shard(#[from] ShardError),
    #[error("not a GGUF file: magic is {found:?}, expected \"GGUF\"")]
    BadMagic { found: [u8; 4] },
    #[error("unsupported GGUF version {0} (supported: 2, 3)")]
    UnsupportedVersion(u32),
    #[error("file is truncated: needed {needed} bytes at offset {offset}, file has {total}")]
    Truncated { offset: u64, needed: u64, total: u64 },
    #[error("{what} count {count} exceeds the limit of {limit}")]
    TooMany { what: &'static str, count: u64, limit: u64 },
    #[error("string of {len} bytes at offset {offset} exceeds the limit of {limit}")]
    StringTooLong { offset: u64, len: u64, limit: u64 },
    #[error("string at offset {offset} is not valid UTF-8")]
    BadUtf8 { offset: u64 },
    #[error("unknown metadata value type {ty} for key {key}")]
    UnknownValueType { key: String, ty: u32 },
    #[error("nested arrays deeper than 2 for key {key}")]
    NestedTooDeep { key: String },
    #[error("tensor {name} has unknown dtype {dtype}")]
    UnknownDType { name: String, dtype: u32 },
    #[error("tensor {name} has {n_dims} dimensions (1..={max} supported)")]
    BadDims { name: String, n_dims: u32, max: u32 },
    #[error("tensor {name} has an invalid shape {dims:?}: {why}")]
    BadShape { name: String, dims: Vec<u64>, why: &'static str },
    #[error("tensor {name}: data range {start}..{end} lies outside the data section ({data_len} bytes)")]
    OffsetOutOfRange { name: String, start: u64, end: u64, data_len: u64 },
    #[error("tensor {name}: offset {offset} is not a multiple of the alignment {alignment}")]
    Misaligned { name: String, offset: u64, alignment: u64 },
    #[error("tensors {a} and {b} overlap in the data section")]
    Overlap { a: String, b: String },
    #[error("duplicate tensor name {0}")]
    DuplicateTensor(String),
    #[error("invalid general.alignment {0}")]
    BadAlignment(u64),
    #[error("missing metadata key {0}")]
    MissingKey(String),
    #[error("metadata key {key} has type {found}, expected {expected}")]
    WrongType { key: String, expected: &'static str, found: &'static str },
    #[error("missing tensor {0}")]
    MissingTensor(String),
    #[error("tensor {name} has shape {found:?}, expected {expected:?}")]
    ShapeMismatch { name: String, expected: Vec<usize>, found: Vec<usize> },
}

/// The tensor element types of GGUF (ggml type ids).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2K,
    Q3K,
    Q4K,
    Q5K,
    Q6K,
    Q8K,
}

impl DType {
    pub fn from_ggml(id: u32) -> Option<Self> {
        Some(match id {
            0 => Self::F32,
            1 => Self::F16,
            2 => Self::Q4_0,
            3 => Self::Q4_1,
            6 => Self::Q5_0,
            7 => Self::Q5_1,
            8 => Self::Q8_0,
            9 => Self::Q8_1,
            10 => Self::Q2K,
            11 => Self::Q3K,
            12 => Self::Q4K,
            13 => Self::Q5K,
            14 => Self::Q6K,
            15 => Self::Q8K,
            30 => Self::BF16,
            _ => return None,
        })
    }
    pub fn ggml_id(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q4_0 => 2,
            Self::Q4_1 => 3,
            Self::Q5_0 => 6,
            Self::Q5_1 => 7,
            Self::Q8_0 => 8,
            Self::Q8_1 => 9,
            Self::Q2K => 10,
            Self::Q3K => 11,
            Self::Q4K => 12,
            Self::Q5K => 13,
            Self::Q6K => 14,
            Self::Q8K => 15,
            Self::BF16 => 30,
        }
    }
    /// (elements per block, bytes per block)
    pub fn block(self) -> (u64, u64) {
        match self {
            Self::F32 => (1, 4),
            Self::F16 | Self::BF16 => (1, 2),
            Self::Q4_0 => (32, 18),
            Self::Q4_1 => (32, 20),
            Self::Q5_0 => (32, 22),
            Self::Q5_1 => (32, 24),
            Self::Q8_0 => (32, 34),
            Self::Q8_1 => (32, 36),
            Self::Q2K => (256, 84),
            Self::Q3K => (256, 110),
            Self::Q4K => (256, 144),
            Self::Q5K => (256, 176),
            Self::Q6K => (256, 210),
            Self::Q8K => (256, 292),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
            Self::Q4_0 => "Q4_0",
            Self::Q4_1 => "Q4_1",
            Self::Q5_0 => "Q5_0",
            Self::Q5_1 => "Q5_1",
            Self::Q8_0 => "Q8_0",
            Self::Q8_1 => "Q8_1",
            Self::Q2K => "Q2_K",
            Self::Q3K => "Q3_K",
            Self::Q4K => "Q4_K",
            Self::Q5K => "Q5_K",
            Self::Q6K => "Q6_K",
            Self::Q8K => "Q8_K",
        }
    }
}

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::U8(_) => "u8",
            Value::I8(_) => "i8",
            Value::U16(_) => "u16",
            Value::I16(_) => "i16",
            Value::U32(_) => "u32",
            Value::I32(_) => "i32",
            Value::F32(_) => "f32",
            Value::Bool(_) => "bool",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::U64(_) => "u64",
            Value::I64(_) => "i64",
            Value::F64(_) => "f64",
        }
    }
    pub fn ggml_type(&self) -> u32 {
        match self {
            Value::U8(_) => 0,
            Value::I8(_) => 1,
            Value::U16(_) => 2,
            Value::I16(_) => 3,
            Value::U32(_) => 4,
            Value::I32(_) => 5,
            Value::F32(_) => 6,
            Value::Bool(_) => 7,
            Value::String(_) => 8,
            Value::Array(_) => 9,
            Value::U64(_) => 10,
            Value::I64(_) => 11,
            Value::F64(_) => 12,
        }
    }
    /// Any integer value as u64 (negative values are rejected).
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v as u64),
            Value::U16(v) => Some(v as u64),
            Value::U32(v) => Some(v as u64),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v as f64),
            Value::F64(v) => Some(v),
            _ => self.as_u64().map(|v| v as f64),
        }
    }
}

/// Where one tensor's bytes are, and what they hold.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// GGUF order: dims[0] is the fastest-varying (row length).
    pub dims: Vec<usize>,
    pub dtype: DType,
    /// Offset relative to the start of the data section.
    pub offset: u64,
    pub size: u64,
}

impl TensorInfo {
    pub fn n_elements(&self) -> usize {
        self.dims.iter().product()
    }
}

/// A parsed GGUF header: metadata and tensor infos. Tensor data stays in the source.
#[derive(Debug, Clone)]
pub struct Gguf {
    pub version: u32,
    pub metadata: HashMap<String, Value>,
    /// Tensors in file order.
    pub tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
    /// Absolute offset of the data section.
    pub data_offset: u64,
    pub alignment: u64,
}

/// Sequential reader over a shard source with a small buffer, tracking the absolute position.
struct Reader<'a> {
    src: &'a mut dyn ShardSource,
    total: u64,
    buf: Vec<u8>,
    buf_start: u64,
    pos: u64,
}

const READ_CHUNK: u64 = 1 << 16;

impl<'a> Reader<'a> {
    fn new(src: &'a mut dyn ShardSource) -> Self {
        let total = src.len();
        Self { src, total, buf: Vec::new(), buf_start: 0, pos: 0 }
    }

    fn remaining(&self) -> u64 {
        self.total.saturating_sub(self.pos)
    }

    fn bytes(&mut self, n: u64) -> Result<&[u8], GgufError> {
        if n > self.remaining() {
            return Err(GgufError::Truncated { offset: self.pos, needed: n, total: self.total });
        }
        let buf_end = self.buf_start + self.buf.len() as u64;
        if self.pos < self.buf_start || self.pos + n > buf_end {
            let len = n.max(READ_CHUNK).min(self.remaining());
            self.buf.resize(len as usize, 0);
            self.src.read_at(self.pos, &mut self.buf)?;
            self.buf_start = self.pos;
        }
        let start = (self.pos - self.buf_start) as usize;
        self.pos += n;
        Ok(&self.buf[start..start + n as usize])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], GgufError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N as u64)?);
        Ok(out)
    }
    fn u32(&mut self) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn string(&mut self) -> Result<String, GgufError> {
        let offset = self.pos;
        let len = self.u64()?;
        if len > MAX_STRING_LEN {
            return Err(GgufError::StringTooLong { offset, len, limit: MAX_STRING_LEN });
        }
        let bytes = self.bytes(len)?.to_vec();
        String::from_utf8(bytes).map_err(|_| GgufError::BadUtf8 { offset })
    }

    fn value(&mut self, key: &str, ty: u32, depth: u32) -> Result<Value, GgufError> {
        Ok(match ty {
            0 => Value::U8(self.array::<1>()?[0]),
            1 => Value::I8(self.array::<1>()?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array()?)),
            3 => Value::I16(i16::from_le_bytes(self.array()?)),
            4 => Value::U32(self.u32()?),
            5 => Value::I32(i32::from_le_bytes(self.array()?)),
            6 => Value::F32(f32::from_le_bytes(self.array()?)),
            7 => Value::Bool(self.array::<1>()?[0] != 0),
            8 => Value::String(self.string()?),
            9 => {
                if depth >= 2 {
                    return Err(GgufError::NestedTooDeep { key: key.to_string() });
                }
                let elem_ty = self.u32()?;
                let len = self.u64()?;
                // Every element takes at least one byte, so a length beyond the bytes left is a lie.
                if len > MAX_ARRAY_LEN {
                    return Err(GgufError::TooMany { what: "array element", count: len, limit: MAX_ARRAY_LEN });
                }
                if len > self.remaining() {
                    return Err(GgufError::Truncated { offset: self.pos, needed: len, total: self.total });
                }
                let mut items = Vec::with_capacity(len as usize);
                for _ in 0..len {
                    items.push(self.value(key, elem_ty, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(i64::from_le_bytes(self.array()?)),
            12 => Value::F64(f64::from_le_bytes(self.array()?)),
            _ => return Err(GgufError::UnknownValueType { key: key.to_string(), ty }),
        })
    }
}

impl Gguf {
    /// Parse the header, metadata and tensor infos; validate every tensor's byte range.
    pub fn read(src: &mut dyn ShardSource) -> Result<Self, GgufError> {
        let mut r = Reader::new(src);
        let magic: [u8; 4] = r.array()?;
        if magic != GGUF_MAGIC {
            return Err(GgufError::BadMagic { found: magic });
        }
        let version = r.u32()?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::UnsupportedVersion(version));
        }
        let n_tensors = r.u64()?;
        let n_kv = r.u64()?;
        if n_tensors > MAX_TENSORS {
            return Err(GgufError::TooMany { what: "tensor", count: n_tensors, limit: MAX_TENSORS });
        }
        if n_kv > MAX_KV {
            return Err(GgufError::TooMany { what: "metadata key", count: n_kv, limit: MAX_KV });
        }
        let mut metadata = HashMap::new();
        for _ in 0..n_kv {
            let key = r.string()?;
            let ty = r.u32()?;
            let value = r.value(&key, ty, 0)?;
            metadata.insert(key, value);
        }
        let mut tensors = Vec::new();
        let mut by_name = HashMap::new();
        for _ in 0..n_tensors {
            let name = r.string()?;
            let n_dims = r.u32()?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(GgufError::BadDims { name, n_dims, max: MAX_DIMS });
            }
            let mut dims64 = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims64.push(r.u64()?);
            }
            let dtype_id = r.u32()?;
            let offset = r.u64()?;
            let dtype = DType::from_ggml(dtype_id).ok_or_else(|| GgufError::UnknownDType { name: name.clone(), dtype: dtype_id })?;
            let size = tensor_size(&name, &dims64, dtype)?;
            let dims = dims64.iter().map(|&d| d as usize).collect();
            if by_name.insert(name.clone(), tensors.len()).is_some() {
                return Err(GgufError::DuplicateTensor(name));
            }
            tensors.push(TensorInfo { name, dims, dtype, offset, size });
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() && a <= 1 << 16 => a,
                _ => return Err(GgufError::BadAlignment(v.as_u64().unwrap_or(0))),
            },
        };
        let data_offset = r.pos.div_ceil(alignment) * alignment;
        let data_len = r.total.saturating_sub(data_offset);
        check_ranges(&tensors, data_len, alignment)?;
        Ok(Self { version, metadata, tensors, by_name, data_offset, alignment })
    }

    pub fn tensor(&self, name: &str) -> Result<&TensorInfo, GgufError> {
        self.by_name.get(name).map(|&i| &self.tensors[i]).ok_or_else(|| GgufError::MissingTensor(name.to_string()))
    }

    pub fn has_tensor(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Read one tensor's raw bytes (quant blocks in GGUF layout).
    pub fn tensor_bytes(&self, src: &mut dyn ShardSource, info: &TensorInfo) -> Result<Vec<u8>, GgufError> {
        let mut buf = vec![0u8; info.size as usize];
        src.read_at(self.data_offset + info.offset, &mut buf)?;
        Ok(buf)
    }

    pub fn get(&self, key: &str) -> Result<&Value, GgufError> {
        self.metadata.get(key).ok_or_else(|| GgufError::MissingKey(key.to_string()))
    }

    pub fn get_u64(&self, key: &str) -> Result<u64, GgufError> {
        let v = self.get(key)?;
        v.as_u64().ok_or_else(|| GgufError::WrongType { key: key.to_string(), expected: "unsigned integer", found: v.type_name() })
    }

    pub fn get_usize(&self, key: &str) -> Result<usize, GgufError> {
        let v = self.get_u64(key)?;
        usize::try_from(v).map_err(|_| GgufError::WrongType { key: key.to_string(), expected: "usize", found: "u64" })
    }

    pub fn get_f32(&self, key: &str) -> Result<f32, GgufError> {
        let v = self.get(key)?;
        v.as_f64().map(|x| x as f32).ok_or_else(|| GgufError::WrongType { key: key.to_string(), expected: "number", found: v.type_name() })
    }

    pub fn get_str(&self, key: &str) -> Result<&str, GgufError> {
        match self.get(key)? {
            Value::String(s) => Ok(s),
            v => Err(GgufError::WrongType { key: key.to_string(), expected: "string", found: v.type_name() }),
        }
    }

    pub fn get_bool(&self, key: &str) -> Result<bool, GgufError> {
        match self.get(key)? {
            Value::Bool(b) => Ok(*b),
            v => Err(GgufError::WrongType { key: key.to_string(), expected: "bool", found: v.type_name() }),
        }
    }

    pub fn get_array(&self, key: &str) -> Result<&[Value], GgufError> {
        match self.get(key)? {
            Value::Array(a) => Ok(a),
            v => Err(GgufError::WrongType { key: key.to_string(), expected: "array", found: v.type_name() }),
        }
    }

    /// Total bytes of tensor data.
    pub fn tensor_bytes_total(&self) -> u64 {
        self.tensors.iter().map(|t| t.size).sum()
    }
}

fn tensor_size(name: &str, dims: &[u64], dtype: DType) -> Result<u64, GgufError> {
    let bad = |why| GgufError::BadShape { name: name.to_string(), dims: dims.to_vec(), why };
    if dims.iter().any(|&d| d == 0) {
        return Err(bad("zero-sized dimension"));
    }
    let n = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)).ok_or_else(|| bad("element count overflows"))?;
    let (blk, bytes) = dtype.block();
    if dims[0] % blk != 0 {
        return Err(bad("row length is not a multiple of the block size"));
    }
    (n / blk).checked_mul(bytes).filter(|&s| s < 1 << 40).ok_or_else(|| bad("byte size too large"))
}

fn check_ranges(tensors: &[TensorInfo], data_len: u64, alignment: u64) -> Result<(), GgufError> {
    let mut order: Vec<&TensorInfo> = tensors.iter().collect();
    for t in &order {
        if t.offset % alignment != 0 {
            return Err(GgufError::Misaligned { name: t.name.clone(), offset: t.offset, alignment });
        }
        let end = t.offset.checked_add(t.size);
        match end {
            Some(end) if end <= data_len => {}
            _ => {
                return Err(GgufError::OffsetOutOfRange {
                    name: t.name.clone(),
                    start: t.offset,
                    end: end.unwrap_or(u64::MAX),
                    data_len,
                })
            }
        }
    }
    order.sort_by_key(|t| t.offset);
    for w in order.windows(2) {
        if w[0].offset + w[0].size > w[1].offset {
            return Err(GgufError::Overlap { a: w[0].name.clone(), b: w[1].name.clone() });
        }
    }
    Ok(())
}
