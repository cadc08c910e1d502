//! The `ORIGINS` / `MAPPINGS` contract: the issue's example, every
//! validation error naming its entry, and the choice's precedence in tables,
//! with hostile paths and hosts.

use super::*;

const ORIGINS: &str = r#"{"photos": {"s3": "my-bucket", "prefix": "public/", "endpoint": "https://minio.internal:9000", "region": "eu-west-1"},
          "legacy": {"http": "https://img.example.com/assets/", "headers": {"Authorization": "secret:my-secret#token"}},
          "local":  {"dir": "/srv/images"},
          "dev":    {"http": "http://127.0.0.1:9000/", "allow_private": true}}"#;
const MAPPINGS: &str = r#"[{"path": "/legacy/", "origin": "legacy", "strip_prefix": true},
           {"host": "cdn.example.com", "origin": "photos"},
           {"path": "/", "origin": "local"}]"#;

/// A request's host and path, and what it should map to.
type Case<'a, T> = (Option<&'a str>, &'a str, Option<T>);

fn example() -> (Origins, Mappings) {
    let origins = Origins::parse(ORIGINS).unwrap();
    let mappings = Mappings::parse(MAPPINGS, &origins).unwrap();
    (origins, mappings)
}

#[test]
fn the_issues_example_parses_as_written() {
    let (origins, mappings) = example();
    let names: Vec<&str> = origins.entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["photos", "legacy", "local", "dev"], "order kept");
    assert_eq!(
        origins.get("photos"),
        Some(&OriginSpec::S3(S3Spec {
            bucket: "my-bucket".into(),
            prefix: "public/".into(),
            endpoint: Some(Url::parse("https://minio.internal:9000").unwrap()),
            region: Some("eu-west-1".into()),
            credentials: None,
        }))
    );
    let Some(OriginSpec::Http(legacy)) = origins.get("legacy") else {
        panic!("legacy is http")
    };
    assert_eq!(legacy.base.as_str(), "https://img.example.com/assets/");
    assert_eq!(
        legacy.headers,
        vec![(
            HeaderName::from_static("authorization"),
            HeaderSource::Secret {
                id: "my-secret".into(),
                field: Some("token".into())
            }
        )]
    );
    assert!(!legacy.allow_private && !legacy.pass_cache_control);
    assert_eq!(legacy.timeouts, HttpTimeouts::default());
    assert_eq!(
        origins.get("local"),
        Some(&OriginSpec::Dir("/srv/images".into()))
    );
    let Some(OriginSpec::Http(dev)) = origins.get("dev") else {
        panic!("dev is http")
    };
    assert!(dev.allow_private);
    assert_eq!(mappings.rules.len(), 3);
    assert_eq!(mappings.rules[0].prefix, "/legacy");
    assert_eq!(mappings.rules[1].prefix, "");
    assert_eq!(mappings.rules[1].host.as_deref(), Some("cdn.example.com"));
    // the secret is resolved by the caller; settings carry it, marked sensitive
    let settings = legacy
        .settings(1000, |s| match s {
            HeaderSource::Secret { id, field } => {
                Ok(format!("{id}/{}", field.as_deref().unwrap_or("")))
            }
            HeaderSource::Literal(v) => Ok(v.clone()),
        })
        .unwrap();
    assert_eq!(settings.headers[0].1, "my-secret/token");
    assert!(settings.headers[0].1.is_sensitive());
    assert_eq!(settings.max_bytes, 1000);
}

