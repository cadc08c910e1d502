//! SSIMULACRA2 scores computed outside the service's own code, for the
//! tests and the bytes benchmark (`benches/pipeline.rs` includes this file):
//! both images decoded by libvips, as 8-bit sRGB with transparency over
//! white, compared by `fast-ssim2`.

use fast_ssim2::{PixelBuffer, PixelDescriptor, compute_ssimulacra2};
use rs_vips::VipsImage;
use rs_vips::enums::{BandFormat, Interpretation};
use rs_vips::voption::{Setter, VOption};

/// `image` as packed 8-bit sRGB, transparency over white.
pub fn rgb8(image: &VipsImage) -> PixelBuffer {
    let mut image = image.clone();
    if image.get_bands() < 3 {
        image = image.colourspace(Interpretation::Srgb).expect("srgb");
    }
    if image.hasalpha() {
        image = image
            .flatten_with_opts(VOption::new().set("background", &[255.0, 255.0, 255.0][..]))
            .expect("flatten");
    }
    let image = image.cast(BandFormat::Uchar).expect("cast");
    let (w, h) = (image.get_width() as u32, image.get_height() as u32);
    PixelBuffer::from_vec(image.write_to_memory(), w, h, PixelDescriptor::RGB8_SRGB)
        .expect("pixels")
}

/// The encoded image `bytes` as [`rgb8`].
pub fn decoded(bytes: &[u8]) -> PixelBuffer {
    rgb8(&VipsImage::new_from_buffer(bytes, "").expect("decode"))
}

/// The SSIMULACRA2 score of `output` against `reference`.
pub fn ssimulacra2(reference: &PixelBuffer, output: &PixelBuffer) -> f64 {
    compute_ssimulacra2(&reference.as_slice(), &output.as_slice()).expect("score")
}
