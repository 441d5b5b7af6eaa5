//! Fuzz target: simulation scenarios.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = nodepack_formats::read_sim_scenario("fuzz.yaml", text);
    }
});
