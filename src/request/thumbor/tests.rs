use super::*;
use crate::request::Modulate;
use crate::request::Rotation;

const RED: Color = Color {
    r: 255,
    g: 0,
    b: 0,
    a: 255,
};

fn with_buckets(path: &str, buckets: &[&str]) -> Result<Parsed> {
    let buckets: Vec<String> = buckets.iter().map(|b| b.to_string()).collect();
    let rules = Rules {
        limits: Limits::default(),
        buckets: &buckets,
    };
    parse(path, &rules)
}

fn parsed(path: &str) -> ImageRequest {
    match with_buckets(path, &["main"]) {
        Ok(p) => p.request,
        Err(e) => panic!("{path}: {e}"),
    }
}

fn edits(path: &str) -> Vec<Edit> {
    parsed(path).edits
}

fn key(path: &str) -> String {
    parsed(path).source.key
}

fn err(path: &str) -> Error {
    match with_buckets(path, &["main"]) {
        Ok(p) => panic!("{path}: expected an error, got {p:?}"),
        Err(e) => e,
    }
}

/// The parameter a 400 names.
fn param(path: &str) -> String {
    match err(path) {
        Error::InvalidParameter { param, .. } => param,
        e => panic!("{path}: expected InvalidParameter, got {e:?}"),
    }
}

fn resize(width: Option<u32>, height: Option<u32>, fit: Fit) -> Resize {
    Resize {
        width,
        height,
        fit,
        ..Resize::default()
    }
}

fn only_resize(path: &str) -> Resize {
    match edits(path).as_slice() {
        [Edit::Resize(r)] => *r,
        other => panic!("{path}: expected one resize, got {other:?}"),
    }
}

#[test]
fn sih_resize_and_crop_cases() {
    for (path, expected) in [
        (
            "/fit-in/400x300/x.jpg",
            vec![Edit::Resize(resize(Some(400), Some(300), Fit::Inside))],
        ),
        ("/fit-in/x.jpg", vec![]),
        (
            "/400x300/x.jpg",
            vec![Edit::Resize(resize(Some(400), Some(300), Fit::Cover))],
        ),
        (
            "/0x300/x.jpg",
            vec![Edit::Resize(resize(None, Some(300), Fit::Inside))],
        ),
        ("/0x0/x.jpg", vec![]),
        ("/x/x.jpg", vec![]),
        (
            "/10x0:100x200/x.jpg",
            vec![Edit::Extract(Region {
                left: 10,
                top: 0,
                width: 90,
                height: 200,
            })],
        ),
        (
            "/10x0:100x200/10x20/x.jpg",
            vec![
                Edit::Extract(Region {
                    left: 10,
                    top: 0,
                    width: 90,
                    height: 200,
                }),
                Edit::Resize(resize(Some(10), Some(20), Fit::Cover)),
            ],
        ),
        (
            "/-300x-200/a.jpg",
            vec![
                Edit::Flop,
                Edit::Flip,
                Edit::Resize(resize(Some(300), Some(200), Fit::Cover)),
            ],
        ),
        (
            "/-300x200/a.jpg",
            vec![
                Edit::Flop,
                Edit::Resize(resize(Some(300), Some(200), Fit::Cover)),
            ],
        ),
        ("/-x-/a.jpg", vec![Edit::Flop, Edit::Flip]),
        (
            "/origx300/a.jpg",
            vec![Edit::Resize(resize(None, Some(300), Fit::Inside))],
        ),
        (
            "/300x/a.jpg",
            vec![Edit::Resize(resize(Some(300), None, Fit::Inside))],
        ),
    ] {
        assert_eq!(edits(path), expected, "{path}");
    }
    assert_eq!(key("/10x0:100x200/10x20/x.jpg"), "x.jpg");
    assert_eq!(key("/-x-/a.jpg"), "a.jpg");
    // `abc:0:10x200` is no crop: it starts the key
    assert_eq!(key("/abc:0:10x200/x.jpg"), "abc:0:10x200/x.jpg");
    assert!(edits("/abc:0:10x200/x.jpg").is_empty());
}

#[test]
fn fit_in_flavours() {
    assert_eq!(
        only_resize("/full-fit-in/300x200/a.jpg"),
        resize(Some(300), Some(200), Fit::Outside)
    );
    let mut adaptive = resize(Some(300), Some(200), Fit::Inside);
    adaptive.adaptive = true;
    assert_eq!(only_resize("/adaptive-fit-in/300x200/a.jpg"), adaptive);
    adaptive.fit = Fit::Outside;
    assert_eq!(only_resize("/adaptive-full-fit-in/300x200/a.jpg"), adaptive);
    assert_eq!(
        only_resize("/fit-in/0x200/a.jpg"),
        resize(None, Some(200), Fit::Inside)
    );
}

