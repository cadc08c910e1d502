//! SVG originals: the sanitiser every SVG goes through before libvips
//! rasterises it or the service returns it.
//!
//! The document is parsed with a real XML parser that refuses any document
//! type declaration (so no entity can expand or name an external file), and
//! written out again from an allow-list: SVG elements that draw, no
//! `<script>`, `<foreignObject>` or animation elements, no event handler
//! attributes, and no reference that leaves the document (links and
//! `url(...)` may point at `#fragments`, and `<image>` at embedded raster
//! `data:` images only). What is returned is therefore safe to rasterise and
//! to serve as `image/svg+xml` (the response adds a restrictive
//! `Content-Security-Policy` as a second fence).
//!
//! An embedded raster (`<image href="data:image/png;base64,...">`) is
//! decoded from its URL, must really be PNG, JPEG, GIF or WebP (sniffed from
//! its bytes, as originals are), has its header read by that format's own
//! libvips loader, and counts towards a pixel budget: the embedded rasters of
//! one SVG together may not have more pixels than the caller's limit
//! (`MAX_INPUT_PIXELS`), since librsvg decodes each one whole. It is written
//! out again as `data:<its sniffed type>;base64,<its bytes>`, so librsvg
//! decodes exactly the bytes that were checked, through a decoder for the
//! type that was checked. A raster type the service does not take
//! (`image/svg+xml`, `image/bmp`, ...) is dropped like an external link;
//! a declared raster that is not what it claims, is corrupt, or breaks the
//! budget refuses the whole SVG with 400.
//!
//! References may not multiply the drawing: counting each `<use>`,
//! `url(#...)` and pattern `href` as drawing its target again, a document
//! may draw no more elements than it may hold ([`MAX_DRAWN`]).
//!
//! Text from the document is compared as bytes or cut with `get(..)` and
//! `split_once`, never sliced at a byte offset that could fall inside a
//! character.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use percent_encoding::percent_decode_str;
use roxmltree::{Document, Node, NodeId, ParsingOptions};

use super::format::{self, SourceFormat};
use crate::error::{Error, Result};

const SVG_NS: &str = "http://www.w3.org/2000/svg";
const XLINK_NS: &str = "http://www.w3.org/1999/xlink";
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Deepest element nesting accepted.
const MAX_DEPTH: usize = 256;

/// Most XML nodes accepted in one document.
const MAX_NODES: u32 = 200_000;

/// Most elements one document may have librsvg draw, counting each
/// reference (`<use>`, `url(#...)`, a pattern's `href`) as drawing what it
/// points at once more, and a marker once per vertex of its path: as many as
/// a document may hold. Without it a few kilobytes of `<use>` ten-fold
/// fan-out would draw millions of elements (seconds of CPU each million).
const MAX_DRAWN: u64 = MAX_NODES as u64;

/// Deepest nesting of elements and references together (a reference nests
/// what it points at one level below the element that refers).
const MAX_REFERENCE_DEPTH: usize = 2 * MAX_DEPTH;

/// SVG elements that are kept (with their allowed attributes and content).
/// Anything else, `script`, `foreignObject`, `animate` and `set` among them,
/// is dropped with everything inside it. `a` is kept as a `g`, without its link.
const ELEMENTS: &[&str] = &[
    "svg",
    "g",
    "defs",
    "symbol",
    "use",
    "title",
    "desc",
    "switch",
    "a",
    "path",
    "rect",
    "circle",
    "ellipse",
    "line",
    "polyline",
    "polygon",
    "text",
    "tspan",
    "textPath",
    "linearGradient",
    "radialGradient",
    "stop",
    "pattern",
    "clipPath",
    "mask",
    "marker",
    "image",
    "style",
    "view",
    "filter",
    "feBlend",
    "feColorMatrix",
    "feComponentTransfer",
    "feComposite",
    "feConvolveMatrix",
    "feDiffuseLighting",
    "feDisplacementMap",
    "feDistantLight",
    "feDropShadow",
    "feFlood",
    "feFuncA",
    "feFuncB",
    "feFuncG",
    "feFuncR",
    "feGaussianBlur",
    "feImage",
    "feMerge",
    "feMergeNode",
    "feMorphology",
    "feOffset",
    "fePointLight",
    "feSpecularLighting",
    "feSpotLight",
    "feTile",
    "feTurbulence",
];

/// Media types an `<image>` may name in a `data:` URL. A link naming any
/// other type is dropped, as an external one is.
const DATA_IMAGE_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/jpg",
    "image/gif",
    "image/webp",
];

/// What the bytes of an embedded raster may really be (sniffed, whatever
/// its URL says): the formats librsvg decodes, each also one the service
/// reads through its own allowed loader.
const EMBEDDED_FORMATS: &[SourceFormat] = &[
    SourceFormat::Png,
    SourceFormat::Jpeg,
    SourceFormat::Gif,
    SourceFormat::Webp,
];

