//! Response-level behaviour: Lambda's response size cap (reduce, then 413),
//! SIH's fallback image, and the structured request log and EMF metrics of
//! the real binary (which must never contain signatures or secrets).

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::sync::Arc;

use common::*;
use image_handler::Config;
use image_handler::origin::EmbeddedOrigin;
use image_handler::signature::{Keyring, SigningKey, sign_url};

#[tokio::test]
async fn outputs_above_the_cap_are_reduced_then_refused() {
    let cap = 30_000;
    let config = Config {
        max_response_bytes: Some(cap),
        ..Config::default()
    };
    let s = Server::start(config, Arc::new(EmbeddedOrigin)).await;

    // a 1600x1000 JPEG at quality 80 is ~220 kB: quality goes down, then the size
    let r = s.get("/dune.jpg?format=jpeg").await;
    let img = r.image("image/jpeg");
    assert!(r.body.len() as u64 <= cap, "{} bytes", r.body.len());
    let reduced = r
        .header("x-image-reduced")
        .expect("the reduction is announced");
    assert!(reduced.contains("quality=40"), "{reduced}");
    assert!(
        reduced.contains(&format!("width={}", img.get_width())),
        "{reduced}"
    );
    assert!(
        img.get_width() < 1600 && img.get_width() > 100,
        "{}",
        img.get_width()
    );
    // the aspect ratio survives
    let ratio = f64::from(img.get_width()) / f64::from(img.get_height());
    assert!((ratio - 1.6).abs() < 0.02, "{ratio}");

    // lossless PNG has no quality to give: only the size goes down
    let r = s.get("/alpha.png?format=png").await;
    let img = r.image("image/png");
    assert!(r.body.len() as u64 <= cap);
    assert!(!r.header("x-image-reduced").unwrap().contains("quality"));
    assert!(img.get_width() < 600);

    // outputs that fit are untouched
    let small = s.get("/dune.jpg?width=100").await;
    assert_eq!(small.status, 200);
    assert_eq!(small.header("x-image-reduced"), None);

    // nothing fits: 413, as SIH
    let tiny = Config {
        max_response_bytes: Some(200),
        ..Config::default()
    };
    let s = Server::start(tiny, Arc::new(EmbeddedOrigin)).await;
    let r = s.get("/dune.jpg?format=png").await;
    assert_eq!(
        (r.status, r.json()["code"].as_str()),
        (413, Some("TooLargeImageException"))
    );
}

