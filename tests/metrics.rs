//! `serve`'s Prometheus metrics (`METRICS_LISTEN`): the real binary on
//! loopback ports, real requests, and `/metrics` scraped over HTTP and read
//! by a strict parser of the text exposition format.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// `image-handler serve` over `origin` (a directory), with `env` and
/// nothing else of the test's environment; killed on drop.
struct Serve {
    child: ChildGuard,
    /// `http://127.0.0.1:PORT` of the images.
    images: String,
    /// `http://127.0.0.1:PORT/metrics`, when the banner names one.
    metrics: Option<String>,
}

impl Serve {
    fn start(origin: &TempDir, env: &[(&str, &str)]) -> Serve {
        let mut command = Command::new(env!("CARGO_BIN_EXE_image-handler"));
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--playground", "no"])
            .arg("--origin")
            .arg(&origin.path)
            .env_clear()
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = ChildGuard(command.spawn().expect("spawn image-handler serve"));
        let stdout = child.0.stdout.take().expect("stdout");
        // The banner, read with a deadline.
        let rx = lines(stdout);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let (mut images, mut metrics, mut banner) = (None, None, Vec::new());
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = rx
                .recv_timeout(left)
                .unwrap_or_else(|e| panic!("no `try:` line ({e}); got {banner:?}"));
            if let Some(rest) = line.strip_prefix("image-handler serving ") {
                images = rest.rsplit(" on ").next().map(str::to_string);
            } else if let Some(url) = line.strip_prefix("metrics: ") {
                metrics = Some(url.trim().to_string());
            } else if line.starts_with("try: ") {
                break;
            }
            banner.push(line);
        }
        Serve {
            child,
            images: images.unwrap_or_else(|| panic!("no serving line in {banner:?}")),
            metrics,
        }
    }

    /// The TCP ports the process listens on, read from /proc.
    fn listening_ports(&self) -> BTreeSet<u16> {
        listening_ports(self.child.0.id())
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn port(url: &str) -> u16 {
    let authority = url.trim_start_matches("http://");
    let authority = authority.split('/').next().unwrap();
    authority.rsplit(':').next().unwrap().parse().unwrap()
}

/// The local ports of the listening TCP sockets that process `pid` holds:
/// its socket descriptors' inodes, looked up in its network namespace's
/// `/proc/<pid>/net/tcp{,6}` (state `0A` is LISTEN).
fn listening_ports(pid: u32) -> BTreeSet<u16> {
    let inodes: BTreeSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read the child's descriptors")
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            let inode = target.strip_prefix("socket:[")?.strip_suffix(']')?;
            Some(inode.to_string())
        })
        .collect();
    let mut ports = BTreeSet::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for row in text.lines().skip(1) {
            let fields: Vec<&str> = row.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) =
                (fields.get(1), fields.get(3), fields.get(9))
            else {
                continue;
            };
            if *state == "0A" && inodes.contains(*inode) {
                let hex = local.rsplit(':').next().unwrap();
                ports.insert(u16::from_str_radix(hex, 16).unwrap());
            }
        }
    }
    ports
}

// ------------------------------------------------ the text exposition format

/// One sample line: `name{label="value",...} value`.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A scrape, parsed.
#[derive(Debug, Default)]
struct Exposition {
    /// `# TYPE` of each family.
    types: BTreeMap<String, String>,
    /// `# HELP` of each family.
    help: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

/// Parses Prometheus' text format (version 0.0.4) strictly: every line is
/// empty, a `# HELP`/`# TYPE` comment or a sample; names and label names
/// are valid, label values properly quoted and escaped, values numbers; a
/// family's TYPE comes once and before its samples; no series repeats.
/// Written here rather than taken from a crate so that it rejects what the
/// format does not allow instead of reading past it.
fn parse(text: &str) -> Exposition {
    let mut out = Exposition::default();
    let mut seen = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let at = |what: &str| format!("line {}: {what}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let (kind, name, rest) = (parts.next(), parts.next(), parts.next());
            let name = name.unwrap_or_else(|| panic!("{}", at("comment without a name")));
            assert!(valid_name(name), "{}", at("bad metric name"));
            match kind {
                Some("TYPE") => {
                    let t = rest.unwrap_or_default();
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                        "{}",
                        at("unknown type")
                    );
                    assert!(
                        out.types.insert(name.into(), t.into()).is_none(),
                        "{}",
                        at("TYPE given twice")
                    );
                }
                Some("HELP") => {
                    out.help
                        .insert(name.into(), rest.unwrap_or_default().into());
                }
                _ => panic!("{}", at("a comment other than HELP or TYPE")),
            }
            continue;
        }
        assert!(!line.starts_with('#'), "{}", at("malformed comment"));
        let sample = parse_sample(line).unwrap_or_else(|e| panic!("{}", at(&e)));
        let family = family(&sample.name, &out.types);
        assert!(
            out.types.contains_key(family),
            "{}",
            at("sample before its family's TYPE")
        );
        let series = format!("{}{:?}", sample.name, sample.labels);
        assert!(seen.insert(series), "{}", at("series repeated"));
        out.samples.push(sample);
    }
    out
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(name: &str) -> bool {
    valid_name(name) && !name.contains(':')
}

