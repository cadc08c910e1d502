//! Writes `RESULTS.md` (markdown tables) and `chart.png` (plotters) from the
//! raw JSON lines that `benches/run.sh` collects.
//!
//! `bench-report <raw dir> <results dir>`
//!
//! Every figure is derived here from the raw samples: medians and p95 per
//! case and engine, the ratios against the peers measured in the same run,
//! the targets of issue 9 and whether they are met, and the Lambda cost
//! estimate from the measured durations.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use plotters::prelude::*;
use plotters::style::FontStyle;
use serde_json::Value;

/// Lambda x86_64 on-demand price, us-east-1 (aws.amazon.com/lambda/pricing, read 2026-12-01).
const PRICE_GB_S: f64 = 0.000_016_666_7;
/// Lambda request price per million, same source.
const PRICE_PER_M_REQUESTS: f64 = 0.20;
/// Lambda gives one full vCPU at this memory size (AWS Lambda developer guide).
const MB_PER_VCPU: f64 = 1769.0;
/// Memory sizes the duration curve is evaluated at.
const MEMORY_SIZES: &[f64] = &[512.0, 1024.0, 1536.0, 1769.0, 2048.0, 3008.0, 3538.0];

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .map(|s| {
            s.lines()
                .filter(|l| l.starts_with('{'))
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

fn quantile(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let pos = (v.len() - 1) as f64 * p;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
}

/// Timings of one case by one engine, over every round.
#[derive(Default)]
struct Samples {
    ms: Vec<f64>,
    bytes: u64,
    dims: (u64, u64),
}

impl Samples {
    fn p50(&self) -> f64 {
        quantile(&self.ms, 0.5)
    }
    fn p95(&self) -> f64 {
        quantile(&self.ms, 0.95)
    }
}

/// case name -> engine -> samples, keeping the cases' order.
struct InProc {
    order: Vec<String>,
    by: BTreeMap<(String, String), Samples>,
}

fn inproc(records: &[Value]) -> InProc {
    let mut order = Vec::new();
    let mut by: BTreeMap<(String, String), Samples> = BTreeMap::new();
    for r in records {
        let case = r["case"].as_str().unwrap_or_default().to_string();
        let engine = r["engine"].as_str().unwrap_or_default().to_string();
        if !order.contains(&case) {
            order.push(case.clone());
        }
        let s = by.entry((case, engine)).or_default();
        s.ms.extend(
            r["ms"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_f64),
        );
        s.bytes = r["bytes"].as_u64().unwrap_or(0);
        s.dims = (
            r["width"].as_u64().unwrap_or(0),
            r["height"].as_u64().unwrap_or(0),
        );
    }
    InProc { order, by }
}

impl InProc {
    fn get(&self, case: &str, engine: &str) -> Option<&Samples> {
        self.by.get(&(case.to_string(), engine.to_string()))
    }
    fn ratio(&self, case: &str, a: &str, b: &str) -> f64 {
        match (self.get(case, a), self.get(case, b)) {
            (Some(a), Some(b)) => a.p50() / b.p50(),
            _ => f64::NAN,
        }
    }
}

fn geomean(v: impl Iterator<Item = f64>) -> f64 {
    let v: Vec<f64> = v.filter(|x| x.is_finite() && *x > 0.0).collect();
    (v.iter().map(|x| x.ln()).sum::<f64>() / v.len() as f64).exp()
}

fn f1(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1}")
    } else {
        "—".into()
    }
}

fn f2(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.2}")
    } else {
        "—".into()
    }
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "**missed**" }
}

/// Lambda duration at `mb` from the one-vCPU and two-vCPU medians: CPU share
/// scales with memory below one vCPU; between one and two vCPUs the measured
/// two-thread speed-up is applied in proportion.
fn lambda_ms(t1: f64, t2: f64, mb: f64) -> f64 {
    let v = mb / MB_PER_VCPU;
    if v <= 1.0 {
        t1 / v
    } else {
        let speedup = (t1 / t2).max(1.0);
        t1 / (1.0 + (v.min(2.0) - 1.0) * (speedup - 1.0))
    }
}

fn lambda_cost_per_m(ms: f64, mb: f64) -> f64 {
    // Billed per started millisecond.
    ms.ceil() / 1000.0 * mb / 1024.0 * PRICE_GB_S * 1e6 + PRICE_PER_M_REQUESTS
}

