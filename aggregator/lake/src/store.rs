//! Where the lake lives: a local folder or an S3 bucket, one code path.

use object_store::aws::{AmazonS3Builder, Checksum};
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// How requests to S3 are timed out and retried. Transient failures
/// (connection errors, 5xx, throttling, and timeouts of idempotent requests:
/// every PUT, multipart part and completion the writer sends) are retried
/// with exponential backoff until `retry_timeout` has passed since the first
/// attempt; then the write fails with an error and nothing is visible under
/// the object's final name (an unfinished multipart upload is never listed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Options {
    /// Timeout of one request, from connect to the end of the response.
    pub request_timeout: Duration,
    /// Timeout of the connect phase.
    pub connect_timeout: Duration,
    /// Retries of one request at most.
    pub max_retries: usize,
    /// No retry starts later than this after the first attempt.
    pub retry_timeout: Duration,
    /// First backoff; doubles per retry up to `max_backoff`.
    pub init_backoff: Duration,
    /// Longest backoff.
    pub max_backoff: Duration,
}

impl Default for S3Options {
    fn default() -> Self {
        // AWS recommends retrying with backoff; object_store's own defaults
        // (30 s requests, 10 retries within 3 min) are kept but made explicit,
        // with a shorter connect timeout (a VPC endpoint answers in ms).
        Self {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            max_retries: 10,
            retry_timeout: Duration::from_secs(180),
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
        }
    }
}

