use super::*;
use crate::request::Limits;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde_json::json;

fn buckets() -> Vec<String> {
    vec![
        "validBucket".to_string(),
        "bucket-name-here".to_string(),
        "my-bucket".to_string(),
    ]
}

fn object(v: Value) -> Object {
    match v {
        Value::Object(o) => o,
        other => panic!("not an object: {other}"),
    }
}

fn req(v: Value) -> Result<ImageRequest> {
    let b = buckets();
    let rules = Rules {
        limits: Limits::default(),
        buckets: &b,
    };
    parse(&object(v), &rules)
}

fn edits(e: Value) -> Result<Vec<Edit>> {
    req(json!({"key": "k", "edits": e})).map(|r| r.edits)
}

fn output(v: Value) -> Output {
    let mut v = object(v);
    v.insert("key".into(), json!("k"));
    req(Value::Object(v)).unwrap().output
}

/// The error for `e` as edits, checked to be a 400 naming `name`.
fn edit_err(e: Value, name: &str) -> Error {
    let err = edits(e.clone()).unwrap_err();
    assert_eq!(err.status(), 400, "{e}: {err}");
    assert!(err.to_string().contains(name), "{e}: {err}");
    err
}

const BLACK: Color = Color {
    r: 0,
    g: 0,
    b: 0,
    a: 255,
};

fn resize(width: Option<u32>, height: Option<u32>) -> Resize {
    Resize {
        width,
        height,
        fit: Fit::Cover,
        position: Position::Centre,
        background: None,
        without_enlargement: false,
        adaptive: false,
    }
}

#[test]
fn detects_sih_vectors() {
    let o = detect(
        "/eyJidWNrZXQiOiJ2YWxpZEJ1Y2tldCIsImtleSI6InZhbGlkS2V5IiwiZWRpdHMiOnsidG9Gb3JtYXQiOiJwbmcifX0=",
    )
    .unwrap();
    let r = req(Value::Object(o)).unwrap();
    assert_eq!(
        r.source,
        Source {
            bucket: Some("validBucket".into()),
            key: "validKey".into()
        }
    );
    assert_eq!(r.output.format, Some(OutputFormat::Png));
    assert!(r.edits.is_empty());

    let o =
        detect("/eyJidWNrZXQiOiJidWNrZXQtbmFtZS1oZXJlIiwia2V5Ijoia2V5LW5hbWUtaGVyZSJ9").unwrap();
    assert_eq!(
        Value::Object(o),
        json!({"bucket": "bucket-name-here", "key": "key-name-here"})
    );
    // without the leading slash, and SIH's request-type vector
    assert!(
        detect("eyJidWNrZXQiOiJidWNrZXQtbmFtZS1oZXJlIiwia2V5Ijoia2V5LW5hbWUtaGVyZSJ9").is_some()
    );
    let o = detect("/eyJidWNrZXQiOiJteS1zYW1wbGUtYnVja2V0Iiwia2V5IjoibXktc2FtcGxlLWtleSIsImVkaXRzIjp7ImdyYXlzY2FsZSI6dHJ1ZX19").unwrap();
    assert_eq!(o["edits"], json!({"grayscale": true}));
}

#[test]
fn sih_setup_and_reference_examples() {
    // SIH setup.spec.ts (#29)
    let r = req(json!({"bucket": "validBucket", "key": "validKey", "edits": {"grayscale": true}, "outputFormat": "jpeg"})).unwrap();
    assert_eq!(r.source.bucket.as_deref(), Some("validBucket"));
    assert_eq!(r.edits, vec![Edit::Grayscale]);
    // outputFormat is preferred, not forced: automatic WebP still wins, as in SIH
    assert_eq!(r.output.format, None);
    assert_eq!(r.output.preferred, Some(OutputFormat::Jpeg));
    assert!(r.headers.is_empty());
    // the example URL of the reference, section 1.2
    let o = detect("/eyJidWNrZXQiOiJteS1idWNrZXQiLCJrZXkiOiJwaG90b3MvY2F0LmpwZyIsImVkaXRzIjp7InJlc2l6ZSI6eyJ3aWR0aCI6MjAwLCJoZWlnaHQiOjIwMCwiZml0IjoiY292ZXIifSwiZ3JheXNjYWxlIjp0cnVlfSwib3V0cHV0Rm9ybWF0Ijoid2VicCJ9").unwrap();
    let r = req(Value::Object(o)).unwrap();
    assert_eq!(r.source.key, "photos/cat.jpg");
    assert_eq!(
        r.edits,
        vec![Edit::Resize(resize(Some(200), Some(200))), Edit::Grayscale]
    );
    assert_eq!(r.output.preferred, Some(OutputFormat::Webp));
}

