use std::sync::atomic::{AtomicI64, Ordering};

use proptest::prelude::*;

use super::*;
use crate::domain::testkit::*;
use crate::domain::*;

const ACTORS: [(&str, Sector); 3] =
    [("ward", Sector::RegionalPsychiatry), ("kommune", Sector::MunicipalSocial), ("jobcenter", Sector::JobCentre)];

pub(super) fn submission(actor: &Actor, request_id: Option<&str>) -> Submission {
    Submission {
        actor: actor.clone(),
        correlation_id: "test".into(),
        request_id: request_id.map(str::to_owned),
        deadline: None,
    }
}

pub(super) fn open(dir: &std::path::Path) -> Store {
    open_indexing_every(dir, StoreOptions::new(dir).audit_index_batch)
}

fn open_indexing_every(dir: &std::path::Path, audit_index_batch: usize) -> Store {
    let mut options = StoreOptions::new(dir);
    options.audit_index_batch = audit_index_batch;
    options.cache_capacity_bytes = 8 * 1024 * 1024;
    let tick = Arc::new(AtomicI64::new(1_795_435_200_000_000));
    options.clock = Arc::new(move || Timestamp(tick.fetch_add(1_000_000, Ordering::Relaxed)));
    Store::open(options).expect("open store")
}

pub(super) async fn create(store: &Store, by: &Actor, citizen: u8) -> Outcome {
    let intent = Intent::Create { citizen: CitizenKey([citizen; 32]), kind: CprKind::Regular, reason: text("indlagt") };
    store.submit(submission(by, None), intent).await.expect("create")
}

/// `command` by `by` on `plan`, expecting it to hold `count` events that `by` may see.
pub(super) async fn change(
    store: &Store,
    by: &Actor,
    plan: PlanId,
    count: u64,
    command: Command,
    request_id: Option<&str>,
) -> Result<Outcome, Error> {
    let expected_version = trail::counted(&categories(store, by, plan).await, count);
    store.submit(submission(by, request_id), Intent::Change { plan, expected_version, command }).await
}

/// What `by` may see of `plan` now (nothing, if it may not read it).
async fn categories(store: &Store, by: &Actor, plan: PlanId) -> Vec<DataCategory> {
    let plan = store.plan(plan).await.ok().flatten();
    plan.and_then(|p| policy::view(&p, by, store.now()).ok()).map(|v| v.categories()).unwrap_or_default()
}

#[tokio::test]
async fn one_plan_per_citizen_and_durable_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let ward = actor("ward", Sector::RegionalPsychiatry);
    let first = create(&store, &ward, 1).await;
    assert!(first.created);
    assert_eq!(first.events.len(), 1);
    let second = create(&store, &ward, 1).await;
    assert!(!second.created);
    assert_eq!(second.plan_id, first.plan_id);
    assert!(second.events.is_empty());
    assert_eq!(store.plan_of(&CitizenKey([1; 32])).await.expect("lookup").map(|p| p.id), Some(first.plan_id));
    assert_eq!(store.plan_of(&CitizenKey([2; 32])).await.expect("lookup").map(|p| p.id), None);
    assert!(store.stats().device_syncs >= 1);
    assert_eq!(store.durable_position(), 1);
}