#[test]
fn alignment_and_smart() {
    for (path, position) in [
        ("/300x200/left/top/a.jpg", Position::NorthWest),
        ("/300x200/center/top/a.jpg", Position::North),
        ("/300x200/right/top/a.jpg", Position::NorthEast),
        ("/300x200/left/a.jpg", Position::West),
        ("/300x200/left/middle/a.jpg", Position::West),
        ("/300x200/center/middle/a.jpg", Position::Centre),
        ("/300x200/right/a.jpg", Position::East),
        ("/300x200/left/bottom/a.jpg", Position::SouthWest),
        ("/300x200/bottom/a.jpg", Position::South),
        ("/300x200/right/bottom/a.jpg", Position::SouthEast),
        ("/300x200/top/a.jpg", Position::North),
        ("/300x200/smart/a.jpg", Position::Attention),
        ("/300x200/left/top/smart/a.jpg", Position::Attention),
        ("/300x200/a.jpg", Position::Centre),
    ] {
        assert_eq!(only_resize(path).position, position, "{path}");
        assert_eq!(key(path), "a.jpg", "{path}");
    }
    // out of order: valign before halign starts the key
    assert_eq!(key("/300x200/top/left/a.jpg"), "left/a.jpg");
    // alignment without a size is no edit
    assert!(edits("/left/top/smart/a.jpg").is_empty());
    assert_eq!(key("/left/top/smart/a.jpg"), "a.jpg");
}

#[test]
fn trim() {
    for (path, threshold, background) in [
        ("/trim/a.jpg", 0.0, TrimBackground::TopLeft),
        ("/trim:top-left/a.jpg", 0.0, TrimBackground::TopLeft),
        ("/trim:bottom-right/a.jpg", 0.0, TrimBackground::BottomRight),
        ("/trim:25/a.jpg", 25.0, TrimBackground::TopLeft),
        (
            "/trim:bottom-right:442/a.jpg",
            442.0,
            TrimBackground::BottomRight,
        ),
    ] {
        assert_eq!(
            edits(path),
            vec![Edit::Trim(Trim {
                threshold,
                background
            })],
            "{path}"
        );
        assert_eq!(key(path), "a.jpg", "{path}");
    }
    assert_eq!(param("/trim:443/a.jpg"), "trim");
    assert_eq!(param("/trim:top-left:99999999999999999999/a.jpg"), "trim");
    // not trim's shape: the key
    assert_eq!(key("/trim:middle/a.jpg"), "trim:middle/a.jpg");
    assert_eq!(key("/trimmed/a.jpg"), "trimmed/a.jpg");
}

#[test]
fn edit_order_is_trim_crop_flips_resize_filters() {
    let r = parsed("/unsafe/trim/1x2:11x22/fit-in/-50x60/filters:grayscale()/a.jpg");
    assert_eq!(
        r.edits,
        vec![
            Edit::Trim(Trim {
                threshold: 0.0,
                background: TrimBackground::TopLeft
            }),
            Edit::Extract(Region {
                left: 1,
                top: 2,
                width: 10,
                height: 20
            }),
            Edit::Flop,
            Edit::Resize(resize(Some(50), Some(60), Fit::Inside)),
            Edit::Grayscale,
        ]
    );
    assert_eq!(r.source.key, "a.jpg");
}

#[test]
fn options_are_positional() {
    // a size after a filter is part of the key
    assert_eq!(key("/filters:grayscale()/300x200/a.jpg"), "300x200/a.jpg");
    // each option at most once
    assert_eq!(key("/fit-in/fit-in/a.jpg"), "fit-in/a.jpg");
    assert_eq!(key("/300x200/300x200/a.jpg"), "300x200/a.jpg");
    // `unsafe` only first
    assert_eq!(key("/300x200/unsafe/a.jpg"), "unsafe/a.jpg");
    // the last segment is always the key
    assert_eq!(key("/300x200"), "300x200");
    assert_eq!(key("/fit-in"), "fit-in");
    assert!(edits("/300x200").is_empty());
    // a size needs its x
    assert_eq!(key("/300/a.jpg"), "300/a.jpg");
}

#[test]
fn sih_keys() {
    for (path, expected) in [
        ("/unsafe/fit-in/100x100/a.jpg", "a.jpg"),
        (
            "/100x100/test-100x100/test/beach-100x100.jpg",
            "test-100x100/test/beach-100x100.jpg",
        ),
        (
            "/fit-in/400x0/filters:fill(ffffff)/fit-in-thumbor-image%20(1)%20suffix.jpg",
            "fit-in-thumbor-image (1) suffix.jpg",
        ),
        (
            "/10x20:100x200/10x10/filters:rotate(90)/filters:grayscale()/thumbor-image%20(1)%20suffix.jpg",
            "thumbor-image (1) suffix.jpg",
        ),
        (
            "/filters:rotate(90)/s3:main/filters:grayscale()/thumbor-image%20(1).jpg",
            "thumbor-image (1).jpg",
        ),
        ("/image_without_extension", "image_without_extension"),
        ("/a/%E7%8C%AB.jpg", "a/猫.jpg"),
        ("/300x200/猫/a.jpg", "猫/a.jpg"),
        ("/a+b.jpg", "a+b.jpg"),
    ] {
        assert_eq!(key(path), expected, "{path}");
    }
    let r = parsed("/fit-in/400x0/filters:fill(ffffff)/fit-in-thumbor-image%20(1)%20suffix.jpg");
    let mut expected = resize(Some(400), None, Fit::Contain);
    expected.background = Some(Color::WHITE);
    assert_eq!(r.edits, vec![Edit::Resize(expected)]);
}

