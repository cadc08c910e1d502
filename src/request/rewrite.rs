//! SIH's custom rewrite: `REWRITE_MATCH_PATTERN` and `REWRITE_SUBSTITUTION`.
//!
//! SIH runs `path.replace(new RegExp(pattern, flags), substitution)` on every
//! request path and parses the result as a Thumbor path. This module owns the
//! translation of that JavaScript regular expression and replacement string
//! into the `regex` crate, once at start-up, and the rewrite of each path.
//!
//! The `regex` crate guarantees linear-time matching, so it has no
//! look-around (`(?=`, `(?!`, `(?<=`, `(?<!`) and no back-references (`\1`,
//! `\k<name>`): a pattern that uses them is refused by [`Rewrite::new`] with a
//! message that says so, rather than being run with a different meaning.
//! Where JavaScript's classes are ASCII-only (`\d`, `\w`, `\b` and their
//! negations) they are translated to ASCII classes, so they match what they
//! match in SIH.

use std::borrow::Cow;

use regex::{Captures, Regex};

use crate::error::{Error, Result};

/// The longest path a rewrite may produce, in bytes.
pub const MAX_REWRITTEN_LEN: usize = 16 * 1024;

/// A compiled rewrite rule: a JavaScript `/pattern/flags` literal and its
/// replacement.
#[derive(Debug, Clone)]
pub struct Rewrite {
    regex: Regex,
    /// The `g` flag: replace every match, not only the first.
    global: bool,
    template: Vec<Piece>,
}

/// One part of a parsed replacement string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// Literal text.
    Text(String),
    /// `$n` / `$nn`: a numbered group (empty if it did not take part).
    Group(usize),
    /// `$<name>`: a named group (empty if there is no such group or it did not take part).
    Named(String),
    /// `$&`: the whole match.
    Whole,
    /// `` $` ``: the text before the match.
    Before,
    /// `$'`: the text after the match.
    After,
}

impl Rewrite {
    /// Compiles `pattern`, a JavaScript regular-expression literal
    /// `/pattern/flags` (SIH's `REWRITE_MATCH_PATTERN`), and `substitution`,
    /// a JavaScript replacement string (SIH's `REWRITE_SUBSTITUTION`).
    ///
    /// As in SIH, the text between the first and the last `/` is the pattern
    /// and the text after the last `/` the flags. Flags: `g` replaces every
    /// match (otherwise only the first); `i`, `m` and `s` become the regex
    /// crate's inline flags; `u` is accepted (the regex crate is always
    /// Unicode-aware). The replacement may use `$1`…`$99`, `$&`, `` $` ``,
    /// `$'`, `$<name>` and `$$`, with JavaScript's meaning.
    ///
    /// # Errors
    ///
    /// A message for the operator, naming the pattern: it is not a
    /// `/pattern/flags` literal, has an unknown or repeated flag, or is refused
    /// by the regex crate (look-around, back-references, or a syntax error;
    /// the crate's own explanation is included).
    pub fn new(pattern: &str, substitution: &str) -> Result<Rewrite, String> {
        let literal = pattern.trim();
        let (source, flags) = literal
            .strip_prefix('/')
            .and_then(|body| body.rsplit_once('/'))
            .ok_or_else(|| {
                format!(
                    "the rewrite pattern {literal:?} is not a JavaScript regular-expression literal: write /pattern/flags, e.g. /(filters-)/gm"
                )
            })?;
        let mut global = false;
        let mut inline = String::new();
        for (i, flag) in flags.char_indices() {
            if flags.get(..i).is_some_and(|seen| seen.contains(flag)) {
                return Err(format!(
                    "the rewrite pattern {literal:?} repeats the flag {flag:?}"
                ));
            }
            match flag {
                'g' => global = true,
                'i' | 'm' | 's' => inline.push(flag),
                'u' => {}
                _ => {
                    return Err(format!(
                        "the rewrite pattern {literal:?} has the flag {flag:?}: use only g, i, m, s and u"
                    ));
                }
            }
        }
        let translated = translate(source);
        let full = if inline.is_empty() {
            translated
        } else {
            format!("(?{inline}){translated}")
        };
        let regex = Regex::new(&full).map_err(|e| {
            format!(
                "the rewrite pattern {literal:?} cannot be compiled (the regex crate has no look-around and no back-references): {e}"
            )
        })?;
        let template = parse_template(substitution, &regex);
        Ok(Rewrite {
            regex,
            global,
            template,
        })
    }

