//! Signed URLs under attack, generated rather than listed (issue 15).
//!
//! The property: **a URL verifies only if it parses to exactly the request
//! that was signed.** Each seed URL, in every style (query, thumbor, SIH's
//! base64 JSON, `/info/`, thumbor's own HMAC, tenant keys), is signed, and
//! then mutated at every position: characters percent-encoded (upper and
//! lower case hex) and double-encoded, encoded delimiters (`/ ? # % & =`),
//! NUL, invalid UTF-8 and non-ASCII text inserted, characters deleted, query
//! pairs re-split, repeated, emptied, reordered and added. Every mutant is
//! run through [`Handler::authorised`], the same code that `handle` runs
//! before fetching: it must either fail with a 4xx, or authorise exactly the
//! seed's request, grant and mode. Some mutants must verify (re-spellings of
//! the same URL) and most must not, so the property is never vacuous.
//! The attack URLs of issue 15 are also sent over HTTP to a signed server.

mod common;

use std::sync::Arc;

use base64::Engine as _;
use common::*;
use image_handler::Config;
use image_handler::handler::{Authorised, Handler};
use image_handler::origin::FsOrigin;
use image_handler::signature::{Keyring, Secret, SigningKey, sign_thumbor, sign_url};

const THUMBOR_KEY: &str = "thumbor-key";

fn keys() -> Keyring {
    Keyring::new(vec![
        SigningKey::new("k", "secret", None),
        SigningKey::new("alice", "alice-secret", Some("users/alice/")),
        SigningKey::new("tenant", "tenant-secret", Some("t/")).in_bucket("second"),
    ])
    .unwrap()
}

fn config() -> Config {
    Config {
        signing: Some(keys()),
        source_buckets: vec!["main".into(), "second".into()],
        thumbor_key: Some(Secret(THUMBOR_KEY.into())),
        ..Config::default()
    }
}

fn handler(dir: &TempDir) -> Handler {
    let config = config();
    let origin = FsOrigin::new(&dir.path, config.max_source_bytes).unwrap();
    Handler::new(config, Arc::new(origin)).unwrap()
}

fn b64(json: &str) -> String {
    format!(
        "/{}",
        base64::engine::general_purpose::STANDARD.encode(json)
    )
}