#[test]
fn missing_and_bad_keys() {
    for path in ["/", "", "/fit-in/", "/unsafe/300x200/filters:grayscale()/"] {
        assert!(matches!(err(path), Error::MissingKey), "{path}");
    }
    assert!(matches!(err("/300x200/%FF.jpg"), Error::InvalidKey { .. }));
    assert!(matches!(err("/a%00.jpg"), Error::InvalidKey { .. }));
}

#[test]
fn signature() {
    let hmac = "cST4Ko5_FqwT3BDn-Wf4gO3RFSk=";
    let p = with_buckets(&format!("/{hmac}/500x500/top/raw/gopher.png"), &[]).unwrap();
    assert_eq!(
        p.hmac,
        Some((hmac.to_string(), "500x500/top/raw/gopher.png".to_string()))
    );
    assert_eq!(p.request.source.key, "raw/gopher.png");
    let mut r = resize(Some(500), Some(500), Fit::Cover);
    r.position = Position::North;
    assert_eq!(p.request.edits, vec![Edit::Resize(r)]);

    let p = with_buckets("/unsafe/a.jpg", &[]).unwrap();
    assert_eq!(p.hmac, None);
    assert_eq!(p.request.source.key, "a.jpg");
    assert_eq!(with_buckets("/a.jpg", &[]).unwrap().hmac, None);
    // not a signature: wrong length, no padding, other alphabet; and not after unsafe
    for path in [
        "/cST4Ko5_FqwT3BDn-Wf4gO3RFSk/a.jpg",
        "/cST4Ko5_FqwT3BDn-Wf4gO3RFSkX/a.jpg",
        "/cST4Ko5+FqwT3BDn-Wf4gO3RFSk=/a.jpg",
        "/unsafe/cST4Ko5_FqwT3BDn-Wf4gO3RFSk=/a.jpg",
    ] {
        let p = with_buckets(path, &[]).unwrap();
        assert_eq!(p.hmac, None, "{path}");
        assert!(p.request.source.key.ends_with("/a.jpg"), "{path}");
    }
    // the signature alone is a key
    let p = with_buckets(&format!("/{hmac}"), &[]).unwrap();
    assert_eq!((p.hmac, p.request.source.key), (None, hmac.to_string()));
}

#[test]
fn buckets() {
    let p = with_buckets("/s3:other/a.jpg", &["main", "other"]).unwrap();
    assert_eq!(p.request.source.bucket.as_deref(), Some("other"));
    assert_eq!(p.request.source.key, "a.jpg");
    let e = with_buckets("/s3:other/a.jpg", &["main"]).unwrap_err();
    assert!(
        matches!(e, Error::BucketNotAllowed(ref b) if b == "other"),
        "{e:?}"
    );
    assert_eq!(e.status(), 403);
    assert_eq!(e.code(), "ImageBucket::CannotAccessBucket");
    assert_eq!(parsed("/a.jpg").source.bucket, None);
    assert_eq!(
        parsed("/300x200/filters:grayscale()/s3:main/a.jpg")
            .source
            .bucket
            .as_deref(),
        Some("main")
    );
    assert_eq!(param("/s3:main/s3:main/a.jpg"), "s3");
    assert_eq!(param("/s3:/a.jpg"), "s3");
    // SIH accepts the bucket segment anywhere before the key (issue 15)
    let fit = Edit::Resize(Resize {
        width: Some(100),
        height: Some(100),
        fit: Fit::Inside,
        position: Position::Centre,
        background: None,
        without_enlargement: false,
        adaptive: false,
    });
    for path in [
        "/s3:main/fit-in/100x100/k.jpg",
        "/fit-in/s3:main/100x100/k.jpg",
        "/fit-in/100x100/s3:main/k.jpg",
        "/fit-in/100x100/filters:quality(80)/s3:main/k.jpg",
    ] {
        let r = parsed(path);
        assert_eq!(r.source.bucket.as_deref(), Some("main"), "{path}");
        assert_eq!(r.source.key, "k.jpg", "{path}");
        assert_eq!(r.edits, vec![fit.clone()], "{path}");
    }
    // ... but never before thumbor's signature, which would leave it unsigned
    let hmac = "cST4Ko5_FqwT3BDn-Wf4gO3RFSk=";
    let p = with_buckets(&format!("/s3:main/{hmac}/a.jpg"), &["main"]).unwrap();
    assert_eq!(p.hmac, None);
    assert_eq!(p.request.source.key, format!("{hmac}/a.jpg"));
}

#[test]
fn sih_filter_chains() {
    assert_eq!(
        edits("/filters:rotate(90):grayscale()/filters:blur(20)/x.jpg"),
        vec![
            Edit::Rotate(Rotation::D90),
            Edit::Grayscale,
            Edit::Blur(10.0)
        ]
    );
    for path in [
        "/filters:format(jpeg)/filters:quality(50)/image_without_extension",
        "/filters:quality(50)/filters:format(jpeg)/image_without_extension",
        "/filters:quality(50):format(jpg)/image_without_extension",
    ] {
        let r = parsed(path);
        assert_eq!(
            r.output,
            Output {
                format: Some(OutputFormat::Jpeg),
                quality: Some(50),
                ..Output::default()
            },
            "{path}"
        );
        assert_eq!(r.source.key, "image_without_extension");
    }
    let r = parsed("/fit-in/200x300/filters:grayscale()/test-image-001.jpg");
    assert_eq!(
        r.edits,
        vec![
            Edit::Resize(resize(Some(200), Some(300), Fit::Inside)),
            Edit::Grayscale
        ]
    );
}