#[test]
fn the_example_routes_each_rule() {
    let (_, m) = example();
    let cases: &[Case<(&str, &str)>] = &[
        (None, "/legacy/a.jpg", Some(("legacy", "a.jpg"))),
        (None, "/legacy/sub/b c.png", Some(("legacy", "sub/b c.png"))),
        (
            Some("other.example.com"),
            "/legacy/a.jpg",
            Some(("legacy", "a.jpg")),
        ),
        (None, "/legacyx.jpg", Some(("local", "legacyx.jpg"))),
        (None, "/legacy", Some(("legacy", ""))),
        (None, "/a.jpg", Some(("local", "a.jpg"))),
        // a host rule beats a longer host-less prefix
        (
            Some("cdn.example.com"),
            "/legacy/a.jpg",
            Some(("photos", "legacy/a.jpg")),
        ),
        (
            Some("CDN.Example.COM."),
            "/a.jpg",
            Some(("photos", "a.jpg")),
        ),
        (
            Some("cdn.example.com:443"),
            "/a.jpg",
            Some(("photos", "a.jpg")),
        ),
        (
            Some("evil-cdn.example.com"),
            "/a.jpg",
            Some(("local", "a.jpg")),
        ),
        (
            Some("cdn.example.com.evil.net"),
            "/a.jpg",
            Some(("local", "a.jpg")),
        ),
        (None, "a.jpg", None),
    ];
    for (host, path, want) in cases {
        let got = m.choose(*host, path).map(|r| (r.origin.to_string(), r.key));
        let want = want.map(|(o, k)| (o.to_string(), k.to_string()));
        assert_eq!(got, want, "{host:?} {path:?}");
    }
}

fn mappings(json: &str) -> Mappings {
    let origins = Origins::parse(
        r#"{"a": {"dir": "/a"}, "b": {"dir": "/b"}, "c": {"dir": "/c"}, "d": {"dir": "/d"}}"#,
    )
    .unwrap();
    Mappings::parse(json, &origins).unwrap()
}

#[test]
fn precedence_table() {
    let m = mappings(
        r#"[{"path": "/img", "origin": "a"},
            {"path": "/img/thumbs/", "origin": "b", "strip_prefix": true},
            {"host": "x.example", "path": "/img", "origin": "c"},
            {"host": "x.example:8080", "origin": "d"}]"#,
    );
    let cases: &[Case<(usize, &str)>] = &[
        (None, "/img/a.jpg", Some((0, "img/a.jpg"))),
        (None, "/img/thumbs/a.jpg", Some((1, "a.jpg"))),
        (None, "/img/thumbsx/a.jpg", Some((0, "img/thumbsx/a.jpg"))),
        (None, "/img/thumbs", Some((1, ""))),
        (None, "/images/a.jpg", None),
        (None, "/", None),
        (
            Some("x.example"),
            "/img/thumbs/a.jpg",
            Some((2, "img/thumbs/a.jpg")),
        ),
        (Some("x.example"), "/other.jpg", None),
        (Some("x.example:8080"), "/other.jpg", Some((3, "other.jpg"))),
        // longest prefix among the host's rules: /img (rule 2) beats / (rule 3)
        (Some("x.example:8080"), "/img/a.jpg", Some((2, "img/a.jpg"))),
        (Some("x.example:9090"), "/other.jpg", None),
        (Some("y.example"), "/img/a.jpg", Some((0, "img/a.jpg"))),
        (Some("bad host"), "/img/a.jpg", Some((0, "img/a.jpg"))),
        (Some("ｘ.example"), "/img/a.jpg", Some((0, "img/a.jpg"))),
    ];
    for (host, path, want) in cases {
        let got = m.choose(*host, path).map(|r| (r.index, r.key));
        let want = want.map(|(i, k)| (i, k.to_string()));
        assert_eq!(got, want, "{host:?} {path:?}");
    }
    // order does not matter, only host and length: the reversed list chooses the same
    let reversed = mappings(
        r#"[{"host": "x.example:8080", "origin": "d"},
            {"host": "x.example", "path": "/img", "origin": "c"},
            {"path": "/img/thumbs/", "origin": "b", "strip_prefix": true},
            {"path": "/img", "origin": "a"}]"#,
    );
    for (host, path, _) in cases {
        assert_eq!(
            m.choose(*host, path).map(|r| r.origin.to_string()),
            reversed.choose(*host, path).map(|r| r.origin.to_string()),
            "{host:?} {path:?}"
        );
    }
}

