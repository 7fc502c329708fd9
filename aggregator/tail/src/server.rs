//! The tail server: a QUIC endpoint (TLS 1.3, ALPN `mirrorlake-tail/1`)
//! that authenticates each client by token, compiles its filters, and
//! streams it the batches the [`Hub`] offers, filtered.

use crate::config::TailConfig;
use crate::hub::{Hub, Slot};
use crate::proto::{self, Hello, Message, Welcome};
use anyhow::{Context, Result};
use arrow::record_batch::RecordBatch;
use mirrorlake_bpf::BpfFilter;
use mirrorlake_lake::sql::RowPredicate;
use mirrorlake_schema::{FrameColumns, interface_names};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How long a client has to send its Hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a client hears its drop count when it changed.
const DROPPED_NOTICE_EVERY: Duration = Duration::from_secs(1);

/// A running tail service.
#[derive(Debug)]
pub struct TailServer {
    endpoint: quinn::Endpoint,
    task: tokio::task::JoinHandle<()>,
}

impl TailServer {
    /// Binds `config.listen` and serves clients from `hub` until dropped or
    /// [`close`](Self::close)d. Errors name the config field.
    pub fn start(config: &TailConfig, hub: Hub) -> Result<Option<Self>> {
        let Some(listen) = config.listen else {
            return Ok(None);
        };
        let token = config.token()?;
        let (certs, key) = config.tls_material()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])
            .context("tail TLS")?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .context("tail.cert/tail.key: certificate and key do not match")?;
        tls.alpn_protocols = vec![proto::ALPN.to_vec()];
        let crypto =
            quinn::crypto::rustls::QuicServerConfig::try_from(tls).context("tail TLS for QUIC")?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        server.transport_config(Arc::new(transport()));
        let endpoint = quinn::Endpoint::server(server, listen)
            .with_context(|| format!("tail.listen: bind udp {listen}"))?;
        let ep = endpoint.clone();
        let max_clients = config.max_clients;
        let token = Arc::new(token);
        let task = tokio::spawn(async move {
            while let Some(incoming) = ep.accept().await {
                let (hub, token) = (hub.clone(), token.clone());
                if hub.clients() >= max_clients {
                    hub.metrics.refuse("busy");
                    incoming.refuse();
                    continue;
                }
                tokio::spawn(async move {
                    match incoming.await {
                        Ok(conn) => serve_client(conn, hub, &token).await,
                        Err(e) => {
                            hub.metrics.refuse("handshake");
                            tracing::debug!(error = %e, "tail handshake failed");
                        }
                    }
                });
            }
        });
        tracing::info!(%listen, "live tail listening (QUIC)");
        Ok(Some(Self { endpoint, task }))
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.endpoint.local_addr()?)
    }

    /// Closes every connection and stops accepting.
    pub async fn close(self) {
        self.endpoint.close(0u32.into(), b"server shutting down");
        self.task.abort();
        self.endpoint.wait_idle().await;
    }
}

/// QUIC transport settings of both ends.
pub(crate) fn transport() -> quinn::TransportConfig {
    let mut t = quinn::TransportConfig::default();
    t.keep_alive_interval(Some(Duration::from_secs(5)));
    t.max_idle_timeout(Some(quinn::VarInt::from_u32(30_000).into()));
    t
}

/// Compares tokens in time independent of where they differ.
fn token_ok(given: &str, want: &str) -> bool {
    let (a, b) = (given.as_bytes(), want.as_bytes());
    let mut diff = u8::from(a.len() != b.len());
    for (i, y) in b.iter().enumerate() {
        diff |= a.get(i).copied().unwrap_or(0) ^ y;
    }
    diff == 0
}

/// Reads one whole message from `recv` into `buf` (for the Hello).
async fn read_message(recv: &mut quinn::RecvStream, buf: &mut Vec<u8>) -> Result<Hello> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((m, _)) = proto::parse(buf)? {
            return match m {
                Message::Hello(h) => Ok(h),
                other => anyhow::bail!("expected hello, got {other:?}"),
            };
        }
        if buf.len() > 64 << 10 {
            anyhow::bail!("hello too large");
        }
        match recv.read(&mut chunk).await? {
            Some(n) => buf.extend_from_slice(&chunk[..n]),
            None => anyhow::bail!("stream ended before hello"),
        }
    }
}

struct Filters {
    bpf: Option<BpfFilter>,
    predicate: Option<RowPredicate>,
}

fn compile(hello: &Hello) -> Result<Filters, String> {
    let bpf = hello
        .filter
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .map(BpfFilter::compile)
        .transpose()
        .map_err(|e| format!("--filter: {e}"))?;
    let predicate = hello
        .where_sql
        .as_deref()
        .filter(|w| !w.trim().is_empty())
        .map(RowPredicate::compile)
        .transpose()
        .map_err(|e| format!("--where: {e}"))?;
    Ok(Filters { bpf, predicate })
}

async fn send_welcome(send: &mut quinn::SendStream, error: Option<String>) -> Result<()> {
    let mut buf = Vec::new();
    Message::Welcome(Welcome { error }).encode(&mut buf);
    send.write_all(&buf).await?;
    Ok(())
}