/// A resized output is streamed from a sequential (shrink-on-load) decode,
/// which its first encode consumes: bringing it under the cap must not read
/// those pixels again (it answered 500 "error in tile"). Every format, in
/// every URL style, at several caps: 200 within the cap, or 413.
#[tokio::test]
async fn resized_outputs_above_the_cap_are_reduced_or_refused_never_failed() {
    let lossless =
        b64(r#"{"key":"dune.jpg","edits":{"resize":{"width":1000},"webp":{"lossless":true}}}"#);
    let cases: &[(&str, &str)] = &[
        ("/dune.jpg?width=1000", "image/jpeg"),
        ("/dune.jpg?format=jpeg", "image/jpeg"),
        ("/dune.jpg?width=1000&format=webp", "image/webp"),
        ("/dune.jpg?width=1000&format=png", "image/png"),
        ("/dune.jpg?width=500&format=avif", "image/avif"),
        (
            "/dune.jpg?width=900&height=900&fit=cover&format=webp",
            "image/webp",
        ),
        ("/dune.jpg?rotate=90&width=600", "image/jpeg"),
        ("/orientation.jpg?width=500&format=webp", "image/webp"),
        ("/alpha.png?width=500", "image/png"),
        ("/animated.gif?width=300&format=webp", "image/webp"),
        ("/animated.gif?width=300", "image/gif"),
        (
            "/fit-in/800x800/filters:format(webp)/dune.jpg",
            "image/webp",
        ),
        ("/800x0/filters:max_bytes(50000)/dune.jpg", "image/jpeg"),
        (&lossless, "image/webp"),
    ];
    // every case at a few caps; the quick ones (JPEG, PNG) at many more
    let quick = |url: &str| !url.contains("webp") && !url.contains("avif") && !url.contains("gif");
    let mut runs: Vec<(u64, &[(&str, &str)])> = Vec::new();
    for cap in [1024_u64, 4096, 20_000, 60_000] {
        runs.push((cap, cases));
    }
    let quick_cases: Vec<(&str, &str)> = cases.iter().copied().filter(|c| quick(c.0)).collect();
    let mut cap = 700_u64;
    while cap < 200_000 {
        runs.push((cap, &quick_cases));
        cap = cap * 3 / 2 + 17;
    }
    let mut failures = Vec::new();
    for (cap, cases) in runs {
        let config = Config {
            max_response_bytes: Some(cap),
            ..Config::default()
        };
        let s = Server::start(config, Arc::new(EmbeddedOrigin)).await;
        for &(url, mime) in cases {
            let what = format!("{url} under a cap of {cap}");
            let r = s.get(url).await;
            match r.status {
                200 => {
                    assert_eq!(r.header("content-type"), Some(mime), "{what}");
                    assert!(r.body.len() as u64 <= cap, "{what}: {} bytes", r.body.len());
                    if url.starts_with("/animated.gif") {
                        let image = frames(&r.body);
                        assert_eq!(image.get_int("n-pages").unwrap_or(1), 10, "{what}: frames");
                    } else {
                        decode(&r.body);
                    }
                }
                413 => {
                    assert_error_for(&what, &r, 413, "TooLargeImageException");
                }
                _ => failures.push(format!("{what}: {} {}", r.status, r.text())),
            }
            // a photograph fits in 20 kB once reduced: it is not refused
            let lossy = url.starts_with("/dune.jpg") && !url.contains("png");
            if cap >= 20_000 && lossy && r.status != 200 {
                failures.push(format!("{what}: {} instead of a reduced image", r.status));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn b64(json: &str) -> String {
    use base64::Engine as _;
    format!(
        "/{}",
        base64::engine::general_purpose::STANDARD.encode(json)
    )
}

/// Decodes every frame of an animation (a still image is one frame).
fn frames(bytes: &[u8]) -> rs_vips::VipsImage {
    init_vips();
    rs_vips::VipsImage::new_from_buffer(bytes, "n=-1").expect("decodes with every frame")
}

#[tokio::test]
async fn fallback_image_keeps_the_error_status() {
    let dir = TempDir::new("fallback");
    standard_fixtures(&dir);
    dir.write("fallback/missing.png", &png(&halves()));
    let keys = Keyring::new(vec![SigningKey::new("k", "secret", None)]).unwrap();
    let config = Config {
        signing: Some(keys.clone()),
        ..Config::default()
    };
    let s = Server::fs_with_fallback(config, &dir, "fallback/missing.png").await;

    for (url, status, code) in [
        ("/nope.jpg", 404, "NoSuchKey"),
        ("/quad.png?width=-1", 400, "InvalidParameter"),
    ] {
        let r = s.get(&sign_url(&keys, url, None, None).unwrap()).await;
        assert_eq!(r.status, status, "{url}");
        assert_eq!(r.header("content-type"), Some("image/png"), "{url}");
        assert_eq!(r.header("x-error-code"), Some(code), "{url}");
        assert_eq!(
            r.header("cache-control"),
            Some("public, max-age=60"),
            "{url}"
        );
        assert_size(&decode(&r.body), 100, 200);
    }
    // an unsigned or forged request never gets an image, not even the fallback
    for url in [
        "/nope.jpg".to_string(),
        "/nope.jpg?signature=00".to_string(),
    ] {
        let r = s.get(&url).await;
        assert_eq!(r.header("content-type"), Some("application/json"), "{url}");
    }
}

/// The directives of a `Cache-Control` value, lower-cased, with their values.
fn directives(value: &str) -> Vec<(String, Option<String>)> {
    value
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| match d.split_once('=') {
            Some((n, v)) => (n.trim().to_ascii_lowercase(), Some(v.trim().to_string())),
            None => (d.to_ascii_lowercase(), None),
        })
        .collect()
}

/// A signed URL's expiry caps the lifetimes of the `Cache-Control` in force
/// (configured, stored or asked for in the request) without widening it:
/// `private` and `no-store` stay, `public` is never added, `s-maxage` is
/// capped too.
#[tokio::test]
async fn a_signed_expiry_caps_cache_control_without_widening_it() {
    let keys = Keyring::new(vec![SigningKey::new("k", "secret", None)]).unwrap();
    let expiry = std::time::SystemTime::now() + std::time::Duration::from_secs(600);
    let b64 = |json: &str| {
        use base64::Engine;
        format!(
            "/{}",
            base64::engine::general_purpose::STANDARD.encode(json)
        )
    };
    for configured in [
        "private, no-store",
        "no-store",
        "private",
        "no-cache",
        "public, s-maxage=86400, max-age=60",
        "Public, S-MaxAge=86400",
    ] {
        let config = Config {
            signing: Some(keys.clone()),
            cache_control: configured.to_string(),
            ..Config::default()
        };
        let s = Server::start(config, Arc::new(EmbeddedOrigin)).await;
        let in_request = b64(&format!(
            r#"{{"key":"flower.jpg","edits":{{"resize":{{"width":20}}}},"headers":{{"Cache-Control":"{configured}"}}}}"#
        ));
        for url in ["/flower.jpg?width=20", in_request.as_str()] {
            let r = s
                .get(&sign_url(&keys, url, None, Some(expiry)).unwrap())
                .await;
            assert_eq!(r.status, 200, "{configured} {url}: {}", r.text());
            let got = r.header("cache-control").unwrap_or_default().to_string();
            let (before, after) = (directives(configured), directives(&got));
            let has = |d: &[(String, Option<String>)], name: &str| d.iter().any(|(n, _)| n == name);
            let ctx = format!("{configured:?} -> {got:?} ({url})");
            for kept in ["private", "no-store", "no-cache", "public"] {
                assert_eq!(has(&before, kept), has(&after, kept), "{kept}: {ctx}");
            }
            if has(&before, "no-store") {
                assert!(!has(&after, "max-age"), "max-age added to no-store: {ctx}");
            } else {
                assert!(has(&after, "max-age"), "{ctx}");
            }
            for (name, value) in &after {
                if name.ends_with("age") {
                    let secs: u64 = value.as_deref().unwrap_or("x").parse().expect(&ctx);
                    assert!(secs <= 600, "{name} outlives the link: {ctx}");
                }
            }
        }
    }
}

/// What else answers a signed URL with an expiry (errors, SIH's fallback
/// image, `info`) is not cached past the expiry either.
#[tokio::test]
async fn no_answer_to_an_expiring_link_is_cached_past_it() {
    let dir = TempDir::new("expiring");
    standard_fixtures(&dir);
    dir.write("fallback.png", &png(&halves()));
    let keys = Keyring::new(vec![SigningKey::new("k", "secret", None)]).unwrap();
    let expiry = std::time::SystemTime::now() + std::time::Duration::from_secs(600);
    for with_fallback in [false, true] {
        let config = Config {
            signing: Some(keys.clone()),
            error_max_age: 86_400,
            ..Config::default()
        };
        let s = if with_fallback {
            Server::fs_with_fallback(config, &dir, "fallback.png").await
        } else {
            Server::fs(config, &dir).await
        };
        for (url, status) in [
            ("/nope.png", 404),
            ("/quad.png?width=-1", 400),
            ("/info/quad.png", 200),
            ("/quad.png?info", 200),
        ] {
            let r = s
                .get(&sign_url(&keys, url, None, Some(expiry)).unwrap())
                .await;
            let ctx = format!("{url} (fallback: {with_fallback})");
            assert_eq!(r.status, status, "{ctx}: {}", r.text());
            let cc = r.header("cache-control").unwrap_or_default().to_string();
            let lifetimes: Vec<u64> = directives(&cc)
                .into_iter()
                .filter(|(n, _)| n.ends_with("age"))
                .map(|(_, v)| v.as_deref().unwrap_or("x").parse().expect(&cc))
                .collect();
            assert!(!lifetimes.is_empty(), "{ctx}: {cc}");
            assert!(lifetimes.iter().all(|&s| s <= 600), "{ctx}: {cc}");
        }
    }
}

/// The binary's request log (LOG_FORMAT=json) and EMF metrics (METRICS=emf).
#[test]
fn request_log_and_metrics_never_carry_secrets() {
    let secret = "very-secret-signing-key";
    let mut child = Command::new(env!("CARGO_BIN_EXE_image-handler"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("LOG_FORMAT", "json")
        .env("METRICS", "emf")
        .env("ENABLE_SIGNATURE", "Yes")
        .env("SIGNATURE_SECRET", secret)
        .env_remove("SIGNATURE_KEYS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run image-handler serve");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let addr = line.trim().rsplit("http://").next().unwrap().to_string();

    let keys = Keyring::new(vec![SigningKey::new("default", secret, None)]).unwrap();
    let url = sign_url(&keys, "/dune.jpg?width=64&grayscale=true", None, None).unwrap();
    let signature = url.rsplit("signature=").next().unwrap().to_string();
    let ok = http_get(&addr, &url);
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let bad = http_get(&addr, "/dune.jpg?width=64&signature=abcdef");
    assert!(bad.starts_with("HTTP/1.1 403"), "{bad}");

    let _ = child.kill();
    let _ = child.wait();
    let mut out = String::new();
    stdout.read_to_string(&mut out).unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();

    let logs: Vec<serde_json::Value> = err
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let requests: Vec<&serde_json::Value> =
        logs.iter().filter(|l| l["message"] == "request").collect();
    assert_eq!(requests.len(), 2, "{err}");
    let first = requests[0];
    assert_eq!(first["status"], 200);
    assert_eq!(first["path"], "/dune.jpg");
    assert_eq!(first["key"], "dune.jpg");
    assert_eq!(first["edits"], "resize,grayscale");
    assert_eq!(first["format"], "image/jpeg");
    assert!(first["bytes_in"].as_u64().unwrap() > 100_000);
    assert!(first["bytes_out"].as_u64().unwrap() > 0);
    assert!(first["transform_ms"].as_f64().unwrap() > 0.0);
    assert!(first["encode_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(requests[1]["code"], "SignatureDoesNotMatch");

    let emf: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(emf.len(), 2, "{out}");
    assert_eq!(
        emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "ImageHandler"
    );
    assert_eq!(emf[0]["Code"], "OK");
    assert_eq!(emf[1]["Code"], "SignatureDoesNotMatch");

    for text in [&err, &out] {
        assert!(!text.contains(secret), "the secret leaked");
        assert!(!text.contains(&signature), "a signature leaked");
        assert!(!text.contains("abcdef"), "a signature leaked");
    }
}

/// A minimal HTTP/1.1 GET, returning the status line and headers.
fn http_get(addr: &str, target: &str) -> String {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response);
    text.split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_string()
}
