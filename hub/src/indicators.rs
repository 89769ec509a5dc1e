//! `samplan indicators`: an analyst's export of a running hub's indicators,
//! as CSV (for spreadsheets and a region's data warehouse) or JSON.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::ValueEnum;
use samplan_proto::v1 as pb;

use crate::client::{IndicatorClient, Professional, endpoint_at, indicator_client, query_indicators_counted};
use crate::identity::Minter;
use crate::pki::Identity;

#[derive(Debug, clap::Args)]
pub struct ExportOptions {
    /// The hub's gRPC address, `host:port`.
    #[arg(long, default_value = "127.0.0.1:7443")]
    pub hub: String,
    /// The name the hub's server certificate carries (default: the host of --hub).
    #[arg(long)]
    pub server_name: Option<String>,
    /// The CA certificate (PEM) that signed the hub's certificate.
    #[arg(long, value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// The analyst organisation's client certificate (PEM).
    #[arg(long, value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// A file holding the analyst's signed assertion (a JWT of the
    /// organisation's identity provider, role ANALYST).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Development instead: the folder `samplan dev-pki` wrote, whose
    /// certificates and identity providers the export uses.
    #[arg(long, value_name = "DIR")]
    pub dev_dir: Option<PathBuf>,
    /// With --dev-dir: the organisation the analyst works for.
    #[arg(long, default_value = "psykiatri-amager")]
    pub organisation: String,
    /// With --dev-dir: the analyst's staff id.
    #[arg(long, default_value = "analyst-1")]
    pub professional: String,
    /// The first month, `YYYY-MM`.
    #[arg(long)]
    pub from: String,
    /// The last month, `YYYY-MM`.
    #[arg(long)]
    pub to: String,
    #[arg(long, value_enum, default_value = "quarter")]
    pub period: PeriodArg,
    #[arg(long, value_enum, default_value = "region")]
    pub by: GroupingArg,
    /// An indicator id (repeat for several); all of them when left out.
    #[arg(long = "indicator", value_name = "ID")]
    pub indicators: Vec<String>,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: Format,
    /// Write here instead of to standard output.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PeriodArg {
    Month,
    Quarter,
    Year,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum GroupingArg {
    Country,
    Region,
    Municipality,
    Organisation,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

impl ExportOptions {
    pub fn request(&self) -> pb::QueryIndicatorsRequest {
        pb::QueryIndicatorsRequest {
            indicator_ids: self.indicators.clone(),
            from_month: self.from.clone(),
            to_month: self.to.clone(),
            granularity: match self.period {
                PeriodArg::Month => pb::PeriodGranularity::Month,
                PeriodArg::Quarter => pb::PeriodGranularity::Quarter,
                PeriodArg::Year => pb::PeriodGranularity::Year,
            } as i32,
            grouping: match self.by {
                GroupingArg::Country => pb::IndicatorGrouping::Country,
                GroupingArg::Region => pb::IndicatorGrouping::Region,
                GroupingArg::Municipality => pb::IndicatorGrouping::Municipality,
                GroupingArg::Organisation => pb::IndicatorGrouping::Organisation,
            } as i32,
        }
    }

    /// The client this export connects with: from a dev folder, or from the files given.
    async fn client(&self) -> anyhow::Result<IndicatorClient> {
        let read =
            |path: &PathBuf| std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()));
        let (ca, identity, professional) = match (&self.dev_dir, &self.ca, &self.cert, &self.key, &self.token_file) {
            (Some(dir), None, None, None, None) => {
                let identity = crate::embedded::read_identity(dir, &self.organisation)?;
                let minter = Arc::new(Minter::from_dev_dir(dir, &self.organisation)?);
                (read(&dir.join("ca.pem"))?, identity, Professional::signed(minter, &self.professional, "ANALYST")?)
            }
            (None, Some(ca), Some(cert), Some(key), Some(token)) => {
                let identity = Identity { certificate_pem: read(cert)?, key_pem: read(key)? };
                (read(ca)?, identity, Professional::bearer_token(read(token)?.trim())?)
            }
            _ => bail!("give either --dev-dir, or all of --ca, --cert, --key and --token-file"),
        };
        let host = self.hub.rsplit_once(':').map_or(self.hub.as_str(), |(host, _)| host);
        let server_name = self.server_name.as_deref().unwrap_or(host);
        let channel = endpoint_at(&self.hub, server_name, &ca, &identity)?
            .connect()
            .await
            .with_context(|| format!("connecting to the hub at {}", self.hub))?;
        Ok(indicator_client(channel, professional))
    }
}

