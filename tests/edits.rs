mod common;

// End-to-end tests of each edit's pixel work, through the real server and
// through at least one URL style each (thumbor filters and/or default-request
// JSON edits): extract, extend, trim, normalize, negate, tint, linear,
// convolve, scale, blur, `max_bytes`, lossless and per-request-effort WebP,
// query parameters on top of both styles, unsupported edits, and 16-bit
// originals edited on the same 0 to 255 scale.

use base64::Engine;
use common::*;
use image_handler::Config;
use rs_vips::VipsImage;
use rs_vips::enums::{BandFormat, Interpretation};
use rs_vips::voption::{Setter, VOption};

const BLACK: [f64; 3] = [0.0, 0.0, 0.0];
const CYAN: [f64; 3] = [0.0, 255.0, 255.0];
const YELLOW: [f64; 3] = [255.0, 255.0, 0.0];

/// A default request's path: `/` and the standard base64 of `json`.
fn b64(json: &str) -> String {
    format!(
        "/{}",
        base64::engine::general_purpose::STANDARD.encode(json)
    )
}

/// The path of a default request for `key` with `edits` (a JSON object's text).
fn edit(key: &str, edits: &str) -> String {
    b64(&format!(r#"{{"key":"{key}","edits":{edits}}}"#))
}

fn grey(v: f64) -> [f64; 3] {
    [v, v, v]
}

/// A server over a fresh directory holding the standard fixtures and `files`.
async fn server(name: &str, files: &[(&str, Vec<u8>)]) -> (Server, TempDir) {
    let dir = TempDir::new(&format!("edits-{name}"));
    standard_fixtures(&dir);
    for (path, bytes) in files {
        dir.write(path, bytes);
    }
    (Server::fs(Config::default(), &dir).await, dir)
}

/// The largest difference between any two samples of two images of the same shape.
fn max_diff(a: &VipsImage, b: &VipsImage) -> f64 {
    assert_eq!(
        (a.get_width(), a.get_height(), a.get_bands()),
        (b.get_width(), b.get_height(), b.get_bands()),
        "images to compare differ in shape"
    );
    let a = a.cast(BandFormat::Double).expect("cast");
    let b = b.cast(BandFormat::Double).expect("cast");
    a.subtract(&b)
        .and_then(|d| d.abs())
        .and_then(|d| d.max())
        .expect("difference")
}

/// CIE L* (0 to 100) at (x, y).
fn lightness(image: &VipsImage, x: i32, y: i32) -> f64 {
    image
        .colourspace(Interpretation::Lab)
        .and_then(|lab| lab.getpoint(x, y))
        .expect("lab")[0]
}

// ---------------------------------------------------------------- fixtures

/// 100x80 white with a 60x40 red rectangle at (20, 20).
fn bordered() -> VipsImage {
    canvas(100, 80, WHITE, &[(RED, 20, 20, 60, 40)])
}

/// 100x80 blue with a green band over the top 10 rows and a 60x40 red
/// rectangle at (20, 20): the top-left and bottom-right corners differ.
fn two_corners() -> VipsImage {
    canvas(
        100,
        80,
        BLUE,
        &[(GREEN, 0, 0, 100, 10), (RED, 20, 20, 60, 40)],
    )
}

/// 100x50 low-contrast grey: 100 on the left, 125 in a middle band (x 40 to
/// 59), 150 on the right (x 60 on).
fn low_contrast() -> VipsImage {
    canvas(
        100,
        50,
        grey(100.0),
        &[(grey(125.0), 40, 0, 20, 50), (grey(150.0), 60, 0, 40, 50)],
    )
}

/// 40x20, black on the left half and white on the right half (a sharp edge at x = 20).
fn edge() -> VipsImage {
    canvas(40, 20, BLACK, &[(WHITE, 20, 0, 20, 20)])
}

/// 100x50 grey: 50 on the left half, 200 on the right half.
fn steps() -> VipsImage {
    canvas(100, 50, grey(50.0), &[(grey(200.0), 50, 0, 50, 50)])
}

/// A 64x48 RGB image where nearly every pixel differs from its neighbours.
fn pattern() -> VipsImage {
    init_vips();
    let (w, h) = (64usize, 48usize);
    let mut bytes = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            bytes.push((x * 4) as u8);
            bytes.push((y * 5) as u8);
            bytes.push(((x * 7 + y * 13) % 256) as u8);
        }
    }
    VipsImage::new_from_memory_copy(&bytes, w as i32, h as i32, 3, BandFormat::Uchar)
        .and_then(|i| i.copy_with_opts(VOption::new().set("interpretation", "srgb")))
        .expect("pattern")
}

/// The quadrant image with alpha 200 everywhere.
fn quadrant_alpha_200() -> Vec<u8> {
    png(&quadrant().bandjoin_const(&[200.0]).expect("bandjoin"))
}

/// `image` (8-bit sRGB, with or without alpha) as a 16-bit PNG without a profile.
fn png16(image: &VipsImage) -> Vec<u8> {
    let wide = image
        .cast(BandFormat::Ushort)
        .and_then(|i| i.linear(&[257.0], &[0.0]))
        .and_then(|i| i.cast(BandFormat::Ushort))
        .and_then(|i| i.copy_with_opts(VOption::new().set("interpretation", "rgb16")))
        .expect("16-bit");
    let bytes = png(&wide);
    let check = decode(&bytes);
    assert_eq!(check.get_format().expect("format"), BandFormat::Ushort);
    assert_eq!(check.get_typeof("icc-profile-data").expect("typeof"), 0);
    bytes
}

/// A one-band (grayscale) PNG of mid grey.
fn mid_grey_bw_png() -> Vec<u8> {
    let bw = canvas(60, 40, grey(128.0), &[])
        .colourspace(Interpretation::BW)
        .expect("bw");
    assert_eq!(bw.get_bands(), 1);
    png(&bw)
}

// ---------------------------------------------------------------- extract

#[tokio::test]
async fn extract_and_thumbor_crop_cut_out_the_same_region() {
    let (s, _dir) = server("extract", &[]).await;
    // 20x20 around the corner of the red quadrant (red is x < 100, y < 50)
    for path in [
        edit(
            "quad.png",
            r#"{"extract":{"left":90,"top":40,"width":20,"height":20}}"#,
        ),
        edit(
            "quad.png",
            r#"{"crop":{"left":90,"top":40,"width":20,"height":20}}"#,
        ),
        "/90x40:110x60/quad.png".to_string(),
    ] {
        let img = s.get(&path).await.image("image/png");
        assert_size(&img, 20, 20);
        assert_rgb(&img, 9, 9, RED, 0.0);
        assert_rgb(&img, 10, 9, BLUE, 0.0);
        assert_rgb(&img, 9, 10, BLUE, 0.0);
        assert_rgb(&img, 19, 19, BLUE, 0.0);
        assert_rgb(&img, 0, 0, RED, 0.0);
    }
    // the thumbor crop is in the original's coordinates, before the resize
    let img = s
        .get("/100x0:200x50/50x0/quad.png")
        .await
        .image("image/png");
    assert_size(&img, 50, 25);
    assert_rgb(&img, 25, 12, BLUE, 0.0);

    // a region reaching outside the 200x100 image is refused, naming the edit
    for path in [
        edit(
            "quad.png",
            r#"{"extract":{"left":150,"top":0,"width":100,"height":10}}"#,
        ),
        edit(
            "quad.png",
            r#"{"extract":{"left":0,"top":100,"width":1,"height":1}}"#,
        ),
        "/150x0:250x10/quad.png".to_string(),
        "/0x0:200x101/quad.png".to_string(),
    ] {
        let message = assert_error(&s.get(&path).await, 400, "InvalidParameter");
        assert!(
            message.contains("extract") && message.contains("200x100"),
            "{path}: {message}"
        );
    }
}

// ---------------------------------------------------------------- extend