/// The WHATWG "forgiving" base64 that `data:` URLs use (librsvg's reading):
/// padding optional, stray trailing bits ignored. Whitespace is removed first.
const FORGIVING_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Opens an original of its sniffed format (see [`format::open`], one
/// frame); an SVG is sanitised first, its embedded rasters held to
/// `svg_pixels`, and libvips reads what [`sanitize`] kept.
pub fn open(
    bytes: &[u8],
    source: SourceFormat,
    svg_pixels: u64,
    max_pixels: u64,
) -> Result<rs_vips::VipsImage> {
    match source {
        SourceFormat::Svg => format::open(&sanitize(bytes, svg_pixels)?, source, false, max_pixels),
        _ => format::open(bytes, source, false, max_pixels),
    }
}

/// Parses an SVG original and writes it out keeping only what is safe, or
/// refuses it with 400 `InvalidImage` naming why ([`Error::InvalidSvg`]).
/// `max_pixels` bounds the pixels of its embedded rasters, all together.
pub fn sanitize(bytes: &[u8], max_pixels: u64) -> Result<Vec<u8>> {
    let text = std::str::from_utf8(bytes).map_err(|_| invalid("it is not UTF-8 text"))?;
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => invalid(
            "a document type declaration is not allowed (its entities could expand or read files)",
        ),
        other => invalid(&other.to_string()),
    })?;
    let root = doc.root_element();
    if root.tag_name().namespace() != Some(SVG_NS) || root.tag_name().name() != "svg" {
        return Err(invalid(
            "the root element is not <svg> in the SVG namespace",
        ));
    }
    let mut writer = Writer {
        out: String::with_capacity(text.len()),
        max_pixels,
        embedded_pixels: 0,
    };
    writer.element(root, 0)?;
    Drawing::of(root)?;
    Ok(writer.out.into_bytes())
}

/// Whether the writer keeps `node` (with its content).
fn kept(node: &Node) -> bool {
    let name = node.tag_name().name();
    node.is_element()
        && node.tag_name().namespace() == Some(SVG_NS)
        && ELEMENTS.contains(&name)
        && (name != "style" || css_is_internal(&style_text(node)))
}

/// A `style` element's CSS: all of its text, wherever comments or CDATA
/// sections split it.
fn style_text(node: &Node) -> String {
    node.children().filter_map(|c| c.text()).collect()
}

/// What rasterising the kept document costs, in elements drawn: each
/// element once, plus what its references draw ([`MAX_DRAWN`]).
struct Drawing<'a, 'input> {
    /// Kept elements by `id` (all of them, where an id is repeated: a
    /// reference counts as the costliest).
    ids: HashMap<&'a str, Vec<Node<'a, 'input>>>,
    /// Elements drawn by each element (with its content and references),
    /// and how deep that reaches below it.
    known: HashMap<NodeId, (u64, usize)>,
    /// Elements being counted: a reference back to one is a cycle, which
    /// librsvg refuses to draw.
    open: HashSet<NodeId>,
    /// What a reference to each id draws (count, depth, whether a marker).
    by_id: HashMap<String, (u64, usize, bool)>,
    /// Ids being counted (as `open`).
    open_ids: HashSet<String>,
}

impl<'a, 'input> Drawing<'a, 'input> {
    /// Refuses a document that would draw more than [`MAX_DRAWN`] elements
    /// or nest references deeper than [`MAX_REFERENCE_DEPTH`].
    fn of(root: Node<'a, 'input>) -> Result<()> {
        let mut drawing = Drawing {
            ids: HashMap::new(),
            known: HashMap::new(),
            open: HashSet::new(),
            by_id: HashMap::new(),
            open_ids: HashSet::new(),
        };
        let mut kept_elements = 0u64;
        let mut sheets = Vec::new();
        let mut stack = vec![root];
        while let Some(node) = stack.pop() {
            kept_elements += 1;
            if let Some(id) = node.attribute("id") {
                drawing.ids.entry(id).or_default().push(node);
            }
            if node.tag_name().name() == "style" {
                sheets.push(style_text(&node));
            }
            stack.extend(node.children().filter(kept));
        }
        let mut drawn = drawing.drawn(root, 0)?.0;
        // A style sheet's reference may apply to every element (a gradient
        // costs nothing worth counting).
        for sheet in &sheets {
            for id in fragment_urls(sheet) {
                let each = drawing.reference(id, None, 1)?.0;
                if each > 1 {
                    drawn = drawn.saturating_add(kept_elements.saturating_mul(each));
                }
            }
        }
        if drawn > MAX_DRAWN {
            return Err(too_much_drawing(drawn));
        }
        Ok(())
    }

