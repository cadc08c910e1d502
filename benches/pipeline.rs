//! In-process benchmark: our transform pipeline against the libvips floor.
//!
//! The cases are `benches/cases.json`, run on the corpus that `benches/run.sh`
//! prepares (`BENCH_CORPUS`, default `benches/.work/corpus`). For each case it
//! times `transform::pipeline::run` (no HTTP, no URL parsing in the timed part)
//! and the same work done directly on libvips (`thumbnail_buffer`, the same
//! edits, the same encoder settings), interleaved in one run. Ratios, not
//! absolute times, are the result: absolute times vary with the machine.
//!
//! Modes (`cargo bench --bench pipeline -- <mode>`; `benches/run.sh` runs the
//! built binary directly):
//!
//! - `time [iters]` (default, 5 iterations): one JSON line per case and
//!   engine (`ours`, `floor`) on stdout, a table on stderr.
//! - `rss <case>`: runs one case once through our pipeline and prints its
//!   peak RSS (`VmHWM`), so each case gets a fresh process.
//! - `quality`: bytes, encode time and PSNR/SSIM against the unencoded resize
//!   for AVIF effort 0/2/4 and WebP effort 2/4 at widths 800 and 1600.
//!
//! - `bytes`: bytes at equal visual quality (SSIMULACRA2) for fixed
//!   defaults, `quality=auto`, `format=best` and SIH's output (see
//!   `pipeline/bytes_at_quality.rs`).
//!
//! The bench panics on any failure: it is a measuring tool, not a request path.

#[path = "pipeline/bytes_at_quality.rs"]
mod bytes_at_quality;
#[path = "../tests/common/score.rs"]
mod score;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use image_handler::request::{Limits, query};
use image_handler::transform::{self, Accepted, Job, encode::Effort, pipeline};
use rs_vips::VipsImage;
use rs_vips::enums::{Angle, BandFormat, Interpretation};
use rs_vips::voption::{Setter, VOption};
use serde_json::{Value, json};

/// One operation of `benches/cases.json`.
struct Case {
    name: String,
    input: String,
    query: String,
    spec: Spec,
}

/// The operation as plain parameters, from which the floor is built.
struct Spec {
    width: i32,
    height: Option<i32>,
    attention: bool,
    rotate: bool,
    grayscale: bool,
    animated: bool,
    format: String,
}

fn cases() -> Vec<Case> {
    let file = std::env::var("BENCH_CASES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/cases.json"));
    let all: Value = serde_json::from_slice(&std::fs::read(&file).expect("benches/cases.json"))
        .expect("cases.json is JSON");
    all["cases"]
        .as_array()
        .expect("cases array")
        .iter()
        .map(|c| {
            let s = &c["spec"];
            Case {
                name: c["name"].as_str().expect("name").into(),
                input: c["input"].as_str().expect("input").into(),
                query: c["query"].as_str().expect("query").into(),
                spec: Spec {
                    width: s["width"].as_i64().expect("width") as i32,
                    height: s["height"].as_i64().map(|h| h as i32),
                    attention: s["crop"].as_str() == Some("attention"),
                    rotate: s["rotate"].as_i64() == Some(90),
                    grayscale: s["grayscale"].as_bool() == Some(true),
                    animated: s["animated"].as_bool() == Some(true),
                    format: s["format"].as_str().expect("format").into(),
                },
            }
        })
        .collect()
}

fn corpus() -> PathBuf {
    std::env::var("BENCH_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/.work/corpus"))
}

/// The same work done directly on libvips, with nothing of ours in between.
fn floor(bytes: &[u8], spec: &Spec) -> Vec<u8> {
    let option_string = if spec.animated { "n=-1" } else { "" };
    let mut opts = VOption::new().set("option_string", option_string);
    let width = if spec.rotate {
        // Rotated a quarter turn first: the output width is the original's height.
        opts = opts.set("height", spec.width);
        10_000_000
    } else {
        opts = opts.set("height", spec.height.unwrap_or(10_000_000));
        spec.width
    };
    if spec.attention {
        opts = opts.set("crop", "attention");
    }
    let mut img = VipsImage::thumbnail_buffer_with_opts(bytes, width, opts).expect("thumbnail");
    // An embedded profile is converted to sRGB, as we and sharp do.
    if img.get_typeof("icc-profile-data").unwrap_or(0) != 0 {
        img = img
            .icc_transform_with_opts("srgb", VOption::new().set("embedded", true))
            .expect("icc_transform");
    }
    if spec.rotate {
        // A quarter turn reads the image out of order: hold it in memory first.
        img = img
            .copy_memory()
            .and_then(|i| i.rot(Angle::D90))
            .expect("rot");
    }
    if spec.grayscale {
        img = img.colourspace(Interpretation::BW).expect("colourspace");
    }
    encode(&img, &spec.format, 4, 2)
}