/// Seed URLs (unsigned) and the key that signs each.
fn seeds() -> Vec<(String, &'static str)> {
    let later = "20991231T235959Z";
    let mut seeds: Vec<(String, &str)> = [
        "/dune.jpg?format=webp&width=300&expires=EXP",
        "/photos/my%20photo.jpg?width=10&height=20&fit=cover&grayscale=true",
        "/caf%C3%A9/%E2%82%AC%F0%9F%98%80.png?blur=2&quality=70",
        "/a+b%2Bc.jpg?background=ff0000&flip=1",
        "/dir/100%25.jpg?width=30&dpr=2",
        "/fit-in/300x300/cat.jpg",
        "/fit-in/300x300/cat.jpg?expires=EXP",
        "/300x200/smart/filters:quality(80):grayscale()/photos/dog.jpg?width=50",
        "/filters:watermark(main,logos%2Flogo%201.png,10,10,50)/k.jpg",
        "/s3:second/fit-in/10x10/other/k.jpg",
        "/info/photos/cat.jpg",
        "/photos/cat.jpg?info&expires=EXP",
    ]
    .iter()
    .map(|s| (s.replace("EXP", later), "k"))
    .collect();
    seeds.push((
        b64(r#"{"bucket":"main","key":"a b/ü.jpg","edits":{"resize":{"width":100}}}"#),
        "k",
    ));
    seeds.push((
        format!(
            "{}?expires={later}",
            b64(r#"{"key":"users/alice/x.jpg","edits":{"grayscale":true}}"#)
        ),
        "alice",
    ));
    seeds.push(("/users/alice/cat.jpg?width=40".into(), "alice"));
    seeds.push(("/fit-in/20x20/users/alice/a%20b.jpg".into(), "alice"));
    seeds.push(("/s3:second/t/cat.jpg?width=40".into(), "tenant"));
    seeds
}

/// Every mutant of a signed URL (path and query, as sent).
fn mutants(url: &str) -> Vec<String> {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let mut out = Vec::new();
    let with_query = |p: &str, q: &str| {
        if q.is_empty() {
            p.to_string()
        } else {
            format!("{p}?{q}")
        }
    };
    const INSERTS: &[&str] = &[
        "%2F",
        "%2f",
        "%3F",
        "%23",
        "%25",
        "%26",
        "%3D",
        "%00",
        "%0A",
        "%C3%A9",
        "%FF",
        "%C3",
        "%E2%82",
        "/",
        "//",
        "..",
        "%2E%2E",
        "+",
        "%20",
        "%252F",
        "%25252F",
        ":",
        "(",
        ")",
        ",",
        "é",
        "€",
        "😀",
        "%",
        "%%",
        "%G1",
        "s3:main/",
        "fit-in/",
        "10x10/",
        "filters:blur(3)/",
    ];
    let chars: Vec<(usize, char)> = path.char_indices().collect();
    for &(i, c) in &chars {
        let (head, tail) = (&path[..i], &path[i + c.len_utf8()..]);
        let mut utf8 = [0u8; 4];
        let encoded: String = c
            .encode_utf8(&mut utf8)
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect();
        for variant in [
            encoded.clone(),
            encoded.to_ascii_lowercase(),
            encoded.replace('%', "%25"),
            String::new(),
        ] {
            out.push(with_query(&format!("{head}{variant}{tail}"), query));
        }
        // an escape's hex digits in the other case
        if c == '%' {
            let swapped: String = tail
                .chars()
                .take(2)
                .map(|h| {
                    if h.is_ascii_uppercase() {
                        h.to_ascii_lowercase()
                    } else {
                        h.to_ascii_uppercase()
                    }
                })
                .collect();
            let rest = tail.get(2..).unwrap_or("");
            out.push(with_query(&format!("{head}%{swapped}{rest}"), query));
        }
    }
    for &(i, _) in chars.iter().chain([&(path.len(), ' ')]) {
        for insert in INSERTS {
            out.push(with_query(
                &format!("{}{insert}{}", &path[..i], &path[i..]),
                query,
            ));
        }
    }

    let pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    let join = |parts: &[String]| parts.join("&");
    let owned: Vec<String> = pairs.iter().map(|p| p.to_string()).collect();
    for i in 0..pairs.len() {
        // the delimiters around a pair, encoded, so two pairs become one
        if i + 1 < pairs.len() {
            for amp in ["%26", "%2526", "%2"] {
                let mut parts = owned.clone();
                let next = parts.remove(i + 1);
                parts[i] = format!("{}{amp}{next}", parts[i]);
                out.push(with_query(path, &join(&parts)));
            }
        }
        for eq in ["%3D", "%3d", "%253D", "=="] {
            let mut parts = owned.clone();
            parts[i] = parts[i].replacen('=', eq, 1);
            out.push(with_query(path, &join(&parts)));
        }
        // a pair repeated before and after, with another value
        let name = pairs[i].split('=').next().unwrap_or("");
        for extra in [
            format!("{name}=1"),
            format!("{name}="),
            name.to_string(),
            format!("{name}=%26width%3D1"),
            format!("{name}=é"),
        ] {
            let mut before = owned.clone();
            before.insert(i, extra.clone());
            out.push(with_query(path, &join(&before)));
            let mut after = owned.clone();
            after.insert(i + 1, extra);
            out.push(with_query(path, &join(&after)));
        }
        // dropped, reordered, name percent-encoded
        let mut dropped = owned.clone();
        dropped.remove(i);
        out.push(with_query(path, &join(&dropped)));
        let mut rotated = owned.clone();
        rotated.rotate_left(i);
        out.push(with_query(path, &join(&rotated)));
        let encoded_name: String = name.bytes().map(|b| format!("%{b:02x}")).collect();
        let mut renamed = owned.clone();
        renamed[i] = pairs[i].replacen(name, &encoded_name, 1);
        out.push(with_query(path, &join(&renamed)));
    }
    // Runs of pairs folded into one, in the URL's order and in the signed
    // (sorted) order: every delimiter but the last `=` encoded (the run is
    // one name), or every delimiter after the first `=` (the run is one
    // value). Joined again unencoded, each reads exactly as the signed run.
    let encode = |t: &str| t.replace('=', "%3D").replace('&', "%26");
    let mut sorted = owned.clone();
    sorted.sort();
    for order in [&owned, &sorted] {
        for i in 0..order.len() {
            for j in i + 1..order.len() {
                let run = order[i..=j].join("&");
                let mut folded = Vec::new();
                if let Some(eq) = run.rfind('=') {
                    folded.push(format!("{}{}", encode(&run[..eq]), &run[eq..]));
                }
                if let Some(eq) = run.find('=') {
                    folded.push(format!("{}{}", &run[..=eq], encode(&run[eq + 1..])));
                }
                for fold in folded {
                    let mut parts = order[..i].to_vec();
                    parts.push(fold);
                    parts.extend_from_slice(&order[j + 1..]);
                    out.push(with_query(path, &join(&parts)));
                }
            }
        }
    }
    for extra in [
        "width=5000",
        "expires=20200101T000000Z",
        "expires%3D20200101T000000Z",
        "format=png",
        "info",
        "preset=x",
        "&",
        "=",
        "=x",
        "signature=",
        "width%3D1",
        "%77idth=1",
        "width=1%26height%3D2",
        "é=1",
        "x=%FF",
    ] {
        out.push(with_query(path, &format!("{extra}&{query}")));
        out.push(with_query(path, &format!("{query}&{extra}")));
    }
    out
}

#[tokio::test]
async fn a_url_verifies_only_if_it_parses_to_the_signed_request() {
    let dir = TempDir::new("adversarial");
    let h = handler(&dir);
    let ring = keys();
    let mut seeds: Vec<String> = seeds()
        .into_iter()
        .map(|(url, key)| sign_url(&ring, &url, Some(key), None).unwrap())
        .collect();
    // thumbor's own signature covers the path after it, and no query
    let thumbor_path = "fit-in/40x40/filters:grayscale()/photos/cat.jpg";
    seeds.push(format!(
        "/{}/{thumbor_path}",
        sign_thumbor(THUMBOR_KEY, thumbor_path)
    ));

    let (mut verified, mut refused) = (0usize, 0usize);
    for seed in &seeds {
        let (path, query) = split(seed);
        let signed: Authorised = h
            .authorised(path, query)
            .await
            .unwrap_or_else(|e| panic!("the seed {seed} must verify: {e}"));
        for mutant in mutants(seed) {
            let (path, query) = split(&mutant);
            match h.authorised(path, query).await {
                Ok(got) => {
                    verified += 1;
                    assert_eq!(
                        got, signed,
                        "{mutant} verified but parses to another request than {seed}"
                    );
                }
                Err(e) => {
                    refused += 1;
                    assert!(
                        e.status().is_client_error(),
                        "{mutant}: {} {} ({e})",
                        e.status(),
                        e.code()
                    );
                }
            }
        }
    }
    // re-spellings of a URL (hex case, encoded letters, reordered pairs) verify;
    // changes of meaning do not
    assert!(verified > 500, "only {verified} mutants verified");
    assert!(refused > 5_000, "only {refused} mutants were refused");
}

fn split(url: &str) -> (&str, Option<&str>) {
    match url.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (url, None),
    }
}

/// The same URL spelled differently is the same request, and verifies.
#[tokio::test]
async fn re_spelled_urls_keep_verifying() {
    let dir = TempDir::new("respelled");
    let h = handler(&dir);
    let ring = keys();
    for (url, spelled) in [
        (
            "/photos/my%20photo.jpg?width=10&height=20",
            "/photos/my%20photo.jpg?height=20&width=10",
        ),
        (
            "/photos/my%20photo.jpg?width=10",
            "/%70hotos/my%20photo.jpg?w%69dth=10",
        ),
        ("/a%2Fb.jpg?width=10", "/a%2fb.jpg?width=1%30"),
        ("/caf%C3%A9.jpg", "/caf%c3%a9.jpg"),
        ("/x.jpg?background=a+b", "/x.jpg?background=a%20b"),
    ] {
        let signed = sign_url(&ring, url, None, None).unwrap();
        let signature = signed.rsplit_once("signature=").unwrap().1;
        let sep = if spelled.contains('?') { '&' } else { '?' };
        let respelled = format!("{spelled}{sep}signature={signature}");
        let (p, q) = split(&signed);
        let (rp, rq) = split(&respelled);
        let a = h.authorised(p, q).await;
        let b = h.authorised(rp, rq).await;
        match (a, b) {
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{respelled}"),
            // background=a b is no colour: the same 400 either way
            (Err(a), Err(b)) => assert_eq!(a.code(), b.code(), "{respelled}"),
            (a, b) => panic!("{url} and {respelled} differ: {a:?} / {b:?}"),
        }
    }
}

/// The attacks of issue 15 over HTTP, on a signed server: each is a 4xx.
#[tokio::test]
async fn the_reported_attacks_are_refused_over_http() {
    let dir = TempDir::new("attacks");
    standard_fixtures(&dir);
    std::fs::create_dir_all(dir.join("fit-in/300x300")).unwrap();
    std::fs::copy(dir.join("quad.png"), dir.join("fit-in/300x300/cat.jpg")).unwrap();
    std::fs::copy(dir.join("quad.png"), dir.join("dune.jpg")).unwrap();
    std::fs::copy(dir.join("quad.png"), dir.join("cat.jpg")).unwrap();
    let s = Server::fs(config(), &dir).await;
    let ring = keys();

    // 1. delimiter injection folds signed parameters away
    let expired = sign_url(
        &ring,
        "/dune.jpg?format=webp&width=300&expires=20200101T000000Z",
        None,
        None,
    )
    .unwrap();
    let signature = expired.rsplit_once("signature=").unwrap().1;
    for attack in [
        format!(
            "/dune.jpg?expires%3D20200101T000000Z%26format=webp&width=300&signature={signature}"
        ),
        format!(
            "/dune.jpg?expires=20200101T000000Z&format=webp%26width%3D300&signature={signature}"
        ),
    ] {
        let r = s.raw_get(&attack, &[]).await;
        assert_eq!(r.status, 400, "{attack}");
        assert_eq!(r.json()["code"], "MalformedUrl", "{attack}");
    }
    assert_eq!(s.get(&expired).await.json()["code"], "ImageRequestExpired");

    // 2. one signature, two requests: the decoded path reads another key
    let fit = sign_url(&ring, "/fit-in/300x300/cat.jpg", None, None).unwrap();
    assert_eq!(s.get(&fit).await.status, 200);
    let signature = fit.rsplit_once("signature=").unwrap().1;
    for attack in [
        format!("/fit-in%2F300x300%2Fcat.jpg?signature={signature}"),
        format!("/fit-in%2f300x300%2fcat.jpg?signature={signature}"),
        format!("/fit-in/300x300%2Fcat.jpg?signature={signature}"),
    ] {
        let r = s.raw_get(&attack, &[]).await;
        assert_eq!(r.status, 403, "{attack}");
        assert_eq!(r.json()["code"], "SignatureDoesNotMatch", "{attack}");
    }

    // 6. a tenant key reads its prefix in its bucket only, on a segment boundary
    for url in [
        "/users/alice2/cat.jpg",
        "/users/alicecat.jpg",
        "/s3:second/users/alice/cat.jpg",
    ] {
        let signed = sign_url(&ring, url, Some("alice"), None).unwrap();
        let r = s.get(&signed).await;
        assert_eq!(r.status, 403, "{url}");
        assert_eq!(r.json()["code"], "KeyOutsidePrefix", "{url}");
    }
    let json = b64(r#"{"bucket":"second","key":"users/alice/cat.jpg"}"#);
    let r = s
        .get(&sign_url(&ring, &json, Some("alice"), None).unwrap())
        .await;
    assert_eq!(r.json()["code"], "KeyOutsidePrefix");

    // the expiry parser never panics on multi-byte text
    for exp in ["2026é124T120000Z", "20261124T12000€", "😀😀😀😀"] {
        let url = sign_url(&ring, &format!("/cat.jpg?expires={exp}"), None, None).unwrap();
        let r = s.get(&url).await;
        assert_eq!(r.status, 400, "{exp}");
        assert_eq!(r.json()["code"], "ImageRequestExpiryFormat", "{exp}");
    }
}
