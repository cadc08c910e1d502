//! The decode path on small inputs under tight limits: format sniffing, the
//! header checks and the whole pipeline (load, a few edits, encode) on
//! arbitrary bytes. Errors are fine; a panic, a crash, a hang (libFuzzer's
//! `-timeout`) or runaway memory (`-rss_limit_mb`) is a finding. libvips
//! itself is not instrumented, so coverage guides through our code only.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::decode(data));