#[test]
fn filters_apply_in_url_order() {
    assert_eq!(
        edits("/filters:grayscale():blur(2)/filters:rotate(180)/a.jpg"),
        vec![
            Edit::Grayscale,
            Edit::Blur(1.0),
            Edit::Rotate(Rotation::D180)
        ]
    );
    assert_eq!(
        edits("/filters:rotate(180)/filters:blur(2):grayscale()/a.jpg"),
        vec![
            Edit::Rotate(Rotation::D180),
            Edit::Blur(1.0),
            Edit::Grayscale
        ]
    );
}

#[test]
fn output_filters() {
    for (path, output) in [
        (
            "/filters:autojpg()/a.png",
            Output {
                format: Some(OutputFormat::Jpeg),
                ..Output::default()
            },
        ),
        ("/filters:autojpg(false)/a.png", Output::default()),
        (
            "/filters:format(webp)/a",
            Output {
                format: Some(OutputFormat::Webp),
                ..Output::default()
            },
        ),
        (
            "/filters:format(AVIF)/a",
            Output {
                format: Some(OutputFormat::Avif),
                ..Output::default()
            },
        ),
        (
            "/filters:format(png):format(gif)/a",
            Output {
                format: Some(OutputFormat::Gif),
                ..Output::default()
            },
        ),
        (
            "/filters:format(tiff)/a",
            Output {
                format: Some(OutputFormat::Tiff),
                ..Output::default()
            },
        ),
        (
            "/filters:quality(1)/a",
            Output {
                quality: Some(1),
                ..Output::default()
            },
        ),
        (
            "/filters:max_bytes(30000)/a",
            Output {
                max_bytes: Some(30000),
                ..Output::default()
            },
        ),
    ] {
        let r = parsed(path);
        assert_eq!(r.output, output, "{path}");
        assert!(r.edits.is_empty(), "{path}");
    }
    for (path, name) in [
        ("/filters:format(heif)/a", "format"),
        ("/filters:format(heic)/a", "format"),
        ("/filters:quality(0)/a", "quality"),
        ("/filters:quality(101)/a", "quality"),
        ("/filters:quality(high)/a", "quality"),
        ("/filters:max_bytes(0)/a", "max_bytes"),
        ("/filters:max_bytes(-5)/a", "max_bytes"),
        ("/filters:autojpg(maybe)/a", "autojpg"),
    ] {
        assert_eq!(param(path), name, "{path}");
    }
    // SIH ignores an unknown format and keeps the source's (issue 20)
    for path in [
        "/filters:format(test)/a",
        "/filters:format()/a",
        "/filters:format(bmp):grayscale()/a",
        "/filters:format(png,jpeg)/a",
    ] {
        let r = parsed(path);
        assert_eq!(r.output.format, None, "{path}");
    }
    assert_eq!(
        parsed("/filters:format(png):format(test)/a").output.format,
        Some(OutputFormat::Png)
    );
}

#[test]
fn colour_filters() {
    assert_eq!(
        edits("/filters:background_color(ff0000)/a.png"),
        vec![Edit::Flatten(RED)]
    );
    assert_eq!(
        edits("/filters:background_color(red)/a.png"),
        vec![Edit::Flatten(RED)]
    );
    // SIH's `ffff` is a four-digit hex colour
    assert_eq!(
        edits("/filters:background_color(ffff)/a.png"),
        vec![Edit::Flatten(Color::WHITE)]
    );
    assert_eq!(
        edits("/filters:rgb(10,%2010,%2010)/a.jpg"),
        vec![Edit::Tint(Color {
            r: 26,
            g: 26,
            b: 26,
            a: 255
        })]
    );
    assert_eq!(
        edits("/filters:rgb(100,-20,0)/a.jpg"),
        vec![Edit::Tint(Color {
            r: 255,
            g: 0,
            b: 0,
            a: 255
        })]
    );
    assert_eq!(edits("/filters:equalize()/a.jpg"), vec![Edit::Normalize]);
    assert_eq!(edits("/filters:grayscale()/a.jpg"), vec![Edit::Grayscale]);
    assert_eq!(
        edits("/filters:brightness(40)/a.jpg"),
        vec![Edit::Linear { a: 1.0, b: 102.0 }]
    );
    assert_eq!(
        edits("/filters:contrast(50)/a.jpg"),
        vec![Edit::Linear { a: 1.5, b: -64.0 }]
    );
    assert_eq!(
        edits("/filters:contrast(-100)/a.jpg"),
        vec![Edit::Linear { a: 0.0, b: 128.0 }]
    );
    for (path, name) in [
        ("/filters:background_color(zzz)/a", "background_color"),
        ("/filters:background_color()/a", "background_color"),
        ("/filters:rgb(10,10)/a", "rgb"),
        ("/filters:rgb(101,0,0)/a", "rgb"),
        ("/filters:rgb(a,b,c)/a", "rgb"),
        ("/filters:brightness(101)/a", "brightness"),
        ("/filters:brightness()/a", "brightness"),
        ("/filters:contrast(-101)/a", "contrast"),
        ("/filters:grayscale(1)/a", "grayscale"),
        ("/filters:equalize(x)/a", "equalize"),
    ] {
        assert_eq!(param(path), name, "{path}");
    }
}

