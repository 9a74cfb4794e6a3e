//! The GGUF reader on arbitrary bytes, split into up to three shards at positions the input
//! chooses: any error is typed, never a panic, and a file that parses reads every tensor's bytes
//! or says why not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tutor_runtime::load::gguf::Gguf;
use tutor_runtime::load::shards::MemShards;

fuzz_target!(|data: &[u8]| {
    let (cuts, bytes) = data.split_at(data.len().min(2));
    let mut shards = Vec::new();
    let mut rest = bytes;
    for &c in cuts {
        let at = (c as usize).min(rest.len());
        let (a, b) = rest.split_at(at);
        shards.push(a.to_vec());
        rest = b;
    }
    shards.push(rest.to_vec());
    let mut src = MemShards::new(shards);
    if let Ok(g) = Gguf::read(&mut src) {
        for info in g.tensors.clone() {
            let _ = g.tensor_bytes(&mut src, &info);
        }
    }
});
