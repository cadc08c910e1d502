//! The deployment files agree with the code they deploy:
//! - the CloudFront Function (`cloudformation/viewer-request.js`) keeps exactly
//!   the query parameters the service reads, so the cache key neither drops an
//!   edit nor splits one image over junk parameters;
//! - the CloudFormation template sets only environment variables the binary
//!   reads, under the names it reads them, and its defaults and its named
//!   origins (`Origins`, `Mappings`, the viewer-host header) are valid
//!   configurations.
//!
//! Both sides are read as text: the template and the function are not Rust.

use std::collections::BTreeSet;
use std::path::Path;

use image_handler::handler::HANDLER_PARAMS;
use image_handler::request::query::PARAMS;
use image_handler::signature::{EXPIRES_PARAM, SIGNATURE_PARAM};
use regex::Regex;

/// Variables the template sets that the binary does not read yet, each with
/// the change that reads it. The test fails once the code reads one, so the
/// entry is removed then.
const PENDING: &[(&str, &str)] = &[];

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn rust_sources() -> String {
    fn walk(dir: &Path, out: &mut String) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut all = String::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut all);
    all
}

/// The names in the function's `var NAME = ['a', 'b', ...];`.
fn js_list(source: &str, name: &str) -> BTreeSet<String> {
    let line = Regex::new(&format!(r"(?m)^var {name} = \[([^\]]*)\];$"))
        .unwrap()
        .captures(source)
        .unwrap_or_else(|| panic!("viewer-request.js has no `var {name} = [...];` line"));
    Regex::new(r"'([^']*)'")
        .unwrap()
        .captures_iter(&line[1])
        .map(|c| c[1].to_string())
        .collect()
}

#[test]
fn the_cloudfront_function_keeps_exactly_the_parameters_the_service_reads() {
    let source = read("cloudformation/viewer-request.js");
    let kept = js_list(&source, "PARAMS");

    // Query names the handler reads besides the edit parameters (`?info`,
    // `?preset=`): the constants it compares names with.
    let compared: BTreeSet<String> = HANDLER_PARAMS.iter().map(|p| p.to_string()).collect();
    assert!(compared.contains("preset") && compared.contains("info"));

    let mut read_by_service: BTreeSet<String> = PARAMS.iter().map(|p| p.to_string()).collect();
    read_by_service.insert(SIGNATURE_PARAM.to_string());
    read_by_service.insert(EXPIRES_PARAM.to_string());
    read_by_service.extend(compared);

    let dropped: Vec<_> = read_by_service.difference(&kept).collect();
    let extra: Vec<_> = kept.difference(&read_by_service).collect();
    assert!(
        dropped.is_empty() && extra.is_empty(),
        "cloudformation/viewer-request.js PARAMS must be what the service reads: \
         add {dropped:?}, remove {extra:?}; then run node cloudformation/function-code.mjs --write"
    );
    let sorted: Vec<_> = kept.iter().cloned().collect();
    let written: Vec<String> = Regex::new(r"'([^']*)'")
        .unwrap()
        .captures_iter(
            &Regex::new(r"(?m)^var PARAMS = \[([^\]]*)\];$")
                .unwrap()
                .captures(&source)
                .unwrap()[1],
        )
        .map(|c| c[1].to_string())
        .collect();
    assert_eq!(written, sorted, "PARAMS is kept sorted");

    // Every name keeps its last value, `preset` included: src/request/assemble.rs
    // applies the last `preset` only (request::target::last), because a
    // signature covers only the last value of each name
    // (tests/styles.rs::an_added_preset_cannot_ride_on_a_signature).
    assert!(read("src/request/assemble.rs").contains("target::last(params, PRESET_PARAM)"));
    assert!(js_list(&source, "LISTS").is_empty());
}

/// Every `NAME: value` under a `Variables:` key of the template.
fn template_variables(template: &str) -> BTreeSet<String> {
    let variable = Regex::new("^[A-Z][A-Z0-9_]*$").unwrap();
    let mut names = BTreeSet::new();
    let mut block: Option<usize> = None;
    for line in template.lines() {
        let indent = line.len() - line.trim_start().len();
        let text = line.trim();
        if let Some(base) = block {
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            if indent <= base {
                block = None;
            } else {
                let name = text.split(':').next().unwrap();
                assert!(
                    variable.is_match(name),
                    "odd variable line in the template: {line:?}"
                );
                names.insert(name.to_string());
                continue;
            }
        }
        if text == "Variables:" {
            block = Some(indent);
        }
    }
    names
}

