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
        if let Some(path) = &mut self.postgres.password_file
            && path.is_relative()
        {
            *path = base.join(&*path);
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
                Ok(())
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
        Ok(database)
    }
}
