//! Memory bounds over HTTP: the pixels one request decodes
//! (`MAX_INPUT_PIXELS`, the original's and every overlay's together).

mod common;

use std::collections::HashMap;

use base64::Engine as _;
use common::*;
use image_handler::Config;

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
