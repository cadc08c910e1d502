//! `Router::pick`: what each mapping asks of which origin, and the requests it refuses.

use super::*;
use crate::origin::EmbeddedOrigin;
use crate::origin::mapping::Routes;

/// A router over `ORIGINS` / `MAPPINGS`, each origin the embedded samples
/// (`pick` never fetches, so the kind of origin does not matter).
fn router(origins: &str, mappings: Option<&str>) -> Router {
    let routes = Routes::parse(origins, mappings).unwrap();
    Router {
        origins: routes
            .origins
            .entries
            .iter()
            .map(|(name, spec)| Named {
                name: name.clone(),
                origin: Arc::new(EmbeddedOrigin),
                s3: match spec {
                    OriginSpec::S3(s3) => Some((s3.bucket.clone(), s3.prefix.clone())),
                    _ => None,
                },
            })
            .collect(),
        mappings: Some(routes.mappings),
    }
}

fn source(bucket: Option<&str>, key: &str) -> Source {
    Source {
        bucket: bucket.map(str::to_string),
        key: key.to_string(),
    }
}

const ORIGINS: &str = r#"{"photos": {"s3": "pics", "prefix": "public/"},
    "legacy": {"http": "https://img.example.com/assets/"},
    "local": {"dir": "/srv"}}"#;
const MAPPINGS: &str = r#"[{"path": "/legacy/", "origin": "legacy", "strip_prefix": true},
    {"host": "cdn.example.com", "origin": "photos"},
    {"path": "/", "origin": "local"}]"#;

/// (host, bucket, key) → Ok((origin, bucket, key asked)) or Err(code).
type Case<'a> = (
    Option<&'a str>,
    Option<&'a str>,
    &'a str,
    Result<(&'a str, Option<&'a str>, &'a str), &'a str>,
);

#[test]
fn each_mapping_asks_its_origin_for_the_right_key() {
    let r = router(ORIGINS, Some(MAPPINGS));
    let cases: &[Case] = &[
        (None, None, "legacy/a.jpg", Ok(("legacy", None, "a.jpg"))),
        (
            None,
            None,
            "legacy/x/y.jpg",
            Ok(("legacy", None, "x/y.jpg")),
        ),
        // The stripped prefix alone leaves no key.
        (None, None, "legacy", Err("NoSuchKey")),
        (
            None,
            None,
            "legacyx.jpg",
            Ok(("local", None, "legacyx.jpg")),
        ),
        (None, None, "a.jpg", Ok(("local", None, "a.jpg"))),
        // A host rule beats the longer host-less prefix; the S3 prefix goes first.
        (
            Some("cdn.example.com"),
            None,
            "legacy/a.jpg",
            Ok(("photos", Some("pics"), "public/legacy/a.jpg")),
        ),
        (
            Some("CDN.Example.com:443"),
            None,
            "a.jpg",
            Ok(("photos", Some("pics"), "public/a.jpg")),
        ),
        (
            Some("other.example.com"),
            None,
            "a.jpg",
            Ok(("local", None, "a.jpg")),
        ),
        // A named bucket is served only by that bucket's origin.
        (
            Some("cdn.example.com"),
            Some("pics"),
            "a.jpg",
            Ok(("photos", Some("pics"), "public/a.jpg")),
        ),
        (
            Some("cdn.example.com"),
            Some("other"),
            "a.jpg",
            Err("ImageBucket::CannotAccessBucket"),
        ),
        (
            None,
            Some("pics"),
            "a.jpg",
            Err("ImageBucket::CannotAccessBucket"),
        ),
        // Paths the mappings could read otherwise than an origin would.
        (None, None, "legacy/../a.jpg", Err("InvalidKey")),
        (None, None, "legacy//a.jpg", Err("InvalidKey")),
        (None, None, "legacy/./a.jpg", Err("InvalidKey")),
        (None, None, "a\u{7f}.jpg", Err("InvalidKey")),
    ];
    for (host, bucket, key, want) in cases {
        let got = r
            .pick(*host, &source(*bucket, key))
            .map(|p| (p.name, p.source.bucket.clone(), p.source.key.clone()))
            .map_err(|e| e.code());
        let want = want.map(|(n, b, k)| (n, b.map(str::to_string), k.to_string()));
        assert_eq!(got, want, "{host:?} {bucket:?} {key:?}");
    }
}

#[test]
fn no_matching_mapping_is_404_and_one_origin_needs_no_mappings() {
    let r = router(
        ORIGINS,
        Some(r#"[{"path": "/legacy/", "origin": "legacy"}]"#),
    );
    let e = r.pick(None, &source(None, "a.jpg")).err().unwrap();
    assert_eq!((e.status().as_u16(), e.code()), (404, "NoSuchKey"));
    // Without strip_prefix the whole path is the key.
    let p = r.pick(None, &source(None, "legacy/a.jpg")).unwrap();
    assert_eq!(p.source.key, "legacy/a.jpg");

    let one = router(r#"{"only": {"s3": "b", "prefix": "p/"}}"#, None);
    let p = one
        .pick(Some("any.example"), &source(None, "x/a.jpg"))
        .unwrap();
    assert_eq!((p.name, p.source.key.as_str()), ("only", "p/x/a.jpg"));
}

#[test]
fn a_single_origin_gets_the_source_unchanged() {
    let r = Router::single(Arc::new(EmbeddedOrigin));
    for s in [source(None, "a.jpg"), source(Some("b"), "x/../y")] {
        let p = r.pick(Some("h"), &s).unwrap();
        assert_eq!((p.name, &p.source), (SINGLE, &s));
    }
    assert_eq!(
        r.describe(),
        vec![(SINGLE.to_string(), vec!["/".to_string()])]
    );
}

#[test]
fn describe_names_the_paths_that_reach_each_origin() {
    let r = router(ORIGINS, Some(MAPPINGS));
    assert_eq!(
        r.describe(),
        vec![
            ("photos".to_string(), vec!["cdn.example.com/".to_string()]),
            ("legacy".to_string(), vec!["/legacy".to_string()]),
            ("local".to_string(), vec!["/".to_string()]),
        ]
    );
}
