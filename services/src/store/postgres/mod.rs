//! The PostgreSQL engine: the same log as sled's, in tables (see
//! `0001_log.sql`), shared by several hubs.
//!
//! - **Writes**: each hub has one writer ([`round`]); a round of queued jobs
//!   is one transaction that first locks the head row, reads the plans its
//!   jobs are about, has each job decided by the shared application step, and
//!   writes events, projections, indexes, audit records and the new head. The
//!   head lock is held until commit, so rounds of all hubs commit one after
//!   another: global positions and the audit chain are gap-free in commit
//!   order, and no reader sees position N+1 before N. A job is answered only
//!   after its transaction committed (with `synchronous_commit` on, that is
//!   after the WAL is flushed, and on the synchronous standby if one is set).
//! - **Reads** go to the database through a pool; nothing is cached, so what
//!   another hub wrote is seen at once.
//! - **Following**: each commit sends `NOTIFY samplan_log` with its last
//!   position; every hub listens ([`listen`]) and advances its durable
//!   position, which wakes its subscriptions.
//!
//! The client is `tokio-postgres` (async on the hub's tokio runtime,
//! pipelining, `LISTEN`, multi-host connection strings with
//! `target_session_attrs=read-write` for failover) with `deadpool-postgres`
//! as the pool, which replaces connections that broke (say, at a failover).

mod backup;
mod listen;
mod migrations;
mod reads;
mod round;
mod verify;
mod write;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::sync::{mpsc, watch};

pub use migrations::{MIGRATIONS, Migrated, Migration, migrate};

use super::audit::Checkpoint;
use super::{Error, Started, StoreOptions, encode};
use crate::domain::PlanId;

/// Where the PostgreSQL store is, and how to reach it.
#[derive(Clone, Debug)]
pub struct Database {
    /// A libpq connection string or URL; for failover, several hosts with
    /// `target_session_attrs=read-write`.
    pub url: String,
    /// Connections this hub keeps: one for its writer, the rest for reads
    /// (and one more for following the other hubs' commits).
    pub pool_size: usize,
    /// How long to wait for a connection before a call is answered UNAVAILABLE.
    pub connect_timeout: Duration,
    /// TLS, required, with the server's certificate and host name checked
    /// as this configuration says; `None`: connections without TLS.
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl Database {
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), pool_size: 8, connect_timeout: Duration::from_secs(5), tls: None }
    }

    /// A pool of up to `size` connections.
    fn pool(&self, config: &tokio_postgres::Config, tls: &Tls, size: usize) -> Result<Pool, Error> {
        let recycling = ManagerConfig { recycling_method: RecyclingMethod::Fast };
        Pool::builder(Manager::from_config(config.clone(), tls.clone(), recycling))
            .max_size(size)
            .wait_timeout(Some(self.connect_timeout))
            .create_timeout(Some(self.connect_timeout))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| Error::Storage(format!("the PostgreSQL pool: {e}")))
    }

    /// The connection settings and the connector: TLS is required when it
    /// is configured, and not used otherwise. A dead server or network is
    /// noticed within seconds (TCP keepalives and a user timeout), each host
    /// of a list gets its share of the connect timeout (so a silent first
    /// host leaves time for the next), and the server ends a session left
    /// idle inside a transaction — a hub cut off while it holds the head —
    /// so that the other hubs can go on.
    fn connector(&self) -> Result<(tokio_postgres::Config, Tls), Error> {
        let mut config: tokio_postgres::Config = self
            .url
            .parse()
            .map_err(|e| Error::Storage(format!("the PostgreSQL connection string is invalid: {e}")))?;
        if config.get_connect_timeout().is_none() {
            let hosts = u32::try_from(config.get_hosts().len()).unwrap_or(1).max(1);
            config.connect_timeout(self.connect_timeout / hosts);
        }
        config.keepalives(true).keepalives_idle(Duration::from_secs(5)).tcp_user_timeout(Duration::from_secs(15));
        if config.get_options().is_none() {
            config.options("-c idle_in_transaction_session_timeout=15000");
        }
        let tls = match &self.tls {
            Some(tls) => {
                config.ssl_mode(tokio_postgres::config::SslMode::Require);
                Tls::new(rustls::ClientConfig::clone(tls))
            }
            None => {
                config.ssl_mode(tokio_postgres::config::SslMode::Disable);
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                let never = rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(|e| Error::Storage(format!("TLS settings: {e}")))?
                    .with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth();
                Tls::new(never)
            }
        };
        Ok((config, tls))
    }
}

/// The connector every PostgreSQL connection of the hub is made with.
type Tls = tokio_postgres_rustls::MakeRustlsConnect;

pub(in crate::store) struct PgEngine {
    pool: Pool,
}

