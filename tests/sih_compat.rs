//! Behaviours where SIH's own test suite and ours disagreed and SIH's answer
//! is the compatible one (issue 20), each over HTTP as a migrating user
//! would meet it.

mod common;

use base64::Engine as _;
use common::*;
use image_handler::Config;

fn b64(json: &str) -> String {
    format!(
        "/{}",
        base64::engine::general_purpose::STANDARD.encode(json)
    )
}

async fn server(name: &str) -> (Server, TempDir) {
    let dir = TempDir::new(name);
    standard_fixtures(&dir);
    dir.write("dot.png", &png(&canvas(10, 10, RED, &[])));
    (Server::fs(Config::default(), &dir).await, dir)
}

/// 1. `expires` holds without signing: SIH always checks it.
#[tokio::test]
async fn expires_is_checked_without_signing() {
    let (s, _dir) = server("compat-expires").await;
    for (query, code) in [
        ("expires=20200101T000000Z", "ImageRequestExpired"),
        ("width=10&expires=20200101T000000Z", "ImageRequestExpired"),
        ("expires=tomorrow", "ImageRequestExpiryFormat"),
        ("expires=2026é124T120000Z", "ImageRequestExpiryFormat"),
        ("expires=", "ImageRequestExpiryFormat"),
    ] {
        let r = s.get(&format!("/quad.png?{query}")).await;
        assert_eq!((r.status, error_code(&r).as_str()), (400, code), "{query}");
    }
    // a valid one is served, and caps the cache lifetime
    let r = s.get("/quad.png?width=10&expires=20991231T235959Z").await;
    assert_eq!(r.status, 200);
    let cc = r.header("cache-control").unwrap_or_default();
    let max_age: u64 = cc
        .split(',')
        .find_map(|d| d.trim().strip_prefix("max-age="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX);
    assert!(max_age <= 31_536_000, "{cc}");
    // thumbor paths with a query: the query (and its expires) applies as before
    let r = s
        .get("/fit-in/10x10/quad.png?expires=20200101T000000Z")
        .await;
    assert_eq!(error_code(&r), "ImageRequestExpired");
}

/// 3. An unknown thumbor format is ignored: the source's format is kept.
#[tokio::test]
async fn unknown_thumbor_formats_keep_the_source_format() {
    let (s, _dir) = server("compat-format").await;
    for path in [
        "/filters:format(test)/quad.png",
        "/filters:format()/quad.png",
        "/fit-in/50x50/filters:format(bmp):grayscale()/quad.png",
    ] {
        let r = s.get(path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        r.image("image/png");
    }
    // heif stays refused, and the query style stays strict (docs/url-api.md)
    assert_eq!(s.get("/filters:format(heif)/quad.png").await.status, 400);
    assert_eq!(s.get("/quad.png?format=test").await.status, 400);
}

/// 4. A watermark position that cannot be read is dropped: the overlay is
/// drawn at the default place (centred) rather than refused.
#[tokio::test]
async fn unreadable_watermark_positions_fall_back_to_the_centre() {
    let (s, _dir) = server("compat-watermark").await;
    let r = s.get("/filters:watermark(,dot.png,x,x,0)/quad.png").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let img = r.image("image/png");
    // the red 10x10 dot sits in the middle of the 200x100 quadrant image
    assert_rgb(&img, 100, 50, RED, 1.0);
    assert_rgb(&img, 150, 80, BLUE, 1.0);
    let r = s.get("/filters:watermark(,dot.png,0,y,0)/quad.png").await;
    assert_eq!(r.status, 200, "{}", r.text());
    let img = r.image("image/png");
    assert_rgb(&img, 5, 50, RED, 1.0);
    assert_rgb(&img, 150, 80, BLUE, 1.0);
}

/// 5. Overlay offsets in fractional percent are accepted (truncated as SIH's
/// `parseInt` reads them).
#[tokio::test]
async fn fractional_percent_offsets_are_accepted() {
    let (s, _dir) = server("compat-percent").await;
    let r = s
        .get(&b64(
            r#"{"key":"quad.png","edits":{"overlayWith":{"key":"dot.png","options":{"left":"75.9p","top":"50.5p"}}}}"#,
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let img = r.image("image/png");
    // 75% of 200 is 150, 50% of 100 is 50
    assert_rgb(&img, 152, 52, RED, 1.0);
    assert_rgb(&img, 148, 48, BLUE, 1.0);
}

/// 6. SIH JSON booleans given as the strings "true" and "false".
#[tokio::test]
async fn boolean_edits_take_true_and_false_strings() {
    let (s, _dir) = server("compat-bool").await;
    let r = s
        .get(&b64(
            r#"{"key":"quad.png","edits":{"grayscale":"true","flop":"false"}}"#,
        ))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let img = r.image("image/png");
    let [r0, g0, b0] = rgb(&img, 150, 80);
    assert!((r0 - g0).abs() < 2.0 && (g0 - b0).abs() < 2.0, "gray");
    // other strings stay a clear 400 naming the edit
    let r = s
        .get(&b64(r#"{"key":"quad.png","edits":{"grayscale":"yes"}}"#))
        .await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (400, "InvalidParameter")
    );
    assert!(r.json()["message"].as_str().unwrap().contains("grayscale"));
}

/// 2. Rotation by any angle: the canvas grows to hold the turned image and
/// the corners are filled with opaque black (sharp's default), in every style.
#[tokio::test]
async fn rotation_by_any_angle() {
    let (s, dir) = server("compat-rotate").await;
    for (url, degrees) in [
        ("/filters:rotate(75)/quad.png".to_string(), 75.0),
        ("/quad.png?rotate=-30.5".to_string(), -30.5),
        (b64(r#"{"key":"quad.png","edits":{"rotate":45}}"#), 45.0),
    ] {
        let r = s.get(&url).await;
        assert_eq!(r.status, 200, "{url}: {}", r.text());
        let img = r.image("image/png");
        let (w, h) = image_handler::request::Rotation::from_degrees("r", degrees)
            .unwrap()
            .unwrap()
            .turned_size(200, 100);
        assert!(
            (img.get_width() - w as i32).abs() <= 2 && (img.get_height() - h as i32).abs() <= 2,
            "{url}: {}x{}, expected about {w}x{h}",
            img.get_width(),
            img.get_height()
        );
        // a corner is padding, the centre is the picture (blue there)
        assert_rgb(&img, 0, 0, [0.0, 0.0, 0.0], 1.0);
        assert_rgb(
            &img,
            img.get_width() / 2 + 20,
            img.get_height() / 2 + 5,
            BLUE,
            40.0,
        );
    }
    // a canvas that would outgrow the output limit is refused, not drawn
    dir.write("big.png", &png(&canvas(4000, 4000, BLUE, &[])));
    let r = s.get("/big.png?rotate=45").await;
    assert_eq!(
        (r.status, error_code(&r).as_str()),
        (400, "InvalidParameter")
    );
}
