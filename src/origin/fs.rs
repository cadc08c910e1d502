//! The filesystem origin: keys are paths below one root directory.
//!
//! Keys are checked before they touch the filesystem (`..`, `.`, absolute
//! paths and NUL bytes are refused with 400) and the resolved path must still
//! lie below the root after symlinks are followed (otherwise 404), so no key
//! reaches a file outside the root.
//!
//! A file is read only up to the size its metadata gave (checked against
//! `MAX_SOURCE_BYTES` and reserved in the memory budget): one that grows or
//! shrinks while it is read is refused with 503 `OriginUnavailable` (try
//! again) instead of being read past that size or half-old.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use bytes::Bytes;
use tokio::io::AsyncReadExt;

use super::{Ask, FetchFuture, Fetched, Meta, Origin, Original, Reserve};
use crate::error::{Error, Result};

/// Serves originals from a directory.
#[derive(Debug, Clone)]
pub struct FsOrigin {
    root: PathBuf,
    max_bytes: u64,
}

impl FsOrigin {
    /// An origin rooted at `root`, refusing files larger than `max_bytes`.
    pub fn new(root: impl AsRef<Path>, max_bytes: u64) -> std::io::Result<FsOrigin> {
        let root = std::fs::canonicalize(root)?;
        if !root.is_dir() {
            return Err(std::io::Error::new(
                ErrorKind::NotADirectory,
                format!("{} is not a directory", root.display()),
            ));
        }
        Ok(FsOrigin { root, max_bytes })
    }

    /// The canonical root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    async fn read(&self, key: &str, known: Option<&str>, reserve: &dyn Reserve) -> Result<Fetched> {
        let relative = checked_relative_path(key)?;
        let not_found = || Error::NotFound {
            key: key.to_string(),
        };
        let path = match tokio::fs::canonicalize(self.root.join(relative)).await {
            Ok(p) => p,
            Err(e) if is_missing(&e) => return Err(not_found()),
            Err(e) => {
                return Err(Error::Origin {
                    detail: format!("{key}: {e}"),
                });
            }
        };
        if !path.starts_with(&self.root) {
            return Err(not_found());
        }
        let meta = tokio::fs::metadata(&path)
            .await
            .map_err(|e| Error::Origin {
                detail: format!("{key}: {e}"),
            })?;
        if !meta.is_file() {
            return Err(not_found());
        }
        if meta.len() > self.max_bytes {
            return Err(Error::SourceTooLarge {
                key: key.to_string(),
                size: meta.len(),
                limit: self.max_bytes,
            });
        }
        let modified = meta.modified().ok();
        let nanos = modified
            .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let meta_out = Meta {
            identity: format!("{:x}-{nanos:x}", meta.len()),
            last_modified: modified,
            ..Meta::default()
        };
        // Size and mtime from the stat answer a conditional request unread.
        if known == Some(meta_out.identity.as_str()) {
            return Ok(Fetched::Unchanged(meta_out));
        }
        reserve.reserve(key, meta.len()).await?;
        let bytes = read_exactly(&path, meta.len())
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidData => Error::OriginUnavailable {
                    detail: format!("{key}: {e}"),
                },
                _ => Error::Origin {
                    detail: format!("{key}: {e}"),
                },
            })?;
        Ok(Fetched::Full(Original {
            bytes: Bytes::from(bytes),
            content_type: None,
            meta: meta_out,
        }))
    }

    fn list(&self) -> Vec<String> {
        let mut keys: Vec<String> = std::fs::read_dir(&self.root)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| crate::transform::looks_like_image_name(n))
            .collect();
        keys.sort();
        keys
    }
}

/// Reads the file at `path`, which its metadata said is `len` bytes: at
/// most `len + 1` bytes are read, and a file of any other length now (it grew
/// or shrank since) is an `InvalidData` error.
async fn read_exactly(path: &Path, len: u64) -> std::io::Result<Vec<u8>> {
    let file = tokio::fs::File::open(path).await?;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(len.saturating_add(1))
        .read_to_end(&mut bytes)
        .await?;
    if bytes.len() as u64 != len {
        return Err(std::io::Error::new(
            ErrorKind::InvalidData,
            format!("the file changed while it was read (expected {len} bytes)"),
        ));
    }
    Ok(bytes)
}

fn is_missing(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory)
        || e.raw_os_error() == Some(36) // ENAMETOOLONG
}

/// The key as a relative path with only normal components, or 400.
fn checked_relative_path(key: &str) -> Result<&Path> {
    let invalid = |reason| Error::InvalidKey {
        key: key.to_string(),
        reason,
    };
    if key.starts_with('/') {
        return Err(invalid("absolute paths are not allowed"));
    }
    if key.contains('\0') {
        return Err(invalid("it contains a NUL byte"));
    }
    if key.split('/').any(|seg| seg == ".." || seg == ".") {
        return Err(invalid("'.' and '..' segments are not allowed"));
    }
    Ok(Path::new(key))
}

impl Origin for FsOrigin {
    fn fetch_reserving<'a>(&'a self, ask: Ask<'a>) -> FetchFuture<'a> {
        Box::pin(self.read(&ask.source.key, ask.known, ask.reserve))
    }

