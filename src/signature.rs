//! Signed URLs: who may ask for an image.
//!
//! This module owns Serverless Image Handler v7's URL signature (lowercase hex
//! HMAC-SHA256 over the path, plus the other query parameters sorted as
//! `k=v&...`), the `expires` parameter it covers, several active keys for
//! rotation, and keys bound to a key prefix (tenants). It also verifies
//! thumbor's own path signature (base64url HMAC-SHA1 of the path after it).
//! Every comparison is constant-time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha1::Sha1;
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::request::Source;
pub use crate::request::target::SIGNATURE_PARAM;
use crate::request::target::Target;

/// The query parameter that carries the expiry time.
pub const EXPIRES_PARAM: &str = "expires";

/// A secret string that stays out of `Debug` output and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// One signing key.
#[derive(Clone, Deserialize)]
pub struct SigningKey {
    /// A name for the key, used by `image-handler sign --key-id`.
    pub id: String,
    secret: String,
    /// When set, URLs signed with this key may only read keys under this
    /// folder (matched on a `/` boundary: `users/alice` covers
    /// `users/alice/cat.jpg`, not `users/alice2/cat.jpg`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// When set, URLs signed with this key may only read this bucket. A key
    /// with a prefix and no bucket may only read the default bucket.
    #[serde(default)]
    pub bucket: Option<String>,
    /// When set (with `ORIGINS`), URLs signed with this key may only read
    /// originals that `MAPPINGS` routes to this origin (and its `prefix` is
    /// checked on the key as requested).
    #[serde(default)]
    pub origin: Option<String>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .field("prefix", &self.prefix)
            .field("bucket", &self.bucket)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A key with this id, secret and optional tenant prefix (in the default bucket).
    pub fn new(id: &str, secret: &str, prefix: Option<&str>) -> SigningKey {
        SigningKey {
            id: id.to_string(),
            secret: secret.to_string(),
            prefix: prefix.map(str::to_string),
            bucket: None,
            origin: None,
        }
    }

    /// The same key bound to one origin of `ORIGINS`.
    pub fn in_origin(mut self, origin: &str) -> SigningKey {
        self.origin = Some(origin.to_string());
        self
    }

    /// The same key bound to one bucket.
    pub fn in_bucket(mut self, bucket: &str) -> SigningKey {
        self.bucket = Some(bucket.to_string());
        self
    }

    /// Signs a raw path and query string (the `signature` parameter, if
    /// any, is left out) over their canonical form ([`Target`]).
    pub fn sign(&self, path: &str, query: Option<&str>) -> Result<String> {
        Ok(self.sign_target(&Target::parse(path, query)?))
    }

    /// Signs a canonical target: lowercase hex HMAC-SHA256 of [`Target::string_to_sign`].
    pub fn sign_target(&self, target: &Target) -> String {
        hex::encode(hmac_sha256(
            self.secret.as_bytes(),
            target.string_to_sign().as_bytes(),
        ))
    }
}

/// The keys that are active at once (several during a rotation).
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<SigningKey>,
}

/// What a valid signature grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    /// The signing key's tenant prefix, if it has one.
    pub prefix: Option<String>,
    /// The signing key's bucket, if it is bound to one.
    pub bucket: Option<String>,
    /// The signing key's origin, if it is bound to one.
    pub origin: Option<String>,
    /// When the URL stops being valid.
    pub expires: Option<SystemTime>,
}

