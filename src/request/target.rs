//! The canonical form of a request URL: the one string a signature covers,
//! and the one form every URL parser consumes.
//!
//! A URL can be written many ways (`%41` or `A`, `%2f` or `%2F`, `+` or
//! `%20` in a query), and every entry point hands it over differently: API
//! Gateway's REST API decodes the path, ALB and `serve` pass it as sent. If
//! the signature checked one spelling and a parser read another, one signature
//! could authorise two requests. So the handler turns the raw path and query
//! into a [`Target`] once, verifies the signature over
//! [`Target::string_to_sign`] and parses only the `Target`. Two URLs that
//! canonicalise to the same `Target` are the same request, and a URL whose
//! canonical form is ambiguous is refused with 400 `MalformedUrl`.
//!
//! **Path.** Every percent-escape is decoded, except those of the bytes that
//! carry structure: `/` (segments), `%` (so nothing is ever decoded twice),
//! `?`, `#` and control characters. These stay escaped, in upper case. A `%`
//! that starts no escape is written `%25`. The decoded path must be UTF-8.
//! For an ordinary path (no encoded `/`), this is exactly the decoded path
//! that API Gateway's REST API hands SIH, so SIH-signed URLs keep verifying.
//!
//! **Query.** `name=value` pairs split at `&` and at the first `=`, then
//! decoded as forms are (`+` is a space). A decoded name holding `=` or `&`,
//! or a decoded value holding `&`, is refused: once decoded and joined again
//! they would split differently (`expires%3D…%26format=webp` would pass for
//! two signed parameters). Names and values must be UTF-8. For each name
//! the last value wins, in the signature and in every parser alike.

use crate::error::{Error, Result};

/// The query parameter that carries the signature (left out of the string to sign).
pub const SIGNATURE_PARAM: &str = "signature";

/// A request URL in its canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Target {
    /// The canonical path, with its leading `/`.
    pub path: String,
    /// The decoded query pairs, in the order sent (repeats kept).
    pub query: Vec<(String, String)>,
}

impl Target {
    /// Canonicalises a raw (percent-encoded) path and query string.
    ///
    /// # Errors
    ///
    /// [`Error::MalformedUrl`] when the path or a query pair does not decode
    /// to UTF-8, or a query pair holds a delimiter that decoding would expose.
    pub fn parse(path: &str, query: Option<&str>) -> Result<Target> {
        Ok(Target {
            path: canonical_path(path)?,
            query: query_pairs(query.unwrap_or(""))?,
        })
    }

    /// The last value of the query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        last(&self.query, name)
    }

    /// The same target without a query: what a path-only signature
    /// (thumbor's) authorises.
    pub fn without_query(&self) -> Target {
        Target {
            path: self.path.clone(),
            query: Vec::new(),
        }
    }

    /// SIH v7's string to sign: the path, then `?` and every query parameter
    /// but `signature` (the last value of each name), sorted as JavaScript's
    /// `Object.entries(q).sort()` sorts them, joined as `k=v` with `&`.
    pub fn string_to_sign(&self) -> String {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for (k, v) in &self.query {
            if k == SIGNATURE_PARAM {
                continue;
            }
            pairs.retain(|(existing, _)| existing != k);
            pairs.push((k, v));
        }
        if pairs.is_empty() {
            return self.path.clone();
        }
        // `sort()` compares the pairs as the strings "k,v", by UTF-16 code units.
        let key = |(k, v): &(&str, &str)| format!("{k},{v}").encode_utf16().collect::<Vec<_>>();
        pairs.sort_by_cached_key(key);
        let joined: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{}?{}", self.path, joined.join("&"))
    }
}