fn encode(img: &VipsImage, format: &str, webp_effort: i32, avif_effort: i32) -> Vec<u8> {
    match format {
        "jpeg" => img.jpegsave_buffer_with_opts(
            VOption::new()
                .set("Q", 80)
                .set("optimize_coding", true)
                .set("strip", true),
        ),
        "webp" => img.webpsave_buffer_with_opts(
            VOption::new()
                .set("Q", 80)
                .set("effort", webp_effort)
                .set("strip", true),
        ),
        "avif" => img.heifsave_buffer_with_opts(
            VOption::new()
                .set("compression", "av1")
                .set("Q", 50)
                .set("effort", avif_effort)
                .set("bitdepth", 8)
                .set("strip", true),
        ),
        other => panic!("unknown format {other}"),
    }
    .expect("save")
}

fn job(case: &Case, bytes: &[u8]) -> Job {
    let request = query::parse(
        &format!("/{}", case.input),
        Some(&case.query),
        &Limits::default(),
    )
    .expect("query");
    Job {
        bytes: Bytes::copy_from_slice(bytes),
        edits: request.edits,
        output: request.output,
        accepted: Accepted::default(),
        limits: Limits::default(),
        max_input_pixels: 50_000_000,
        max_frames: 256,
        effort: Effort::default(),
        fast_shrink: std::env::var("FAST_SHRINK_ON_LOAD").is_ok_and(|v| v == "Yes"),
        max_output_bytes: None,
        overlays: Vec::new(),
        auto_quality: Default::default(),
    }
}

fn main() {
    transform::init_vips().expect("libvips");
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.first().map(String::as_str) {
        None | Some("time") => time(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(5)),
        Some("rss") => rss(args.get(1).expect("rss <case name>")),
        Some("quality") => quality(),
        Some("bytes") => bytes_at_quality::run_all(corpus()),
        Some(other) => panic!("unknown mode {other}: time [iters] | rss <case> | quality | bytes"),
    }
}

fn threads() -> i32 {
    rs_vips::Vips::concurrency_get()
}

fn time(iters: usize) {
    eprintln!(
        "{:<24} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "case", "ours p50", "ours p95", "floor p50", "floor p95", "ratio"
    );
    for case in cases() {
        let bytes = std::fs::read(corpus().join(&case.input)).expect("corpus file");
        let job = job(&case, &bytes);
        let (mut ours, mut floors) = (Vec::new(), Vec::new());
        let (mut out_bytes, mut floor_bytes, mut dims) = (0, 0, (0, 0));
        // One warm-up round, then alternate so load on the machine hits both.
        for i in 0..=iters {
            let t = Instant::now();
            let out = pipeline::run(&job).expect("pipeline");
            let a = t.elapsed();
            let t = Instant::now();
            let reference = floor(&bytes, &case.spec);
            let b = t.elapsed();
            if i > 0 {
                ours.push(a);
                floors.push(b);
            }
            (out_bytes, floor_bytes, dims) =
                (out.bytes.len(), reference.len(), (out.width, out.height));
        }
        // With FAST_SHRINK_ON_LOAD ours is "ours-fast" (the floor is unchanged).
        let fast = job.fast_shrink;
        let names = if fast {
            ["ours-fast", "floor-fast"]
        } else {
            ["ours", "floor"]
        };
        for (engine, samples, size) in [
            (names[0], &ours, out_bytes),
            (names[1], &floors, floor_bytes),
        ] {
            println!(
                "{}",
                json!({
                    "engine": engine,
                    "case": case.name,
                    "threads": threads(),
                    "ms": samples.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
                    "bytes": size,
                    "width": dims.0,
                    "height": dims.1,
                })
            );
        }
        let (o50, o95) = percentiles(&mut ours);
        let (f50, f95) = percentiles(&mut floors);
        eprintln!(
            "{:<24} {:>8.1}ms {:>8.1}ms {:>8.1}ms {:>8.1}ms {:>8.2}",
            case.name,
            ms(o50),
            ms(o95),
            ms(f50),
            ms(f95),
            o50.as_secs_f64() / f50.as_secs_f64()
        );
    }
}

