//! Fuzz target: native JSON Lines traces.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = nodepack_formats::read_trace("fuzz.jsonl", text);
    }
});
