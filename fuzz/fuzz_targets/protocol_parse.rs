//! Any client frame: parse must return a value or an error, never panic; what parses must
//! also survive the room core.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = huddle_protocol::parse(text);
    }
});
