//! A malformed-GGUF suite: every broken file is a typed error, never a panic or a huge allocation.

use super::gguf::{DType, Gguf, GgufError, Value};
use super::shards::MemShards;
use super::write::GgufWriter;

fn parse(bytes: &[u8]) -> Result<Gguf, GgufError> {
    Gguf::read(&mut MemShards::new(vec![bytes.to_vec()]))
}

fn valid() -> Vec<u8> {
    let mut w = GgufWriter::new();
    w.meta("general.architecture", Value::String("llama".into()))
        .meta("llama.block_count", Value::U32(1))
        .meta("tokenizer.ggml.tokens", Value::Array(vec![Value::String("a".into()), Value::String("b".into())]))
        .tensor("a", &[32, 2], DType::Q8_0, vec![1u8; 68])
        .tensor("b", &[4], DType::F32, vec![2u8; 16]);
    w.to_bytes()
}

/// Raw header with hand-chosen tensor records: (name, dims, ggml dtype id, offset).
fn raw(tensors: &[(&str, &[u64], u32, u64)], data_len: usize) -> Vec<u8> {
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&(tensors.len() as u64).to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    for (name, dims, ty, off) in tensors {
        out.extend_from_slice(&(name.len() as u64).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
        for d in *dims {
            out.extend_from_slice(&d.to_le_bytes());
        }
        out.extend_from_slice(&ty.to_le_bytes());
        out.extend_from_slice(&off.to_le_bytes());
    }
    out.resize(out.len().div_ceil(32) * 32 + data_len, 0);
    out
}

#[test]
fn valid_file_parses_and_reads_tensor_bytes() {
    let bytes = valid();
    let mut src = MemShards::new(vec![bytes[..40].to_vec(), bytes[40..].to_vec()]);
    let g = Gguf::read(&mut src).unwrap();
    assert_eq!(g.get_u64("llama.block_count").unwrap(), 1);
    assert_eq!(g.get_str("general.architecture").unwrap(), "llama");
    let a = g.tensor("a").unwrap().clone();
    assert_eq!((a.dims.clone(), a.dtype, a.size), (vec![32, 2], DType::Q8_0, 68));
    assert_eq!(g.tensor_bytes(&mut src, &a).unwrap(), vec![1u8; 68]);
    let b = g.tensor("b").unwrap().clone();
    assert_eq!(g.tensor_bytes(&mut src, &b).unwrap(), vec![2u8; 16]);
}

#[test]
fn every_truncation_is_a_typed_error() {
    let bytes = valid();
    // The data section is the tail; cut anywhere before the end of the last tensor.
    for len in 0..bytes.len() - 16 {
        match parse(&bytes[..len]) {
            Err(GgufError::Truncated { .. }) | Err(GgufError::OffsetOutOfRange { .. }) => {}
            other => panic!("prefix of {len} bytes gave {other:?}"),
        }
    }
}

#[test]
fn bad_magic() {
    let mut bytes = valid();
    bytes[..4].copy_from_slice(b"GGML");
    assert!(matches!(parse(&bytes), Err(GgufError::BadMagic { found }) if &found == b"GGML"));
}

#[test]
fn unsupported_version() {
    let mut bytes = valid();
    bytes[4..8].copy_from_slice(&1u32.to_le_bytes());
    assert!(matches!(parse(&bytes), Err(GgufError::UnsupportedVersion(1))));
}

#[test]
fn absurd_counts_rejected_before_allocation() {
    let mut bytes = valid();
    bytes[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(parse(&bytes), Err(GgufError::TooMany { what: "tensor", .. })));
    let mut bytes = valid();
    bytes[16..24].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(matches!(parse(&bytes), Err(GgufError::TooMany { what: "metadata key", .. })));
}

#[test]
fn absurd_string_and_array_lengths() {
    // First key's length field sits right after the 24-byte header.
    let mut bytes = valid();
    bytes[24..32].copy_from_slice(&(u64::MAX - 3).to_le_bytes());
    assert!(matches!(parse(&bytes), Err(GgufError::StringTooLong { .. })));
    // An array claiming 2^40 elements.
    let mut w = GgufWriter::new();
    w.meta("x", Value::Array(vec![Value::U8(1)]));
    let mut bytes = w.to_bytes();
    let len_at = 24 + 8 + 1 + 4 + 4; // key len + "x" + value type + element type
    bytes[len_at..len_at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    assert!(matches!(parse(&bytes), Err(GgufError::TooMany { what: "array element", .. })));
}

#[test]
fn unknown_value_type_names_the_key() {
    let mut w = GgufWriter::new();
    w.meta("weird.key", Value::U32(7));
    let mut bytes = w.to_bytes();
    let ty_at = 24 + 8 + "weird.key".len();
    bytes[ty_at..ty_at + 4].copy_from_slice(&77u32.to_le_bytes());
    assert!(matches!(parse(&bytes), Err(GgufError::UnknownValueType { key, ty: 77 }) if key == "weird.key"));
}

#[test]
fn unknown_dtype_names_the_tensor() {
    let bytes = raw(&[("w", &[32], 99, 0)], 64);
    assert!(matches!(parse(&bytes), Err(GgufError::UnknownDType { name, dtype: 99 }) if name == "w"));
}

#[test]
fn bad_dims_and_shapes() {
    assert!(matches!(parse(&raw(&[("w", &[], 0, 0)], 64)), Err(GgufError::BadDims { .. })));
    assert!(matches!(parse(&raw(&[("w", &[1, 1, 1, 1, 1], 0, 0)], 64)), Err(GgufError::BadDims { .. })));
    assert!(matches!(parse(&raw(&[("w", &[0], 0, 0)], 64)), Err(GgufError::BadShape { .. })));
    assert!(matches!(parse(&raw(&[("w", &[u64::MAX, 4], 0, 0)], 64)), Err(GgufError::BadShape { .. })));
    // Q8_0 rows must be a multiple of 32 elements.
    assert!(matches!(parse(&raw(&[("w", &[33], 8, 0)], 64)), Err(GgufError::BadShape { .. })));
}

#[test]
fn out_of_range_and_overlapping_offsets() {
    // 16 f32 = 64 bytes but the data section holds 32.
    assert!(matches!(parse(&raw(&[("w", &[16], 0, 0)], 32)), Err(GgufError::OffsetOutOfRange { name, .. }) if name == "w"));
    // Offset near u64::MAX must not wrap around.
    assert!(matches!(parse(&raw(&[("w", &[8], 0, u64::MAX - 31)], 64)), Err(GgufError::OffsetOutOfRange { .. })));
    // Two 64-byte tensors at 0 and 32 overlap.
    assert!(matches!(parse(&raw(&[("a", &[16], 0, 0), ("b", &[16], 0, 32)], 128)), Err(GgufError::Overlap { .. })));
    assert!(matches!(parse(&raw(&[("a", &[8], 0, 3)], 128)), Err(GgufError::Misaligned { .. })));
    assert!(matches!(parse(&raw(&[("a", &[8], 0, 0), ("a", &[8], 0, 32)], 128)), Err(GgufError::DuplicateTensor(n)) if n == "a"));
}

#[test]
fn missing_metadata_key_and_tensor_are_named() {
    let g = parse(&valid()).unwrap();
    assert!(matches!(g.get_u64("llama.context_length"), Err(GgufError::MissingKey(k)) if k == "llama.context_length"));
    assert!(matches!(g.get_u64("general.architecture"), Err(GgufError::WrongType { key, .. }) if key == "general.architecture"));
    assert!(matches!(g.tensor("output.weight"), Err(GgufError::MissingTensor(n)) if n == "output.weight"));
}

#[test]
fn random_corruption_never_panics() {
    let bytes = valid();
    let mut state = 0x9e3779b97f4a7c15u64;
    for _ in 0..3000 {
        let mut b = bytes.clone();
        for _ in 0..4 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let i = (state % b.len() as u64) as usize;
            b[i] = (state >> 32) as u8;
        }
        let _ = parse(&b);
    }
}