/// The last value of `name` among decoded pairs.
pub fn last<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Bytes whose escapes stay escaped in the canonical path.
fn structural(b: u8) -> bool {
    matches!(b, b'/' | b'%' | b'?' | b'#') || b < 0x20 || b == 0x7f
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The canonical form of a raw path (see the module documentation).
pub fn canonical_path(raw: &str) -> Result<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let escaped = bytes
            .get(i + 1)
            .and_then(|&h| hex(h))
            .zip(bytes.get(i + 2).and_then(|&l| hex(l)));
        match escaped {
            Some((h, l)) => {
                let d = h * 16 + l;
                if structural(d) {
                    out.extend_from_slice(format!("%{d:02X}").as_bytes());
                } else {
                    out.push(d);
                }
                i += 3;
            }
            None => {
                out.extend_from_slice(b"%25");
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| {
        Error::malformed(format!(
            "the path {raw:?} does not decode to UTF-8: percent-encode the UTF-8 bytes of each character"
        ))
    })
}

/// Decodes a raw query string into pairs (see the module documentation).
pub fn query_pairs(raw: &str) -> Result<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = part.split_once('=').unwrap_or((part, ""));
        let (name, value) = (form_decode(name)?, form_decode(value)?);
        if name.contains(['=', '&']) {
            return Err(Error::malformed(format!(
                "the query parameter name {name:?} holds an encoded '=' or '&'"
            )));
        }
        if value.contains('&') {
            return Err(Error::malformed(format!(
                "the value of the query parameter {name:?} holds an encoded '&'"
            )));
        }
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// `application/x-www-form-urlencoded` decoding of one name or value, strictly UTF-8.
fn form_decode(raw: &str) -> Result<String> {
    let plus = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            Error::malformed(format!(
                "the query text {raw:?} does not decode to UTF-8: percent-encode the UTF-8 bytes of each character"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        for (raw, canonical) in [
            ("/a.jpg", "/a.jpg"),
            ("/my%20photo.jpg", "/my photo.jpg"),
            ("/%41%62c", "/Abc"),
            ("/fit-in%2F300x300%2fcat.jpg", "/fit-in%2F300x300%2Fcat.jpg"),
            ("/100%25.jpg", "/100%25.jpg"),
            ("/100%.jpg", "/100%25.jpg"),
            ("/a%2541.jpg", "/a%2541.jpg"),
            ("/%%41", "/%25A"),
            ("/a%3Fb%23c%0a", "/a%3Fb%23c%0A"),
            ("/caf%C3%A9.jpg", "/café.jpg"),
            ("/%e2%82%ac", "/€"),
            ("/x%2", "/x%252"),
            ("/x%", "/x%25"),
            ("/a+b", "/a+b"),
            ("/%2B%3D", "/+="),
        ] {
            assert_eq!(canonical_path(raw).unwrap(), canonical, "{raw}");
            // canonical forms are fixed points
            assert_eq!(canonical_path(canonical).unwrap(), canonical, "{raw}");
        }
        for bad in ["/%FF.jpg", "/%C3", "/%C3%28", "/%ED%A0%80"] {
            let e = canonical_path(bad).unwrap_err();
            assert_eq!(e.code(), "MalformedUrl", "{bad}");
        }
    }

    #[test]
    fn queries() {
        let t = Target::parse("/a.jpg", Some("b=%20x&a=y+z&&c&=v&a=2&d=%3D1")).unwrap();
        assert_eq!(
            t.query,
            [
                ("b", " x"),
                ("a", "y z"),
                ("c", ""),
                ("", "v"),
                ("a", "2"),
                ("d", "=1")
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(t.param("a"), Some("2"));
        for bad in [
            "expires%3D20200101T000000Z%26format=webp",
            "a%26b=1",
            "a=1%262",
            "x=%FF",
            "%C3=1",
        ] {
            let e = Target::parse("/a.jpg", Some(bad)).unwrap_err();
            assert_eq!(
                (e.status().as_u16(), e.code()),
                (400, "MalformedUrl"),
                "{bad}"
            );
        }
    }

    #[test]
    fn string_to_sign_sorts_like_javascript() {
        let s = |q: Option<&str>| Target::parse("/a.jpg", q).unwrap().string_to_sign();
        assert_eq!(s(None), "/a.jpg");
        assert_eq!(s(Some("signature=x")), "/a.jpg");
        assert_eq!(
            s(Some(
                "format=png&signature=x&expires=20300101T000000Z&width=1&width=2"
            )),
            "/a.jpg?expires=20300101T000000Z&format=png&width=2"
        );
        // "a!,1" sorts before "a,2" because '!' < ','
        assert_eq!(s(Some("a=2&a!=1")), "/a.jpg?a!=1&a=2");
        assert_eq!(s(Some("b=%20x&a=y+z")), "/a.jpg?a=y z&b= x");
    }
}
