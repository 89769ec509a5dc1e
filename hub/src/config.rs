//! The hub's configuration: a TOML file plus `SAMPLAN_*` environment
//! overrides, parsed into typed, validated values. Unknown keys are errors.
//! Relative paths are taken relative to the configuration file's folder.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use samplan_services::access::{Authentication, Organisation, Registry};
use samplan_services::assertion::{AssertionSettings, IdentityProvider, Verifier};
use samplan_services::domain::{OrganisationId, Sector};
use samplan_services::subscription::SubscriptionOptions;
use serde::{Deserialize, Serialize};

mod deadlines;
mod indicators;
mod limits;
mod store;
mod telemetry;
pub use deadlines::{DeadlineConfig, DeadlineRuleConfig, RuleBasisName};
pub use indicators::{IndicatorConfig, LEAST_MIN_COUNT, geography};
pub use limits::Limits;
pub use store::{EngineName, PostgresConfig, StoreConfig};
pub use telemetry::TelemetryConfig;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. Override: `SAMPLAN_LISTEN`.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Folder of the sled database (`store.engine = "sled"`). Override: `SAMPLAN_DATA_DIR`.
    pub data_dir: PathBuf,
    /// Which engine keeps the log: sled (the default) or PostgreSQL.
    #[serde(default)]
    pub store: StoreConfig,
    /// File with the 32-byte secret (64 hex characters) that keys citizen pseudonyms.
    pub pseudonym_key_file: PathBuf,
    /// `pretty` (development) or `json` (production). Override: `SAMPLAN_LOG_FORMAT`.
    #[serde(default)]
    pub log_format: LogFormat,
    pub tls: TlsConfig,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub access: AccessConfig,
    #[serde(default)]
    pub identity: IdentityConfig,
    #[serde(default)]
    pub subscriptions: SubscriptionConfig,
    #[serde(default)]
    pub deadlines: DeadlineConfig,
    #[serde(default)]
    pub admin: AdminConfig,
    #[serde(default)]
    pub backup: BackupConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    #[serde(default)]
    pub indicators: IndicatorConfig,
    /// The organisations allowed to call the hub.
    #[serde(default)]
    pub organisations: Vec<OrganisationConfig>,
    /// The secret read from `pseudonym_key_file` when the configuration is loaded.
    #[serde(skip)]
    secret: Secret,
}

/// The hub's secret: keys citizen pseudonyms and (derived) the audit checkpoint.
#[derive(Clone, Default)]
pub struct Secret(pub [u8; 32]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain of the hub.
    pub certificate: PathBuf,
    /// PEM private key of the hub.
    pub private_key: PathBuf,
    /// PEM certificates of the CAs whose client certificates are accepted.
    pub client_ca: PathBuf,
    /// PEM CRLs of those CAs. A revoked client certificate is refused, and so is
    /// every certificate a CRL covers once the CRL is past its next update:
    /// renew CRLs in time. Empty means no revocation checking (development only).
    #[serde(default)]
    pub client_crls: Vec<PathBuf>,
    /// A client that has not finished its TLS handshake by then is dropped.
    #[serde(default = "default_handshake_timeout_ms")]
    pub handshake_timeout_ms: u64,
    /// How often the hub looks whether the files above changed, to load them
    /// again without a restart (SIGHUP loads them at once).
    #[serde(default = "default_reload_check_ms")]
    pub reload_check_ms: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessConfig {
    /// How long emergency access (værdispring) lasts, in hours (1 to 168).
    #[serde(default = "default_emergency_access_hours")]
    pub emergency_access_hours: u32,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self { emergency_access_hours: default_emergency_access_hours() }
    }
}

