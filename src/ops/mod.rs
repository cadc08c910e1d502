//! Operations tooling around the image service: CDN cache invalidation and the
//! URLs web pages embed.
//!
//! This module owns what an operator or a web developer runs next to the
//! service, never the request path itself:
//!
//! - [`invalidate`]: CloudFront invalidation paths (escaping, wildcards,
//!   batching within CloudFront's limits) and creating, retrying and waiting
//!   for invalidations with `aws-sdk-cloudfront`; the distribution id from a
//!   CloudFormation stack's outputs.
//! - [`events`]: S3 event notifications (direct, through SNS or SQS, or
//!   EventBridge) turned into `/<key>*` invalidations when the Lambda function
//!   is told to invalidate on change.
//! - [`warm`]: after an upload, requesting the original's preset variants
//!   through CloudFront once its invalidation has completed (`WARM_PRESETS`).
//! - [`urls`]: `image-handler url` and `srcset` (query-style URLs, signed with
//!   the server's own signing code, and `<img>`/`<picture>` markup).
//! - [`styles`]: the same request as a thumbor path and a base64 default
//!   request, checked against the server's parsers (the playground shows them).
//!
//! Their terminal side (arguments, output, exit codes) is the CLI adapter,
//! [`crate::cli`]; nothing here reads the service's configuration.
//!
//! The one spelling of a key in a URL path, [`key_path`], is shared by all of
//! them, so the paths an invalidation names are exactly the paths that the
//! generated URLs use.

pub mod events;
pub mod invalidate;
pub mod styles;
pub mod urls;
pub mod warm;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Why an operations command could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The input (a key, a path, an option) is not acceptable.
    #[error("{0}")]
    Input(String),
    /// The configuration (environment, CloudFormation stack) does not give what is needed.
    #[error("{0}")]
    Config(String),
    /// An AWS API call failed.
    #[error("{operation}: {detail}")]
    Aws {
        /// The API operation, e.g. `CreateInvalidation`.
        operation: &'static str,
        /// The service's error code and message, or the transport failure.
        detail: String,
    },
}

/// How a command ended, and the process exit code that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Everything was done (exit code 0).
    Success,
    /// Some of it was done and some failed (exit code 2).
    Partial,
    /// Nothing was done (exit code 1).
    Failed,
}

impl Outcome {
    /// The process exit code: 0 success, 1 error, 2 partial failure.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Failed => 1,
            Outcome::Partial => 2,
        }
    }
}

/// Characters kept as they are in a key's URL path: letters, digits, `/` and
/// the path characters that no URL writer escapes (`- . _ ! $ & ' ( ) + , ; = : @`).
/// Everything else is percent-encoded as UTF-8 with upper-case hex: spaces,
/// non-ASCII, `%`, `?`, `#`, the characters RFC 1738 calls unsafe (`" < > \ ^
/// ` { | } ~ [ ]`, which CloudFront wants encoded in invalidation paths), and
/// `*`, which in an invalidation path would otherwise be a wildcard.
const KEY_PATH_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'!')
    .remove(b'$')
    .remove(b'&')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'+')
    .remove(b',')
    .remove(b';')
    .remove(b'=')
    .remove(b':')
    .remove(b'@');

/// Checks that `key` can be named by a URL: not empty, no NUL, no control
/// characters, and no `.` or `..` segment (browsers and CDNs resolve those
/// away, so no URL reaches such a key).
pub fn check_key(key: &str) -> Result<(), OpsError> {
    let bad = |why: &str| Err(OpsError::Input(format!("key {key:?} {why}")));
    if key.is_empty() {
        return bad("is empty");
    }
    if key.chars().any(|c| c.is_control()) {
        return bad("contains a control character");
    }
    if key.split('/').any(|s| s == "." || s == "..") {
        return bad("has a '.' or '..' segment, which no URL can address");
    }
    Ok(())
}

/// The URL path of an object key in the recommended (query) style: `/` and
/// the key, percent-encoded as described at [`KEY_PATH_ENCODE`]. The server
/// decodes it back to the same key.
pub fn key_path(key: &str) -> Result<String, OpsError> {
    check_key(key)?;
    Ok(format!("/{}", encode_key(key)))
}

/// Percent-encodes a key (or a key prefix) without the leading `/`.
pub(crate) fn encode_key(key: &str) -> String {
    utf8_percent_encode(key, KEY_PATH_ENCODE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::decode_key;

    #[test]
    fn key_paths_round_trip_through_the_server_decoder() {
        for (key, path) in [
            ("photos/cat.jpg", "/photos/cat.jpg"),
            ("dir/café au lait.jpg", "/dir/caf%C3%A9%20au%20lait.jpg"),
            ("a*b.jpg", "/a%2Ab.jpg"),
            ("runtime~main.png", "/runtime%7Emain.png"),
            ("q?x#y%z.png", "/q%3Fx%23y%25z.png"),
            ("a+b,c(1)=d@e:f;g!$&'.jpg", "/a+b,c(1)=d@e:f;g!$&'.jpg"),
            (
                "[x]{y}|z^`\\\"<>.jpg",
                "/%5Bx%5D%7By%7D%7Cz%5E%60%5C%22%3C%3E.jpg",
            ),
            ("猫/1.png", "/%E7%8C%AB/1.png"),
            ("/leading.jpg", "//leading.jpg"),
        ] {
            assert_eq!(key_path(key).unwrap(), path, "{key}");
            assert_eq!(decode_key(path).unwrap(), key, "{path}");
        }
    }

    #[test]
    fn keys_no_url_can_reach_are_refused() {
        for key in ["", "a/../b.jpg", "./a.jpg", "a/.", "a\nb.jpg", "a\0b"] {
            assert!(key_path(key).is_err(), "{key:?}");
        }
        assert!(key_path("..a/b..c.jpg").is_ok());
    }

    #[test]
    fn exit_codes() {
        assert_eq!(Outcome::Success.exit_code(), 0);
        assert_eq!(Outcome::Failed.exit_code(), 1);
        assert_eq!(Outcome::Partial.exit_code(), 2);
    }
}