    /// Elements `node` draws, and how deep it reaches, at `depth`.
    fn drawn(&mut self, node: Node<'a, 'input>, depth: usize) -> Result<(u64, usize)> {
        let deep = || {
            invalid(&format!(
                "its elements and references nest deeper than {MAX_REFERENCE_DEPTH}"
            ))
        };
        if let Some(&(count, height)) = self.known.get(&node.id()) {
            return if depth + height > MAX_REFERENCE_DEPTH {
                Err(deep())
            } else {
                Ok((count, height))
            };
        }
        if depth > MAX_REFERENCE_DEPTH {
            return Err(deep());
        }
        if !self.open.insert(node.id()) {
            return Ok((0, 0));
        }
        let (mut count, mut height) = (1u64, 0usize);
        // What is only drawn where it is referenced counts there.
        let drawn_in_place = |c: &Node| {
            kept(c)
                && !matches!(
                    c.tag_name().name(),
                    "defs"
                        | "symbol"
                        | "pattern"
                        | "marker"
                        | "mask"
                        | "clipPath"
                        | "linearGradient"
                        | "radialGradient"
                        | "filter"
                )
        };
        for child in node.children().filter(drawn_in_place) {
            let (c, h) = self.drawn(child, depth + 1)?;
            count = count.saturating_add(c);
            height = height.max(h + 1);
        }
        for attr in node.attributes() {
            let value = attr.value();
            let links = match attr.name() {
                "href" => value.trim_ascii().strip_prefix('#').into_iter().collect(),
                _ => fragment_urls(value),
            };
            for id in links {
                let (c, h) = self.reference(id, Some(&node), depth + 1)?;
                count = count.saturating_add(c);
                height = height.max(h + 1);
            }
        }
        self.open.remove(&node.id());
        if count > MAX_DRAWN {
            return Err(too_much_drawing(count));
        }
        self.known.insert(node.id(), (count, height));
        Ok((count, height))
    }
}

impl<'a, 'input> Drawing<'a, 'input> {
    /// What a reference to `#id` from `from` draws, at `depth`: nothing when
    /// no kept element has that id (or it refers back to itself), one for a
    /// gradient (a paint, not drawing), what the element draws otherwise, and
    /// for a marker that once per vertex of `from`. Counted once per id, so
    /// an id repeated on many elements costs no more work than they are.
    fn reference(&mut self, id: &str, from: Option<&Node>, depth: usize) -> Result<(u64, usize)> {
        let (count, height, marker) = match self.by_id.get(id) {
            Some(&(count, height, marker)) => {
                if depth + height > MAX_REFERENCE_DEPTH {
                    return Err(invalid(&format!(
                        "its elements and references nest deeper than {MAX_REFERENCE_DEPTH}"
                    )));
                }
                (count, height, marker)
            }
            None => {
                if !self.open_ids.insert(id.to_string()) {
                    return Ok((0, 0));
                }
                let targets = self.ids.get(id).cloned().unwrap_or_default();
                let mut most = (0u64, 0usize, false);
                for target in targets {
                    let name = target.tag_name().name();
                    let (c, h) = match name {
                        "linearGradient" | "radialGradient" => (1, 0),
                        _ => self.drawn(target, depth)?,
                    };
                    most = (most.0.max(c), most.1.max(h), most.2 || name == "marker");
                }
                self.open_ids.remove(id);
                self.by_id.insert(id.to_string(), most);
                most
            }
        };
        // a marker is drawn at every vertex
        let times = if marker { from.map_or(1, vertices) } else { 1 };
        Ok((count.saturating_mul(times), height))
    }
}

fn too_much_drawing(drawn: u64) -> Error {
    invalid(&format!(
        "drawing it would draw {drawn} elements or more, counting each <use> and url(#...) reference \
         as drawing what it points at, above the limit of {MAX_DRAWN}"
    ))
}

/// The ids of the `url(#id)` references in a CSS or attribute text (`url`
/// in any case, as CSS reads it).
fn fragment_urls(text: &str) -> Vec<&str> {
    text.to_ascii_lowercase()
        .match_indices("url(")
        .filter_map(|(at, _)| {
            // the same offsets: lowercasing ASCII keeps every byte in place
            let after = text.get(at + 4..)?;
            let target = after.trim_start().trim_start_matches(['"', '\'']);
            let id = target.strip_prefix('#')?;
            let end = id
                .find(|c: char| c == ')' || c == '"' || c == '\'' || c.is_ascii_whitespace())
                .unwrap_or(id.len());
            id.get(..end)
        })
        .collect()
}

/// At most how many vertices an element's outline has (a marker is drawn
/// at each): every vertex takes at least two characters of `d` or `points`.
fn vertices(node: &Node) -> u64 {
    let data = ["d", "points"]
        .iter()
        .filter_map(|a| node.attribute(*a))
        .map(str::len)
        .sum::<usize>();
    (data as u64 / 2).max(1) + 1
}