impl Grant {
    /// Checks that `source` lies in the grant's bucket and under its prefix.
    /// `default_bucket` is the bucket a source without one is read from.
    pub fn allows(&self, source: &Source, default_bucket: Option<&str>) -> Result<()> {
        let outside = || Error::OutsidePrefix {
            key: source.key.clone(),
            prefix: match (&self.bucket, &self.prefix) {
                (Some(b), Some(p)) => format!("{b}/{p}"),
                (Some(b), None) => format!("{b}/"),
                (None, p) => p.clone().unwrap_or_default(),
            },
        };
        if self.bucket.is_none() && self.prefix.is_none() {
            return Ok(());
        }
        // A grant with a prefix and no bucket is bound to the default bucket.
        let granted = self.bucket.as_deref().or(default_bucket);
        let asked = source.bucket.as_deref().or(default_bucket);
        if granted != asked {
            return Err(outside());
        }
        match &self.prefix {
            Some(prefix) if !under(&source.key, prefix) => Err(outside()),
            _ => Ok(()),
        }
    }

    /// Checks that the origin chosen for `key` is the grant's, when it is
    /// bound to one (403 `KeyOutsidePrefix`, naming the origin).
    pub fn allows_origin(&self, key: &str, origin: &str) -> Result<()> {
        match &self.origin {
            Some(granted) if granted != origin => Err(Error::OutsidePrefix {
                key: key.to_string(),
                prefix: format!("origin {granted}"),
            }),
            _ => Ok(()),
        }
    }
}

/// Whether `key` lies in the folder `prefix`, on a `/` boundary.
fn under(key: &str, prefix: &str) -> bool {
    let folder = prefix.trim_end_matches('/');
    folder.is_empty()
        || key
            .strip_prefix(folder)
            .is_some_and(|rest| rest.starts_with('/'))
}

impl Keyring {
    /// A keyring of the given keys.
    pub fn new(keys: Vec<SigningKey>) -> Result<Keyring, String> {
        if keys.is_empty() {
            return Err("no signing keys".into());
        }
        for k in &keys {
            if k.secret.is_empty() {
                return Err(format!("signing key {:?} has an empty secret", k.id));
            }
            if keys.iter().filter(|o| o.id == k.id).count() > 1 {
                return Err(format!("signing key id {:?} is used twice", k.id));
            }
            if k.bucket.as_deref() == Some("") {
                return Err(format!("signing key {:?} has an empty bucket", k.id));
            }
        }
        Ok(Keyring { keys })
    }

    /// Reads `[{"id","secret","prefix"?,"bucket"?}, ...]` or `{"<id>": "<secret>", ...}`.
    pub fn from_json(text: &str) -> Result<Keyring, String> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            List(Vec<SigningKey>),
            Map(std::collections::BTreeMap<String, String>),
        }
        let form: Form = serde_json::from_str(text).map_err(|_| {
            "is not a JSON list of {\"id\",\"secret\",\"prefix\",\"bucket\"} objects or an object of id to secret".to_string()
        })?;
        Keyring::new(match form {
            Form::List(keys) => keys,
            Form::Map(map) => map
                .into_iter()
                .map(|(id, secret)| SigningKey::new(&id, &secret, None))
                .collect(),
        })
    }

    /// The key with this id.
    pub fn get(&self, id: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    /// Every active key.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The first key (the one `sign` uses by default).
    pub fn first(&self) -> Option<&SigningKey> {
        self.keys.first()
    }

    /// Verifies a request's `signature` (and `expires`) against every active
    /// key, over the request's canonical form: the same [`Target`] the
    /// request is parsed from, so a URL verifies only if it parses to the
    /// request that was signed.
    pub fn verify(&self, target: &Target, now: SystemTime) -> Result<Grant> {
        let signature = target
            .param(SIGNATURE_PARAM)
            .ok_or(Error::SignatureMissing)?;
        let Some(given) = hex::decode(signature.trim()).ok().filter(|b| b.len() == 32) else {
            return Err(Error::SignatureMismatch);
        };
        let message = target.string_to_sign();
        let key = self
            .keys
            .iter()
            .find(|k| hmac_sha256_verify(k.secret.as_bytes(), message.as_bytes(), &given))
            .ok_or(Error::SignatureMismatch)?;
        Ok(Grant {
            prefix: key.prefix.clone(),
            bucket: key.bucket.clone(),
            origin: key.origin.clone(),
            expires: check_expires(target, now)?,
        })
    }
}