#[tokio::test]
async fn stale_versions_and_reused_request_ids_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let ward = actor("ward", Sector::RegionalPsychiatry);
    let plan = create(&store, &ward, 1).await.plan_id;
    let add = |t: &str| Command::AddGoal { text: text(t), category: DataCategory::Goals };

    let done = change(&store, &ward, plan, 1, add("bo selv"), Some("req-1")).await.expect("first");
    assert_eq!(done.version, 2);
    let again = change(&store, &ward, plan, 1, add("bo selv"), Some("req-1")).await.expect("retry");
    assert_eq!(again, done, "a retry returns the original result");
    assert_eq!(store.plan(plan).await.expect("read").expect("plan").version, 2, "and appends nothing");

    let reused = change(&store, &ward, plan, 2, add("noget andet"), Some("req-1")).await;
    assert!(matches!(reused, Err(Error::RequestIdReused)));
    let stale = change(&store, &ward, plan, 1, add("x"), None).await;
    let seen = categories(&store, &ward, plan).await;
    let (expected, current) = (trail::counted(&seen, 1), trail::counted(&seen, 2));
    assert!(matches!(stale, Err(Error::StaleVersion { expected: e, current: c }) if (e, c) == (expected, current)));

    // Another organisation's identical request id is its own.
    let outsider = actor("outsider", Sector::JobCentre);
    let hidden = change(&store, &outsider, plan, 1, add("x"), Some("req-1")).await;
    assert!(
        matches!(hidden, Err(Error::Domain(DomainError::PlanNotFound))),
        "outsiders learn nothing, not even the version"
    );

    // Every job left an audit record, refusals included, chained in order.
    let audit = store.audit_records(1, 100).await.expect("audit");
    let summary: Vec<(String, Decision)> =
        audit.iter().map(|r| (r.entry.action.clone(), r.entry.decision.clone())).collect();
    let denied = |reason: &str| Decision::Denied { reason: reason.to_owned() };
    assert_eq!(
        summary,
        vec![
            ("CreatePlan".to_owned(), Decision::Allowed),
            ("ChangePlan.AddGoal".to_owned(), Decision::Allowed),
            ("ChangePlan.AddGoal".to_owned(), Decision::Allowed),
            ("ChangePlan.AddGoal".to_owned(), denied("REQUEST_ID_REUSED")),
            ("ChangePlan.AddGoal".to_owned(), denied("STALE_VERSION")),
            ("ChangePlan.AddGoal".to_owned(), denied("PLAN_NOT_FOUND")),
        ]
    );
    assert_eq!(audit[1].entry.events.len(), 1, "the first AddGoal vouches for its event");
    assert!(audit[2].entry.events.is_empty(), "the retry appended nothing");
    assert!(audit.windows(2).all(|w| w[1].previous == w[0].hash));
    assert_eq!(store.verify().await.expect("verify").problems, Vec::<String>::new());
}

/// A change whose caller stopped waiting before the writer reached it is not
/// decided: nothing is written, the caller hears DEADLINE_EXCEEDED, and the
/// refusal is audited.
#[tokio::test]
async fn a_change_past_its_callers_deadline_is_dropped_undecided() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let ward = actor("ward", Sector::RegionalPsychiatry);
    let plan = create(&store, &ward, 1).await.plan_id;
    let command = Command::AddGoal { text: text("bolig"), category: DataCategory::Goals };
    let expected_version = trail::counted(&categories(&store, &ward, plan).await, 1);
    let late = Submission { deadline: Some(std::time::Instant::now()), ..submission(&ward, None) };
    let refused = store.submit(late, Intent::Change { plan, expected_version, command: command.clone() }).await;
    assert!(matches!(refused, Err(Error::DeadlineExceeded)), "{refused:?}");
    assert_eq!(store.durable_position(), 1, "nothing written");
    let in_time = Submission {
        deadline: std::time::Instant::now().checked_add(std::time::Duration::from_secs(60)),
        ..submission(&ward, None)
    };
    store.submit(in_time, Intent::Change { plan, expected_version, command }).await.expect("in time");
    let audit = store.audit_records(1, 100).await.expect("audit");
    let decisions: Vec<_> = audit.iter().map(|r| r.entry.decision.clone()).collect();
    assert_eq!(
        decisions,
        [Decision::Allowed, Decision::Denied { reason: "DEADLINE_EXCEEDED".into() }, Decision::Allowed]
    );
}

/// A read of `plan` (or an operation on no plan) as the audit log records it.
fn read_entry(by: &Actor, plan: Option<PlanId>) -> AuditEntry {
    AuditEntry {
        at: Timestamp(0),
        actor: Some(by.clone()),
        certificate_identity: None,
        correlation_id: "test".into(),
        plan,
        action: "GetPlan".into(),
        purpose: Purpose::CareCoordination,
        categories: vec![DataCategory::Goals],
        decision: Decision::Allowed,
        legal_ground: "test".into(),
        events: Vec::new(),
    }
}