/// Connects, migrates the schema, and starts this hub's writer and listener.
pub(in crate::store) async fn open(options: StoreOptions, database: Database) -> Result<(PgEngine, Started), Error> {
    let (config, tls) = database.connector()?;
    // The writer has a connection of its own: reads, a backup or a verify never keep it waiting.
    let pool = database.pool(&config, &tls, database.pool_size.saturating_sub(1).max(1))?;
    let writer_pool = database.pool(&config, &tls, 1)?;
    // At start a database that cannot be reached is an error with its cause (an address, a password, a certificate).
    let mut client =
        pool.get().await.map_err(|e| Error::Storage(format!("cannot connect to PostgreSQL: {}", causes(&e))))?;
    let migrated = migrate(&mut client).await?;
    if migrated.from != migrated.to {
        tracing::info!(from = migrated.from, to = migrated.to, "migrated the PostgreSQL schema");
    }
    let empty = Checkpoint::sign(&options.checkpoint_key, 0, [0; 32]);
    client
        .execute(
            "INSERT INTO head (position, audit_sequence, audit_hash, checkpoint) VALUES (0, 0, $1, $2)
             ON CONFLICT DO NOTHING",
            &[&[0u8; 32].as_slice(), &encode(&empty)?],
        )
        .await
        .map_err(failed)?;
    let position = head_position(&client).await?;
    drop(client);
    let (durable_tx, durable) = watch::channel(position);
    let durable_tx = Arc::new(durable_tx);
    let (jobs, rx) = mpsc::channel(options.queue_capacity.max(1));
    let started = Started::new(jobs, durable);
    listen::spawn(config, tls, durable_tx.clone());
    let writer = round::Writer { pool: writer_pool, options, durable: durable_tx, stats: started.stats.clone() };
    tokio::spawn(writer.run(rx));
    Ok((PgEngine { pool }, started))
}

/// The advisory lock of the deadline watcher's turn ("WATCHER" in ASCII).
const WATCHER_LOCK: i64 = 0x0057_4154_4348_4552;

/// A connection that holds the deadline watcher's advisory lock; dropping it
/// closes the connection, which releases the lock.
pub struct Turn(#[allow(dead_code)] deadpool_postgres::ClientWrapper);

impl PgEngine {
    /// The watcher's turn, unless another hub has it.
    pub(in crate::store) async fn watcher_turn(&self) -> Result<Option<Turn>, Error> {
        let client = self.pool.get().await.map_err(unreachable)?;
        let row = client.query_one("SELECT pg_try_advisory_lock($1)", &[&WATCHER_LOCK]).await.map_err(failed)?;
        if !row.get::<_, bool>(0) {
            return Ok(None);
        }
        // Taken out of the pool, so that the lock goes with the connection.
        Ok(Some(Turn(deadpool_postgres::Object::take(client))))
    }
}

/// The last global position committed.
async fn head_position(client: &tokio_postgres::Client) -> Result<u64, Error> {
    let row = client.query_one("SELECT position FROM head", &[]).await.map_err(failed)?;
    Ok(row.get::<_, i64>(0) as u64)
}

fn uuid(plan: PlanId) -> uuid::Uuid {
    uuid::Uuid::from_bytes(plan.0)
}

fn plan_id(uuid: uuid::Uuid) -> PlanId {
    PlanId(uuid.into_bytes())
}

/// A count or position as PostgreSQL's `bigint`.
fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// An error with the errors that caused it, as the operator needs to read
/// it (the client library's own message leaves out, say, why TLS failed);
/// the server's own errors as [`server_error`] tells them.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let told =
            cause.downcast_ref::<tokio_postgres::error::DbError>().map_or_else(|| cause.to_string(), server_error);
        text = format!("{text}: {told}");
        source = cause.source();
    }
    text
}

/// A database that cannot be reached is unavailable for now, not broken:
/// the caller may retry, here or on another hub.
fn unreachable(error: deadpool_postgres::PoolError) -> Error {
    tracing::warn!(error = causes(&error), "no connection to PostgreSQL");
    Error::Unavailable
}

/// A statement that failed. A lost connection (closed, or an I/O error such
/// as a timeout), a server shutting down or refusing writes (a failover, a
/// restart: SQLSTATE classes 08, 57, 53 and 25006), or a conflict (class 40)
/// is UNAVAILABLE, for the caller to retry; anything else (a bug, a value
/// that does not convert, a constraint broken) is a storage error.
fn failed(error: tokio_postgres::Error) -> Error {
    let io = std::error::Error::source(&error).is_some_and(|source| source.is::<std::io::Error>());
    let transient = error.is_closed()
        || io
        || error.code().is_some_and(|code| {
            let code = code.code();
            ["08", "57", "53", "40"].iter().any(|class| code.starts_with(class)) || code == "25006"
        });
    if transient {
        tracing::warn!(error = describe(&error), "PostgreSQL is unavailable for now");
        Error::Unavailable
    } else {
        Error::Storage(format!("PostgreSQL: {}", describe(&error)))
    }
}

/// An error as it may be logged: for the server's errors only the SQLSTATE,
/// the message and the constraint — never the DETAIL, which can quote a
/// row (and with it a plan's text).
fn describe(error: &tokio_postgres::Error) -> String {
    error.as_db_error().map_or_else(|| causes(error), server_error)
}

/// The server's error as it may be logged: SQLSTATE, message, constraint.
fn server_error(db: &tokio_postgres::error::DbError) -> String {
    let constraint = db.constraint().map(|c| format!(" (constraint {c})")).unwrap_or_default();
    format!("SQLSTATE {}: {}{constraint}", db.code().code(), db.message())
}

/// A read-only transaction on one consistent snapshot (repeatable read), for
/// reading whole tables that rounds go on writing: `verify` and backups.
pub(super) async fn snapshot(
    client: &mut deadpool_postgres::Client,
) -> Result<deadpool_postgres::Transaction<'_>, Error> {
    client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(failed)
}

/// The rows of a query without parameters, as they arrive.
pub(super) async fn stream(
    txn: &tokio_postgres::Transaction<'_>,
    sql: &str,
) -> Result<impl futures::Stream<Item = Result<tokio_postgres::Row, tokio_postgres::Error>> + Unpin, Error> {
    let rows = txn.query_raw(sql, std::iter::empty::<i32>()).await.map_err(failed)?;
    Ok(Box::pin(rows))
}