/// Checks a request's `expires` (last value), signed or not, as SIH v7
/// does: 400 `ImageRequestExpiryFormat` when it is not `YYYYMMDDTHHmmssZ`,
/// 400 `ImageRequestExpired` when it is past; the time when it is valid.
pub fn check_expires(target: &Target, now: SystemTime) -> Result<Option<SystemTime>> {
    match target.param(EXPIRES_PARAM) {
        None => Ok(None),
        Some(v) => {
            let at = parse_expires(v)?;
            if at <= now {
                return Err(Error::Expired);
            }
            Ok(Some(at))
        }
    }
}

/// Signs a URL or path for `image-handler sign`: drops any old `signature`
/// (and `expires`, when a new one is given), appends `expires` and then
/// `signature`, and leaves the other parameters as they were written.
pub fn sign_url(
    keys: &Keyring,
    url: &str,
    key_id: Option<&str>,
    expires: Option<SystemTime>,
) -> Result<String, String> {
    let key = match key_id {
        Some(id) => keys
            .get(id)
            .ok_or_else(|| format!("no signing key with id {id:?}"))?,
        None => keys.first().ok_or("no signing keys")?,
    };
    // `scheme://host` only when what precedes `://` is a scheme: a path
    // such as `/a://b/c.jpg` is a path, signed whole.
    let scheme = |s: &str| {
        s.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    };
    let (base, rest) = match url.find("://").filter(|&i| scheme(&url[..i])) {
        Some(i) => match url[i + 3..].find('/') {
            Some(j) => url.split_at(i + 3 + j),
            None => (url, "/"),
        },
        None => ("", url),
    };
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if !path.starts_with('/') {
        return Err(format!("{url:?} is not a URL or a path starting with /"));
    }
    let drop = |segment: &&str| {
        let name = form_urlencoded::parse(segment.as_bytes())
            .next()
            .map(|(k, _)| k.into_owned());
        let name = name.unwrap_or_default();
        name == SIGNATURE_PARAM || (expires.is_some() && name == EXPIRES_PARAM)
    };
    let mut params: Vec<String> = query
        .split('&')
        .filter(|s| !s.is_empty())
        .filter(|s| !drop(s))
        .map(str::to_string)
        .collect();
    if let Some(at) = expires {
        params.push(format!("{EXPIRES_PARAM}={}", format_expires(at)));
    }
    let signed_query = params.join("&");
    let signature = key
        .sign(path, Some(&signed_query))
        .map_err(|e| format!("{url:?} cannot be signed: {e}"))?;
    params.push(format!("{SIGNATURE_PARAM}={signature}"));
    Ok(format!("{base}{path}?{}", params.join("&")))
}

/// Verifies thumbor's path signature: `hmac` is base64url(HMAC-SHA1(key, `signed`)),
/// where `signed` is the path after the signature segment.
pub fn verify_thumbor(security_key: &str, hmac: &str, signed: &str) -> Result<()> {
    use base64::Engine;
    let given = base64::engine::general_purpose::URL_SAFE
        .decode(hmac)
        .map_err(|_| Error::SignatureMismatch)?;
    let mut mac = Hmac::<Sha1>::new_from_slice(security_key.as_bytes())
        .map_err(|_| Error::SignatureMismatch)?;
    mac.update(signed.as_bytes());
    mac.verify_slice(&given)
        .map_err(|_| Error::SignatureMismatch)
}

/// Signs a path thumbor's way (for tests and tooling).
pub fn sign_thumbor(security_key: &str, signed: &str) -> String {
    use base64::Engine;
    // HMAC accepts keys of any length, so this never fails.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(security_key.as_bytes()) else {
        return String::new();
    };
    mac.update(signed.as_bytes());
    base64::engine::general_purpose::URL_SAFE.encode(mac.finalize().into_bytes())
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this never fails.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

