//! Traces over OTLP: a hub with `telemetry.otlp_endpoint` set exports the span
//! of each call — continuing the caller's trace when it sends a W3C
//! `traceparent` (not its `tracestate`), and leaving out a trace the caller did not sample — the span
//! of the group commit that wrote it (linked to the call) and of the sync that
//! made it durable (under the commit). `/metrics` counts the spans exported.
//! Nothing personal is in any of it.

use samplan_hub::load::collector::{Collector, Exported};
use samplan_proto::v1 as pb;
use samplan_tests::process::{admin_get, client, spawn_hub_with_admin, terminate};
use samplan_tests::{CPR, WARD, add_goal, change, create_plan};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const UNSAMPLED_TRACE_ID: &str = "5bf92f3577b34da6a3ce929d0e0e4737";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const GOAL: &str = "Jens Hansen vil gerne bo i egen lejlighed";

fn named<'a>(spans: &'a [Exported], name: &str) -> Vec<&'a Exported> {
    spans.iter().filter(|s| s.span.name == name).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_group_commits_and_syncs_are_traced() -> anyhow::Result<()> {
    let collector = Collector::start().await?;
    let dir = tempfile::tempdir()?;
    let telemetry =
        format!("[telemetry]\notlp_endpoint = \"{}\"\nservice_name = \"samplan-under-test\"\n", collector.endpoint());
    samplan_hub::embedded::write_dev_config(dir.path(), &telemetry)?;
    // Batches every 200 ms (the SDK's setting), so that /metrics counts them while serving.
    let (hub, addr, admin) = spawn_hub_with_admin(dir.path(), &[("OTEL_BSP_SCHEDULE_DELAY", "200")])?;

    let mut ward = client(dir.path(), addr).await?;
    let (name, version) = create_plan(&mut ward, CPR).await?;
    let mut request = tonic::Request::new(change(&name, version, "", add_goal(GOAL)));
    request.metadata_mut().insert("traceparent", format!("00-{TRACE_ID}-{CALLER_SPAN}-01").parse()?);
    // The caller's free text in tracestate is not carried into the hub's spans.
    request.metadata_mut().insert("tracestate", format!("vendor={CPR}").parse()?);
    ward.change_plan(request).await?;
    let mut request = tonic::Request::new(pb::GetPlanRequest { name: name.clone() });
    request.metadata_mut().insert("traceparent", format!("00-{UNSAMPLED_TRACE_ID}-{CALLER_SPAN}-00").parse()?);
    ward.get_plan(request).await?;
    let exported = "samplan_trace_spans_exported_total{outcome=\"ok\"}";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !admin_get(admin, "/metrics").await?.1.contains(exported) {
        assert!(std::time::Instant::now() < deadline, "no {exported} in /metrics");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    terminate(hub).await?;

    let spans = collector.spans();
    assert!(spans.iter().all(|s| s.service == "samplan-under-test"), "service.name from the configuration");

    // The call continues the caller's trace, under the caller's span.
    let changes = named(&spans, "samplan.v1.PlanService/ChangePlan");
    let [call] = changes.as_slice() else { panic!("one ChangePlan span: {spans:#?}") };
    assert_eq!(hex::encode(&call.span.trace_id), TRACE_ID);
    assert_eq!(hex::encode(&call.span.parent_span_id), CALLER_SPAN);
    assert_eq!(call.span.kind, 2, "a server span");
    assert_eq!(call.attribute("rpc.method").as_deref(), Some("ChangePlan"));
    assert_eq!(call.attribute("rpc.grpc.status_code").as_deref(), Some("0"));
    assert_eq!(call.attribute("organisation").as_deref(), Some(WARD));
    assert_eq!(call.attribute("role").as_deref(), Some("Physician"));

    // A call without `traceparent` begins a trace; one the caller did not sample is not exported.
    let creates = named(&spans, "samplan.v1.PlanService/CreatePlan");
    let [create] = creates.as_slice() else { panic!("one CreatePlan span: {spans:#?}") };
    assert!(create.span.parent_span_id.is_empty(), "a root span");
    assert_ne!(hex::encode(&create.span.trace_id), TRACE_ID);
    assert!(named(&spans, "samplan.v1.PlanService/GetPlan").is_empty());
    assert!(spans.iter().all(|s| hex::encode(&s.span.trace_id) != UNSAMPLED_TRACE_ID));

    // The group commit that wrote the change links to the call ...
    let linked = |s: &Exported, to: &Exported| {
        s.span.links.iter().any(|l| l.span_id == to.span.span_id && l.trace_id == to.span.trace_id)
    };
    let commits = named(&spans, "group_commit");
    let commit = commits.iter().find(|c| linked(c, call)).unwrap_or_else(|| panic!("no commit links the call"));
    assert!(commit.attribute("jobs").is_some_and(|jobs| jobs.parse::<u64>().is_ok_and(|n| n >= 1)));
    assert!(commit.attribute("last_position").is_some());
    // ... and the sync that made it durable hangs under that commit (or links to it, when it covered several).
    let under = |s: &Exported| s.span.parent_span_id == commit.span.span_id && s.span.trace_id == commit.span.trace_id;
    let syncs = named(&spans, "sync");
    let sync = syncs.iter().find(|s| under(s) || linked(s, commit)).unwrap_or_else(|| panic!("no sync of the commit"));
    assert!(sync.span.start_time_unix_nano >= commit.span.start_time_unix_nano);

    // No CPR number, free text, professional or plan id in any span or
    // attribute; log lines (which may name a plan) are not span events.
    let plan_id = name.trim_start_matches("plans/");
    for span in &spans {
        assert!(span.span.events.is_empty(), "no events: {:?}", span.span.events);
        let text = format!("{:?}", span.span);
        for personal in [CPR, "Jens", "aut-4471", plan_id] {
            assert!(!text.contains(personal), "{personal} in {text}");
        }
    }
    Ok(())
}
