//! The SVG sanitiser on arbitrary text: parsing, the element and attribute
//! allow-lists, CSS and link checks, and embedded `data:` rasters (decoded,
//! sniffed, their headers read by libvips, held to a pixel budget). What
//! it keeps must hold no active or external content and must sanitise to
//! itself again.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::svg(data));