#[test]
fn hostile_paths_match_literally_and_route_refuses_traversal() {
    let m = mappings(
        r#"[{"path": "/public/", "origin": "a", "strip_prefix": true},
            {"path": "/猫/", "origin": "b"}]"#,
    );
    // decoded paths: an encoded delimiter that arrives literally is no delimiter
    for (path, want) in [
        ("/public%2Fx.jpg", None),
        ("/public%2fx.jpg", None),
        (
            "/public/%2e%2e/private/x.jpg",
            Some(("a", "%2e%2e/private/x.jpg")),
        ),
        ("/public\\x.jpg", None),
        ("/publicx/a.jpg", None),
        ("/PUBLIC/a.jpg", None),
        ("/猫/a.jpg", Some(("b", "猫/a.jpg"))),
        ("/猫a.jpg", None),
        ("/public/", Some(("a", ""))),
        ("//public/a.jpg", None),
    ] {
        let got = m.choose(None, path).map(|r| (r.origin.to_string(), r.key));
        let want = want.map(|(o, k): (&str, &str)| (o.to_string(), k.to_string()));
        assert_eq!(got, want, "{path:?}");
    }
    for bad in [
        "/public/../private/x.jpg",
        "/public/./x.jpg",
        "/public/..",
        "/../public/x.jpg",
        "/public//x.jpg",
        "/public/a\nb.jpg",
        "/public/a\0b.jpg",
    ] {
        assert!(
            matches!(m.route(None, bad), Err(Error::InvalidKey { .. })),
            "{bad:?}"
        );
    }
    assert!(matches!(
        m.route(None, "/elsewhere/a.jpg"),
        Err(Error::NotFound { .. })
    ));
    assert_eq!(m.route(None, "/public/a.jpg").unwrap().key, "a.jpg");
}

/// Generated paths from dangerous pieces: the chosen rule's prefix always
/// covers the path on a `/` boundary, the stripped key is the rest, and no
/// shorter or host-less rule wins over a matching longer or host one.
#[test]
fn generated_paths_choose_the_longest_covering_prefix() {
    let m = mappings(
        r#"[{"path": "/a", "origin": "a", "strip_prefix": true},
            {"path": "/a/b", "origin": "b"},
            {"path": "/a/b/c", "origin": "c", "strip_prefix": true},
            {"host": "h.example", "path": "/a", "origin": "d"}]"#,
    );
    const PIECES: &[&str] = &[
        "/", "a", "b", "c", "..", ".", "%2f", "é", "ab", "\\", "?", "#", "%", " ",
    ];
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let n = 1 + next() % 8;
        let mut path = String::from("/");
        for _ in 0..n {
            path.push_str(PIECES[(next() % PIECES.len() as u64) as usize]);
        }
        let host = if next() % 2 == 0 {
            Some("h.example")
        } else {
            None
        };
        let covering: Vec<&Mapping> = m
            .rules
            .iter()
            .filter(|r| r.host.is_none() || r.host.as_deref() == host)
            .filter(|r| path == r.prefix || path.starts_with(&format!("{}/", r.prefix)))
            .collect();
        match m.choose(host, &path) {
            None => assert!(covering.is_empty(), "{path:?}"),
            Some(route) => {
                let rule = &m.rules[route.index];
                assert!(covering.contains(&rule), "{path:?}");
                for other in &covering {
                    assert!(
                        (rule.host.is_some(), rule.prefix.len())
                            >= (other.host.is_some(), other.prefix.len()),
                        "{path:?}: {rule:?} over {other:?}"
                    );
                }
                let expect = if rule.strip_prefix {
                    path.strip_prefix(&rule.prefix).unwrap()
                } else {
                    &path
                };
                assert_eq!(route.key, expect.trim_start_matches('/'), "{path:?}");
            }
        }
    }
}

fn origin_err(json: &str) -> MappingError {
    Origins::parse(json).expect_err(json)
}

