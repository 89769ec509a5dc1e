//! `[store]`: which engine keeps the log, and how to reach PostgreSQL.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sled` (the default: embedded, in `data_dir`, one hub) or `postgres`
    /// (several hubs on one database, with a standby for failover).
    /// Override: `SAMPLAN_STORE_ENGINE`.
    #[serde(default)]
    pub engine: EngineName,
    #[serde(default)]
    pub postgres: PostgresConfig,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineName {
    #[default]
    Sled,
    Postgres,
}

/// `[store.postgres]`, read when `engine = "postgres"`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresConfig {
    /// A libpq connection string (`host=db1,db2 port=5432 user=samplan
    /// dbname=samplan target_session_attrs=read-write`) or URL. Name every
    /// host that may become primary, with `target_session_attrs=read-write`,
    /// for the hub to find the new primary after a failover. Keep the
    /// password out of it: `password_file`. Override: `SAMPLAN_POSTGRES_URL`.
    #[serde(default)]
    pub url: Option<String>,
    /// A file holding the database password (one line; mode 0400).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The CA certificate(s) (PEM) that signed the database servers'
    /// certificates. Set, every connection uses TLS (required, whatever the
    /// url's sslmode), and the server's certificate must carry the host name
    /// the url connects to. Unset, connections are not encrypted: only for a
    /// database on the same host or a network nothing else reaches.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Connections the hub keeps: one for its writer, the rest for reads.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// How long to wait for a connection before a call hears UNAVAILABLE.
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            url: None,
            password_file: None,
            ca_file: None,
            pool_size: default_pool_size(),
            connect_timeout_ms: default_connect_timeout_ms(),
        }
    }
}

fn default_pool_size() -> usize {
    8
}
fn default_connect_timeout_ms() -> u64 {
    5_000
}

impl StoreConfig {
    pub(super) fn override_from(&mut self, env: &impl Fn(&str) -> Option<String>) -> anyhow::Result<()> {
        if let Some(engine) = env("SAMPLAN_STORE_ENGINE") {
            self.engine = match engine.as_str() {
                "sled" => EngineName::Sled,
                "postgres" => EngineName::Postgres,
                _ => bail!("SAMPLAN_STORE_ENGINE must be sled or postgres"),
            };
        }
        if let Some(url) = env("SAMPLAN_POSTGRES_URL") {
            self.postgres.url = Some(url).filter(|url| !url.is_empty());
        }
        Ok(())
    }

    pub(super) fn resolve(&mut self, base: &Path) {
        for path in [&mut self.postgres.password_file, &mut self.postgres.ca_file].into_iter().flatten() {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }

    pub(super) fn validate(&self) -> anyhow::Result<()> {
        let pg = &self.postgres;
        if !(2..=256).contains(&pg.pool_size) {
            bail!("store.postgres.pool_size must be between 2 and 256");
        }
        if !(100..=120_000).contains(&pg.connect_timeout_ms) {
            bail!("store.postgres.connect_timeout_ms must be between 100 and 120000");
        }
        match (&pg.url, self.engine) {
            (None, EngineName::Postgres) => {
                bail!("store.engine is postgres but store.postgres.url is not set (or SAMPLAN_POSTGRES_URL)")
            }
            (Some(url), _) => {
                let parsed: tokio_postgres::Config = url
                    .parse()
                    .map_err(|e| anyhow::anyhow!("store.postgres.url is not a PostgreSQL connection string: {e}"))?;
                if parsed.get_password().is_some() && pg.password_file.is_some() {
                    bail!("store.postgres.url holds a password and password_file is set too: keep only password_file");
                }
                match (parsed.get_ssl_mode(), &pg.ca_file) {
                    (tokio_postgres::config::SslMode::Require, None) => bail!(
                        "store.postgres.url asks for sslmode=require: set store.postgres.ca_file to the CA that signed the database's certificate"
                    ),
                    (tokio_postgres::config::SslMode::Disable, Some(_)) => {
                        bail!(
                            "store.postgres.url says sslmode=disable but store.postgres.ca_file is set: TLS is required then"
                        )
                    }
                    _ => Ok(()),
                }
            }
            (None, EngineName::Sled) => Ok(()),
        }
    }

    /// The database to connect to, with the password read from its file.
    pub fn database(&self) -> anyhow::Result<samplan_services::store::postgres::Database> {
        let pg = &self.postgres;
        let mut url = pg.url.clone().context("store.postgres.url is not set")?;
        if let Some(file) = &pg.password_file {
            let password = std::fs::read_to_string(file)
                .with_context(|| format!("reading store.postgres.password_file {}", file.display()))?;
            let password = password.trim_end_matches(['\r', '\n']);
            // A key=value string takes one more pair; quoting keeps any character.
            let quoted = password.replace('\\', "\\\\").replace('\'', "\\'");
            anyhow::ensure!(!url.contains("://"), "with password_file, write store.postgres.url as key=value pairs");
            url = format!("{url} password='{quoted}'");
        }
        let mut database = samplan_services::store::postgres::Database::new(url);
        database.pool_size = pg.pool_size;
        database.connect_timeout = Duration::from_millis(pg.connect_timeout_ms);
        if let Some(file) = &pg.ca_file {
            let pem =
                std::fs::read(file).with_context(|| format!("reading store.postgres.ca_file {}", file.display()))?;
            let tls = crate::tls::client_config(&pem)
                .with_context(|| format!("store.postgres.ca_file {} holds no usable CA certificate", file.display()))?;
            database.tls = Some(std::sync::Arc::new(tls));
        }
        Ok(database)
    }
}

#[cfg(test)]
mod tests {
    use super::StoreConfig;

    /// What `validate` says of a `[store]` table, or "ok".
    fn check(table: &str) -> String {
        let config: StoreConfig = toml::from_str(table).expect("parses");
        config.validate().map_or_else(|e| e.to_string(), |()| "ok".to_owned())
    }

    #[test]
    fn postgres_settings_are_checked_before_the_hub_starts() {
        assert_eq!(check(""), "ok", "sled needs nothing");
        assert!(check("engine = \"postgres\"").contains("store.postgres.url is not set"));
        let url = |url: &str, more: &str| format!("engine = \"postgres\"\n[postgres]\nurl = \"{url}\"\n{more}");
        assert_eq!(check(&url("host=db1,db2 user=samplan target_session_attrs=read-write", "")), "ok");
        assert!(check(&url("host=db1 sslmode=require", "")).contains("set store.postgres.ca_file"));
        assert!(check(&url("host=db1 sslmode=disable", "ca_file = \"ca.pem\"")).contains("TLS is required"));
        assert_eq!(check(&url("host=db1", "ca_file = \"ca.pem\"")), "ok");
        assert!(check(&url("host=db1 password=x", "password_file = \"pw\"")).contains("keep only password_file"));
        assert!(check(&url("host=db1 nonsense=1", "")).contains("not a PostgreSQL connection string"));
        assert!(check(&url("host=db1", "pool_size = 1")).contains("pool_size"));
    }
}