#[test]
fn blur_and_sharpen() {
    for (path, expected) in [
        ("/filters:blur(60)/a", vec![Edit::Blur(30.0)]),
        ("/filters:blur(60,%202)/a", vec![Edit::Blur(2.0)]),
        ("/filters:blur(1)/a", vec![Edit::Blur(0.5)]),
        ("/filters:blur(0)/a", vec![]),
        ("/filters:blur(0,5)/a", vec![]),
        ("/filters:sharpen(75,5)/a", vec![Edit::Sharpen(Some(3.5))]),
        (
            "/filters:sharpen(1.5,0.5,true)/a",
            vec![Edit::Sharpen(Some(1.25))],
        ),
        ("/filters:sharpen(1,100)/a", vec![Edit::Sharpen(Some(10.0))]),
        ("/filters:sharpen(1,-10)/a", vec![Edit::Sharpen(Some(0.01))]),
    ] {
        assert_eq!(edits(path), expected, "{path}");
    }
    for (path, name) in [
        ("/filters:blur(0.5)/a", "blur"),
        ("/filters:blur(-1)/a", "blur"),
        ("/filters:blur(x)/a", "blur"),
        ("/filters:blur()/a", "blur"),
        ("/filters:blur(10,0.1)/a", "blur"),
        ("/filters:blur(10,2000)/a", "blur"),
        ("/filters:blur(1,2,3)/a", "blur"),
        ("/filters:sharpen(1)/a", "sharpen"),
        ("/filters:sharpen(a,1)/a", "sharpen"),
        ("/filters:sharpen(1,nan)/a", "sharpen"),
        ("/filters:sharpen(1,1,maybe)/a", "sharpen"),
    ] {
        assert_eq!(param(path), name, "{path}");
    }
}

#[test]
fn convolution() {
    assert_eq!(
        edits("/filters:convolution(1;2;1;2;4;2;1;2;1,3,true)/a"),
        vec![Edit::Convolve(Kernel {
            width: 3,
            height: 3,
            weights: vec![1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0],
            scale: None,
            offset: 0.0
        })]
    );
    assert_eq!(
        edits("/filters:convolution(-1;-1;-1;-1;8;-1;-1;-1,3,false)/a"),
        vec![Edit::Convolve(Kernel {
            width: 3,
            height: 3,
            weights: vec![-1.0, -1.0, -1.0, -1.0, 8.0, -1.0, -1.0, -1.0, 0.0],
            scale: Some(1.0),
            offset: 0.0
        })]
    );
    assert_eq!(
        edits("/filters:convolution(1;1;1,1,0)/a"),
        vec![Edit::Convolve(Kernel {
            width: 1,
            height: 3,
            weights: vec![1.0, 1.0, 1.0],
            scale: Some(1.0),
            offset: 0.0
        })]
    );
    for path in [
        "/filters:convolution(1;2;1,2)/a",
        "/filters:convolution(1;2;1;2,3)/a",
        "/filters:convolution(1;2;1,1003)/a",
        "/filters:convolution(1;x;1,3)/a",
        "/filters:convolution(,3)/a",
        "/filters:convolution(1;2;1)/a",
        "/filters:convolution(1;2;1,3,maybe)/a",
        "/filters:convolution(1;2;1,0)/a",
        "/filters:convolution(1;2;1,-3)/a",
    ] {
        assert_eq!(param(path), "convolution", "{path}");
    }
}