#[test]
fn origin_errors_name_the_entry() {
    // most cases are about the one origin "x"
    let about_x: &[(&str, &str)] = &[
        (r#"{"x": {"s3": ""}}"#, "bucket"),
        (r#"{"x": {"s3": "a/b"}}"#, "bucket"),
        (r#"{"x": {"s3": "b", "prefix": "/p"}}"#, "prefix"),
        (r#"{"x": {"s3": "b", "prefix": "a/../b"}}"#, "prefix"),
        (r#"{"x": {"s3": "b", "endpoint": "ftp://h/"}}"#, "endpoint"),
        (r#"{"x": {"s3": "b", "endpoint": "not a url"}}"#, "endpoint"),
        (r#"{"x": {"s3": "b", "region": "eu west"}}"#, "region"),
        (r#"{"x": {"s3": "b", "headers": {}}}"#, "headers"),
        (r#"{"x": {"http": "ftp://h/"}}"#, "http or https"),
        (r#"{"x": {"http": "file:///etc/"}}"#, "http or https"),
        (r#"{"x": {"http": "img.example.com"}}"#, "not a URL"),
        (r#"{"x": {"http": "https://u:p@h/"}}"#, "credentials"),
        (r#"{"x": {"http": "https://h/?a=1"}}"#, "query"),
        (r#"{"x": {"http": "https://h/", "prefix": "p/"}}"#, "prefix"),
        (
            r#"{"x": {"http": "https://h/", "headers": {"Bad Name": "v"}}}"#,
            "header name",
        ),
        (
            r#"{"x": {"http": "https://h/", "headers": {"Host": "v"}}}"#,
            "set by the origin",
        ),
        (
            r#"{"x": {"http": "https://h/", "headers": {"A": "line\nbreak"}}}"#,
            "valid header value",
        ),
        (
            r#"{"x": {"http": "https://h/", "headers": {"A": 1}}}"#,
            "string",
        ),
        (
            r#"{"x": {"http": "https://h/", "headers": {"A": "secret:"}}}"#,
            "secret",
        ),
        (
            r#"{"x": {"http": "https://h/", "headers": {"A": "secret:id#"}}}"#,
            "secret",
        ),
        (
            r#"{"x": {"http": "https://h/", "cache_control": "keep"}}"#,
            "cache_control",
        ),
        (r#"{"x": {"http": "https://h/", "timeout": 0}}"#, "timeout"),
        (
            r#"{"x": {"http": "https://h/", "timeout": 2, "connect_timeout": 3}}"#,
            "exceed",
        ),
        (
            r#"{"x": {"http": "https://h/", "max_attempts": 0}}"#,
            "max_attempts",
        ),
        (
            r#"{"x": {"http": "https://h/", "max_bytes": 0}}"#,
            "max_bytes",
        ),
        (
            r#"{"x": {"http": "https://h/", "allow_private": "yes"}}"#,
            "valid origin",
        ),
        (r#"{"x": {"http": "https://h/", "unknown": 1}}"#, "unknown"),
        (r#"{"x": {"dir": ""}}"#, "directory"),
        (r#"{"x": {"dir": "/d", "region": "r"}}"#, "region"),
        (r#"{"x": {"s3": "b", "http": "https://h/"}}"#, "exactly one"),
        (r#"{"x": {}}"#, "exactly one"),
        (r#"{"x": "https://h/"}"#, "valid origin"),
    ];
    let others: &[(&str, &str, &str)] = &[
        (
            r#"{"bad name": {"dir": "/d"}}"#,
            r#"ORIGINS "bad name""#,
            "name",
        ),
        (
            r#"{"x": {"dir": "/d"}, "x": {"dir": "/e"}}"#,
            "ORIGINS",
            "twice",
        ),
        (r#"{}"#, "ORIGINS", "no origin"),
        (r#"[]"#, "ORIGINS", "JSON object"),
    ];
    let about_x = about_x
        .iter()
        .map(|&(json, problem)| (json, r#"ORIGINS "x""#, problem));
    for (json, entry, problem) in about_x.chain(others.iter().copied()) {
        let e = origin_err(json);
        assert_eq!(&e.entry, entry, "{json}: {e}");
        assert!(e.to_string().contains(problem), "{json}: {e}");
    }
    // a literal header value is never repeated in an error
    let e = origin_err(r#"{"x": {"http": "https://h/", "headers": {"A": "top-secret\u0001"}}}"#);
    assert!(!e.to_string().contains("top-secret"), "{e}");
}

#[test]
fn mapping_errors_name_the_entry() {
    let origins = Origins::parse(r#"{"a": {"dir": "/a"}}"#).unwrap();
    let cases: &[(&str, &str, &str)] = &[
        (r#"[{"origin": "nope"}]"#, "MAPPINGS[0]", "does not define"),
        (
            r#"[{"origin": "a"}, {"path": "/x", "origin": "b"}]"#,
            "MAPPINGS[1]",
            "does not define",
        ),
        (
            r#"[{"path": "x", "origin": "a"}]"#,
            "MAPPINGS[0]",
            "start with '/'",
        ),
        (
            r#"[{"path": "/a/../b", "origin": "a"}]"#,
            "MAPPINGS[0]",
            "segments",
        ),
        (
            r#"[{"path": "/a//b", "origin": "a"}]"#,
            "MAPPINGS[0]",
            "segments",
        ),
        (r#"[{"path": "/a?b", "origin": "a"}]"#, "MAPPINGS[0]", "'?'"),
        (
            r#"[{"host": "bad host", "origin": "a"}]"#,
            "MAPPINGS[0]",
            "host",
        ),
        (
            r#"[{"host": "ｘ.example", "origin": "a"}]"#,
            "MAPPINGS[0]",
            "host",
        ),
        (
            r#"[{"host": "h:99999", "origin": "a"}]"#,
            "MAPPINGS[0]",
            "host",
        ),
        (r#"[{"host": "", "origin": "a"}]"#, "MAPPINGS[0]", "host"),
        (
            r#"[{"path": "/x/", "origin": "a"}, {"path": "/x", "origin": "a"}]"#,
            "MAPPINGS[1]",
            "MAPPINGS[0]",
        ),
        (
            r#"[{"origin": "a"}, {"path": "/", "origin": "a"}]"#,
            "MAPPINGS[1]",
            "MAPPINGS[0]",
        ),
        (
            r#"[{"origin": "a", "strip": true}]"#,
            "MAPPINGS[0]",
            "unknown",
        ),
        (r#"[{"path": "/x"}]"#, "MAPPINGS[0]", "origin"),
        (r#"{"origin": "a"}"#, "MAPPINGS", "JSON array"),
    ];
    for (json, entry, problem) in cases {
        let e = Mappings::parse(json, &origins).expect_err(json);
        assert_eq!(&e.entry, entry, "{json}: {e}");
        assert!(e.to_string().contains(problem), "{json}: {e}");
    }
    // the same path for two hosts is fine; hosts are compared normalised
    let m = Mappings::parse(
        r#"[{"host": "A.example.", "path": "/x", "origin": "a"}, {"host": "b.example", "path": "/x", "origin": "a"}]"#,
        &origins,
    )
    .unwrap();
    assert_eq!(m.rules[0].host.as_deref(), Some("a.example"));
    assert!(
        Mappings::parse(
            r#"[{"host": "a.example", "origin": "a"}, {"host": "A.EXAMPLE.", "origin": "a"}]"#,
            &origins
        )
        .is_err()
    );
}

#[test]
fn http_fields_and_their_limits() {
    let origins = Origins::parse(
        r#"{"h": {"http": "https://h.example/base", "cache_control": "pass", "max_bytes": 5000,
                  "connect_timeout": 1.5, "answer_timeout": 4, "timeout": 8, "max_attempts": 2,
                  "headers": {"X-Api-Key": "literal-value", "Authorization": "secret:arn:aws:secretsmanager:eu-west-1:1:secret:s"}}}"#,
    )
    .unwrap();
    let Some(OriginSpec::Http(h)) = origins.get("h") else {
        panic!()
    };
    assert_eq!(h.base.as_str(), "https://h.example/base/");
    assert!(h.pass_cache_control);
    assert_eq!(
        h.timeouts,
        HttpTimeouts {
            connect: Duration::from_millis(1500),
            answer: Duration::from_secs(4),
            total: Duration::from_secs(8),
            max_attempts: 2
        }
    );
    assert_eq!(
        h.headers[1].1,
        HeaderSource::Secret {
            id: "arn:aws:secretsmanager:eu-west-1:1:secret:s".into(),
            field: None
        }
    );
    // neither the spec's nor the settings' Debug shows a literal value
    assert!(!format!("{origins:?}").contains("literal-value"));
    let s = h
        .settings(10_000, |_| Ok("resolved-secret".into()))
        .unwrap();
    assert!(!format!("{s:?}").contains("literal-value"));
    assert!(!format!("{s:?}").contains("resolved-secret"));
    // a limit of its own never exceeds MAX_SOURCE_BYTES
    let s = h.settings(3000, |_| Ok("v".into())).unwrap();
    assert_eq!(s.max_bytes, 3000);
    let s = h.settings(10_000, |_| Ok("v".into())).unwrap();
    assert_eq!(s.max_bytes, 5000);
    assert_eq!(s.headers[0].1, "literal-value");
    // a resolved secret that is no header value is an error that does not repeat it
    let e = h.settings(10_000, |_| Ok("bad\nvalue".into())).unwrap_err();
    assert!(!e.contains("bad\nvalue"), "{e}");
}

#[test]
fn an_objects_request_keys_are_the_paths_that_map_back_to_it() {
    let routes = Routes::parse(
        r#"{"photos": {"s3": "pics", "prefix": "public/"},
            "raw": {"s3": "pics"},
            "other": {"s3": "elsewhere"},
            "site": {"http": "https://www.example.com/"}}"#,
        Some(
            r#"[{"path": "/photos/", "origin": "photos", "strip_prefix": true},
                {"path": "/raw", "origin": "raw"},
                {"host": "cdn.example.com", "origin": "photos"},
                {"path": "/raw/hidden", "origin": "site"},
                {"path": "/", "origin": "site"}]"#,
        ),
    )
    .unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        // Through /photos/ (stripped) and the host rule (not stripped).
        ("pics", "public/a.jpg", &["photos/a.jpg", "a.jpg"]),
        (
            "pics",
            "public/dir/é b.jpg",
            &["photos/dir/é b.jpg", "dir/é b.jpg"],
        ),
        // Without photos' prefix only the /raw rule can reach it, and only under /raw.
        ("pics", "raw/a.jpg", &["raw/a.jpg"]),
        // /raw/hidden is taken first by a longer prefix to another origin.
        ("pics", "raw/hidden/a.jpg", &[]),
        ("pics", "other/a.jpg", &[]),
        // The bare prefix is no object of the origin.
        ("pics", "public/", &[]),
        ("elsewhere", "public/a.jpg", &[]),
        ("nobody", "a.jpg", &[]),
    ];
    for (bucket, key, want) in cases {
        assert_eq!(routes.request_keys(bucket, key), *want, "{bucket} {key}");
        // Each key found routes back to that very object.
        for request_key in routes.request_keys(bucket, key) {
            let path = format!("/{request_key}");
            let hosts = [None, Some("cdn.example.com")];
            assert!(
                hosts
                    .iter()
                    .any(|h| routes.mappings.choose(*h, &path).is_some_and(|r| {
                        let Some(OriginSpec::S3(s3)) = routes.origins.get(r.origin) else {
                            return false;
                        };
                        s3.bucket == *bucket && format!("{}{}", s3.prefix, r.key) == *key
                    })),
                "{path}"
            );
        }
    }
}