async fn serve_client(conn: quinn::Connection, hub: Hub, token: &str) {
    let peer = conn.remote_address();
    let (mut send, mut recv) = match tokio::time::timeout(HELLO_TIMEOUT, conn.accept_bi()).await {
        Ok(Ok(s)) => s,
        _ => {
            hub.metrics.refuse("bad_request");
            conn.close(1u32.into(), b"no request");
            return;
        }
    };
    let mut buf = Vec::new();
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, read_message(&mut recv, &mut buf)).await {
        Ok(Ok(h)) => h,
        _ => {
            hub.metrics.refuse("bad_request");
            conn.close(1u32.into(), b"bad request");
            return;
        }
    };
    if !token_ok(&hello.token, token) {
        hub.metrics.refuse("unauthorized");
        tracing::warn!(%peer, "live tail client refused: wrong token");
        let _ = send_welcome(&mut send, Some("unauthorized: wrong token".into())).await;
        let _ = send.finish();
        let _ = tokio::time::timeout(Duration::from_secs(2), send.stopped()).await;
        conn.close(2u32.into(), b"unauthorized");
        return;
    }
    let filters = match compile(&hello) {
        Ok(f) => f,
        Err(why) => {
            hub.metrics.refuse("bad_request");
            let _ = send_welcome(&mut send, Some(why)).await;
            let _ = send.finish();
            let _ = tokio::time::timeout(Duration::from_secs(2), send.stopped()).await;
            conn.close(1u32.into(), b"bad request");
            return;
        }
    };
    if send_welcome(&mut send, None).await.is_err() {
        return;
    }
    hub.metrics.accepted.inc();
    hub.metrics.clients.inc();
    tracing::info!(%peer, filter = ?hello.filter, r#where = ?hello.where_sql, "live tail client attached");
    let (slot, rx) = hub.attach();
    let result = stream_to(&mut send, &conn, rx, &slot, &filters, &hub).await;
    hub.detach(&slot);
    hub.metrics.clients.dec();
    tracing::info!(%peer, dropped = slot.dropped.load(Ordering::Relaxed), result = ?result.err(), "live tail client left");
    conn.close(0u32.into(), b"bye");
}

async fn stream_to(
    send: &mut quinn::SendStream,
    conn: &quinn::Connection,
    mut rx: tokio::sync::mpsc::Receiver<RecordBatch>,
    slot: &Slot,
    filters: &Filters,
    hub: &Hub,
) -> Result<()> {
    let mut interfaces: HashMap<(Option<String>, Option<i32>), u32> = HashMap::new();
    let mut buf = Vec::with_capacity(256 << 10);
    let mut told = 0u64;
    let mut tick = tokio::time::interval(DROPPED_NOTICE_EVERY);
    loop {
        tokio::select! {
            batch = rx.recv() => {
                let Some(batch) = batch else { return Ok(()) };
                buf.clear();
                let sent = encode_batch(&batch, filters, &mut interfaces, &mut buf)?;
                if !buf.is_empty() {
                    send.write_all(&buf).await?;
                }
                hub.metrics.packets_sent.inc_by(sent);
            }
            _ = tick.tick() => {}
            e = conn.closed() => return Err(e.into()),
        }
        let dropped = slot.dropped.load(Ordering::Relaxed);
        if dropped != told {
            buf.clear();
            Message::Dropped { total: dropped }.encode(&mut buf);
            send.write_all(&buf).await?;
            told = dropped;
        }
    }
}

/// Encodes the rows of `batch` that pass the filters; returns how many.
fn encode_batch(
    batch: &RecordBatch,
    filters: &Filters,
    interfaces: &mut HashMap<(Option<String>, Option<i32>), u32>,
    buf: &mut Vec<u8>,
) -> Result<u64> {
    let filtered;
    let batch = match &filters.predicate {
        Some(p) => {
            filtered = p.filter(batch)?;
            &filtered
        }
        None => batch,
    };
    let rows = FrameColumns::of(batch)?;
    let mut sent = 0;
    for i in 0..rows.len() {
        let r = rows.row(i);
        if filters
            .bpf
            .as_ref()
            .is_some_and(|f| !f.matches(r.frame, r.wire_len))
        {
            continue;
        }
        let key = (r.mirror_source.map(str::to_owned), r.vni);
        let next = interfaces.len() as u32;
        let iface = match interfaces.get(&key) {
            Some(&id) => id,
            None => {
                let (name, description) = interface_names(r.mirror_source, r.vni);
                Message::Interface {
                    id: next,
                    name: &name,
                    description: &description,
                }
                .encode(buf);
                interfaces.insert(key, next);
                next
            }
        };
        Message::Packet {
            iface,
            ts_us: r.ts_us,
            wire_len: r.wire_len,
            frame: r.frame,
        }
        .encode(buf);
        sent += 1;
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(token_ok("0123456789abcdef", "0123456789abcdef"));
        assert!(!token_ok("0123456789abcdeX", "0123456789abcdef"));
        assert!(!token_ok("0123456789abcdef0", "0123456789abcdef"));
        assert!(!token_ok("0123456789abcde", "0123456789abcdef"));
        assert!(!token_ok("", "0123456789abcdef"));
    }
}
