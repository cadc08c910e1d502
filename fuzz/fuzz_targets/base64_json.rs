//! SIH's default style: a base64 JSON request object. The input is used
//! both as the JSON text (encoded here, so the fuzzer explores JSON) and
//! as a raw path (so it explores the base64 detection).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::base64_json(data));
