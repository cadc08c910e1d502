//! Replays the fuzzers' committed corpus (`fuzz/corpus/<target>/`) and every
//! past finding (`fuzz/regressions/<target>/`) through the same checks the
//! fuzz targets run (`fuzz/checks.rs`), on stable Rust, in the normal test
//! run: a fixed finding stays fixed, and the corpus keeps passing as the
//! code changes. See fuzz/README.md for running the fuzzers themselves.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::path::Path;

/// Runs `check` over every file of `fuzz/<dir>/<target>/`; returns how many.
fn replay(dir: &str, target: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(dir)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&root) else {
        return 0;
    };
    let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(outcome.is_ok(), "{} fails its check", file.display());
    }
    files.len()
}

fn corpus_and_regressions(target: &str, check: fn(&[u8])) {
    let corpus = replay("corpus", target, check);
    replay("regressions", target, check);
    assert!(
        corpus > 0,
        "fuzz/corpus/{target} is committed and not empty"
    );
}

#[test]
fn query() {
    corpus_and_regressions("query", checks::query);
}

#[test]
fn base64_json() {
    corpus_and_regressions("base64_json", checks::base64_json);
}

#[test]
fn thumbor() {
    corpus_and_regressions("thumbor", checks::thumbor);
}

#[test]
fn rewrite() {
    corpus_and_regressions("rewrite", checks::rewrite);
}

#[test]
fn signature() {
    corpus_and_regressions("signature", checks::signature);
}

#[test]
fn decode() {
    corpus_and_regressions("decode", checks::decode);
}

#[test]
fn svg() {
    corpus_and_regressions("svg", checks::svg);
}