fn main() -> Res<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let (raw, out) = match args.as_slice() {
        // One section alone, for a step run by itself (`run.sh` with
        // BENCH_SKIP of the others): printed, to be placed in RESULTS.md.
        [mode, file] if mode.as_os_str() == "bytes" => {
            let mut md = String::new();
            bytes_section(&mut md, &lines(file))?;
            print!("{md}");
            return Ok(());
        }
        [raw, out] => (raw.clone(), out.clone()),
        _ => {
            return Err("usage: bench-report <raw dir> <results dir> | bytes <bytes.jsonl>".into());
        }
    };
    std::fs::create_dir_all(&out)?;
    let env: Value = serde_json::from_str(&std::fs::read_to_string(raw.join("env.json"))?)?;
    let ip = inproc(&lines(&raw.join("inproc.jsonl")));
    let one = inproc(&lines(&raw.join("inproc-1cpu.jsonl")));
    let rss = lines(&raw.join("rss.jsonl"));
    let http = lines(&raw.join("http.jsonl"));
    let cold = lines(&raw.join("cold.jsonl"));
    let lambda_cold = lines(&raw.join("lambda_cold.jsonl"));
    let quality = lines(&raw.join("quality.jsonl"));
    let bytes_rows = lines(&raw.join("bytes.jsonl"));

    let threads = lines(&raw.join("inproc.jsonl"))
        .first()
        .map(|r| r["threads"].to_string())
        .unwrap_or_default();
    let mut md = String::new();
    let e = |k: &str| {
        env[k]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| env[k].to_string())
    };
    writeln!(md, "# Benchmark results\n")?;
    writeln!(
        md,
        "Written by `benches/run.sh` ({} to {}). Every ratio compares engines measured in the same run on the same files; absolute times depend on the machine and its load.\n",
        e("started"),
        e("finished")
    )?;
    writeln!(
        md,
        "- Machine: {} CPUs ({}), {} MB RAM, Linux {}.\n- Load average (1, 5, 15 min) at start: **{}**; at end: **{}**. A load above the CPU count means other work competed for the CPUs during the run; ours and the peers were interleaved so it hit both alike.\n- Versions: image-handler {}, rustc {}; sharp {} on libvips {} (the same libvips build we link); ipx {} (on the same sharp); thumbor {} (Pillow engine); Node {}; wrk {}.\n- In process: {} rounds × {} iterations per case and engine after a warm-up, ours/floor and sharp alternating; libvips threads per image: {} for every engine.\n",
        e("cpus"),
        e("cpu_model"),
        e("mem_mb"),
        e("kernel"),
        e("load_start"),
        e("load_end"),
        e("ours"),
        e("rustc"),
        e("sharp"),
        e("libvips"),
        e("ipx"),
        e("thumbor"),
        e("node"),
        e("wrk"),
        e("rounds"),
        e("iters"),
        threads
    )?;

    // --- per operation ---
    writeln!(md, "## Per operation, in process\n")?;
    writeln!(
        md,
        "Ours is `transform::pipeline::run` (the whole pipeline after URL parsing: sniffing, limits, plan, libvips, encode). The floor is the same libvips doing the same work with nothing of ours around it (`thumbnail_buffer`, the edit, the same saver settings). sharp runs under Node with equivalent settings (JPEG q80 mozjpeg with optimised coding; WebP q80 effort 4; AVIF q50 effort 2, 8-bit, 4:2:0; metadata stripped; cache off).\n"
    )?;
    writeln!(
        md,
        "| case | output | ours p50 | ours p95 | sharp p50 | sharp p95 | floor p50 | floor p95 | **ours/sharp** | **ours/floor** | bytes ours / sharp |"
    )?;
    writeln!(md, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")?;
    for case in &ip.order {
        let (Some(o), Some(s), Some(f)) = (
            ip.get(case, "ours"),
            ip.get(case, "sharp"),
            ip.get(case, "floor"),
        ) else {
            continue;
        };
        writeln!(
            md,
            "| {case} | {}×{} | {} ms | {} ms | {} ms | {} ms | {} ms | {} ms | **{}** | **{}** | {} / {} |",
            o.dims.0,
            o.dims.1,
            f1(o.p50()),
            f1(o.p95()),
            f1(s.p50()),
            f1(s.p95()),
            f1(f.p50()),
            f1(f.p95()),
            f2(o.p50() / s.p50()),
            f2(o.p50() / f.p50()),
            o.bytes,
            s.bytes
        )?;
    }
    let gm_sharp = geomean(ip.order.iter().map(|c| ip.ratio(c, "ours", "sharp")));
    let gm_floor = geomean(ip.order.iter().map(|c| ip.ratio(c, "ours", "floor")));
    let worst = |b: &str| {
        ip.order
            .iter()
            .map(|c| (ip.ratio(c, "ours", b), c.clone()))
            .filter(|(r, _)| r.is_finite())
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .unwrap_or((f64::NAN, String::new()))
    };
    let (worst_sharp, worst_sharp_case) = worst("sharp");
    let (worst_floor, worst_floor_case) = worst("floor");
    writeln!(
        md,
        "\nGeometric mean over the cases: ours/sharp **{}**, ours/floor **{}**. Worst case: ours/sharp {} ({}), ours/floor {} ({}).\n",
        f2(gm_sharp),
        f2(gm_floor),
        f2(worst_sharp),
        worst_sharp_case,
        f2(worst_floor),
        worst_floor_case
    )?;

    // --- HTTP ---
    // One server at one concurrency: the median of each figure over the passes.
    let rps = |server: &str, c: u64| -> Option<Value> {
        let passes: Vec<&Value> = http
            .iter()
            .filter(|r| {
                r["server"] == server
                    && r["variant"] == "default"
                    && r["round"].is_null()
                    && r["concurrency"].as_u64() == Some(c)
            })
            .collect();
        if passes.is_empty() {
            return None;
        }
        let median = |k: &str| {
            let v: Vec<f64> = passes.iter().filter_map(|r| r[k].as_f64()).collect();
            quantile(&v, 0.5)
        };
        let sum = |k: &str| passes.iter().filter_map(|r| r[k].as_f64()).sum::<f64>();
        Some(serde_json::json!({
            "rps": median("rps"), "p50_ms": median("p50_ms"), "p99_ms": median("p99_ms"),
            "rss_mb": median("rss_mb"), "errors": sum("errors"), "non2xx": sum("non2xx"),
        }))
    };
    let mut concurrencies: Vec<u64> = http
        .iter()
        .filter(|r| r["variant"] == "default" && r["round"].is_null())
        .filter_map(|r| r["concurrency"].as_u64())
        .collect();
    concurrencies.sort();
    concurrencies.dedup();
    let mut min_vs_ipx = f64::INFINITY;
    let mut min_vs_thumbor = f64::INFINITY;
    if !concurrencies.is_empty() {
        writeln!(md, "## Throughput over HTTP on loopback\n")?;
        writeln!(
            md,
            "Each server serves the corpus directory; wrk cycles through the same request mix (the JPEG and WebP cases above, without AVIF and the animated GIF, which thumbor's Pillow engine lacks) in each server's URL syntax, {} s per run, a new connection per request (thumbor's processes share one socket; kept-alive connections would stay with one of them); medians over {} passes, the servers' order alternating. Requests per second count answered images only (2xx). Ours: `image-handler serve` with its defaults except `TRANSFORM_QUEUE_SIZE` (twice the largest concurrency): the peers queue every request, ours by default refuses past 8 waiting per transform slot with 503 and `Retry-After`, which at concurrency 32 would measure refusals; ipx: `ipx serve`; thumbor: one process per CPU, file loader, no storage. Peak RSS is the server's (thumbor: summed over its processes) at the end of that run.\n",
            e("http_secs"),
            e("http_passes")
        )?;
        writeln!(
            md,
            "| concurrency | ours req/s | ipx req/s | thumbor req/s | **ours/ipx** | **ours/thumbor** | p50 ours / ipx / thumbor | p99 ours / ipx / thumbor | peak RSS ours / ipx / thumbor | errors + non-2xx |"
        )?;
        writeln!(md, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")?;
        for &c in &concurrencies {
            let get = |s: &str, k: &str| rps(s, c).and_then(|r| r[k].as_f64()).unwrap_or(f64::NAN);
            let errs: f64 = ["ours", "ipx", "thumbor"]
                .iter()
                .map(|s| get(s, "errors") + get(s, "non2xx"))
                .sum();
            let (vi, vt) = (
                get("ours", "rps") / get("ipx", "rps"),
                get("ours", "rps") / get("thumbor", "rps"),
            );
            min_vs_ipx = min_vs_ipx.min(vi);
            min_vs_thumbor = min_vs_thumbor.min(vt);
            writeln!(
                md,
                "| {c} | {} | {} | {} | **{}** | **{}** | {} / {} / {} ms | {} / {} / {} ms | {} / {} / {} MB | {} |",
                f1(get("ours", "rps")),
                f1(get("ipx", "rps")),
                f1(get("thumbor", "rps")),
                f2(vi),
                f2(vt),
                f1(get("ours", "p50_ms")),
                f1(get("ipx", "p50_ms")),
                f1(get("thumbor", "p50_ms")),
                f1(get("ours", "p99_ms")),
                f1(get("ipx", "p99_ms")),
                f1(get("thumbor", "p99_ms")),
                f1(get("ours", "rss_mb")),
                f1(get("ipx", "rss_mb")),
                f1(get("thumbor", "rss_mb")),
                errs
            )?;
        }
        writeln!(md)?;
        let fast = |c: u64, k: &str| {
            rps("ours-fast", c)
                .and_then(|r| r[k].as_f64())
                .unwrap_or(f64::NAN)
        };
        if concurrencies.iter().any(|&c| fast(c, "rps").is_finite()) {
            writeln!(
                md,
                "Ours with `FAST_SHRINK_ON_LOAD=Yes` (a fourth server, measured in turn with the others): the JPEG shrink-on-load trade that sharp (so ipx) makes by default and thumbor's Pillow (draft mode) makes too.\n"
            )?;
            writeln!(
                md,
                "| concurrency | ours fast req/s | **vs ipx** | **vs thumbor** | p99 | peak RSS |"
            )?;
            writeln!(md, "|--:|--:|--:|--:|--:|--:|")?;
            for &c in &concurrencies {
                let get = |s: &str| {
                    rps(s, c)
                        .and_then(|r| r["rps"].as_f64())
                        .unwrap_or(f64::NAN)
                };
                writeln!(
                    md,
                    "| {c} | {} | **{}** | **{}** | {} ms | {} MB |",
                    f1(fast(c, "rps")),
                    f2(fast(c, "rps") / get("ipx")),
                    f2(fast(c, "rps") / get("thumbor")),
                    f1(fast(c, "p99_ms")),
                    f1(fast(c, "rss_mb"))
                )?;
            }
            writeln!(md)?;
        }
    }

    // --- variants ---
    let variants: Vec<&Value> = http.iter().filter(|r| r["round"].is_u64()).collect();
    if !variants.is_empty() {
        let mut names: Vec<String> = Vec::new();
        for v in &variants {
            let n = v["variant"].as_str().unwrap_or_default().to_string();
            if !names.contains(&n) {
                names.push(n);
            }
        }
        writeln!(md, "## Our server: libvips threads and allocator\n")?;
        writeln!(
            md,
            "Our `serve` restarted per variant, same mix, concurrency {}, rounds in alternating order; medians over rounds. The server runs one transform per CPU at a time (`TRANSFORM_CONCURRENCY`); `VIPS_CONCURRENCY` is libvips' threads per image (ours: CPUs ÷ transforms at once = 1; libvips' own default: the CPU count); `MALLOC_ARENA_MAX` is glibc's arena limit (ours: one per CPU, at least 2; glibc's own: 8 per CPU); jemalloc is Debian's libjemalloc2 preloaded.\n",
            variants[0]["concurrency"]
        )?;
        writeln!(md, "| variant | req/s | vs default | p99 | peak RSS |")?;
        writeln!(md, "|---|--:|--:|--:|--:|")?;
        let med = |n: &str, k: &str| {
            let v: Vec<f64> = variants
                .iter()
                .filter(|r| r["variant"] == n)
                .filter_map(|r| r[k].as_f64())
                .collect();
            quantile(&v, 0.5)
        };
        let base = med("default", "rps");
        for n in &names {
            writeln!(
                md,
                "| {n} | {} | {} | {} ms | {} MB |",
                f1(med(n, "rps")),
                f2(med(n, "rps") / base),
                f1(med(n, "p99_ms")),
                f1(med(n, "rss_mb"))
            )?;
        }
        writeln!(md)?;
    }

    // --- RSS ---
    let mut big_rss = f64::NAN;
    if !rss.is_empty() {
        writeln!(md, "## Peak RSS per case\n")?;
        writeln!(
            md,
            "One fresh process per case and engine, one run of the case; `VmHWM` for ours, `maxRSS` for Node. The idle baseline (process started, libvips loaded, input not yet read) is shown apart; Node's own runtime is most of sharp's.\n"
        )?;
        writeln!(md, "| case | ours peak (idle) | sharp peak (idle) |")?;
        writeln!(md, "|---|--:|--:|")?;
        for case in &ip.order {
            let find = |engine: &str| {
                rss.iter()
                    .find(|r| r["engine"] == engine && r["case"] == case.as_str())
                    .map(|r| {
                        (
                            r["rss_mb"].as_f64().unwrap_or(f64::NAN),
                            r["baseline_mb"].as_f64().unwrap_or(f64::NAN),
                        )
                    })
                    .unwrap_or((f64::NAN, f64::NAN))
            };
            let (o, ob) = find("ours");
            let (s, sb) = find("sharp");
            if case.starts_with("50MP") {
                big_rss = o;
            }
            writeln!(
                md,
                "| {case} | {} MB ({}) | {} MB ({}) |",
                f1(o),
                f1(ob),
                f1(s),
                f1(sb)
            )?;
        }
        writeln!(md)?;
    }

    // --- sharp's default shrink-on-load ---
    let fast_rows: Vec<_> = ip
        .order
        .iter()
        .filter_map(|c| Some((c, ip.get(c, "ours-fast")?, ip.get(c, "sharp-fast")?)))
        .collect();
    if !fast_rows.is_empty() {
        writeln!(md, "## Shrink-on-load: sharp's default\n")?;
        writeln!(
            md,
            "sharp's default (`fastShrinkOnLoad`, so SIH's and ipx's) shrinks a JPEG in the decoder as far as the output size allows; libvips' thumbnail, ours by default and the sharp column above, keeps at least 2× for its resampling. Ours with `FAST_SHRINK_ON_LOAD=Yes` makes the same trade; both measured in one pass after the rounds above. The quality cost is in benches/README.md.\n"
        )?;
        writeln!(
            md,
            "| case | ours fast p50 | sharp default p50 | **ours fast / sharp default** | bytes ours fast / sharp default |"
        )?;
        writeln!(md, "|---|--:|--:|--:|--:|")?;
        for (case, o, s) in &fast_rows {
            writeln!(
                md,
                "| {case} | {} ms | {} ms | **{}** | {} / {} |",
                f1(o.p50()),
                f1(s.p50()),
                f2(o.p50() / s.p50()),
                o.bytes,
                s.bytes
            )?;
        }
        let gm = geomean(fast_rows.iter().map(|(_, o, s)| o.p50() / s.p50()));
        writeln!(
            md,
            "\nGeometric mean ours fast / sharp default: **{}**.\n",
            f2(gm)
        )?;
    }

    // --- cold start ---
    let cold_of = |s: &str, field: &str| {
        let v: Vec<f64> = cold
            .iter()
            .filter(|r| r["server"] == s)
            .filter_map(|r| r[field].as_f64())
            .collect();
        (quantile(&v, 0.5), v.len())
    };
    let ours_cold = cold_of("ours", "ms").0;
    let ours_health = cold_of("ours", "health_ms").0;
    let ours_startup = ours_cold - cold_of("ours", "warm_ms").0;
    if !cold.is_empty() {
        writeln!(
            md,
            "## Cold start
"
        )?;
        writeln!(
            md,
            "From exec of the server process to its first 200 response, polling every millisecond: to a real transform (`photo.jpg` to 320 px JPEG), and for ours also to `/health` (libvips started and running an operation). *Warm* is the same transform once the server has answered it; first image minus warm is the start-up cost.\n"
        )?;
        writeln!(
            md,
            "| server | exec → `/health` | exec → first image | warm | start-up | runs |"
        )?;
        writeln!(md, "|---|--:|--:|--:|--:|--:|")?;
        for s in ["ours", "ipx", "thumbor"] {
            let (m, n) = cold_of(s, "ms");
            let (w, _) = cold_of(s, "warm_ms");
            let (h, _) = cold_of(s, "health_ms");
            let health = if h.is_finite() {
                format!("{} ms", f1(h))
            } else {
                "—".into()
            };
            writeln!(
                md,
                "| {s} | {health} | {} ms | {} ms | {} ms | {n} |",
                f1(m),
                f1(w),
                f1(m - w)
            )?;
        }
        writeln!(md)?;
    }

    if !lambda_cold.is_empty() {
        writeln!(md, "## Lambda cold start\n")?;
        writeln!(
            md,
            "Exec of the release binary in Lambda mode to its first answered invocation, through cargo-lambda's runtime API emulator (`benches/lambda_cold.py`): the runtime start, configuration, AWS clients, libvips start, the S3 fetch (moto on loopback) and the transform (`dune.jpg`, 1600x1000, to 320 px JPEG), as Lambda bills and the first viewer waits for it. The signed case also reads the signing secret from Secrets Manager (moto). *Warm* is the same invocation once answered; first minus warm is the start-up. A fresh emulator and process per run.\n"
        )?;
        writeln!(
            md,
            "| case | exec → first answer (median) | min–max | warm | start-up | runs |"
        )?;
        writeln!(md, "|---|--:|--:|--:|--:|--:|")?;
        for r in &lambda_cold {
            let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
            writeln!(
                md,
                "| {} | {} ms | {}–{} ms | {} ms | {} ms | {} |",
                r["case"].as_str().unwrap_or("?"),
                f1(f("first_ms_median")),
                f1(f("first_ms_min")),
                f1(f("first_ms_max")),
                f1(f("warm_ms_median")),
                f1(f("init_ms_median")),
                r["runs"]
            )?;
        }
        writeln!(md)?;
    }

    // --- Lambda ---
    if !one.order.is_empty() {
        writeln!(md, "## Lambda duration curve and cost\n")?;
        writeln!(
            md,
            "Lambda gives CPU in proportion to memory, one full vCPU at 1769 MB and a second from there to 3538 MB. One vCPU was emulated by pinning our bench to one core with one libvips thread (`taskset -c 0`, `VIPS_CONCURRENCY=1`); two vCPUs is the normal run. Below 1769 MB the duration is the one-vCPU duration scaled by 1769/MB (the CPU share); between 1769 and 3538 MB the measured two-thread speed-up is applied in proportion. Price: x86_64 on-demand, us-east-1, ${PRICE_GB_S} per GB-s and ${PRICE_PER_M_REQUESTS} per million requests (aws.amazon.com/lambda/pricing, read 2026-12-01), billed per started ms. The mix is every case above, equally weighted; S3 fetch and API Gateway are not included.\n"
        )?;
        let mix = |mb: f64| {
            let v: Vec<(f64, f64)> = one
                .order
                .iter()
                .filter_map(|c| {
                    let t1 = one.get(c, "ours")?.p50();
                    let t2 = ip.get(c, "ours")?.p50();
                    let ms = lambda_ms(t1, t2, mb);
                    Some((ms, lambda_cost_per_m(ms, mb)))
                })
                .collect();
            let n = v.len() as f64;
            (
                v.iter().map(|x| x.0).sum::<f64>() / n,
                v.iter().map(|x| x.1).sum::<f64>() / n,
            )
        };
        writeln!(md, "| memory | mean duration | cost per million requests |")?;
        writeln!(md, "|--:|--:|--:|")?;
        let curve: Vec<(f64, f64, f64)> = MEMORY_SIZES
            .iter()
            .map(|&mb| {
                let (ms, cost) = mix(mb);
                (mb, ms, cost)
            })
            .collect();
        let cheapest = curve.iter().map(|c| c.2).fold(f64::INFINITY, f64::min);
        // The fastest size whose cost stays within 5% of the cheapest.
        let recommended = curve
            .iter()
            .filter(|c| c.2 <= cheapest * 1.05)
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .copied();
        for (mb, ms, cost) in &curve {
            let mark = if recommended.map(|r| r.0) == Some(*mb) {
                " ← default"
            } else {
                ""
            };
            writeln!(md, "| {mb} MB{mark} | {} ms | ${:.2} |", f1(*ms), cost)?;
        }
        if let Some((mb, ms, cost)) = recommended {
            writeln!(
                md,
                "\nRule: the fastest memory size whose cost per request is within 5% of the cheapest. It gives **{mb} MB**: {} ms mean, ${cost:.2} per million requests. Per case at {mb} MB:\n",
                f1(ms)
            )?;
            writeln!(
                md,
                "| case | one vCPU p50 | two vCPUs p50 | at {mb} MB | $ per million |"
            )?;
            writeln!(md, "|---|--:|--:|--:|--:|")?;
            for c in &one.order {
                if let (Some(a), Some(b)) = (one.get(c, "ours"), ip.get(c, "ours")) {
                    let ms = lambda_ms(a.p50(), b.p50(), mb);
                    writeln!(
                        md,
                        "| {c} | {} ms | {} ms | {} ms | ${:.2} |",
                        f1(a.p50()),
                        f1(b.p50()),
                        f1(ms),
                        lambda_cost_per_m(ms, mb)
                    )?;
                }
            }
            writeln!(md)?;
        }
    }

    // --- encoder trade-offs ---
    if !quality.is_empty() {
        writeln!(md, "## Encoder settings: size, quality, time\n")?;
        writeln!(
            md,
            "`photo.jpg` resized once (unencoded reference), then encoded with each setting on this machine; PSNR over RGB and SSIM (Gaussian window, σ 1.5) of the luma, both against that reference. Encode time is the median of 3.\n"
        )?;
        writeln!(
            md,
            "| width | format | effort | bytes | PSNR | SSIM | encode |"
        )?;
        writeln!(md, "|--:|---|--:|--:|--:|--:|--:|")?;
        for q in &quality {
            writeln!(
                md,
                "| {} | {} | {} | {} | {:.2} dB | {:.4} | {} ms |",
                q["width"],
                q["format"].as_str().unwrap_or_default(),
                q["effort"]
                    .as_u64()
                    .map(|e| e.to_string())
                    .unwrap_or("—".into()),
                q["bytes"],
                q["psnr_db"].as_f64().unwrap_or(f64::NAN),
                q["ssim"].as_f64().unwrap_or(f64::NAN),
                f1(q["encode_ms"].as_f64().unwrap_or(f64::NAN))
            )?;
        }
        writeln!(md)?;
    }

    // --- bytes at equal quality ---
    if !bytes_rows.is_empty() {
        bytes_section(&mut md, &bytes_rows)?;
    }

    // --- targets ---
    writeln!(md, "## Targets (issue 9)\n")?;
    writeln!(md, "| target | measured | |")?;
    writeln!(md, "|---|---|---|")?;
    writeln!(
        md,
        "| median ≤ 1.0× sharp on every case | worst {} ({}), geomean {} | {} |",
        f2(worst_sharp),
        worst_sharp_case,
        f2(gm_sharp),
        met(worst_sharp <= 1.0)
    )?;
    writeln!(
        md,
        "| median ≤ 1.10× the libvips floor | worst {} ({}), geomean {} | {} |",
        f2(worst_floor),
        worst_floor_case,
        f2(gm_floor),
        met(worst_floor <= 1.10)
    )?;
    if min_vs_thumbor.is_finite() {
        writeln!(
            md,
            "| throughput ≥ 2× thumbor | lowest over concurrencies {} | {} |",
            f2(min_vs_thumbor),
            met(min_vs_thumbor >= 2.0)
        )?;
        writeln!(
            md,
            "| throughput ≥ 1.2× ipx | lowest over concurrencies {} | {} |",
            f2(min_vs_ipx),
            met(min_vs_ipx >= 1.2)
        )?;
    }
    if big_rss.is_finite() {
        writeln!(
            md,
            "| peak RSS ≤ 128 MB, 50 MP JPEG to 800 px | {} MB | {} |",
            f1(big_rss),
            met(big_rss <= 128.0)
        )?;
    }
    if ours_cold.is_finite() {
        writeln!(
            md,
            "| cold start ≤ 50 ms | exec → first 200 (`/health`, libvips started and run) {} ms; exec → first transformed image {} ms, the transform itself {} ms warm | {} |",
            f1(ours_health),
            f1(ours_cold),
            f1(ours_cold - ours_startup),
            met(ours_health <= 50.0)
        )?;
    }
    writeln!(
        md,
        "\nTimes within a few percent of each other are within this machine's noise at this load; see the p95 columns. Discussion of each missed target: benches/README.md.\n\n![chart](chart.png)"
    )?;
    std::fs::write(out.join("RESULTS.md"), md)?;

    chart(&out.join("chart.png"), &ip, &http, &concurrencies)?;
    Ok(())
}

/// Draws a bar in backend pixels between two mapped corners.
fn bar<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    a: (i32, i32),
    b: (i32, i32),
    color: RGBColor,
) -> Res<()>
where
    DB::ErrorType: 'static,
{
    let (x0, x1) = (a.0.min(b.0), a.0.max(b.0));
    let (y0, y1) = (a.1.min(b.1), a.1.max(b.1));
    root.draw(&Rectangle::new([(x0, y0), (x1, y1)], color.filled()))
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn chart(path: &Path, ip: &InProc, http: &[Value], concurrencies: &[u64]) -> Res<()> {
    let font: &'static [u8] = Box::leak(
        std::fs::read("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
            .map_err(|e| format!("DejaVuSans.ttf (apt-get install fonts-dejavu-core): {e}"))?
            .into_boxed_slice(),
    );
    plotters::style::register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| "cannot load DejaVuSans.ttf")?;
    let root = BitMapBackend::new(path, (1400, 700)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(860);
    let orange = RGBColor(220, 90, 40);
    let blue = RGBColor(40, 110, 200);
    let grey = RGBColor(130, 130, 130);

    // Left: ours/sharp and ours/floor per case, two bars per case.
    let cases: Vec<&String> = ip
        .order
        .iter()
        .filter(|c| ip.get(c, "sharp").is_some())
        .collect();
    let n = cases.len().max(1);
    let max = cases
        .iter()
        .flat_map(|c| [ip.ratio(c, "ours", "sharp"), ip.ratio(c, "ours", "floor")])
        .filter(|x| x.is_finite())
        .fold(1.2_f64, f64::max)
        * 1.05;
    let mut ch = ChartBuilder::on(&left)
        .caption(
            "Median time, ours ÷ peer (lower is better)",
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(190)
        .build_cartesian_2d(0.0..max, (0..n - 1).into_segmented())?;
    ch.configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => cases.get(*i).map(|s| s.to_string()).unwrap_or_default(),
            _ => String::new(),
        })
        .x_max_light_lines(2)
        .x_desc("ratio (1.0 = as fast as the peer; red line: 1.10)")
        .label_style(("sans-serif", 14))
        .draw()?;
    for (x, style) in [
        (1.0, BLACK.stroke_width(2)),
        (1.1, RED.mix(0.7).stroke_width(2)),
    ] {
        ch.draw_series(std::iter::once(PathElement::new(
            vec![(x, SegmentValue::Exact(0)), (x, SegmentValue::Last)],
            style,
        )))?;
    }
    for (peer, color, label) in [
        ("sharp", orange, "ours / sharp"),
        ("floor", blue, "ours / libvips floor"),
    ] {
        ch.draw_series(std::iter::empty::<Rectangle<(f64, SegmentValue<usize>)>>())?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
        let lane = if peer == "sharp" { 0 } else { 1 };
        for (i, c) in cases.iter().enumerate() {
            let r = ip.ratio(c, "ours", peer);
            if !r.is_finite() {
                continue;
            }
            let area = ch.plotting_area();
            let (x0, ya) = area.map_coordinate(&(0.0, SegmentValue::Exact(i)));
            let (_, yb) = area.map_coordinate(&(0.0, SegmentValue::Exact(i + 1)));
            let (xr, _) = area.map_coordinate(&(r, SegmentValue::Exact(i)));
            let (top, h) = (ya.min(yb), (ya - yb).abs());
            let y = top + h / 8 + lane * (h * 3 / 8);
            bar(&root, (x0, y), (xr, y + h * 3 / 8 - 1), color)?;
        }
    }
    ch.configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.3))
        .position(SeriesLabelPosition::LowerRight)
        .label_font(("sans-serif", 14))
        .draw()?;

    // Right: requests per second by concurrency, three bars per concurrency.
    if !concurrencies.is_empty() {
        let get = |s: &str, c: u64| {
            http.iter()
                .find(|r| {
                    r["server"] == s
                        && r["variant"] == "default"
                        && r["round"].is_null()
                        && r["concurrency"].as_u64() == Some(c)
                })
                .and_then(|r| r["rps"].as_f64())
        };
        let top = concurrencies
            .iter()
            .flat_map(|&c| ["ours", "ipx", "thumbor"].map(|s| get(s, c).unwrap_or(0.0)))
            .fold(1.0_f64, f64::max)
            * 1.2;
        let k = concurrencies.len();
        let mut ch = ChartBuilder::on(&right)
            .caption("HTTP throughput (higher is better)", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d((0..k - 1).into_segmented(), 0.0..top)?;
        ch.configure_mesh()
            .disable_x_mesh()
            .x_labels(k)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => concurrencies
                    .get(*i)
                    .map(|c| format!("concurrency {c}"))
                    .unwrap_or_default(),
                _ => String::new(),
            })
            .y_max_light_lines(2)
            .y_desc("requests per second")
            .label_style(("sans-serif", 14))
            .draw()?;
        for (lane, (s, color)) in [("ours", blue), ("ipx", orange), ("thumbor", grey)]
            .into_iter()
            .enumerate()
        {
            ch.draw_series(std::iter::empty::<Rectangle<(SegmentValue<usize>, f64)>>())?
                .label(s)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled())
                });
            for (i, &c) in concurrencies.iter().enumerate() {
                let Some(v) = get(s, c) else { continue };
                let area = ch.plotting_area();
                let (xa, y0) = area.map_coordinate(&(SegmentValue::Exact(i), 0.0));
                let (xb, _) = area.map_coordinate(&(SegmentValue::Exact(i + 1), 0.0));
                let (_, yv) = area.map_coordinate(&(SegmentValue::Exact(i), v));
                let w = (xb - xa) / 4;
                let x = xa + w / 2 + lane as i32 * w;
                bar(&root, (x, y0), (x + w - 2, yv), color)?;
            }
        }
        ch.configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.3))
            .position(SeriesLabelPosition::UpperLeft)
            .label_font(("sans-serif", 14))
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// "Bytes at equal quality" (issue 18): the `bytes` mode's rows and its
/// targets.
fn bytes_section(md: &mut String, rows: &[Value]) -> std::fmt::Result {
    use std::fmt::Write;
    let rows: Vec<&Value> = rows.iter().filter(|r| r["kind"] == "bytes").collect();
    writeln!(md, "## Bytes at equal quality\n")?;
    writeln!(
        md,
        "The corpus's six still images (four 2560×1600 JPEG photos, a 3840×2160 PNG, a PNG with transparency) at widths 320, 800 and 1600: 18 variants a row. Every output is decoded and scored with SSIMULACRA2 against the same request encoded losslessly (sharp's own lossless resize for SIH's rows). Time is the median whole transform per variant (decode, resize, encode, and for `auto` the search), one at a time; ×fixed is the median of each variant's time over the fixed row's; encodes scored is the search's mean number of encodes a variant.\n"
    )?;
    writeln!(
        md,
        "| row | total bytes | mean score | min score | time per variant | ×fixed | encodes scored |"
    )?;
    writeln!(md, "|---|--:|--:|--:|--:|--:|--:|")?;
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    for r in &rows {
        let ms = f(&r["median_ms"]);
        writeln!(
            md,
            "| {} | {} | {:.1} | {:.1} | {} | {} | {} |",
            r["row"].as_str().unwrap_or_default(),
            r["total_bytes"],
            f(&r["mean_score"]),
            f(&r["min_score"]),
            if ms > 0.0 {
                format!("{ms:.0} ms")
            } else {
                "—".into()
            },
            r["time_ratio_median"]
                .as_f64()
                .map(|x| format!("{x:.2}"))
                .unwrap_or("—".into()),
            r["mean_probes"]
                .as_f64()
                .filter(|p| *p > 0.0)
                .map(|p| format!("{p:.1}"))
                .unwrap_or("—".into())
        )?;
    }
    writeln!(md)?;
    writeln!(md, "| target | measured | |")?;
    writeln!(md, "|---|---|---|")?;
    for r in &rows {
        let name = r["row"].as_str().unwrap_or_default();
        if name.ends_with("mean as fixed)") {
            let saved = f(&r["extra"]["bytes_saved"]);
            writeln!(
                md,
                "| {name}: ≥ 15% fewer bytes than fixed at the same mean | {:+.1}% bytes, mean {:.1} vs {:.1} | {} |",
                -saved * 100.0,
                f(&r["mean_score"]),
                f(&r["extra"]["fixed_mean"]),
                met(saved >= 0.15)
            )?;
            let below = f(&r["extra"]["worst_below_target"]);
            writeln!(
                md,
                "| {name}: no image > 3 points below the target | lowest at {:+.1} from the target | {} |",
                -below,
                met(below <= 3.0)
            )?;
        }
        if name.ends_with("min as fixed)") {
            writeln!(
                md,
                "| {name}: bytes at the same floor (no target; context) | {:+.1}% bytes | — |",
                -f(&r["extra"]["bytes_saved"]) * 100.0
            )?;
        }
        if let Some(saved) = r["extra"]["bytes_saved_vs_lossless"].as_f64() {
            writeln!(
                md,
                "| {name}: bytes against the lossless PNG (no target; context) | {:+.1}% bytes, min score {:.1} | — |",
                -saved * 100.0,
                f(&r["min_score"])
            )?;
        }
        if name.contains("auto (target") && !name.contains("as fixed") && !name.contains("best")
        {
            let ratio = f(&r["time_ratio_median"]);
            writeln!(
                md,
                "| {name}: ≤ 3× a fixed encode (median) | {ratio:.2}× | {} |",
                met(ratio <= 3.0)
            )?;
        }
        if let Some(x) = r["extra"]["ours_over_sih"].as_f64() {
            writeln!(
                md,
                "| a modern browser gets ≤ 0.6× {name} | {x:.2}× (ours: {}) | {} |",
                r["extra"]["ours_row"].as_str().unwrap_or_default(),
                met(x <= 0.6)
            )?;
        }
    }
    writeln!(md)
}
