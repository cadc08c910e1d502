//! SIH's custom rewrite: the first input byte picks a rewrite rule (SIH's
//! documented examples and some hostile ones), the rest is the request
//! path, rewritten and parsed as the handler does.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::rewrite(data));