#[test]
fn detect_rejects_what_sih_rejects() {
    // Bytes whose standard base64 holds `+` and `/`, so the URL-safe form differs.
    let json = r#"{"key":"a>>>?b","x":"???>>>"}"#;
    let standard = STANDARD.encode(json);
    let url_safe = URL_SAFE.encode(json);
    assert_ne!(standard, url_safe);
    assert!(detect(&format!("/{standard}")).is_some());
    let unpadded = STANDARD.encode(r#"{"key":"abc"}"#);
    assert!(unpadded.ends_with('='));
    for path in [
        "/someNonBase64EncodedContentHere".to_string(),
        format!("/{url_safe}"),
        format!("/{}", unpadded.trim_end_matches('=')),
        format!("/{}", STANDARD.encode("not json at all")),
        format!("/{}", STANDARD.encode("[1, 2]")),
        format!("/{}", STANDARD.encode("\"string\"")),
        format!("/{}", STANDARD.encode([0xff, 0xfe, b'{', b'}'])),
        format!("/{}", STANDARD.encode("[".repeat(10_000))),
        format!("/{}", STANDARD.encode("{\"a\":".repeat(10_000))),
        "/".to_string(),
        String::new(),
        "/abcd".to_string(),
        "/ab==ab==".to_string(),
        "/a===".to_string(),
        "/====".to_string(),
        "/photos/cat.jpg".to_string(),
        "/fit-in/400x300/image.jpg".to_string(),
        "//e30=".to_string(),
        "/e30=?x".to_string(),
    ] {
        assert!(detect(&path).is_none(), "{path}");
    }
    assert_eq!(detect("/e30="), Some(Map::new()));
}

#[test]
fn buckets_and_keys() {
    let r = req(json!({"key": "中文/a b%20c.jpg"})).unwrap();
    assert_eq!(
        r.source,
        Source {
            bucket: None,
            key: "中文/a b%20c.jpg".into()
        }
    );
    let e = req(json!({"bucket": "otherBucket", "key": "k"})).unwrap_err();
    assert_eq!(e.status(), 403);
    assert_eq!(e.code(), "ImageBucket::CannotAccessBucket");
    assert_eq!(
        req(json!({"bucket": null, "key": "k"}))
            .unwrap()
            .source
            .bucket,
        None
    );
    for (v, code) in [
        (json!({}), "MissingKey"),
        (json!({"key": ""}), "MissingKey"),
        (json!({"key": null}), "MissingKey"),
        (json!({"key": 5}), "DecodeRequest::CannotDecodeRequest"),
        (json!({"key": ["a"]}), "DecodeRequest::CannotDecodeRequest"),
        (json!({"key": "a\u{0}b"}), "InvalidKey"),
        (
            json!({"bucket": 1, "key": "k"}),
            "DecodeRequest::CannotDecodeRequest",
        ),
        (
            json!({"key": "k", "edits": [1]}),
            "DecodeRequest::CannotDecodeRequest",
        ),
        (
            json!({"key": "k", "headers": "x"}),
            "DecodeRequest::CannotDecodeRequest",
        ),
    ] {
        let e = req(v.clone()).unwrap_err();
        assert_eq!(e.status(), 400, "{v}");
        assert_eq!(e.code(), code, "{v}");
    }
    // unknown top-level fields and SIH's old `reductionEffort` are ignored
    let r = req(json!({"key": "k", "reductionEffort": 3, "foo": {"bar": 1}})).unwrap();
    assert_eq!(r.output, Output::default());
}

#[test]
fn output_formats() {
    for (v, format) in [
        (json!({"outputFormat": "jpg"}), Some(OutputFormat::Jpeg)),
        (json!({"outputFormat": "jpeg"}), Some(OutputFormat::Jpeg)),
        (json!({"outputFormat": "png"}), Some(OutputFormat::Png)),
        (json!({"outputFormat": "webp"}), Some(OutputFormat::Webp)),
        (json!({"outputFormat": "tiff"}), Some(OutputFormat::Tiff)),
        (json!({"outputFormat": "gif"}), Some(OutputFormat::Gif)),
        (json!({"outputFormat": "avif"}), Some(OutputFormat::Avif)),
        (json!({"outputFormat": null}), None),
        (json!({}), None),
        (
            json!({"outputFormat": "jpeg", "edits": {"toFormat": "png"}}),
            Some(OutputFormat::Png),
        ),
        (
            json!({"edits": {"toFormat": "webp"}, "outputFormat": "gif"}),
            Some(OutputFormat::Webp),
        ),
    ] {
        let o = output(v.clone());
        assert_eq!(o.format.or(o.preferred), format, "{v}");
    }
    for bad in ["heif", "raw", "auto", "bmp", ""] {
        let e = req(json!({"key": "k", "outputFormat": bad})).unwrap_err();
        assert!(e.to_string().contains("outputFormat="), "{bad}: {e}");
        let e = edit_err(json!({"toFormat": bad}), "toFormat=");
        assert_eq!(e.code(), "InvalidParameter");
    }
    let e = req(json!({"key": "k", "outputFormat": 5})).unwrap_err();
    assert!(e.to_string().contains("outputFormat=5"), "{e}");
}

#[test]
fn format_objects() {
    for (v, format, quality, lossless) in [
        (
            json!({"edits": {"jpeg": {"quality": 80, "progressive": true}}}),
            Some(OutputFormat::Jpeg),
            Some(80),
            false,
        ),
        (
            json!({"edits": {"webp": {"quality": 70, "lossless": true}}}),
            Some(OutputFormat::Webp),
            Some(70),
            true,
        ),
        (
            json!({"edits": {"avif": {"lossless": true}}}),
            Some(OutputFormat::Avif),
            None,
            true,
        ),
        // lossless is not a JPEG option
        (
            json!({"edits": {"jpeg": {"lossless": true}}}),
            Some(OutputFormat::Jpeg),
            None,
            false,
        ),
        // the last format object wins, as the last sharp call does
        (
            json!({"edits": {"png": {"quality": 50}, "webp": {"quality": 60}}}),
            Some(OutputFormat::Webp),
            Some(60),
            false,
        ),
        (
            json!({"edits": {"webp": {"quality": 60}, "png": {"quality": 50}}}),
            Some(OutputFormat::Png),
            Some(50),
            false,
        ),
        // toFormat and outputFormat win; options of that format still apply
        (
            json!({"edits": {"webp": {"quality": 60}, "png": {"quality": 50}, "toFormat": "webp"}}),
            Some(OutputFormat::Webp),
            Some(60),
            false,
        ),
        (
            json!({"outputFormat": "jpg", "edits": {"jpeg": {"quality": 40}, "webp": {"quality": 60}}}),
            Some(OutputFormat::Jpeg),
            Some(40),
            false,
        ),
        // options for another format do not apply (sharp ignores them)
        (
            json!({"outputFormat": "png", "edits": {"jpeg": {"quality": 40}}}),
            Some(OutputFormat::Png),
            None,
            false,
        ),
        (
            json!({"edits": {"gif": true}}),
            Some(OutputFormat::Gif),
            None,
            false,
        ),
        (json!({"edits": {"tiff": null}}), None, None, false),
    ] {
        let o = output(v.clone());
        assert_eq!(
            (o.format.or(o.preferred), o.quality, o.lossless),
            (format, quality, lossless),
            "{v}"
        );
    }
    for (e, name) in [
        (json!({"jpeg": {"quality": 0}}), "jpeg.quality="),
        (json!({"jpeg": {"quality": 101}}), "jpeg.quality="),
        (json!({"webp": {"quality": 50.5}}), "webp.quality="),
        (json!({"webp": {"quality": "50"}}), "webp.quality="),
        (json!({"webp": {"lossless": "yes"}}), "webp.lossless="),
        (json!({"png": 5}), "png="),
        (json!({"heif": {"quality": 50}}), "heif"),
    ] {
        edit_err(e, name);
    }
}

#[test]
fn webp_efforts() {
    for (v, effort) in [
        (json!(3), Some(3)),
        (json!("invalid"), Some(4)),
        (json!(7), Some(4)),
        (json!(-1), Some(4)),
        (json!(2.378), Some(2)),
        (json!(0), Some(0)),
        (json!(6.9), Some(6)),
        (json!(-0.5), Some(0)),
        (json!(1e308), Some(4)),
        (json!("5"), Some(5)),
        (json!("NaN"), Some(4)),
        (json!("Infinity"), Some(4)),
        (json!(true), Some(4)),
        (json!([3]), Some(4)),
        (json!({"e": 3}), Some(4)),
        (json!(null), None),
    ] {
        assert_eq!(output(json!({"effort": v})).effort, effort, "{v}");
    }
    assert_eq!(output(json!({})).effort, None);
}

#[test]
fn response_headers() {
    let r = req(json!({"key": "k", "headers": {
        "Cache-Control": "max-age=31536000,public",
        "Transfer-encoding": "chunked",
        "x-api-key": "key",
        "x-amz-header": "header",
        "content-type": "text/html",
        "Access-Control-Allow-Origin": "*",
    }}))
    .unwrap();
    assert_eq!(
        r.headers,
        vec![(
            "Cache-Control".to_string(),
            "max-age=31536000,public".to_string()
        )]
    );
    let r = req(json!({"key": "k", "headers": {
        "Expires": "Thu, 01 Jan 2099 00:00:00 GMT",
        "X-Custom": 5,
        "X-Object": {"a": 1},
        "Bad Name": "v",
        "": "v",
        "X-Newline": "a\r\nSet-Cookie: x=1",
        "X-Unicode": "ünïcode",
        "x-tag": "one",
        "X-Tag": "two",
    }}))
    .unwrap();
    assert_eq!(
        r.headers,
        vec![
            (
                "Expires".to_string(),
                "Thu, 01 Jan 2099 00:00:00 GMT".to_string()
            ),
            ("X-Tag".to_string(), "two".to_string()),
        ]
    );
    assert!(
        req(json!({"key": "k", "headers": null}))
            .unwrap()
            .headers
            .is_empty()
    );
}

#[test]
fn header_deny_list() {
    for (name, allowed) in [
        ("Cache-Control", true),
        ("Expires", true),
        ("X-Custom-Thing", true),
        ("Link", true),
        ("Authorization", false),
        ("CONNECTION", false),
        ("Server", false),
        ("Transfer-Encoding", false),
        ("Set-Cookie", false),
        ("X-Api-Key", false),
        ("WWW-Authenticate", false),
        ("Proxy-Authenticate", false),
        ("Referrer-Policy", false),
        ("Permissions-Policy", false),
        ("Permissions-Anything", false),
        ("Content-Security-Policy", false),
        ("Content-Length", false),
        ("Access-Control-Allow-Credentials", false),
        ("X-Amz-Meta-Foo", false),
        ("X-Amzn-RequestId", false),
        ("Cross-Origin-Resource-Policy", false),
        ("Strict-Transport-Security", false),
        ("X-Frame-Options", false),
        ("X-Content-Type-Options", false),
        ("X-XSS-Protection", false),
        ("Keep-Alive", false),
        ("Upgrade", false),
        ("TE", false),
        ("Trailer", false),
        ("ETag", false),
        ("Vary", false),
        ("Last-Modified", false),
        ("Date", false),
        ("Server-Timing", false),
        ("Clear-Site-Data", false),
        ("Refresh", false),
    ] {
        assert_eq!(header_allowed(name), allowed, "{name}");
    }
}

#[test]
fn edits_follow_sharps_order_then_key_order() {
    assert_eq!(
        edits(json!({"grayscale": true, "rotate": 90})).unwrap(),
        vec![Edit::Rotate(Rotation::D90), Edit::Grayscale]
    );
    assert_eq!(
        edits(json!({"negate": true, "grayscale": true})).unwrap(),
        vec![Edit::Negate { alpha: true }, Edit::Grayscale]
    );
    assert_eq!(
        edits(json!({"grayscale": true, "negate": true})).unwrap(),
        vec![Edit::Grayscale, Edit::Negate { alpha: true }]
    );
    // parsed from text, not built by json!, to check the map keeps key order
    let o: Object = serde_json::from_str(
        r#"{"key":"k","edits":{"sharpen":true,"flop":true,"blur":2,"flip":true,"resize":{"width":10}}}"#,
    )
    .unwrap();
    let b = buckets();
    let r = parse(
        &o,
        &Rules {
            limits: Limits::default(),
            buckets: &b,
        },
    )
    .unwrap();
    assert_eq!(
        r.edits,
        vec![
            Edit::Flop,
            Edit::Flip,
            Edit::Resize(resize(Some(10), None)),
            Edit::Sharpen(None),
            Edit::Blur(2.0),
        ]
    );
}

#[test]
fn unknown_and_unsupported_edits() {
    assert!(
        edits(json!({"toFile": "x", "keepExif": true, "ratio": 2, "raw": {}}))
            .unwrap()
            .is_empty()
    );
    assert!(edits(json!({})).unwrap().is_empty());
    for name in UNSUPPORTED_EDITS {
        let e = edits(json!({ *name: {"bucket": "b", "key": "k"} })).unwrap_err();
        assert_eq!(e.code(), "UnsupportedEdit", "{name}");
        assert_eq!(e.status(), 400, "{name}");
        assert!(e.to_string().contains(name), "{name}: {e}");
    }
    // SIH's custom edits do nothing when false
    for name in CUSTOM_EDITS {
        assert!(edits(json!({ *name: false })).unwrap().is_empty(), "{name}");
        assert!(edits(json!({ *name: null })).unwrap().is_empty(), "{name}");
    }
    assert!(edits(json!({"overlayWith": true})).is_err());
    assert!(matches!(
        &edits(json!({"overlayWith": {"bucket": "validBucket", "key": "logo.png", "alpha": 150, "wRatio": "x", "options": {"left": "-10", "top": "50p"}}})).unwrap()[..],
        [Edit::Overlay(o)] if o.alpha == 0 && o.width_ratio.is_none() && o.left == super::super::Offset::Pixels(-10) && o.top == super::super::Offset::Percent(50)
    ));
    // fractional percentages, read as SIH's parseInt reads them (issue 20)
    for (left, top, l, t) in [
        ("25.5p", "-10.9p", 25, -10),
        ("0.5p", "99.99p", 0, 99),
        ("-100.0p", "100p", -100, 100),
    ] {
        assert!(
            matches!(
                &edits(json!({"overlayWith": {"key": "logo.png", "options": {"left": left, "top": top}}})).unwrap()[..],
                [Edit::Overlay(o)] if o.left == super::super::Offset::Percent(l) && o.top == super::super::Offset::Percent(t)
            ),
            "{left} {top}"
        );
    }
    for bad in ["100.5p", "1e1p", "NaNp", "infp", ".p", "25.5.5p", "25,5p"] {
        assert!(
            edits(
                json!({"overlayWith": {"key": "logo.png", "options": {"left": bad, "top": "0"}}})
            )
            .is_err(),
            "{bad}"
        );
    }
    assert!(edits(json!({"removeAlpha": false})).unwrap().is_empty());
    // an unsupported edit after a valid one still fails the whole request
    assert!(matches!(
        edits(json!({"grayscale": true, "contentModeration": {"minConfidence": 50}})),
        Err(Error::UnsupportedEdit(n)) if n == "contentModeration"
    ));
}

#[test]
fn colour_and_shape_edits() {
    assert_eq!(
        edits(json!({"modulate": {"brightness": 2, "saturation": 0.5, "hue": 90}})).unwrap(),
        vec![Edit::Modulate(Modulate {
            brightness: 2.0,
            saturation: 0.5,
            hue: 90.0,
            lightness: 0.0
        })]
    );
    assert_eq!(
        edits(json!({"median": true})).unwrap(),
        vec![Edit::Median(3)]
    );
    assert_eq!(edits(json!({"median": 5})).unwrap(), vec![Edit::Median(5)]);
    assert_eq!(
        edits(json!({"gamma": 2.4})).unwrap(),
        vec![Edit::Gamma(2.4, 2.4)]
    );
    assert_eq!(
        edits(json!({"gamma": [2.2, 3.0]})).unwrap(),
        vec![Edit::Gamma(2.2, 3.0)]
    );
    assert_eq!(
        edits(json!({"threshold": {"threshold": 100, "grayscale": false}})).unwrap(),
        vec![Edit::Threshold {
            value: 100,
            grayscale: false
        }]
    );
    assert_eq!(
        edits(json!({"clahe": {"width": 8, "height": 8}})).unwrap(),
        vec![Edit::Clahe {
            width: 8,
            height: 8,
            max_slope: 3
        }]
    );
    assert_eq!(
        edits(json!({"removeAlpha": true, "ensureAlpha": 0.5})).unwrap(),
        vec![Edit::RemoveAlpha, Edit::EnsureAlpha(0.5)]
    );
    assert_eq!(
        edits(json!({"roundCrop": {"rx": 0, "ry": 20, "left": 50}})).unwrap(),
        vec![Edit::RoundCrop(RoundCrop::Ellipse {
            rx: None,
            ry: Some(20),
            left: Some(50),
            top: None
        })]
    );
    assert_eq!(
        edits(json!({"smartCrop": {"faceIndex": 1, "padding": 40}})).unwrap(),
        vec![Edit::SmartCrop { padding: 40 }]
    );
    // with a two-sided resize, smartCrop makes its crop attention-based
    let with_resize =
        edits(json!({"smartCrop": true, "resize": {"width": 10, "height": 10}})).unwrap();
    assert!(
        matches!(&with_resize[..], [Edit::Resize(r)] if r.position == Position::Attention && r.fit == Fit::Cover)
    );
    for (bad, name) in [
        (json!({"median": 4}), "median="),
        (json!({"gamma": 0.5}), "gamma="),
        (json!({"threshold": 300}), "threshold="),
        (json!({"clahe": {"width": 8}}), "clahe.height"),
        (
            json!({"modulate": {"saturation": -1}}),
            "modulate.saturation",
        ),
        (json!({"ensureAlpha": 2}), "ensureAlpha="),
        (json!({"roundCrop": 5}), "roundCrop="),
    ] {
        let e = edits(bad.clone()).unwrap_err().to_string();
        assert!(e.contains(name), "{bad}: {e}");
    }
}

#[test]
fn resize_sizes() {
    for (r, w, h) in [
        (
            json!({"width": "99.1", "height": "99.9"}),
            Some(99),
            Some(100),
        ),
        (json!({"width": 200, "height": 100}), Some(200), Some(100)),
        (json!({"width": 200.5}), Some(201), None),
        (json!({"width": null, "height": 300}), None, Some(300)),
        (json!({"width": " 50 "}), Some(50), None),
        (json!({"height": "1e2"}), None, Some(100)),
        (
            json!({"width": 4096, "height": 4096}),
            Some(4096),
            Some(4096),
        ),
    ] {
        assert_eq!(
            edits(json!({ "resize": r })).unwrap(),
            vec![Edit::Resize(resize(w, h))],
            "{r}"
        );
    }
    assert_eq!(
        edits(json!({"resize": 300})).unwrap(),
        vec![Edit::Resize(resize(Some(300), None))]
    );
    for r in [
        json!({}),
        json!({"fit": "inside"}),
        json!({"width": null, "height": null}),
        json!({"ratio": 0.5}),
        json!(null),
    ] {
        assert!(edits(json!({ "resize": r })).unwrap().is_empty(), "{r}");
    }
    for r in [
        json!({"width": 0}),
        json!({"width": -5}),
        json!({"height": "0"}),
        json!({"width": 0.4}),
        json!({"width": 100, "height": -1}),
        json!({"height": -1e308}),
        json!(0),
    ] {
        let e = edits(json!({ "resize": r })).unwrap_err();
        assert!(matches!(e, Error::InvalidResize), "{r}: {e}");
        assert_eq!(e.code(), "InvalidResizeException");
    }
    for (r, name) in [
        (json!({"width": 4097}), "resize.width="),
        (json!({"height": 1e308}), "resize.height="),
        (json!({"width": "abc"}), "resize.width="),
        (json!({"width": ""}), "resize.width="),
        (json!({"width": "NaN"}), "resize.width="),
        (json!({"width": "Infinity"}), "resize.width="),
        (json!({"width": "inf"}), "resize.width="),
        (json!({"width": "0x10"}), "resize.width="),
        (json!({"width": true}), "resize.width="),
        (json!({"width": [100]}), "resize.width="),
        (json!({"width": {"a": 1}}), "resize.width="),
        (json!("100"), "resize="),
        (json!([100, 200]), "resize="),
    ] {
        edit_err(json!({ "resize": r }), name);
    }
}

#[test]
fn resize_options() {
    let red = Color {
        r: 255,
        g: 0,
        b: 0,
        a: 255,
    };
    let r = edits(json!({"resize": {
        "width": 300, "height": 200, "fit": "contain", "position": "right top",
        "background": "#ff0000", "withoutEnlargement": true, "ratio": 3,
        "kernel": "lanczos3"
    }}))
    .unwrap();
    assert_eq!(
        r,
        vec![Edit::Resize(Resize {
            width: Some(300),
            height: Some(200),
            fit: Fit::Contain,
            position: Position::NorthEast,
            background: Some(red),
            without_enlargement: true,
            adaptive: false,
        })]
    );
    for (p, position) in [
        (json!("attention"), Position::Attention),
        (json!("entropy"), Position::Entropy),
        (json!("centre"), Position::Centre),
        (json!("left bottom"), Position::SouthWest),
        (json!(1), Position::North),
        (json!(6), Position::SouthEast),
        (json!(16), Position::Entropy),
        (json!(17), Position::Attention),
    ] {
        let r = edits(json!({"resize": {"width": 10, "position": p}})).unwrap();
        assert!(
            matches!(r[0], Edit::Resize(Resize { position: got, .. }) if got == position),
            "{p}"
        );
    }
    for (bg, c) in [
        (
            json!({"r": 0, "g": 0, "b": 0, "alpha": 0}),
            Color::TRANSPARENT,
        ),
        (
            json!({"r": 255, "g": 128.4, "b": 0, "alpha": 0.5}),
            Color {
                r: 255,
                g: 128,
                b: 0,
                a: 128,
            },
        ),
        (json!({"r": 255, "g": 255, "b": 255}), Color::WHITE),
        (json!("white"), Color::WHITE),
        (json!("fff"), Color::WHITE),
        (
            json!("rgba(255, 0, 0, 0.5)"),
            Color {
                r: 255,
                g: 0,
                b: 0,
                a: 128,
            },
        ),
        (json!("RGB(255,0,0)"), red),
    ] {
        let r = edits(json!({"resize": {"width": 10, "background": bg}})).unwrap();
        assert!(
            matches!(r[0], Edit::Resize(Resize { background: Some(got), .. }) if got == c),
            "{bg}"
        );
    }
    for (r, name) in [
        (json!({"width": 10, "fit": "banana"}), "resize.fit="),
        (json!({"width": 10, "fit": 1}), "resize.fit="),
        (json!({"width": 10, "position": "up"}), "resize.position="),
        (json!({"width": 10, "position": 9}), "resize.position="),
        (json!({"width": 10, "position": -1}), "resize.position="),
        (
            json!({"width": 10, "background": "zzz"}),
            "resize.background=",
        ),
        (json!({"width": 10, "background": 5}), "resize.background="),
        (
            json!({"width": 10, "background": [0, 0, 0]}),
            "resize.background=",
        ),
        (
            json!({"width": 10, "background": {"r": 0, "g": 0}}),
            "resize.background=",
        ),
        (
            json!({"width": 10, "background": {"r": 256, "g": 0, "b": 0}}),
            "resize.background.r=",
        ),
        (
            json!({"width": 10, "background": {"r": 0, "g": 0, "b": 0, "alpha": 2}}),
            "resize.background.alpha=",
        ),
        (
            json!({"width": 10, "background": "rgb(1,2)"}),
            "resize.background=",
        ),
        (
            json!({"width": 10, "background": "rgba(1,2,3,5)"}),
            "resize.background=",
        ),
        (
            json!({"width": 10, "withoutEnlargement": "yes"}),
            "resize.withoutEnlargement=",
        ),
    ] {
        edit_err(json!({ "resize": r }), name);
    }
}

#[test]
fn rotate_angles() {
    for (v, r) in [
        (json!(90), vec![Edit::Rotate(Rotation::D90)]),
        (json!(180.0), vec![Edit::Rotate(Rotation::D180)]),
        (json!(-90), vec![Edit::Rotate(Rotation::D270)]),
        (json!(450), vec![Edit::Rotate(Rotation::D90)]),
        (json!(0), vec![]),
        (json!(360), vec![]),
        (json!(null), vec![]),
        (json!(9e15), vec![]),
    ] {
        assert_eq!(edits(json!({ "rotate": v })).unwrap(), r, "{v}");
    }
    // any angle, as SIH (issue 20)
    for (v, r) in [
        (json!(45), vec![Edit::Rotate(Rotation::Other(4_500))]),
        (json!(90.5), vec![Edit::Rotate(Rotation::Other(9_050))]),
        (json!(-225), vec![Edit::Rotate(Rotation::Other(13_500))]),
        (json!(-1e-300), vec![]),
    ] {
        assert_eq!(edits(json!({ "rotate": v })).unwrap(), r, "{v}");
    }
    for v in [json!("90"), json!(true), json!({"angle": 90})] {
        edit_err(json!({ "rotate": v }), "rotate=");
    }
}

#[test]
fn boolean_edits() {
    for (name, edit) in [
        ("flip", Edit::Flip),
        ("flop", Edit::Flop),
        ("grayscale", Edit::Grayscale),
        ("greyscale", Edit::Grayscale),
        ("normalize", Edit::Normalize),
        ("normalise", Edit::Normalize),
    ] {
        assert_eq!(
            edits(json!({ name: true })).unwrap(),
            vec![edit.clone()],
            "{name}"
        );
        assert!(edits(json!({ name: false })).unwrap().is_empty(), "{name}");
        assert!(edits(json!({ name: null })).unwrap().is_empty(), "{name}");
        // SIH (through sharp) takes the strings too (issue 20)
        assert_eq!(
            edits(json!({ name: "true" })).unwrap(),
            vec![edit],
            "{name}"
        );
        assert!(
            edits(json!({ name: "false" })).unwrap().is_empty(),
            "{name}"
        );
        for bad in [
            json!("True"),
            json!("yes"),
            json!("1"),
            json!(""),
            json!(" true"),
            json!(1),
            json!({}),
            json!([]),
        ] {
            edit_err(json!({ name: bad }), &format!("{name}="));
        }
    }
}

#[test]
fn extract_and_crop() {
    let region = Region {
        left: 10,
        top: 0,
        width: 90,
        height: 200,
    };
    for name in ["extract", "crop"] {
        assert_eq!(
            edits(json!({ name: {"left": 10, "top": 0, "width": 90, "height": 200} })).unwrap(),
            vec![Edit::Extract(region)],
            "{name}"
        );
        assert_eq!(
            edits(json!({ name: {"left": 10.0, "top": 0, "width": 90, "height": 200.0} })).unwrap(),
            vec![Edit::Extract(region)],
            "{name}"
        );
        assert!(edits(json!({ name: null })).unwrap().is_empty());
        for (bad, field) in [
            (json!({"top": 0, "width": 90, "height": 200}), "left"),
            (
                json!({"left": -1, "top": 0, "width": 90, "height": 200}),
                "left",
            ),
            (
                json!({"left": 0, "top": 1.5, "width": 90, "height": 200}),
                "top",
            ),
            (
                json!({"left": 0, "top": 0, "width": 0, "height": 200}),
                "width",
            ),
            (
                json!({"left": 0, "top": 0, "width": 9, "height": "200"}),
                "height",
            ),
            (
                json!({"left": 0, "top": 0, "width": 9, "height": 1e308}),
                "height",
            ),
            (
                json!({"left": 0, "top": 0, "width": 9, "height": 5e9}),
                "height",
            ),
        ] {
            edit_err(json!({ name: bad }), &format!("{name}.{field}"));
        }
        for bad in [json!(true), json!([10, 0, 90, 200]), json!("10,0,90,200")] {
            edit_err(json!({ name: bad }), &format!("{name}="));
        }
    }
}

#[test]
fn extend_borders() {
    let ext = |top, bottom, left, right, background| {
        vec![Edit::Extend(Extend {
            top,
            bottom,
            left,
            right,
            background: Some(background),
        })]
    };
    for (v, want) in [
        (json!(10), ext(10, 10, 10, 10, BLACK)),
        (json!({"top": 5, "left": 2}), ext(5, 0, 2, 0, BLACK)),
        (
            json!({"bottom": 3, "right": 4, "background": {"r": 0, "g": 0, "b": 0, "alpha": 0}}),
            ext(0, 3, 0, 4, Color::TRANSPARENT),
        ),
        (
            json!({"top": 1, "background": "white", "extendWith": "background"}),
            ext(1, 0, 0, 0, Color::WHITE),
        ),
        (json!(0), vec![]),
        (json!({}), vec![]),
        (json!(null), vec![]),
    ] {
        assert_eq!(edits(json!({ "extend": v })).unwrap(), want, "{v}");
    }
    for (v, name) in [
        (json!(-1), "extend="),
        (json!(1.5), "extend="),
        (json!(5000), "extend="),
        (json!("10"), "extend="),
        (json!({"top": -1}), "extend.top="),
        (json!({"left": 4097}), "extend.left="),
        (
            json!({"top": 1, "background": "nope"}),
            "extend.background=",
        ),
    ] {
        edit_err(json!({ "extend": v }), name);
    }
    assert!(matches!(
        edits(json!({"extend": {"top": 1, "extendWith": "mirror"}})),
        Err(Error::UnsupportedEdit(_))
    ));
}

#[test]
fn trim_borders() {
    let t = |threshold, background| {
        vec![Edit::Trim(Trim {
            threshold,
            background,
        })]
    };
    for (v, want) in [
        (json!(true), t(10.0, TrimBackground::TopLeft)),
        (json!(25), t(25.0, TrimBackground::TopLeft)),
        (json!({"threshold": 0}), t(0.0, TrimBackground::TopLeft)),
        (
            json!({"background": "#fff"}),
            t(10.0, TrimBackground::Color(Color::WHITE)),
        ),
        (
            json!({"threshold": 5, "background": {"r": 255, "g": 255, "b": 255}, "lineArt": false}),
            t(5.0, TrimBackground::Color(Color::WHITE)),
        ),
        (json!(false), vec![]),
        (json!(null), vec![]),
    ] {
        assert_eq!(edits(json!({ "trim": v })).unwrap(), want, "{v}");
    }
    for (v, name) in [
        (json!(-1), "trim="),
        (json!("10"), "trim="),
        (json!([10]), "trim="),
        (json!({"threshold": -5}), "trim.threshold="),
        (json!({"threshold": "5"}), "trim.threshold="),
        (json!({"background": "nope"}), "trim.background="),
    ] {
        edit_err(json!({ "trim": v }), name);
    }
    assert!(matches!(
        edits(json!({"trim": {"lineArt": true}})),
        Err(Error::UnsupportedEdit(_))
    ));
}

#[test]
fn blur_and_sharpen() {
    for (v, want) in [
        (json!(true), vec![Edit::Blur(1.0)]),
        (json!(2), vec![Edit::Blur(2.0)]),
        (json!(0.3), vec![Edit::Blur(0.3)]),
        (json!(1000), vec![Edit::Blur(1000.0)]),
        (json!({"sigma": 5}), vec![Edit::Blur(5.0)]),
        (json!(false), vec![]),
        (json!(null), vec![]),
    ] {
        assert_eq!(edits(json!({ "blur": v })).unwrap(), want, "{v}");
    }
    for v in [
        json!(0.2),
        json!(1001),
        json!(0),
        json!(-1),
        json!("2"),
        json!([2]),
    ] {
        edit_err(json!({ "blur": v }), "blur=");
    }
    edit_err(json!({"blur": {"sigma": 0}}), "blur.sigma=");

    for (v, want) in [
        (json!(true), vec![Edit::Sharpen(None)]),
        (json!(1.5), vec![Edit::Sharpen(Some(1.5))]),
        (json!({"sigma": 2, "m1": 1}), vec![Edit::Sharpen(Some(2.0))]),
        (json!(false), vec![]),
        (json!(null), vec![]),
    ] {
        assert_eq!(edits(json!({ "sharpen": v })).unwrap(), want, "{v}");
    }
    for v in [json!(0), json!(11), json!("1"), json!([1])] {
        edit_err(json!({ "sharpen": v }), "sharpen=");
    }
    edit_err(json!({"sharpen": {}}), "sharpen.sigma");
    edit_err(json!({"sharpen": {"sigma": 20}}), "sharpen.sigma=");
}

#[test]
fn colour_edits() {
    let grey = Color {
        r: 26,
        g: 26,
        b: 26,
        a: 255,
    };
    for (e, want) in [
        (json!({"flatten": true}), vec![Edit::Flatten(BLACK)]),
        (json!({"flatten": {}}), vec![Edit::Flatten(BLACK)]),
        (
            json!({"flatten": {"background": {"r": 255, "g": 255, "b": 255}}}),
            vec![Edit::Flatten(Color::WHITE)],
        ),
        (
            json!({"flatten": {"background": "#ffffff"}}),
            vec![Edit::Flatten(Color::WHITE)],
        ),
        (json!({"flatten": false}), vec![]),
        // Thumbor's rgb filter gives fractional channels
        (
            json!({"tint": {"r": 25.5, "g": 25.5, "b": 25.5}}),
            vec![Edit::Tint(grey)],
        ),
        (json!({"tint": "#1a1a1a"}), vec![Edit::Tint(grey)]),
        (json!({"tint": null}), vec![]),
        (json!({"negate": true}), vec![Edit::Negate { alpha: true }]),
        (
            json!({"negate": {"alpha": false}}),
            vec![Edit::Negate { alpha: false }],
        ),
        (json!({"negate": {}}), vec![Edit::Negate { alpha: true }]),
        (json!({"negate": false}), vec![]),
    ] {
        assert_eq!(edits(e.clone()).unwrap(), want, "{e}");
    }
    for (e, name) in [
        (json!({"flatten": "white"}), "flatten="),
        (
            json!({"flatten": {"background": "nope"}}),
            "flatten.background=",
        ),
        (json!({"tint": true}), "tint="),
        (json!({"tint": "nope"}), "tint="),
        (json!({"tint": {"r": -1, "g": 0, "b": 0}}), "tint.r="),
        (json!({"negate": 1}), "negate="),
        (json!({"negate": {"alpha": 1}}), "negate.alpha="),
    ] {
        edit_err(e, name);
    }
}

#[test]
fn linear_levels() {
    for (v, (a, b)) in [
        (json!(1.5), (1.5, 0.0)),
        (json!([1.2, -10]), (1.2, -10.0)),
        (json!({"a": 0.5, "b": 20}), (0.5, 20.0)),
        (json!({"b": 20}), (1.0, 20.0)),
    ] {
        assert_eq!(
            edits(json!({ "linear": v })).unwrap(),
            vec![Edit::Linear { a, b }],
            "{v}"
        );
    }
    assert!(edits(json!({"linear": null})).unwrap().is_empty());
    for (v, name) in [
        (json!([1.2]), "linear="),
        (json!([1, 2, 3]), "linear="),
        (json!("1.5"), "linear="),
        (json!(true), "linear="),
        (json!(1e308), "linear="),
        (json!([1, "x"]), "linear[1]="),
        (json!({"a": "x"}), "linear.a="),
    ] {
        edit_err(json!({ "linear": v }), name);
    }
}

#[test]
fn convolve_kernels() {
    let k = json!({"width": 3, "height": 3, "kernel": [1, 2, 1, 2, 4, 2, 1, 2, 1]});
    assert_eq!(
        edits(json!({ "convolve": k })).unwrap(),
        vec![Edit::Convolve(Kernel {
            width: 3,
            height: 3,
            weights: vec![1.0, 2.0, 1.0, 2.0, 4.0, 2.0, 1.0, 2.0, 1.0],
            scale: None,
            offset: 0.0,
        })]
    );
    assert_eq!(
        edits(json!({"convolve": {"width": 1, "height": 3, "kernel": [-1, 0, 1], "scale": 2, "offset": 128}}))
            .unwrap(),
        vec![Edit::Convolve(Kernel {
            width: 1,
            height: 3,
            weights: vec![-1.0, 0.0, 1.0],
            scale: Some(2.0),
            offset: 128.0,
        })]
    );
    assert!(edits(json!({"convolve": null})).unwrap().is_empty());
    for (v, name) in [
        (
            json!({"width": 2, "height": 3, "kernel": [1, 1, 1, 1, 1, 1]}),
            "convolve.width=",
        ),
        (
            json!({"width": 3, "height": 1003, "kernel": []}),
            "convolve.height=",
        ),
        (json!({"width": 3, "kernel": [1, 1, 1]}), "convolve.height"),
        (
            json!({"width": 3, "height": 1, "kernel": [1, 1]}),
            "convolve.kernel",
        ),
        (
            json!({"width": 1, "height": 1, "kernel": ["1"]}),
            "convolve.kernel[0]=",
        ),
        (
            json!({"width": 1, "height": 1, "kernel": 1}),
            "convolve.kernel=",
        ),
        (json!({"width": 1, "height": 1}), "convolve.kernel="),
        (
            json!({"width": 1, "height": 1, "kernel": [1], "scale": 0}),
            "convolve.scale=",
        ),
        (
            json!({"width": 1, "height": 1, "kernel": [1], "offset": "x"}),
            "convolve.offset=",
        ),
        (json!([1, 2, 1]), "convolve="),
    ] {
        edit_err(json!({ "convolve": v }), name);
    }
}

#[test]
fn hostile_json_is_a_400() {
    let mut deep = json!(1);
    for _ in 0..100 {
        deep = json!({ "width": deep });
    }
    let long = "9".repeat(400);
    for e in [
        json!({"resize": deep}),
        json!({"resize": {"width": long}}),
        json!({"resize": {"width": 1e308, "height": -1e308}}),
        json!({"extract": {"left": 1e308, "top": 0, "width": 1, "height": 1}}),
        json!({"extend": {"top": u64::MAX}}),
        json!({"convolve": {"width": 1001, "height": 1001, "kernel": [1]}}),
        json!({"blur": u64::MAX}),
        json!({"linear": [1e308, -1e308]}),
        json!({"trim": {"threshold": 1e308}}),
        json!({"resize": {"width": 10, "background": {"r": 1e308, "g": 0, "b": 0}}}),
        json!({"resize": {"width": 10, "position": u64::MAX}}),
        json!({"jpeg": {"quality": -1e308}}),
        json!({"flip": [true]}),
        json!({"tint": "x".repeat(100_000)}),
    ] {
        let err = edits(e).unwrap_err();
        assert_eq!(err.status(), 400, "{err}");
        assert!(err.to_string().len() < 400, "{err}");
    }
    // a parsed document nested past serde_json's limit is simply not a default request
    let nested = format!("{{\"key\":{}1{}}}", "[".repeat(1000), "]".repeat(1000));
    assert!(detect(&STANDARD.encode(nested)).is_none());
}

/// One of `items`, chosen by `rng`.
fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

/// A JSON value built from the names, numbers and strings SIH's edits
/// take, nested up to `depth` objects or lists deep.
fn value(rng: &mut fastrand::Rng, depth: u32) -> Value {
    const KEYS: &[&str] = &[
        "width",
        "height",
        "fit",
        "position",
        "background",
        "withoutEnlargement",
        "left",
        "top",
        "bottom",
        "right",
        "extendWith",
        "threshold",
        "lineArt",
        "sigma",
        "alpha",
        "a",
        "b",
        "kernel",
        "scale",
        "offset",
        "brightness",
        "saturation",
        "hue",
        "lightness",
        "gamma",
        "gammaOut",
        "grayscale",
        "maxSlope",
        "rx",
        "ry",
        "faceIndex",
        "padding",
        "bucket",
        "key",
        "wRatio",
        "hRatio",
        "options",
        "quality",
        "lossless",
        "progressive",
        "r",
        "g",
    ];
    let scalars = [
        json!(null),
        json!(true),
        json!(false),
        json!(0),
        json!(-1),
        json!(0.2),
        json!(3),
        json!(17),
        json!(255),
        json!(1001),
        json!(4097),
        json!(1e308),
        json!(-1e308),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(2.5),
        json!(-0.0),
        json!(100_001),
        json!("2"),
        json!(""),
        json!(" 50 "),
        json!("1e2"),
        json!("NaN"),
        json!("0x10"),
        json!("true"),
        json!("#fff"),
        json!("rgba(1,2,3,0.5)"),
        json!("rgb(1,2)"),
        json!("attention"),
        json!("-10.5p"),
        json!("k\u{0}"),
        json!("tif"),
        json!("ünï"),
        json!("x".repeat(10_000)),
    ];
    match rng.u32(..6) {
        0 if depth > 0 => {
            let mut object = Map::new();
            for _ in 0..rng.u32(..5) {
                object.insert(pick(rng, KEYS).to_string(), value(rng, depth - 1));
            }
            Value::Object(object)
        }
        1 if depth > 0 => {
            let n = *pick(rng, &[0, 1, 2, 2, 3, 9]);
            Value::Array((0..n).map(|_| value(rng, depth - 1)).collect())
        }
        _ => pick(rng, &scalars).clone(),
    }
}

#[test]
fn generated_edits_are_a_request_or_a_short_4xx() {
    const NAMES: &[&str] = &[
        "resize",
        "rotate",
        "flip",
        "grayscale",
        "normalize",
        "extract",
        "crop",
        "extend",
        "trim",
        "blur",
        "sharpen",
        "flatten",
        "tint",
        "negate",
        "linear",
        "convolve",
        "animated",
        "toFormat",
        "jpeg",
        "webp",
        "png",
        "jpg",
        "heif",
        "modulate",
        "overlayWith",
        "median",
        "gamma",
        "threshold",
        "clahe",
        "removeAlpha",
        "ensureAlpha",
        "roundCrop",
        "smartCrop",
        "contentModeration",
        "toFile",
    ];
    // a fixed seed: the same requests on every run
    let mut rng = fastrand::Rng::with_seed(0x9E37_79B9_7F4A_7C15);
    let mut accepted = 0;
    for _ in 0..20_000 {
        let mut e = Map::new();
        for _ in 0..1 + rng.u32(..3) {
            e.insert(pick(&mut rng, NAMES).to_string(), value(&mut rng, 3));
        }
        let mut request = json!({"key": "k", "edits": e});
        for field in ["bucket", "outputFormat", "effort", "headers"] {
            if rng.u32(..6) == 0 {
                request[field] = value(&mut rng, 1);
            }
        }
        match req(request.clone()) {
            Ok(_) => accepted += 1,
            Err(err) => {
                let shown: String = format!("{request}: {err}").chars().take(600).collect();
                assert!(err.status().is_client_error(), "{shown}");
                // a refused bucket is named whole (Rules::check_bucket)
                let bucket = err.code() == "ImageBucket::CannotAccessBucket";
                assert!(bucket || err.to_string().len() < 400, "{shown}");
            }
        }
    }
    // the generator reaches valid requests too, not only refusals
    assert!(accepted > 500, "{accepted}");
}

#[test]
fn metadata_and_sih_strip_edits() {
    use crate::request::{ExifKept, Metadata};
    assert!(output(json!({})).metadata.is_none());
    let keep = output(json!({"metadata": "keep"})).metadata;
    assert_eq!(keep, Metadata::parse("m", "keep").unwrap());
    // the strips take away from the mode, whatever the key order
    let m = output(json!({"edits": {"stripIcc": true}, "metadata": "keep"})).metadata;
    assert_eq!((m.exif, m.xmp_iptc, m.icc), (ExifKept::All, true, false));
    let m = output(json!({"metadata": "keep", "edits": {"stripExif": "true"}})).metadata;
    assert_eq!((m.exif, m.xmp_iptc, m.icc), (ExifKept::None, true, true));
    let m = output(json!({"metadata": "copyright", "edits": {"stripExif": true}})).metadata;
    assert!(m.is_none());
    // alone they change nothing; false and null are no strip
    let plain = output(json!({}));
    assert_eq!(
        output(json!({"edits": {"stripExif": true, "stripIcc": true}})),
        plain
    );
    let m = output(json!({"metadata": "keep", "edits": {"stripExif": false, "stripIcc": null}}));
    assert_eq!(m.metadata, keep);
    // bad values are 400s naming them
    let err = req(json!({"key": "k", "metadata": "all"})).unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("\"all\""), "{err}");
    let err = req(json!({"key": "k", "metadata": true})).unwrap_err();
    assert_eq!(err.status(), 400);
    assert!(err.to_string().contains("metadata"), "{err}");
    edit_err(json!({"stripExif": 1}), "stripExif");
    edit_err(json!({"stripIcc": "yes"}), "stripIcc");
}
