//! Links the libvips that the `rs-vips` binding expects.
//!
//! By default this is the prebuilt portable libvips 8.18 that sharp publishes on
//! npm: `layer/fetch-libvips.sh` fetches it (once) into `.libvips/`, and the
//! binaries get an rpath to it. `IMAGE_HANDLER_LIBVIPS=system` links the system
//! libvips found by pkg-config instead (e.g. Debian's `libvips-dev`), and
//! `IMAGE_HANDLER_LIBVIPS_DIR` points at an already unpacked copy.
//!
//! HEIC decoding is the optional `heic` feature (it links the system libheif);
//! without it the build says once what would enable it.
use std::env;
use std::path::PathBuf;
use std::process::Command;

const PKG_VERSION: &str = "1.3.4";
const VIPS_SO: &str = "libvips-cpp.so.8.18.7";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=layer/fetch-libvips.sh");
    println!("cargo:rerun-if-env-changed=IMAGE_HANDLER_LIBVIPS");
    println!("cargo:rerun-if-env-changed=IMAGE_HANDLER_LIBVIPS_DIR");
    println!("cargo:rerun-if-env-changed=IMAGE_HANDLER_RPATH");
    heic_notice();

    if env::var("IMAGE_HANDLER_LIBVIPS").as_deref() == Ok("system") {
        system_libvips();
        return;
    }

    let manifest =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dir = match env::var("IMAGE_HANDLER_LIBVIPS_DIR") {
        Ok(d) => PathBuf::from(d),
        Err(_) => manifest.join(".libvips").join(PKG_VERSION),
    };
    if !dir.join("lib").join(VIPS_SO).exists() || !dir.join("link").join("libvips.so").exists() {
        let status = Command::new("bash")
            .arg(manifest.join("layer/fetch-libvips.sh"))
            .arg(&dir)
            .status()
            .expect("running layer/fetch-libvips.sh");
        assert!(
            status.success(),
            "layer/fetch-libvips.sh failed: cannot get libvips"
        );
    }
    println!(
        "cargo:rerun-if-changed={}",
        dir.join("lib").join(VIPS_SO).display()
    );
    println!(
        "cargo:rustc-link-search=native={}",
        dir.join("link").display()
    );
    // The Lambda layer sets IMAGE_HANDLER_RPATH (e.g. /opt/lib); local builds
    // point straight at the unpacked library.
    let rpath =
        env::var("IMAGE_HANDLER_RPATH").unwrap_or_else(|_| dir.join("lib").display().to_string());
    println!("cargo:rustc-link-arg=-Wl,-rpath,{rpath}");
}

/// Without the `heic` feature, one warning saying what would enable HEIC
/// decoding on this machine (the build goes on: HEIC originals then answer 400).
fn heic_notice() {
    if env::var_os("CARGO_FEATURE_HEIC").is_some() {
        return;
    }
    let installed = Command::new("pkg-config")
        .args(["--exists", "libheif >= 1.14"])
        .status()
        .is_ok_and(|s| s.success());
    if installed {
        println!(
            "cargo:warning=HEIC decoding is not in this build: libheif is installed, so add `--features heic` to decode HEIC originals"
        );
    } else {
        println!(
            "cargo:warning=HEIC decoding is not in this build: install libheif-dev and pkg-config (apt-get install libheif-dev pkg-config) and build with `--features heic` to decode HEIC originals"
        );
    }
}

/// Adds the link paths pkg-config reports for the system libvips.
fn system_libvips() {
    let out = Command::new("pkg-config")
        .args(["--libs-only-L", "vips"])
        .output()
        .expect("IMAGE_HANDLER_LIBVIPS=system needs pkg-config and libvips-dev");
    assert!(
        out.status.success(),
        "pkg-config cannot find vips: install libvips-dev"
    );
    for flag in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if let Some(path) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={path}");
        }
    }
}
