//! Fuzz target: the kubectl importer: no panic, rows = converted + skipped, and what it writes reads back as a trace.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Err(broken) = nodepack_formats::import::invariants("kubectl", text) {
            panic!("{broken}");
        }
    }
});
