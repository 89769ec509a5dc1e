//! Subscriptions through the real hub: a validator over recorded streams under
//! concurrent writers (ordered, unique, gap-free, filtered, resumable from every
//! cursor), a stalled subscriber among healthy ones, heartbeats, consent
//! withdrawal on a live stream, refusals, auditing and shutdown.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use samplan_hub::client::{PlanClient, endpoint, plan_client};
use samplan_proto::v1 as pb;
use samplan_proto::v1::change_plan_request::Command;
use samplan_proto::v1::subscribe_plan_events_response::Message;
use samplan_services::domain::{DataCategory, Decision, RecordedEvent};
use samplan_tests::*;
use tokio::sync::watch;
use tonic::{Code, Status};

type TestResult = anyhow::Result<()>;

/// Quick heartbeats, a short stall timeout and small buffers, so that the
/// tests see each behaviour without waiting long; a long shutdown grace, so
/// that a stream holding shutdown up would show.
const SETTINGS: &str = "[subscriptions]\nheartbeat_ms = 50\nstall_timeout_ms = 2000\nbuffer = 16\n\n\
                        [limits]\nshutdown_grace_ms = 60000\n";

/// A fictitious CPR number per citizen (born 1985).
fn cpr(n: u32) -> String {
    format!("{n:02}0285{}", 4321)
}

fn goal(text: &str, category: pb::DataCategory) -> Command {
    Command::AddGoal(pb::AddGoal { text: text.into(), category: category as i32 })
}

/// Adds `count` goals to `name` as `client`, alternating `categories`,
/// retrying on a stale version as any integration would.
async fn write_goals(
    mut client: PlanClient,
    name: String,
    count: usize,
    categories: [pb::DataCategory; 2],
) -> anyhow::Result<()> {
    let mut version =
        client.get_plan(pb::GetPlanRequest { name: name.clone() }).await?.into_inner().plan.context("plan")?.version;
    for i in 0..count {
        loop {
            let command = goal(&format!("mål {i}"), categories[i % 2]);
            match client.change_plan(change(&name, version, "", command)).await {
                Ok(response) => {
                    version = response.into_inner().version;
                    break;
                }
                Err(status) if status.code() == Code::Aborted => {
                    version = current_version(&status).context("a stale version names the current one")?;
                }
                Err(status) => return Err(status.into()),
            }
        }
    }
    Ok(())
}

/// Records a stream until a heartbeat reaches the position `target` names once it is known.
async fn record(
    mut stream: Subscription,
    mut target: watch::Receiver<Option<u64>>,
) -> anyhow::Result<Vec<pb::PlanEvent>> {
    let mut events = Vec::new();
    loop {
        match stream.message().await?.and_then(|m| m.message) {
            Some(Message::Event(event)) => events.push(event),
            Some(Message::Heartbeat(beat)) => {
                if target.borrow_and_update().is_some_and(|t| beat.cursor >= t) {
                    return Ok(events);
                }
            }
            None => anyhow::bail!("the stream ended"),
        }
    }
}

/// The first message of a stream opened after `after`: an event's position, or a heartbeat's cursor.
async fn first_after(client: &mut PlanClient, after: u64) -> anyhow::Result<Message> {
    let mut stream = subscribe(client, after, "resume").await?;
    stream.message().await?.and_then(|m| m.message).context("a first message")
}

/// The ErrorInfo reason and the `cursor` metadata of a status that ended a stream.
fn ending(status: &Status) -> (String, Option<u64>) {
    let (reason, metadata) = error_info(status).unwrap_or_default();
    (reason, metadata.get("cursor").and_then(|c| c.parse().ok()))
}

fn health(category: i32) -> bool {
    category == pb::DataCategory::Psychiatric as i32 || category == pb::DataCategory::SubstanceAbuse as i32
}

