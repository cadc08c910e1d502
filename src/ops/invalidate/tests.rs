use super::*;

fn keys(keys: &[&str]) -> Vec<Target> {
    keys.iter().map(|k| Target::Key(k.to_string())).collect()
}

#[test]
fn keys_become_escaped_wildcards() {
    let p = plan(
        &keys(&[
            "photos/cat.jpg",
            "dir/café au lait.jpg",
            "a*b.jpg",
            "猫.png",
        ]),
        UrlStyles::QUERY,
    )
    .unwrap();
    assert_eq!(
        p.paths,
        [
            "/photos/cat.jpg*",
            "/dir/caf%C3%A9%20au%20lait.jpg*",
            "/a%2Ab.jpg*",
            "/%E7%8C%AB.png*"
        ]
    );
    // only the key with a '*' gets a spelling warning, pointing at the prefix before it
    assert_eq!(p.warnings.len(), 1, "{:?}", p.warnings);
    assert!(
        p.warnings[0].contains("--prefix \"a\""),
        "{}",
        p.warnings[0]
    );
    // the only '*' is the final wildcard
    for path in &p.paths {
        assert_eq!(path.matches('*').count(), 1);
        assert!(path.ends_with('*'));
    }
}

#[test]
fn prefixes_and_paths() {
    let p = plan(
        &[
            Target::Prefix("photos/2024/".into()),
            Target::Path("https://d111.cloudfront.net/fit-in/300x0/photos/a b.jpg?x=1#top".into()),
            Target::Path("/eyJrZXkiOiJhLmpwZyJ9".into()),
            Target::Path("/already%20encoded/50%.jpg".into()),
            Target::Path("/star*in*middle.jpg".into()),
            Target::Path("/wild/*".into()),
        ],
        UrlStyles::QUERY,
    )
    .unwrap();
    assert_eq!(
        p.paths,
        [
            "/photos/2024/*",
            "/fit-in/300x0/photos/a%20b.jpg?x=1",
            "/eyJrZXkiOiJhLmpwZyJ9",
            "/already%20encoded/50%25.jpg",
            "/star%2Ain%2Amiddle.jpg",
            "/wild/*",
        ]
    );
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    let (tilde, warning) = cloudfront_path("/runtime~main.js").unwrap();
    assert_eq!(tilde, "/runtime%7Emain.js");
    assert!(warning.unwrap().contains("%7E"));
    for bad in ["photos/a.jpg", "https://host?x=1", ""] {
        assert!(cloudfront_path(bad).is_err(), "{bad}");
    }
    assert_eq!(cloudfront_path("https://host").unwrap().0, "/");
    let long = format!("/{}", "a".repeat(MAX_PATH_CHARS));
    assert!(cloudfront_path(&long).is_err());
}

#[test]
fn duplicates_and_covered_paths_are_dropped() {
    let p = plan(
        &[
            Target::Key("photos/cat.jpg".into()),
            Target::Path("/photos/cat.jpg?width=300".into()),
            Target::Key("photos/cat.jpg".into()),
            Target::Prefix("photos/".into()),
            Target::Key("other.jpg".into()),
            Target::Path("/photos/*".into()),
        ],
        UrlStyles::QUERY,
    )
    .unwrap();
    assert_eq!(p.paths, ["/photos/*", "/other.jpg*"]);
    assert_eq!(
        prune(vec!["/a*".into(), "/a*".into(), "/ab".into(), "/b".into()]),
        ["/a*", "/b"]
    );
}

#[test]
fn styles_without_a_key_prefix_fall_back_to_everything() {
    let styles = UrlStyles::parse("query,thumbor").unwrap();
    let p = plan(&keys(&["a.jpg", "b.jpg"]), styles).unwrap();
    assert_eq!(p.paths, ["/*"]);
    assert_eq!(p.warnings.len(), 1);
    assert!(p.warnings[0].contains("thumbor"), "{}", p.warnings[0]);
    // listed variant URLs need no fallback
    let p = plan(
        &[Target::Path("/fit-in/100x100/a.jpg".into())],
        UrlStyles::parse("thumbor").unwrap(),
    )
    .unwrap();
    assert_eq!(p.paths, ["/fit-in/100x100/a.jpg"]);
    assert!(p.warnings.is_empty());
    assert_eq!(
        UrlStyles::parse("all").unwrap().without_key_prefix().len(),
        3
    );
    assert!(UrlStyles::parse("query,banana").is_err());
    assert!(UrlStyles::parse("").is_err());
    assert_eq!(UrlStyles::parse(" Query ").unwrap(), UrlStyles::QUERY);
}

