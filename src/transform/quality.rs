//! Perceptual quality: `quality=auto` and `format=best`.
//!
//! `quality=auto` encodes at the lowest quality whose output still scores at
//! least a target on SSIMULACRA2 (0 to 100; about 90 is visually lossless,
//! about 70 high quality), measured at the output size against the pixels
//! the encoder was given. The metric is `fast-ssim2`, a BSD/MIT-licensed port
//! of Cloudinary's reference; DSSIM's reference implementation is AGPL and is
//! not used. [`search`] finds the quality in a few encodes (interpolating
//! between the qualities that passed and failed, and stopping at a pass close
//! to the target), bounded in encodes and by a
//! time budget, past which the best result found so far is kept.
//!
//! A PNG is searched only when its request asks for `quality=auto` itself
//! ([`Target::png`]): as a palette image, kept lossless when no palette
//! reaches the target.
//!
//! `format=best` encodes each candidate format the client accepts (see
//! [`candidates`]), each at its own automatic or default quality, and keeps
//! the smallest file. An image with few colours (a screenshot, a chart, a
//! logo: at most [`SYNTHETIC_COLOURS`] distinct colours) is also tried as
//! lossless WebP and as palette PNG, which often beat any lossy encode there.
//!
//! What this module owns: the settings ([`AutoQuality`]), when automatic
//! quality applies ([`applies`]), the target after `Save-Data`
//! ([`AutoQuality::target`]), the search, and the metric's use. The pipeline
//! calls [`encode_auto`] and [`encode_best`] from its `encode` step.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use fast_ssim2::{PixelBuffer, PixelDescriptor, Ssimulacra2Reference};
use rs_vips::VipsImage;
use rs_vips::enums::BandFormat;
use rs_vips::voption::{Setter, VOption};

use super::encode::{self, Settings};
use super::failure::vips;
use super::format::{self, Accepted, SourceFormat};
use crate::error::{Error, Result};
use crate::request::{Output, OutputFormat};

/// Automatic quality's configuration (`AUTO_QUALITY`, `QUALITY_TARGET`,
/// `SAVE_DATA_STEP`, `AUTO_QUALITY_BUDGET`). Scores are held in tenths so
/// the settings stay exact and hashable (the ETag hashes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoQuality {
    /// `AUTO_QUALITY=Yes`: requests that name no quality get `quality=auto`.
    pub default_on: bool,
    /// `QUALITY_TARGET`: the SSIMULACRA2 score to reach, in tenths.
    pub target_tenths: u16,
    /// `SAVE_DATA_STEP`: how far `Save-Data: on` lowers the target, in tenths.
    pub save_data_step_tenths: u16,
    /// `AUTO_QUALITY_BUDGET`: the time one output's search may take.
    pub budget: Duration,
}

impl Default for AutoQuality {
    fn default() -> Self {
        AutoQuality {
            default_on: false,
            target_tenths: 700,
            save_data_step_tenths: 100,
            budget: Duration::from_millis(1500),
        }
    }
}

impl AutoQuality {
    /// The score to reach, lowered by the `Save-Data` step when the client
    /// asked to save data.
    pub fn target(&self, save_data: bool) -> f64 {
        let step = if save_data {
            self.save_data_step_tenths
        } else {
            0
        };
        f64::from(self.target_tenths.saturating_sub(step)) / 10.0
    }

    /// What `output`'s automatic quality aims at; `None` when it does not
    /// apply ([`applies`]).
    pub fn aim(&self, output: &Output, save_data: bool) -> Option<Target> {
        applies(output, self).then(|| Target {
            score: self.target(save_data),
            png: output.auto_quality,
        })
    }

    /// Parses a score from 1 to 100 into tenths (`QUALITY_TARGET`,
    /// `SAVE_DATA_STEP`); `None` for anything else.
    pub fn parse_score(value: &str) -> Option<u16> {
        let v: f64 = value.trim().parse().ok()?;
        (v.is_finite() && (0.0..=100.0).contains(&v)).then(|| (v * 10.0).round() as u16)
    }
}

/// Whether a request's output is encoded at an automatic quality: asked for
/// (`quality=auto`), or on by default (`AUTO_QUALITY`) for a request that
/// names no quality and has no byte cap of its own; never a lossless one,
/// which has no quality to search.
pub fn applies(output: &Output, settings: &AutoQuality) -> bool {
    let asked = output.auto_quality
        || (settings.default_on && output.quality.is_none() && output.max_bytes.is_none());
    asked && !output.lossless && !output.near_lossless
}