/// Every page of each plan's audit records equals the full audit log filtered by plan.
async fn assert_plan_audit_matches_log(store: &Store, plans: &[PlanId]) {
    let log = store.audit_records(1, usize::MAX).await.expect("audit log");
    for plan in plans {
        let about: Vec<u64> = log.iter().filter(|r| r.entry.plan == Some(*plan)).map(|r| r.sequence).collect();
        for from in 1..=log.len() as u64 + 1 {
            for limit in [1, 2, 5, usize::MAX] {
                let found: Vec<u64> = store
                    .plan_audit_records(*plan, from, limit)
                    .await
                    .expect("plan audit")
                    .iter()
                    .map(|r| r.sequence)
                    .collect();
                let expected: Vec<u64> = about.iter().copied().filter(|s| *s >= from).take(limit).collect();
                assert_eq!(found, expected, "plan {plan:?} from {from}, at most {limit}");
            }
        }
    }
}

#[tokio::test]
async fn a_plans_audit_records_are_found_whether_indexed_yet_or_not_and_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ward = actor("ward", Sector::RegionalPsychiatry);
    let plans;
    {
        // The index is written every third record; the rest is found in the rounds after it.
        let store = open_indexing_every(dir.path(), 3);
        plans = [create(&store, &ward, 1).await.plan_id, create(&store, &ward, 2).await.plan_id];
        for i in 0..10 {
            let plan = if i % 4 == 3 { None } else { Some(plans[i % 2]) };
            store.record(read_entry(&ward, plan)).await.expect("record");
        }
        let stale = change(&store, &ward, plans[0], 99, Command::ActivatePlan, None).await;
        assert!(matches!(stale, Err(Error::StaleVersion { .. })), "a refusal is recorded too: {stale:?}");
        store
            .record_all(vec![read_entry(&ward, Some(plans[1])), read_entry(&ward, Some(plans[0]))])
            .await
            .expect("record");
        // Left pending at shutdown: the index was last written with the round before.
        store.record(read_entry(&ward, Some(plans[0]))).await.expect("record");
        assert_plan_audit_matches_log(&store, &plans).await;
        store.shutdown().await;
    }
    // Reopened with another batch size: the pending records are gathered again from the rounds.
    let store = open_indexing_every(dir.path(), 4);
    assert_plan_audit_matches_log(&store, &plans).await;
    for plan in plans.iter().chain(plans.iter()).chain(plans.iter()) {
        store.record(read_entry(&ward, Some(*plan))).await.expect("record");
    }
    assert_plan_audit_matches_log(&store, &plans).await;
    assert_eq!(store.plan_audit_records(plans[0], 1, usize::MAX).await.expect("plan audit").len(), 12);
    assert_eq!(store.verify().await.expect("verify").problems, Vec::<String>::new());
    // A list removed from the index is noticed.
    let (key, _) = store.sled_db().scan_prefix([keys::PLAN_AUDIT]).next().expect("an index list").expect("read");
    store.sled_db().remove(key).expect("remove");
    let problems = store.verify().await.expect("verify").problems;
    assert!(problems.iter().any(|p| p.contains("missing from the index")), "{problems:?}");
}