/// How the hub learns who acts for an organisation (see `docs/identity.md`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// `signed` (the default): every call carries a signed assertion of the
    /// organisation's identity provider. `development-headers`: the
    /// professional and role are taken from request headers as the calling
    /// system claims them — for development only; the hub warns at start-up.
    #[serde(default)]
    pub mode: IdentityMode,
    /// The audience (`aud`) every assertion must name: this hub.
    #[serde(default = "default_audience")]
    pub audience: String,
    /// Allowed difference between the hub's clock and the identity providers' (0 to 600 s).
    #[serde(default = "default_clock_skew_seconds")]
    pub clock_skew_seconds: u64,
    /// The longest an assertion may be valid, `exp - nbf` (60 s to 12 h).
    #[serde(default = "default_max_token_lifetime_seconds")]
    pub max_token_lifetime_seconds: u64,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            mode: IdentityMode::default(),
            audience: default_audience(),
            clock_skew_seconds: default_clock_skew_seconds(),
            max_token_lifetime_seconds: default_max_token_lifetime_seconds(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentityMode {
    #[default]
    Signed,
    DevelopmentHeaders,
}

fn default_audience() -> String {
    "samplan-hub".into()
}
fn default_clock_skew_seconds() -> u64 {
    60
}
fn default_max_token_lifetime_seconds() -> u64 {
    3600
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubscriptionConfig {
    /// An idle stream sends a heartbeat with its cursor this often (10 ms to 5 min).
    #[serde(default = "default_heartbeat_ms")]
    pub heartbeat_ms: u64,
    /// A stream whose client takes no message for this long is ended with its cursor.
    #[serde(default = "default_stall_timeout_ms")]
    pub stall_timeout_ms: u64,
    /// Messages the hub buffers per stream (2 to 65536).
    #[serde(default = "default_subscription_buffer")]
    pub buffer: usize,
    /// How long one audit record covers a stream's deliveries of one plan
    /// (0 to 1 h; 0 records every batch).
    #[serde(default = "default_audit_window_ms")]
    pub audit_window_ms: u64,
}

impl Default for SubscriptionConfig {
    fn default() -> Self {
        Self {
            heartbeat_ms: default_heartbeat_ms(),
            stall_timeout_ms: default_stall_timeout_ms(),
            buffer: default_subscription_buffer(),
            audit_window_ms: default_audit_window_ms(),
        }
    }
}

impl SubscriptionConfig {
    pub fn options(&self) -> SubscriptionOptions {
        SubscriptionOptions {
            heartbeat: Duration::from_millis(self.heartbeat_ms),
            stall_timeout: Duration::from_millis(self.stall_timeout_ms),
            buffer: self.buffer,
            audit_window: Duration::from_millis(self.audit_window_ms),
            ..SubscriptionOptions::default()
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganisationConfig {
    /// Stable id used in the API, e.g. `psykiatri-amager`.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// `REGIONAL_PSYCHIATRY`, `MUNICIPAL_SOCIAL`, `JOB_CENTRE`, `ADDICTION_SERVICE`, or `CITIZEN` for a
    /// citizen portal (its assertions name the citizen; see docs/identity.md).
    pub sector: SectorName,
    /// The organizationIdentifier (OID 2.5.4.97) in the organisation's client
    /// certificates, e.g. `NTRDK-29190925`. Renewed certificates keep it.
    pub certificate_identity: String,
    /// The issuer (`iss`) of the organisation's identity provider; every
    /// organisation has its own. Required in `signed` mode.
    #[serde(default)]
    pub issuer: String,
    /// The provider's verification keys as a JWKS file, read again whenever
    /// it changes (replace it atomically, by renaming). Required in `signed` mode.
    #[serde(default)]
    pub jwks_file: PathBuf,
    /// The region the organisation belongs to, for the indicators' grouping
    /// (e.g. `Region Hovedstaden`); indicators of one left out count as `unplaced`.
    #[serde(default)]
    pub region: Option<String>,
    /// Its municipality, for a municipal organisation (e.g. `København`):
    /// one municipality lies in one region.
    #[serde(default)]
    pub municipality: Option<String>,
}

impl OrganisationConfig {
    /// Its id, checked as the API takes ids.
    pub fn organisation_id(&self) -> anyhow::Result<OrganisationId> {
        OrganisationId::parse("id", &self.id).map_err(|e| anyhow::anyhow!("organisation {:?}: {e}", self.id))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SectorName {
    RegionalPsychiatry,
    MunicipalSocial,
    JobCentre,
    AddictionService,
    Citizen,
}

impl From<SectorName> for Sector {
    fn from(s: SectorName) -> Self {
        match s {
            SectorName::RegionalPsychiatry => Sector::RegionalPsychiatry,
            SectorName::MunicipalSocial => Sector::MunicipalSocial,
            SectorName::JobCentre => Sector::JobCentre,
            SectorName::AddictionService => Sector::AddictionService,
            SectorName::Citizen => Sector::Citizen,
        }
    }
}

/// The admin listener: `/livez`, `/readyz` and `/metrics` over plain HTTP,
/// for the supervisor's probes and Prometheus.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Serve it at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Its address: loopback by default; a management network at most, never
    /// where citizens' systems reach (it is not authenticated). Override: `SAMPLAN_ADMIN_LISTEN`.
    #[serde(default = "default_admin_listen")]
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self { enabled: true, listen: default_admin_listen() }
    }
}

/// Online backups (`samplan backup`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupConfig {
    /// The folder the hub writes backups to (created, mode 0700); another disk
    /// than `data_dir`'s, ideally. Override: `SAMPLAN_BACKUP_DIR`.
    #[serde(default = "default_backup_dir")]
    pub dir: PathBuf,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self { dir: default_backup_dir() }
    }
}

fn default_backup_dir() -> PathBuf {
    PathBuf::from("backups")
}
fn yes() -> bool {
    true
}
fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7444))
}
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7443))
}
fn default_handshake_timeout_ms() -> u64 {
    10_000
}
fn default_reload_check_ms() -> u64 {
    10_000
}
fn default_emergency_access_hours() -> u32 {
    24
}
fn default_heartbeat_ms() -> u64 {
    15_000
}
fn default_stall_timeout_ms() -> u64 {
    30_000
}
fn default_subscription_buffer() -> usize {
    256
}
fn default_audit_window_ms() -> u64 {
    60_000
}