/// What one output's automatic quality aims at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// The SSIMULACRA2 score to reach.
    pub score: f64,
    /// Whether a PNG is searched too, as a palette image: only when the
    /// request asked for `quality=auto` itself. `AUTO_QUALITY` leaves a PNG
    /// lossless, as a PNG that names no quality always is.
    pub png: bool,
}

/// What automatic quality chose, for `X-Image-Quality`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Chosen {
    /// The encoder quality used (`None`: lossless).
    pub quality: Option<u8>,
    /// The SSIMULACRA2 score of the output.
    pub score: f64,
    /// Encodes scored to find it.
    pub probes: u8,
}

/// The qualities searched per format, lowest to highest. PNG's quality is
/// its palette quantisation's (libimagequant, at most 256 colours).
fn range(format: OutputFormat) -> Option<(u8, u8)> {
    match format {
        OutputFormat::Jpeg | OutputFormat::Webp => Some((25, 95)),
        OutputFormat::Avif => Some((15, 85)),
        OutputFormat::Png => Some((10, 100)),
        _ => None,
    }
}

/// Where the search starts for `target`: the quality that typically reaches
/// it, from each format's default quality and the mean score that quality
/// reached over the benchmark's corpus (`benches/run.sh`, step `bytes`:
/// JPEG 80 scored 77.5, WebP 80 72.7, AVIF 50 70.5), stepping by [`SLOPE`].
/// A good start saves probes; a poor one costs probes, never the result.
/// `None` for a format without a quality to search.
pub fn start(format: OutputFormat, target: f64) -> Option<u8> {
    let (lo, hi) = range(format)?;
    let (quality, score) = match format {
        OutputFormat::Jpeg => (80.0, 77.5),
        OutputFormat::Webp => (80.0, 72.7),
        // A palette at its best first: when that misses the target, no
        // lower quality reaches it, and the search ends in one encode.
        OutputFormat::Png => return Some(hi),
        _ => (50.0, 70.5),
    };
    Some(
        (quality + (target - score) / SLOPE)
            .round()
            .clamp(f64::from(lo), f64::from(hi)) as u8,
    )
}

/// Most encodes one search makes.
pub const MAX_PROBES: usize = 5;

/// The search stops once the lowest passing and the highest failing
/// quality are this close.
const TOLERANCE: u8 = 2;

/// How much the score typically rises per quality step, used to guess the
/// next quality before both sides of the target have been seen.
const SLOPE: f64 = 0.6;

/// A passing score at most this far above the target ends the search
/// without looking lower: at the typical slope that is within
/// [`TOLERANCE`] quality steps of the answer, so looking lower would cost
/// an encode and a comparison to save a step or two.
const CLOSE: f64 = TOLERANCE as f64 * SLOPE;

/// One probe of the search: a quality and the score its output reached.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    /// Encoder quality.
    pub quality: u8,
    /// Its output's score.
    pub score: f64,
}

