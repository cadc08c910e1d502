//! The checks behind each fuzz target, shared by the libFuzzer targets in
//! `fuzz_targets/` and by `tests/fuzz_corpus.rs`, which replays the committed
//! corpus and every past finding on stable Rust in the normal test run.
//! Each function takes the raw fuzz input; errors from the code under test
//! are fine, a panic (a failed assertion here, or one in the code) is a
//! finding.

#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use base64::Engine;
use bytes::Bytes;
use image_handler::error::Error;
use image_handler::request::rewrite::Rewrite;
use image_handler::request::target::Target;
use image_handler::request::{
    self, Edit, ImageRequest, Limits, Output, OutputFormat, Resize, Rotation, Rules,
};
use image_handler::signature::{self, Keyring, SigningKey};
use image_handler::transform::{Job, format, pipeline, svg as svg_sanitiser};

const LIMITS: Limits = Limits {
    max_width: 1000,
    max_height: 800,
};

fn buckets() -> &'static [String] {
    static B: OnceLock<Vec<String>> = OnceLock::new();
    B.get_or_init(|| vec!["allowed".to_string()])
}

fn rules() -> Rules<'static> {
    Rules {
        limits: LIMITS,
        buckets: buckets(),
    }
}

/// What every validated request must satisfy, whatever the style.
fn check_request(req: &ImageRequest) {
    assert!(!req.source.key.is_empty(), "a key");
    assert!(!req.source.key.contains('\0'), "no NUL in keys");
    if let Some(bucket) = &req.source.bucket {
        assert!(buckets().contains(bucket), "only allowed buckets: {bucket}");
    }
    for (name, value) in &req.headers {
        assert!(
            request::default::header_allowed(name),
            "{name} passed the deny list"
        );
        assert!(!value.contains(['\r', '\n']), "header value {value:?}");
    }
    for edit in &req.edits {
        if let Edit::Resize(r) = edit {
            // without enlargement the box may pass the output limits (the
            // transform checks the size it produces)
            let (max_w, max_h) = Resize::box_limits(r.without_enlargement, &LIMITS);
            assert!(r.width.is_none_or(|w| w <= max_w), "{r:?}");
            assert!(r.height.is_none_or(|h| h <= max_h), "{r:?}");
        }
    }
    let _ = req.canonical();
}

fn split_query(text: &str) -> (&str, Option<&str>) {
    match text.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (text, None),
    }
}

/// The query style: `/<key>?<params>`, parsed alone and as the handler
/// does (style detection, then the parameters applied on top).
pub fn query(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, query) = split_query(text);
    let Ok(target) = Target::parse(path, query) else {
        return;
    };
    if let Ok(mut req) = request::query::parse(path, query, &LIMITS) {
        check_request(&req);
        // applying the same parameters again changes nothing
        let before = req.canonical();
        if request::query::apply(&mut req, &target.query, &LIMITS).is_ok() {
            assert_eq!(before, req.canonical(), "overlay is idempotent");
        }
    }
    let path = format!("/{}", target.path.trim_start_matches('/'));
    if let Ok(parsed) = request::parse(&path, &rules(), None) {
        let mut req = parsed.request;
        if request::query::apply(&mut req, &target.query, &LIMITS).is_ok() {
            check_request(&req);
        }
    }
}

/// SIH's default style: the input as the JSON text (base64-encoded here, so
/// the fuzzer explores JSON) and as a raw path (so it explores detection).
pub fn base64_json(data: &[u8]) {
    let encoded = format!(
        "/{}",
        base64::engine::general_purpose::STANDARD.encode(data)
    );
    let raw = std::str::from_utf8(data).ok().map(str::to_string);
    for path in [Some(encoded), raw].into_iter().flatten() {
        if let Ok(parsed) = request::parse(&path, &rules(), None) {
            check_request(&parsed.request);
        }
    }
}

/// thumbor's path style.
pub fn thumbor(data: &[u8]) {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(parsed) = request::thumbor::parse(path, &rules()) {
        check_request(&parsed.request);
    }
}