/// Why the lake could not be opened or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LakeError {
    /// The lake location is not a path, `file://` or `s3://` URL.
    #[error("lake location {location:?}: {reason}")]
    Location {
        /// What was given.
        location: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Object store failure (after its own retries).
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    /// Parquet encoding failure.
    #[error("parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// Arrow failure.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl S3Options {
    /// The defaults, overridden by `MIRRORLAKE_S3_TIMEOUT_MS`,
    /// `MIRRORLAKE_S3_CONNECT_TIMEOUT_MS`, `MIRRORLAKE_S3_RETRY_TIMEOUT_MS` and
    /// `MIRRORLAKE_S3_MAX_RETRIES` where set (an unparsable value is reported
    /// and ignored).
    pub fn from_env() -> Self {
        let mut o = Self::default();
        let var = |name: &str| -> Option<u64> {
            let v = std::env::var(name).ok()?;
            match v.trim().parse() {
                Ok(n) => Some(n),
                Err(_) => {
                    tracing::warn!(name, value = %v, "ignoring: not a whole number");
                    None
                }
            }
        };
        if let Some(ms) = var("MIRRORLAKE_S3_TIMEOUT_MS") {
            o.request_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = var("MIRRORLAKE_S3_CONNECT_TIMEOUT_MS") {
            o.connect_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = var("MIRRORLAKE_S3_RETRY_TIMEOUT_MS") {
            o.retry_timeout = Duration::from_millis(ms);
        }
        if let Some(n) = var("MIRRORLAKE_S3_MAX_RETRIES") {
            o.max_retries = usize::try_from(n).unwrap_or(usize::MAX);
        }
        o
    }
}

/// An opened lake: a store and the root path inside it.
#[derive(Debug, Clone)]
pub struct Lake {
    /// The object store.
    pub store: Arc<dyn ObjectStore>,
    /// Root of the lake inside the store.
    pub root: Path,
    /// The lake's URL (`file:///abs/path/` or `s3://bucket/prefix/`).
    pub url: Url,
}

impl Lake {
    /// Opens a lake from a plain path, a `file://` URL or an `s3://bucket/prefix`
    /// URL. S3 credentials, region and endpoint come from the environment
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
    /// `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, ...). A local folder is created.
    /// S3 requests use [`S3Options::from_env`].
    pub fn open(location: &str) -> Result<Self, LakeError> {
        Self::open_with(location, &S3Options::from_env())
    }

    /// [`open`](Self::open) with explicit S3 timeouts and retries.
    pub fn open_with(location: &str, s3: &S3Options) -> Result<Self, LakeError> {
        let bad = |reason: String| LakeError::Location {
            location: location.to_owned(),
            reason,
        };
        match Url::parse(location) {
            Ok(url) if url.scheme() == "s3" => {
                let bucket = url
                    .host_str()
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| bad("no bucket".into()))?;
                // Every PutObject and UploadPart carries x-amz-checksum-sha256:
                // S3 refuses writes without a checksum (or Content-MD5) to a
                // bucket with Object Lock default retention. The SHA-256 is
                // the one SigV4 computes to sign the payload anyway.
                let mut b = AmazonS3Builder::from_env()
                    .with_checksum_algorithm(Checksum::SHA256)
                    .with_bucket_name(bucket)
                    .with_client_options(
                        ClientOptions::new()
                            .with_timeout(s3.request_timeout)
                            .with_connect_timeout(s3.connect_timeout),
                    )
                    .with_retry(RetryConfig {
                        backoff: BackoffConfig {
                            init_backoff: s3.init_backoff,
                            max_backoff: s3.max_backoff,
                            base: 2.0,
                        },
                        max_retries: s3.max_retries,
                        retry_timeout: s3.retry_timeout,
                    });
                if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
                    b = b.with_endpoint(endpoint);
                }
                if std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v == "true" || v == "1") {
                    b = b.with_allow_http(true);
                }
                let store = b.build().map_err(|e| bad(e.to_string()))?;
                let root = Path::from(url.path().trim_matches('/'));
                let mut url = url.clone();
                if !url.path().ends_with('/') {
                    url.set_path(&format!("{}/", url.path()));
                }
                Ok(Self {
                    store: Arc::new(store),
                    root,
                    url,
                })
            }
            Ok(url) if url.scheme() == "file" => {
                let path = url
                    .to_file_path()
                    .map_err(|()| bad("not a local file URL".into()))?;
                Self::local(&path).map_err(|e| bad(e.to_string()))
            }
            Ok(url) if url.scheme().len() > 1 => Err(bad(format!(
                "unsupported scheme {:?} (use a path, file:// or s3://)",
                url.scheme()
            ))),
            // Plain paths (and Windows drive letters) are local folders.
            _ => Self::local(std::path::Path::new(location)).map_err(|e| bad(e.to_string())),
        }
    }

    fn local(path: &std::path::Path) -> Result<Self, Box<dyn std::error::Error>> {
        std::fs::create_dir_all(path)?;
        let abs = std::fs::canonicalize(path)?;
        let store = LocalFileSystem::new_with_prefix(&abs)?.with_automatic_cleanup(true);
        let url = Url::from_directory_path(&abs).map_err(|()| "not an absolute path")?;
        Ok(Self {
            store: Arc::new(store),
            root: Path::default(),
            url,
        })
    }

    /// The URL of a table folder (`<lake>/<table>/`).
    pub fn table_url(&self, table: &str) -> Url {
        self.url
            .join(&format!("{table}/"))
            .unwrap_or_else(|_| self.url.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_local_paths_and_urls() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("lake");
        let a = Lake::open(p.to_str().expect("utf8")).expect("path");
        assert!(p.is_dir());
        assert!(a.url.as_str().starts_with("file:///"));
        let b = Lake::open(a.url.as_str()).expect("file url");
        assert_eq!(a.url, b.url);
        assert!(a.table_url("packets").as_str().ends_with("/lake/packets/"));
    }

    #[test]
    fn s3_urls_and_bad_schemes() {
        let l = Lake::open("s3://bucket/some/prefix").expect("s3 url");
        assert_eq!(l.root.as_ref(), "some/prefix");
        assert_eq!(l.url.as_str(), "s3://bucket/some/prefix/");
        let e = Lake::open("ftp://x/y").expect_err("bad scheme");
        assert!(e.to_string().contains("unsupported scheme"), "{e}");
        assert!(Lake::open("s3:///nobucket").is_err());
    }
}