#[test]
fn resize_filters() {
    let mut filled = resize(Some(300), Some(200), Fit::Contain);
    filled.background = Some(RED);
    assert_eq!(only_resize("/300x200/filters:fill(red)/a"), filled);
    filled.background = Some(Color::TRANSPARENT);
    assert_eq!(
        only_resize("/fit-in/300x200/filters:fill(transparent)/a"),
        filled
    );
    assert_eq!(edits("/filters:fill(fff)/a"), vec![]);
    filled.background = Some(RED);
    assert_eq!(
        edits("/300x200/filters:fill(red,true)/a"),
        vec![Edit::Resize(filled), Edit::Flatten(RED)]
    );
    for v in ["auto", "blur", "AUTO"] {
        let e = err(&format!("/300x200/filters:fill({v})/a"));
        assert!(
            matches!(&e, Error::UnsupportedEdit(n) if *n == format!("fill({})", v.to_ascii_lowercase())),
            "{e:?}"
        );
        assert_eq!(e.status(), 400);
    }
    assert_eq!(param("/300x200/filters:fill(nocolour)/a"), "fill");
    assert_eq!(param("/300x200/filters:fill()/a"), "fill");

    let mut small = resize(Some(300), Some(200), Fit::Cover);
    small.without_enlargement = true;
    assert_eq!(only_resize("/300x200/filters:no_upscale()/a"), small);
    assert_eq!(edits("/filters:no_upscale()/a"), vec![]);
    assert_eq!(
        only_resize("/300x200/filters:upscale()/a"),
        resize(Some(300), Some(200), Fit::Inside)
    );
    assert_eq!(
        only_resize("/300x200/filters:stretch()/a"),
        resize(Some(300), Some(200), Fit::Fill)
    );
    assert_eq!(
        only_resize("/fit-in/300x200/filters:stretch()/a"),
        resize(Some(300), Some(200), Fit::Inside)
    );
    assert_eq!(
        only_resize("/200x200/filters:proportion(0.3)/a"),
        resize(Some(60), Some(60), Fit::Cover)
    );
    assert_eq!(
        only_resize("/0x200/filters:proportion(0.001)/a"),
        resize(None, Some(1), Fit::Inside)
    );
    assert_eq!(edits("/filters:proportion(0.3)/a"), vec![Edit::Scale(0.3)]);
    for path in [
        "/filters:proportion(0)/a",
        "/filters:proportion(1.5)/a",
        "/filters:proportion(-0.5)/a",
        "/filters:proportion(x)/a",
    ] {
        assert_eq!(param(path), "proportion", "{path}");
    }
    assert_eq!(param("/300x200/filters:stretch(1)/a"), "stretch");
}

#[test]
fn rotate_and_metadata_filters() {
    assert_eq!(
        edits("/filters:rotate(270)/a"),
        vec![Edit::Rotate(Rotation::D270)]
    );
    assert_eq!(
        edits("/filters:rotate(-90)/a"),
        vec![Edit::Rotate(Rotation::D270)]
    );
    assert_eq!(edits("/filters:rotate()/a"), vec![]);
    assert_eq!(edits("/filters:rotate(360)/a"), vec![]);
    assert_eq!(
        edits("/filters:rotate(75)/a"),
        vec![Edit::Rotate(Rotation::Other(7_500))]
    );
    assert_eq!(param("/filters:rotate(inf)/a"), "rotate");
    assert_eq!(param("/filters:rotate(abc)/a"), "rotate");
    let r = parsed("/filters:strip_exif():strip_icc()/a");
    assert!(r.edits.is_empty());
    assert_eq!(r.output, Output::default());
}

#[test]
fn metadata_filter_and_strips_in_any_order() {
    use crate::request::{ExifKept, Metadata};
    let keep = Metadata::parse("m", "keep").unwrap();
    assert_eq!(parsed("/filters:metadata(keep)/a").output.metadata, keep);
    for path in [
        "/filters:strip_icc():metadata(keep)/a",
        "/filters:metadata(keep):strip_icc()/a",
        "/filters:strip_icc()/filters:metadata(keep)/a",
    ] {
        let m = parsed(path).output.metadata;
        assert_eq!(
            (m.exif, m.xmp_iptc, m.icc),
            (ExifKept::All, true, false),
            "{path}"
        );
    }
    let m = parsed("/filters:strip_exif():metadata(copyright)/a")
        .output
        .metadata;
    assert!(m.is_none());
    assert_eq!(param("/filters:metadata(all)/a"), "metadata");
    assert_eq!(param("/filters:metadata()/a"), "metadata");
    assert_eq!(param("/filters:strip_exif(1)/a"), "strip_exif");
}

#[test]
fn animated_filter_and_unknown_filters() {
    // SIH's mapping: only a case-insensitive `false` turns animation off.
    for (path, still) in [
        ("/filters:animated(fAlSe)/a.gif", true),
        ("/filters:animated()/a.gif", false),
        ("/filters:animated(ABCDEF)/a.gif", false),
        ("/filters:grayscale():animated(false)/a.gif", true),
    ] {
        assert_eq!(parsed(path).output.still, still, "{path}");
    }
    let r = parsed("/filters:notSupportedFilter():grayscale()/a.jpg");
    assert_eq!(r.edits, vec![Edit::Grayscale]);
    assert_eq!(r.source.key, "a.jpg");
}