    fn examples(&self) -> Vec<String> {
        self.list()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Source;

    #[test]
    fn keys_stay_relative() {
        for bad in [
            "/etc/passwd",
            "../x.jpg",
            "a/../../x.jpg",
            "a/./b.jpg",
            "..",
            "a\0b",
        ] {
            assert!(
                matches!(checked_relative_path(bad), Err(Error::InvalidKey { .. })),
                "{bad}"
            );
        }
        for good in [
            "a.jpg",
            "dir/sub/a b.jpg",
            "..a.jpg",
            "a..b/c.jpg",
            "猫.png",
        ] {
            assert!(checked_relative_path(good).is_ok(), "{good}");
        }
    }

    #[tokio::test]
    async fn a_file_that_changed_since_its_size_was_checked_is_refused() {
        let dir = std::env::temp_dir().join(format!("ih-fs-grow-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.jpg");
        std::fs::write(&path, vec![1u8; 1000]).unwrap();
        let checked = std::fs::metadata(&path).unwrap().len();
        assert_eq!(read_exactly(&path, checked).await.unwrap().len(), 1000);
        // it grows after the check: refused, not read past the checked size
        std::fs::write(&path, vec![2u8; 5000]).unwrap();
        let e = read_exactly(&path, checked).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
        // it shrinks after the check: refused too, not served half
        let e = read_exactly(&path, 10_000).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A writer grows a file past `MAX_SOURCE_BYTES` again and again while
    /// it is fetched: no fetch ever returns more than the limit, or other
    /// bytes than the size its identity names.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_growing_file_is_never_read_past_its_checked_size() {
        use std::io::Write;
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = std::env::temp_dir().join(format!("ih-fs-growing-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("grow.jpg");
        std::fs::write(&path, b"start").unwrap();
        const LIMIT: u64 = 256 * 1024;
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let writer = {
            let (path, stop) = (path.clone(), stop.clone());
            std::thread::spawn(move || {
                let chunk = vec![7u8; 16 * 1024];
                while !stop.load(Ordering::Relaxed) {
                    let mut f = std::fs::File::create(&path).unwrap();
                    for _ in 0..64 {
                        f.write_all(&chunk).unwrap();
                    }
                }
            })
        };
        let o = FsOrigin::new(&dir, LIMIT).unwrap();
        let src = Source {
            bucket: None,
            key: "grow.jpg".into(),
        };
        let mut served = 0;
        for _ in 0..3000 {
            match o.fetch(&src, None).await {
                Ok(Fetched::Full(got)) => {
                    let len = got.bytes.len() as u64;
                    assert!(len <= LIMIT, "read {len} bytes, past the limit of {LIMIT}");
                    let stated = got.meta.identity.split('-').next().unwrap_or_default();
                    assert_eq!(
                        u64::from_str_radix(stated, 16).ok(),
                        Some(len),
                        "the bytes are not the size that was checked"
                    );
                    served += 1;
                }
                Ok(Fetched::Unchanged(_)) => panic!("no identity was given"),
                Err(Error::SourceTooLarge { .. } | Error::OriginUnavailable { .. }) => {}
                Err(e) => panic!("{e:?}"),
            }
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        tracing::debug!(served, "fetches that found the file whole");
    }

    #[tokio::test]
    async fn fetches_and_refuses() {
        let dir = std::env::temp_dir().join(format!("ih-fs-{}", std::process::id()));
        let inside = dir.join("root");
        std::fs::create_dir_all(inside.join("sub")).unwrap();
        std::fs::write(inside.join("sub/a b.jpg"), b"12345").unwrap();
        std::fs::write(dir.join("secret.jpg"), b"secret").unwrap();
        std::os::unix::fs::symlink(dir.join("secret.jpg"), inside.join("link.jpg")).unwrap();
        let o = FsOrigin::new(&inside, 4).unwrap();
        let src = |k: &str| Source {
            bucket: None,
            key: k.to_string(),
        };
        assert!(matches!(
            o.fetch(&src("sub/a b.jpg"), None).await,
            Err(Error::SourceTooLarge { size: 5, .. })
        ));
        let o = FsOrigin::new(&inside, 100).unwrap();
        let Ok(Fetched::Full(got)) = o.fetch(&src("sub/a b.jpg"), None).await else {
            panic!("a full fetch")
        };
        assert_eq!(&got.bytes[..], b"12345");
        assert!(got.meta.last_modified.is_some());
        // the identity the client holds answers without reading
        let known = got.meta.identity.clone();
        assert!(matches!(
            o.fetch(&src("sub/a b.jpg"), Some(&known)).await,
            Ok(Fetched::Unchanged(m)) if m.identity == known
        ));
        assert!(matches!(
            o.fetch(&src("sub/a b.jpg"), Some("other")).await,
            Ok(Fetched::Full(_))
        ));
        assert!(matches!(
            o.fetch(&src("link.jpg"), None).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            o.fetch(&src("missing.jpg"), None).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            o.fetch(&src("sub"), None).await,
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            o.fetch(&src("sub/a b.jpg/x"), None).await,
            Err(Error::NotFound { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
