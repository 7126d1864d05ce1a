#![no_main]
//! `query_params`: see `scan_failures_fuzz::checks::query_params` and RELIABILITY.md.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = scan_failures_fuzz::checks::query_params(data);
});
