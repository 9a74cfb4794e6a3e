//! The escalation client's SSE parser on arbitrary bytes fed in arbitrary pieces: events or typed
//! errors, never a panic, and the same events however the bytes are split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tutor_runtime::escalate::sse::SseParser;

fn events(pieces: &[&[u8]]) -> Vec<Result<(String, String), String>> {
    let mut p = SseParser::new(1 << 16);
    let mut out = Vec::new();
    for piece in pieces {
        p.push(piece);
        while let Some(e) = p.next_event() {
            // An error is sticky (the stream is bad from there on): report it once.
            let failed = e.is_err();
            out.push(e.map(|e| (e.event, e.data)).map_err(|e| e.to_string()));
            if failed {
                return out;
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let whole = events(&[data]);
    let split: Vec<&[u8]> = data.chunks(7).collect();
    let pieces = events(&split);
    if whole.iter().all(Result::is_ok) && pieces.iter().all(Result::is_ok) {
        assert_eq!(whole, pieces, "split differently, read differently");
    }
});