/// SIH's custom rewrite rules (documented examples and hostile ones).
const REWRITES: &[(&str, &str)] = &[
    (r"/(filters-)/gm", "filters:"),
    (r"/^\/(\d+)x(\d+)\/(.*)$/", "/fit-in/$1x$2/$3"),
    (r"/(.*)\.(jpe?g|png)$/i", "$1.$2"),
    (r"/^(.*)$/", "$&$&"),
    (r"/(?<w>\d+)w\//g", "$<w>x0/"),
    (r"/x/g", "$`$'"),
    (r"/^/", "/unsafe/"),
];

fn rewrites() -> &'static [Rewrite] {
    static R: OnceLock<Vec<Rewrite>> = OnceLock::new();
    R.get_or_init(|| {
        REWRITES
            .iter()
            .map(|(p, s)| Rewrite::new(p, s).expect("the rules compile"))
            .collect()
    })
}

/// The rewrite style: the first byte picks a rule, the rest is the path.
pub fn rewrite(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(path) = std::str::from_utf8(rest) else {
        return;
    };
    let rewrite = &rewrites()[pick as usize % REWRITES.len()];
    if let Ok(rewritten) = rewrite.apply(path) {
        assert!(rewritten.len() <= image_handler::request::rewrite::MAX_REWRITTEN_LEN);
    }
    if let Ok(parsed) = request::parse(path, &rules(), Some(rewrite)) {
        check_request(&parsed.request);
    }
}

/// Signatures: unsigned input never verifies; a URL that `sign_url` signs
/// verifies; tampering or a past expiry is refused. The input may hold a
/// second URL after a newline: given the first one's signature, it verifies
/// only if it parses to exactly the first one's request.
pub fn signature(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (text, other) = text.split_once('\n').unwrap_or((text, ""));
    let ring = Keyring::new(vec![
        SigningKey::new("a", "first secret", None),
        SigningKey::new("b", "second secret", Some("tenant/")),
    ])
    .expect("keys");
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let verify = |url: &str| {
        let (path, query) = split_query(url);
        ring.verify(&Target::parse(path, query)?, now)
    };
    // A forged 32-byte HMAC is out of the fuzzer's reach: nothing verifies.
    if let Ok(grant) = verify(text) {
        panic!("verified without the key: {text:?} {grant:?}");
    }
    let (path, query) = split_query(text);
    let _ = signature::verify_thumbor("security key", path, query.unwrap_or(""));

    let url = if text.starts_with('/') {
        text.to_string()
    } else {
        format!("/{text}")
    };
    let Ok(signed) = signature::sign_url(&ring, &url, Some("a"), None) else {
        return;
    };
    match verify(&signed) {
        Ok(_) => {}
        // the input's own `expires` is kept by `sign_url`, and may be past or malformed
        Err(Error::Expired | Error::ExpiryFormat(_)) if url.contains("expires") => return,
        Err(e) => panic!("a signed URL verifies: {signed:?}: {e:?}"),
    }
    let (spath, squery) = split_query(&signed);
    let tampered = format!("{spath}x");
    assert!(
        verify(&format!("{tampered}?{}", squery.unwrap_or(""))).is_err(),
        "{tampered:?}"
    );
    let past = now - Duration::from_secs(1);
    if let Ok(expired) = signature::sign_url(&ring, &url, Some("a"), Some(past)) {
        assert!(verify(&expired).is_err(), "expired: {expired:?}");
    }

    // The property: another spelling verifies only if it is the same request.
    let Some(sig) = signed.rsplit_once("signature=").map(|(_, s)| s) else {
        return;
    };
    let sep = if other.contains('?') { '&' } else { '?' };
    let respelled = format!("{other}{sep}signature={sig}");
    if verify(&respelled).is_ok() {
        let parse = |url: &str| {
            let (p, q) = split_query(url);
            let t = Target::parse(p, q).expect("verified, so canonical");
            let parsed = request::parse(&t.path, &rules(), None).map(|p| p.request);
            let mut pairs: Vec<(String, String)> = Vec::new();
            for (k, v) in t.query {
                pairs.retain(|(n, _)| *n != k);
                pairs.push((k, v));
            }
            pairs.sort();
            (format!("{parsed:?}"), pairs)
        };
        assert_eq!(parse(&respelled), parse(&signed), "{respelled:?} verified");
    }
}