on_both_engines! {
    async fn streams_are_ordered_gap_free_filtered_resumable_and_a_stalled_one_is_cut_off() -> TestResult {
        let t = TestHub::start_configured(SETTINGS).await?;
        let mut ward = t.client(WARD).await?;
        let job = t.client(JOB).await?;

        // Plans only the ward takes part in, with long goals: more than every
        // buffer between the hub and a stalled client holds.
        let long = "lang tekst ".repeat(360);
        for n in 3..=8 {
            let (name, mut version) = create_plan(&mut ward, &cpr(n)).await?;
            for _ in 0..30 {
                version = apply(&mut ward, &name, version, add_goal(&long)).await?;
            }
        }
        let (shared, _) = create_plan(&mut ward, &cpr(1)).await?;
        invite(&mut ward, &shared, JOB, "borgerens samtykke").await?;
        let (ward_only, _) = create_plan(&mut ward, &cpr(2)).await?;

        // A ward system that subscribes and then reads nothing, on a connection of its own with small HTTP/2 windows.
        let channel = endpoint(t.hub.addr, &t.hub.pki.ca_pem, &t.hub.identity(WARD)?)?
            .initial_stream_window_size(65_535)
            .initial_connection_window_size(65_535)
            .connect()
            .await?;
        let mut stalled_client = plan_client(channel, t.hub.professional(WARD, "aut-0001", "PHYSICIAN")?);
        let mut stalled = subscribe(&mut stalled_client, 0, "stalled").await?;

        // Healthy subscribers of both organisations, from the start of the log.
        let (target_tx, target) = watch::channel(None);
        let mut healthy = Vec::new();
        for (org, n) in [(WARD, 0), (WARD, 1), (WARD, 2), (JOB, 0), (JOB, 1), (JOB, 2)] {
            let mut client = t.client(org).await?;
            let stream = subscribe(&mut client, 0, &format!("{org}-{n}")).await?;
            healthy.push((org, tokio::spawn(record(stream, target.clone()))));
        }

        // Concurrent writers; two of them on the same plan, so they race for its version.
        let writers = [
            tokio::spawn(write_goals(
                ward.clone(),
                shared.clone(),
                40,
                [pb::DataCategory::Goals, pb::DataCategory::Psychiatric],
            )),
            tokio::spawn(write_goals(
                job.clone(),
                shared.clone(),
                40,
                [pb::DataCategory::Employment, pb::DataCategory::Goals],
            )),
            tokio::spawn(write_goals(
                ward.clone(),
                ward_only.clone(),
                40,
                [pb::DataCategory::Psychiatric, pb::DataCategory::Goals],
            )),
        ];
        for writer in writers {
            writer.await??;
        }
        let last = t.hub.store.durable_position();
        target_tx.send(Some(last))?;

        // What each organisation may see, from the log itself (every event here
        // tells one category): the ward is on every plan's care team and treats
        // the citizen, so it sees everything but the job centre's employment
        // goals (forvaltningsloven § 28: only under consent); the job centre is on
        // one plan only and, without consent, sees no health information.
        let log = t.hub.store.events_from(1, usize::MAX).await?;
        assert_eq!(log.len() as u64, last, "the global log is gap-free");
        let key = |plan: &str, sequence: u64, position: u64| (plan.to_owned(), sequence, position);
        // Each recipient numbers a plan's events among those it may see: 1, 2, ….
        let numbered = |sees: &dyn Fn(&RecordedEvent) -> bool| {
            let mut counts: HashMap<String, u64> = HashMap::new();
            log.iter()
                .filter(|e| sees(e))
                .map(|e| {
                    let plan = e.plan_id.resource_name();
                    let count = counts.entry(plan.clone()).or_default();
                    *count += 1;
                    key(&plan, *count, e.global_position)
                })
                .collect::<Vec<_>>()
        };
        let ward_expected = numbered(&|e| e.category != DataCategory::Employment);
        let job_expected = numbered(&|e| {
            e.plan_id.resource_name() == shared
                && matches!(e.category, DataCategory::PlanAndContact | DataCategory::Goals | DataCategory::Employment)
        });
        assert!(job_expected.len() > 40 && job_expected.len() < ward_expected.len() / 4);

        let mut recorded = Vec::new();
        for (org, task) in healthy {
            let events = task.await??;
            let got: Vec<_> = events.iter().map(|e| key(&e.plan, e.sequence, e.global_position)).collect();
            assert!(got.windows(2).all(|w| w[0].2 < w[1].2), "{org}: strictly increasing positions");
            let expected = if org == WARD { &ward_expected } else { &job_expected };
            assert_eq!(&got, expected, "{org}: exactly the events it may see, each once, none missing");
            if org == JOB {
                assert!(!events.iter().any(|e| health(e.category)), "the job centre got health information");
            }
            recorded.push((org, got));
        }

        // Resumable: a new stream after any cursor starts with exactly the next event.
        let mut ward_resumer = t.client(WARD).await?;
        let mut job_resumer = t.client(JOB).await?;
        for (org, client, expected) in [(WARD, &mut ward_resumer, &ward_expected), (JOB, &mut job_resumer, &job_expected)] {
            let mut cursors: Vec<u64> = vec![0];
            cursors.extend(expected.iter().map(|k| k.2));
            for (i, cursor) in cursors.iter().enumerate() {
                match (first_after(client, *cursor).await?, expected.get(i)) {
                    (Message::Event(event), Some(next)) => {
                        assert_eq!(event.global_position, next.2, "{org}: resuming after {cursor}");
                    }
                    (Message::Heartbeat(beat), None) => assert_eq!(beat.cursor, last, "{org}: caught up after {cursor}"),
                    (other, next) => panic!("{org}: after {cursor} got {other:?}, want {next:?}"),
                }
            }
        }

        // The stalled subscriber was cut off without holding the others back; it
        // got a prefix of the log and then its cursor.
        let mut cut_offs = t.hub.subscriptions.cut_offs();
        tokio::time::timeout(Duration::from_secs(60), cut_offs.wait_for(|n| *n >= 1)).await??;
        let mut received = Vec::new();
        let mut cursor = 0;
        let end = loop {
            match stalled.message().await {
                Ok(Some(pb::SubscribePlanEventsResponse { message: Some(Message::Event(event)) })) => {
                    cursor = event.global_position;
                    received.push(key(&event.plan, event.sequence, event.global_position));
                }
                Ok(Some(pb::SubscribePlanEventsResponse { message: Some(Message::Heartbeat(beat)) })) => {
                    cursor = beat.cursor
                }
                Ok(other) => anyhow::bail!("the stalled stream ended without a status: {other:?}"),
                Err(status) => break status,
            }
        };
        assert_eq!(end.code(), Code::ResourceExhausted, "{end:?}");
        assert_eq!(ending(&end), ("SUBSCRIBER_TOO_SLOW".to_owned(), Some(cursor)));
        assert!(!received.is_empty() && received.len() < ward_expected.len());
        assert_eq!(received, ward_expected[..received.len()], "the stalled stream is a prefix of the log");
        assert_eq!(*cut_offs.borrow(), 1, "only the stalled subscriber was cut off");
        Ok(())
    }

    async fn heartbeats_consent_withdrawal_refusals_audit_and_shutdown() -> TestResult {
        let t = TestHub::start_configured(SETTINGS).await?;
        let mut ward = t.client(WARD).await?;
        let mut job = t.client(JOB).await?;
        let (name, _) = create_plan(&mut ward, CPR).await?;
        invite(&mut ward, &name, JOB, "borgerens samtykke").await?;
        let version =
            ward.get_plan(pb::GetPlanRequest { name: name.clone() }).await?.into_inner().plan.context("plan")?.version;
        let (consent_id, version) = add(&mut ward, &name, version, psychiatric_consent(JOB)).await?;
        let head = t.hub.store.durable_position();

        // Caught up at once, then idle: heartbeats carrying the head of the log.
        let mut live = subscribe(&mut job, head, "job-live").await?;
        for _ in 0..2 {
            match live.message().await?.and_then(|m| m.message) {
                Some(Message::Heartbeat(beat)) => assert_eq!(beat.cursor, head),
                other => panic!("want a heartbeat, got {other:?}"),
            }
        }

        // Under consent the job centre hears of a psychiatric goal; once the
        // consent is withdrawn, no longer — not even of the withdrawal, which
        // names what the consent covered — but still of the rest.
        // (Events are filtered when sent, so the first is read before the withdrawal.)
        let version = apply(&mut ward, &name, version, goal("sove om natten", pb::DataCategory::Psychiatric)).await?;
        let mut got: Vec<u64> = events_until(&mut live, head + 1).await?.iter().map(|e| e.global_position).collect();
        let version = apply(&mut ward, &name, version, withdraw_consent(&consent_id)).await?;
        let version = apply(&mut ward, &name, version, goal("færre indlæggelser", pb::DataCategory::Psychiatric)).await?;
        apply(&mut ward, &name, version, goal("en lejlighed", pb::DataCategory::Goals)).await?;
        got.extend(events_until(&mut live, head + 4).await?.iter().map(|e| e.global_position));
        assert_eq!(got, [head + 1, head + 4]);

        // Every delivery is audited with what it disclosed, and so is the opening.
        let records: Vec<_> = t
            .hub
            .store
            .audit_records(1, usize::MAX).await?
            .into_iter()
            .map(|r| r.entry)
            .filter(|e| e.correlation_id == "job-live")
            .collect();
        assert!(records.iter().all(|e| e.action == "SubscribePlanEvents"));
        assert!(records[0].plan.is_none() && records[0].decision == Decision::Allowed, "the opening comes first");
        assert!(
            matches!(records[1].decision, Decision::Delivering { first_position, .. } if first_position == head + 1),
            "{:?}",
            records[1]
        );
        let mut disclosed: Vec<DataCategory> = records.iter().flat_map(|e| e.categories.clone()).collect();
        disclosed.sort_by_key(|c| *c as u8);
        disclosed.dedup();
        assert_eq!(disclosed, [DataCategory::PlanAndContact, DataCategory::Goals, DataCategory::Psychiatric]);
        assert!(
            records[1..]
                .iter()
                .all(|e| e.plan.map(|p| p.resource_name()) == Some(name.clone()) && !e.legal_ground.is_empty())
        );

        // An organisation outside the care team hears nothing of the plan.
        let mut addiction = t.client(ADDICTION).await?;
        let mut outsider = subscribe(&mut addiction, 0, "outsider").await?;
        assert!(events_until(&mut outsider, t.hub.store.durable_position()).await?.is_empty());

        // Refusals: a cursor beyond the log, and a role that reads no plans.
        let durable = t.hub.store.durable_position();
        let beyond = subscribe(&mut job, durable + 100, "beyond").await.expect_err("beyond the log");
        assert_eq!(beyond.code(), Code::OutOfRange);
        let (reason, metadata) = error_info(&beyond).context("error info")?;
        assert_eq!((reason.as_str(), metadata.get("last_position")), ("CURSOR_BEYOND_LOG", Some(&durable.to_string())));
        let mut auditor = t.hub.plan_client(JOB, "rev-1", "AUDITOR").await?;
        let refused = subscribe(&mut auditor, 0, "auditor").await.expect_err("auditors read no plans");
        assert_eq!(refused.code(), Code::PermissionDenied);
        assert_eq!(error_info(&refused).context("error info")?.0, "ROLE_READS_NO_PLANS");
        let audit = audit_by_correlation(&t.hub).await?;
        assert!(matches!(audit.get("auditor").map(|e| &e.decision), Some(Decision::Denied { .. })));

        // Shutdown ends open streams at once, with their cursor.
        let mut ward_live = subscribe(&mut ward, 0, "ward-shutdown").await?;
        let seen = events_until(&mut ward_live, t.hub.store.durable_position()).await?;
        let stopping = tokio::spawn(t.stop());
        let end = loop {
            match ward_live.message().await {
                Ok(Some(_)) => {}
                Ok(None) => anyhow::bail!("the stream ended without a status"),
                Err(status) => break status,
            }
        };
        assert_eq!(end.code(), Code::Unavailable, "{end:?}");
        let (reason, cursor) = ending(&end);
        assert_eq!(reason, "HUB_SHUTTING_DOWN");
        assert!(cursor >= seen.last().map(|e| e.global_position));
        tokio::time::timeout(Duration::from_secs(20), stopping).await???;
        drop(live);
        Ok(())
    }
}

