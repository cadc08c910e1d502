mod common;

// Metadata control end to end (issue 18, item 4), through the real server
// and real libvips: an original with EXIF (GPS, Artist, Copyright,
// orientation 6), XMP and a Display P3 profile is requested with each mode
// in each URL style (query `metadata=`, SIH JSON `metadata` and
// `stripExif`/`stripIcc`, thumbor `metadata()`, `strip_exif()`,
// `strip_icc()`), and the output is decoded to see exactly what survived.

use base64::Engine;
use common::*;
use image_handler::Config;
use rs_vips::VipsImage;
use rs_vips::voption::{Setter, VOption};

/// libvips' `VipsForeignKeep` ALL: the fixture is saved with all of it.
const KEEP_ALL: i32 = 63;
const ARTIST: &str = "Jane Photographer";
const COPYRIGHT: &str = "(c) 2026 Jane Photographer";
const XMP: &str = r#"<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>metadata fixture</dc:title></rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>"#;

/// A default request's path for `json`.
fn b64(json: &str) -> String {
    format!(
        "/{}",
        base64::engine::general_purpose::STANDARD.encode(json)
    )
}

/// The quadrant image (red top-left quadrant, blue elsewhere) in Display P3,
/// stored turned a quarter with EXIF orientation 6, with Artist, Copyright,
/// a GPS position and an XMP packet, as a JPEG.
fn p3_photo() -> Vec<u8> {
    let p3 = quadrant()
        .icc_transform_with_opts("p3", VOption::new().set("input_profile", "srgb"))
        .expect("to P3");
    let mut stored = p3.rot(rs_vips::enums::Angle::D270).expect("rot");
    stored.set_int("orientation", 6).expect("orientation");
    for (name, value) in [
        ("exif-ifd0-Artist", ARTIST),
        ("exif-ifd0-Copyright", COPYRIGHT),
        ("exif-ifd0-Make", "Fixture Camera"),
        ("exif-ifd3-GPSLatitudeRef", "N"),
        ("exif-ifd3-GPSLatitude", "51/1 30/1 0/1"),
    ] {
        stored.set_string(name, value).expect("exif field");
    }
    stored
        .set_blob_copy("xmp-data", XMP.as_bytes())
        .expect("xmp");
    let bytes = stored
        .jpegsave_buffer_with_opts(VOption::new().set("Q", 95).set("keep", KEEP_ALL))
        .expect("jpegsave");
    // The fixture must carry all of it, or the tests prove nothing.
    let check = decode(&bytes);
    assert_eq!(check.get_int("orientation").expect("orientation"), 6);
    for field in [
        "exif-ifd0-Artist",
        "exif-ifd0-Copyright",
        "exif-ifd3-GPSLatitudeRef",
    ] {
        assert!(has(&check, field), "the fixture lacks {field}");
    }
    assert!(has(&check, "xmp-data") && has(&check, "icc-profile-data"));
    assert!(profile_description(&check).contains("P3"));
    bytes
}

fn has(image: &VipsImage, field: &str) -> bool {
    image.get_typeof(field).unwrap_or(0) != 0
}

/// The text of an EXIF string field (libvips appends `(text, ASCII, ...)`).
fn exif_text(image: &VipsImage, field: &str) -> String {
    image.get_string(field).unwrap_or_default()
}

/// The `desc` tag of the embedded profile, read loosely from its bytes.
fn profile_description(image: &VipsImage) -> String {
    let icc = image.get_blob("icc-profile-data").unwrap_or_default();
    String::from_utf8_lossy(&icc)
        .chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .collect()
}

/// `kept` are in `image`'s EXIF and `gone` are not.
fn assert_exif_only(image: &VipsImage, kept: &[&str], gone: &[&str]) {
    for field in kept {
        assert!(has(image, field), "{field} should be kept");
    }
    for field in gone {
        assert!(!has(image, field), "{field} should be gone");
    }
}

const ALL_FIELDS: [&str; 5] = [
    "exif-ifd0-Artist",
    "exif-ifd0-Copyright",
    "exif-ifd0-Make",
    "exif-ifd3-GPSLatitudeRef",
    "exif-ifd3-GPSLatitude",
];