    /// Rewrites `path`; borrowed when nothing matched.
    ///
    /// # Errors
    ///
    /// A rewritten path longer than [`MAX_REWRITTEN_LEN`] is a 400 naming
    /// the path: a rule such as `` $`$' `` under `g` grows with the square of
    /// the path, and nothing after it should work on megabytes of it. The
    /// expansion stops as soon as the limit is passed.
    pub fn apply<'a>(&self, path: &'a str) -> Result<Cow<'a, str>> {
        let limit = if self.global { 0 } else { 1 };
        // What the substitutions write is all in the output: stop expanding
        // once that alone is too long.
        let mut written = 0usize;
        let rewritten = self.regex.replacen(path, limit, |caps: &Captures<'_>| {
            if written > MAX_REWRITTEN_LEN {
                return String::new();
            }
            let piece = self.expand(caps, path);
            written += piece.len();
            piece
        });
        let grown = rewritten.len() > MAX_REWRITTEN_LEN && rewritten.len() > path.len();
        if written > MAX_REWRITTEN_LEN || grown {
            return Err(Error::param(
                "path",
                format!(
                    "the rewrite rule (REWRITE_MATCH_PATTERN) makes this path longer than {MAX_REWRITTEN_LEN} bytes"
                ),
            ));
        }
        Ok(rewritten)
    }

    fn expand(&self, caps: &Captures<'_>, haystack: &str) -> String {
        let mut out = String::new();
        let whole = caps.get(0);
        for piece in &self.template {
            let text = match piece {
                Piece::Text(t) => t.as_str(),
                Piece::Group(i) => caps.get(*i).map_or("", |m| m.as_str()),
                Piece::Named(n) => caps.name(n).map_or("", |m| m.as_str()),
                Piece::Whole => whole.map_or("", |m| m.as_str()),
                Piece::Before => whole.and_then(|m| haystack.get(..m.start())).unwrap_or(""),
                Piece::After => whole.and_then(|m| haystack.get(m.end()..)).unwrap_or(""),
            };
            out.push_str(text);
        }
        out
    }
}

/// Translates JavaScript regex syntax where the regex crate reads it differently.
///
/// `\d`, `\w`, `\b` and their negations become ASCII classes (JavaScript's
/// are ASCII even with `u`); `[\b]` is a backspace; `\/` is `/`; inside a
/// class, `[`, `&` and `~` are literal in JavaScript but nesting and set
/// operators in the regex crate, so they are escaped. Everything else is
/// passed through and left for the regex crate to accept or refuse.
fn translate(js: &str) -> String {
    let mut out = String::with_capacity(js.len() + 16);
    let mut in_class = false;
    let mut chars = js.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) => match (e, in_class) {
                    ('d', false) => out.push_str("[0-9]"),
                    ('d', true) => out.push_str("0-9"),
                    ('w', false) => out.push_str("[0-9A-Za-z_]"),
                    ('w', true) => out.push_str("0-9A-Za-z_"),
                    // a nested class inside a class is a union in the regex crate
                    ('D', _) => out.push_str("[^0-9]"),
                    ('W', _) => out.push_str("[^0-9A-Za-z_]"),
                    ('b', false) => out.push_str(r"(?-u:\b)"),
                    ('b', true) => out.push_str(r"\x08"),
                    ('B', false) => out.push_str(r"(?-u:\B)"),
                    ('/', _) => out.push('/'),
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                },
                None => out.push('\\'),
            },
            '[' if !in_class => {
                in_class = true;
                out.push('[');
            }
            ']' if in_class => {
                in_class = false;
                out.push(']');
            }
            '[' | '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Parses a JavaScript replacement string (ECMAScript `GetSubstitution`).
