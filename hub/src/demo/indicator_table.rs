//! The demo's last chapter: a synthetic population's past year on a hub of
//! its own, and the indicator table an analyst reads of it.

use chrono::NaiveDate;
use samplan_proto::v1 as pb;

use crate::client::query_indicators_counted;
use crate::embedded::EmbeddedHub;

/// The last chapter: a synthetic population through the flows over the
/// past year, on a hub of its own whose clock it moves, and its indicators.
pub(super) async fn chapter(citizens: usize) -> anyhow::Result<()> {
    println!(
        "\n11. Indicators: a second hub, whose clock runs through the past year while {citizens} synthetic citizens of two \
         regions go through the flows (referrals and waits, discharges, dual diagnoses, handovers, consents, emergency \
         accesses) by real clients; then what an analyst reads."
    );
    let dir = tempfile::tempdir()?;
    let (hub, clock) = super::population::hub(dir.path()).await?;
    let today = samplan_services::domain::Timestamp::now().date();
    let started = std::time::Instant::now();
    let refused = super::population::play(&hub, &clock, (0, citizens), 0, today).await?;
    let cut = if refused == 0 { String::new() } else { format!("; {refused} histories were cut short by a refusal") };
    println!("  a year written in {:.1} s{cut}", started.elapsed().as_secs_f64());
    print(&hub, today).await?;
    hub.stop().await
}

/// The indicators the demo prints, with a short label.
const SHOWN: [(&str, &str); 10] = [
    ("clock-met-assessment", "assessed within deadline"),
    ("days-referral-to-assessment-median", "days to assessment, median"),
    ("days-referral-to-assessment-p90", "days to assessment, p90"),
    ("days-referral-to-treatment-median", "days to treatment, median"),
    ("discharge-network-meeting-in-time", "network meeting in time"),
    ("discharge-coordinator-offered", "udskrivningskoordinator offered"),
    ("dual-diagnosis-indsatsplan-agreed", "dual diagnosis: plan agreed"),
    ("contact-persons-per-citizen", "contact persons / citizen (12 mo)"),
    ("legal-plans-per-citizen", "legal plans / citizen"),
    ("emergency-accesses-per-1000-plans", "emergency accesses / 1,000 plans"),
];

/// Prints the indicators of the last five quarters country-wide, and of
/// the last settled quarter by region, as an analyst of the ward reads them.
pub(super) async fn print(hub: &EmbeddedHub, today: NaiveDate) -> anyhow::Result<()> {
    use chrono::Datelike;
    let mut analyst = hub.indicator_client("psykiatri-amager", "analyst-1").await?;
    let months = |date: NaiveDate| date.year() * 12 + date.month0() as i32;
    let month = |m: i32| format!("{:04}-{:02}", m.div_euclid(12), m.rem_euclid(12) + 1);
    let now = months(today);
    let ask = |from: i32, to: i32, grouping: pb::IndicatorGrouping| pb::QueryIndicatorsRequest {
        indicator_ids: SHOWN.iter().map(|(id, _)| (*id).to_owned()).collect(),
        from_month: month(from),
        to_month: month(to),
        granularity: pb::PeriodGranularity::Quarter as i32,
        grouping: grouping as i32,
    };
    let this_quarter = now - now.rem_euclid(3);
    let asked = ask(this_quarter - 12, this_quarter + 2, pb::IndicatorGrouping::Country);
    let country = query_indicators_counted(&mut analyst, asked, |_, _| {}).await?;
    // The last quarter that has settled: ended more than settle_months ago.
    let latest = now - 1 - country.settle_months as i32;
    let settled = latest - (latest - 2).rem_euclid(3) - 2;
    let regions =
        analyst.query_indicators(ask(settled, settled + 2, pb::IndicatorGrouping::Region)).await?.into_inner();
    let periods: std::collections::BTreeSet<&str> = country.values.iter().map(|v| v.period.as_str()).collect();
    // The citizen portal is in no region: its column would be empty.
    let names: std::collections::BTreeSet<&str> =
        regions.values.iter().map(|v| v.group_name.as_str()).filter(|n| n.starts_with("Region ")).collect();
    let region_period = regions.values.first().map_or(String::new(), |v| v.period.clone());
    print!("  {:<34}", "Denmark");
    periods.iter().for_each(|p| print!("{p:>9}"));
    names.iter().for_each(|n| print!("  {:>20}", format!("{} {region_period}", n.trim_start_matches("Region "))));
    println!();
    for (id, label) in SHOWN {
        print!("  {label:<34}");
        for period in &periods {
            let value = country.values.iter().find(|v| v.indicator_id == id && v.period == *period);
            print!("{:>9}", value.map(shown).unwrap_or_default());
        }
        for name in &names {
            let value = regions.values.iter().find(|v| v.indicator_id == id && v.group_name == *name);
            print!("  {:>20}", value.map(shown).unwrap_or_default());
        }
        println!();
    }
    println!(
        "  (shares as %; \"s\" suppressed: a count below {} or what would give one away; \"…\" not settled yet (a quarter is\n   \
         released {} month(s) after it ends and never changes); \"-\" nothing to count. Stocks stand at each quarter's end.)",
        country.min_count, country.settle_months
    );
    Ok(())
}

/// A value as the table shows it.
fn shown(v: &pb::IndicatorValue) -> String {
    match (pb::Suppression::try_from(v.suppression), v.value) {
        (Ok(pb::Suppression::Suppressed), _) => "s".into(),
        (Ok(pb::Suppression::Pending), _) => "…".into(),
        (_, None) => "-".into(),
        (_, Some(x)) if v.unit == pb::IndicatorUnit::Share as i32 => format!("{:.0}%", 100.0 * x),
        (_, Some(x)) if v.unit == pb::IndicatorUnit::Per1000Plans as i32 => format!("{x:.1}"),
        (_, Some(x)) if v.unit == pb::IndicatorUnit::PerCitizen as i32 => format!("{x:.2}"),
        (_, Some(x)) => format!("{x:.0}"),
    }
}
