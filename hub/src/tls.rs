//! Mutual TLS, built on rustls directly (tonic's built-in TLS has no
//! handshake timeout): TLS 1.3 only, a client certificate from one of the
//! configured CAs is mandatory, and the client's organisation identifier is
//! read once per connection and attached to every request on it.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::Context as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use samplan_services::access::PeerIdentity;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::Connected;

/// The one crypto provider of the hub.
pub fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn read_certificates(pem: &[u8]) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = rustls_pemfile::certs(&mut &*pem).collect::<Result<Vec<_>, _>>()?;
    anyhow::ensure!(!certs.is_empty(), "no certificate found in PEM");
    Ok(certs)
}

pub fn read_private_key(pem: &[u8]) -> anyhow::Result<PrivateKeyDer<'static>> {
    rustls_pemfile::private_key(&mut &*pem)?.context("no private key found in PEM")
}

/// The PEM inputs of the hub's TLS configuration.
#[derive(Clone, Debug)]
pub struct TlsMaterial {
    pub certificate_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    pub client_ca_pem: Vec<u8>,
    /// One PEM document per CRL file.
    pub client_crl_pems: Vec<Vec<u8>>,
}

/// The CA certificates of a PEM document, as rustls trusts them.
pub fn roots(pem: &[u8]) -> anyhow::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for ca in read_certificates(pem)? {
        roots.add(ca)?;
    }
    Ok(roots)
}

/// The configuration of the hub as a client of a server whose certificate
/// `ca_pem` signed (PostgreSQL): TLS 1.2 or 1.3, the server's certificate and
/// host name checked, no client certificate.
pub fn client_config(ca_pem: &[u8]) -> anyhow::Result<rustls::ClientConfig> {
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca_pem)?)
        .with_no_client_auth())
}

/// The hub's rustls configuration: TLS 1.3, mandatory client certificates
/// checked against the CRLs (expired CRLs refused), HTTP/2.
pub fn server_config(material: &TlsMaterial) -> anyhow::Result<rustls::ServerConfig> {
    let provider = provider();
    let roots = roots(&material.client_ca_pem).context("client CA")?;
    let mut crls = Vec::new();
    for pem in &material.client_crl_pems {
        let found = rustls_pemfile::crls(&mut pem.as_slice()).collect::<Result<Vec<_>, _>>().context("client CRL")?;
        anyhow::ensure!(!found.is_empty(), "no CRL found in a client_crls file");
        crls.extend(found);
    }
    let mut builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    if crls.is_empty() {
        tracing::warn!("no client CRLs configured: revoked client certificates are accepted");
    } else {
        builder = builder.with_crls(crls).enforce_revocation_expiration();
    }
    let verifier = builder.build().context("building the client-certificate verifier")?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            read_certificates(&material.certificate_pem).context("server certificate")?,
            read_private_key(&material.key_pem).context("server key")?,
        )?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// The organisation identifier (OID 2.5.4.97) in a certificate's subject.
pub fn organisation_identifier(certificate: &CertificateDer<'_>) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(certificate.as_ref()).ok()?;
    let oid = x509_parser::der_parser::oid!(2.5.4.97);
    cert.subject()
        .iter_attributes()
        .find(|attribute| attribute.attr_type() == &oid)
        .and_then(|attribute| attribute.as_str().ok())
        .map(str::to_owned)
}

/// How long a connection may take to authenticate, and to stay silent after.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub handshake: Duration,
    pub idle: Duration,
}

/// A TLS connection with its client's identity. Reading from it fails once
/// nothing has arrived for the idle timeout, which closes the connection.
pub struct MtlsStream {
    inner: TlsStream<TcpStream>,
    peer: PeerIdentity,
    idle: Duration,
    /// When something last arrived.
    heard: Instant,
    /// Wakes the connection when it may have been idle for too long.
    silence: Pin<Box<Sleep>>,
}

impl MtlsStream {
    fn new(inner: TlsStream<TcpStream>, peer: PeerIdentity, idle: Duration) -> Self {
        let heard = Instant::now();
        Self { inner, peer, idle, heard, silence: Box::pin(tokio::time::sleep_until(heard + idle)) }
    }

    /// Whether nothing has arrived for the idle timeout; registers for a
    /// wake-up when that may next be so.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> bool {
        while self.silence.as_mut().poll(cx).is_ready() {
            let deadline = self.heard + self.idle;
            if deadline <= Instant::now() {
                return true;
            }
            self.silence.as_mut().reset(deadline);
        }
        false
    }
}

impl Connected for MtlsStream {
    type ConnectInfo = PeerIdentity;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.peer.clone()
    }
}

impl AsyncRead for MtlsStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                self.heard = Instant::now();
                Poll::Ready(Ok(()))
            }
            Poll::Pending if self.poll_idle(cx) => {
                metrics::counter!(samplan_services::metrics::IDLE_CONNECTIONS_CLOSED).increment(1);
                tracing::info!(idle_ms = self.idle.as_millis() as u64, "closing a connection that sent nothing");
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle")))
            }
            other => other,
        }
    }
}

impl AsyncWrite for MtlsStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Accepts TCP connections, runs each TLS handshake (bounded by `timeout`) on
/// its own task with the configuration current when it began, and hands
/// finished connections to the gRPC server.
pub fn incoming(
    listener: TcpListener,
    config: crate::reload::CurrentTls,
    timeouts: Timeouts,
    shutdown: CancellationToken,
) -> tokio_stream::wrappers::ReceiverStream<io::Result<MtlsStream>> {
    let (tx, rx) = mpsc::channel(128);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let (acceptor, tx) = (TlsAcceptor::from(config.borrow().clone()), tx.clone());
            tokio::spawn(async move {
                let handshake = tokio::time::timeout(timeouts.handshake, acceptor.accept(tcp)).await;
                let outcome = match &handshake {
                    Ok(Ok(_)) => "ok",
                    Ok(Err(_)) => "failed",
                    Err(_) => "timeout",
                };
                metrics::counter!(samplan_services::metrics::TLS_HANDSHAKES, "outcome" => outcome).increment(1);
                match handshake {
                    Ok(Ok(stream)) => {
                        let peer = PeerIdentity {
                            organisation_identifier: stream
                                .get_ref()
                                .1
                                .peer_certificates()
                                .and_then(|chain| chain.first())
                                .and_then(organisation_identifier),
                        };
                        let _ = tx.send(Ok(MtlsStream::new(stream, peer, timeouts.idle))).await;
                    }
                    Ok(Err(error)) => tracing::info!(%error, "tls handshake refused"),
                    Err(_) => {
                        tracing::info!(timeout_ms = timeouts.handshake.as_millis() as u64, "tls handshake timed out")
                    }
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}