#[tokio::test]
async fn extend_adds_borders_of_the_background_colour() {
    let (s, _dir) = server("extend", &[]).await;

    let img = s
        .get(&edit(
            "quad.png",
            r##"{"extend":{"top":10,"left":5,"background":"#00ff00"}}"##,
        ))
        .await
        .image("image/png");
    assert_size(&img, 205, 110);
    assert_rgb(&img, 2, 60, GREEN, 0.0);
    assert_rgb(&img, 100, 5, GREEN, 0.0);
    assert_rgb(&img, 5, 10, RED, 0.0);
    assert_rgb(&img, 4, 10, GREEN, 0.0);
    assert_rgb(&img, 204, 109, BLUE, 0.0);
    assert_eq!(alpha(&img, 2, 60), None, "an opaque border needs no alpha");

    // no background: sharp's opaque black, on every side for a number
    let img = s
        .get(&edit("quad.png", r#"{"extend":3}"#))
        .await
        .image("image/png");
    assert_size(&img, 206, 106);
    for (x, y) in [(0, 0), (1, 50), (205, 105), (100, 104)] {
        assert_rgb(&img, x, y, BLACK, 0.0);
    }
    assert_eq!(alpha(&img, 0, 0), None);
    assert_rgb(&img, 3, 3, RED, 0.0);

    // a transparent background is transparent in PNG ...
    let transparent = r#""extend":{"bottom":16,"right":16,"background":"transparent"}"#;
    let img = s
        .get(&edit("quad.png", &format!("{{{transparent}}}")))
        .await
        .image("image/png");
    assert_size(&img, 216, 116);
    assert_eq!(alpha(&img, 100, 105), Some(0.0));
    assert_eq!(alpha(&img, 210, 50), Some(0.0));
    assert_eq!(alpha(&img, 50, 25), Some(255.0));
    assert_rgb(&img, 50, 25, RED, 0.0);
    assert_rgb(&img, 150, 75, BLUE, 0.0);

    // ... and white once the output is JPEG, which has no alpha
    let img = s
        .get(&edit(
            "quad.png",
            &format!(r#"{{{transparent},"toFormat":"jpeg"}}"#),
        ))
        .await
        .image("image/jpeg");
    assert_size(&img, 216, 116);
    assert_eq!(img.get_bands(), 3);
    assert_rgb(&img, 100, 110, WHITE, 3.0);
    assert_rgb(&img, 210, 20, WHITE, 3.0);
    assert_rgb(&img, 50, 25, RED, 12.0);
    assert_rgb(&img, 150, 75, BLUE, 12.0);
}

// ---------------------------------------------------------------- trim

#[tokio::test]
async fn trim_removes_a_uniform_border() {
    let (s, _dir) = server(
        "trim",
        &[
            ("bordered.png", png(&bordered())),
            ("bordered.jpg", jpeg(&bordered(), 90)),
            ("corners.png", png(&two_corners())),
            ("plain.png", png(&canvas(50, 30, WHITE, &[]))),
        ],
    )
    .await;

    // exactly the inner 60x40 rectangle, with no white left
    for path in [
        edit("bordered.png", r#"{"trim":true}"#),
        edit("bordered.png", r#"{"trim":{"threshold":0}}"#),
        "/trim/bordered.png".to_string(),
        "/trim:top-left/bordered.png".to_string(),
    ] {
        let img = s.get(&path).await.image("image/png");
        assert_size(&img, 60, 40);
        for (x, y) in [(0, 0), (59, 0), (0, 39), (59, 39), (30, 20)] {
            assert_rgb(&img, x, y, RED, 0.0);
        }
    }
    // JPEG noise around the edges stays within sharp's default threshold
    let img = s
        .get(&edit("bordered.jpg", r#"{"trim":true,"toFormat":"png"}"#))
        .await
        .image("image/png");
    assert_size(&img, 60, 40);

    // top-left is green: everything below the band is content
    let img = s.get("/trim/corners.png").await.image("image/png");
    assert_size(&img, 100, 70);
    assert_rgb(&img, 0, 0, BLUE, 0.0);
    assert_rgb(&img, 50, 30, RED, 0.0);
    // bottom-right is blue: the green band and the red rectangle are content
    for path in [
        "/trim:bottom-right/corners.png".to_string(),
        edit("corners.png", r##"{"trim":{"background":"#0000ff"}}"##),
    ] {
        let img = s.get(&path).await.image("image/png");
        assert_size(&img, 100, 60);
        assert_rgb(&img, 0, 0, GREEN, 0.0);
        assert_rgb(&img, 50, 59, RED, 0.0);
        assert_rgb(&img, 5, 59, BLUE, 0.0);
    }

    // an image that is all background is left as it is
    for path in [
        edit("plain.png", r#"{"trim":true}"#),
        "/trim/plain.png".to_string(),
        "/trim:bottom-right/plain.png".to_string(),
    ] {
        let img = s.get(&path).await.image("image/png");
        assert_size(&img, 50, 30);
        assert_rgb(&img, 25, 15, WHITE, 0.0);
    }
}

// ---------------------------------------------------------------- normalize

#[tokio::test]
async fn normalize_stretches_low_contrast_to_the_full_range() {
    let (s, _dir) = server("normalize", &[("low.png", png(&low_contrast()))]).await;
    for path in [
        edit("low.png", r#"{"normalize":true}"#),
        edit("low.png", r#"{"normalise":true}"#),
        "/filters:equalize()/low.png".to_string(),
    ] {
        let img = s.get(&path).await.image("image/png");
        assert_size(&img, 100, 50);
        assert_rgb(&img, 10, 25, grey(0.0), 2.0);
        assert_rgb(&img, 90, 25, grey(255.0), 2.0);
        // linear in between: 125 is half-way from 100 to 150
        assert_rgb(&img, 50, 25, grey(127.5), 2.0);
    }
    // without the edit nothing moves
    let img = s.get("/low.png").await.image("image/png");
    assert_rgb(&img, 10, 25, grey(100.0), 0.0);
    assert_rgb(&img, 90, 25, grey(150.0), 0.0);
}

// ---------------------------------------------------------------- negate

#[tokio::test]
async fn negate_inverts_colours_and_optionally_alpha() {
    let (s, _dir) = server(
        "negate",
        &[
            ("alpha200.png", quadrant_alpha_200()),
            ("low.png", png(&low_contrast())),
        ],
    )
    .await;

    let img = s
        .get(&edit("quad.png", r#"{"negate":true}"#))
        .await
        .image("image/png");
    assert_rgb(&img, 10, 10, CYAN, 0.0);
    assert_rgb(&img, 150, 75, YELLOW, 0.0);

    // RGBA: alpha is kept with {"alpha":false}, inverted otherwise (sharp's default)
    for (edits, expected_alpha) in [
        (r#"{"negate":{"alpha":false}}"#, 200.0),
        (r#"{"negate":{"alpha":true}}"#, 55.0),
        (r#"{"negate":{}}"#, 55.0),
        (r#"{"negate":true}"#, 55.0),
    ] {
        let img = s.get(&edit("alpha200.png", edits)).await.image("image/png");
        assert_eq!(img.get_bands(), 4, "{edits}");
        assert_rgb(&img, 10, 10, CYAN, 0.0);
        assert_rgb(&img, 150, 75, YELLOW, 0.0);
        assert_eq!(alpha(&img, 10, 10), Some(expected_alpha), "{edits}");
        assert_eq!(alpha(&img, 150, 75), Some(expected_alpha), "{edits}");
    }

    // after an edit that leaves the pixels as floats, the colours still invert
    let img = s
        .get(&edit("quad.png", r#"{"linear":[1,0],"negate":true}"#))
        .await
        .image("image/png");
    assert_rgb(&img, 10, 10, CYAN, 1.0);
    assert_rgb(&img, 150, 75, YELLOW, 1.0);
    let img = s
        .get(&edit("low.png", r#"{"normalize":true,"negate":true}"#))
        .await
        .image("image/png");
    assert_rgb(&img, 10, 25, grey(255.0), 2.0);
    assert_rgb(&img, 90, 25, grey(0.0), 2.0);
    let img = s
        .get(&edit(
            "alpha200.png",
            r#"{"linear":[1,0],"negate":{"alpha":true}}"#,
        ))
        .await
        .image("image/png");
    assert_rgb(&img, 10, 10, CYAN, 1.0);
    assert_eq!(alpha(&img, 10, 10), Some(55.0));
}

// ---------------------------------------------------------------- tint

#[tokio::test]
async fn tint_colours_grey_and_keeps_its_lightness() {
    let (s, _dir) = server("tint", &[("grey.png", mid_grey_bw_png())]).await;
    let original = s.get("/grey.png").await.image("image/png");
    let l_before = lightness(&original, 30, 20);
    assert!((l_before - 53.6).abs() < 1.0, "L* of mid grey {l_before}");

    for path in [
        edit("grey.png", r##"{"tint":"#ff0000"}"##),
        edit("grey.png", r#"{"tint":{"r":255,"g":0,"b":0}}"#),
        "/filters:rgb(100,0,0)/grey.png".to_string(),
    ] {
        let img = s.get(&path).await.image("image/png");
        assert_size(&img, 60, 40);
        assert_eq!(img.get_bands(), 3, "{path}: a tinted image is in colour");
        let [r, g, b] = rgb(&img, 30, 20);
        assert!(
            r > g + 40.0 && r > b + 40.0,
            "{path}: tinted red is {r} {g} {b}"
        );
        let l_after = lightness(&img, 30, 20);
        assert!(
            (l_after - l_before).abs() < 6.0,
            "{path}: L* {l_before} became {l_after}"
        );
    }
    // a blue tint is blue
    let [r, g, b] = rgb(
        &s.get("/filters:rgb(0,0,100)/grey.png")
            .await
            .image("image/png"),
        30,
        20,
    );
    assert!(b > r + 40.0 && b > g + 40.0, "tinted blue is {r} {g} {b}");
}

// ---------------------------------------------------------------- linear

#[tokio::test]
async fn linear_brightness_and_contrast() {
    let (s, _dir) = server(
        "linear",
        &[
            ("steps.png", png(&steps())),
            ("alpha200.png", quadrant_alpha_200()),
        ],
    )
    .await;
    let at = |img: &VipsImage| (rgb(img, 25, 25), rgb(img, 75, 25));

    // brightness(50) adds half of the range: 50 → 177.5, 200 → clipped at 255
    let img = s
        .get("/filters:brightness(50)/steps.png")
        .await
        .image("image/png");
    assert_rgb(&img, 25, 25, grey(177.5), 1.0);
    assert_rgb(&img, 75, 25, grey(255.0), 0.0);
    // brightness(-20) darkens: 50 → 0, 200 → 149
    let img = s
        .get("/filters:brightness(-20)/steps.png")
        .await
        .image("image/png");
    assert_rgb(&img, 25, 25, grey(0.0), 0.0);
    assert_rgb(&img, 75, 25, grey(149.0), 1.0);
    // contrast(-50) halves the distance to mid grey: 50 → 89, 200 → 164
    let img = s
        .get("/filters:contrast(-50)/steps.png")
        .await
        .image("image/png");
    assert_rgb(&img, 25, 25, grey(89.0), 1.0);
    assert_rgb(&img, 75, 25, grey(164.0), 1.0);
    // contrast(50) pushes them apart: 50 → 11, 200 → 236
    let img = s
        .get("/filters:contrast(50)/steps.png")
        .await
        .image("image/png");
    assert_rgb(&img, 25, 25, grey(11.0), 1.0);
    assert_rgb(&img, 75, 25, grey(236.0), 1.0);

    // JSON: [a, b], {a, b} and a bare a
    for (edits, low, high) in [
        (r#"{"linear":[0.5,10]}"#, 35.0, 110.0),
        (r#"{"linear":{"a":1.2,"b":-20}}"#, 40.0, 220.0),
        (r#"{"linear":{"b":30}}"#, 80.0, 230.0),
        (r#"{"linear":0.5}"#, 25.0, 100.0),
    ] {
        let img = s.get(&edit("steps.png", edits)).await.image("image/png");
        let (l, h) = at(&img);
        assert!(
            (l[0] - low).abs() <= 1.0 && (h[0] - high).abs() <= 1.0,
            "{edits}: {l:?} {h:?}, expected {low} and {high}"
        );
    }

    // alpha is not touched
    let img = s
        .get("/filters:brightness(100)/alpha200.png")
        .await
        .image("image/png");
    assert_rgb(&img, 10, 10, [255.0, 255.0, 255.0], 0.0);
    assert_eq!(alpha(&img, 10, 10), Some(200.0));
}

// ---------------------------------------------------------------- convolve

#[tokio::test]
async fn convolve_with_identity_and_box_kernels() {
    let (s, _dir) = server(
        "convolve",
        &[("edge.png", png(&edge())), ("pattern.png", png(&pattern()))],
    )
    .await;
    let source = pattern();

    for path in [
        "/filters:convolution(0;0;0;0;1;0;0;0;0,3,false)/pattern.png".to_string(),
        "/filters:convolution(0;0;0;0;1;0;0;0;0,3)/pattern.png".to_string(),
        edit(
            "pattern.png",
            r#"{"convolve":{"width":3,"height":3,"kernel":[0,0,0,0,1,0,0,0,0]}}"#,
        ),
        edit(
            "pattern.png",
            r#"{"convolve":{"width":1,"height":1,"kernel":[1]}}"#,
        ),
    ] {
        let img = s.get(&path).await.image("image/png");
        assert_eq!(max_diff(&img, &source), 0.0, "{path}");
    }

    // a 3x3 box blur softens the black-white edge at x = 20 to thirds
    for path in [
        "/filters:convolution(1;1;1;1;1;1;1;1;1,3)/edge.png".to_string(),
        "/filters:convolution(1;1;1;1;1;1;1;1;1,3,true)/edge.png".to_string(),
        edit(
            "edge.png",
            r#"{"convolve":{"width":3,"height":3,"kernel":[1,1,1,1,1,1,1,1,1]}}"#,
        ),
    ] {
        let img = s.get(&path).await.image("image/png");
        assert_size(&img, 40, 20);
        assert_rgb(&img, 10, 10, grey(0.0), 0.0);
        assert_rgb(&img, 18, 10, grey(0.0), 0.0);
        assert_rgb(&img, 19, 10, grey(85.0), 1.0);
        assert_rgb(&img, 20, 10, grey(170.0), 1.0);
        assert_rgb(&img, 21, 10, grey(255.0), 0.0);
        assert_rgb(&img, 30, 10, grey(255.0), 0.0);
    }
    // JSON scale and offset: out = sum / scale + offset
    let img = s
        .get(&edit(
            "edge.png",
            r#"{"convolve":{"width":3,"height":3,"kernel":[0,0,0,0,1,0,0,0,0],"scale":2,"offset":10}}"#,
        ))
        .await
        .image("image/png");
    assert_rgb(&img, 10, 10, grey(10.0), 0.0);
    assert_rgb(&img, 30, 10, grey(137.5), 1.0);
}

// ---------------------------------------------------------------- proportion

#[tokio::test]
async fn proportion_scales_the_image_or_the_requested_size() {
    let (s, _dir) = server("proportion", &[]).await;

    let img = s
        .get("/filters:proportion(0.5)/quad.png")
        .await
        .image("image/png");
    assert_size(&img, 100, 50);
    assert_rgb(&img, 20, 10, RED, 1.0);
    assert_rgb(&img, 80, 40, BLUE, 1.0);
    assert_rgb(&img, 80, 10, BLUE, 1.0);

    // with a size, the size is multiplied
    let img = s
        .get("/fit-in/100x100/filters:proportion(0.5)/quad.png")
        .await
        .image("image/png");
    assert_size(&img, 50, 25);
    let img = s
        .get("/60x0/filters:proportion(0.5)/quad.png")
        .await
        .image("image/png");
    assert_size(&img, 30, 15);
    let img = s
        .get("/80x80/filters:proportion(0.25)/quad.png")
        .await
        .image("image/png");
    assert_size(&img, 20, 20);
    // 1 is the whole image
    assert_size(
        &s.get("/filters:proportion(1)/quad.png")
            .await
            .image("image/png"),
        200,
        100,
    );
    // above 1 is refused
    assert_error(
        &s.get("/filters:proportion(2)/quad.png").await,
        400,
        "InvalidParameter",
    );
}

// ---------------------------------------------------------------- max_bytes

#[tokio::test]
async fn max_bytes_lowers_jpeg_quality_until_the_output_fits() {
    let (s, _dir) = server("max-bytes", &[("photos/dune.jpg", sample("dune.jpg"))]).await;
    let plain = s.get("/400x0/photos/dune.jpg").await;
    assert_size(&plain.image("image/jpeg"), 400, 250);

    let limit = plain.body.len() / 2;
    let fitted = s
        .get(&format!(
            "/400x0/filters:max_bytes({limit})/photos/dune.jpg"
        ))
        .await;
    assert_size(&fitted.image("image/jpeg"), 400, 250);
    assert!(
        fitted.body.len() <= limit && fitted.body.len() < plain.body.len(),
        "max_bytes({limit}) gave {} bytes (without it: {})",
        fitted.body.len(),
        plain.body.len()
    );
    // the best quality that fits: well above quality 1
    let q1 = s.get("/400x0/filters:quality(1)/photos/dune.jpg").await;
    assert!(fitted.body.len() > q1.body.len());

    // nothing fits: the quality-1 output
    let tiny = s.get("/400x0/filters:max_bytes(100)/photos/dune.jpg").await;
    assert_size(&tiny.image("image/jpeg"), 400, 250);
    assert!(tiny.body.len() > 100);
    assert_eq!(tiny.body, q1.body, "max_bytes(100) is the quality-1 output");

    // a limit that the default quality already meets changes nothing
    let roomy = s
        .get("/400x0/filters:max_bytes(10000000)/photos/dune.jpg")
        .await;
    assert_eq!(roomy.body, plain.body);

    // the quality filter is where the search starts
    let q50 = s.get("/400x0/filters:quality(50)/photos/dune.jpg").await;
    let capped = s
        .get(&format!(
            "/400x0/filters:quality(50):max_bytes({})/photos/dune.jpg",
            q50.body.len()
        ))
        .await;
    assert_eq!(capped.body, q50.body);

    // WebP output is fitted too
    let webp = s.get("/400x0/filters:format(webp)/photos/dune.jpg").await;
    assert!(is_webp(&webp.body));
    let limit = webp.body.len() / 2;
    let fitted = s
        .get(&format!(
            "/400x0/filters:format(webp):max_bytes({limit})/photos/dune.jpg"
        ))
        .await;
    assert_size(&fitted.image("image/webp"), 400, 250);
    assert!(
        fitted.body.len() <= limit,
        "{} > {limit}",
        fitted.body.len()
    );
}

// ---------------------------------------------------------------- webp

#[tokio::test]
async fn lossless_webp_keeps_every_pixel() {
    let (s, _dir) = server("lossless", &[("pattern.png", png(&pattern()))]).await;
    let source = pattern();
    for path in [
        edit("pattern.png", r#"{"webp":{"lossless":true}}"#),
        edit(
            "pattern.png",
            r#"{"toFormat":"webp","webp":{"lossless":true,"quality":10}}"#,
        ),
        b64(r#"{"key":"pattern.png","outputFormat":"webp","edits":{"webp":{"lossless":true}}}"#),
    ] {
        let reply = s.get(&path).await;
        let img = reply.image("image/webp");
        assert!(is_webp(&reply.body));
        assert_eq!(max_diff(&img, &source), 0.0, "{path}");
    }
    // lossy WebP of the same image is not exact, so the comparison can fail
    let img = s
        .get(&edit("pattern.png", r#"{"webp":{"quality":50}}"#))
        .await
        .image("image/webp");
    assert!(max_diff(&img, &source) > 0.0);
}

#[tokio::test]
async fn per_request_webp_effort_gives_valid_webp() {
    let (s, _dir) = server("effort", &[("photos/dune.jpg", sample("dune.jpg"))]).await;
    let mut sizes = Vec::new();
    for effort in ["0", "6", "9", "\"3\""] {
        let reply = s
            .get(&b64(&format!(
                r#"{{"key":"photos/dune.jpg","outputFormat":"webp","effort":{effort},"edits":{{"resize":{{"width":200}}}}}}"#
            )))
            .await;
        let img = reply.image("image/webp");
        assert!(is_webp(&reply.body), "effort {effort}");
        assert_size(&img, 200, 125);
        sizes.push(reply.body.len());
    }
    // the effort reaches the encoder: 0 and 6 give different files
    assert_ne!(sizes[0], sizes[1], "effort 0 and 6 gave the same size");
    // an out-of-range effort is sharp's default, 4
    let default = s
        .get(&b64(
            r#"{"key":"photos/dune.jpg","outputFormat":"webp","effort":4,"edits":{"resize":{"width":200}}}"#,
        ))
        .await;
    assert_eq!(sizes[2], default.body.len());
}

// ---------------------------------------------------------------- query

#[tokio::test]
async fn query_parameters_overlay_thumbor_and_json_requests() {
    let (s, _dir) = server("query", &[]).await;

    let img = s
        .get("/fit-in/100x100/quad.png?grayscale=true&width=50")
        .await
        .image("image/png");
    assert_size(&img, 50, 25);
    let (tl, br) = (rgb(&img, 10, 5), rgb(&img, 40, 20));
    for p in [tl, br] {
        assert!(p[0] == p[1] && p[1] == p[2], "not grey: {p:?}");
    }
    assert!(
        tl[0] > br[0] + 20.0,
        "red is lighter than blue: {tl:?} {br:?}"
    );

    // the path's filters stay; the query's resize replaces the path's
    let img = s
        .get("/fit-in/100x100/filters:brightness(100)/quad.png?width=40")
        .await
        .image("image/png");
    assert_size(&img, 40, 20);
    assert_rgb(&img, 5, 5, WHITE, 0.0);
    // a query resize comes after the path's crop
    let img = s
        .get("/0x0:100x50/quad.png?width=20")
        .await
        .image("image/png");
    assert_size(&img, 20, 10);
    assert_rgb(&img, 10, 5, RED, 1.0);

    // on a JSON request: the resize is replaced, other edits stay, the format is forced
    let path = edit("quad.png", r#"{"resize":{"width":100},"negate":true}"#);
    let img = s
        .get(&format!("{path}?width=50&format=jpeg"))
        .await
        .image("image/jpeg");
    assert_size(&img, 50, 25);
    assert_rgb(&img, 10, 5, CYAN, 12.0);
    assert_rgb(&img, 40, 20, YELLOW, 12.0);
    let img = s
        .get(&format!("{path}?greyscale=1"))
        .await
        .image("image/png");
    assert_size(&img, 100, 50);
    let p = rgb(&img, 10, 5);
    assert!(p[0] == p[1] && p[1] == p[2], "not grey: {p:?}");
}

// ---------------------------------------------------------------- blur

#[tokio::test]
async fn blur_softens_an_edge() {
    let (s, _dir) = server("blur", &[("edge.png", png(&edge()))]).await;
    let thumbor = s.get("/filters:blur(4)/edge.png").await.image("image/png");
    let json = s
        .get(&edit("edge.png", r#"{"blur":2}"#))
        .await
        .image("image/png");
    let explicit = s
        .get("/filters:blur(8,2)/edge.png")
        .await
        .image("image/png");
    // blur(radius) is a sigma of radius / 2
    assert_eq!(max_diff(&thumbor, &json), 0.0);
    assert_eq!(max_diff(&explicit, &json), 0.0);
    for img in [&thumbor, &json] {
        assert_size(img, 40, 20);
        let (left, right) = (rgb(img, 19, 10)[0], rgb(img, 20, 10)[0]);
        assert!(
            (40.0..128.0).contains(&left) && (128.0..215.0).contains(&right),
            "edge after blur: {left} {right}"
        );
        assert_rgb(img, 17, 10, grey(0.0), 40.0);
        assert!(
            rgb(img, 17, 10)[0] > 0.0,
            "the blur reaches 3 px from the edge"
        );
        assert_rgb(img, 2, 10, grey(0.0), 1.0);
        assert_rgb(img, 37, 10, grey(255.0), 1.0);
    }
    // a stronger blur spreads further
    let strong = s
        .get(&edit("edge.png", r#"{"blur":5}"#))
        .await
        .image("image/png");
    assert!(rgb(&strong, 14, 10)[0] > rgb(&json, 14, 10)[0] + 10.0);
    // blur(0) is no blur
    let none = s.get("/filters:blur(0)/edge.png").await.image("image/png");
    assert_eq!(max_diff(&none, &edge()), 0.0);
}

// ---------------------------------------------------------------- unsupported

#[tokio::test]
async fn unsupported_edits_are_refused_in_each_style() {
    let (s, _dir) = server("unsupported", &[]).await;
    for (path, named) in [
        (
            "/fit-in/100x100/filters:fill(blur)/quad.png".to_string(),
            "fill(blur)",
        ),
        (
            edit("quad.png", r#"{"contentModeration":true}"#),
            "contentModeration",
        ),
        (
            edit("quad.png", r#"{"trim":{"lineArt":true}}"#),
            "trim.lineArt",
        ),
    ] {
        let message = assert_error(&s.get(&path).await, 400, "UnsupportedEdit");
        assert!(message.contains(named), "{path}: {message}");
    }
    // unknown ones are ignored, as in SIH
    assert_size(
        &s.get("/filters:no_such_filter(1)/quad.png")
            .await
            .image("image/png"),
        200,
        100,
    );
    assert_size(
        &s.get(&edit("quad.png", r#"{"noSuchEdit":true}"#))
            .await
            .image("image/png"),
        200,
        100,
    );
}

// ---------------------------------------------------------------- 16-bit

#[tokio::test]
async fn sixteen_bit_originals_are_edited_on_the_same_scale() {
    let transparent = canvas(100, 50, BLACK, &[])
        .bandjoin_const(&[0.0])
        .expect("bandjoin");
    let (s, _dir) = server(
        "sixteen",
        &[
            ("low16.png", png16(&low_contrast())),
            ("bordered16.png", png16(&bordered())),
            ("clear16.png", png16(&transparent)),
        ],
    )
    .await;

    let img = s
        .get("/filters:brightness(50)/low16.png")
        .await
        .image("image/png");
    assert_rgb(&img, 10, 25, grey(227.5), 1.0);
    assert_rgb(&img, 90, 25, grey(255.0), 0.0);

    let img = s
        .get(&edit("low16.png", r#"{"normalize":true}"#))
        .await
        .image("image/png");
    assert_rgb(&img, 10, 25, grey(0.0), 2.0);
    assert_rgb(&img, 90, 25, grey(255.0), 2.0);

    let img = s
        .get(&edit(
            "bordered16.png",
            r##"{"trim":{"background":"#ffffff"}}"##,
        ))
        .await
        .image("image/png");
    assert_size(&img, 60, 40);
    assert_rgb(&img, 0, 0, RED, 0.0);

    // flattening onto a colour, also after a resize folded into the load
    let img = s
        .get("/filters:background_color(red)/clear16.png")
        .await
        .image("image/png");
    assert_rgb(&img, 50, 25, RED, 0.0);
    let img = s
        .get("/fit-in/50x50/filters:background_color(white)/clear16.png")
        .await
        .image("image/png");
    assert_size(&img, 50, 25);
    assert_rgb(&img, 25, 12, WHITE, 0.0);
}

#[tokio::test]
async fn colour_filters_through_json_and_thumbor() {
    // a red square on mid grey, with one white speck for the median
    let mut red = canvas(60, 60, grey(128.0), &[(RED, 20, 20, 20, 20)]);
    red.draw_rect_with_opts(
        &WHITE,
        5,
        5,
        1,
        1,
        rs_vips::voption::VOption::new().set("fill", true),
    )
    .unwrap();
    // a gentle ramp from 100 to 150, for the adaptive equalisation
    let ramp = VipsImage::grey(200, 60)
        .and_then(|g| g.linear(&[50.0], &[100.0]))
        .and_then(|g| g.cast(rs_vips::enums::BandFormat::Uchar))
        .and_then(|g| VipsImage::bandjoin(&[g.copy()?, g.copy()?, g]))
        .and_then(|g| {
            g.copy_with_opts(rs_vips::voption::VOption::new().set("interpretation", "srgb"))
        })
        .unwrap();
    let (s, _dir) = server("colour", &[("red.png", png(&red)), ("low.png", png(&ramp))]).await;

    // modulate: saturation 0 is grey; a hue turn of 180 moves red towards cyan
    let img = s
        .get(&edit("red.png", r#"{"modulate":{"saturation":0}}"#))
        .await
        .image("image/png");
    let [r, g, b] = rgb(&img, 30, 30);
    assert!((r - g).abs() < 4.0 && (g - b).abs() < 4.0, "{r} {g} {b}");
    let img = s
        .get(&edit("red.png", r#"{"modulate":{"hue":180}}"#))
        .await
        .image("image/png");
    let [r, g, b] = rgb(&img, 30, 30);
    assert!(g > r && b > r, "{r} {g} {b}");
    let img = s
        .get("/filters:saturation(-100)/red.png")
        .await
        .image("image/png");
    let [r, g, _] = rgb(&img, 30, 30);
    assert!((r - g).abs() < 4.0);
    // brightness 2 doubles lightness: the grey gets lighter
    let img = s
        .get(&edit("red.png", r#"{"modulate":{"brightness":1.5}}"#))
        .await
        .image("image/png");
    assert!(rgb(&img, 2, 50)[0] > 170.0, "{:?}", rgb(&img, 2, 50));

    // median removes the one-pixel speck
    assert_rgb(
        &s.get(&edit("red.png", r#"{"median":3}"#))
            .await
            .image("image/png"),
        5,
        5,
        grey(128.0),
        1.0,
    );
    assert_rgb(
        &s.get("/red.png").await.image("image/png"),
        5,
        5,
        WHITE,
        1.0,
    );

    // threshold: grey 128 and red are below 200 in lightness, so black; with 100, white
    let img = s
        .get(&edit("red.png", r#"{"threshold":200}"#))
        .await
        .image("image/png");
    assert_eq!(rgb(&img, 50, 50)[0], 0.0);
    let img = s
        .get(&edit("red.png", r#"{"threshold":100}"#))
        .await
        .image("image/png");
    assert_eq!(rgb(&img, 50, 50)[0], 255.0);

    // gamma 2.2 in, 1.0 out brightens mid grey
    let img = s
        .get(&edit("red.png", r#"{"gamma":[2.2,1.0]}"#))
        .await
        .image("image/png");
    assert!(rgb(&img, 50, 50)[0] > 150.0, "{:?}", rgb(&img, 50, 50));

    // adaptive equalisation spreads a low-contrast ramp; the contrast limit
    // (maxSlope, sharp's default 3) keeps it closer to the original
    let before = s.get("/low.png").await.image("image/png");
    let unlimited = s
        .get(&edit(
            "low.png",
            r#"{"clahe":{"width":20,"height":20,"maxSlope":0}}"#,
        ))
        .await
        .image("image/png");
    let limited = s
        .get(&edit("low.png", r#"{"clahe":{"width":20,"height":20}}"#))
        .await
        .image("image/png");
    assert_eq!(
        (unlimited.get_width(), unlimited.get_height()),
        (before.get_width(), before.get_height())
    );
    let spread = |i: &VipsImage| i.deviate().unwrap();
    assert!(
        spread(&unlimited) > spread(&before) * 1.25,
        "{} vs {}",
        spread(&unlimited),
        spread(&before)
    );
    assert!(
        spread(&limited) < spread(&unlimited),
        "{} vs {}",
        spread(&limited),
        spread(&unlimited)
    );

    // alpha: removed, then added at half opacity
    let img = s
        .get(&edit("rgba.png", r#"{"removeAlpha":true}"#))
        .await
        .image("image/png");
    assert_eq!(img.get_bands(), 3);
    let img = s
        .get(&format!(
            "{}?format=png",
            edit("quad.jpg", r#"{"ensureAlpha":0.5}"#)
        ))
        .await
        .image("image/png");
    assert_eq!(img.get_bands(), 4);
    assert!((alpha(&img, 10, 10).unwrap() - 127.5).abs() <= 1.0);
}

#[tokio::test]
async fn round_crops_and_corners() {
    let (s, _dir) = server("round", &[]).await;
    // SIH's roundCrop: a circle of half the shorter side, cropped to its box
    let img = s
        .get(&edit("quad.png", r#"{"roundCrop":true}"#))
        .await
        .image("image/png");
    assert_size(&img, 100, 100);
    assert_eq!(alpha(&img, 1, 1), Some(0.0));
    assert_eq!(alpha(&img, 50, 50), Some(255.0));
    // an ellipse with explicit radii and centre
    let img = s
        .get(&edit("quad.png", r#"{"roundCrop":{"rx":100,"ry":50}}"#))
        .await
        .image("image/png");
    assert_size(&img, 200, 100);
    assert_eq!(alpha(&img, 2, 2), Some(0.0));
    assert_eq!(alpha(&img, 100, 50), Some(255.0));
    // thumbor's round_corner: transparent corners, or filled with a colour
    let img = s
        .get("/filters:round_corner(20,0,0,0,1)/quad.png")
        .await
        .image("image/png");
    assert_size(&img, 200, 100);
    assert_eq!(alpha(&img, 0, 0), Some(0.0));
    assert_eq!(alpha(&img, 100, 50), Some(255.0));
    let img = s
        .get("/filters:round_corner(20,0,255,0):format(jpeg)/quad.png")
        .await
        .image("image/jpeg");
    assert_rgb(&img, 1, 1, GREEN, 40.0);
    assert_rgb(&img, 100, 50, BLUE, 40.0);
}

#[tokio::test]
async fn focal_points_and_smart_crops() {
    // left half red, right half blue; a bright textured subject at the right for attention
    let halves_lr = canvas(200, 100, BLUE, &[(RED, 0, 0, 100, 100)]);
    let mut subject = canvas(300, 100, grey(10.0), &[]);
    for i in 0..10 {
        subject
            .draw_rect_with_opts(
                &[255.0, 220.0, 180.0],
                230 + i * 5,
                20 + (i % 3) * 15,
                3,
                40,
                rs_vips::voption::VOption::new().set("fill", true),
            )
            .unwrap();
    }
    let (s, _dir) = server(
        "focal",
        &[("lr.png", png(&halves_lr)), ("subject.png", png(&subject))],
    )
    .await;

    // query fx/fy centre the cover crop on a point
    assert_rgb(
        &s.get("/lr.png?width=100&height=100&fx=0&fy=0.5")
            .await
            .image("image/png"),
        50,
        50,
        RED,
        1.0,
    );
    assert_rgb(
        &s.get("/lr.png?width=100&height=100&fx=1")
            .await
            .image("image/png"),
        50,
        50,
        BLUE,
        1.0,
    );
    let bad = s.get("/lr.png?width=100&height=100&fx=2").await;
    assert!(assert_error(&bad, 400, "InvalidParameter").contains("fx="));
    // thumbor focal(region), in the original's pixels
    assert_rgb(
        &s.get("/100x100/filters:focal(0x0:20x100)/lr.png")
            .await
            .image("image/png"),
        50,
        50,
        RED,
        1.0,
    );
    assert_rgb(
        &s.get("/100x100/filters:focal(180x0:200x100)/lr.png")
            .await
            .image("image/png"),
        50,
        50,
        BLUE,
        1.0,
    );

    // smart crops keep the off-centre subject
    let bright = |img: &VipsImage| img.avg().unwrap();
    let centre = s.get("/100x100/subject.png").await.image("image/png");
    for path in [
        "/100x100/filters:smart_crop(0,0)/subject.png".to_string(),
        "/100x100/smart/subject.png".to_string(),
        edit(
            "subject.png",
            r#"{"smartCrop":{"faceIndex":0,"padding":0}}"#,
        ),
        edit(
            "subject.png",
            r#"{"smartCrop":true,"resize":{"width":100,"height":100}}"#,
        ),
    ] {
        let img = s.get(&path).await.image("image/png");
        assert_size(&img, 100, 100);
        assert!(
            bright(&img) > bright(&centre) * 2.0,
            "{path}: {} vs {}",
            bright(&img),
            bright(&centre)
        );
    }
}

#[tokio::test]
async fn presets_and_presets_only() {
    let dir = TempDir::new("edits-presets");
    standard_fixtures(&dir);
    let presets = r#"{"thumbnail":"width=30&height=30&fit=cover","coverphoto":{"width":80,"height":40,"fit":"cover","grayscale":true}}"#;
    let lookup = |only: &str| {
        let only = only.to_string();
        move |k: &str| match k {
            "PRESETS" => Some(presets.to_string()),
            "PRESETS_ONLY" => Some(only.clone()),
            _ => None,
        }
    };
    let s = Server::fs(Config::from_lookup(lookup("No")).unwrap(), &dir).await;
    assert_size(
        &s.get("/quad.png?preset=thumbnail").await.image("image/png"),
        30,
        30,
    );
    assert_size(
        &s.get("/preset:thumbnail/quad.png").await.image("image/png"),
        30,
        30,
    );
    let img = s
        .get(&edit("quad.png", "{}").replace("edits\":{}", ""))
        .await;
    assert_eq!(img.status, 200);
    let cover = s
        .get("/quad.png?preset=coverphoto")
        .await
        .image("image/png");
    assert_size(&cover, 80, 40);
    let [r, g, b] = rgb(&cover, 10, 10);
    assert!((r - g).abs() < 2.0 && (g - b).abs() < 2.0);
    // explicit parameters still override a preset when presets are not exclusive
    // (a width replaces the preset's resize, as query parameters replace any style's)
    assert_size(
        &s.get("/quad.png?preset=thumbnail&width=50")
            .await
            .image("image/png"),
        50,
        25,
    );
    assert_size(
        &s.get("/quad.png?preset=thumbnail&fit=fill")
            .await
            .image("image/png"),
        30,
        30,
    );
    assert!(
        assert_error(
            &s.get("/quad.png?preset=nope").await,
            400,
            "InvalidParameter"
        )
        .contains("nope")
    );

    // presets-only: anything but a preset is refused
    let s = Server::fs(Config::from_lookup(lookup("Yes")).unwrap(), &dir).await;
    assert_size(
        &s.get("/quad.png?preset=thumbnail").await.image("image/png"),
        30,
        30,
    );
    assert_size(
        &s.get("/quad.png?preset=thumbnail&utm_source=mail")
            .await
            .image("image/png"),
        30,
        30,
    );
    for refused in [
        "/quad.png",
        "/quad.png?width=10",
        "/quad.png?preset=thumbnail&width=50",
        "/100x100/quad.png?preset=thumbnail",
    ] {
        assert!(
            assert_error(&s.get(refused).await, 400, "InvalidParameter").contains("preset"),
            "{refused}"
        );
    }
    // a preset that does not parse stops the service at start
    let bad = Config::from_lookup(|k| (k == "PRESETS").then(|| r#"{"x":"width=-1"}"#.to_string()));
    assert!(bad.unwrap_err().to_string().contains("width"));
}

#[tokio::test]
async fn info_reads_the_header() {
    let (s, _dir) = server("info", &[]).await;
    for path in ["/quad.png?info", "/info/quad.png", "/info/quad.png?width=5"] {
        let r = s.get(path).await;
        assert_eq!(r.status, 200, "{path}");
        let info = r.json();
        assert_eq!(info["width"], 200, "{path}");
        assert_eq!(info["height"], 100);
        assert_eq!(info["format"], "png");
        assert_eq!(info["pages"], 1);
        assert_eq!(info["alpha"], false);
        assert_eq!(info["space"], "srgb");
        assert!(info["bytes"].as_u64().unwrap() > 0);
    }
    // EXIF orientation: the upright size and the tag
    let info = s.get("/exif6.jpg?info").await.json();
    assert_eq!(
        (
            info["width"].as_u64(),
            info["height"].as_u64(),
            info["orientation"].as_u64()
        ),
        (Some(200), Some(100), Some(6))
    );
    assert_eq!(s.get("/info/nope.png").await.status, 404);
}

#[tokio::test]
async fn overlays_in_every_style() {
    // a 40x20 green mark with a transparent 10 px band on its left
    let mark = canvas(40, 20, GREEN, &[]).bandjoin_const(&[255.0]).unwrap();
    let mut mark = mark
        .copy_with_opts(rs_vips::voption::VOption::new().set("interpretation", "srgb"))
        .unwrap();
    mark.draw_rect_with_opts(
        &[0.0, 0.0, 0.0, 0.0],
        0,
        0,
        10,
        20,
        rs_vips::voption::VOption::new().set("fill", true),
    )
    .unwrap();
    let (s, dir) = server(
        "overlay",
        &[
            ("mark.png", png(&mark)),
            ("big.png", png(&canvas(400, 400, RED, &[]))),
        ],
    )
    .await;
    let json = |overlay: &str| edit("quad.png", &format!(r#"{{"overlayWith":{overlay}}}"#));

    // SIH: -10,-10 puts the mark 10 px from the bottom-right corner
    let img = s
        .get(&json(
            r#"{"key":"mark.png","options":{"left":"-10","top":"-10"}}"#,
        ))
        .await
        .image("image/png");
    assert_size(&img, 200, 100);
    assert_rgb(&img, 200 - 10 - 5, 100 - 10 - 5, GREEN, 1.0); // inside the mark
    assert_rgb(&img, 200 - 10 - 35, 100 - 10 - 5, BLUE, 1.0); // its transparent band shows the base
    assert_rgb(&img, 195, 95, BLUE, 1.0); // outside it
    // percentages, ratios and transparency
    let img = s.get(&json(r#"{"key":"mark.png","options":{"left":"50p","top":"0"},"wRatio":"50","hRatio":"50","alpha":50}"#)).await;
    let img = img.image("image/png");
    // 50% of the base is 100x50: the 40x20 mark fits inside at 2.5x = 100x50
    let [r, g, b] = rgb(&img, 100 + 30, 25);
    assert!(
        g > 100.0 && b > 100.0 && r < 30.0,
        "half green over blue: {r} {g} {b}"
    );
    // after a resize the geometry uses the resized base
    let img = s.get(&edit("quad.png", r#"{"resize":{"width":100},"overlayWith":{"key":"mark.png","options":{"left":-1,"top":-1}}}"#)).await;
    let img = img.image("image/png");
    assert_size(&img, 100, 50);
    assert_rgb(&img, 100 - 1 - 5, 50 - 1 - 5, GREEN, 1.0);

    // thumbor watermark(bucket,key,x,y,alpha[,wRatio,hRatio]) and the query form
    let img = s
        .get("/filters:watermark(,mark.png,-10,-10,0)/quad.png")
        .await
        .image("image/png");
    assert_rgb(&img, 185, 85, GREEN, 1.0);
    let img = s
        .get("/quad.png?overlay=mark.png&overlay_x=center&overlay_y=center")
        .await
        .image("image/png");
    assert_rgb(&img, 100 + 10, 50, GREEN, 1.0);
    assert_rgb(&img, 100 - 15, 50, BLUE, 1.0);

    // SIH's error for an overlay larger than the base, and a missing overlay
    let r = s.get(&json(r#"{"key":"big.png"}"#)).await;
    assert_eq!(
        assert_error(&r, 400, "BadRequest"),
        "Image to overlay must have same dimensions or smaller"
    );
    assert!(
        assert_error(
            &s.get("/quad.png?overlay=nope.png").await,
            400,
            "InvalidParameter"
        )
        .contains("nope.png")
    );
    // an overlay bucket outside the allow-list is refused
    let r = s
        .get("/filters:watermark(other,mark.png,0,0,0)/quad.png")
        .await;
    assert_eq!(r.status, 403);
    // the overlay's identity is in the ETag: replacing the mark changes it
    let url = "/quad.png?overlay=mark.png";
    let before = s.get(url).await.header("etag").unwrap().to_string();
    dir.write("mark.png", &png(&canvas(30, 30, WHITE, &[])));
    let after = s.get(url).await.header("etag").unwrap().to_string();
    assert_ne!(before, after);
}

#[tokio::test]
async fn progressive_and_near_lossless_encoding() {
    let (s, _dir) = server("encoding", &[("dune.jpg", sample("dune.jpg"))]).await;
    // progressive JPEG: a SOF2 marker; baseline: SOF0
    let has = |b: &[u8], marker: u8| b.windows(2).any(|w| w == [0xFF, marker]);
    let progressive = s.get("/dune.jpg?width=200&progressive=true").await;
    assert!(has(&progressive.body, 0xC2) && !has(&progressive.body, 0xC0));
    let baseline = s.get("/dune.jpg?width=200").await;
    assert!(has(&baseline.body, 0xC0) && !has(&baseline.body, 0xC2));
    // chroma 4:2:0 at every quality, as sharp encodes (libvips' own default
    // stops subsampling from quality 90)
    for q in [50, 89, 90, 100] {
        let reply = s.get(&format!("/dune.jpg?width=200&quality={q}")).await;
        let sampling = reply
            .image("image/jpeg")
            .get_string("jpeg-chroma-subsample");
        assert!(sampling.unwrap_or_default().starts_with("4:2:0"), "q{q}");
    }
    let json = s
        .get(&edit(
            "dune.jpg",
            r#"{"resize":{"width":200},"jpeg":{"progressive":true}}"#,
        ))
        .await;
    assert!(has(&json.body, 0xC2));
    // interlaced PNG: the IHDR's interlace byte is 1
    let png = s
        .get(&edit("quad.png", r#"{"png":{"progressive":true}}"#))
        .await;
    assert_eq!(png.body[28], 1, "Adam7 interlace");
    // near-lossless WebP: lossless coding (VP8L) at a smaller size than lossless
    let near = s
        .get(&edit(
            "dune.jpg",
            r#"{"resize":{"width":300},"webp":{"nearLossless":true,"quality":60}}"#,
        ))
        .await;
    let lossless = s
        .get(&edit(
            "dune.jpg",
            r#"{"resize":{"width":300},"webp":{"lossless":true}}"#,
        ))
        .await;
    assert!(
        near.body.windows(4).any(|w| w == b"VP8L"),
        "near-lossless is lossless coding"
    );
    assert!(
        near.body.len() < lossless.body.len(),
        "{} vs {}",
        near.body.len(),
        lossless.body.len()
    );
}

// ---------------------------------------------------------------- animation

/// The frame colours of the test animations.
const FRAMES: [[f64; 3]; 4] = [RED, GREEN, BLUE, WHITE];

/// A strip of `colours.len()` frames of `w`x`h`, each filled with its colour
/// around a 10 px `border` (none if `None`), with `page-height` and delays set.
fn strip(w: i32, h: i32, colours: &[[f64; 3]], border: Option<[f64; 3]>) -> VipsImage {
    let frames: Vec<VipsImage> = colours
        .iter()
        .map(|c| match border {
            Some(b) => canvas(w, h, b, &[(*c, 10, 10, w - 20, h - 20)]),
            None => canvas(w, h, *c, &[]),
        })
        .collect();
    let mut joined = VipsImage::arrayjoin_with_opts(&frames, VOption::new().set("across", 1))
        .and_then(|j| j.copy())
        .expect("arrayjoin");
    joined.set_int("page-height", h).expect("page-height");
    joined
        .set_array_int("delay", &vec![100; colours.len()])
        .expect("delay");
    joined.set_int("loop", 0).expect("loop");
    joined
}

fn gif(image: &VipsImage) -> Vec<u8> {
    image.gifsave_buffer().expect("gifsave")
}

/// Decodes every frame of an animated response.
fn frames(bytes: &[u8]) -> VipsImage {
    init_vips();
    VipsImage::new_from_buffer(bytes, "n=-1").expect("decodes with every frame")
}

/// Asserts `image` holds `colours.len()` frames of `w`x`h`, each of its colour at (x, y).
#[track_caller]
fn assert_frames(image: &VipsImage, w: i32, h: i32, colours: &[[f64; 3]], at: (i32, i32)) {
    assert_eq!(
        image.get_int("n-pages").unwrap_or(1),
        colours.len() as i32,
        "frames"
    );
    assert_eq!(
        (image.get_width(), image.get_page_height()),
        (w, h),
        "frame size"
    );
    for (i, colour) in colours.iter().enumerate() {
        assert_rgb(image, at.0, at.1 + i as i32 * h, *colour, 40.0);
    }
}

#[tokio::test]
async fn animations_keep_their_frames() {
    let (s, _dir) = server(
        "animation",
        &[
            ("anim.gif", gif(&strip(200, 100, &FRAMES, None))),
            ("bordered.gif", gif(&strip(200, 100, &FRAMES, Some(BLACK)))),
            ("one.gif", gif(&canvas(200, 100, GREEN, &[]))),
        ],
    )
    .await;
    // resize keeps every frame, in GIF, and in WebP (GIF -> WebP)
    let r = s.get("/anim.gif?width=100").await;
    assert!(is_gif(&r.body), "{}", r.text());
    assert_frames(&frames(&r.body), 100, 50, &FRAMES, (50, 25));
    let r = s.get("/anim.gif?width=100&format=webp").await;
    assert!(is_webp(&r.body));
    assert_frames(&frames(&r.body), 100, 50, &FRAMES, (50, 25));
    // and back: WebP -> GIF
    let webp = r.body.clone();
    let (s2, _dir2) = server("animation-webp", &[("anim.webp", webp.to_vec())]).await;
    let r = s2.get("/anim.webp?width=60&format=gif").await;
    assert_frames(&frames(&r.body), 60, 30, &FRAMES, (30, 15));
    // automatic format never drops frames: AVIF is skipped, WebP animates
    let r = s
        .get_with(
            "/anim.gif?width=100",
            &[("accept", "image/avif,image/webp")],
        )
        .await;
    assert_eq!(r.header("content-type"), Some("image/webp"));
    assert_frames(&frames(&r.body), 100, 50, &FRAMES, (50, 25));
    let r = s
        .get_with("/anim.gif?width=100", &[("accept", "image/avif")])
        .await;
    assert_eq!(r.header("content-type"), Some("image/gif"));
    // crops, rotations and extract run on every frame
    let r = s.get("/anim.gif?width=50&height=50").await;
    assert_frames(&frames(&r.body), 50, 50, &FRAMES, (25, 25));
    let r = s.get("/anim.gif?rotate=90&width=50").await;
    assert_frames(&frames(&r.body), 50, 100, &FRAMES, (25, 50));
    let r = s.get("/10x10:60x40/anim.gif").await;
    assert_frames(&frames(&r.body), 50, 30, &FRAMES, (25, 15));
    let r = s.get("/anim.gif?flip=true&blur=2&grayscale=true").await;
    let image = frames(&r.body);
    assert_eq!(image.get_int("n-pages").unwrap(), 4);
    assert_eq!(image.get_page_height(), 100);
    // trim removes the same border from every frame
    let r = s.get("/trim/bordered.gif").await;
    assert_frames(&frames(&r.body), 180, 80, &FRAMES, (90, 40));
    // the same content-aware crop on every frame keeps the sizes equal
    let r = s
        .get("/bordered.gif?width=60&height=60&position=attention")
        .await;
    let image = frames(&r.body);
    assert_eq!(image.get_int("n-pages").unwrap(), 4);
    assert_eq!((image.get_width(), image.get_page_height()), (60, 60));
    // a watermark at -10,-10 sits at the bottom-right corner of every frame
    let (s3, dir3) = server(
        "animation-mark",
        &[
            ("anim.gif", gif(&strip(200, 100, &FRAMES, None))),
            ("mark.png", png(&canvas(20, 20, BLACK, &[]))),
        ],
    )
    .await;
    let r = s3
        .get("/filters:watermark(,mark.png,-10,-10,0)/anim.gif")
        .await;
    let image = frames(&r.body);
    for i in 0..4 {
        assert_rgb(&image, 180, 80 + i * 100, BLACK, 40.0);
        assert_rgb(&image, 5, 5 + i * 100, FRAMES[i as usize], 40.0);
    }
    drop(dir3);
    // a single-frame GIF is a still image: automatic AVIF applies
    let r = s
        .get_with("/one.gif?width=100", &[("accept", "image/avif")])
        .await;
    assert_eq!(r.header("content-type"), Some("image/avif"));
}

#[tokio::test]
async fn first_frame_only_and_frame_limits() {
    let dir = TempDir::new("edits-frames");
    dir.write("anim.gif", &gif(&strip(200, 100, &FRAMES, None)));
    let s = Server::fs(
        Config {
            max_frames: 3,
            max_input_pixels: 200 * 100 * 3,
            ..Config::default()
        },
        &dir,
    )
    .await;
    // four frames are above both limits...
    let message = assert_error(&s.get("/anim.gif?width=100").await, 413, "TooManyFrames");
    assert!(
        message.contains("4 frames") && message.contains('3'),
        "{message}"
    );
    // ...unless only the first frame is asked for, in every style
    for path in [
        "/anim.gif?width=100&animated=false".to_string(),
        "/filters:animated(false)/anim.gif?width=100".to_string(),
        edit("anim.gif", r#"{"resize":{"width":100},"animated":false}"#),
    ] {
        let r = s.get(&path).await;
        let image = r.image("image/gif");
        assert_eq!(image.get_int("n-pages").unwrap_or(1), 1, "{path}");
        assert_size(&image, 100, 50);
        assert_rgb(&image, 50, 25, RED, 40.0);
    }
    // a still output format takes the first frame
    let r = s.get("/anim.gif?format=png").await;
    assert_rgb(&r.image("image/png"), 100, 50, RED, 1.0);
    let bad = s.get("/anim.gif?animated=sometimes").await;
    assert_error(&bad, 400, "InvalidParameter");
    // pixels are counted over the frames that are decoded
    let s = Server::fs(
        Config {
            max_input_pixels: 200 * 100 * 3,
            ..Config::default()
        },
        &dir,
    )
    .await;
    assert_error(&s.get("/anim.gif?width=100").await, 413, "TooManyPixels");
    assert_eq!(s.get("/anim.gif?width=100&animated=0").await.status, 200);
}

// ---------------------------------------------------------------- SVG

const SVG_RED_SQUARE: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="100" height="50">
  <rect width="100" height="50" fill="#00f"/><rect width="50" height="50" fill="red"/>
</svg>"##;

#[tokio::test]
async fn svg_originals_are_sanitised_or_rasterised() {
    // A listener the hostile SVG points at: it must never be contacted.
    let trap = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    trap.set_nonblocking(true).unwrap();
    let port = trap.local_addr().unwrap().port();
    let hostile = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="50" onload="alert(1)">
  <script>alert(2)</script>
  <rect width="100" height="50" fill="red"/>
  <image href="http://127.0.0.1:{port}/a.png" width="10" height="10"/>
  <image xlink:href="http://127.0.0.1:{port}/b.png" width="10" height="10"/>
  <style>@import url(http://127.0.0.1:{port}/c.css);</style>
  <rect width="5" height="5" fill="url(http://127.0.0.1:{port}/d)"/>
  <foreignObject><iframe xmlns="http://www.w3.org/1999/xhtml" src="http://127.0.0.1:{port}/e"/></foreignObject>
</svg>"##
    );
    let xxe = r#"<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><text>&x;</text></svg>"#;
    let (s, _dir) = server(
        "svg",
        &[
            ("square.svg", SVG_RED_SQUARE.as_bytes().to_vec()),
            ("hostile.svg", hostile.into_bytes()),
            ("xxe.svg", xxe.as_bytes().to_vec()),
        ],
    )
    .await;
    // unedited: SVG back, sanitised, with a restrictive policy
    let r = s
        .get_with("/hostile.svg", &[("accept", "image/avif,image/webp")])
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("image/svg+xml"));
    let csp = r.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("sandbox"),
        "{csp}"
    );
    let body = String::from_utf8(r.body.to_vec()).unwrap();
    for gone in [
        "script",
        "onload",
        "alert",
        "127.0.0.1",
        "@import",
        "foreignObject",
    ] {
        assert!(!body.contains(gone), "{gone} survived: {body}");
    }
    // edited: rasterised, PNG by default, the shapes where they belong
    let r = s.get("/square.svg?width=200").await;
    let image = r.image("image/png");
    assert_size(&image, 200, 100);
    assert_rgb(&image, 50, 50, RED, 2.0);
    assert_rgb(&image, 150, 50, BLUE, 2.0);
    let r = s.get("/hostile.svg?width=50&format=jpeg").await;
    assert_rgb(&r.image("image/jpeg"), 25, 12, RED, 30.0);
    let r = s
        .get_with("/fit-in/40x40/square.svg", &[("accept", "image/webp")])
        .await;
    assert_size(&r.image("image/webp"), 40, 20);
    // entities and external entities are refused, not expanded
    let message = assert_error(&s.get("/xxe.svg").await, 400, "InvalidImage");
    assert!(message.contains("document type"), "{message}");
    assert_error(&s.get("/xxe.svg?width=10").await, 400, "InvalidImage");
    // metadata from the header
    let info = s.get("/square.svg?info").await.json();
    assert_eq!(
        (info["format"].as_str(), info["width"].as_u64()),
        (Some("svg"), Some(100))
    );
    // nothing was fetched from the trap
    assert!(
        matches!(trap.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the SVG made the service connect out"
    );
}

#[tokio::test]
async fn grayscale_with_alpha_originals() {
    // Two bands: grey 200 on the left half, grey 50 on the right, the right
    // half 50% transparent.
    let luma = canvas(100, 50, grey(200.0), &[(grey(50.0), 50, 0, 50, 50)])
        .colourspace(Interpretation::BW)
        .expect("b-w");
    let opacity = canvas(100, 50, grey(255.0), &[(grey(128.0), 50, 0, 50, 50)])
        .extract_band(0)
        .expect("band");
    let ga = VipsImage::bandjoin(&[luma, opacity]).expect("bandjoin");
    assert_eq!(ga.get_bands(), 2);
    let (s, _dir) = server("grey-alpha", &[("ga.png", png(&ga))]).await;
    // kept as PNG with its transparency, resized
    let image = s.get("/ga.png?width=50").await.image("image/png");
    assert_size(&image, 50, 25);
    assert_eq!(alpha(&image, 10, 12), Some(255.0));
    assert!((alpha(&image, 40, 12).unwrap_or(0.0) - 128.0).abs() <= 2.0);
    assert_rgb(&image, 10, 12, grey(200.0), 2.0);
    // WebP keeps the transparency; JPEG flattens it onto white
    let webp = s
        .get("/ga.png?format=webp&quality=100")
        .await
        .image("image/webp");
    assert!((alpha(&webp, 80, 25).unwrap_or(0.0) - 128.0).abs() <= 4.0);
    let jpeg = s.get("/ga.png?format=jpeg").await.image("image/jpeg");
    assert_rgb(&jpeg, 20, 25, grey(200.0), 4.0);
    // 50 at half opacity over white: about 50 * 0.5 + 255 * 0.5
    assert_rgb(&jpeg, 80, 25, grey(152.0), 6.0);
}

#[tokio::test]
async fn the_response_cap_shrinks_an_animation_and_keeps_its_frames() {
    let dir = TempDir::new("edits-anim-cap");
    dir.write("animated.gif", &sample("animated.gif"));
    let cap = 12_000;
    let s = Server::fs(
        Config {
            max_response_bytes: Some(cap),
            ..Config::default()
        },
        &dir,
    )
    .await;
    let r = s.get("/animated.gif?format=webp").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.body.len() as u64 <= cap, "{} bytes", r.body.len());
    let reduced = r.header("x-image-reduced").unwrap_or_default().to_string();
    let image = frames(&r.body);
    assert_eq!(
        image.get_int("n-pages").unwrap_or(1),
        10,
        "every frame kept"
    );
    let (w, h) = (image.get_width(), image.get_page_height());
    assert!(
        w < 320 && (w * 200 / 320 - h).abs() <= 1,
        "{w}x{h}: smaller, same aspect"
    );
    assert!(
        reduced.contains(&format!("width={w}, height={h}")),
        "{reduced} names the frame size"
    );
}
