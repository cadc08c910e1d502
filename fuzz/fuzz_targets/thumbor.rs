//! thumbor's path style (`/unsafe/300x200/smart/filters:.../key`), with
//! the validated request's bounds checked.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::thumbor(data));
