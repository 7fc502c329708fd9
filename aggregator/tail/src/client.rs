//! The tail client: connects, authenticates, and writes what the server
//! streams as pcap or pcapng (live, flushed as it arrives), reporting on
//! stderr what the server dropped for it.

use crate::proto::{self, Hello, Message};
use anyhow::{Context, Result, bail};
use mirrorlake_pcap::{CaptureWriter, Interface};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Server address.
    pub server: SocketAddr,
    /// Name the server's certificate must carry (default: the address).
    pub server_name: String,
    /// PEM file of the certificate(s) to trust (the server's self-signed
    /// one, or a private CA).
    pub ca: PathBuf,
    /// What to ask for (token and filters).
    pub hello: Hello,
    /// Stop after this many packets.
    pub count: Option<u64>,
}

/// What a tail session received.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TailSummary {
    /// Packets written.
    pub packets: u64,
    /// Packets the server dropped for this client (it read too slowly).
    pub dropped: u64,
}

fn client_config(ca: &std::path::Path) -> Result<quinn::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("--ca {}: {e}", ca.display()))?;
    if certs.is_empty() {
        bail!("--ca {}: no certificate", ca.display());
    }
    for c in certs {
        roots.add(c).context("--ca")?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_no_client_auth();
    tls.alpn_protocols = vec![proto::ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(tls)?;
    let mut c = quinn::ClientConfig::new(Arc::new(crypto));
    c.transport_config(Arc::new(crate::server::transport()));
    Ok(c)
}

/// Runs a tail session, writing packets to `out` until the server ends it,
/// `count` packets arrived, or `stop` resolves.
pub async fn tail<W: Write>(
    opts: &ClientOptions,
    out: &mut CaptureWriter<W>,
    stop: impl std::future::Future<Output = ()>,
) -> Result<TailSummary> {
    let bind: SocketAddr = if opts.server.is_ipv6() {
        "[::]:0".parse()?
    } else {
        "0.0.0.0:0".parse()?
    };
    let mut endpoint = quinn::Endpoint::client(bind).context("open a UDP socket")?;
    endpoint.set_default_client_config(client_config(&opts.ca)?);
    let conn = endpoint
        .connect(opts.server, &opts.server_name)
        .context("--server")?
        .await
        .with_context(|| format!("connect to {} ({})", opts.server, opts.server_name))?;
    let (mut send, mut recv) = conn.open_bi().await?;
    let mut buf = Vec::new();
    Message::Hello(opts.hello.clone()).encode(&mut buf);
    send.write_all(&buf).await?;
    buf.clear();

    let mut summary = TailSummary::default();
    let mut interfaces: Vec<(String, String)> = Vec::new();
    let mut welcomed = false;
    let mut chunk = vec![0u8; 256 << 10];
    tokio::pin!(stop);
    'read: loop {
        let n = tokio::select! {
            r = recv.read(&mut chunk) => match r {
                Ok(Some(n)) => n,
                Ok(None) => break,
                Err(e) if welcomed => {
                    tracing::info!(error = %e, "tail stream ended");
                    break;
                }
                Err(e) => return Err(e).context("read the server's answer"),
            },
            () = &mut stop => break,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut at = 0;
        while let Some((m, used)) = proto::parse(&buf[at..]).context("tail protocol")? {
            at += used;
            match m {
                Message::Welcome(w) => {
                    if let Some(why) = w.error {
                        bail!("the server refused: {why}");
                    }
                    welcomed = true;
                }
                Message::Interface {
                    id,
                    name,
                    description,
                } => {
                    if id as usize != interfaces.len() {
                        bail!("tail protocol: interface {id} out of order");
                    }
                    interfaces.push((name.to_owned(), description.to_owned()));
                }
                Message::Packet {
                    iface,
                    ts_us,
                    wire_len,
                    frame,
                } => {
                    let (name, description) = interfaces
                        .get(iface as usize)
                        .context("tail protocol: unknown interface")?;
                    out.write(Interface { name, description }, ts_us, wire_len, frame)?;
                    summary.packets += 1;
                    if opts.count.is_some_and(|c| summary.packets >= c) {
                        break 'read;
                    }
                }
                Message::Dropped { total } => {
                    eprintln!(
                        "tail: the server dropped {} packets for this client so far (it reads too slowly)",
                        total
                    );
                    summary.dropped = total;
                }
                Message::Hello(_) => bail!("tail protocol: unexpected hello"),
            }
        }
        buf.drain(..at);
        out.flush()?;
    }
    out.flush()?;
    conn.close(0u32.into(), b"done");
    endpoint.wait_idle().await;
    if !welcomed {
        bail!("the server closed the connection before answering");
    }
    Ok(summary)
}