///
/// `$n`/`$nn` name a group only if the pattern has it (two digits win when
/// that group exists), otherwise they are literal; `$<name>` is literal when
/// the pattern has no named groups; any other `$` is literal.
fn parse_template(substitution: &str, regex: &Regex) -> Vec<Piece> {
    let groups = regex.captures_len().saturating_sub(1);
    let has_names = regex.capture_names().flatten().next().is_some();
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = substitution;
    while let Some(dollar) = rest.find('$') {
        text.push_str(rest.get(..dollar).unwrap_or(""));
        let after = rest.get(dollar + 1..).unwrap_or("");
        let bytes = after.as_bytes();
        let group = |digits: &str| {
            digits
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=groups).contains(n))
        };
        let (piece, used) = match bytes.first() {
            Some(b'$') => (Some(Piece::Text("$".into())), 1),
            Some(b'&') => (Some(Piece::Whole), 1),
            Some(b'`') => (Some(Piece::Before), 1),
            Some(b'\'') => (Some(Piece::After), 1),
            Some(b'<') if has_names => match after.find('>') {
                Some(end) => (
                    Some(Piece::Named(after.get(1..end).unwrap_or("").to_string())),
                    end + 1,
                ),
                None => (None, 0),
            },
            Some(d) if d.is_ascii_digit() => {
                let two = after
                    .get(..2)
                    .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(group);
                match two {
                    Some(n) => (Some(Piece::Group(n)), 2),
                    None => match after.get(..1).and_then(group) {
                        Some(n) => (Some(Piece::Group(n)), 1),
                        None => (None, 0),
                    },
                }
            }
            _ => (None, 0),
        };
        match piece {
            Some(Piece::Text(t)) => text.push_str(&t),
            Some(p) => {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(p);
            }
            None => text.push('$'),
        }
        rest = after.get(used..).unwrap_or("");
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewrite(pattern: &str, substitution: &str, path: &str) -> String {
        match Rewrite::new(pattern, substitution) {
            Ok(r) => r.apply(path).unwrap().into_owned(),
            Err(e) => panic!("{pattern}: {e}"),
        }
    }

    fn refused(pattern: &str) -> String {
        match Rewrite::new(pattern, "") {
            Ok(r) => panic!("{pattern}: expected an error, got {r:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn rewrites() {
        for (pattern, substitution, path, expected) in [
            // SIH's documented example
            (
                "/(filters-)/gm",
                "filters:",
                "/filters-rotate(90)/filters-grayscale()/thumbor-image.jpg",
                "/filters:rotate(90)/filters:grayscale()/thumbor-image.jpg",
            ),
            // without g, the first match only
            (
                "/(filters-)/m",
                "filters:",
                "/filters-rotate(90)/filters-grayscale()/a.jpg",
                "/filters:rotate(90)/filters-grayscale()/a.jpg",
            ),
            // groups, swapped
            (
                r"/^\/(\w+)\/(\d+)x(\d+)\//",
                "/$2x$3/filters:format($1)/",
                "/webp/300x200/a.jpg",
                "/300x200/filters:format(webp)/a.jpg",
            ),
            // $& and $$
            ("/a+/g", "[$&$$]", "baac a", "b[aa$]c [a$]"),
            // $` and $'
            ("/-/", "<$`|$'>", "ab-cd", "ab<ab|cd>cd"),
            // named groups
            (
                r"/\/img\/(?<w>\d+)\//",
                "/$<w>x0/",
                "/img/640/cat.jpg",
                "/640x0/cat.jpg",
            ),
            // $<name> without named groups is literal; unknown names are empty
            ("/x/", "$<w>", "axb", "a$<w>b"),
            (r"/(?<w>x)/", "[$<nope>]", "axb", "a[]b"),
            // $0, missing groups and a lone $ are literal
            ("/(x)/", "$0$2$1$", "axb", "a$0$2x$b"),
            // two digits win only when that group exists
            ("/(x)/", "$10", "axb", "ax0b"),
            (
                "/(a)(b)(c)(d)(e)(f)(g)(h)(i)(j)/",
                "$10-$01",
                "abcdefghij",
                "j-a",
            ),
            // flags
            ("/CAT/i", "dog", "/Cat.jpg", "/dog.jpg"),
            ("/^b/gm", "B", "a\nb\nb", "a\nB\nB"),
            ("/a.b/s", "X", "a\nb", "X"),
            ("/a.b/", "X", "a\nb", "a\nb"),
            ("/é/gu", "e", "/café-é.jpg", "/cafe-e.jpg"),
            // \/ is a slash; \d is ASCII as in JavaScript
            (r"/\/(\d+)\//", "/n$1/", "/12/a", "/n12/a"),
            (r"/\d/g", "#", "1٣2", "#٣#"),
            (r"/[\d]/g", "#", "1٣2", "#٣#"),
            (r"/\w+/", "W", "éa", "éW"),
            (r"/[^\W]/g", "w", "é-a", "é-w"),
            // a literal [ inside a class
            ("/[[a]/g", "-", "[ab", "--b"),
            // no match: unchanged
            ("/zzz/g", "y", "/a.jpg", "/a.jpg"),
            // surrounding whitespace in the variable is ignored
            (" /a/g\n", "b", "aa", "bb"),
        ] {
            assert_eq!(
                rewrite(pattern, substitution, path),
                expected,
                "{pattern} {substitution}"
            );
        }
    }

    #[test]
    fn rewritten_paths_are_bounded() {
        // found by the rewrite fuzz target: `$\`$'` under `g` squares the path
        let r = Rewrite::new("/x/g", "$`$'").unwrap();
        let path = format!("/{}", "x".repeat(2_000));
        let e = r.apply(&path).unwrap_err();
        assert_eq!((e.status().as_u16(), e.code()), (400, "InvalidParameter"));
        assert!(r.apply("/axbxc").is_ok());
        // a long path that a rule shortens is fine
        let r = Rewrite::new("/y+/g", "y").unwrap();
        let path = format!("/{}", "y".repeat(MAX_REWRITTEN_LEN));
        assert_eq!(r.apply(&path).unwrap(), "/y");
        // and one it leaves alone is not its doing
        let r = Rewrite::new("/z/g", "zz").unwrap();
        assert!(r.apply(&path).is_ok());
    }

    #[test]
    fn unchanged_paths_are_borrowed() {
        let r = Rewrite::new("/zzz/g", "y").unwrap();
        assert!(matches!(r.apply("/a.jpg"), Ok(Cow::Borrowed("/a.jpg"))));
    }

    #[test]
    fn refused_patterns() {
        for (pattern, says) in [
            ("(filters-)", "literal"),
            ("/(filters-)", "literal"),
            ("", "literal"),
            ("/a/y", "flag 'y'"),
            ("/a/gg", "repeats"),
            (
                "/a(?=b)/",
                "look-around, including look-ahead and look-behind, is not supported",
            ),
            (
                "/a(?!b)/",
                "look-around, including look-ahead and look-behind, is not supported",
            ),
            (
                "/(?<=a)b/",
                "look-around, including look-ahead and look-behind, is not supported",
            ),
            (r"/(a)\1/", "backreferences are not supported"),
            ("/(a/", "unclosed group"),
        ] {
            let e = refused(pattern);
            assert!(e.contains(says), "{pattern}: {e}");
        }
    }

    #[test]
    fn templates() {
        let regex = Regex::new("(a)(?<n>b)").unwrap();
        assert_eq!(
            parse_template("x$1$<n>$&y$$z$", &regex),
            vec![
                Piece::Text("x".into()),
                Piece::Group(1),
                Piece::Named("n".into()),
                Piece::Whole,
                Piece::Text("y$z$".into()),
            ]
        );
        assert_eq!(parse_template("", &regex), vec![]);
        assert_eq!(
            parse_template("$<n", &regex),
            vec![Piece::Text("$<n".into())]
        );
        assert_eq!(
            parse_template("é$1é", &regex),
            vec![
                Piece::Text("é".into()),
                Piece::Group(1),
                Piece::Text("é".into())
            ]
        );
    }
}