/// The records of the deliveries on the stream `correlation_id`: first position, end, categories.
async fn delivery_records(t: &TestHub, correlation_id: &str) -> anyhow::Result<Vec<(u64, i64, Vec<DataCategory>)>> {
    let records = t.hub.store.audit_records(1, usize::MAX).await?;
    Ok(records
        .into_iter()
        .filter(|r| r.entry.correlation_id == correlation_id)
        .filter_map(|r| match r.entry.decision {
            Decision::Delivering { first_position, until } => Some((first_position, until.0, r.entry.categories)),
            _ => None,
        })
        .collect())
}

on_both_engines! {
    async fn deliveries_are_audited_once_per_plan_and_window_and_per_new_category() -> TestResult {
        let t = TestHub::start_configured("[subscriptions]\naudit_window_ms = 1500\n").await?;
        let mut ward = t.client(WARD).await?;
        let (name, mut version) = create_plan(&mut ward, CPR).await?;
        let head = t.hub.store.durable_position();
        let mut stream = subscribe(&mut ward, head, "windowed").await?;

        // Ten goals in one window: one record, naming the first position.
        for i in 0..10 {
            version = apply(&mut ward, &name, version, goal(&format!("mål {i}"), pb::DataCategory::Goals)).await?;
        }
        events_until(&mut stream, head + 10).await?;
        let records = delivery_records(&t, "windowed").await?;
        assert_eq!(records.len(), 1, "{records:?}");
        let (first, until, categories) = records[0].clone();
        assert_eq!(first, head + 1);
        assert!(categories.contains(&DataCategory::Goals));

        // A category the window has not named gets its own record before it is sent, for the same window.
        version = apply(&mut ward, &name, version, goal("sove om natten", pb::DataCategory::Psychiatric)).await?;
        events_until(&mut stream, head + 11).await?;
        let records = delivery_records(&t, "windowed").await?;
        assert_eq!(records.len(), 2, "{records:?}");
        assert_eq!((records[1].0, records[1].1), (head + 11, until));
        assert!(records[1].2.contains(&DataCategory::Psychiatric) && records[1].2.contains(&DataCategory::Goals));

        // After the window, the next delivery opens a new one.
        tokio::time::sleep(Duration::from_millis(1600)).await;
        apply(&mut ward, &name, version, goal("en lejlighed", pb::DataCategory::Goals)).await?;
        events_until(&mut stream, head + 12).await?;
        let records = delivery_records(&t, "windowed").await?;
        assert_eq!(records.len(), 3, "{records:?}");
        assert_eq!(records[2].0, head + 12);
        assert!(records[2].1 > until);

        // The citizen's access log shows the window.
        let log = t
            .hub
            .citizen_client("borger-1", "CITIZEN", CPR)
            .await?
            .list_plan_access(pb::ListPlanAccessRequest { parent: name.clone(), page_size: 1000, ..Default::default() })
            .await?
            .into_inner();
        let shown: Vec<_> =
            log.entries.iter().filter(|e| e.action == "SubscribePlanEvents" && e.delivered_until.is_some()).collect();
        assert_eq!(shown.len(), 3, "{:?}", log.entries);
        t.hub.stop().await
    }
}