/// Finds the lowest quality in `lo..=hi` whose score reaches `target`,
/// starting at `start`, in at most `max_probes` calls of `score`, stopping
/// early when `more` says so (the time budget). Scores are taken to rise
/// with quality. Returns the lowest passing probe, else the highest one
/// tried (the target was out of reach or the budget ran out), with every
/// probe made. A passing probe within [`CLOSE`] of the target ends it.
pub fn search<E>(
    (lo, hi): (u8, u8),
    start: u8,
    target: f64,
    max_probes: usize,
    mut more: impl FnMut() -> bool,
    mut score: impl FnMut(u8) -> std::result::Result<f64, E>,
) -> std::result::Result<(Probe, Vec<Probe>), E> {
    let mut probes: Vec<Probe> = Vec::new();
    // The highest failing and lowest passing probes so far.
    let mut fail: Option<Probe> = None;
    let mut pass: Option<Probe> = None;
    let mut q = start.clamp(lo, hi);
    while probes.len() < max_probes.max(1) && (probes.is_empty() || more()) {
        let s = score(q)?;
        let probe = Probe {
            quality: q,
            score: s,
        };
        probes.push(probe);
        if s >= target {
            pass = Some(probe);
        } else {
            fail = Some(probe);
        }
        // The open interval still to search.
        let below = fail.map_or(lo.saturating_sub(1), |f| f.quality);
        let above = pass.map_or(hi.saturating_add(1), |p| p.quality);
        if above <= below.saturating_add(1)
            || (fail.is_some() && pass.is_some() && above - below <= TOLERANCE)
            || (target..=target + CLOSE).contains(&s)
        {
            break;
        }
        // The score's rise per quality step: measured from the last two
        // probes once there are two, else the typical one.
        let slope = match probes.as_slice() {
            [.., a, b] if a.quality != b.quality => ((b.score - a.score)
                / (f64::from(b.quality) - f64::from(a.quality)))
            .clamp(0.05, 5.0),
            _ => SLOPE,
        };
        let guess = match (fail, pass) {
            (Some(f), Some(p)) => {
                let t = ((target - f.score) / (p.score - f.score)).clamp(0.0, 1.0);
                f64::from(f.quality) + t * f64::from(p.quality - f.quality)
            }
            // Only passes: step down by the score to spare, at least 3.
            (None, Some(p)) => f64::from(p.quality) - ((p.score - target) / slope).max(3.0),
            // Only failures: step up by the score missing, at least 3.
            (Some(f), None) => f64::from(f.quality) + ((target - f.score) / slope).max(3.0),
            (None, None) => break,
        };
        // Strictly inside the interval, so each probe narrows it.
        let next = guess
            .round()
            .clamp(f64::from(below) + 1.0, f64::from(above) - 1.0) as u8;
        if probes.iter().any(|p| p.quality == next) {
            break;
        }
        q = next;
    }
    let best = pass
        .or_else(|| probes.iter().copied().max_by_key(|p| p.quality))
        .unwrap_or(Probe {
            quality: start,
            score: 0.0,
        });
    Ok((best, probes))
}

/// The reference pixels an output is scored against: the image the encoder
/// is given, as 8-bit sRGB (transparency over white, gray as RGB).
pub struct Reference {
    reference: Ssimulacra2Reference,
    width: i32,
    height: i32,
}

impl Reference {
    /// Prepares `image` (already in memory: it is read once per probe). `None`
    /// when the metric cannot score it (smaller than 8×8).
    pub fn new(image: &VipsImage) -> Result<Option<Reference>> {
        let (width, height) = (image.get_width(), image.get_height());
        if width < 8 || height < 8 {
            return Ok(None);
        }
        let pixels = rgb8(image)?;
        let reference = Ssimulacra2Reference::new(&pixels.as_slice()).map_err(metric)?;
        Ok(Some(Reference {
            reference,
            width,
            height,
        }))
    }

    /// The score of an encoded output of this image.
    pub fn score(&self, encoded: &[u8], format: OutputFormat) -> Result<f64> {
        let source = match format {
            OutputFormat::Jpeg => SourceFormat::Jpeg,
            OutputFormat::Webp => SourceFormat::Webp,
            OutputFormat::Avif => SourceFormat::Avif,
            OutputFormat::Png => SourceFormat::Png,
            OutputFormat::Gif => SourceFormat::Gif,
            OutputFormat::Tiff => SourceFormat::Tiff,
            OutputFormat::Svg => return Err(metric("an SVG is not scored")),
        };
        // Every frame of an animation (the reference is the strip of them).
        let decoded = format::open(encoded, source, source.animates(), u64::MAX)?;
        if decoded.get_width() != self.width || decoded.get_height() != self.height {
            return Err(metric("the output's size differs from the reference's"));
        }
        let pixels = rgb8(&decoded)?;
        self.reference.compare(&pixels.as_slice()).map_err(metric)
    }
}

fn metric(e: impl std::fmt::Display) -> Error {
    Error::Processing {
        detail: format!("quality metric: {e}"),
    }
}

/// `image` with its transparency over white, as the pipeline's `flatten`
/// step gives a format without alpha (white is white in every colour
/// space, so no conversion is needed: one background value per band).
fn over_white(image: &VipsImage) -> Result<VipsImage> {
    let bands = (image.get_bands() - 1).max(1) as usize;
    image
        .flatten_with_opts(VOption::new().set("background", &vec![255.0; bands][..]))
        .map_err(vips)
}