fn invalid(why: &str) -> Error {
    Error::InvalidSvg {
        reason: why.to_string(),
    }
}

/// The sanitised document being written, and the pixel budget of its embedded rasters.
struct Writer {
    out: String,
    max_pixels: u64,
    embedded_pixels: u64,
}

impl Writer {
    fn element(&mut self, node: Node, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(invalid(&format!(
                "elements are nested deeper than {MAX_DEPTH}"
            )));
        }
        let name = node.tag_name().name();
        if node.tag_name().namespace() != Some(SVG_NS) || !ELEMENTS.contains(&name) {
            return Ok(());
        }
        if name == "style" && !css_is_internal(&style_text(&node)) {
            return Ok(());
        }
        let name = if name == "a" { "g" } else { name };
        let mut attributes: Vec<(String, Cow<str>)> = Vec::new();
        let mut has_href = false;
        for attr in node.attributes() {
            let qualified = match attr.namespace() {
                None => attr.name().to_string(),
                Some(XLINK_NS) => format!("xlink:{}", attr.name()),
                Some(XML_NS) => format!("xml:{}", attr.name()),
                Some(_) => continue,
            };
            let value = if matches!(qualified.as_str(), "href" | "xlink:href") {
                match self.link(name, attr.value())? {
                    Some(v) => {
                        has_href = true;
                        v
                    }
                    None => continue,
                }
            } else if is_event_handler(&qualified) || !css_is_internal(attr.value()) {
                continue;
            } else {
                Cow::Borrowed(attr.value())
            };
            attributes.push((qualified, value));
        }
        if matches!(name, "image" | "feImage") && !has_href {
            // Its source was external: drop what cannot be drawn anyway.
            return Ok(());
        }
        self.out.push('<');
        self.out.push_str(name);
        if depth == 0 {
            self.out.push_str(
                r#" xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink""#,
            );
        }
        for (qualified, value) in &attributes {
            self.out.push(' ');
            self.out.push_str(qualified);
            self.out.push_str("=\"");
            escape(value, true, &mut self.out);
            self.out.push('"');
        }
        self.out.push('>');
        for child in node.children() {
            if child.is_element() {
                self.element(child, depth + 1)?;
            } else if child.is_text() {
                escape(child.text().unwrap_or_default(), false, &mut self.out);
            }
        }
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        Ok(())
    }

    /// A link (`href`, `xlink:href`) as it is written out, or `None` to drop
    /// it: a `#fragment` of this document (never on what was an `<a>`), or
    /// for `<image>` and `<feImage>` an embedded raster, rewritten.
    fn link<'v>(&mut self, element: &str, value: &'v str) -> Result<Option<Cow<'v, str>>> {
        let v = value.trim_ascii();
        if element == "g" {
            return Ok(None);
        }
        if v.starts_with('#') {
            return Ok(Some(Cow::Borrowed(value)));
        }
        if matches!(element, "image" | "feImage") {
            return Ok(self.embedded_raster(v)?.map(Cow::Owned));
        }
        Ok(None)
    }

    /// An `<image>`'s `data:` URL, read as librsvg reads it (WHATWG's `data:`
    /// URL processing: the body percent-decoded, then base64-decoded when
    /// the header ends in `;base64`). `None` when it is no `data:` URL of a
    /// raster type in [`DATA_IMAGE_TYPES`] (the link is dropped); else the
    /// bytes must sniff as one of [`EMBEDDED_FORMATS`], their header must
    /// read, and their pixels must fit the budget, or the SVG is refused.
    /// What is kept is the canonical `data:<type>;base64,<bytes>`.
    fn embedded_raster(&mut self, url: &str) -> Result<Option<String>> {
        let is_data = url
            .as_bytes()
            .get(..5)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"data:"));
        let Some((header, body)) = url
            .get(5..)
            .filter(|_| is_data)
            .and_then(|r| r.split_once(','))
        else {
            return Ok(None);
        };
        let media = header
            .split(';')
            .next()
            .unwrap_or_default()
            .trim_ascii()
            .to_ascii_lowercase();
        if !DATA_IMAGE_TYPES.contains(&media.as_str()) {
            return Ok(None);
        }
        let base64 = header
            .rsplit_once(';')
            .is_some_and(|(_, last)| last.trim_ascii().eq_ignore_ascii_case("base64"));
        let raw: Vec<u8> = percent_decode_str(body).collect();
        let bytes = if base64 {
            let packed: Vec<u8> = raw
                .into_iter()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            FORGIVING_BASE64.decode(packed).map_err(|_| {
                invalid(&format!(
                    "an embedded {media} data: URL is not valid base64"
                ))
            })?
        } else {
            raw
        };
        let format = format::sniff(&bytes)
            .ok()
            .filter(|f| EMBEDDED_FORMATS.contains(f))
            .ok_or_else(|| {
                invalid(&format!(
                    "an embedded {media} data: image is not PNG, JPEG, GIF or WebP"
                ))
            })?;
        let image = format::open(&bytes, format, false, self.max_pixels).map_err(|_| {
            rs_vips::Vips::error_clear();
            invalid(&format!(
                "an embedded {} data: image is corrupt or truncated",
                format.name()
            ))
        })?;
        let (w, h) = (
            image.get_width().max(0) as u64,
            image.get_height().max(0) as u64,
        );
        self.embedded_pixels = self.embedded_pixels.saturating_add(w.saturating_mul(h));
        if self.embedded_pixels > self.max_pixels {
            return Err(invalid(&format!(
                "its embedded data: images come to {} pixels (the last one {w}x{h}), above the limit of {} pixels",
                self.embedded_pixels, self.max_pixels
            )));
        }
        Ok(Some(format!(
            "data:image/{};base64,{}",
            format.name(),
            base64::engine::general_purpose::STANDARD.encode(&bytes)
        )))
    }
}