async fn server(name: &str) -> (Server, TempDir) {
    let dir = TempDir::new(&format!("metadata-{name}"));
    standard_fixtures(&dir);
    dir.write("p3.jpg", &p3_photo());
    dir.write("anim.gif", &sample("animated.gif"));
    let cmyk = quadrant()
        .icc_transform_with_opts("cmyk", VOption::new().set("input_profile", "srgb"))
        .expect("to CMYK");
    let cmyk = cmyk
        .jpegsave_buffer_with_opts(VOption::new().set("keep", KEEP_ALL))
        .expect("CMYK JPEG");
    assert_eq!(decode(&cmyk).get_bands(), 4);
    dir.write("cmyk.jpg", &cmyk);
    (Server::fs(Config::default(), &dir).await, dir)
}

/// The same request in each style: query, SIH JSON, thumbor.
fn styles(mode: Option<&str>, strip_exif: bool, strip_icc: bool) -> Vec<String> {
    let mut out = Vec::new();
    if !strip_exif && !strip_icc {
        out.push(match mode {
            Some(m) => format!("/p3.jpg?width=50&metadata={m}"),
            None => "/p3.jpg?width=50".into(),
        });
    }
    let mut strips = Vec::new();
    if strip_exif {
        strips.push(r#""stripExif":true"#);
    }
    if strip_icc {
        strips.push(r#""stripIcc":true"#);
    }
    let metadata = mode.map_or(String::new(), |m| format!(r#","metadata":"{m}""#));
    let edits = std::iter::once(r#""resize":{"width":50}"#)
        .chain(strips)
        .collect::<Vec<_>>()
        .join(",");
    out.push(b64(&format!(
        r#"{{"key":"p3.jpg","edits":{{{edits}}}{metadata}}}"#
    )));
    let mut filters: Vec<String> = Vec::new();
    if strip_exif {
        filters.push("strip_exif()".into());
    }
    if let Some(m) = mode {
        filters.push(format!("metadata({m})"));
    }
    if strip_icc {
        filters.push("strip_icc()".into());
    }
    out.push(if filters.is_empty() {
        "/50x0/p3.jpg".into()
    } else {
        format!("/50x0/filters:{}/p3.jpg", filters.join(":"))
    });
    out
}

/// The output for `path`: a 50x25 upright JPEG (the stored image is 100x200,
/// turned a quarter by its orientation), decoded.
async fn fetch(s: &Server, path: &str) -> VipsImage {
    let reply = s.get(path).await;
    let image = reply.image("image/jpeg");
    assert_eq!(
        (image.get_width(), image.get_height()),
        (50, 25),
        "{path}: size"
    );
    image
}

#[tokio::test]
async fn none_is_the_default_and_keeps_nothing() {
    let (s, _dir) = server("none").await;
    for mode in [None, Some("none"), Some("NONE")] {
        for path in styles(mode, false, false) {
            let image = fetch(&s, &path).await;
            assert_exif_only(&image, &[], &ALL_FIELDS);
            assert!(!has(&image, "exif-data"), "{path}: EXIF");
            assert!(!has(&image, "xmp-data"), "{path}: XMP");
            assert!(!has(&image, "icc-profile-data"), "{path}: ICC");
            // upright and converted to sRGB: the red quadrant is sRGB red
            assert_rgb(&image, 5, 5, RED, 25.0);
        }
    }
}

#[tokio::test]
async fn copyright_keeps_only_artist_and_copyright() {
    let (s, _dir) = server("copyright").await;
    let original = decode(&p3_photo());
    for path in styles(Some("copyright"), false, false)
        .into_iter()
        .chain(styles(Some("copyright"), false, true))
    {
        let image = fetch(&s, &path).await;
        assert_exif_only(
            &image,
            &["exif-ifd0-Artist", "exif-ifd0-Copyright"],
            &[
                "exif-ifd0-Make",
                "exif-ifd3-GPSLatitudeRef",
                "exif-ifd3-GPSLatitude",
            ],
        );
        assert_eq!(
            exif_text(&image, "exif-ifd0-Artist"),
            exif_text(&original, "exif-ifd0-Artist")
        );
        assert_eq!(
            exif_text(&image, "exif-ifd0-Copyright"),
            exif_text(&original, "exif-ifd0-Copyright")
        );
        assert!(exif_text(&image, "exif-ifd0-Artist").starts_with(ARTIST));
        // nothing else of the original's EXIF, under any name
        let exif = image.get_blob("exif-data").expect("exif");
        let exif = String::from_utf8_lossy(&exif);
        assert!(!exif.contains("Fixture Camera"), "{path}: {exif:?}");
        assert!(!has(&image, "xmp-data"), "{path}: XMP");
        assert!(!has(&image, "icc-profile-data"), "{path}: ICC");
        assert_eq!(image.get_orientation(), 1, "{path}: orientation");
        assert_rgb(&image, 5, 5, RED, 25.0);
    }
    // stripExif on copyright leaves nothing
    for path in styles(Some("copyright"), true, false) {
        let image = fetch(&s, &path).await;
        assert!(!has(&image, "exif-data"), "{path}: EXIF");
    }
}

#[tokio::test]
async fn keep_keeps_everything_upright_and_in_p3() {
    let (s, _dir) = server("keep").await;
    let srgb = fetch(&s, "/p3.jpg?width=50").await;
    for path in styles(Some("keep"), false, false) {
        let image = fetch(&s, &path).await;
        assert_exif_only(&image, &ALL_FIELDS, &[]);
        assert!(exif_text(&image, "exif-ifd0-Artist").starts_with(ARTIST));
        assert_eq!(image.get_int("orientation").ok(), Some(1), "{path}");
        assert!(has(&image, "xmp-data"), "{path}: XMP");
        let xmp = image.get_blob("xmp-data").expect("xmp");
        assert!(String::from_utf8_lossy(&xmp).contains("metadata fixture"));
        assert!(
            profile_description(&image).contains("P3"),
            "{path}: the profile is not P3"
        );
        // upright: the red quadrant is at the top left; its pixels are P3
        // values (red less saturated than sRGB's), not converted to sRGB
        let p3_red = rgb(&image, 5, 5);
        let srgb_red = rgb(&srgb, 5, 5);
        assert!(p3_red[0] > 180.0 && p3_red[2] < 80.0, "{path}: {p3_red:?}");
        assert!(
            (p3_red[1] - srgb_red[1]).abs() > 20.0 || (p3_red[0] - srgb_red[0]).abs() > 10.0,
            "{path}: P3 {p3_red:?} vs sRGB {srgb_red:?}"
        );
        // and converted with the kept profile, they are sRGB red again
        let converted = image.icc_transform("srgb").expect("to sRGB");
        assert_rgb(&converted, 5, 5, RED, 25.0);
    }
    // without a resize the original is decoded whole and turned by `autorot`
    let reply = s.get("/p3.jpg?metadata=keep&grayscale=false").await;
    let image = reply.image("image/jpeg");
    assert_eq!((image.get_width(), image.get_height()), (200, 100));
    assert_eq!(image.get_int("orientation").ok(), Some(1));
    assert!(has(&image, "exif-ifd3-GPSLatitudeRef"));
    assert!(profile_description(&image).contains("P3"));
    assert_rgb(
        &image.icc_transform("srgb").expect("to sRGB"),
        5,
        5,
        RED,
        25.0,
    );
    // a grayscale JPEG cannot carry an RGB profile: it is dropped, EXIF stays
    let reply = s.get("/p3.jpg?width=50&metadata=keep&grayscale=true").await;
    let image = reply.image("image/jpeg");
    assert_eq!(image.get_bands(), 1);
    assert!(!has(&image, "icc-profile-data"));
    assert!(has(&image, "exif-ifd3-GPSLatitudeRef"));
    // a CMYK original is converted to sRGB, written without a profile
    let reply = s.get("/cmyk.jpg?width=50&metadata=keep").await;
    let image = reply.image("image/jpeg");
    assert_eq!(image.get_bands(), 3);
    assert!(!has(&image, "icc-profile-data"));
    // as the default converts it
    let default = s.get("/cmyk.jpg?width=50").await.image("image/jpeg");
    assert_rgb(&image, 5, 5, rgb(&default, 5, 5), 3.0);
    // stripIcc under keep: converted to sRGB, no profile, EXIF and XMP kept
    for path in styles(Some("keep"), false, true) {
        let image = fetch(&s, &path).await;
        assert!(!has(&image, "icc-profile-data"), "{path}: ICC");
        assert_exif_only(&image, &ALL_FIELDS, &[]);
        assert!(has(&image, "xmp-data"), "{path}: XMP");
        assert_rgb(&image, 5, 5, RED, 25.0);
    }
    // stripExif under keep: no EXIF, XMP and the profile kept
    for path in styles(Some("keep"), true, false) {
        let image = fetch(&s, &path).await;
        assert_exif_only(&image, &[], &ALL_FIELDS);
        assert!(has(&image, "xmp-data"), "{path}: XMP");
        assert!(profile_description(&image).contains("P3"), "{path}");
    }
}

#[tokio::test]
async fn strips_alone_change_nothing() {
    let (s, _dir) = server("strips").await;
    let plain = s.get("/p3.jpg?width=50").await;
    for path in styles(None, true, true) {
        let reply = s.get(&path).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.body, plain.body, "{path}");
    }
}

#[tokio::test]
async fn each_mode_has_its_own_etag() {
    let (s, _dir) = server("etag").await;
    let mut tags = std::collections::BTreeSet::new();
    for q in [
        "",
        "&metadata=none",
        "&metadata=copyright",
        "&metadata=keep",
    ] {
        let reply = s.get(&format!("/p3.jpg?width=50{q}")).await;
        tags.insert(reply.header("etag").expect("etag").to_string());
    }
    // the default and `none` are the same request
    assert_eq!(tags.len(), 3, "{tags:?}");
}

#[tokio::test]
async fn bad_values_are_400s_naming_them() {
    let (s, _dir) = server("bad").await;
    let message = assert_error(
        &s.get("/p3.jpg?metadata=all").await,
        400,
        "InvalidParameter",
    );
    assert!(message.contains("\"all\""), "{message}");
    assert!(message.contains("none, copyright or keep"), "{message}");
    let message = assert_error(
        &s.get("/filters:metadata(everything)/p3.jpg").await,
        400,
        "InvalidParameter",
    );
    assert!(message.contains("everything"), "{message}");
    let message = assert_error(
        &s.get(&b64(r#"{"key":"p3.jpg","metadata":"all"}"#)).await,
        400,
        "InvalidParameter",
    );
    assert!(message.contains("all"), "{message}");
    let reply = s.get(&b64(r#"{"key":"p3.jpg","metadata":3}"#)).await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    let reply = s
        .get(&b64(
            r#"{"key":"p3.jpg","edits":{"stripExif":"yes please"}}"#,
        ))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text());
    assert!(reply.text().contains("yes please"), "{}", reply.text());
    let reply = s.get("/filters:strip_exif(1)/p3.jpg").await;
    assert_eq!(reply.status, 400, "{}", reply.text());
}

#[tokio::test]
async fn formats_without_metadata_still_answer() {
    let (s, _dir) = server("formats").await;
    for mode in ["copyright", "keep"] {
        let reply = s
            .get(&format!("/p3.jpg?width=50&format=gif&metadata={mode}"))
            .await;
        let image = reply.image("image/gif");
        assert_eq!(image.get_width(), 50);
        // an animation keeps its frames under copyright and keep
        let reply = s.get(&format!("/anim.gif?width=40&metadata={mode}")).await;
        let image = reply.image("image/gif");
        assert!(image.get_int("n-pages").unwrap_or(1) > 1 || frames(&reply.body) > 1);
        // (libvips reads no EXIF back from TIFF: it only has to answer)
        let reply = s
            .get(&format!("/p3.jpg?width=50&format=tiff&metadata={mode}"))
            .await;
        reply.image("image/tiff");
        for format in ["png", "webp", "avif"] {
            let reply = s
                .get(&format!("/p3.jpg?width=50&format={format}&metadata={mode}"))
                .await;
            assert_eq!(reply.status, 200, "{format} {mode}: {}", reply.text());
            let image = decode(&reply.body);
            assert!(
                exif_text(&image, "exif-ifd0-Artist").starts_with(ARTIST),
                "{format} {mode}: the Artist is lost"
            );
            if mode == "copyright" {
                assert!(!has(&image, "exif-ifd3-GPSLatitudeRef"), "{format}: GPS");
            }
        }
    }
}

/// The frames of an encoded animation.
fn frames(bytes: &[u8]) -> i32 {
    VipsImage::new_from_buffer(bytes, "n=-1")
        .map(|i| i.get_int("n-pages").unwrap_or(1))
        .unwrap_or(1)
}