/// `image` as packed 8-bit sRGB: alpha flattened onto white, gray expanded.
fn rgb8(image: &VipsImage) -> Result<PixelBuffer> {
    let mut image = image.clone();
    if image.hasalpha() {
        image = over_white(&image)?;
    }
    if image.get_bands() < 3 {
        image = image
            .colourspace(rs_vips::enums::Interpretation::Srgb)
            .map_err(vips)?;
    }
    if image.get_bands() > 3 {
        image = image
            .extract_band_with_opts(0, VOption::new().set("n", 3))
            .map_err(vips)?;
    }
    if !matches!(image.get_format(), Ok(BandFormat::Uchar)) {
        image = image.cast(BandFormat::Uchar).map_err(vips)?;
    }
    let (w, h) = (image.get_width() as u32, image.get_height() as u32);
    let bytes = image.write_to_memory();
    PixelBuffer::from_vec(bytes, w, h, PixelDescriptor::RGB8_SRGB).map_err(metric)
}

/// Encodes `image` as `format` at the lowest quality that reaches `target`
/// before `until` (the smallest output, should a lower quality have come
/// out larger). PNG is searched as a palette image and, when no palette
/// reaches the target, kept lossless (`quality: None`, score 100: the
/// pixels are the reference's); other formats then keep the highest
/// quality tried. `None` when the format has no quality to search or the
/// image cannot be scored: the caller encodes at the default then.
pub fn encode_auto(
    image: &VipsImage,
    reference: Option<&Reference>,
    format: OutputFormat,
    settings: Settings,
    target: Target,
    until: Instant,
) -> Result<Option<(Vec<u8>, Chosen)>> {
    let searched = format != OutputFormat::Png || target.png;
    let target = target.score;
    let (Some(range), Some(start), Some(reference), true) =
        (range(format), start(format, target), reference, searched)
    else {
        return Ok(None);
    };
    // Each probe's output, in probe order.
    let mut outputs: Vec<Vec<u8>> = Vec::new();
    let (best, probes) = search(
        range,
        start,
        target,
        MAX_PROBES,
        || Instant::now() < until,
        |q| -> Result<f64> {
            let out = encode::encode(
                image,
                format,
                Settings {
                    quality: Some(q),
                    ..settings
                },
            )?;
            let score = reference.score(&out, format)?;
            outputs.push(out);
            Ok(score)
        },
    )?;
    let mut scored: Vec<(Probe, Vec<u8>)> = probes.into_iter().zip(outputs).collect();
    let probes = scored.len() as u8;
    // The smallest passing output: libimagequant writes a truecolour PNG,
    // larger than any palette, when it cannot meet a low quality.
    let passing = (scored.iter().enumerate())
        .filter(|(_, (p, _))| p.score >= target)
        .min_by_key(|(_, (_, bytes))| bytes.len())
        .map(|(i, _)| i);
    let kept = match passing {
        Some(i) => i,
        None if format == OutputFormat::Png => {
            let lossless = Settings {
                quality: None,
                ..settings
            };
            let chosen = Chosen {
                quality: None,
                score: 100.0,
                probes,
            };
            return Ok(Some((encode::encode(image, format, lossless)?, chosen)));
        }
        // None passed: the highest quality tried, the search's answer then.
        None => match scored.iter().position(|(p, _)| p.quality == best.quality) {
            Some(i) => i,
            None => return Ok(None),
        },
    };
    let (probe, bytes) = scored.swap_remove(kept);
    Ok(Some((
        bytes,
        Chosen {
            quality: Some(probe.quality),
            score: probe.score,
            probes,
        },
    )))
}

/// Most distinct colours an image may have to be tried losslessly by
/// `format=best`.
pub const SYNTHETIC_COLOURS: usize = 256;

/// Whether `image` looks synthetic: at most [`SYNTHETIC_COLOURS`] distinct
/// colours (alpha included). Counting stops at the first colour past that.
pub fn synthetic(image: &VipsImage) -> bool {
    let bands = image.get_bands().max(1) as usize;
    if !matches!(image.get_format(), Ok(BandFormat::Uchar)) || bands > 4 {
        return false;
    }
    let bytes = image.write_to_memory();
    let mut seen: HashSet<[u8; 4]> = HashSet::with_capacity(SYNTHETIC_COLOURS + 1);
    for pixel in bytes.chunks_exact(bands) {
        let mut key = [0u8; 4];
        key[..bands].copy_from_slice(pixel);
        if seen.insert(key) && seen.len() > SYNTHETIC_COLOURS {
            return false;
        }
    }
    true
}