/// An `on...` attribute: an event handler, whatever follows (compared as bytes).
fn is_event_handler(name: &str) -> bool {
    name.len() > 2
        && name
            .as_bytes()
            .get(..2)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"on"))
}

/// Whether a CSS text (a `style` element or attribute, or a presentation
/// attribute such as `fill`) refers only to fragments of this document: no
/// `@import`, and every `url(...)` a `#fragment`.
fn css_is_internal(css: &str) -> bool {
    let lower = css.to_ascii_lowercase();
    if lower.contains("@import") || lower.contains("expression(") {
        return false;
    }
    let mut rest = lower.as_str();
    while let Some((_, after)) = rest.split_once("url(") {
        rest = after;
        let target = rest
            .trim_start()
            .trim_start_matches(['"', '\''])
            .trim_start();
        if !target.starts_with('#') {
            return false;
        }
    }
    // CSS escapes could spell `url(` or `@import` in a way the checks above miss.
    !lower.contains('\\')
}

/// Writes `text` as XML character data (or an attribute value), so that it
/// reads back as the same text: markup characters as entities, and in
/// attributes the whitespace that parsing would normalise as references.
fn escape(text: &str, attribute: bool, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '"' if attribute => out.push_str("&quot;"),
            '\n' if attribute => out.push_str("&#10;"),
            '\t' if attribute => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pixel budget of embedded rasters in these tests.
    const LIMIT: u64 = 10_000;

    fn clean(svg: &str) -> String {
        crate::transform::init_vips().unwrap();
        String::from_utf8(sanitize(svg.as_bytes(), LIMIT).unwrap()).unwrap()
    }

    fn refusal(svg: &str) -> String {
        crate::transform::init_vips().unwrap();
        let e = sanitize(svg.as_bytes(), LIMIT).unwrap_err();
        assert_eq!((e.code(), e.status().as_u16()), ("InvalidImage", 400));
        e.to_string()
    }

    fn doc(body: &str) -> String {
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="8" height="8">{body}</svg>"#
        )
    }

    fn png(width: i32, height: i32) -> Vec<u8> {
        crate::transform::init_vips().unwrap();
        rs_vips::VipsImage::black(width, height)
            .unwrap()
            .pngsave_buffer()
            .unwrap()
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    #[test]
    fn drawing_survives() {
        let out = clean(
            r##"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="20" height="10" viewBox="0 0 20 10">
  <defs><linearGradient id="g"><stop offset="0" stop-color="red"/></linearGradient></defs>
  <rect width="20" height="10" fill="url(#g)" style="stroke: url('#g')"/>
  <use xlink:href="#g"/><text x="1" y="5">a &amp; b</text>
</svg>"##,
        );
        for kept in [
            r##"fill="url(#g)""##,
            r##"xlink:href="#g""##,
            "<stop offset=\"0\" stop-color=\"red\"></stop>",
            "a &amp; b",
            r#"viewBox="0 0 20 10""#,
        ] {
            assert!(out.contains(kept), "{kept} missing from {out}");
        }
    }

    #[test]
    fn active_and_external_content_is_removed() {
        let png = b64(&png(2, 2));
        let out = clean(&format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" onload="alert(1)">
  <script>alert(2)</script>
  <foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject>
  <image href="http://127.0.0.1:9/x.png" width="5" height="5"/>
  <image xlink:href="file:///etc/passwd" width="5" height="5"/>
  <image href="data:image/svg+xml;base64,PHN2Zz4=" width="5" height="5"/>
  <image href="data:image/png;base64,{png}" width="5" height="5"/>
  <a xlink:href="javascript:alert(3)"><rect width="1" height="1" onclick="alert(4)"/></a>
  <rect width="1" height="1" fill="url(http://127.0.0.1:9/p)" style="fill: url(https://x/y)"/>
  <style>@import url(http://127.0.0.1:9/s.css);</style>
  <style>rect {{ fill: url( "http://x/" ) }}</style>
  <style>rect {{}}<!-- split -->@import url(http://127.0.0.1:9/t.css);</style>
  <style><![CDATA[rect {{}}]]>@import "http://127.0.0.1:9/u.css";</style>
  <animate attributeName="href" to="javascript:alert(5)"/>
  <set attributeName="onload" to="alert(6)"/>
</svg>"#
        ));
        for gone in [
            "alert",
            "script",
            "foreignObject",
            "127.0.0.1",
            "passwd",
            "svg+xml",
            "@import",
            "//x",
            "animate",
            "<set",
            "javascript",
        ] {
            assert!(!out.contains(gone), "{gone} survived: {out}");
        }
        assert!(out.contains("data:image/png;base64"), "{out}");
        assert!(out.contains("<g><rect"), "{out}");
    }

    #[test]
    fn entities_and_non_svg_are_refused() {
        for (svg, why) in [
            (
                r#"<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg">&x;</svg>"#,
                "document type",
            ),
            (
                r#"<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><svg xmlns="http://www.w3.org/2000/svg">&lol2;</svg>"#,
                "document type",
            ),
            (r#"<svg><rect/></svg>"#, "namespace"),
            (r#"<html xmlns="http://www.w3.org/2000/svg"/>"#, "root"),
            (r#"<svg xmlns="http://www.w3.org/2000/svg"><rect"#, "SVG"),
        ] {
            let e = sanitize(svg.as_bytes(), LIMIT).unwrap_err();
            assert_eq!((e.code(), e.status().as_u16()), ("InvalidImage", 400));
            assert!(e.to_string().contains(why), "{svg}: {e}");
        }
        let deep = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg">{}{}</svg>"#,
            "<g>".repeat(300),
            "</g>".repeat(300)
        );
        assert!(sanitize(deep.as_bytes(), LIMIT).is_err());
        assert!(sanitize(b"<svg \xff", LIMIT).is_err());
    }

    /// Characters of two, three and four bytes, and invisible ones.
    const WIDE: &[&str] = &["é", "€", "𝄞", "\u{200B}", "\u{FEFF}", "İ"];

    #[test]
    fn multi_byte_text_is_never_cut_inside_a_character() {
        // The two shapes from issue 15 that panicked.
        let out = clean(&doc(r#"<rect xé="1" width="2" height="2"/>"#));
        assert!(out.contains(r#"<rect xé="1""#), "{out}");
        let out = clean(&doc(
            r#"<image href="data:image/p€ng;base64,iVBORw0KGgo=" width="2" height="2"/>"#,
        ));
        assert!(!out.contains("<image"), "an unknown type is dropped: {out}");
        // Every character at every place of a document that has each kind of
        // position (element and attribute names, values, CSS, links, a
        // data: URL's type, parameters and body, text): sanitised or
        // refused with 400, never a panic.
        let base = doc(&format!(
            r##"<g id="a" fill="url(#a)" style="stroke:url('#a')"><rect x="1" onclick="x" width="2" height="2"/><use href="#a"/><image width="2" height="2" href="data:image/png;base64,{}"/><text>t</text><style>g{{}}</style></g>"##,
            b64(&png(2, 2))
        ));
        crate::transform::init_vips().unwrap();
        let mut refused = 0;
        for at in (0..=base.len()).filter(|&i| base.is_char_boundary(i)) {
            for c in WIDE {
                let mut svg = base.clone();
                svg.insert_str(at, c);
                match sanitize(svg.as_bytes(), LIMIT) {
                    Ok(out) => assert_eq!(
                        sanitize(&out, LIMIT).ok().as_deref(),
                        Some(&out[..]),
                        "sanitising twice changes nothing: {svg}"
                    ),
                    Err(e) => {
                        assert_eq!(e.status().as_u16(), 400, "{svg}: {e}");
                        refused += 1;
                    }
                }
            }
        }
        assert!(refused > 0, "some insertions break the XML or the base64");
    }

    #[test]
    fn on_prefixes_are_compared_as_bytes() {
        let out = clean(&doc(
            r#"<rect ońe="1" oné="2" o€="3" ON𝄞="4" on="5" width="1" height="1"/>"#,
        ));
        assert!(
            out.contains(r#"o€="3""#) && out.contains(r#"on="5""#),
            "{out}"
        );
        for gone in ["oné", "ON𝄞"] {
            assert!(!out.contains(gone), "{gone} is an event handler: {out}");
        }
    }

    #[test]
    fn embedded_rasters_are_checked_and_rewritten() {
        let small = png(4, 4);
        let canonical = format!("data:image/png;base64,{}", b64(&small));
        // Spellings librsvg reads as the same bytes: all come out canonical.
        let spaced: String = b64(&small)
            .chars()
            .enumerate()
            .flat_map(|(i, c)| (i % 7 == 0).then_some('\n').into_iter().chain([c]))
            .collect();
        let percent: String = small.iter().map(|b| format!("%{b:02X}")).collect();
        for href in [
            canonical.clone(),
            format!(
                " DATA:Image/PNG ; charset=x ;Base64,{}",
                b64(&small).trim_end_matches('=')
            ),
            format!("data:image/png;base64,{spaced}"),
            format!("data:image/png;base64,{}", b64(&small).replace('+', "%2B")),
            format!("data:image/png,{percent}"),
            // the declared type does not decide: the bytes do
            format!("data:image/gif;base64,{}", b64(&small)),
        ] {
            for (element, attr) in [
                ("image", "href"),
                ("image", "xlink:href"),
                ("feImage", "href"),
            ] {
                let out = clean(&doc(&format!(
                    r#"<{element} {attr}="{}" width="4" height="4"/>"#,
                    href.replace('\n', "&#10;")
                )));
                assert!(
                    out.contains(&format!(r#"{attr}="{canonical}""#)),
                    "{href}: {out}"
                );
            }
        }
        // Other formats, rewritten to their own type.
        crate::transform::init_vips().unwrap();
        let black = rs_vips::VipsImage::black(3, 3).unwrap();
        for (bytes, kind) in [
            (black.jpegsave_buffer().unwrap(), "jpeg"),
            (black.gifsave_buffer().unwrap(), "gif"),
            (black.webpsave_buffer().unwrap(), "webp"),
        ] {
            let out = clean(&doc(&format!(
                r#"<image href="data:image/png;base64,{}"/>"#,
                b64(&bytes)
            )));
            assert!(out.contains(&format!("data:image/{kind};base64,")), "{out}");
        }
        // Types the service does not take are dropped, like external links;
        // an SVG inside an SVG among them.
        let inner = doc(&format!(r#"<image href="{canonical}"/>"#));
        for href in [
            format!("data:image/svg+xml;base64,{}", b64(inner.as_bytes())),
            format!("data:image/svg+xml,{inner}"),
            format!("data:image/bmp;base64,{}", b64(b"BM")),
            format!("data:text/plain;base64,{}", b64(&small)),
            format!("data:;base64,{}", b64(&small)),
            "data:image/png".into(),
            "dat:image/png;base64,AAAA".into(),
        ] {
            let out = clean(&doc(&format!(
                r#"<image href="{}" width="4" height="4"/>"#,
                href.replace('&', "&amp;")
                    .replace('"', "&quot;")
                    .replace('<', "&lt;")
            )));
            assert!(!out.contains("<image"), "{href}: {out}");
        }
    }

    #[test]
    fn embedded_rasters_that_lie_or_are_too_big_are_refused() {
        crate::transform::init_vips().unwrap();
        let tiff = rs_vips::VipsImage::black(2, 2)
            .unwrap()
            .tiffsave_buffer()
            .unwrap();
        let svg = doc("<rect/>");
        let small = png(4, 4);
        for (href, why) in [
            (
                format!("data:image/png;base64,{}", b64(&tiff)),
                "not PNG, JPEG, GIF or WebP",
            ),
            (
                format!("data:image/png;base64,{}", b64(svg.as_bytes())),
                "not PNG",
            ),
            (
                format!("data:image/jpeg;base64,{}", b64(b"BM\0\0")),
                "not PNG",
            ),
            (
                format!("data:image/png;base64,{}", b64(&small[..30])),
                "corrupt or truncated",
            ),
            (
                "data:image/png;base64,iVBORw0KGgo=".into(),
                "corrupt or truncated",
            ),
            ("data:image/png;base64,i".into(), "not valid base64"),
            ("data:image/png;base64,*VBO".into(), "not valid base64"),
            ("data:image/png;base64,".into(), "not PNG"),
            // 200x200 is above the test's budget of 10,000 pixels
            (
                format!("data:image/png;base64,{}", b64(&png(200, 200))),
                "above the limit of 10000",
            ),
        ] {
            let e = refusal(&doc(&format!(r#"<image href="{href}"/>"#)));
            assert!(e.contains(why), "{href:.60}: {e}");
        }
        // the budget is for all embedded rasters together
        let image = format!(
            r#"<image href="data:image/png;base64,{}"/>"#,
            b64(&png(60, 60))
        );
        clean(&doc(&image));
        clean(&doc(&image.repeat(2)));
        let e = refusal(&doc(&image.repeat(3)));
        assert!(e.contains("10800 pixels (the last one 60x60)"), "{e}");
    }

    #[test]
    fn whitespace_in_attributes_survives_a_second_reading() {
        let out = clean(&doc(
            "<text x=\"1&#10;2\" y=\"3&#9;4\" dx=\"5&#13;6\">a&#13;b\n</text>",
        ));
        assert!(
            out.contains(r#"x="1&#10;2" y="3&#9;4" dx="5&#13;6""#),
            "{out}"
        );
        assert!(out.contains("a&#13;b\n"), "{out}");
        assert_eq!(
            String::from_utf8(sanitize(out.as_bytes(), LIMIT).unwrap()).unwrap(),
            out
        );
    }

    /// `levels` of `<use>` fan-out: each level draws the one below ten times.
    fn fan_out(levels: usize, via: &str) -> String {
        let mut body = String::from(r#"<rect id="u0" width="1" height="1"/>"#);
        for level in 1..=levels {
            body.push_str(&format!(r#"<g id="u{level}">"#));
            for _ in 0..10 {
                body.push_str(&match via {
                    "use" => format!(r##"<use href="#u{}"/>"##, level - 1),
                    "pattern" => format!(
                        r##"<rect width="1" height="1" fill="url(#p{})"/>"##,
                        level - 1
                    ),
                    _ => format!(
                        r##"<path d="M0 0L1 1" marker-start="url(#m{})"/>"##,
                        level - 1
                    ),
                });
            }
            body.push_str("</g>");
            body.push_str(&format!(
                r##"<pattern id="p{level}"><use href="#u{level}"/></pattern><marker id="m{level}"><use href="#u{level}"/></marker>"##
            ));
        }
        doc(&format!(
            r##"<defs>{body}<pattern id="p0"/><marker id="m0"/></defs><use href="#u{levels}"/>"##
        ))
    }

    #[test]
    fn references_may_not_multiply_the_drawing() {
        for via in ["use", "pattern", "marker"] {
            clean(&fan_out(2, via));
            let e = refusal(&fan_out(6, via));
            assert!(e.contains("above the limit of 200000"), "{via}: {e}");
        }
        // a marker is drawn at each vertex
        let marker = r##"<marker id="m"><g><rect/><rect/><rect/><rect/></g></marker>"##;
        let path = |n: usize| {
            format!(
                r#"<path d="M0 0{}" marker-mid="url(#m)"/>"#,
                "l1 1".repeat(n)
            )
        };
        clean(&doc(&format!("{marker}{}", path(1000))));
        refusal(&doc(&format!("{marker}{}", path(30_000))));
        // a style sheet's reference may apply to every element
        let pattern = format!(r#"<pattern id="p">{}</pattern>"#, "<rect/>".repeat(100));
        let many = "<rect/>".repeat(3000);
        clean(&doc(&format!(
            "<style>rect {{ fill: url(#p) }}</style>{pattern}<g>{}</g>",
            &many[..700]
        )));
        refusal(&doc(&format!(
            "<style>rect {{ fill: URL( '#p' ) }}</style>{pattern}{many}"
        )));
        // gradients are paints: cheap however often they are used
        let gradient =
            r#"<linearGradient id="g"><stop offset="0"/><stop offset="1"/></linearGradient>"#;
        clean(&doc(&format!(
            "<style>rect {{ fill: url(#g) }}</style>{gradient}{}",
            r#"<rect fill="url(#g)" stroke="url(#g)"/>"#.repeat(30_000)
        )));
        // a repeated id counts as the costliest of its elements
        let e = refusal(&doc(&format!(
            r##"<g id="u6"/>{}"##,
            fan_out(6, "use")
                .trim_start_matches(|c| c != '>')
                .trim_start_matches('>')
                .trim_end_matches("</svg>")
        )));
        assert!(e.contains("above the limit"), "{e}");
        // an id on many elements that refer to it is counted once, quickly
        let started = std::time::Instant::now();
        clean(&doc(
            &r##"<rect id="a" fill="url(#a)" clip-path="url(#a)"/>"##.repeat(20_000),
        ));
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        // cycles draw nothing (librsvg refuses them) and end
        clean(&doc(
            r##"<g id="a"><use href="#b"/></g><g id="b"><use href="#a"/><rect fill="url(#b)"/></g><use href="#a"/>"##,
        ));
        // a chain of references nested too deep is refused, without exhausting the stack
        let chain: String = (1..600)
            .map(|i| format!(r##"<g id="c{i}"><use href="#c{}"/></g>"##, i - 1))
            .collect();
        let e = refusal(&doc(&format!(
            r##"<rect id="c0"/>{chain}<use href="#c599"/>"##
        )));
        assert!(e.contains("nest deeper than 512"), "{e}");
    }
}
