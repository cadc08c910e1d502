//! Links the libvips the main crate's build fetched (`../.libvips/1.3.4`,
//! or `IMAGE_HANDLER_LIBVIPS_DIR`): build or test the main crate once first.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=IMAGE_HANDLER_LIBVIPS_DIR");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let dir = std::env::var("IMAGE_HANDLER_LIBVIPS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest.join("../.libvips/1.3.4"));
    assert!(
        dir.join("link").join("libvips.so").exists(),
        "no libvips at {}: run `cargo build` in the repository root first (it fetches it)",
        dir.display()
    );
    println!("cargo:rustc-link-search=native={}", dir.join("link").display());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.join("lib").display());
}