/// `name`, `name{a="b",c="d"}`, then one space and a value (and optionally
/// a timestamp in milliseconds).
fn parse_sample(line: &str) -> Result<Sample, String> {
    let name_end = line.find(['{', ' ']).ok_or("no value after the name")?;
    let name = &line[..name_end];
    if !valid_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let mut chars = body.char_indices().peekable();
        let end = loop {
            let (start, c) = chars.next().ok_or("unclosed label set")?;
            if c == '}' {
                break start;
            }
            // a label name, `=`, a quoted value
            let mut key = String::from(c);
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            if !valid_label_name(&key) {
                return Err(format!("bad label name {key:?}"));
            }
            if chars.next().map(|(_, c)| c) != Some('"') {
                return Err(format!("label {key} has no quoted value"));
            }
            let mut value = String::new();
            loop {
                match chars.next().ok_or("unterminated label value")?.1 {
                    '"' => break,
                    '\\' => match chars.next().ok_or("dangling escape")?.1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        other => return Err(format!("bad escape \\{other}")),
                    },
                    '\n' => return Err("newline in a label value".into()),
                    c => value.push(c),
                }
            }
            if labels.insert(key.clone(), value).is_some() {
                return Err(format!("label {key} given twice"));
            }
            match chars.peek().map(|&(_, c)| c) {
                Some(',') => {
                    chars.next();
                }
                Some('}') => {}
                _ => return Err("expected `,` or `}` after a label".into()),
            }
        };
        rest = &body[end + 1..];
    }
    let rest = rest.strip_prefix(' ').ok_or("no space before the value")?;
    let mut fields = rest.split(' ');
    let value = match fields.next().unwrap_or_default() {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v
            .parse()
            .map_err(|_| format!("value {v:?} is not a number"))?,
    };
    if let Some(ts) = fields.next() {
        ts.parse::<i64>()
            .map_err(|_| format!("timestamp {ts:?} is not an integer"))?;
    }
    if fields.next().is_some() {
        return Err("text after the timestamp".into());
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

/// The family a sample belongs to (a histogram's `_bucket`, `_sum`, `_count`).
fn family<'a>(name: &'a str, types: &BTreeMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && types.get(base).map(String::as_str) == Some("histogram")
        {
            return base;
        }
    }
    name
}

impl Exposition {
    /// The samples of `name` (exactly).
    fn series(&self, name: &str) -> Vec<&Sample> {
        self.samples.iter().filter(|s| s.name == name).collect()
    }

    /// The value of the one series of `name` with exactly `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let want: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.series(name)
            .into_iter()
            .find(|s| s.labels == want)
            .unwrap_or_else(|| panic!("no {name}{want:?} in {:#?}", self.series(name)))
            .value
    }

    /// Checks histogram `name` (unlabelled, cumulative buckets ending in
    /// `+Inf` equal to `_count`) and returns its count and sum.
    fn histogram(&self, name: &str) -> (f64, f64) {
        assert_eq!(
            self.types.get(name).map(String::as_str),
            Some("histogram"),
            "{name}"
        );
        let buckets = self.series(&format!("{name}_bucket"));
        assert!(buckets.len() >= 2, "{name}: {buckets:?}");
        let mut last = (f64::NEG_INFINITY, 0.0);
        for b in &buckets {
            assert_eq!(b.labels.keys().collect::<Vec<_>>(), ["le"], "{name}: {b:?}");
            let le: f64 = match b.labels["le"].as_str() {
                "+Inf" => f64::INFINITY,
                v => v.parse().expect("le is a number"),
            };
            assert!(
                le > last.0 && b.value >= last.1,
                "{name}: not cumulative at {b:?}"
            );
            last = (le, b.value);
        }
        assert_eq!(last.0, f64::INFINITY, "{name}: the last bucket is +Inf");
        let count = self.value(&format!("{name}_count"), &[]);
        let sum = self.value(&format!("{name}_sum"), &[]);
        assert_eq!(last.1, count, "{name}: +Inf bucket = count");
        assert!(sum >= 0.0, "{name}: sum {sum}");
        (count, sum)
    }
}

