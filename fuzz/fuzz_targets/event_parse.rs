#![no_main]
//! `event_parse`: see `scan_failures_fuzz::checks::event_parse` and RELIABILITY.md.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = scan_failures_fuzz::checks::event_parse(data);
});