#[test]
fn the_template_sets_only_variables_the_binary_reads() {
    let template = read("cloudformation/image-handler.yaml");
    let set = template_variables(&template);
    assert!(set.contains("SOURCE_BUCKETS") && set.contains("DISTRIBUTION_ID"));

    let sources = rust_sources();
    let mut read_by_binary: BTreeSet<String> = BTreeSet::new();
    for pattern in [
        r#"get\("([A-Z][A-Z0-9_]*)"\)"#,
        r#"env::var(?:_os)?\("([A-Z][A-Z0-9_]*)"\)"#,
    ] {
        for c in Regex::new(pattern).unwrap().captures_iter(&sources) {
            read_by_binary.insert(c[1].to_string());
        }
    }
    assert!(
        read_by_binary.contains("SOURCE_BUCKETS"),
        "the scan of src/ found no configuration reads"
    );

    for (name, what) in PENDING {
        assert!(
            !read_by_binary.contains(*name),
            "src/ now reads {name}: remove it from PENDING in tests/deployment.rs"
        );
        assert!(
            set.contains(*name),
            "{name} is PENDING but the template does not set it ({what})"
        );
    }
    let unknown: Vec<_> = set
        .iter()
        .filter(|n| !read_by_binary.contains(*n) && !PENDING.iter().any(|(p, _)| p == n))
        .collect();
    assert!(
        unknown.is_empty(),
        "the template sets variables the binary never reads (a typo, or a renamed variable): {unknown:?}"
    );

    // SIH's parameters reach the variables SIH's code reads.
    // (SourceBuckets: with the origin parameters below.)
    for (parameter, variable) in [
        ("CorsEnabled", "CORS_ENABLED"),
        ("CorsOrigin", "CORS_ORIGIN"),
        ("AutoFormat", "AUTO_FORMAT"),
        ("EnableSignature", "ENABLE_SIGNATURE"),
        ("SecretsManagerSecret", "SECRETS_MANAGER"),
        ("SecretsManagerKey", "SECRET_KEY"),
        (
            "EnableDefaultFallbackImage",
            "ENABLE_DEFAULT_FALLBACK_IMAGE",
        ),
        ("FallbackImageS3Bucket", "DEFAULT_FALLBACK_IMAGE_BUCKET"),
        ("FallbackImageS3Key", "DEFAULT_FALLBACK_IMAGE_KEY"),
        ("Presets", "PRESETS"),
        ("PresetsOnly", "PRESETS_ONLY"),
        ("MaxOutputWidth", "MAX_OUTPUT_WIDTH"),
        ("MaxOutputHeight", "MAX_OUTPUT_HEIGHT"),
        ("MaxSourceBytes", "MAX_SOURCE_BYTES"),
        ("MaxInputPixels", "MAX_INPUT_PIXELS"),
        ("MaxFrames", "MAX_FRAMES"),
        ("ErrorCacheSeconds", "ERROR_MAX_AGE"),
        ("InvalidateUrlStyles", "INVALIDATE_URL_STYLES"),
    ] {
        let line = format!("{variable}: !Ref {parameter}");
        assert!(
            template.contains(&line),
            "the template should map {parameter} to {variable} ({line:?})"
        );
    }
    // The origin parameters are passed only when set: the service refuses
    // SOURCE_BUCKETS beside ORIGINS.
    for line in [
        "SOURCE_BUCKETS: !If [HasOrigins, !Ref 'AWS::NoValue', !Ref SourceBuckets]",
        "ORIGINS: !If [HasOrigins, !Ref Origins, !Ref 'AWS::NoValue']",
        "MAPPINGS: !If [HasMappings, !Ref Mappings, !Ref 'AWS::NoValue']",
    ] {
        assert!(template.contains(line), "the template should say {line:?}");
    }
}

#[test]
fn the_template_with_origins_is_valid_configuration() {
    // docs/deployment.md's "Migrating from a web server", as the template
    // passes it: ORIGINS, MAPPINGS and the viewer-host header, no SOURCE_BUCKETS.
    let template = read("cloudformation/image-handler.yaml");
    let header = Regex::new(r"VIEWER_HOST_HEADER: !If \[HasOrigins, ([a-z0-9-]+),")
        .unwrap()
        .captures(&template)
        .expect("the template sets VIEWER_HOST_HEADER with Origins")[1]
        .to_string();
    let origins = r#"{"site": {"http": "https://www.example.com/", "cache_control": "pass"}, "bucket": {"s3": "example-images"}}"#;
    let mappings = r#"[{"path": "/uploads/", "origin": "bucket", "strip_prefix": true}, {"path": "/", "origin": "site"}]"#;
    let config = image_handler::Config::from_lookup(|name| match name {
        "ORIGINS" => Some(origins.to_string()),
        "MAPPINGS" => Some(mappings.to_string()),
        "VIEWER_HOST_HEADER" => Some(header.clone()),
        _ => None,
    })
    .expect("the template's Origins, Mappings and viewer-host header are a valid configuration");
    assert_eq!(config.source_buckets, ["example-images"]);
    assert_eq!(
        config.viewer_host_header.as_ref().map(|h| h.as_str()),
        Some("x-viewer-host")
    );
}