#[tokio::test]
async fn concurrent_writes_share_flushes_and_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ward = actor("ward", Sector::RegionalPsychiatry);
    let plans;
    {
        let store = open(dir.path());
        let mut created = Vec::new();
        for citizen in 0..8 {
            created.push(create(&store, &ward, citizen).await.plan_id);
        }
        plans = created;
        let mut tasks = Vec::new();
        for (i, plan) in plans.iter().enumerate() {
            let (store, ward, plan) = (store.clone(), ward.clone(), *plan);
            tasks.push(tokio::spawn(async move {
                for version in 1..=20u64 {
                    let command =
                        Command::AddGoal { text: text(&format!("mål {i} {version}")), category: DataCategory::Goals };
                    change(&store, &ward, plan, version, command, None).await.expect("write");
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        let stats = store.stats();
        assert_eq!(stats.jobs, 8 + 160);
        assert!(stats.device_syncs <= stats.batches && stats.batches > 0);
        store.shutdown().await;
    }
    let store = open(dir.path());
    assert_eq!(store.durable_position(), 168);
    for plan in &plans {
        assert_eq!(store.plan(*plan).await.expect("read").expect("plan").version, 21);
    }
    let report = store.verify().await.expect("verify");
    assert_eq!(report.problems, Vec::<String>::new());
    assert_eq!((report.events, report.plans), (168, 8));
    let all: Vec<u64> =
        store.events_from(0, usize::MAX).await.expect("log").iter().map(|e| e.global_position).collect();
    assert_eq!(all, (1..=168).collect::<Vec<_>>(), "the global log is ordered and gap-free");
    for from in [1, 7, 100, 166] {
        let page: Vec<u64> = store.events_from(from, 3).await.expect("log").iter().map(|e| e.global_position).collect();
        assert_eq!(page, (from..from + 3).collect::<Vec<_>>(), "resuming at {from}");
    }
    assert!(store.events_from(169, 10).await.expect("log").is_empty());
    assert!(!dir.path().join("blobs").read_dir().is_ok_and(|mut d| d.next().is_some()), "no unsynced sled blobs");
}

fn command_strategy() -> impl Strategy<Value = (usize, Command)> {
    let id = |prefix: &'static str| (1..4usize).prop_map(move |n| format!("{prefix}-{n}"));
    let section = prop_oneof![
        Just(SectionKind::Psychiatry),
        Just(SectionKind::Social),
        Just(SectionKind::Employment),
        Just(SectionKind::Addiction)
    ];
    let who = 0..ACTORS.len();
    let command = prop_oneof![
        Just(Command::ActivatePlan),
        Just(Command::PutPlanOnHold { reason: text("pause") }),
        Just(Command::ResumePlan),
        Just(Command::ClosePlan { reason: text("slut") }),
        Just(Command::ReopenPlan { reason: text("igen") }),
        "[a-zæøå ]{1,12}".prop_map(|t| Command::AddGoal {
            text: Text::parse("t", &format!("mål {t}")).expect("text"),
            category: DataCategory::Goals
        }),
        id("goal").prop_map(|goal_id| Command::ReviseGoal { goal_id, text: text("nyt mål") }),
        id("goal").prop_map(|goal_id| Command::AssessGoal { goal_id, achievement: GoalAchievement::Achieved }),
        id("goal").prop_map(|goal_id| Command::EndGoal { goal_id, reason: text("nået") }),
        section.clone().prop_map(|section| Command::TakeSectionOwnership { section }),
        (section, proptest::collection::vec(id("goal"), 0..2)).prop_map(|(section, goal_ids)| Command::AddActivity {
            section,
            title: text("aktivitet"),
            legal_plan_type: LegalPlanType::KoordinerendeIndsatsplan,
            responsible_professional: prof("p-2"),
            start_date: Date::from_ymd_opt(2026, 12, 1).expect("date"),
            end_date: None,
            goal_ids,
        }),
        (
            id("activity"),
            prop_oneof![
                Just(ActivityStatus::InProgress),
                Just(ActivityStatus::Completed),
                Just(ActivityStatus::Cancelled)
            ]
        )
            .prop_map(|(activity_id, status)| Command::ChangeActivityStatus { activity_id, status }),
        (0..ACTORS.len())
            .prop_map(|i| Command::AssignContactPerson { organisation: org(ACTORS[i].0), professional: prof("p-1") }),
        (0..ACTORS.len(), 0..ACTORS.len()).prop_map(|(from, to)| Command::HandOverContactPerson {
            from_organisation: org(ACTORS[from].0),
            from_professional: prof("p-1"),
            to_organisation: org(ACTORS[to].0),
            to_professional: prof("p-2"),
            reason: text("overdragelse"),
        }),
        id("member").prop_map(|member_id| Command::EndCareTeamMembership {
            member_id,
            end_date: Date::from_ymd_opt(2026, 12, 31).expect("date")
        }),
        Just(Command::RecordAdvanceStatement {
            occasion: AdvanceStatementOccasion::Discharge,
            text: text("ønske"),
            supersedes: None
        }),
        id("statement").prop_map(|s| Command::RecordAdvanceStatement {
            occasion: AdvanceStatementOccasion::Other,
            text: text("rettet"),
            supersedes: Some(s)
        }),
        Just(Command::RegisterRelative {
            name: text("Anna"),
            relation: text("søster"),
            involvement: RelativeInvolvement::Full
        }),
        id("relative").prop_map(|relative_id| Command::ChangeRelativeInvolvement {
            relative_id,
            involvement: RelativeInvolvement::None
        }),
        (
            prop_oneof![
                Just(Milestone::ReferredForAssessment),
                Just(Milestone::AssessmentCompleted { serious: true }),
                Just(Milestone::PsychiatricTreatmentStarted),
                Just(Milestone::IndsatsplanMeetingHeld),
                Just(Milestone::DischargePlanned { expected: Date::from_ymd_opt(2026, 11, 30).expect("date") }),
                Just(Milestone::NetworkMeetingHeld),
            ],
            0..30u64
        )
            .prop_map(|(milestone, days_ago)| Command::RecordMilestone {
                milestone,
                occurred_on: Date::from_ymd_opt(2026, 11, 23).expect("date") - chrono::Days::new(days_ago),
            }),
        id("clock").prop_map(|clock_id| Command::PauseClock { clock_id, reason: text("borgerens ønske") }),
        id("clock").prop_map(|clock_id| Command::ResumeClock { clock_id }),
        Just(Command::StartIndsatsplan { next_meeting: Date::from_ymd_opt(2027, 1, 15).expect("date") }),
        (1..4u32).prop_map(|version| Command::SignIndsatsplan { version }),
        Just(Command::Discharge(DischargeCommand::RequestAdvanceStatements)),
        (0..ACTORS.len()).prop_map(|i| Command::Discharge(DischargeCommand::AgreeNextContactPerson {
            organisation: org(ACTORS[i].0),
            professional: prof("p-3"),
        })),
        Just(Command::Discharge(DischargeCommand::Complete { on: Date::from_ymd_opt(2026, 11, 23).expect("date") })),
    ];
    (who, command)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// For random command sequences the persisted projection equals a replay
    /// of the log, byte for byte, and positions stay gap-free.
    #[test]
    fn persisted_projection_equals_replay(commands in proptest::collection::vec(command_strategy(), 1..40)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = open(dir.path());
            let actors: Vec<Actor> = ACTORS.iter().map(|(o, s)| actor(o, *s)).collect();
            let plan = create(&store, &actors[0], 1).await.plan_id;
            for other in &actors[1..] {
                let version = store.plan(plan).await.expect("read").expect("plan").version;
                let join = Command::AddCareTeamMember {
                    organisation: OrganisationRef { id: other.organisation.clone(), sector: other.sector },
                    professional: None,
                    role: ProfessionalRole::SocialWorker,
                    start_date: Date::from_ymd_opt(2026, 1, 1).expect("date"),
                    end_date: None,
                    ground: Some(Text::parse("ground", "borgerens samtykke").expect("text")),
                };
                change(&store, &actors[0], plan, version, join, None).await.expect("join");
            }
            let mut contact_person_seen = false;
            for (who, command) in commands {
                let version = store.plan(plan).await.expect("read").expect("plan").version;
                let _ = change(&store, &actors[who], plan, version, command, None).await;
                let current = store.plan(plan).await.expect("read").expect("plan");
                contact_person_seen |= current.contact_person.is_some();
                prop_assert!(!contact_person_seen || current.contact_person.is_some(), "no gap once assigned");
                prop_assert!(current.status != PlanStatus::Active || current.contact_person.is_some());
            }
            let persisted = store.plan(plan).await.expect("read").expect("plan");
            let replayed = store.replay_plan(plan).await.expect("replay").expect("plan");
            prop_assert_eq!(encode(&persisted).expect("encode"), encode(&replayed).expect("encode"));
            let report = store.verify().await.expect("verify");
            prop_assert!(report.problems.is_empty(), "{:?}", report.problems);
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn the_deadline_watcher_marks_each_overdue_clock_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = StoreOptions::new(dir.path());
    options.cache_capacity_bytes = 8 * 1024 * 1024;
    let clock = Arc::new(AtomicI64::new(1_795_435_200_000_000)); // Monday 23 Nov 2026, noon UTC
    let now = clock.clone();
    options.clock = Arc::new(move || Timestamp(now.load(Ordering::Relaxed)));
    let store = Store::open(options).expect("open store");
    let days = |n: i64| clock.fetch_add(n * 86_400_000_000, Ordering::Relaxed);

    let ward = actor("ward", Sector::RegionalPsychiatry);
    let plan = create(&store, &ward, 1).await.plan_id;
    let today = store.now().date();
    let record = |milestone| Command::RecordMilestone { milestone, occurred_on: today };
    change(&store, &ward, plan, 1, record(Milestone::ReferredForAssessment), None).await.expect("referral");
    // The patient is told at once (§ 90), so that only the assessment and the network meeting run.
    change(&store, &ward, plan, 2, record(Milestone::PatientInformed), None).await.expect("informed");
    let discharge = Milestone::DischargePlanned { expected: today };
    change(&store, &ward, plan, 3, record(discharge), None).await.expect("discharge planned");
    let call = Command::Discharge(DischargeCommand::RequestNetworkMeeting { meeting_on: today });
    change(&store, &ward, plan, 4, call, None).await.expect("network meeting called");
    let clocks = store.plan(plan).await.expect("read").expect("plan").clocks;
    let (assessment, network) = (clocks[0].clock_id.clone(), clocks[2].clock_id.clone());
    let pause = Command::PauseClock { clock_id: assessment.clone(), reason: text("borgeren ønsker at vente") };
    assert_eq!(crate::watcher::mark_overdue_clocks(&store).await.expect("watch"), 0, "nothing is due yet");

    // Eight days on the network meeting (five working days) is overdue; the assessment (30 days) is not.
    days(8);
    assert_eq!(crate::watcher::mark_overdue_clocks(&store).await.expect("watch"), 1);
    assert_eq!(crate::watcher::mark_overdue_clocks(&store).await.expect("watch"), 0, "once");
    let marked = store.plan_events(plan, 6, 10).await.expect("events");
    assert!(matches!(&marked[0].payload, EventPayload::ClockOverdue { clock_id, .. } if *clock_id == network));
    assert_eq!(marked[0].actor.professional.as_str(), crate::domain::deadlines::WATCHER);

    // A paused clock is never marked; once resumed past its (moved) due date, it is.
    change(&store, &ward, plan, 6, pause, None).await.expect("pause");
    days(40);
    assert_eq!(crate::watcher::mark_overdue_clocks(&store).await.expect("watch"), 0, "paused");
    let resume = Command::ResumeClock { clock_id: assessment };
    change(&store, &ward, plan, 7, resume, None).await.expect("resume");
    assert_eq!(crate::watcher::mark_overdue_clocks(&store).await.expect("watch"), 0, "the pause moved it on");
    days(31);
    assert_eq!(crate::watcher::mark_overdue_clocks(&store).await.expect("watch"), 1);
    let plan_now = store.plan(plan).await.expect("read").expect("plan");
    assert!(plan_now.clocks.iter().filter(|c| c.is_open()).all(|c| c.overdue_recorded));
    assert!(store.due_clocks(store.now().date(), 10).await.expect("index").is_empty());
    let open: usize = store.open_clocks(None).await.expect("index").iter().map(|(_, clocks)| clocks.len()).sum();
    assert_eq!(open, 2, "overdue clocks are still open");
    assert!(store.verify().await.expect("verify").problems.is_empty());
}

#[tokio::test]
async fn a_projection_this_build_cannot_decode_is_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let ward = actor("ward", Sector::RegionalPsychiatry);
    let plan = create(&store, &ward, 1).await.plan_id;
    let add = Command::AddGoal { text: text("bo selv"), category: DataCategory::Goals };
    change(&store, &ward, plan, 1, add, None).await.expect("goal");
    let expected = store.plan(plan).await.expect("read").expect("plan");

    // As if an earlier build, whose plans had fewer fields, had written it.
    store.sled_db().insert(keys::projection(plan), vec![0xff; 3]).expect("overwrite");
    assert_eq!(store.plan(plan).await.expect("read"), Some(expected.clone()), "rebuilt for reads");
    assert!(!store.verify().await.expect("verify").problems.is_empty(), "verify still reports it");
    let add = Command::AddGoal { text: text("arbejde"), category: DataCategory::Goals };
    change(&store, &ward, plan, 2, add, None).await.expect("the writer rebuilds it too");
    assert_eq!(store.plan(plan).await.expect("read").map(|p| p.goals.len()), Some(2));
    assert!(store.verify().await.expect("verify").problems.is_empty(), "and the next write stores it anew");
}

#[tokio::test]
async fn projections_of_an_older_format_are_rebuilt_from_the_log_when_the_store_opens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ward = actor("ward", Sector::RegionalPsychiatry);
    let (plan, expected) = {
        let store = open(dir.path());
        let plan = create(&store, &ward, 1).await.plan_id;
        let add = Command::AddGoal { text: text("bo selv"), category: DataCategory::Goals };
        change(&store, &ward, plan, 1, add, None).await.expect("goal");
        let referral =
            Command::RecordMilestone { milestone: Milestone::ReferredForAssessment, occurred_on: store.now().date() };
        change(&store, &ward, plan, 2, referral, None).await.expect("referral");
        // A health service joins on its own: listed for its auditors' review.
        let joined = create(&store, &actor("misbrug", Sector::AddictionService), 1).await;
        assert!(joined.joined(), "joins the ward's plan");
        let expected = store.plan(plan).await.expect("read").expect("plan");
        store.shutdown().await;
        (plan, expected)
    };
    {
        // As an earlier release left it: no format key, and projections in its shape.
        let db = sled::Config::new().path(dir.path()).segment_size(SEGMENT_SIZE).open().expect("sled");
        db.remove([keys::PROJECTION_FORMAT]).expect("remove");
        db.insert(keys::projection(plan), vec![0xff; 3]).expect("overwrite");
        // ... and before the review index of joins, and the clock index by organisation, existed;
        // with a stale clock key left behind.
        for prefix in [keys::JOIN, keys::MEMBER_CLOCK] {
            for key in db.scan_prefix([prefix]).keys() {
                db.remove(key.expect("key")).expect("remove");
            }
        }
        db.insert(keys::open_clock(PlanId([7; 16]), 0), vec![]).expect("stale");
        db.flush().expect("flush");
    }
    let store = open(dir.path());
    let format = store.sled_db().get([keys::PROJECTION_FORMAT]).expect("get").expect("format written");
    assert_eq!(decode::<u32>(&format).expect("decode"), migrate::PROJECTION_FORMAT);
    let stored = store.sled_db().get(keys::projection(plan)).expect("get").expect("projection");
    assert_eq!(decode::<Plan>(&stored).expect("current format"), expected);
    let joins = store.care_team_joins(&OrganisationId::parse("organisation", "misbrug").expect("id"), 0, 10).await;
    assert_eq!(joins.expect("index").len(), 1, "the review index is rebuilt with the projections");
    let ward_clocks = store.open_clocks_of(&ward.organisation, None).await.expect("index");
    assert_eq!(ward_clocks, [(plan, vec![0, 1])], "the clock index by organisation is rebuilt too");
    let misbrug = OrganisationId::parse("organisation", "misbrug").expect("id");
    assert_eq!(store.open_clocks_of(&misbrug, None).await.expect("index").len(), 1, "every member's");
    assert!(store.verify().await.expect("verify").problems.is_empty());
    store.shutdown().await;
    drop(store);

    // A store written by a newer release is refused, not misread.
    {
        let db = sled::Config::new().path(dir.path()).segment_size(SEGMENT_SIZE).open().expect("sled");
        db.insert([keys::PROJECTION_FORMAT], encode(&(migrate::PROJECTION_FORMAT + 1)).expect("encode")).expect("set");
        db.flush().expect("flush");
    }
    let mut options = StoreOptions::new(dir.path());
    options.cache_capacity_bytes = 8 * 1024 * 1024;
    let Err(refused) = Store::open(options) else { panic!("a newer format is refused") };
    assert!(refused.to_string().contains("newer than this build"), "{refused}");
}