// ------------------------------------------------------------------ tests

const REQUESTS: &str = "image_handler_requests_total";
const ORIGIN_ERRORS: &str = "image_handler_origin_errors_total";

/// A directory with one photo and a symlink loop, which the directory
/// origin cannot read (502 `OriginError`): a real origin failure.
fn origin(name: &str) -> (TempDir, u64) {
    init_vips();
    let dir = TempDir::new(name);
    let photo = jpeg(&quadrant(), 90);
    dir.write("quad.jpg", &photo);
    std::os::unix::fs::symlink("loop.jpg", dir.join("loop.jpg")).expect("symlink");
    (dir, photo.len() as u64)
}

async fn scrape(client: &reqwest::Client, url: &str) -> (String, String) {
    let res = client.get(url).send().await.expect("scrape /metrics");
    assert_eq!(res.status().as_u16(), 200, "{url}");
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (content_type, res.text().await.unwrap())
}

#[tokio::test]
async fn serve_exports_prometheus_metrics_on_its_own_address() {
    let (dir, photo_bytes) = origin("metrics-scrape");
    let serve = Serve::start(&dir, &[("METRICS_LISTEN", "127.0.0.1:0")]);
    let metrics = serve.metrics.clone().expect("a `metrics:` banner line");
    assert!(
        metrics.starts_with("http://127.0.0.1:") && metrics.ends_with("/metrics"),
        "{metrics}"
    );
    assert_ne!(port(&metrics), 0, "{metrics}: the real port");
    // two listeners: the images' and the metrics'
    assert_eq!(
        serve.listening_ports(),
        BTreeSet::from([port(&serve.images), port(&metrics)])
    );

    let client = client();
    let mut response_bytes = 0;
    for (path, status) in [
        ("/quad.jpg?width=40&format=png", 200),
        ("/quad.jpg?width=abc", 400),
        ("/missing.jpg?width=40", 404),
        ("/loop.jpg?width=40", 502),
    ] {
        let res = client
            .get(format!("{}{path}", serve.images))
            .send()
            .await
            .expect(path);
        assert_eq!(res.status().as_u16(), status, "{path}");
        response_bytes += res.bytes().await.unwrap().len();
    }

    let (content_type, text) = scrape(&client, &metrics).await;
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let scraped = parse(&text);

    // requests by status and code
    let requests = scraped.series(REQUESTS);
    assert_eq!(requests.len(), 4, "{requests:#?}");
    for (status, code) in [
        ("200", "OK"),
        ("400", "InvalidParameter"),
        ("404", "NoSuchKey"),
        ("502", "OriginError"),
    ] {
        assert_eq!(
            scraped.value(REQUESTS, &[("status", status), ("code", code)]),
            1.0
        );
    }
    // origin failures only: a missing key is the origin's answer
    assert_eq!(scraped.series(ORIGIN_ERRORS).len(), 1, "{text}");
    assert_eq!(
        scraped.value(ORIGIN_ERRORS, &[("code", "OriginError")]),
        1.0
    );

    // latency: every request; fetch: every fetch, failed ones too (the
    // 200, the 404 and the 502; the 400 fails before fetching); transform
    // and encode: the one transform
    let (count, sum) = scraped.histogram("image_handler_request_duration_seconds");
    assert_eq!(count, 4.0);
    assert!(sum > 0.0);
    for (phase, fetched) in [("fetch", 3.0), ("transform", 1.0), ("encode", 1.0)] {
        let (count, sum) = scraped.histogram(&format!("image_handler_{phase}_duration_seconds"));
        assert_eq!(count, fetched, "{phase}");
        assert!(sum > 0.0, "{phase}");
    }

    // bytes in (the one original read) and out (every body)
    assert_eq!(
        scraped.value("image_handler_origin_bytes_total", &[]),
        photo_bytes as f64
    );
    assert_eq!(
        scraped.value("image_handler_response_bytes_total", &[]),
        response_bytes as f64
    );

    // nothing running or waiting once every answer is in
    for gauge in [
        "image_handler_transforms_in_flight",
        "image_handler_queue_depth",
        "image_handler_reserved_bytes",
    ] {
        assert_eq!(scraped.types[gauge], "gauge", "{gauge}");
        assert_eq!(scraped.value(gauge, &[]), 0.0, "{gauge}");
    }
    for counter in [
        REQUESTS,
        ORIGIN_ERRORS,
        "image_handler_origin_bytes_total",
        "image_handler_response_bytes_total",
    ] {
        assert_eq!(scraped.types[counter], "counter", "{counter}");
    }
    // every family is ours, described, and named by the conventions
    for (name, kind) in &scraped.types {
        assert!(name.starts_with("image_handler_"), "{name}");
        assert!(!scraped.help[name].is_empty(), "{name} has no HELP");
        assert_eq!(
            kind == "counter",
            name.ends_with("_total"),
            "{name}: {kind}"
        );
    }

    // The metrics listener serves /metrics alone, and scraping counts no request.
    let base = metrics.trim_end_matches("/metrics");
    for path in [
        "/",
        "/quad.jpg",
        "/quad.jpg?width=40",
        "/metrics/x",
        "/health",
    ] {
        let res = client.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(res.status().as_u16(), 404, "{path}");
        let body = res.text().await.unwrap();
        assert!(!body.contains("image_handler_"), "{path}: {body}");
    }
    let (_, again) = scrape(&client, &metrics).await;
    let by_labels = |mut series: Vec<&Sample>| {
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        series.into_iter().cloned().collect::<Vec<_>>()
    };
    assert_eq!(
        by_labels(parse(&again).series(REQUESTS)),
        by_labels(requests)
    );

    // ... and the images' address has no metrics.
    let res = client
        .get(format!("{}/metrics", serve.images))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);
    assert!(
        !res.text()
            .await
            .unwrap()
            .contains("image_handler_requests_total")
    );
}

