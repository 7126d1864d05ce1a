#![no_main]
//! `cursor_decode`: see `scan_failures_fuzz::checks::cursor_decode` and RELIABILITY.md.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    scan_failures_fuzz::checks::cursor_decode(data);
});
