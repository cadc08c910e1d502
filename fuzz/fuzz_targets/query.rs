//! The query style: `/<key>?<params>` as the handler parses it (path
//! detection, then the query parameters applied on top), with the
//! validated request's bounds checked.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::query(data));