#[tokio::test]
async fn without_metrics_listen_only_the_images_listen() {
    let (dir, _) = origin("metrics-off");
    for env in [&[][..], &[("METRICS_LISTEN", "")][..]] {
        let serve = Serve::start(&dir, env);
        assert_eq!(serve.metrics, None, "{env:?}");
        assert_eq!(
            serve.listening_ports(),
            BTreeSet::from([port(&serve.images)]),
            "{env:?}"
        );
        // Requests are served as before (recording is a no-op).
        let res = client()
            .get(format!("{}/quad.jpg?width=40", serve.images))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 200);
    }
}

#[test]
fn a_bad_metrics_listen_stops_serve_naming_it() {
    let (dir, _) = origin("metrics-bad");
    let images = format!("127.0.0.1:{}", free_port());
    for (value, expected) in [
        ("nonsense", "METRICS_LISTEN=\"nonsense\""),
        ("127.0.0.1", "METRICS_LISTEN=\"127.0.0.1\""),
        (images.as_str(), "LISTEN_ADDR"),
    ] {
        let mut child = ChildGuard(
            Command::new(env!("CARGO_BIN_EXE_image-handler"))
                .args(["serve", "--listen", &images, "--playground", "no"])
                .arg("--origin")
                .arg(&dir.path)
                .env_clear()
                .env("METRICS_LISTEN", value)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run image-handler serve"),
        );
        // It must stop by itself; a server that kept running fails here
        // (the guard kills it) instead of hanging the test.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(status) = child.0.try_wait().unwrap() {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{value}: serve started instead of stopping"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(!status.success(), "{value}: {stderr}");
        assert!(stderr.contains(expected), "{value}: {stderr}");
        assert!(stderr.contains(value), "{value}: {stderr}");
    }
}

#[test]
fn the_parser_refuses_what_the_format_does_not_allow() {
    let typed = "# TYPE a counter\n";
    let ok = parse(&format!(
        "{typed}a{{x=\"1\",y=\"q\\\"\\\\\\n\"}} 2\n\n# HELP a Some help.\na 3.5e2\n"
    ));
    assert_eq!(ok.samples.len(), 2);
    assert_eq!(ok.samples[0].labels["y"], "q\"\\\n");
    for bad in [
        "a 1\n",                        // no TYPE before it
        "# TYPE a counter\na  1\n",     // two spaces
        "# TYPE a counter\na one\n",    // not a number
        "# TYPE a counter\na{x=1} 1\n", // unquoted value
        "# TYPE a counter\na{x=\"1\" 1\n",
        "# TYPE a counter\na{x=\"\\q\"} 1\n",
        "# TYPE a counter\na{x=\"1\",x=\"2\"} 1\n",
        "# TYPE a counter\na 1\na 2\n", // repeated series
        "# TYPE a counter\n# TYPE a gauge\n",
        "# TYPE a kind\n",
        "# NOTE a b\n",
        "#TYPE a counter\n",
        "# TYPE 1a counter\n",
    ] {
        let parsed = std::panic::catch_unwind(|| parse(bad));
        assert!(parsed.is_err(), "accepted {bad:?}");
    }
}