impl Config {
    /// Reads `path`, applies overrides from `env` (a lookup such as
    /// `|k| std::env::var(k).ok()`), resolves relative paths and validates.
    pub fn load(path: &Path, env: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut config: Config = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if let Some(listen) = env("SAMPLAN_LISTEN") {
            config.listen = listen.parse().context("SAMPLAN_LISTEN must be an address like 0.0.0.0:7443")?;
        }
        if let Some(listen) = env("SAMPLAN_ADMIN_LISTEN") {
            config.admin.listen =
                listen.parse().context("SAMPLAN_ADMIN_LISTEN must be an address like 10.0.0.5:7444")?;
        }
        if let Some(dir) = env("SAMPLAN_DATA_DIR") {
            config.data_dir = dir.into();
        }
        if let Some(dir) = env("SAMPLAN_BACKUP_DIR") {
            config.backup.dir = dir.into();
        }
        if let Some(endpoint) = env("SAMPLAN_OTLP_ENDPOINT") {
            config.telemetry.otlp_endpoint = Some(endpoint).filter(|e| !e.is_empty());
            if config.telemetry.otlp_endpoint.is_none() {
                config.telemetry.otlp_ca_file = None;
            }
        }
        config.store.override_from(&env)?;
        if let Some(format) = env("SAMPLAN_LOG_FORMAT") {
            config.log_format = match format.as_str() {
                "json" => LogFormat::Json,
                "pretty" => LogFormat::Pretty,
                _ => bail!("SAMPLAN_LOG_FORMAT must be json or pretty"),
            };
        }
        let base = path.parent().unwrap_or(Path::new("."));
        config.resolve(base);
        config.validate()?;
        config.secret = Secret(read_pseudonym_key(&config.pseudonym_key_file)?);
        Ok(config)
    }

