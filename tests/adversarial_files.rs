//! Adversarial originals, generated rather than listed, through the real
//! HTTP handler:
//!
//! - SVGs with characters of two, three and four bytes, character
//!   references and percent-encoded bytes inserted at every position of a
//!   document that has each kind of position (element and attribute names,
//!   attribute values, CSS, links, text, a `data:` URL's type, parameters and
//!   body, an SVG `data:` URL inside it), nested `data:` URLs and deep
//!   nesting; served as the plain original, as a watermark over a raster, and
//!   through `/info/`;
//! - truncated (many cut points) and bit-flipped (many seeds) originals of
//!   every input format: JPEG, PNG, WebP, GIF, AVIF, TIFF, SVG, HEIC and
//!   JPEG XL, stills and animations.
//!
//! Every answer must be a 200 (a sanitised SVG, a decodable image, or the
//! info JSON) or a 4xx JSON error: never a 5xx, a panic or a hang (the
//! server runs with a 10 s `REQUEST_TIMEOUT`, so a runaway answers 504 and
//! fails). Cut points and seeds are chosen by a fixed rule, so every run
//! sends the same requests.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use common::*;
use image_handler::Config;
use rs_vips::VipsImage;
use rs_vips::voption::{Setter, VOption};

// ---------------------------------------------------------------- checking answers

/// What a 200 must carry.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Body {
    /// The sanitised SVG, with its restrictive policy.
    Svg,
    /// An image that decodes.
    Image,
    /// The `/info/` JSON.
    Info,
}

/// Asserts a 200 with `body`, or a 4xx JSON error `{status, code, message}`;
/// returns the status.
#[track_caller]
fn acceptable(what: &str, r: &Reply, body: Body) -> u16 {
    assert!(
        r.status < 500,
        "{what}: never a 5xx; got {} {}",
        r.status,
        r.text()
    );
    if r.status != 200 {
        assert!(
            (400..500).contains(&r.status),
            "{what}: {} {}",
            r.status,
            r.text()
        );
        assert_eq!(r.header("content-type"), Some("application/json"), "{what}");
        let json = r.json();
        assert_eq!(json["status"], u64::from(r.status), "{what}: {json}");
        assert!(
            json["code"].as_str().is_some_and(|c| !c.is_empty())
                && json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {json}"
        );
        return r.status;
    }
    match body {
        Body::Svg => {
            assert_eq!(r.header("content-type"), Some("image/svg+xml"), "{what}");
            let csp = r.header("content-security-policy").unwrap_or_default();
            assert!(csp.contains("default-src 'none'"), "{what}: {csp}");
            let text = std::str::from_utf8(&r.body).expect("a sanitised SVG is UTF-8");
            assert_inert(what, text);
        }
        Body::Image => {
            let mime = r.header("content-type").unwrap_or_default();
            assert!(mime.starts_with("image/"), "{what}: {mime}");
            assert!(decode(&r.body).get_width() > 0, "{what}");
        }
        Body::Info => {
            let json = r.json();
            assert!(json["width"].as_u64().is_some(), "{what}: {json}");
        }
    }
    200
}

/// A sanitised SVG: XML whose elements are SVG's drawing ones, with no
/// event handler, and links only to `#fragments` or embedded PNG, JPEG, GIF
/// or WebP.
#[track_caller]
fn assert_inert(what: &str, text: &str) {
    let doc = roxmltree::Document::parse(text)
        .unwrap_or_else(|e| panic!("{what}: the sanitised SVG is XML ({e}): {text}"));
    for node in doc.descendants().filter(|n| n.is_element()) {
        let name = node.tag_name().name();
        assert!(
            !matches!(
                name,
                "script" | "foreignObject" | "a" | "animate" | "set" | "div"
            ),
            "{what}: <{name}> kept in {text}"
        );
        for attr in node.attributes() {
            let (n, v) = (attr.name(), attr.value());
            assert!(
                !(n.len() > 2 && n.is_char_boundary(2) && n[..2].eq_ignore_ascii_case("on")),
                "{what}: event handler {n} kept in {text}"
            );
            if n == "href" {
                let raster = ["png", "jpeg", "gif", "webp"]
                    .iter()
                    .any(|t| v.starts_with(&format!("data:image/{t};base64,")));
                assert!(
                    v.trim().starts_with('#') || raster,
                    "{what}: link {v:.60} kept in {text}"
                );
            }
        }
    }
}

