//! Renewal without restart: the server certificate and key, the client CAs
//! and the CRLs are read again when one of their files changes (looked at
//! every `tls.reload_check_ms`) or on SIGHUP. New material replaces the old in
//! one step — a handshake uses either, never a mix; open connections keep
//! theirs. Material that does not load (a half-written file, a CRL that does
//! not parse) leaves the old in place and says why, in the log and in
//! `samplan_tls_reloads_total{outcome="failed"}`. Organisations' JWKS files
//! are read again on their own whenever they change (see `identity`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::config::TlsConfig;
use crate::tls::{self, TlsMaterial};

/// Reloads of the TLS material, by `outcome` (`ok`, `failed`).
pub const TLS_RELOADS: &str = "samplan_tls_reloads_total";

/// The hub's rustls configuration as it stands: the latest that loaded.
pub type CurrentTls = watch::Receiver<Arc<rustls::ServerConfig>>;

/// Reads the files `config` names and builds the rustls configuration.
pub fn load(config: &TlsConfig) -> anyhow::Result<rustls::ServerConfig> {
    let read = |path: &PathBuf| std::fs::read(path).with_context(|| format!("reading {}", path.display()));
    tls::server_config(&TlsMaterial {
        certificate_pem: read(&config.certificate)?,
        key_pem: read(&config.private_key)?,
        client_ca_pem: read(&config.client_ca)?,
        client_crl_pems: config.client_crls.iter().map(read).collect::<anyhow::Result<_>>()?,
    })
}

/// Loads the material now (an error if it does not load: the hub cannot
/// start without it), then keeps it current until `stop` is cancelled.
pub fn watch(config: TlsConfig, stop: CancellationToken) -> anyhow::Result<CurrentTls> {
    // Listening for SIGHUP from here on (its default would end the process),
    // and noting the files before reading them, so that no change is missed.
    let mut hangup = Hangups::new();
    let mut seen = stamps(&config);
    let (tx, rx) = watch::channel(Arc::new(load(&config)?));
    tokio::spawn(async move {
        let every = Duration::from_millis(config.reload_check_ms);
        loop {
            let asked = tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => false,
                () = hangup.next() => true,
            };
            let now = stamps(&config);
            if !asked && now == seen {
                continue;
            }
            seen = now;
            match load(&config) {
                Ok(loaded) => {
                    tx.send_replace(Arc::new(loaded));
                    metrics::counter!(TLS_RELOADS, "outcome" => "ok").increment(1);
                    tracing::info!(on_signal = asked, "TLS certificate, client CAs and CRLs reloaded");
                }
                Err(error) => {
                    metrics::counter!(TLS_RELOADS, "outcome" => "failed").increment(1);
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "TLS material did not load; keeping what was loaded before"
                    );
                }
            }
        }
    });
    Ok(rx)
}

/// What tells cheaply that a file changed: its modification time and size,
/// and where the system has them its inode and change time (a file renamed
/// over the old one, or copied with its times kept).
type Stamp = (SystemTime, u64, u64, i64);

fn stamps(config: &TlsConfig) -> Vec<Option<Stamp>> {
    let files = [&config.certificate, &config.private_key, &config.client_ca].into_iter().chain(&config.client_crls);
    files.map(|path| std::fs::metadata(path).ok().map(|m| stamp(&m))).collect()
}

fn stamp(m: &std::fs::Metadata) -> Stamp {
    let modified = m.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        (modified, m.len(), m.ino(), m.ctime_nsec() + m.ctime() * 1_000_000_000)
    }
    #[cfg(not(unix))]
    {
        (modified, m.len(), 0, 0)
    }
}

/// SIGHUP, where there is such a thing.
struct Hangups(#[cfg(unix)] Option<tokio::signal::unix::Signal>);

impl Hangups {
    fn new() -> Self {
        #[cfg(unix)]
        let signal = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .inspect_err(|error| tracing::warn!(%error, "cannot listen for SIGHUP; TLS files are still watched"))
            .ok();
        Self(
            #[cfg(unix)]
            signal,
        )
    }

    /// The next SIGHUP (never, if none can come).
    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = &mut self.0 {
            if signal.recv().await.is_some() {
                return;
            }
            self.0 = None;
        }
        std::future::pending::<()>().await;
    }
}