/// One way `format=best` encodes an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The format.
    pub format: OutputFormat,
    /// Lossless (WebP) or palette (PNG) coding, for synthetic images.
    pub lossless: bool,
}

/// The candidates `format=best` tries, the likeliest winner first (the
/// budget may stop the list, never its first): AVIF and WebP when accepted
/// (AVIF not for an animation), then the format the client gets without
/// negotiation (`fallback`: the source's own, JPEG, or PNG for
/// transparency); for a synthetic image also lossless WebP and palette PNG.
pub fn candidates(
    fallback: OutputFormat,
    accepted: Accepted,
    animated: bool,
    synthetic: bool,
) -> Vec<Candidate> {
    let lossy = |format| Candidate {
        format,
        lossless: false,
    };
    let mut out = Vec::new();
    if accepted.avif && !animated {
        out.push(lossy(OutputFormat::Avif));
    }
    if accepted.webp {
        out.push(lossy(OutputFormat::Webp));
    }
    if !out.contains(&lossy(fallback)) {
        out.push(lossy(fallback));
    }
    if synthetic {
        if accepted.webp {
            out.push(Candidate {
                format: OutputFormat::Webp,
                lossless: true,
            });
        }
        if !animated {
            out.push(Candidate {
                format: OutputFormat::Png,
                lossless: true,
            });
        }
    }
    out
}

/// What [`encode_best`] kept.
#[derive(Debug)]
pub struct Best {
    /// The smallest output.
    pub bytes: Vec<u8>,
    /// Its format.
    pub format: OutputFormat,
    /// Its quality and score, when it was scored.
    pub chosen: Option<Chosen>,
}

/// Encodes every candidate (each lossy one at its automatic quality when
/// `target` is set, else at its default) and keeps the smallest; later
/// candidates are skipped once `until` has passed (the first is always
/// encoded).
pub fn encode_best(
    image: &VipsImage,
    candidates: &[Candidate],
    settings: Settings,
    target: Option<Target>,
    until: Instant,
) -> Result<Best> {
    let reference = match target {
        Some(_) => Reference::new(image)?,
        None => None,
    };
    let mut best: Option<Best> = None;
    for (i, candidate) in candidates.iter().enumerate() {
        if i > 0 && Instant::now() >= until {
            break;
        }
        let flat;
        let image = if !candidate.format.has_alpha() && image.hasalpha() {
            flat = over_white(image)?;
            &flat
        } else {
            image
        };
        let found = match (candidate.lossless, target) {
            (false, Some(target)) => encode_auto(
                image,
                reference.as_ref(),
                candidate.format,
                settings,
                target,
                until,
            )?
            .map(|(bytes, chosen)| (bytes, Some(chosen))),
            _ => None,
        };
        let (bytes, chosen) = match found {
            Some(found) => found,
            None => {
                let settings = if candidate.lossless {
                    lossless(candidate.format, settings)
                } else {
                    settings
                };
                let bytes = encode::encode(image, candidate.format, settings)?;
                let chosen = match (&reference, candidate.lossless) {
                    (Some(reference), true) => Some(Chosen {
                        quality: None,
                        score: reference.score(&bytes, candidate.format)?,
                        probes: 1,
                    }),
                    _ => None,
                };
                (bytes, chosen)
            }
        };
        if best.as_ref().is_none_or(|b| bytes.len() < b.bytes.len()) {
            best = Some(Best {
                bytes,
                format: candidate.format,
                chosen,
            });
        }
    }
    best.ok_or_else(|| metric("no candidate format"))
}

/// The settings of a lossless candidate: lossless WebP, or palette PNG
/// (quality 100 turns on quantisation to at most 256 colours, which is
/// exact for a synthetic image).
fn lossless(format: OutputFormat, settings: Settings) -> Settings {
    match format {
        OutputFormat::Webp => Settings {
            lossless: true,
            quality: None,
            ..settings
        },
        _ => Settings {
            quality: Some(100),
            lossless: false,
            ..settings
        },
    }
}

#[cfg(test)]
mod tests;
