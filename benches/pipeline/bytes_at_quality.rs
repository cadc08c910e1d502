//! `bytes` mode: bytes at equal visual quality (issue 18).
//!
//! Over the still images of the corpus at widths 320, 800 and 1600, each
//! output is scored with SSIMULACRA2 against the same request encoded
//! losslessly (`format=png`: exactly the pixels the encoder was given). Rows:
//!
//! - each lossy format at its fixed default quality, then with
//!   `quality=auto` at the default target (`QUALITY_TARGET`, 70;
//!   `BENCH_QUALITY_TARGET` tries another), at the fixed row's minimum score
//!   (the same floor), and at the target whose mean score equals the fixed
//!   row's (the same mean);
//! - PNG losslessly (its default) and with `quality=auto` (a palette, or
//!   the lossless PNG when no palette reaches the target);
//! - `format=best` for a Chrome-like client, at default qualities and with
//!   `quality=auto`;
//! - SIH's answer to the same client (made by `peers/sih-bytes.js` with
//!   sharp into `BENCH_SIH_DIR`), scored against sharp's own lossless resize.
//!
//! Prints one JSON line per row (`"kind": "bytes"`) with total bytes, mean
//! and minimum score, the median time per variant, and the median ratio of
//! each variant's time to the fixed row's (the cost of the search).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::score::{decoded, ssimulacra2};
use bytes::Bytes;
use fast_ssim2::PixelBuffer;
use image_handler::request::{Limits, query};
use image_handler::transform::quality::AutoQuality;
use image_handler::transform::{Accepted, Job, encode::Effort, pipeline};
use serde_json::json;

/// The corpus's still images.
pub const IMAGES: [&str; 6] = [
    "photo.jpg",
    "autumn.jpg",
    "kite.jpg",
    "water.jpg",
    "uhd.png",
    "alpha.png",
];
/// Synthetic images, in `benches/synthetic/`.
pub const SYNTHETIC: [&str; 2] = ["chart.svg", "page.svg"];
/// The widths the issue names.
pub const WIDTHS: [u32; 3] = [320, 800, 1600];

/// One variant's outcome.
#[derive(Clone, Copy)]
struct Outcome {
    bytes: usize,
    score: f64,
    time: Duration,
    /// Encodes the search scored (0: no search).
    probes: u8,
}

fn run(
    original: &[u8],
    query_string: &str,
    accepted: Accepted,
    auto: AutoQuality,
) -> (Vec<u8>, Duration, u8) {
    let request = query::parse("/x", Some(query_string), &Limits::default()).expect("query");
    let job = Job {
        bytes: Bytes::copy_from_slice(original),
        edits: request.edits,
        output: request.output,
        accepted,
        limits: Limits::default(),
        max_input_pixels: 50_000_000,
        max_frames: 256,
        effort: Effort::default(),
        fast_shrink: false,
        max_output_bytes: None,
        overlays: Vec::new(),
        auto_quality: auto,
    };
    let started = Instant::now();
    let out = pipeline::run(&job).expect("pipeline");
    let probes = out.chosen.map_or(0, |c| c.probes);
    (out.bytes.to_vec(), started.elapsed(), probes)
}

fn score(reference: &PixelBuffer, encoded: &[u8]) -> f64 {
    ssimulacra2(reference, &decoded(encoded))
}

/// A row: a name and how to make each variant.
struct Row {
    query: &'static str,
    accepted: Accepted,
    auto: AutoQuality,
}

const CHROME: Accepted = Accepted::formats(true, true);