fn config() -> Config {
    Config {
        request_timeout: Duration::from_secs(10),
        ..Config::default()
    }
}

/// Tallies answers by route and status, for the log (`--nocapture`) and to
/// check that the generated cases really reach both outcomes.
#[derive(Default)]
struct Tally(BTreeMap<(String, u16), usize>);

impl Tally {
    fn add(&mut self, route: &str, status: u16) {
        *self.0.entry((route.to_string(), status)).or_default() += 1;
    }

    fn count(&self, route: &str, status: u16) -> usize {
        self.0
            .get(&(route.to_string(), status))
            .copied()
            .unwrap_or(0)
    }
}

// ---------------------------------------------------------------- SVG generation

const SVG_NS: &str =
    r#"xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink""#;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A small PNG to embed.
fn tiny_png() -> Vec<u8> {
    png(&canvas(2, 2, GREEN, &[]))
}

/// An SVG of 8x8 around `body`.
fn svg_doc(body: &str) -> String {
    format!(r#"<svg {SVG_NS} width="8" height="8" viewBox="0 0 8 8">{body}</svg>"#)
}

/// A document with every kind of position, among them an SVG `data:` URL
/// (itself embedding a PNG) inside an `<image>`.
fn every_position() -> String {
    let png = b64(&tiny_png());
    let inner = svg_doc(&format!(
        r#"<image width="2" height="2" href="data:image/png;base64,{png}"/>"#
    ));
    svg_doc(&format!(
        concat!(
            r##"<defs><linearGradient id="g"><stop offset="0" stop-color="red"/></linearGradient></defs>"##,
            r##"<g id="a" fill="url(#g)" style="stroke:url('#g')" onclick="x">"##,
            r##"<rect x="1" width="4" height="4"/><use xlink:href="#a"/>"##,
            r##"<image width="2" height="2" href="data:image/png;base64,{png}"/>"##,
            r##"<image width="2" height="2" xlink:href="data:image/svg+xml;base64,{inner}"/>"##,
            r##"<text x="1" y="6">t<tspan>u</tspan></text><style>rect{{fill:red}}</style>"##,
            r##"</g>"##
        ),
        png = png,
        inner = b64(inner.as_bytes()),
    ))
}

/// What is inserted: UTF-8 characters of 2, 3 and 4 bytes, invisible ones,
/// XML character references, and percent-encoded UTF-8.
const INSERTS: &[&str] = &[
    "é",
    "€",
    "𝄞",
    "\u{200B}\u{FEFF}",
    "&#xE9;",
    "&#x1D11E;",
    "%C3%A9",
    "%F0%9D%84%9E",
];

/// Where to insert into `doc`: every character boundary, except deep
/// inside a long run of base64 (the embedded `data:` URLs), where every 40th
/// is enough: all of them read the same way.
fn insertion_points(doc: &str) -> Vec<usize> {
    let base64 = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/');
    let bytes = doc.as_bytes();
    (0..=doc.len())
        .filter(|&at| doc.is_char_boundary(at))
        .filter(|&at| {
            let inside =
                at >= 6 && at + 6 <= bytes.len() && bytes[at - 6..at + 6].iter().all(base64);
            !inside || at % 40 == 0
        })
        .collect()
}

/// Hostile structures: (name, document, whether the plain original is served).
fn structures() -> Vec<(String, String, bool)> {
    let png = b64(&tiny_png());
    let image = |href: &str| format!(r#"<image width="2" height="2" href="{href}"/>"#);
    let png_url = format!("data:image/png;base64,{png}");
    let mut out = Vec::new();
    // nested data: URLs, as base64 and percent-encoded, 1 to 4 levels deep
    let mut nested = svg_doc(&image(&png_url));
    for level in 1..=4 {
        let as_base64 = format!("data:image/svg+xml;base64,{}", b64(nested.as_bytes()));
        let percent: String = nested
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>();
        let as_percent = format!("data:image/svg+xml,{percent}");
        out.push((
            format!("nested-svg-{level}"),
            svg_doc(&(image(&as_base64) + &image(&as_percent))),
            true,
        ));
        // an SVG that claims to be a PNG is refused, not handed to a decoder
        out.push((
            format!("svg-as-png-{level}"),
            svg_doc(&image(&format!(
                "data:image/png;base64,{}",
                b64(nested.as_bytes())
            ))),
            false,
        ));
        nested = svg_doc(&image(&as_base64));
    }
    // rasters the loader allow-list does not take, declared as ones it does
    init_vips();
    let black = VipsImage::black(4, 4).unwrap();
    for (name, bytes) in [
        ("tiff", black.tiffsave_buffer().unwrap()),
        ("avif", avif(&canvas(4, 4, RED, &[]))),
        ("bmp", b"BM\x3a\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0".to_vec()),
        ("html", b"<html><script>alert(1)</script>".to_vec()),
    ] {
        out.push((
            format!("raster-{name}-as-png"),
            svg_doc(&image(&format!("data:image/png;base64,{}", b64(&bytes)))),
            false,
        ));
    }
    // a decompression bomb's header: far above MAX_INPUT_PIXELS
    let bomb = png_claiming(&tiny_png(), 100_000, 100_000);
    out.push((
        "raster-bomb".into(),
        svg_doc(&image(&format!("data:image/png;base64,{}", b64(&bomb)))),
        false,
    ));
    // deep nesting: allowed to 256, refused beyond; inside a dropped element
    // it is dropped with it
    for depth in [1, 64, 255, 256, 300, 5_000, 60_000] {
        let body = format!("{}<rect/>{}", "<g>".repeat(depth), "</g>".repeat(depth));
        out.push((format!("deep-g-{depth}"), svg_doc(&body), depth <= 255));
        let body = format!(
            "<foreignObject>{}</foreignObject><rect/>",
            "<div>".repeat(depth) + &"</div>".repeat(depth)
        );
        out.push((format!("deep-dropped-{depth}"), svg_doc(&body), true));
    }
    for element in [
        "a", "switch", "defs", "mask", "clipPath", "pattern", "symbol", "text",
    ] {
        let body = format!(
            "{}{}",
            format!("<{element}>").repeat(200),
            format!("</{element}>").repeat(200)
        );
        out.push((format!("deep-{element}"), svg_doc(&body), true));
    }
    // `<use>` fan-out: each level draws the previous one ten times; a
    // million drawn elements from a few kilobytes is refused before librsvg
    // spends seconds on it
    for levels in [3, 6] {
        let mut body = String::from(r#"<rect id="u0" width="1" height="1"/>"#);
        for level in 1..=levels {
            body.push_str(&format!(r#"<g id="u{level}">"#));
            for _ in 0..10 {
                body.push_str(&format!(r##"<use href="#u{}"/>"##, level - 1));
            }
            body.push_str("</g>");
        }
        out.push((
            format!("use-fan-out-{levels}"),
            svg_doc(&format!("<defs>{body}</defs><use href=\"#u{levels}\"/>")),
            levels < 6,
        ));
    }
    out
}

/// A PNG whose header is patched to claim `width`x`height`.
fn png_claiming(png: &[u8], width: u32, height: u32) -> Vec<u8> {
    let mut out = png.to_vec();
    // signature (8), IHDR length (4), "IHDR" (4), then width and height
    out[16..20].copy_from_slice(&width.to_be_bytes());
    out[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&out[12..29]);
    out[29..33].copy_from_slice(&crc.to_be_bytes());
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// The three ways an SVG original is read: plain, as a watermark over a
/// raster (rasterised), and its header through `/info/`.
fn routes(key: &str) -> [(&'static str, String, Body); 3] {
    [
        ("plain", format!("/{key}"), Body::Svg),
        (
            "watermark",
            format!("/filters:watermark(,{key},0,0,0,100,100)/base.png"),
            Body::Image,
        ),
        ("info", format!("/info/{key}"), Body::Info),
    ]
}

#[tokio::test]
async fn svgs_with_wide_characters_anywhere_answer_4xx_or_a_sanitised_image() {
    let dir = TempDir::new("adversarial-svg-chars");
    dir.write("base.png", &png(&canvas(16, 16, BLUE, &[])));
    // the two shapes from issue 15 (they made the sanitiser panic: 500)
    dir.write(
        "issue-attribute.svg",
        svg_doc(r#"<rect xé="1" width="8" height="8" fill="red"/>"#).as_bytes(),
    );
    dir.write(
        "issue-data-type.svg",
        svg_doc(&format!(
            r#"<rect width="8" height="8" fill="red"/><image width="2" height="2" href="data:image/p€ng;base64,{}"/>"#,
            b64(&tiny_png())
        ))
        .as_bytes(),
    );
    let base = every_position();
    let mut cases = Vec::new();
    for (n, at) in insertion_points(&base).into_iter().enumerate() {
        // the UTF-8 characters everywhere, the encoded forms in turn
        let encoded = 3 + n % (INSERTS.len() - 3);
        for i in [0, 1, 2, encoded] {
            let mut doc = base.clone();
            doc.insert_str(at, INSERTS[i]);
            let key = format!("w-{at}-{i}.svg");
            dir.write(&key, doc.as_bytes());
            cases.push((at, i, key));
        }
    }
    let s = Server::fs(config(), &dir).await;
    for key in ["issue-attribute.svg", "issue-data-type.svg"] {
        for (route, url, body) in routes(key) {
            let r = s.get(&url).await;
            assert_eq!(
                acceptable(&format!("{route} {url}"), &r, body),
                200,
                "{url}: {}",
                r.text()
            );
        }
    }
    let r = s.get("/issue-data-type.svg").await;
    assert!(
        !String::from_utf8_lossy(&r.body).contains("<image"),
        "an unknown type is dropped"
    );
    let mut tally = Tally::default();
    for (n, (at, i, key)) in cases.iter().enumerate() {
        // every insertion plain; watermark and info for a rotating share
        for (route, url, body) in routes(key) {
            let sampled = match route {
                "plain" => true,
                "info" => n % 4 == 0,
                _ => (at + i) % 13 == 0,
            };
            if sampled {
                let r = s.get(&url).await;
                tally.add(route, acceptable(&url, &r, body));
            }
        }
    }
    eprintln!("{} documents: {:?}", cases.len(), tally.0);
    for route in ["plain", "watermark", "info"] {
        assert!(
            tally.count(route, 200) > 0,
            "{route}: some insertions are harmless"
        );
        assert!(
            tally.count(route, 400) > 0,
            "{route}: some insertions break the document"
        );
    }
    let health = s.get("/health").await;
    assert_eq!(health.status, 200);
}

#[tokio::test]
async fn nested_data_urls_and_deep_nesting_answer_4xx_or_a_sanitised_image() {
    let dir = TempDir::new("adversarial-svg-structures");
    dir.write("base.png", &png(&canvas(16, 16, BLUE, &[])));
    let cases = structures();
    for (name, doc, _) in &cases {
        dir.write(&format!("{name}.svg"), doc.as_bytes());
    }
    let s = Server::fs(config(), &dir).await;
    for (name, _, served) in &cases {
        for (route, url, body) in routes(&format!("{name}.svg")) {
            let r = s.get(&url).await;
            let status = acceptable(&url, &r, body);
            eprintln!("{url}: {status}");
            if route != "watermark" {
                assert_eq!(status == 200, *served, "{url}: {}", r.text());
            }
            if !*served {
                assert_error_for(&url, &r, 400, "InvalidImage");
            }
        }
    }
}

#[tokio::test]
async fn embedded_rasters_are_held_to_the_pixel_limit() {
    let dir = TempDir::new("adversarial-svg-budget");
    dir.write("base.png", &png(&canvas(16, 16, BLUE, &[])));
    let image = format!(
        r#"<image width="8" height="8" href="data:image/png;base64,{}"/>"#,
        b64(&png(&canvas(60, 60, RED, &[])))
    );
    for n in 1..=3 {
        dir.write(&format!("{n}.svg"), svg_doc(&image.repeat(n)).as_bytes());
    }
    let config = Config {
        max_input_pixels: 10_000,
        ..config()
    };
    let s = Server::fs(config, &dir).await;
    for n in 1..=3 {
        for (_, url, body) in routes(&format!("{n}.svg")) {
            let r = s.get(&url).await;
            if n <= 2 {
                assert_eq!(acceptable(&url, &r, body), 200, "{url}: {}", r.text());
            } else {
                let message = assert_error_for(&url, &r, 400, "InvalidImage");
                assert!(
                    message.contains("10800 pixels") && message.contains("limit of 10000"),
                    "{url}: {message}"
                );
            }
        }
    }
    // a rasterised SVG draws what it embeds
    let r = s.get("/2.svg?format=png").await;
    assert_rgb(&r.image("image/png"), 4, 4, RED, 2.0);
}

// ---------------------------------------------------------------- every format, broken

/// A deterministic xorshift generator for cut points and bit flips.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// 48x32 with edges and colours, so each format has real content to break.
fn picture() -> VipsImage {
    canvas(
        48,
        32,
        BLUE,
        &[
            (RED, 0, 0, 24, 16),
            (GREEN, 30, 10, 12, 20),
            (WHITE, 5, 20, 8, 8),
        ],
    )
}

/// Three frames of `picture` as one strip, for animated GIF and WebP.
fn animation() -> VipsImage {
    let frames = [
        picture(),
        picture()
            .flip(rs_vips::enums::Direction::Horizontal)
            .unwrap(),
        picture().invert().unwrap(),
    ];
    let mut strip =
        VipsImage::arrayjoin_with_opts(&frames, VOption::new().set("across", 1)).unwrap();
    strip.set_int("page-height", 32).unwrap();
    strip.set_array_int("delay", &[100, 100, 100]).unwrap();
    strip.set_int("loop", 0).unwrap();
    strip
}

fn avif(image: &VipsImage) -> Vec<u8> {
    image
        .heifsave_buffer_with_opts(VOption::new().set("compression", "av1").set("effort", 0))
        .unwrap()
}

/// A HEIC made with libheif's HEVC encoder (x265).
fn heic(image: &VipsImage) -> Vec<u8> {
    use libheif_rs::{
        Channel, ColorSpace, CompressionFormat, EncoderQuality, HeifContext, Image, LibHeif,
        RgbChroma,
    };
    let (w, h) = (image.get_width() as u32, image.get_height() as u32);
    let pixels = image.write_to_memory();
    let mut heif = Image::new(w, h, ColorSpace::Rgb(RgbChroma::Rgb)).unwrap();
    heif.create_plane(Channel::Interleaved, w, h, 8).unwrap();
    let planes = heif.planes_mut();
    let plane = planes.interleaved.unwrap();
    let row = w as usize * 3;
    for y in 0..h as usize {
        plane.data[y * plane.stride..y * plane.stride + row]
            .copy_from_slice(&pixels[y * row..(y + 1) * row]);
    }
    let lib = LibHeif::new();
    let mut encoder = lib.encoder_for_format(CompressionFormat::Hevc).unwrap();
    encoder.set_quality(EncoderQuality::Lossy(80)).unwrap();
    let mut context = HeifContext::new().unwrap();
    context.encode_image(&heif, &mut encoder, None).unwrap();
    let bytes = context.write_to_bytes().unwrap();
    assert_eq!(&bytes[4..12], b"ftypheic", "libheif wrote a HEIC");
    bytes
}

fn jxl_fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/jxl")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One original of every input format the service reads (name, bytes).
fn originals() -> Vec<(&'static str, Vec<u8>)> {
    let p = picture();
    let anim = animation();
    vec![
        ("jpeg", jpeg(&p, 85)),
        (
            "jpeg-progressive",
            p.jpegsave_buffer_with_opts(VOption::new().set("interlace", true))
                .unwrap(),
        ),
        ("png", png(&p)),
        (
            "png-interlaced",
            p.pngsave_buffer_with_opts(VOption::new().set("interlace", true))
                .unwrap(),
        ),
        ("webp", p.webpsave_buffer().unwrap()),
        (
            "webp-lossless",
            p.webpsave_buffer_with_opts(VOption::new().set("lossless", true))
                .unwrap(),
        ),
        ("webp-animated", anim.webpsave_buffer().unwrap()),
        ("gif", p.gifsave_buffer().unwrap()),
        ("gif-animated", anim.gifsave_buffer().unwrap()),
        ("avif", avif(&p)),
        ("tiff", p.tiffsave_buffer().unwrap()),
        (
            "tiff-deflate",
            p.tiffsave_buffer_with_opts(VOption::new().set("compression", "deflate"))
                .unwrap(),
        ),
        (
            "svg",
            svg_doc(&format!(
                r##"<rect width="8" height="4" fill="red"/><circle cx="4" cy="6" r="2" fill="#00f"/><image width="2" height="2" href="data:image/png;base64,{}"/><text x="0" y="8">é€𝄞</text>"##,
                b64(&tiny_png())
            ))
            .into_bytes(),
        ),
        ("heic", heic(&p)),
        ("jxl", jxl_fixture("halves-lossy.jxl")),
        ("jxl-container", jxl_fixture("halves-container.jxl")),
        ("jxl-alpha", jxl_fixture("alpha.jxl")),
    ]
}

/// Where to cut a file of `len` bytes: every point in the first 24 bytes
/// (signatures and headers), 16 evenly spaced ones, the last two, and 8
/// drawn by `rng`.
fn cut_points(len: usize, rng: &mut Rng) -> Vec<usize> {
    let mut cuts: Vec<usize> = (0..len.min(24)).collect();
    cuts.extend((1..16).map(|k| len * k / 16));
    cuts.extend([len.saturating_sub(2), len.saturating_sub(1)]);
    cuts.extend((0..8).map(|_| rng.below(len)));
    cuts.sort_unstable();
    cuts.dedup();
    cuts.retain(|&c| c < len);
    cuts
}

/// `bytes` with 1 to 4 bits flipped: for even seeds in the first 64 bytes
/// (the headers), for odd ones anywhere.
fn flipped(bytes: &[u8], seed: u64) -> Vec<u8> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ seed.wrapping_mul(0x2545_F491_4F6C_DD1D));
    let mut out = bytes.to_vec();
    let span = if seed.is_multiple_of(2) {
        out.len().min(64)
    } else {
        out.len()
    };
    for _ in 0..=rng.below(4) {
        let at = rng.below(span);
        out[at] ^= 1 << rng.below(8);
    }
    out
}

/// What is asked of each broken original, in turn: the original as it is,
/// a resize to another format, an edit that reads every pixel, its header.
const QUERIES: &[(&str, Body)] = &[
    ("", Body::Image),
    ("?width=20&format=png", Body::Image),
    (
        "?width=17&height=9&fit=fill&format=webp&grayscale=true",
        Body::Image,
    ),
    ("?info", Body::Info),
];

#[tokio::test]
async fn truncated_and_bit_flipped_originals_of_every_format_answer_200_or_4xx() {
    let dir = TempDir::new("adversarial-broken");
    let mut requests = Vec::new();
    for (format, whole) in originals() {
        let mut rng = Rng(0xC0FF_EE00 + whole.len() as u64);
        // the intact file is served: the cases below break a working original
        dir.write(&format!("{format}/whole"), &whole);
        requests.push((format!("/{format}/whole"), "", Body::Image, true));
        for (n, cut) in cut_points(whole.len(), &mut rng).into_iter().enumerate() {
            let key = format!("{format}/cut-{cut}");
            dir.write(&key, &whole[..cut]);
            let (query, body) = QUERIES[n % QUERIES.len()];
            requests.push((format!("/{key}{query}"), query, body, false));
        }
        for seed in 0..32u64 {
            let key = format!("{format}/flip-{seed}");
            dir.write(&key, &flipped(&whole, seed));
            let (query, body) = QUERIES[seed as usize % QUERIES.len()];
            requests.push((format!("/{key}{query}"), query, body, false));
        }
    }
    let s = Server::fs(config(), &dir).await;
    let mut tally = Tally::default();
    for (url, query, body, intact) in &requests {
        // an unedited SVG comes back as SVG
        let body = if url.starts_with("/svg/") && query.is_empty() {
            Body::Svg
        } else {
            *body
        };
        let r = s.get(url).await;
        let status = acceptable(url, &r, body);
        if *intact {
            assert_eq!(
                status,
                200,
                "{url}: the intact original works: {}",
                r.text()
            );
        }
        let format = url.split('/').nth(1).unwrap_or_default();
        tally.add(format, status);
    }
    eprintln!("{} requests: {:?}", requests.len(), tally.0);
    let health = s.get("/health").await;
    assert_eq!(health.status, 200, "the server still answers");
}