    fn resolve(&mut self, base: &Path) {
        let fixed = [
            &mut self.data_dir,
            &mut self.backup.dir,
            &mut self.pseudonym_key_file,
            &mut self.tls.certificate,
            &mut self.tls.private_key,
            &mut self.tls.client_ca,
        ];
        let jwks = self.organisations.iter_mut().map(|o| &mut o.jwks_file).filter(|p| !p.as_os_str().is_empty());
        for path in fixed.into_iter().chain(self.tls.client_crls.iter_mut()).chain(jwks) {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
        self.telemetry.resolve(base);
        self.store.resolve(base);
    }

    fn validate(&self) -> anyhow::Result<()> {
        if self.organisations.is_empty() {
            bail!("no organisations are registered: add [[organisations]] entries");
        }
        self.limits.validate()?;
        self.telemetry.validate()?;
        self.store.validate()?;
        if !(100..=3_600_000).contains(&self.tls.reload_check_ms) {
            bail!("tls.reload_check_ms must be between 100 and 3600000");
        }
        if !(1..=168).contains(&self.access.emergency_access_hours) {
            bail!("access.emergency_access_hours must be between 1 and 168");
        }
        if !(10..=300_000).contains(&self.subscriptions.heartbeat_ms) {
            bail!("subscriptions.heartbeat_ms must be between 10 and 300000");
        }
        if self.subscriptions.stall_timeout_ms == 0 {
            bail!("subscriptions.stall_timeout_ms must be positive");
        }
        if !(2..=65_536).contains(&self.subscriptions.buffer) {
            bail!("subscriptions.buffer must be between 2 and 65536");
        }
        if self.subscriptions.audit_window_ms > 3_600_000 {
            bail!("subscriptions.audit_window_ms must be at most 3600000");
        }
        if self.identity.clock_skew_seconds > 600 {
            bail!("identity.clock_skew_seconds must be at most 600");
        }
        if !(60..=43_200).contains(&self.identity.max_token_lifetime_seconds) {
            bail!("identity.max_token_lifetime_seconds must be between 60 and 43200");
        }
        if self.identity.audience.is_empty() {
            bail!("identity.audience must not be empty");
        }
        if !(10..=3_600_000).contains(&self.deadlines.check_interval_ms) {
            bail!("deadlines.check_interval_ms must be between 10 and 3600000");
        }
        self.deadlines.table()?;
        self.indicators.validate()?;
        geography(&self.organisations)?;
        self.check_identity()?;
        // Ids and certificate identities unique (the keys are read when the hub starts).
        Registry::new(self.organisations()?, Authentication::DevelopmentHeaders).map_err(anyhow::Error::msg)?;
        Ok(())
    }

    /// The secret from `pseudonym_key_file`, read once by [`Config::load`].
    pub fn secret(&self) -> &[u8; 32] {
        &self.secret.0
    }

    /// The registered organisations, with every organisation's identity
    /// provider's keys read now (in `signed` mode).
    pub fn registry(&self) -> anyhow::Result<Registry> {
        Registry::new(self.organisations()?, self.authentication()?).map_err(anyhow::Error::msg)
    }

    fn organisations(&self) -> anyhow::Result<Vec<Organisation>> {
        self.organisations
            .iter()
            .map(|o| {
                let id = o.organisation_id()?;
                if o.certificate_identity.is_empty() {
                    bail!("organisation {:?}: certificate_identity must not be empty", o.id);
                }
                Ok(Organisation {
                    id,
                    sector: o.sector.into(),
                    name: o.name.clone(),
                    certificate_identity: o.certificate_identity.clone(),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()
    }

    /// In `signed` mode every organisation names its own issuer and a JWKS file.
    fn check_identity(&self) -> anyhow::Result<()> {
        if self.identity.mode == IdentityMode::DevelopmentHeaders {
            return Ok(());
        }
        let mut issuers = HashSet::new();
        for o in &self.organisations {
            if o.issuer.is_empty() || o.jwks_file.as_os_str().is_empty() {
                bail!("organisation {:?}: issuer and jwks_file are required in identity mode \"signed\"", o.id);
            }
            if !issuers.insert(o.issuer.as_str()) {
                bail!(
                    "organisation {:?}: issuer {:?} belongs to another organisation; each needs its own",
                    o.id,
                    o.issuer
                );
            }
        }
        Ok(())
    }

    /// How the hub learns who acts: in `signed` mode each organisation's
    /// identity provider, its keys read now.
    fn authentication(&self) -> anyhow::Result<Authentication> {
        if self.identity.mode == IdentityMode::DevelopmentHeaders {
            return Ok(Authentication::DevelopmentHeaders);
        }
        self.check_identity()?;
        let mut providers = HashMap::new();
        for o in &self.organisations {
            let id = OrganisationId::parse("id", &o.id).map_err(|e| anyhow::anyhow!("organisation {:?}: {e}", o.id))?;
            let provider = IdentityProvider::load(&o.issuer, &o.jwks_file)
                .map_err(|e| anyhow::anyhow!("organisation {:?}: identity provider keys: {e}", o.id))?;
            providers.insert(id, provider);
        }
        let settings = AssertionSettings {
            audience: self.identity.audience.clone(),
            clock_skew_seconds: self.identity.clock_skew_seconds,
            max_lifetime_seconds: self.identity.max_token_lifetime_seconds,
        };
        Ok(Authentication::Signed(Arc::new(Verifier::new(settings, providers))))
    }
}

/// Reads a pseudonym key file: 64 hex characters.
fn read_pseudonym_key(path: &Path) -> anyhow::Result<[u8; 32]> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "reading the pseudonym key {} (create one with `samplan dev-pki` or 32 random bytes in hex)",
            path.display()
        )
    })?;
    let bytes = hex::decode(text.trim()).context("the pseudonym key must be 64 hex characters")?;
    bytes.try_into().map_err(|_| anyhow::anyhow!("the pseudonym key must be exactly 32 bytes (64 hex characters)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use deadlines::default_check_interval_ms;
    use samplan_services::domain::{ClockKind, DeadlineRules, RuleBasis, Trigger};

    /// The example configuration documents every setting: it must parse, and
    /// its values must pass validation (bar the files it names).
    #[test]
    fn the_example_configuration_is_valid() -> anyhow::Result<()> {
        let config: Config = toml::from_str(include_str!("../../deploy/samplan.example.toml"))?;
        config.validate()?;
        assert_eq!(config.subscriptions.heartbeat_ms, default_heartbeat_ms());
        assert_eq!(config.subscriptions.stall_timeout_ms, default_stall_timeout_ms());
        assert_eq!(config.subscriptions.buffer, default_subscription_buffer());
        assert_eq!(config.limits, Limits::default(), "the example spells out the default limits");
        assert_eq!(config.deadlines.check_interval_ms, default_check_interval_ms());
        assert_eq!((config.admin.enabled, config.admin.listen), (true, default_admin_listen()));
        assert_eq!(config.deadlines.table()?, DeadlineRules::default(), "the example spells out the default table");
        // A region whose agreement became an act says so in its row.
        let enacted = include_str!("../../deploy/samplan.example.toml")
            .replace("basis = \"REGIONAL_AGREEMENT\"", "basis = \"STATUTE\"");
        let config: Config = toml::from_str(&enacted)?;
        let table = config.deadlines.table()?;
        let rule =
            table.rule(ClockKind::NetworkMeeting, chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap_or_default());
        assert_eq!(rule.map(|r| r.basis), Some(RuleBasis::Statute));
        // A region may start the network meeting at planning, as its agreement once did…
        let at_planning = include_str!("../../deploy/samplan.example.toml")
            .replace("starts_on = [\"NETWORK_MEETING_CALLED\"]", "starts_on = [\"DISCHARGE_PLANNED\"]");
        let table = toml::from_str::<Config>(&at_planning)?.deadlines.table()?;
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap_or_default();
        let started: Vec<_> = table.started_by(Trigger::DischargePlanned, today).map(|r| r.kind).collect();
        assert_eq!(started, [ClockKind::NetworkMeeting]);
        assert_eq!(table.started_by(Trigger::NetworkMeetingCalled, today).count(), 0);
        // …but no table lets a discharge milestone start a psychiatric clock.
        let widened = include_str!("../../deploy/samplan.example.toml")
            .replace("met_by = [\"PATIENT_INFORMED\"", "met_by = [\"DISCHARGE_PLANNED\"");
        let error = toml::from_str::<Config>(&widened)?.deadlines.table().expect_err("widened").to_string();
        assert!(error.contains("DischargePlanned reveals less than the clock"), "{error}");
        Ok(())
    }

    #[test]
    fn a_reload_check_out_of_range_is_refused() -> anyhow::Result<()> {
        let base = include_str!("../../deploy/samplan.example.toml");
        for value in ["0", "99", "3600001"] {
            let config: Config =
                toml::from_str(&base.replace("reload_check_ms = 10000", &format!("reload_check_ms = {value}")))?;
            let error = config.validate().expect_err(value).to_string();
            assert!(error.contains("tls.reload_check_ms"), "{error}");
        }
        Ok(())
    }

    #[test]
    fn subscription_settings_out_of_range_are_refused() -> anyhow::Result<()> {
        let base = include_str!("../../deploy/samplan.example.toml");
        for (setting, value) in [("heartbeat_ms", "5"), ("stall_timeout_ms", "0"), ("buffer", "1")] {
            let text = base.replace(&format!("\n{setting} = "), &format!("\n{setting} = {value}\n#"));
            let config: Config = toml::from_str(&text)?;
            let error = config.validate().expect_err(setting).to_string();
            assert!(error.contains(setting), "{error}");
        }
        Ok(())
    }
}