#[test]
fn the_template_defaults_are_valid_configuration() {
    // The breakpoint lists, as the template's parameters default them.
    let template = read("cloudformation/image-handler.yaml");
    let default = |param: &str| {
        Regex::new(&format!(
            r"\n  {param}:\n(?: {{4}}.*\n)*? {{4}}Default: '([^']*)'\n"
        ))
        .unwrap()
        .captures(&template)
        .unwrap_or_else(|| panic!("the template has no quoted Default for {param}"))[1]
            .to_string()
    };
    let (widths, dprs) = (default("WidthBreakpoints"), default("DprBreakpoints"));
    // The values the template passes by default, read by the real parser.
    let config = image_handler::Config::from_lookup(|name| {
        match name {
            "WIDTH_BREAKPOINTS" => Some(widths.as_str()),
            "DPR_BREAKPOINTS" => Some(dprs.as_str()),
            "SOURCE_BUCKETS" => Some("photos-bucket"),
            "AUTO_FORMAT" => Some("avif,webp"),
            "CORS_ENABLED"
            | "ENABLE_SIGNATURE"
            | "ENABLE_DEFAULT_FALLBACK_IMAGE"
            | "PRESETS_ONLY" => Some("No"),
            "CORS_ORIGIN" => Some("*"),
            "ERROR_MAX_AGE" => Some("10"),
            "MAX_OUTPUT_WIDTH" | "MAX_OUTPUT_HEIGHT" => Some("4096"),
            "MAX_SOURCE_BYTES" => Some("52428800"),
            "MAX_INPUT_PIXELS" => Some("50000000"),
            "MAX_FRAMES" => Some("256"),
            // empty parameters arrive as empty variables, which mean unset
            "SECRETS_MANAGER"
            | "SECRET_KEY"
            | "DEFAULT_FALLBACK_IMAGE_BUCKET"
            | "DEFAULT_FALLBACK_IMAGE_KEY"
            | "PRESETS"
            | "REWRITE_MATCH_PATTERN"
            | "REWRITE_SUBSTITUTION" => Some(""),
            _ => None,
        }
        .map(str::to_string)
    })
    .expect("the template's defaults are a valid configuration");
    assert_eq!(config.source_buckets, ["photos-bucket"]);
    assert_eq!(config.error_max_age, 10);
    // the service's own defaults are the template's (the function uses the template's)
    assert_eq!(
        config.breakpoints,
        image_handler::request::Breakpoints::default()
    );
    // the invalidation function with WarmPresets (and WarmAccept left empty)
    let warming = image_handler::Config::from_lookup(|name| {
        match name {
            "SOURCE_BUCKETS" => Some("photos-bucket"),
            "INVALIDATE_ON_CHANGE" => Some("Yes"),
            "DISTRIBUTION_ID" => Some("E2QWRUHAPOMQZL"),
            "INVALIDATE_URL_STYLES" => Some("query"),
            "DISTRIBUTION_DOMAIN" => Some("d111111abcdef8.cloudfront.net"),
            "PRESETS" => Some(r#"{"thumb":"width=300"}"#),
            "WARM_PRESETS" => Some("thumb"),
            "AUTO_FORMAT" => Some("avif,webp"),
            "MAX_OUTPUT_WIDTH" | "MAX_OUTPUT_HEIGHT" => Some("4096"),
            "WARM_ACCEPT" | "REWRITE_MATCH_PATTERN" | "REWRITE_SUBSTITUTION" => Some(""),
            _ => None,
        }
        .map(str::to_string)
    })
    .expect("the template's warming settings are a valid configuration");
    let warm = warming.warm.expect("warming is on");
    assert_eq!(warm.base, "https://d111111abcdef8.cloudfront.net");
    assert_eq!(warm.classes.len(), 3);
    // every AutoFormat value the template offers (the Node test checks the
    // list against the template) is one the service accepts
    for value in ["avif,webp", "webp", "avif", "No"] {
        image_handler::Config::from_lookup(|n| (n == "AUTO_FORMAT").then(|| value.to_string()))
            .unwrap_or_else(|e| panic!("AutoFormat={value}: {e}"));
    }
}