fn summary(name: &str, outcomes: &[Outcome], base: Option<&[Outcome]>, extra: serde_json::Value) {
    let total: usize = outcomes.iter().map(|o| o.bytes).sum();
    let mean = outcomes.iter().map(|o| o.score).sum::<f64>() / outcomes.len() as f64;
    let min = outcomes
        .iter()
        .map(|o| o.score)
        .fold(f64::INFINITY, f64::min);
    let mut times: Vec<f64> = outcomes
        .iter()
        .map(|o| o.time.as_secs_f64() * 1e3)
        .collect();
    let ratio = base.map(|b| {
        let mut r: Vec<f64> = outcomes
            .iter()
            .zip(b)
            .map(|(o, b)| o.time.as_secs_f64() / b.time.as_secs_f64())
            .collect();
        median(&mut r)
    });
    let line = json!({
        "kind": "bytes",
        "row": name,
        "variants": outcomes.len(),
        "total_bytes": total,
        "mean_score": mean,
        "min_score": min,
        "median_ms": median(&mut times),
        "time_ratio_median": ratio,
        "mean_probes": outcomes.iter().map(|o| f64::from(o.probes)).sum::<f64>() / outcomes.len() as f64,
        "extra": extra,
    });
    println!("{line}");
    eprintln!(
        "{name:<34} {total:>10} B  mean {mean:5.1}  min {min:5.1}  {:7.1} ms{}",
        median(&mut times),
        ratio
            .map(|r| format!("  x{r:.2} of fixed"))
            .unwrap_or_default()
    );
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// Originals at [`WIDTHS`], each variant's reference (the same request
/// encoded losslessly) computed once.
struct Set {
    originals: Vec<(&'static str, Vec<u8>)>,
    references: Vec<PixelBuffer>,
}

impl Set {
    fn new(originals: Vec<(&'static str, Vec<u8>)>) -> Set {
        let mut references = Vec::new();
        for (_, original) in &originals {
            for w in WIDTHS {
                let (png, _, _) = run(
                    original,
                    &format!("width={w}&format=png"),
                    Accepted::default(),
                    AutoQuality::default(),
                );
                references.push(decoded(&png));
            }
        }
        Set {
            originals,
            references,
        }
    }

    /// Every variant of `row`, scored against its reference.
    fn measure(&self, row: &Row) -> Vec<Outcome> {
        let mut out = Vec::new();
        let mut i = 0;
        for (name, original) in &self.originals {
            for w in WIDTHS {
                let q = format!("width={w}&{}", row.query);
                let (bytes, time, probes) = run(original, &q, row.accepted, row.auto);
                let o = Outcome {
                    bytes: bytes.len(),
                    score: score(&self.references[i], &bytes),
                    time,
                    probes,
                };
                // Each variant too, for a closer look (the report reads only the rows).
                let target = f64::from(row.auto.target_tenths) / 10.0;
                println!(
                    "{}",
                    json!({"kind": "variant", "image": name, "width": w, "query": row.query, "target": target,
                           "bytes": o.bytes, "score": o.score, "ms": o.time.as_secs_f64() * 1e3, "probes": probes})
                );
                out.push(o);
                i += 1;
            }
        }
        out
    }
}

pub fn run_all(corpus: PathBuf) {
    let read =
        |dir: &std::path::Path, n: &'static str| (n, std::fs::read(dir.join(n)).expect("image"));
    let photos = Set::new(IMAGES.iter().map(|n| read(&corpus, n)).collect());
    let measure = |row: &Row| photos.measure(row);
    // BENCH_QUALITY_TARGET tries another default target (QUALITY_TARGET).
    let default = std::env::var("BENCH_QUALITY_TARGET")
        .ok()
        .and_then(|t| AutoQuality::parse_score(&t))
        .map_or_else(AutoQuality::default, |target_tenths| AutoQuality {
            target_tenths,
            ..AutoQuality::default()
        });
    let shown = f64::from(default.target_tenths) / 10.0;
    let mut chrome_auto: Option<Vec<Outcome>> = None;
    // BENCH_BYTES_FORMATS narrows the formats (a comma-separated list).
    let only = std::env::var("BENCH_BYTES_FORMATS").unwrap_or_default();
    for format in ["jpeg", "webp", "avif"] {
        if !only.is_empty() && !only.split(',').any(|f| f == format) {
            continue;
        }
        let fixed_query: &'static str = match format {
            "jpeg" => "format=jpeg",
            "webp" => "format=webp",
            _ => "format=avif",
        };
        let auto_query: &'static str = match format {
            "jpeg" => "format=jpeg&quality=auto",
            "webp" => "format=webp&quality=auto",
            _ => "format=avif&quality=auto",
        };
        let fixed = measure(&Row {
            query: fixed_query,
            accepted: Accepted::default(),
            auto: default,
        });
        summary(&format!("{format} fixed default"), &fixed, None, json!({}));
        let auto = measure(&Row {
            query: auto_query,
            accepted: Accepted::default(),
            auto: default,
        });
        summary(
            &format!("{format} auto (target {shown})"),
            &auto,
            Some(&fixed),
            json!({"target": shown}),
        );
        // The same mean score as the fixed row: the search overshoots its
        // target a little, so the target is set below the fixed mean by
        // the overshoot measured at the mean itself.
        let mean_of = |o: &[Outcome]| o.iter().map(|o| o.score).sum::<f64>() / o.len() as f64;
        let fixed_mean = mean_of(&fixed);
        let at = |target: f64| {
            let auto = AutoQuality {
                target_tenths: (target * 10.0).round() as u16,
                ..default
            };
            measure(&Row {
                query: auto_query,
                accepted: Accepted::default(),
                auto,
            })
        };
        // The same floor as the fixed row: its worst score as the target.
        let fixed_min = fixed.iter().map(|o| o.score).fold(f64::INFINITY, f64::min);
        let floor = at(fixed_min);
        summary(
            &format!("{format} auto (target {fixed_min:.1}, min as fixed)"),
            &floor,
            Some(&fixed),
            json!({
                "target": (fixed_min * 10.0).round() / 10.0,
                "vs": format!("{format} fixed default"),
                "bytes_saved": 1.0
                    - floor.iter().map(|o| o.bytes).sum::<usize>() as f64
                        / fixed.iter().map(|o| o.bytes).sum::<usize>() as f64,
            }),
        );
        let first = at(fixed_mean);
        let target = fixed_mean - (mean_of(&first) - fixed_mean).max(0.0);
        let same = at(target);
        let fixed_total: usize = fixed.iter().map(|o| o.bytes).sum();
        let same_total: usize = same.iter().map(|o| o.bytes).sum();
        let target = (target * 10.0).round() / 10.0;
        summary(
            &format!("{format} auto (target {target:.1}, mean as fixed)"),
            &same,
            Some(&fixed),
            json!({
                "target": target,
                "fixed_mean": fixed_mean,
                "vs": format!("{format} fixed default"),
                "bytes_saved": 1.0 - same_total as f64 / fixed_total as f64,
                "worst_below_target": same.iter().map(|o| target - o.score).fold(f64::NEG_INFINITY, f64::max),
            }),
        );
        if format == "avif" {
            chrome_auto = Some(auto);
        }
    }
    // PNG: the lossless default against `quality=auto`'s palette (or the
    // lossless PNG when no palette reaches the target).
    if only.is_empty() || only.split(',').any(|f| f == "png") {
        let row = |query| Row {
            query,
            accepted: Accepted::default(),
            auto: default,
        };
        let fixed = measure(&row("format=png"));
        summary("png fixed default (lossless)", &fixed, None, json!({}));
        let auto = measure(&row("format=png&quality=auto"));
        let total = |o: &[Outcome]| o.iter().map(|o| o.bytes).sum::<usize>() as f64;
        summary(
            &format!("png auto (target {shown})"),
            &auto,
            Some(&fixed),
            json!({
                "target": shown,
                "vs": "png fixed default (lossless)",
                "bytes_saved_vs_lossless": 1.0 - total(&auto) / total(&fixed),
            }),
        );
    }
    for (name, query, auto) in [
        (
            "best, default qualities".to_string(),
            "format=best",
            default,
        ),
        (
            format!("best, auto (target {shown})"),
            "format=best&quality=auto",
            default,
        ),
    ] {
        let outcomes = measure(&Row {
            query,
            accepted: CHROME,
            auto,
        });
        summary(&name, &outcomes, None, json!({}));
    }
    // Synthetic images (benches/synthetic/: a chart and a documentation
    // page, rasterised from SVG by the pipeline at each width), the kind
    // served as PNG: what `quality=auto` and `format=best` do there.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("benches/synthetic");
    let synthetic = Set::new(SYNTHETIC.iter().map(|n| read(&dir, n)).collect());
    let row = |query, accepted| Row {
        query,
        accepted,
        auto: default,
    };
    let lossless = synthetic.measure(&row("format=png", Accepted::default()));
    summary(
        "synthetic: png fixed default (lossless)",
        &lossless,
        None,
        json!({}),
    );
    let total = |o: &[Outcome]| o.iter().map(|o| o.bytes).sum::<usize>() as f64;
    for (name, query, accepted) in [
        (
            "synthetic: png auto",
            "format=png&quality=auto",
            Accepted::default(),
        ),
        ("synthetic: webp fixed default", "format=webp", CHROME),
        ("synthetic: best, default qualities", "format=best", CHROME),
        ("synthetic: best, auto", "format=best&quality=auto", CHROME),
    ] {
        let outcomes = synthetic.measure(&row(query, accepted));
        let (name, ratio) = match query {
            // The search's cost, against the lossless encode it replaces.
            "format=png&quality=auto" => (format!("{name} (target {shown})"), Some(&lossless[..])),
            _ if query.contains("auto") => (format!("{name} (target {shown})"), None),
            _ => (name.to_string(), None),
        };
        summary(
            &name,
            &outcomes,
            ratio,
            json!({
                "vs": "synthetic: png fixed default (lossless)",
                "bytes_saved_vs_lossless": 1.0 - total(&outcomes) / total(&lossless),
            }),
        );
    }
    // SIH's answers, made by peers/sih-bytes.js.
    let Ok(dir) = std::env::var("BENCH_SIH_DIR") else {
        eprintln!("BENCH_SIH_DIR unset: no SIH rows");
        return;
    };
    let dir = PathBuf::from(dir);
    let Some(ours) = chrome_auto else {
        eprintln!("no AVIF rows: no SIH comparison");
        return;
    };
    let ours_total: usize = ours.iter().map(|o| o.bytes).sum();
    for (name, suffix) in [
        ("SIH, AUTO_WEBP=Yes (WebP q80, metadata kept)", "webp"),
        ("SIH, AUTO_WEBP=Yes, metadata stripped", "stripped.webp"),
        ("SIH default (source format q80, metadata kept)", "default"),
    ] {
        let mut outcomes = Vec::new();
        for image in IMAGES {
            let stem = image.rsplit_once('.').map_or(image, |(s, _)| s);
            for w in WIDTHS {
                let read = |ext: &str| {
                    std::fs::read(dir.join(format!("{stem}-{w}.{ext}"))).expect("SIH output")
                };
                let reference = decoded(&read("png"));
                let out = read(suffix);
                outcomes.push(Outcome {
                    bytes: out.len(),
                    score: score(&reference, &out),
                    time: Duration::ZERO,
                    probes: 0,
                });
            }
        }
        let total: usize = outcomes.iter().map(|o| o.bytes).sum();
        summary(
            name,
            &outcomes,
            None,
            json!({"ours_row": format!("avif auto (target {shown})"), "ours_over_sih": ours_total as f64 / total as f64}),
        );
    }
}