/// `VmHWM` (peak resident set) of this process, in MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .expect("VmHWM")
}

fn rss(name: &str) {
    let case = cases()
        .into_iter()
        .find(|c| c.name == name)
        .expect("case name");
    let bytes = std::fs::read(corpus().join(&case.input)).expect("corpus file");
    let job = job(&case, &bytes);
    let baseline = peak_rss_mb();
    pipeline::run(&job).expect("pipeline");
    println!(
        "{}",
        json!({"engine": "ours", "case": case.name, "rss_mb": peak_rss_mb(), "baseline_mb": baseline})
    );
}

/// Luma as float, for the metrics.
fn luma(img: &VipsImage) -> VipsImage {
    img.colourspace(Interpretation::BW)
        .and_then(|i| i.extract_band(0))
        .and_then(|i| i.cast(BandFormat::Float))
        .expect("luma")
}

/// PSNR over the RGB bands, in dB.
fn psnr(a: &VipsImage, b: &VipsImage) -> f64 {
    let rgb = |i: &VipsImage| {
        i.colourspace(Interpretation::Srgb)
            .and_then(|i| i.extract_band_with_opts(0, VOption::new().set("n", 3)))
            .and_then(|i| i.cast(BandFormat::Float))
            .expect("rgb")
    };
    let d = &rgb(a) - &rgb(b);
    let mse = (&d * &d).avg().expect("avg");
    10.0 * (255.0_f64 * 255.0 / mse.max(1e-12)).log10()
}

/// Mean SSIM of the luma, with an 11-tap Gaussian window (sigma 1.5), as in
/// Wang et al. 2004.
fn ssim(a: &VipsImage, b: &VipsImage) -> f64 {
    let (x, y) = (luma(a), luma(b));
    let blur = |i: &VipsImage| i.gaussblur(1.5).expect("gaussblur");
    let (c1, c2) = ((0.01_f64 * 255.0).powi(2), (0.03_f64 * 255.0).powi(2));
    let (mx, my) = (blur(&x), blur(&y));
    let (mx2, my2, mxy) = (&mx * &mx, &my * &my, &mx * &my);
    let sx = &blur(&(&x * &x)) - &mx2;
    let sy = &blur(&(&y * &y)) - &my2;
    let sxy = &blur(&(&x * &y)) - &mxy;
    let num = &(&(&mxy * 2.0) + c1) * &(&(&sxy * 2.0) + c2);
    let den = &(&(&mx2 + &my2) + c1) * &(&(&sx + &sy) + c2);
    (&num / &den).avg().expect("avg")
}

fn quality() {
    let bytes = std::fs::read(corpus().join("photo.jpg")).expect("corpus photo.jpg");
    let settings: &[(&str, i32, i32)] = &[
        ("jpeg", 0, 0),
        ("webp", 2, 0),
        ("webp", 4, 0),
        ("avif", 0, 0),
        ("avif", 2, 0),
        ("avif", 4, 0),
    ];
    for width in [800, 1600] {
        let reference = VipsImage::thumbnail_buffer_with_opts(
            &bytes,
            width,
            VOption::new().set("height", 10_000_000),
        )
        .and_then(|i| i.copy_memory())
        .expect("reference");
        for &(format, effort, _) in settings {
            let (webp, avif) = if format == "webp" {
                (effort, 2)
            } else {
                (4, effort)
            };
            let mut times = Vec::new();
            let mut out = Vec::new();
            for _ in 0..3 {
                let t = Instant::now();
                out = encode(&reference, format, webp, avif);
                times.push(t.elapsed());
            }
            let decoded = VipsImage::new_from_buffer(&out, "").expect("decode");
            let (p50, _) = percentiles(&mut times);
            println!(
                "{}",
                json!({
                    "format": format,
                    "effort": if format == "jpeg" { Value::Null } else { json!(effort) },
                    "width": width,
                    "bytes": out.len(),
                    "encode_ms": ms(p50),
                    "psnr_db": psnr(&reference, &decoded),
                    "ssim": ssim(&reference, &decoded),
                })
            );
        }
    }
}

fn percentiles(v: &mut [Duration]) -> (Duration, Duration) {
    v.sort();
    let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.95))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