/// The decode path on small inputs under tight limits: sniffing, the header
/// checks and the whole pipeline (load, a few edits, encode). The first
/// byte picks the edits and the output format.
pub fn decode(data: &[u8]) {
    let Some((&choice, bytes)) = data.split_first() else {
        return;
    };
    image_handler::transform::init_vips().expect("libvips starts");
    if format::sniff(bytes).is_err() {
        return;
    }
    let mut edits = Vec::new();
    if choice & 1 != 0 {
        edits.push(Edit::Resize(request::Resize {
            width: Some(32),
            height: Some(24),
            ..request::Resize::default()
        }));
    }
    if choice & 2 != 0 {
        edits.push(Edit::Rotate(Rotation::D90));
    }
    if choice & 4 != 0 {
        edits.push(Edit::Grayscale);
    }
    let format = match (choice >> 3) & 3 {
        0 => OutputFormat::Jpeg,
        1 => OutputFormat::Png,
        2 => OutputFormat::Webp,
        _ => OutputFormat::Gif,
    };
    let job = Job {
        bytes: Bytes::copy_from_slice(bytes),
        edits,
        output: Output {
            format: Some(format),
            // Automatic quality decodes its own encodes to score them.
            auto_quality: choice & 0x20 != 0,
            ..Output::default()
        },
        accepted: Default::default(),
        limits: Limits {
            max_width: 256,
            max_height: 256,
        },
        max_input_pixels: 1 << 20,
        max_frames: 16,
        effort: Default::default(),
        fast_shrink: bytes.first().is_some_and(|b| b & 1 == 1),
        max_output_bytes: Some(1 << 20),
        overlays: Vec::new(),
        auto_quality: Default::default(),
    };
    if let Ok(out) = pipeline::run(&job) {
        assert!(!out.bytes.is_empty(), "an encoded image");
        assert!(out.width >= 1 && out.height >= 1);
    }
}

/// The SVG sanitiser: the input as a document (refusals are fine). What it
/// keeps sanitises to itself again (so nothing hides behind a second
/// reading), has no script, event handler or `<foreignObject>`, links only
/// to `#fragments` or canonical embedded PNG/JPEG/GIF/WebP, and draws from
/// no `url(...)` outside the document.
pub fn svg(data: &[u8]) {
    const BUDGET: u64 = 1 << 20;
    image_handler::transform::init_vips().expect("libvips starts");
    let Ok(out) = svg_sanitiser::sanitize(data, BUDGET) else {
        return;
    };
    let again = svg_sanitiser::sanitize(&out, BUDGET);
    assert!(
        again.as_deref().ok() == Some(&out[..]),
        "sanitising the output again changes it: {:?} -> {:?}",
        String::from_utf8_lossy(&out),
        again.map(|a| String::from_utf8_lossy(&a).into_owned())
    );
    let text = std::str::from_utf8(&out).expect("the output is UTF-8");
    let doc = roxmltree::Document::parse(text).expect("the output is XML");
    // CSS that reaches nothing outside: no @import, every url() a #fragment
    let internal = |css: &str| {
        let lower = css.to_ascii_lowercase();
        !lower.contains("@import")
            && lower.match_indices("url(").all(|(i, _)| {
                let after = lower.get(i + 4..).unwrap_or_default();
                after
                    .trim_start()
                    .trim_start_matches(['"', '\''])
                    .trim_start()
                    .starts_with('#')
            })
    };
    for node in doc.descendants().filter(|n| n.is_element()) {
        let name = node.tag_name().name();
        assert!(
            !matches!(name, "script" | "foreignObject" | "animate" | "set" | "a"),
            "<{name}> kept"
        );
        if name == "style" {
            let css: String = node.children().filter_map(|c| c.text()).collect();
            assert!(internal(&css), "<style>{css:?} kept");
        }
        for attr in node.attributes() {
            let (n, v) = (attr.name(), attr.value());
            assert!(
                !n.as_bytes()
                    .get(..2)
                    .is_some_and(|p| n.len() > 2 && p.eq_ignore_ascii_case(b"on")),
                "event handler {n} kept"
            );
            if n == "href" {
                let canonical = ["png", "jpeg", "gif", "webp"]
                    .iter()
                    .any(|t| v.starts_with(&format!("data:image/{t};base64,")));
                assert!(
                    v.trim_ascii().starts_with('#')
                        || (canonical && matches!(name, "image" | "feImage")),
                    "<{name} href={v:?}> kept"
                );
            } else {
                assert!(internal(v), "{n}={v:?} kept");
            }
        }
    }
}