#[test]
fn watermark_filter() {
    let r = parsed("/filters:watermark(b,folder/key.png,-10,50p,20,25,30)/a.jpg");
    assert!(matches!(&r.edits[..], [Edit::Overlay(o)]
        if o.source.bucket.as_deref() == Some("b") && o.source.key == "folder/key.png"
        && o.left == Offset::Pixels(-10) && o.top == Offset::Percent(50)
        && o.alpha == 20 && o.width_ratio == Some(25) && o.height_ratio == Some(30)));
    let r = parsed("/filters:watermark(,logo.png,center,0,0)/a.jpg");
    assert!(
        matches!(&r.edits[..], [Edit::Overlay(o)] if o.source.bucket.is_none() && o.left == Offset::Center)
    );
    // SIH drops positions it cannot read: the overlay goes to the centre
    for (path, left, top) in [
        (
            "/filters:watermark(b,k,x,x,0)/a.jpg",
            Offset::Center,
            Offset::Center,
        ),
        (
            "/filters:watermark(b,k,x,10,0)/a.jpg",
            Offset::Center,
            Offset::Pixels(10),
        ),
        (
            "/filters:watermark(b,k,5,101p,0)/a.jpg",
            Offset::Pixels(5),
            Offset::Center,
        ),
        (
            "/filters:watermark(b,k,25.5p,é,0)/a.jpg",
            Offset::Percent(25),
            Offset::Center,
        ),
    ] {
        let r = parsed(path);
        assert!(
            matches!(&r.edits[..], [Edit::Overlay(o)] if o.left == left && o.top == top),
            "{path}: {:?}",
            r.edits
        );
    }
    for bad in [
        "/filters:watermark(b,k,0,0,101)/a.jpg",
        "/filters:watermark(b,k)/a.jpg",
        "/filters:watermark(b,k%00.png,0,0,0)/a.jpg",
    ] {
        assert_eq!(err(bad).status(), 400, "{bad}");
    }
    // the key is percent-decoded once, with the rest of the filters segment
    for (path, key) in [
        ("/filters:watermark(b,a%2541.png,0,0,0)/k.jpg", "a%41.png"),
        (
            "/filters:watermark(b,a%252541.png,0,0,0)/k.jpg",
            "a%2541.png",
        ),
        (
            "/filters:watermark(b,logos%2Fl%C3%A9.png,0,0,0)/k.jpg",
            "logos/lé.png",
        ),
        ("/filters:watermark(b,100%25.png,0,0,0)/k.jpg", "100%.png"),
    ] {
        let r = parsed(path);
        assert!(
            matches!(&r.edits[..], [Edit::Overlay(o)] if o.source.key == key),
            "{path}: {:?}",
            r.edits
        );
    }
}

#[test]
fn shape_and_focus_filters() {
    assert_eq!(
        edits("/filters:round_corner(20|10,255,0,0)/a.jpg"),
        vec![Edit::RoundCrop(RoundCrop::Corners {
            rx: 20,
            ry: 10,
            background: Some(Color {
                r: 255,
                g: 0,
                b: 0,
                a: 255
            })
        })]
    );
    assert_eq!(
        edits("/filters:round_corner(8,0,0,0,1)/a.jpg"),
        vec![Edit::RoundCrop(RoundCrop::Corners {
            rx: 8,
            ry: 8,
            background: None
        })]
    );
    let r = parsed("/300x200/filters:focal(100x50:200x150)/a.jpg");
    assert!(matches!(
        r.edits[..],
        [Edit::Resize(Resize {
            position: Position::FocalPixel { x: 150, y: 100 },
            ..
        })]
    ));
    let r = parsed("/300x200/filters:smart_crop(1,40)/a.jpg");
    assert!(matches!(
        r.edits[..],
        [Edit::Resize(Resize {
            position: Position::Attention,
            ..
        })]
    ));
    assert_eq!(
        edits("/filters:smart_crop(0,25)/a.jpg"),
        vec![Edit::SmartCrop { padding: 25 }]
    );
    assert_eq!(
        edits("/filters:saturation(-100)/a.jpg"),
        vec![Edit::Modulate(Modulate {
            saturation: 0.0,
            ..Modulate::default()
        })]
    );
    for bad in [
        "/filters:round_corner(x,1,2,3)/a.jpg",
        "/filters:round_corner(5,1,2)/a.jpg",
        "/filters:focal(1x1)/a.jpg",
        "/filters:focal(5x5:1x1)/a.jpg",
        "/filters:saturation(200)/a.jpg",
    ] {
        let name = bad
            .split(':')
            .nth(1)
            .and_then(|f| f.split('(').next())
            .unwrap();
        let e = err(bad);
        assert_eq!(e.status(), 400, "{bad}");
        assert!(e.to_string().contains(name), "{bad}: {e}");
    }
}

#[test]
fn filter_syntax() {
    // arguments with colons, semicolons, spaces and slashes inside parentheses
    let r = parsed("/filters:fakefilter(a:b;c%20d/e):grayscale()/dir/a.jpg");
    assert_eq!(r.edits, vec![Edit::Grayscale]);
    assert_eq!(r.source.key, "dir/a.jpg");
    assert_eq!(key("/filters:fake((x)/(y)):grayscale()/a.jpg"), "a.jpg");
    // percent-encoded parentheses and colons
    assert_eq!(
        edits("/filters%3Ablur%2810%29/a.jpg"),
        Vec::<Edit>::new(),
        "an encoded prefix is not a filters segment"
    );
    assert_eq!(
        edits("/filters:blur%2810%29%3Agrayscale()/a.jpg"),
        vec![Edit::Blur(5.0), Edit::Grayscale]
    );
    for (path, name) in [
        ("/filters:blur(/x.jpg", "blur"),
        ("/filters:blur(1/x.jpg", "blur"),
        ("/filters:blur(1))/x.jpg", "blur"),
        ("/filters:blur(1)x/x.jpg", "blur"),
        ("/filters:()/x.jpg", "filters"),
        ("/filters:/x.jpg", "filters"),
        ("/filters:grayscale/x.jpg", "grayscale"),
        ("/filters:grayscale()::blur(2)/x.jpg", "filters"),
        ("/filters:gray-scale()/x.jpg", "filters"),
        ("/filters:%FF()/x.jpg", "filters"),
        ("/filters:猫()/x.jpg", "filters"),
    ] {
        assert_eq!(param(path), name, "{path}");
    }
    // a filters segment with nothing after it is the key
    assert_eq!(key("/filters:blur("), "filters:blur(");
}

