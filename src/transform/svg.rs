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

use roxmltree::{Document, Node, ParsingOptions};

use crate::error::{Error, Result};

const SVG_NS: &str = "http://www.w3.org/2000/svg";
const XLINK_NS: &str = "http://www.w3.org/1999/xlink";
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Deepest element nesting accepted.
const MAX_DEPTH: usize = 256;

/// Most XML nodes accepted in one document.
const MAX_NODES: u32 = 200_000;

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

/// Raster formats an `<image>` may embed as a `data:` URL.
const DATA_IMAGES: &[&str] = &[
    "data:image/png",
    "data:image/jpeg",
    "data:image/jpg",
    "data:image/gif",
    "data:image/webp",
];

/// Parses an SVG original and writes it out keeping only what is safe, or
/// refuses it with 400 `InvalidImage` naming why ([`Error::InvalidSvg`]).
pub fn sanitize(bytes: &[u8]) -> Result<Vec<u8>> {
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
    let mut out = String::with_capacity(text.len());
    write_element(root, 0, &mut out)?;
    Ok(out.into_bytes())
}

fn invalid(why: &str) -> Error {
    Error::InvalidSvg {
        reason: why.to_string(),
    }
}

fn write_element(node: Node, depth: usize, out: &mut String) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(invalid(&format!(
            "elements are nested deeper than {MAX_DEPTH}"
        )));
    }
    let name = node.tag_name().name();
    if node.tag_name().namespace() != Some(SVG_NS) || !ELEMENTS.contains(&name) {
        return Ok(());
    }
    if name == "style" {
        // All of its text, wherever comments or CDATA sections split it.
        let css: String = node.children().filter_map(|c| c.text()).collect();
        if !css_is_internal(&css) {
            return Ok(());
        }
    }
    let name = if name == "a" { "g" } else { name };
    out.push('<');
    out.push_str(name);
    if depth == 0 {
        out.push_str(
            r#" xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink""#,
        );
    }
    let mut has_href = false;
    for attr in node.attributes() {
        let qualified = match attr.namespace() {
            None => attr.name().to_string(),
            Some(XLINK_NS) => format!("xlink:{}", attr.name()),
            Some(XML_NS) => format!("xml:{}", attr.name()),
            Some(_) => continue,
        };
        if !attribute_is_safe(name, &qualified, attr.value()) {
            continue;
        }
        has_href |= matches!(qualified.as_str(), "href" | "xlink:href");
        out.push(' ');
        out.push_str(&qualified);
        out.push_str("=\"");
        escape(attr.value(), true, out);
        out.push('"');
    }
    if matches!(name, "image" | "feImage") && !has_href {
        // Its source was external: drop what cannot be drawn anyway.
        out.truncate(out.rfind('<').unwrap_or(out.len()));
        return Ok(());
    }
    out.push('>');
    for child in node.children() {
        if child.is_element() {
            write_element(child, depth + 1, out)?;
        } else if child.is_text() {
            escape(child.text().unwrap_or_default(), false, out);
        }
    }
    out.push_str("</");
    out.push_str(name);
    out.push('>');
    Ok(())
}

/// Event handlers never pass; links must stay in the document (or embed a
/// raster image, for `<image>`); no value may reach outside through `url(...)`.
fn attribute_is_safe(element: &str, name: &str, value: &str) -> bool {
    if name.len() > 2 && name[..2].eq_ignore_ascii_case("on") {
        return false;
    }
    if matches!(name, "href" | "xlink:href") {
        let v = value.trim();
        let embedded = matches!(element, "image" | "feImage")
            && DATA_IMAGES
                .iter()
                .any(|p| v.len() >= p.len() && v[..p.len()].eq_ignore_ascii_case(p));
        return element != "g" && (v.starts_with('#') || embedded);
    }
    css_is_internal(value)
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
    while let Some(at) = rest.find("url(") {
        rest = &rest[at + 4..];
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

fn escape(text: &str, attribute: bool, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(svg: &str) -> String {
        String::from_utf8(sanitize(svg.as_bytes()).unwrap()).unwrap()
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
        let out = clean(
            r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" onload="alert(1)">
  <script>alert(2)</script>
  <foreignObject><div xmlns="http://www.w3.org/1999/xhtml">x</div></foreignObject>
  <image href="http://127.0.0.1:9/x.png" width="5" height="5"/>
  <image xlink:href="file:///etc/passwd" width="5" height="5"/>
  <image href="data:image/svg+xml;base64,PHN2Zz4=" width="5" height="5"/>
  <image href="data:image/png;base64,iVBORw0KGgo=" width="5" height="5"/>
  <a xlink:href="javascript:alert(3)"><rect width="1" height="1" onclick="alert(4)"/></a>
  <rect width="1" height="1" fill="url(http://127.0.0.1:9/p)" style="fill: url(https://x/y)"/>
  <style>@import url(http://127.0.0.1:9/s.css);</style>
  <style>rect { fill: url( "http://x/" ) }</style>
  <style>rect {}<!-- split -->@import url(http://127.0.0.1:9/t.css);</style>
  <style><![CDATA[rect {}]]>@import "http://127.0.0.1:9/u.css";</style>
  <animate attributeName="href" to="javascript:alert(5)"/>
  <set attributeName="onload" to="alert(6)"/>
</svg>"#,
        );
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
            let e = sanitize(svg.as_bytes()).unwrap_err();
            assert_eq!((e.code(), e.status().as_u16()), ("InvalidImage", 400));
            assert!(e.to_string().contains(why), "{svg}: {e}");
        }
        let deep = format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg">{}{}</svg>"#,
            "<g>".repeat(300),
            "</g>".repeat(300)
        );
        assert!(sanitize(deep.as_bytes()).is_err());
        assert!(sanitize(b"<svg \xff").is_err());
    }
}