fn hmac_sha256_verify(key: &[u8], message: &[u8], tag: &[u8]) -> bool {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(message);
            mac.verify_slice(tag).is_ok()
        }
        Err(_) => false,
    }
}

/// Parses `YYYYMMDDTHHmmssZ` (UTC), strictly.
pub fn parse_expires(value: &str) -> Result<SystemTime> {
    let bad = || Error::ExpiryFormat(value.to_string());
    let b = value.as_bytes();
    let shape = b.len() == 16
        && b.iter().enumerate().all(|(i, c)| match i {
            8 => *c == b'T',
            15 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return Err(bad());
    }
    // Every byte is now an ASCII digit, `T` or `Z`: read numbers from bytes,
    // never by slicing the text (a multi-byte character would panic).
    let digits = |range: std::ops::Range<usize>| -> Result<u64> {
        Ok(b.get(range)
            .ok_or_else(bad)?
            .iter()
            .fold(0u64, |n, c| n * 10 + u64::from(c - b'0')))
    };
    let (year, month, day) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (hour, minute, second) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    // Two digits fit a u8 and four an i32; the calendar (month lengths,
    // leap years) and the clock are `time`'s to check.
    let small = |n: u64| u8::try_from(n).map_err(|_| bad());
    let month = time::Month::try_from(small(month)?).map_err(|_| bad())?;
    let date = i32::try_from(year)
        .ok()
        .and_then(|year| time::Date::from_calendar_date(year, month, small(day).ok()?).ok())
        .ok_or_else(bad)?;
    let clock =
        time::Time::from_hms(small(hour)?, small(minute)?, small(second)?).map_err(|_| bad())?;
    // Before 1970 is refused: SIH reads no earlier time.
    let secs =
        u64::try_from(date.with_time(clock).assume_utc().unix_timestamp()).map_err(|_| bad())?;
    Ok(UNIX_EPOCH + Duration::from_secs(secs))
}

/// Formats a time as `YYYYMMDDTHHmmssZ` (UTC). A time outside 1970 to 9999
/// is clamped to that range, the years the format can write.
pub fn format_expires(at: SystemTime) -> String {
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let last = time::PrimitiveDateTime::MAX.assume_utc();
    let t = i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .map_or(last, |t| t.min(last));
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTOR_PATH: &str = "/eyJidWNrZXQiOiJ2YWxpZEJ1Y2tldCIsImtleSI6InZhbGlkS2V5IiwiZWRpdHMiOnsidG9Gb3JtYXQiOiJwbmcifX0=";
    const VECTOR_SIG: &str = "4d41311006641a56de7bca8abdbda91af254506107a2c7b338a13ca2fa95eac3";

    /// Verifies a raw path and query, as the handler does.
    fn check(r: &Keyring, path: &str, query: Option<&str>, now: SystemTime) -> Result<Grant> {
        r.verify(&Target::parse(path, query)?, now)
    }

    fn ring() -> Keyring {
        Keyring::new(vec![
            SigningKey::new("old", "secret", None),
            SigningKey::new("alice", "a-secret", Some("users/alice/")),
        ])
        .unwrap()
    }

    #[test]
    fn sih_reference_vector() {
        assert_eq!(
            SigningKey::new("k", "secret", None)
                .sign(VECTOR_PATH, None)
                .unwrap(),
            VECTOR_SIG
        );
        let q = format!("signature={VECTOR_SIG}");
        assert_eq!(
            check(&ring(), VECTOR_PATH, Some(&q), SystemTime::now()).unwrap(),
            Grant::default()
        );
    }

    #[test]
    fn refusals() {
        let now = SystemTime::now();
        let r = ring();
        assert!(matches!(
            check(&r, "/a.jpg", None, now),
            Err(Error::SignatureMissing)
        ));
        assert!(matches!(
            check(&r, "/a.jpg", Some("width=1"), now),
            Err(Error::SignatureMissing)
        ));
        assert!(matches!(
            check(&r, "/a.jpg", Some("signature=zz"), now),
            Err(Error::SignatureMismatch)
        ));
        let sig = SigningKey::new("k", "secret", None)
            .sign("/a.jpg", Some("width=100"))
            .unwrap();
        assert!(
            check(
                &r,
                "/a.jpg",
                Some(&format!("width=100&signature={sig}")),
                now
            )
            .is_ok()
        );
        // tampering with a parameter, the path, or adding one breaks it
        for (path, query) in [
            ("/a.jpg", "width=101"),
            ("/b.jpg", "width=100"),
            ("/a.jpg", "width=100&grayscale=1"),
        ] {
            let query = format!("{query}&signature={sig}");
            let checked = check(&r, path, Some(&query), now);
            assert!(
                matches!(checked, Err(Error::SignatureMismatch)),
                "{path}?{query}"
            );
        }
        // a key that is not in the ring
        let other = SigningKey::new("x", "other", None)
            .sign("/a.jpg", None)
            .unwrap();
        assert!(matches!(
            check(&r, "/a.jpg", Some(&format!("signature={other}")), now),
            Err(Error::SignatureMismatch)
        ));
    }

    #[test]
    fn rotation_and_tenants() {
        let now = SystemTime::now();
        let r = ring();
        let alice = r.get("alice").unwrap();
        let sig = alice.sign("/users/alice/cat.jpg", None).unwrap();
        let grant = check(
            &r,
            "/users/alice/cat.jpg",
            Some(&format!("signature={sig}")),
            now,
        )
        .unwrap();
        assert_eq!(grant.prefix.as_deref(), Some("users/alice/"));
        let src = |bucket: Option<&str>, key: &str| Source {
            bucket: bucket.map(str::to_string),
            key: key.to_string(),
        };
        let main = Some("main");
        assert!(
            grant
                .allows(&src(None, "users/alice/cat.jpg"), main)
                .is_ok()
        );
        assert!(
            grant
                .allows(&src(Some("main"), "users/alice/a/b.jpg"), main)
                .is_ok()
        );
        for (bucket, key) in [
            (None, "users/bob/cat.jpg"),
            (None, "users/alice"),
            (None, "users/alice2/cat.jpg"),
            (None, "users/alicecat.jpg"),
            (None, "Users/alice/cat.jpg"),
            // a prefix-bound key without a bucket reads the default bucket only
            (Some("other"), "users/alice/cat.jpg"),
        ] {
            assert!(
                matches!(
                    grant.allows(&src(bucket, key), main),
                    Err(Error::OutsidePrefix { .. })
                ),
                "{bucket:?} {key}"
            );
        }
        // the same prefix without its trailing slash still ends at a segment
        let bare = Grant {
            prefix: Some("users/alice".into()),
            ..Grant::default()
        };
        assert!(bare.allows(&src(None, "users/alice/x.jpg"), main).is_ok());
        assert!(bare.allows(&src(None, "users/alice2/x.jpg"), main).is_err());
        // a bucket-bound grant reads that bucket only, named or by default
        let bound = Grant {
            prefix: Some("t/".into()),
            bucket: Some("second".into()),
            ..Grant::default()
        };
        assert!(bound.allows(&src(Some("second"), "t/x.jpg"), main).is_ok());
        assert!(bound.allows(&src(None, "t/x.jpg"), Some("second")).is_ok());
        assert!(bound.allows(&src(None, "t/x.jpg"), main).is_err());
        assert!(bound.allows(&src(Some("main"), "t/x.jpg"), main).is_err());
        assert!(bound.allows(&src(Some("second"), "u/x.jpg"), main).is_err());
        assert!(
            Grant::default()
                .allows(&src(Some("any"), "anything"), main)
                .is_ok()
        );
    }

    #[test]
    fn decoded_paths_are_accepted() {
        let sig = SigningKey::new("k", "secret", None)
            .sign("/my photo.jpg", None)
            .unwrap();
        assert!(
            check(
                &ring(),
                "/my%20photo.jpg",
                Some(&format!("signature={sig}")),
                SystemTime::now()
            )
            .is_ok()
        );
    }

    #[test]
    fn expiry() {
        let key = SigningKey::new("k", "secret", None);
        let now = parse_expires("20261124T120000Z").unwrap();
        let q = |exp: &str| {
            let query = format!("expires={exp}");
            format!(
                "{query}&signature={}",
                key.sign("/a.jpg", Some(&query)).unwrap()
            )
        };
        let grant = check(&ring(), "/a.jpg", Some(&q("20261124T120100Z")), now).unwrap();
        assert_eq!(grant.expires, Some(now + Duration::from_secs(60)));
        assert!(matches!(
            check(&ring(), "/a.jpg", Some(&q("19700101T000000Z")), now),
            Err(Error::Expired)
        ));
        for bad in [
            "19700001T000000Z",
            "19700101S000000Z",
            "19700101T000000",
            "20260230T000000Z",
            "2026113T0000000Z",
        ] {
            assert!(
                matches!(
                    check(&ring(), "/a.jpg", Some(&q(bad)), now),
                    Err(Error::ExpiryFormat(_))
                ),
                "{bad}"
            );
        }
        // expires is covered by the signature
        let forged = q("20261124T120100Z").replace("120100", "235900");
        assert!(matches!(
            check(&ring(), "/a.jpg", Some(&forged), now),
            Err(Error::SignatureMismatch)
        ));
    }

    #[test]
    fn expires_with_multibyte_text_is_a_format_error() {
        // Each position replaced by a 1- to 4-byte character, keeping the
        // 16-byte length where the character fits: never a panic.
        let valid = "20261124T120000Z";
        for i in 0..valid.len() {
            for c in ["é", "€", "𝄞", "\0", "٣", "１"] {
                let head = valid.get(..i).unwrap_or("");
                for tail_from in [i + 1, i + c.len()] {
                    let tail = valid.get(tail_from.min(valid.len())..).unwrap_or("");
                    let value = format!("{head}{c}{tail}");
                    assert!(
                        matches!(parse_expires(&value), Err(Error::ExpiryFormat(_))),
                        "{value:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn expires_round_trip() {
        for s in [
            "19700101T000000Z",
            "20000229T235959Z",
            "20261124T190000Z",
            "21000301T010203Z",
        ] {
            assert_eq!(format_expires(parse_expires(s).unwrap()), s);
        }
    }

    #[test]
    fn the_calendar_day_by_day() {
        // Every day from 1970 to 2500 is 86 400 s after the one before, and
        // reads back as written; the days that do not exist are refused.
        let mut last = None;
        let mut at = UNIX_EPOCH;
        for _ in 0..193_000 {
            let text = format_expires(at);
            assert_eq!(parse_expires(&text).unwrap(), at, "{text}");
            if let Some(last) = last {
                assert!(text > last, "{text}");
            }
            last = Some(text);
            at += Duration::from_secs(86_400);
        }
        for bad in [
            "20230229T000000Z",
            "21000229T000000Z",
            "20240431T000000Z",
            "20241301T000000Z",
            "20240100T000000Z",
            "20240101T240000Z",
            "20240101T006000Z",
            "20240101T000060Z",
            "19691231T235959Z",
            "00000101T000000Z",
        ] {
            assert!(parse_expires(bad).is_err(), "{bad}");
        }
        for good in ["20240229T000000Z", "20000229T235959Z", "99991231T235959Z"] {
            assert_eq!(format_expires(parse_expires(good).unwrap()), good);
        }
        // past the years the format can write: the last second it can
        let far = UNIX_EPOCH + Duration::from_secs(400_000_000_000);
        assert_eq!(format_expires(far), "99991231T235959Z");
    }

    #[test]
    fn keyring_forms() {
        let r = Keyring::from_json(
            r#"[{"id":"a","secret":"s1"},{"id":"t","secret":"s2","prefix":"users/t/"}]"#,
        )
        .unwrap();
        assert_eq!(r.get("t").unwrap().prefix.as_deref(), Some("users/t/"));
        let r = Keyring::from_json(
            r#"[{"id":"b","secret":"s","prefix":"users/t/","bucket":"second"}]"#,
        )
        .unwrap();
        assert_eq!(r.get("b").unwrap().bucket.as_deref(), Some("second"));
        let r = Keyring::from_json(r#"{"main":"s1","next":"s2"}"#).unwrap();
        assert!(r.get("next").is_some());
        for bad in [
            "",
            "[]",
            "{}",
            "[{\"id\":\"a\"}]",
            r#"[{"id":"a","secret":""}]"#,
            r#"[{"id":"a","secret":"x"},{"id":"a","secret":"y"}]"#,
            r#"[{"id":"a","secret":"x","bucket":""}]"#,
        ] {
            assert!(Keyring::from_json(bad).is_err(), "{bad}");
        }
        assert!(
            !format!("{:?}", r).contains("s1"),
            "secrets stay out of logs"
        );
    }

    #[test]
    fn signing_urls() {
        let keys = ring();
        let now = SystemTime::now();
        let url = sign_url(
            &keys,
            "https://d.example.net/photos/a%20b.jpg?width=300&signature=old",
            None,
            None,
        )
        .unwrap();
        assert!(
            url.starts_with("https://d.example.net/photos/a%20b.jpg?width=300&signature="),
            "{url}"
        );
        let (path, query) = url
            .trim_start_matches("https://d.example.net")
            .split_once('?')
            .unwrap();
        assert!(check(&keys, path, Some(query), now).is_ok());

        let at = now + Duration::from_secs(3600);
        let url = sign_url(&keys, "/users/alice/x.jpg", Some("alice"), Some(at)).unwrap();
        let (path, query) = url.split_once('?').unwrap();
        let grant = check(&keys, path, Some(query), now).unwrap();
        assert_eq!(grant.prefix.as_deref(), Some("users/alice/"));
        assert!(grant.expires.is_some());
        assert!(sign_url(&keys, "/x.jpg", Some("nobody"), None).is_err());
        assert!(sign_url(&keys, "x.jpg", None, None).is_err());
        // a path holding `://` is a path (found by the signature fuzz target)
        let odd = sign_url(&keys, "/A/%CtB%A://x./a.j/pg", None, None).unwrap();
        let (path, query) = odd.split_once('?').unwrap();
        assert_eq!(path, "/A/%CtB%A://x./a.j/pg");
        assert!(check(&keys, path, Some(query), now).is_ok());
        let base_only = sign_url(&keys, "http://h", None, None).unwrap();
        assert!(base_only.starts_with("http://h/?signature="), "{base_only}");
    }

    #[test]
    fn thumbor_signatures() {
        // libthumbor's vector (peer-image-servers.md, section 3)
        let signed =
            "500x500/top/raw.githubusercontent.com/cshum/imagor/master/testdata/gopher.png";
        let hmac = sign_thumbor("mysecret", signed);
        assert_eq!(hmac, "cST4Ko5_FqwT3BDn-Wf4gO3RFSk=");
        assert!(verify_thumbor("mysecret", &hmac, signed).is_ok());
        assert!(verify_thumbor("mysecret", &hmac, "500x501/top/x.png").is_err());
        assert!(verify_thumbor("other", &hmac, signed).is_err());
        assert!(verify_thumbor("mysecret", "not-base64!", signed).is_err());
    }
}
