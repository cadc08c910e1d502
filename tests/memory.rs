//! Memory bounds over HTTP: the bytes of the originals and overlays held at
//! once (`MAX_INFLIGHT_BYTES`) and the pixels one request decodes
//! (`MAX_INPUT_PIXELS`, the original's and every overlay's together).
//!
//! What must hold: a request whose original and overlays together exceed the
//! whole byte budget is refused with 413 before their bodies are all read;
//! requests beyond the budget wait for memory and are then served; the pixel
//! bound counts the overlays too.

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use common::*;
use image_handler::Config;
use rs_vips::VipsImage;
use rs_vips::voption::Setter;

fn b64(json: &str) -> String {
    format!(
        "/{}",
        base64::engine::general_purpose::STANDARD.encode(json)
    )
}

/// The configuration the environment `pairs` give.
fn config(pairs: &[(&str, String)]) -> Config {
    let map: HashMap<&str, String> = pairs.iter().cloned().collect();
    Config::from_lookup(|k| map.get(k).cloned()).expect("configuration")
}

/// A PNG of `w`x`h` noise: about 3 bytes per pixel, whatever the encoder.
fn noise_png(w: i32, h: i32) -> Vec<u8> {
    let band = || {
        VipsImage::gaussnoise(w, h)
            .unwrap()
            .cast(rs_vips::enums::BandFormat::Uchar)
            .unwrap()
    };
    let rgb = VipsImage::bandjoin(&[band(), band(), band()]).unwrap();
    let rgb = rgb
        .copy_with_opts(rs_vips::voption::VOption::new().set("interpretation", "srgb"))
        .unwrap();
    png(&rgb)
}

#[tokio::test]
async fn a_request_over_the_whole_byte_budget_is_413() {
    init_vips();
    let dir = TempDir::new("memory-budget");
    let (base, mark) = (noise_png(300, 300), noise_png(200, 200));
    dir.write("base.png", &base);
    dir.write("mark.png", &mark);
    // Room for the original and half the overlay.
    let budget = base.len() + mark.len() / 2;
    let config = config(&[
        ("MAX_SOURCE_BYTES", base.len().to_string()),
        ("MAX_INFLIGHT_BYTES", budget.to_string()),
    ]);
    assert_eq!(config.max_inflight_bytes, budget as u64);
    let s = Server::fs(config, &dir).await;

    let alone = s
        .get(&b64(
            r#"{"key":"base.png","edits":{"resize":{"width":50}}}"#,
        ))
        .await;
    assert_size(&alone.image("image/png"), 50, 50);
    let both = s
        .get(&b64(
            r#"{"key":"base.png","edits":{"overlayWith":{"key":"mark.png"}}}"#,
        ))
        .await;
    let message = assert_error_for("original and overlay", &both, 413, "SourceTooLarge");
    assert!(
        message.contains(&format!("{}", budget.div_ceil(1024) * 1024)),
        "{message}"
    );
    // the memory came back: the next request is served
    let again = s
        .get(&b64(
            r#"{"key":"base.png","edits":{"resize":{"width":40}}}"#,
        ))
        .await;
    assert_size(&again.image("image/png"), 40, 40);
}

#[tokio::test]
async fn requests_beyond_the_byte_budget_wait_and_are_served() {
    init_vips();
    let dir = TempDir::new("memory-wait");
    let base = noise_png(300, 300);
    dir.write("base.png", &base);
    // Memory for one original at a time, and a queue for every request.
    let config = config(&[
        ("MAX_SOURCE_BYTES", base.len().to_string()),
        ("MAX_INFLIGHT_BYTES", base.len().to_string()),
        ("TRANSFORM_CONCURRENCY", "2".into()),
        ("TRANSFORM_QUEUE_SIZE", "16".into()),
    ]);
    let s = Arc::new(Server::fs(config, &dir).await);
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.get(&format!("/base.png?width={}", 20 + i)).await })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        let r = t.await.unwrap();
        assert_size(&r.image("image/png"), 20 + i as i32, 20 + i as i32);
    }
    assert_eq!(s.get("/health").await.status, 200);
}

#[tokio::test]
async fn the_pixel_bound_counts_the_original_and_every_overlay() {
    init_vips();
    let dir = TempDir::new("memory-pixels");
    dir.write("base.png", &png(&canvas(30, 30, RED, &[])));
    dir.write("mark.png", &png(&canvas(20, 20, BLUE, &[])));
    let overlaid = |with: bool| {
        let edits = if with {
            r#"{"overlayWith":{"key":"mark.png"}}"#
        } else {
            "{}"
        };
        b64(&format!(r#"{{"key":"base.png","edits":{edits}}}"#))
    };
    // 900 + 400 pixels: each under 1000, together over it
    let tight = Server::fs(config(&[("MAX_INPUT_PIXELS", "1000".into())]), &dir).await;
    assert_size(
        &tight.get(&overlaid(false)).await.image("image/png"),
        30,
        30,
    );
    let r = tight.get(&overlaid(true)).await;
    let message = assert_error_for("original and overlay", &r, 413, "TooManyPixels");
    assert!(
        message.contains("1300"),
        "the pixels counted together: {message}"
    );
    let roomy = Server::fs(config(&[("MAX_INPUT_PIXELS", "1300".into())]), &dir).await;
    let img = roomy.get(&overlaid(true)).await.image("image/png");
    assert_size(&img, 30, 30);
    assert_rgb(&img, 15, 15, BLUE, 10.0);
    assert_rgb(&img, 27, 27, RED, 10.0);
}
