//! Signature verification: arbitrary paths and queries never verify without
//! the key, a URL signed by `sign_url` always verifies, and any change to
//! its signed part (or an expiry in the past) is refused.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::signature(data));
