#![no_main]
//! `ingest_payload`: see `scan_failures_fuzz::checks::ingest_payload` and RELIABILITY.md.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = scan_failures_fuzz::checks::ingest_payload(data);
});