/// `samplan indicators`: asks the hub and writes the answer.
pub async fn export(options: ExportOptions) -> anyhow::Result<()> {
    let mut client = options.client().await?;
    eprintln!(
        "asking {} for indicators {}..{} by {:?}, per {:?}",
        options.hub, options.from, options.to, options.by, options.period
    );
    let answer = query_indicators_counted(&mut client, options.request(), |counted, of| {
        eprintln!("the hub is counting its log for the indicators ({counted} of {of} events); waiting");
    })
    .await
    .map_err(explain)?;
    let text = match options.format {
        Format::Csv => csv(&answer),
        Format::Json => json(&answer)?,
    };
    match &options.output {
        Some(path) => std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?,
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    let count = |s: pb::Suppression| answer.values.iter().filter(|v| v.suppression == s as i32).count();
    eprintln!(
        "{} values ({} suppressed: counts below {} or what would give one away; {} pending: not settled yet, {} month(s) after their quarter) as of log position {}{}",
        answer.values.len(),
        count(pb::Suppression::Suppressed),
        answer.min_count,
        count(pb::Suppression::Pending),
        answer.settle_months,
        answer.log_position,
        options.output.as_ref().map(|p| format!(", written to {}", p.display())).unwrap_or_default()
    );
    Ok(())
}

/// A refusal as an analyst can act on it: the status, and each field the hub named.
fn explain(status: tonic::Status) -> anyhow::Error {
    use tonic_types::StatusExt;
    let mut message = format!("the hub refused: {:?}: {}", status.code(), status.message());
    if let Some(bad) = status.get_details_bad_request() {
        for v in bad.field_violations {
            message.push_str(&format!("\n  {}: {}", v.field, v.description));
        }
    }
    anyhow::anyhow!(message)
}

/// The columns of the CSV export, in order.
pub const CSV_COLUMNS: [&str; 12] = [
    "indicator_id",
    "unit",
    "period",
    "period_start",
    "period_end",
    "grouping",
    "group_id",
    "group_name",
    "value",
    "numerator",
    "denominator",
    "suppression",
];

/// The answer as CSV (RFC 4180: comma-separated, quoted where needed; empty where suppressed).
pub fn csv(answer: &pb::QueryIndicatorsResponse) -> String {
    let mut out = CSV_COLUMNS.join(",") + "\n";
    for v in &answer.values {
        let [unit, grouping, suppression] = labels(v);
        let fields = [
            v.indicator_id.clone(),
            unit,
            v.period.clone(),
            v.period_start.clone(),
            v.period_end.clone(),
            grouping,
            v.group_id.clone(),
            v.group_name.clone(),
            v.value.map(|x| format!("{x:.4}")).unwrap_or_default(),
            v.numerator.map(|x| x.to_string()).unwrap_or_default(),
            v.denominator.map(|x| x.to_string()).unwrap_or_default(),
            suppression,
        ];
        let quoted: Vec<String> = fields.iter().map(|f| quote(f)).collect();
        out.push_str(&quoted.join(","));
        out.push('\n');
    }
    out
}

/// A value's unit, grouping and suppression as the exports name them
/// (the proto's names without their prefix; empty if unknown).
fn labels(v: &pb::IndicatorValue) -> [String; 3] {
    fn name<E>(value: Result<&str, E>, prefix: &str) -> String {
        value.map(|n| n.trim_start_matches(prefix).to_owned()).unwrap_or_default()
    }
    [
        name(pb::IndicatorUnit::try_from(v.unit).map(|u| u.as_str_name()), "INDICATOR_UNIT_"),
        name(pb::IndicatorGrouping::try_from(v.grouping).map(|g| g.as_str_name()), "INDICATOR_GROUPING_"),
        name(pb::Suppression::try_from(v.suppression).map(|s| s.as_str_name()), "SUPPRESSION_"),
    ]
}

fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// The answer as JSON: the log position, the threshold and every value.
pub fn json(answer: &pb::QueryIndicatorsResponse) -> anyhow::Result<String> {
    let values: Vec<serde_json::Value> = answer
        .values
        .iter()
        .map(|v| {
            let [unit, grouping, suppression] = labels(v);
            serde_json::json!({
                "indicator_id": v.indicator_id,
                "unit": unit,
                "period": v.period,
                "period_start": v.period_start,
                "period_end": v.period_end,
                "grouping": grouping,
                "group_id": v.group_id,
                "group_name": v.group_name,
                "value": v.value,
                "numerator": v.numerator,
                "denominator": v.denominator,
                "suppression": suppression,
            })
        })
        .collect();
    let document = serde_json::json!({
        "log_position": answer.log_position,
        "min_count": answer.min_count,
        "settle_months": answer.settle_months,
        "values": values,
    });
    Ok(serde_json::to_string_pretty(&document)? + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_quoting_and_leaves_suppressed_cells_empty() {
        let answer = pb::QueryIndicatorsResponse {
            values: vec![pb::IndicatorValue {
                indicator_id: "clock-met-assessment".into(),
                unit: pb::IndicatorUnit::Share as i32,
                period: "2026-Q1".into(),
                period_start: "2026-01-01".into(),
                period_end: "2026-03-31".into(),
                grouping: pb::IndicatorGrouping::Organisation as i32,
                group_id: "kbh".into(),
                group_name: "Københavns Kommune, \"Social\"".into(),
                value: None,
                numerator: None,
                denominator: None,
                suppression: pb::Suppression::Suppressed as i32,
            }],
            log_position: 7,
            min_count: 5,
            settle_months: 1,
        };
        let text = csv(&answer);
        assert_eq!(
            text.lines().nth(1),
            Some(
                "clock-met-assessment,SHARE,2026-Q1,2026-01-01,2026-03-31,ORGANISATION,kbh,\"Københavns Kommune, \"\"Social\"\"\",,,,SUPPRESSED"
            )
        );
        let parsed: serde_json::Value = serde_json::from_str(&json(&answer).expect("json")).expect("parses");
        assert_eq!(parsed["values"][0]["suppression"], "SUPPRESSED");
        assert!(parsed["values"][0]["value"].is_null());
    }
}
