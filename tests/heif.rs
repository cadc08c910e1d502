mod common;

// HEIC originals through the real server: libvips cannot read them (no HEVC
// decoder), so they are decoded by libheif/libde265 (`transform::decoders`).
// The fixtures are encoded here at test time with libheif's x265 encoder
// (Debian's libheif1 has it built in): known colours, 8 and 10 bits, alpha,
// a rotation stored as `irot`, an ICC profile.

use std::ffi::c_void;
use std::ptr;

use common::*;
use image_handler::Config;
use libheif_sys as lh;
use rs_vips::VipsImage;

/// What to encode.
struct Heic<'a> {
    /// Interleaved samples, 3 or 4 per pixel, on the 0 to 255 scale.
    pixels: &'a [u8],
    width: u32,
    height: u32,
    alpha: bool,
    /// Bits per sample in the file: 8 or 10.
    bits: u8,
    /// The orientation the pixels are stored in, written as `irot`/`imir`.
    orientation: lh::heif_orientation,
    /// An ICC profile to embed.
    icc: Option<Vec<u8>>,
    /// An EXIF block to attach, as iPhones do (orientation and all).
    exif: Option<Vec<u8>>,
}

impl<'a> Heic<'a> {
    fn rgb(pixels: &'a [u8], width: u32, height: u32) -> Heic<'a> {
        Heic {
            pixels,
            width,
            height,
            alpha: false,
            bits: 8,
            orientation: lh::heif_orientation_heif_orientation_normal,
            icc: None,
            exif: None,
        }
    }
}

#[track_caller]
fn ok(e: lh::heif_error) {
    if e.code != lh::heif_error_code_heif_error_Ok {
        let message = unsafe { std::ffi::CStr::from_ptr(e.message) };
        panic!("libheif: {} {} {message:?}", e.code, e.subcode);
    }
}

unsafe extern "C" fn collect(
    _ctx: *mut lh::heif_context,
    data: *const c_void,
    size: usize,
    out: *mut c_void,
) -> lh::heif_error {
    let out = unsafe { &mut *(out as *mut Vec<u8>) };
    out.extend_from_slice(unsafe { std::slice::from_raw_parts(data as *const u8, size) });
    lh::heif_error {
        code: lh::heif_error_code_heif_error_Ok,
        subcode: lh::heif_suberror_code_heif_suberror_Unspecified,
        message: c"ok".as_ptr(),
    }
}

/// Encodes a HEIC with libheif's HEVC encoder (x265), quality 90.
fn heic(spec: &Heic) -> Vec<u8> {
    let bands = if spec.alpha { 4 } else { 3 };
    assert_eq!(
        spec.pixels.len(),
        (spec.width * spec.height) as usize * bands
    );
    let chroma = match (spec.alpha, spec.bits > 8) {
        (false, false) => lh::heif_chroma_heif_chroma_interleaved_RGB,
        (true, false) => lh::heif_chroma_heif_chroma_interleaved_RGBA,
        (false, true) => lh::heif_chroma_heif_chroma_interleaved_RRGGBB_LE,
        (true, true) => lh::heif_chroma_heif_chroma_interleaved_RRGGBBAA_LE,
    };
    let mut out = Vec::new();
    unsafe {
        ok(lh::heif_init(ptr::null_mut()));
        let ctx = lh::heif_context_alloc();
        let mut encoder = ptr::null_mut();
        ok(lh::heif_context_get_encoder_for_format(
            ctx,
            lh::heif_compression_format_heif_compression_HEVC,
            &mut encoder,
        ));
        ok(lh::heif_encoder_set_lossy_quality(encoder, 90));
        let mut image = ptr::null_mut();
        ok(lh::heif_image_create(
            spec.width as i32,
            spec.height as i32,
            lh::heif_colorspace_heif_colorspace_RGB,
            chroma,
            &mut image,
        ));
        ok(lh::heif_image_add_plane(
            image,
            lh::heif_channel_heif_channel_interleaved,
            spec.width as i32,
            spec.height as i32,
            i32::from(spec.bits),
        ));
        let mut stride = 0;
        let plane = lh::heif_image_get_plane(
            image,
            lh::heif_channel_heif_channel_interleaved,
            &mut stride,
        );
        assert!(!plane.is_null());
        let row = spec.width as usize * bands;
        for y in 0..spec.height as usize {
            let line = &spec.pixels[y * row..(y + 1) * row];
            let dest = plane.add(y * stride as usize);
            if spec.bits > 8 {
                let max = (1u32 << spec.bits) - 1;
                for (i, v) in line.iter().enumerate() {
                    let deep = ((u32::from(*v) * max + 127) / 255) as u16;
                    let [lo, hi] = deep.to_le_bytes();
                    *dest.add(2 * i) = lo;
                    *dest.add(2 * i + 1) = hi;
                }
            } else {
                ptr::copy_nonoverlapping(line.as_ptr(), dest, row);
            }
        }
        if let Some(icc) = &spec.icc {
            ok(lh::heif_image_set_raw_color_profile(
                image,
                c"prof".as_ptr(),
                icc.as_ptr() as *const c_void,
                icc.len(),
            ));
        }
        let options = lh::heif_encoding_options_alloc();
        (*options).image_orientation = spec.orientation;
        let mut handle = ptr::null_mut();
        ok(lh::heif_context_encode_image(
            ctx,
            image,
            encoder,
            options,
            &mut handle,
        ));
        lh::heif_encoding_options_free(options);
        if let Some(exif) = &spec.exif {
            ok(lh::heif_context_add_exif_metadata(
                ctx,
                handle,
                exif.as_ptr() as *const c_void,
                exif.len() as i32,
            ));
        }
        lh::heif_image_handle_release(handle);
        lh::heif_image_release(image);
        lh::heif_encoder_release(encoder);
        let mut writer = lh::heif_writer {
            writer_api_version: 1,
            write: Some(collect),
        };
        ok(lh::heif_context_write(
            ctx,
            &mut writer,
            &mut out as *mut Vec<u8> as *mut c_void,
        ));
        lh::heif_context_free(ctx);
        lh::heif_deinit();
    }
    assert_eq!(&out[4..12], b"ftypheic", "libheif wrote a HEIC");
    out
}

/// A little-endian TIFF/EXIF block holding only an orientation tag.
fn exif_orientation(orientation: u16) -> Vec<u8> {
    let mut b = b"II*\0\x08\0\0\0\x01\0".to_vec();
    b.extend(0x0112u16.to_le_bytes()); // Orientation
    b.extend(3u16.to_le_bytes()); // SHORT
    b.extend(1u32.to_le_bytes()); // one value
    b.extend(orientation.to_le_bytes());
    b.extend([0, 0]);
    b.extend(0u32.to_le_bytes()); // no next IFD
    b
}

/// The EXIF orientation stored in a HEIC's Exif item, if any.
fn stored_exif_orientation(file: &[u8]) -> Option<u16> {
    let context = libheif_rs::HeifContext::read_from_bytes(file).ok()?;
    let handle = context.primary_image_handle().ok()?;
    let mut ids = [0; 4];
    let n = handle.metadata_block_ids(&mut ids, b"Exif");
    let exif = handle.metadata(*ids[..n].first()?).ok()?;
    let at = exif.windows(2).position(|w| w == [0x12, 0x01])?;
    Some(u16::from_le_bytes([exif[at + 8], exif[at + 9]]))
}

/// The samples of `image` (8-bit, 3 or 4 bands), row by row.
fn samples(image: &VipsImage) -> Vec<u8> {
    image.write_to_memory()
}

/// 64x32: the left half red, the right half blue.
fn left_red_right_blue() -> VipsImage {
    canvas(64, 32, BLUE, &[(RED, 0, 0, 32, 32)])
}

async fn server(name: &str, files: &[(&str, Vec<u8>)]) -> (Server, TempDir) {
    let dir = TempDir::new(&format!("heif-{name}"));
    for (path, bytes) in files {
        dir.write(path, bytes);
    }
    (Server::fs(Config::default(), &dir).await, dir)
}

#[tokio::test]
async fn heic_decodes_to_its_size_and_colours_as_jpeg() {
    let source = left_red_right_blue();
    let file = heic(&Heic::rgb(&samples(&source), 64, 32));
    let (s, _dir) = server("colours", &[("photo.heic", file)]).await;
    // HEIC cannot be written: without `format` it becomes JPEG.
    let reply = s.get("/photo.heic").await;
    let out = reply.image("image/jpeg");
    assert!(is_jpeg(&reply.body));
    assert_size(&out, 64, 32);
    assert_rgb(&out, 8, 16, RED, 24.0);
    assert_rgb(&out, 56, 16, BLUE, 24.0);
    // and any other format on request
    let out = s.get("/photo.heic?format=png").await.image("image/png");
    assert_size(&out, 64, 32);
    assert_rgb(&out, 8, 8, RED, 24.0);
}

#[tokio::test]
async fn heic_resizes_and_crops() {
    let source = left_red_right_blue();
    let file = heic(&Heic::rgb(&samples(&source), 64, 32));
    let (s, _dir) = server("resize", &[("photo.heic", file)]).await;
    // hoisted into the load (the first edit is the resize)
    let out = s.get("/photo.heic?width=16").await.image("image/jpeg");
    assert_size(&out, 16, 8);
    assert_rgb(&out, 2, 4, RED, 30.0);
    assert_rgb(&out, 13, 4, BLUE, 30.0);
    // cover crop to a square keeps the centre: red left, blue right
    let out = s
        .get("/photo.heic?width=20&height=20&format=png")
        .await
        .image("image/png");
    assert_size(&out, 20, 20);
    assert_rgb(&out, 2, 10, RED, 30.0);
    assert_rgb(&out, 17, 10, BLUE, 30.0);
    // not hoisted (an edit before the resize), thumbor style
    let out = s
        .get("/fit-in/16x16/filters:grayscale()/photo.heic")
        .await
        .image("image/jpeg");
    assert_size(&out, 16, 8);
}

#[tokio::test]
async fn a_rotated_heic_comes_out_upright_once() {
    // Stored 32x64 with red on the left; `irot` says: turn 90° clockwise to
    // display (EXIF orientation 6), which puts red at the top of a 64x32 image.
    let stored = canvas(32, 64, BLUE, &[(RED, 0, 0, 16, 64)]);
    // Like an iPhone's, the file also says so in EXIF (orientation 6): applied
    // on top of `irot`, it would turn the image a second time.
    let file = heic(&Heic {
        orientation: lh::heif_orientation_heif_orientation_rotate_90_cw,
        exif: Some(exif_orientation(6)),
        ..Heic::rgb(&samples(&stored), 32, 64)
    });
    assert_eq!(
        stored_exif_orientation(&file),
        Some(6),
        "the fixture keeps EXIF 6"
    );
    let (s, _dir) = server("irot", &[("turned.heic", file)]).await;
    for query in ["", "?width=32", "?format=webp", "?rotate=0"] {
        let reply = s.get(&format!("/turned.heic{query}")).await;
        let out = decode(&reply.body);
        let (w, h) = if query == "?width=32" {
            (32, 16)
        } else {
            (64, 32)
        };
        assert_size(&out, w, h);
        assert_rgb(&out, w / 2, h / 8, RED, 30.0);
        assert_rgb(&out, w / 2, h - h / 8, BLUE, 30.0);
    }
    // an explicit rotation applies on top of the upright image
    let out = s.get("/turned.heic?rotate=90").await.image("image/jpeg");
    assert_size(&out, 32, 64);
    assert_rgb(&out, 28, 32, RED, 30.0);
    let info = s.get("/turned.heic?info").await.json();
    assert_eq!(
        (info["width"].as_u64(), info["height"].as_u64()),
        (Some(64), Some(32))
    );
    assert_eq!(info["orientation"].as_u64(), Some(1));
}

#[tokio::test]
async fn heic_with_alpha_becomes_png_with_alpha() {
    // 32x32: opaque red left half, half-transparent blue right half
    let mut pixels = Vec::new();
    for _y in 0..32 {
        for x in 0..32 {
            pixels.extend(if x < 16 {
                [255, 0, 0, 255]
            } else {
                [0, 0, 255, 128]
            });
        }
    }
    let file = heic(&Heic {
        alpha: true,
        ..Heic::rgb(&pixels, 32, 32)
    });
    let (s, _dir) = server("alpha", &[("clear.heic", file)]).await;
    let out = s.get("/clear.heic").await.image("image/png");
    assert_size(&out, 32, 32);
    assert_eq!(out.get_bands(), 4);
    assert_rgb(&out, 4, 16, RED, 24.0);
    assert!((alpha(&out, 4, 16).unwrap() - 255.0).abs() <= 2.0);
    assert!((alpha(&out, 28, 16).unwrap() - 128.0).abs() <= 8.0);
    // JPEG on request: flattened onto white
    let out = s.get("/clear.heic?format=jpeg").await.image("image/jpeg");
    assert_eq!(out.get_bands(), 3);
    let info = s.get("/clear.heic?info").await.json();
    assert_eq!(info["alpha"].as_bool(), Some(true));
}

#[tokio::test]
async fn ten_bit_heic_is_brought_to_8_bits() {
    let source = canvas(
        32,
        32,
        [0.0, 128.0, 255.0],
        &[([200.0, 100.0, 50.0], 0, 0, 16, 32)],
    );
    let file = heic(&Heic {
        bits: 10,
        ..Heic::rgb(&samples(&source), 32, 32)
    });
    // the fixture really is 10-bit
    {
        let context = libheif_rs::HeifContext::read_from_bytes(&file).expect("reads");
        let handle = context.primary_image_handle().expect("primary image");
        assert_eq!(handle.luma_bits_per_pixel(), 10);
    }
    let (s, _dir) = server("deep", &[("deep.heic", file)]).await;
    let out = s.get("/deep.heic?format=png").await.image("image/png");
    assert_eq!(
        out.get_format().ok(),
        Some(rs_vips::enums::BandFormat::Uchar)
    );
    assert_rgb(&out, 4, 16, [200.0, 100.0, 50.0], 10.0);
    assert_rgb(&out, 28, 16, [0.0, 128.0, 255.0], 10.0);
}

#[tokio::test]
async fn heic_icc_profile_is_converted_like_any_other() {
    init_vips();
    let p3 = VipsImage::profile_load("p3").expect("libvips' built-in P3 profile");
    let source = canvas(32, 32, [200.0, 100.0, 50.0], &[]);
    let file = heic(&Heic {
        icc: Some(p3.clone()),
        ..Heic::rgb(&samples(&source), 32, 32)
    });
    let mut tagged = source.copy().expect("copy");
    tagged
        .set_blob_copy("icc-profile-data", &p3)
        .expect("set profile");
    let (s, _dir) = server("icc", &[("p3.heic", file), ("p3.png", png(&tagged))]).await;
    let heic_out = rgb(
        &s.get("/p3.heic?format=png").await.image("image/png"),
        16,
        16,
    );
    let png_out = rgb(&s.get("/p3.png").await.image("image/png"), 16, 16);
    for ((h, p), raw) in heic_out.iter().zip(png_out).zip([200.0, 100.0, 50.0]) {
        assert!((h - p).abs() <= 6.0, "HEIC {heic_out:?} vs PNG {png_out:?}");
        let _ = raw;
    }
    // the profile did something: P3 orange is more saturated in sRGB
    let moved = png_out
        .iter()
        .zip([200.0, 100.0, 50.0])
        .any(|(v, raw)| (v - raw).abs() > 8.0);
    assert!(moved, "P3 {png_out:?} should differ from the raw samples");
}

#[tokio::test]
async fn corrupt_and_truncated_heic_are_400_json() {
    let source = left_red_right_blue();
    let file = heic(&Heic::rgb(&samples(&source), 64, 32));
    let truncated = file[..file.len() * 2 / 3].to_vec();
    let mut scrambled = file.clone();
    let n = scrambled.len();
    for b in &mut scrambled[40..n] {
        *b ^= 0x5A;
    }
    let header_only = file[..40].to_vec();
    let (s, _dir) = server(
        "corrupt",
        &[
            ("truncated.heic", truncated),
            ("scrambled.heic", scrambled),
            ("header.heic", header_only),
        ],
    )
    .await;
    for key in ["truncated.heic", "scrambled.heic", "header.heic"] {
        for query in ["", "?width=10", "?info"] {
            let reply = s.get(&format!("/{key}{query}")).await;
            assert_error(&reply, 400, "InvalidImage");
        }
    }
}

/// `file` rewritten to announce JPEG 2000 (brands `mif1`, `j2ki`) and to hold
/// its image as a `j2k1` item, a codec this libheif has no decoder for.
fn as_jpeg2000(file: &[u8]) -> Vec<u8> {
    let mut b = file.to_vec();
    let at = |b: &[u8], what: &[u8], from: usize| {
        from + b[from..]
            .windows(4)
            .position(|w| w == what)
            .unwrap_or_else(|| panic!("no {what:?} in the fixture"))
    };
    b[8..12].copy_from_slice(b"mif1");
    let compatible = at(&b, b"heic", 12);
    b[compatible..compatible + 4].copy_from_slice(b"j2ki");
    let item = at(&b, b"hvc1", 12);
    b[item..item + 4].copy_from_slice(b"j2k1");
    b
}

#[tokio::test]
async fn heif_with_a_codec_we_cannot_decode_is_unsupported_and_named() {
    let source = left_red_right_blue();
    let file = as_jpeg2000(&heic(&Heic::rgb(&samples(&source), 64, 32)));
    let (s, _dir) = server("codec", &[("j2k.heif", file)]).await;
    for query in ["", "?width=10", "?format=webp"] {
        let message = assert_error(
            &s.get(&format!("/j2k.heif{query}")).await,
            400,
            "UnsupportedImageFormat",
        );
        assert!(message.contains("JPEG 2000"), "{message}");
    }
    // `?info` reads headers only, as for any other format
    let info = s.get("/j2k.heif?info").await.json();
    assert_eq!(info["width"].as_u64(), Some(64));
}

#[tokio::test]
async fn heic_info_reports_its_size_without_decoding() {
    let source = left_red_right_blue();
    let file = heic(&Heic::rgb(&samples(&source), 64, 32));
    let bytes = file.len() as u64;
    let (s, _dir) = server("info", &[("photo.heic", file)]).await;
    let reply = s.get("/photo.heic?info").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let info = reply.json();
    assert_eq!(info["width"].as_u64(), Some(64));
    assert_eq!(info["height"].as_u64(), Some(32));
    assert_eq!(info["format"].as_str(), Some("heic"));
    assert_eq!(info["alpha"].as_bool(), Some(false));
    assert_eq!(info["pages"].as_u64(), Some(1));
    assert_eq!(info["bytes"].as_u64(), Some(bytes));
}

#[tokio::test]
async fn heic_over_the_pixel_limit_is_refused_before_decoding() {
    let source = left_red_right_blue();
    let file = heic(&Heic::rgb(&samples(&source), 64, 32));
    let dir = TempDir::new("heif-limit");
    dir.write("photo.heic", &file);
    let config = Config {
        max_input_pixels: 64 * 32 - 1,
        ..Config::default()
    };
    let s = Server::fs(config, &dir).await;
    let message = assert_error(&s.get("/photo.heic").await, 413, "TooManyPixels");
    assert!(message.contains("64x32"), "{message}");
}

#[tokio::test]
async fn heic_overlay_is_drawn() {
    let base = canvas(64, 64, [255.0, 255.0, 255.0], &[]);
    let mark = canvas(16, 16, RED, &[]);
    let (s, _dir) = server(
        "overlay",
        &[
            ("base.png", png(&base)),
            ("mark.heic", heic(&Heic::rgb(&samples(&mark), 16, 16))),
        ],
    )
    .await;
    let out = s
        .get("/base.png?overlay=mark.heic&overlay_x=0&overlay_y=0")
        .await
        .image("image/png");
    assert_rgb(&out, 8, 8, RED, 30.0);
    assert_rgb(&out, 48, 48, WHITE, 4.0);
}

/// `tests/fixtures/first-run/photo.heic`, which `.ci/first-run.sh` sends to a
/// build without the `heic` feature, is a real HEVC HEIC that a build with it
/// decodes (`WRITE_FIRST_RUN_FIXTURE=1` writes it again).
#[tokio::test]
async fn the_first_run_heic_fixture_is_a_real_heic() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/first-run/photo.heic"
    );
    if std::env::var_os("WRITE_FIRST_RUN_FIXTURE").is_some() {
        let source = left_red_right_blue();
        std::fs::write(path, heic(&Heic::rgb(&samples(&source), 64, 32))).unwrap();
    }
    let file = std::fs::read(path).unwrap();
    let (s, _dir) = server("first-run", &[("photo.heic", file)]).await;
    let out = s.get("/photo.heic").await.image("image/jpeg");
    assert_size(&out, 64, 32);
    assert_rgb(&out, 8, 16, RED, 24.0);
}