#[test]
fn bad_keys_and_prefixes_are_refused() {
    assert!(plan(&keys(&["a/../b.jpg"]), UrlStyles::QUERY).is_err());
    assert!(plan(&keys(&[""]), UrlStyles::QUERY).is_err());
    assert!(plan(&[Target::Prefix("a/../".into())], UrlStyles::QUERY).is_err());
    // a prefix may end inside a name, even one that starts with dots
    let p = plan(&[Target::Prefix("photos/..".into())], UrlStyles::QUERY).unwrap();
    assert_eq!(p.paths, ["/photos/..*"]);
    let everything = plan(&[Target::Prefix(String::new())], UrlStyles::QUERY).unwrap();
    assert_eq!(everything.paths, ["/*"]);
    assert_eq!(everything.warnings.len(), 1);
}

#[test]
fn bulk_runs_get_summed_up_warnings() {
    let many: Vec<String> = (0..200).map(|i| format!("p/img-{i}+copy.jpg")).collect();
    let refs: Vec<&str> = many.iter().map(String::as_str).collect();
    let p = plan(&keys(&refs), UrlStyles::QUERY).unwrap();
    assert_eq!(p.paths.len(), 200);
    assert_eq!(
        p.warnings.len(),
        MAX_LISTED_WARNINGS + 2,
        "{:?}",
        p.warnings
    );
    assert!(p.warnings[MAX_LISTED_WARNINGS].starts_with("195 more keys"));
    assert!(
        p.warnings[MAX_LISTED_WARNINGS + 1].contains("200 wildcard paths need 14 invalidations")
    );
    // 150 wildcards (ten invalidations) are not a bulk run yet
    let p = plan(&keys(&refs[..150]), UrlStyles::QUERY).unwrap();
    assert_eq!(p.warnings.len(), MAX_LISTED_WARNINGS + 1);
}

#[test]
fn batching_respects_both_limits() {
    let wild: Vec<String> = (0..20).map(|i| format!("/w{i}*")).collect();
    let exact: Vec<String> = (0..5000).map(|i| format!("/e{i}")).collect();
    let all: Vec<String> = wild.iter().chain(exact.iter()).cloned().collect();
    let b = batches(&all);
    assert_eq!(b.len(), 2);
    assert_eq!(b[0].len(), 3000);
    assert_eq!(b[0].iter().filter(|p| p.ends_with('*')).count(), 15);
    assert_eq!(b[1].len(), 2020);
    assert_eq!(b[1][..5], wild[15..20]);
    assert_eq!(b[1][5], "/e2985");
    // nothing lost, nothing repeated
    let mut flat: Vec<&String> = b.iter().flatten().collect();
    flat.sort();
    let mut expected: Vec<&String> = all.iter().collect();
    expected.sort();
    assert_eq!(flat, expected);

    let only_wild: Vec<String> = (0..31).map(|i| format!("/k{i}*")).collect();
    let sizes: Vec<usize> = batches(&only_wild).iter().map(Vec::len).collect();
    assert_eq!(sizes, [15, 15, 1]);
    let only_exact: Vec<String> = (0..6001).map(|i| format!("/x{i}")).collect();
    let sizes: Vec<usize> = batches(&only_exact).iter().map(Vec::len).collect();
    assert_eq!(sizes, [3000, 3000, 1]);
    assert!(batches(&[]).is_empty());
}

#[test]
fn distribution_ids() {
    assert_eq!(
        distribution_id(" E2QWRUHAPOMQZL ").unwrap(),
        "E2QWRUHAPOMQZL"
    );
    assert_eq!(
        distribution_id("arn:aws:cloudfront::123456789012:distribution/EDFDVBD6EXAMPLE").unwrap(),
        "EDFDVBD6EXAMPLE"
    );
    for bad in ["", "E12 34", "arn:aws:s3:::bucket", "d111.cloudfront.net"] {
        assert!(distribution_id(bad).is_err(), "{bad}");
    }
}

#[test]
fn outcomes() {
    let batch = |id: Option<&str>, status| BatchReport {
        paths: vec!["/a*".into()],
        id: id.map(str::to_string),
        caller_reference: "r-1".into(),
        status,
        error: None,
    };
    let report = |batches| Report {
        distribution_id: "E1".into(),
        batches,
    };
    use BatchStatus::*;
    assert_eq!(report(vec![]).outcome(false), Outcome::Success);
    assert_eq!(
        report(vec![batch(Some("I1"), InProgress)]).outcome(false),
        Outcome::Success
    );
    assert_eq!(
        report(vec![batch(Some("I1"), InProgress)]).outcome(true),
        Outcome::Partial
    );
    assert_eq!(
        report(vec![batch(Some("I1"), Completed)]).outcome(true),
        Outcome::Success
    );
    let mixed = report(vec![batch(Some("I1"), Completed), batch(None, Failed)]);
    assert_eq!(mixed.outcome(false), Outcome::Partial);
    assert_eq!(mixed.failed_paths(), ["/a*"]);
    assert_eq!(
        report(vec![batch(None, Failed)]).outcome(false),
        Outcome::Failed
    );
}
