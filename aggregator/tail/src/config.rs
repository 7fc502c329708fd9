//! The `[tail]` section both daemons share, and its TLS material.

use anyhow::{Context, Result, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Environment variable holding the token when `tail.token_file` is unset.
pub const TOKEN_ENV: &str = "MIRRORLAKE_TAIL_TOKEN";

/// Shortest token accepted (bytes).
pub const MIN_TOKEN_BYTES: usize = 16;

/// The live tail service (`[tail]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct TailConfig {
    /// UDP address of the QUIC tail service; unset: no tail service.
    pub listen: Option<SocketAddr>,
    /// File holding the token clients must present (else `MIRRORLAKE_TAIL_TOKEN`).
    pub token_file: Option<PathBuf>,
    /// TLS certificate chain (PEM). When neither it nor `key` exists, a
    /// self-signed pair (localhost, the host name, the listen address) is
    /// generated there at start; clients trust it with `--ca`.
    pub cert: PathBuf,
    /// TLS private key (PEM), see `cert`.
    pub key: PathBuf,
    /// Batches queued per client; when full, the server drops for that
    /// client (and tells it), never for the pipeline.
    pub client_queue_batches: usize,
    /// Most clients attached at once.
    pub max_clients: usize,
}

impl Default for TailConfig {
    fn default() -> Self {
        Self {
            listen: None,
            token_file: None,
            cert: PathBuf::from("tail-cert.pem"),
            key: PathBuf::from("tail-key.pem"),
            client_queue_batches: 64,
            max_clients: 16,
        }
    }
}

impl TailConfig {
    /// Checks the section; errors name the field (`tail.<field>`).
    pub fn validate(&self) -> Result<()> {
        if self.listen.is_none() {
            return Ok(());
        }
        if self.client_queue_batches == 0 {
            bail!("tail.client_queue_batches: must be at least 1");
        }
        if self.max_clients == 0 {
            bail!("tail.max_clients: must be at least 1");
        }
        self.token().map(drop)
    }

    /// The clients' token, from `token_file` or the environment.
    pub fn token(&self) -> Result<String> {
        let token = load_token(self.token_file.as_deref())
            .context("tail.token_file")?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "tail.token_file: the tail needs a client token (a file, or {TOKEN_ENV})"
                )
            })?;
        if token.len() < MIN_TOKEN_BYTES {
            bail!("tail.token_file: the token must be at least {MIN_TOKEN_BYTES} bytes");
        }
        Ok(token)
    }

    /// The certificate chain and key, generated first when neither file exists.
    pub fn tls_material(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
        match (self.cert.exists(), self.key.exists()) {
            (false, false) => generate_self_signed(&self.cert, &self.key, self.listen)?,
            (true, false) => bail!("tail.key: {} does not exist", self.key.display()),
            (false, true) => bail!("tail.cert: {} does not exist", self.cert.display()),
            (true, true) => {}
        }
        let certs = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|i| i.collect::<Result<Vec<_>, _>>())
            .map_err(|e| anyhow::anyhow!("tail.cert: {}: {e}", self.cert.display()))?;
        if certs.is_empty() {
            bail!("tail.cert: no certificate in {}", self.cert.display());
        }
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| anyhow::anyhow!("tail.key: {}: {e}", self.key.display()))?;
        Ok((certs, key))
    }
}

/// The token, from `file` (the whole file) or else `MIRRORLAKE_TAIL_TOKEN`,
/// trimmed; `None` when neither is given. Both the server and the client
/// take their token this way.
pub fn load_token(file: Option<&Path>) -> Result<Option<String>> {
    let token = match file {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("read {}", p.display()))?,
        None => match std::env::var(TOKEN_ENV) {
            Ok(t) => t,
            Err(_) => return Ok(None),
        },
    };
    Ok(Some(token.trim().to_owned()))
}

fn generate_self_signed(cert: &Path, key: &Path, listen: Option<SocketAddr>) -> Result<()> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Some(host) = hostname_guess() {
        names.push(host);
    }
    if let Some(a) = listen.filter(|a| !a.ip().is_unspecified()) {
        names.push(a.ip().to_string());
    }
    names.dedup();
    let pair = rcgen::generate_simple_self_signed(names).context("generate a tail certificate")?;
    std::fs::write(cert, pair.cert.pem())
        .with_context(|| format!("tail.cert: write {}", cert.display()))?;
    write_private(key, pair.signing_key.serialize_pem().as_bytes())
        .with_context(|| format!("tail.key: write {}", key.display()))?;
    tracing::info!(cert = %cert.display(), "generated a self-signed tail certificate (clients: --ca)");
    Ok(())
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    o.open(path)?.write_all(data)
}

fn hostname_guess() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_off_and_valid() {
        let c = TailConfig::default();
        assert!(c.listen.is_none());
        c.validate().expect("off is valid");
    }

    #[test]
    fn errors_name_the_field() {
        let dir = tempfile::tempdir().expect("tmp");
        let short = dir.path().join("short");
        std::fs::write(&short, "abc\n").expect("write");
        let mut c = TailConfig {
            listen: Some("127.0.0.1:0".parse().expect("addr")),
            token_file: Some(short),
            ..TailConfig::default()
        };
        let e = c.validate().expect_err("short token");
        assert!(format!("{e:#}").contains("tail.token_file"), "{e:#}");
        c.token_file = Some(dir.path().join("missing"));
        let e = c.validate().expect_err("missing file");
        assert!(format!("{e:#}").contains("tail.token_file"), "{e:#}");
        let good = dir.path().join("good");
        std::fs::write(&good, "0123456789abcdef0123\n").expect("write");
        c.token_file = Some(good);
        c.validate().expect("good");
        assert_eq!(c.token().expect("token"), "0123456789abcdef0123");
        c.client_queue_batches = 0;
        let e = c.validate().expect_err("zero queue");
        assert!(e.to_string().contains("tail.client_queue_batches"), "{e}");
    }

    #[test]
    fn tls_material_is_generated_once_and_then_reused() {
        let dir = tempfile::tempdir().expect("tmp");
        let c = TailConfig {
            cert: dir.path().join("c.pem"),
            key: dir.path().join("k.pem"),
            ..TailConfig::default()
        };
        let (a, _) = c.tls_material().expect("generated");
        let (b, _) = c.tls_material().expect("read back");
        assert_eq!(a, b);
        std::fs::remove_file(&c.key).expect("rm key");
        let e = c.tls_material().expect_err("half a pair");
        assert!(e.to_string().contains("tail.key"), "{e}");
    }
}
