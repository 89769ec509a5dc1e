//! `[telemetry]`: traces over OTLP/gRPC, off unless an endpoint is set.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The OpenTelemetry collector to send traces to over OTLP/gRPC, e.g.
    /// `http://127.0.0.1:4317` (an agent on the same host) or
    /// `https://otel.region.example:4317`. Unset (the default): no traces.
    /// Override: `SAMPLAN_OTLP_ENDPOINT`.
    #[serde(default)]
    pub otlp_endpoint: Option<String>,
    /// For an `https` endpoint: the CA certificate (PEM) the collector's certificate is checked against.
    #[serde(default)]
    pub otlp_ca_file: Option<PathBuf>,
    /// The share of traces begun here (calls without a `traceparent`, group
    /// commits) that are exported, 0.0–1.0. A caller's `traceparent` decides
    /// for its own trace.
    #[serde(default = "default_sample_ratio")]
    pub sample_ratio: f64,
    /// The `service.name` the spans carry.
    #[serde(default = "default_service_name")]
    pub service_name: String,
    /// How long one export to the collector may take before it is given up;
    /// also the most the hub waits for the last spans when it stops.
    #[serde(default = "default_export_timeout_ms")]
    pub export_timeout_ms: u64,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            otlp_ca_file: None,
            sample_ratio: default_sample_ratio(),
            service_name: default_service_name(),
            export_timeout_ms: default_export_timeout_ms(),
        }
    }
}

impl TelemetryConfig {
    pub fn export_timeout(&self) -> Duration {
        Duration::from_millis(self.export_timeout_ms)
    }

    pub(super) fn resolve(&mut self, base: &Path) {
        if let Some(path) = &mut self.otlp_ca_file
            && path.is_relative()
        {
            *path = base.join(&*path);
        }
    }

    pub(super) fn validate(&self) -> anyhow::Result<()> {
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            bail!("telemetry.sample_ratio must be between 0.0 and 1.0");
        }
        if self.service_name.is_empty() {
            bail!("telemetry.service_name must not be empty");
        }
        if !(100..=60_000).contains(&self.export_timeout_ms) {
            bail!("telemetry.export_timeout_ms must be between 100 and 60000");
        }
        let Some(endpoint) = &self.otlp_endpoint else {
            if self.otlp_ca_file.is_some() {
                bail!("telemetry.otlp_ca_file is set but telemetry.otlp_endpoint is not");
            }
            return Ok(());
        };
        let uri: http::Uri = endpoint
            .parse()
            .map_err(|_| anyhow::anyhow!("telemetry.otlp_endpoint must be a URL like http://127.0.0.1:4317"))?;
        match (uri.scheme_str(), uri.host(), &self.otlp_ca_file) {
            (_, None, _) | (None, _, _) => {
                bail!("telemetry.otlp_endpoint must be a URL like http://127.0.0.1:4317")
            }
            (Some("http"), _, None) | (Some("https"), _, Some(_)) => Ok(()),
            (Some("http"), _, Some(_)) => bail!("telemetry.otlp_ca_file needs an https otlp_endpoint"),
            (Some("https"), _, None) => {
                bail!("an https telemetry.otlp_endpoint needs telemetry.otlp_ca_file (the collector's CA)")
            }
            (Some(_), _, _) => bail!("telemetry.otlp_endpoint must start with http:// or https://"),
        }
    }
}

fn default_sample_ratio() -> f64 {
    1.0
}
fn default_service_name() -> String {
    "samplan-hub".to_owned()
}
fn default_export_timeout_ms() -> u64 {
    10_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(endpoint: Option<&str>, ca: Option<&str>) -> TelemetryConfig {
        TelemetryConfig {
            otlp_endpoint: endpoint.map(str::to_owned),
            otlp_ca_file: ca.map(PathBuf::from),
            ..TelemetryConfig::default()
        }
    }

    #[test]
    fn endpoints_are_checked() {
        assert!(with(None, None).validate().is_ok());
        assert!(with(Some("http://127.0.0.1:4317"), None).validate().is_ok());
        assert!(with(Some("https://otel.example:4317"), Some("ca.pem")).validate().is_ok());
        for (endpoint, ca, says) in [
            (Some("https://otel.example:4317"), None, "needs telemetry.otlp_ca_file"),
            (Some("http://127.0.0.1:4317"), Some("ca.pem"), "needs an https"),
            (Some("127.0.0.1:4317"), None, "a URL like"),
            (Some("grpc://127.0.0.1:4317"), None, "http:// or https://"),
            (Some("not a url"), None, "a URL like"),
            (None, Some("ca.pem"), "otlp_endpoint is not"),
        ] {
            let error = with(endpoint, ca).validate().expect_err("refused").to_string();
            assert!(error.contains(says), "{endpoint:?} {ca:?}: {error}");
        }
        let ratio = TelemetryConfig { sample_ratio: 1.5, ..TelemetryConfig::default() };
        assert!(ratio.validate().is_err());
    }
}
