//! In-process benchmark: our transform pipeline against the libvips floor.
//!
//! For each case it times `transform::pipeline::run` (parse-free, HTTP-free)
//! and the same work done directly on libvips (`thumbnail_buffer` + save with
//! the same settings), interleaved in one run, and reports medians, p95 and
//! the ratio ours/floor. Ratios, not absolute times, are the result: absolute
//! times vary with the machine.
//!
//! Run: `cargo bench --bench pipeline` (`BENCH_ITERS=N` to change the count).

use std::time::{Duration, Instant};

use bytes::Bytes;
use image_handler::request::{Limits, query};
use image_handler::transform::{self, Accepted, Job, encode::Effort, pipeline};
use rs_vips::VipsImage;
use rs_vips::voption::{Setter, VOption};

struct Case {
    name: &'static str,
    sample: &'static str,
    query: &'static str,
    floor: fn(&[u8]) -> Vec<u8>,
}

fn thumb(bytes: &[u8], width: i32) -> VipsImage {
    VipsImage::thumbnail_buffer_with_opts(bytes, width, VOption::new().set("height", 100_000))
        .expect("thumbnail")
}

fn jpeg(img: &VipsImage) -> Vec<u8> {
    img.jpegsave_buffer_with_opts(
        VOption::new()
            .set("Q", 80)
            .set("optimize_coding", true)
            .set("strip", true),
    )
    .expect("jpegsave")
}

fn webp(img: &VipsImage) -> Vec<u8> {
    img.webpsave_buffer_with_opts(
        VOption::new()
            .set("Q", 80)
            .set("effort", 4)
            .set("strip", true),
    )
    .expect("webpsave")
}

fn avif(img: &VipsImage) -> Vec<u8> {
    img.heifsave_buffer_with_opts(
        VOption::new()
            .set("compression", "av1")
            .set("Q", 50)
            .set("effort", 2)
            .set("bitdepth", 8)
            .set("strip", true),
    )
    .expect("heifsave")
}

const CASES: &[Case] = &[
    Case {
        name: "w320 jpeg",
        sample: "dune.jpg",
        query: "width=320&format=jpeg",
        floor: |b| jpeg(&thumb(b, 320)),
    },
    Case {
        name: "w800 webp",
        sample: "dune.jpg",
        query: "width=800&format=webp",
        floor: |b| webp(&thumb(b, 800)),
    },
    Case {
        name: "w800 avif",
        sample: "dune.jpg",
        query: "width=800&format=avif",
        floor: |b| avif(&thumb(b, 800)),
    },
    Case {
        name: "300x300 attention jpeg",
        sample: "ladybird.jpg",
        query: "width=300&height=300&position=attention&format=jpeg",
        floor: |b| {
            let img = VipsImage::thumbnail_buffer_with_opts(
                b,
                300,
                VOption::new().set("height", 300).set("crop", "attention"),
            )
            .expect("thumbnail");
            jpeg(&img)
        },
    },
    Case {
        name: "png alpha -> webp w300",
        sample: "alpha.png",
        query: "width=300&format=webp",
        floor: |b| webp(&thumb(b, 300)),
    },
];

fn main() {
    transform::init_vips().expect("libvips");
    let iters: usize = std::env::var("BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    println!(
        "{:<26} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "case", "ours p50", "ours p95", "floor p50", "floor p95", "ratio"
    );
    for case in CASES {
        let bytes = std::fs::read(format!(
            "{}/src/samples/{}",
            env!("CARGO_MANIFEST_DIR"),
            case.sample
        ))
        .expect("sample");
        let request = query::parse(
            &format!("/{}", case.sample),
            Some(case.query),
            &Limits::default(),
        )
        .expect("query");
        let job = Job {
            bytes: Bytes::from(bytes.clone()),
            edits: request.edits,
            output: request.output,
            accepted: Accepted::default(),
            limits: Limits::default(),
            max_input_pixels: 50_000_000,
            max_frames: 256,
            effort: Effort::default(),
            max_output_bytes: None,
            overlays: Vec::new(),
        };
        let (mut ours, mut floor) = (Vec::new(), Vec::new());
        for i in 0..iters + 2 {
            let t = Instant::now();
            let out = pipeline::run(&job).expect("pipeline");
            let a = t.elapsed();
            let t = Instant::now();
            let reference = (case.floor)(&bytes);
            let b = t.elapsed();
            assert!(!out.bytes.is_empty() && !reference.is_empty());
            if i >= 2 {
                ours.push(a);
                floor.push(b);
            }
        }
        let (o50, o95) = percentiles(&mut ours);
        let (f50, f95) = percentiles(&mut floor);
        println!(
            "{:<26} {:>8.1}ms {:>8.1}ms {:>8.1}ms {:>8.1}ms {:>8.2}",
            case.name,
            ms(o50),
            ms(o95),
            ms(f50),
            ms(f95),
            o50.as_secs_f64() / f50.as_secs_f64()
        );
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