#[test]
fn size_limits() {
    for (path, name) in [
        ("/99999999999x1/a.jpg", "width"),
        ("/1x99999999999999999999999/a.jpg", "height"),
        ("/4097x1/a.jpg", "width"),
        ("/-4097x1/a.jpg", "width"),
        ("/fit-in/1x4097/a.jpg", "height"),
        ("/5x0:4x10/a.jpg", "crop"),
        ("/0x10:10x10/a.jpg", "crop"),
        ("/0x0:99999999999x1/a.jpg", "crop"),
    ] {
        assert_eq!(param(path), name, "{path}");
    }
    assert_eq!(
        only_resize("/4096x4096/a.jpg"),
        resize(Some(4096), Some(4096), Fit::Cover)
    );
    // crop coordinates are not bound by the output limits
    assert_eq!(
        edits("/5000x5000:6000x6000/a.jpg"),
        vec![Edit::Extract(Region {
            left: 5000,
            top: 5000,
            width: 1000,
            height: 1000
        })]
    );
}

#[test]
fn hostile_inputs_do_not_panic() {
    let long = format!("/{}a.jpg", "300x200/".repeat(10_000));
    let deep = format!("/filters:{}/a.jpg", "(".repeat(10_000));
    let many = format!("/filters:{}/a.jpg", vec!["grayscale()"; 5_000].join(":"));
    let colons = format!("/{}/a.jpg", ":".repeat(10_000));
    for path in [
        "/filters:blur(",
        "/filters:()/x.jpg",
        "/-x-/a.jpg",
        "/--x--/a.jpg",
        "/99999999999x1/a.jpg",
        "/%",
        "/%/a.jpg",
        "/%E7%8C/a.jpg",
        "/filters:%/a.jpg",
        "/filters:blur(%)/a.jpg",
        "/filters:rgb(%E7,1,1)/a.jpg",
        "/trim:::/a.jpg",
        "/x:x/a.jpg",
        "/:x/a.jpg",
        "/s3:/",
        "/unsafe",
        "//",
        "///",
        "/🦀x🦀/🦀.jpg",
        "/filters:🦀(🦀)/a",
        "/filters:blur(🦀)/a",
        "/filters:convolution(;;;;,3)/a",
        "/filters:convolution(1,1)/a",
        "/filters:sharpen(1e308,1e308)/a",
        "/filters:proportion(1e-320)/a",
        "/filters:)(/a",
        &long,
        &deep,
        &many,
        &colons,
    ] {
        let _ = with_buckets(path, &["main"]);
    }
    assert_eq!(key(&long), format!("{}a.jpg", "300x200/".repeat(9_999)));
    assert_eq!(edits(&many), vec![Edit::Grayscale; 5_000]);
}

#[test]
fn token_soup_never_panics() {
    const TOKENS: &[&str] = &[
        "/",
        "/",
        "unsafe",
        "cST4Ko5_FqwT3BDn-Wf4gO3RFSk=",
        "trim",
        ":",
        "top-left",
        "bottom-right",
        "442",
        "10x0",
        "x",
        "-",
        "0",
        "300",
        "4097",
        "orig",
        "fit-in",
        "full-",
        "adaptive-",
        "left",
        "middle",
        "bottom",
        "smart",
        "filters:",
        "(",
        ")",
        ",",
        ";",
        "blur",
        "fill",
        "proportion",
        "convolution",
        "rgb",
        "format",
        "s3:",
        "main",
        "%",
        "%20",
        "%E7%8C",
        "%FF",
        "猫",
        "🦀",
        "a.jpg",
        "1.5",
        "-100",
        "true",
        "unsafe/",
        "trim:bottom-right:5/",
        "1x1:9x9/",
        "fit-in/",
        "-300x200/",
        "0x100/",
        "left/",
        "top/",
        "smart/",
        "filters:blur(4):grayscale()/",
        "filters:fill(red)/",
        "filters:proportion(0.5):no_upscale()/",
        "filters:quality(80)/",
        "s3:main/",
    ];
    let limits = Limits::default();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as usize % n
    };
    for _ in 0..20_000 {
        let len = 1 + next(24);
        let mut path = String::from("/");
        for _ in 0..len {
            path.push_str(TOKENS[next(TOKENS.len())]);
        }
        if let Ok(p) = with_buckets(&path, &["main"]) {
            assert!(!p.request.source.key.is_empty(), "{path}");
            for edit in &p.request.edits {
                if let Edit::Resize(r) = edit {
                    let (max_w, max_h) = Resize::box_limits(r.without_enlargement, &limits);
                    assert!(r.width.is_none_or(|w| (1..=max_w).contains(&w)), "{path}");
                    assert!(r.height.is_none_or(|h| (1..=max_h).contains(&h)), "{path}");
                }
                if let Edit::Blur(sigma) = edit {
                    assert!((0.3..=1000.0).contains(sigma), "{path}");
                }
            }
        }
    }
}
