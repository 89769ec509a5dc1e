//! Given-when-then tests of the plan's rules: given these events, when this
//! command, then these events or this refusal.

use super::testkit::*;
use super::*;
use crate::domain::plan::Plan;

#[test]
fn creator_joins_the_care_team_and_plan_starts_as_draft() {
    let given = Given::plan();
    assert_eq!(given.plan.status, PlanStatus::Draft);
    assert!(given.plan.is_member(&org("ward"), NOW));
    assert_eq!(given.plan.version, 1);
}

#[test]
fn outsiders_learn_nothing() {
    let given = Given::plan();
    let err = given
        .when(&outsider(), &Command::AddGoal { text: text("bo selv"), category: DataCategory::Goals })
        .expect_err("refused");
    assert_eq!(err, DomainError::PlanNotFound);
}

#[test]
fn activation_needs_a_contact_person() {
    let given = Given::plan();
    let err = given.when(&ward(), &Command::ActivatePlan).expect_err("refused");
    assert_eq!(reason(err), "CONTACT_PERSON_MISSING");
    let given = given.with_contact();
    assert_eq!(given.when(&ward(), &Command::ActivatePlan), Ok(vec![EventPayload::PlanActivated]));
}

#[test]
fn lifecycle_draft_active_on_hold_closed_reopened() {
    let mut given = Given::plan().with_contact().and(&ward(), Command::ActivatePlan);
    given = given.and(&ward(), Command::PutPlanOnHold { reason: text("indlagt") });
    assert_eq!(given.plan.status, PlanStatus::OnHold);
    given = given.and(&ward(), Command::ResumePlan);
    assert_eq!(given.plan.status, PlanStatus::Active);
    given = given.and(&ward(), Command::ClosePlan { reason: text("forløb afsluttet") });
    assert_eq!(given.plan.status, PlanStatus::Closed);
    let err =
        given.when(&ward(), &Command::AddGoal { text: text("x"), category: DataCategory::Goals }).expect_err("closed");
    assert_eq!(reason(err), "PLAN_CLOSED");
    let err = given.when(&ward(), &Command::ResumePlan).expect_err("closed");
    assert_eq!(reason(err), "PLAN_CLOSED");
    given = given.and(&ward(), Command::ReopenPlan { reason: text("ny indlæggelse") });
    assert_eq!(given.plan.status, PlanStatus::Active);
    assert_eq!(given.plan.contact_person.as_ref().map(|c| c.professional.as_str()), Some("p-1"));
}

#[test]
fn one_contact_person_handed_over_atomically() {
    let given = Given::plan().with_team().with_contact().and(&ward(), Command::ActivatePlan);
    let again = Command::AssignContactPerson { organisation: org("kommune"), professional: prof("p-9") };
    assert_eq!(reason(given.when(&municipality(), &again).expect_err("second")), "CONTACT_PERSON_ASSIGNED");

    let stale = Command::HandOverContactPerson {
        from_organisation: org("kommune"),
        from_professional: prof("p-9"),
        to_organisation: org("kommune"),
        to_professional: prof("p-2"),
        reason: text("udskrivelse"),
    };
    assert_eq!(reason(given.when(&ward(), &stale).expect_err("not current")), "CONTACT_PERSON_CHANGED");

    let handover = Command::HandOverContactPerson {
        from_organisation: org("ward"),
        from_professional: prof("p-1"),
        to_organisation: org("kommune"),
        to_professional: prof("p-2"),
        reason: text("udskrivelse"),
    };
    let given = given.and(&ward(), handover);
    let cp = given.plan.contact_person.as_ref().expect("contact person");
    assert_eq!((cp.organisation.as_str(), cp.professional.as_str()), ("kommune", "p-2"));

    let to_outsider = Command::HandOverContactPerson {
        from_organisation: org("kommune"),
        from_professional: prof("p-2"),
        to_organisation: org("outsider"),
        to_professional: prof("p-3"),
        reason: text("x"),
    };
    assert_eq!(reason(given.when(&municipality(), &to_outsider).expect_err("not member")), "to_organisation_id");
}

#[test]
fn contact_persons_organisation_cannot_leave_the_team() {
    let given = Given::plan().with_team().with_contact();
    let end = Command::EndCareTeamMembership { member_id: given.member_id(1), end_date: NOW.date() };
    assert_eq!(reason(given.when(&ward(), &end).expect_err("refused")), "CONTACT_PERSON_ORGANISATION");
    let end_job = Command::EndCareTeamMembership { member_id: given.member_id(3), end_date: NOW.date() };
    assert!(given.when(&ward(), &end_job).is_ok());
}

#[test]
fn only_the_owner_writes_a_section() {
    let given = Given::plan().with_team();
    let add = |section| Command::AddActivity {
        section,
        title: text("jobsamtale"),
        legal_plan_type: LegalPlanType::Jobplan,
        responsible_professional: prof("p-5"),
        start_date: NOW.date(),
        end_date: None,
        goal_ids: vec![],
    };
    assert_eq!(
        reason(given.when(&jobcentre(), &add(SectionKind::Employment)).expect_err("unowned")),
        "SECTION_UNOWNED"
    );
    let take = |section| Command::TakeSectionOwnership { section };
    assert_eq!(
        reason(given.when(&municipality(), &take(SectionKind::Employment)).expect_err("wrong sector")),
        "CATEGORY_NOT_WRITABLE"
    );
    let given = given.and(&jobcentre(), take(SectionKind::Employment));
    assert_eq!(
        reason(given.when(&jobcentre(), &take(SectionKind::Employment)).expect_err("owned")),
        "SECTION_ALREADY_OWNED"
    );
    let unseen = given.when(&ward(), &add(SectionKind::Employment)).expect_err("without consent");
    assert_eq!(reason(unseen), "CATEGORY_NOT_WRITABLE");
    let given = given.and(&jobcentre(), add(SectionKind::Employment));
    assert_eq!(given.plan.activities[0].responsible_organisation, org("jobcenter"));
    let change =
        Command::ChangeActivityStatus { activity_id: given.activity_id(1), status: ActivityStatus::InProgress };
    assert_eq!(reason(given.when(&ward(), &change).expect_err("unseen")), "activity_id");
    // Under the citizen's consent the ward sees the section, and still may not write it.
    let consent = Command::RecordConsent {
        recipient: OrganisationRef { id: ward().organisation, sector: Sector::RegionalPsychiatry },
        categories: vec![DataCategory::Employment],
        given_by: ConsentGiver::Citizen,
        form: ConsentForm::Oral,
        given_on: NOW.date(),
        valid_until: None,
        purpose: text("koordinering"),
        document_reference: None,
    };
    let given = given.and(&jobcentre(), consent);
    assert_eq!(reason(given.when(&ward(), &add(SectionKind::Employment)).expect_err("not owner")), "SECTION_NOT_OWNED");
    assert_eq!(reason(given.when(&ward(), &change).expect_err("not owner")), "SECTION_NOT_OWNED");
}

#[test]
fn region_takes_the_addiction_section_for_dual_diagnosis() {
    let given = Given::plan();
    let given = given.and(&ward(), Command::TakeSectionOwnership { section: SectionKind::Addiction });
    assert_eq!(given.plan.sections[&SectionKind::Addiction].organisation, org("ward"));
}

#[test]
fn activities_are_never_deleted_only_cancelled() {
    let given = Given::plan()
        .and(&ward(), Command::TakeSectionOwnership { section: SectionKind::Psychiatry })
        .and(&ward(), Command::AddGoal { text: text("sove om natten"), category: DataCategory::Goals });
    let goal = given.goal_id(1);
    let given = given.and(
        &ward(),
        Command::AddActivity {
            section: SectionKind::Psychiatry,
            title: text("medicinsamtale"),
            legal_plan_type: LegalPlanType::Behandlingsplan,
            responsible_professional: prof("p-1"),
            start_date: NOW.date(),
            end_date: None,
            goal_ids: vec![goal],
        },
    );
    let activity = given.activity_id(1);
    let status = |s| Command::ChangeActivityStatus { activity_id: activity.clone(), status: s };
    assert_eq!(
        reason(given.when(&ward(), &status(ActivityStatus::Completed)).expect_err("skip")),
        "ACTIVITY_STATUS_TRANSITION"
    );
    let given = given.and(&ward(), status(ActivityStatus::Cancelled));
    assert_eq!(given.plan.activities.len(), 1);
    assert_eq!(given.plan.activities[0].status, ActivityStatus::Cancelled);
    assert!(given.when(&ward(), &status(ActivityStatus::InProgress)).is_err());
}

#[test]
fn activity_must_fit_its_section_and_serve_real_goals() {
    let given = Given::plan().and(&ward(), Command::TakeSectionOwnership { section: SectionKind::Psychiatry });
    let add = |legal_plan_type, goal_ids: Vec<String>| Command::AddActivity {
        section: SectionKind::Psychiatry,
        title: text("x"),
        legal_plan_type,
        responsible_professional: prof("p-1"),
        start_date: NOW.date(),
        end_date: None,
        goal_ids,
    };
    assert_eq!(reason(given.when(&ward(), &add(LegalPlanType::Jobplan, vec![])).expect_err("x")), "legal_plan_type");
    assert_eq!(
        reason(given.when(&ward(), &add(LegalPlanType::Behandlingsplan, vec!["goal-7".into()])).expect_err("x")),
        "goal_ids"
    );
}

#[test]
fn goal_lifecycle_is_separate_from_achievement() {
    let given =
        Given::plan().and(&ward(), Command::AddGoal { text: text("have et arbejde"), category: DataCategory::Goals });
    let goal = given.goal_id(1);
    let given = given
        .and(&ward(), Command::AssessGoal { goal_id: goal.clone(), achievement: GoalAchievement::PartlyAchieved })
        .and(&ward(), Command::ReviseGoal { goal_id: goal.clone(), text: text("have et fritidsjob") });
    let shown = &given.plan.goals[0];
    assert_eq!(
        (shown.lifecycle, shown.achievement, shown.revision),
        (GoalLifecycle::Active, GoalAchievement::PartlyAchieved, 1)
    );
    let given = given.and(&ward(), Command::EndGoal { goal_id: goal.clone(), reason: text("ønsker andet") });
    assert_eq!(given.plan.goals[0].lifecycle, GoalLifecycle::Ended);
    assert_eq!(given.plan.goals[0].achievement, GoalAchievement::PartlyAchieved);
    let revise = Command::ReviseGoal { goal_id: goal.clone(), text: text("x") };
    assert_eq!(reason(given.when(&ward(), &revise).expect_err("ended")), "GOAL_ENDED");
    let assess = Command::AssessGoal { goal_id: goal, achievement: GoalAchievement::Achieved };
    assert!(given.when(&ward(), &assess).is_ok(), "an ended goal can still be assessed");
}

#[test]
fn advance_statements_are_superseded_never_rewritten() {
    let record = |supersedes: Option<&str>| Command::RecordAdvanceStatement {
        occasion: AdvanceStatementOccasion::Discharge,
        text: text("ring til min søster"),
        supersedes: supersedes.map(str::to_owned),
    };
    let given = Given::plan().and(&ward(), record(None));
    let first = given.statement_id(1);
    let given = given.and(&ward(), record(Some(&first)));
    assert_eq!(given.plan.advance_statements.len(), 2);
    assert_eq!(given.plan.advance_statements[0].superseded_by, Some(given.statement_id(2)));
    assert_eq!(reason(given.when(&ward(), &record(Some(&first))).expect_err("x")), "ALREADY_SUPERSEDED");
}

#[test]
fn relatives_keep_the_citizens_wishes() {
    let given = Given::plan().and(
        &ward(),
        Command::RegisterRelative {
            name: text("Anna"),
            relation: text("søster"),
            involvement: RelativeInvolvement::Full,
        },
    );
    let relative = given.relative_id(1);
    let same =
        Command::ChangeRelativeInvolvement { relative_id: relative.clone(), involvement: RelativeInvolvement::Full };
    assert_eq!(reason(given.when(&ward(), &same).expect_err("unchanged")), "UNCHANGED");
    let given = given.and(
        &ward(),
        Command::ChangeRelativeInvolvement { relative_id: relative, involvement: RelativeInvolvement::None },
    );
    assert_eq!(given.plan.relatives[0].involvement, RelativeInvolvement::None);
}

#[test]
fn identifiers_refuse_cpr_numbers() {
    assert!(ProfessionalId::parse("professional_id", "0101901234").is_err());
    assert!(ProfessionalId::parse("professional_id", "010190-1234").is_err());
    assert!(ProfessionalId::parse("professional_id", "aut-12345").is_ok());
}

#[test]
fn health_services_join_on_their_own_others_by_invitation_or_consent() {
    let given = Given::plan();
    assert_eq!(join(&given.plan, &ward(), NOW, text("igen"), IdSeed(7)), Ok(None), "members just get the plan");
    let joined = join(&given.plan, &addiction(), NOW, text("henvist"), IdSeed(7)).expect("joins").expect("an event");
    let EventPayload::CareTeamJoined { member, reason } = &joined else { panic!("expected CareTeamJoined") };
    assert_eq!(member.organisation.as_str(), "misbrug");
    assert!(member.member_id.starts_with("member-") && member.member_id != given.member_id(1));
    assert_eq!(reason.as_str(), "henvist");
    let refused = join(&given.plan, &jobcentre(), NOW, text("sygedagpenge"), IdSeed(7)).expect_err("not on its own");
    assert_eq!(super::testkit::reason(refused), "JOIN_NEEDS_INVITATION_OR_CONSENT");

    let plan_only = given.when(&ward(), &consent(&jobcentre(), &[DataCategory::PlanAndContact]));
    assert_eq!(super::testkit::reason(plan_only.expect_err("the plan is the care team's")), "categories");
    let consented = given.and(&ward(), consent(&jobcentre(), &[DataCategory::DischargeCoordination]));
    let joined = join(&consented.plan, &jobcentre(), NOW, text("sygedagpenge"), IdSeed(7)).expect("under consent");
    assert!(matches!(joined, Some(EventPayload::CareTeamJoined { .. })));

    let invite = |ground: Option<Text>| Command::AddCareTeamMember {
        organisation: OrganisationRef { id: jobcentre().organisation, sector: Sector::JobCentre },
        professional: None,
        role: ProfessionalRole::JobConsultant,
        start_date: NOW.date(),
        end_date: None,
        ground,
    };
    let plan = Given::plan();
    assert_eq!(super::testkit::reason(plan.when(&ward(), &invite(None)).expect_err("no ground")), "ground");
    let invited = plan.when(&ward(), &invite(Some(text("serviceloven § 141")))).expect("invited");
    assert!(
        matches!(&invited[0], EventPayload::CareTeamMemberInvited { ground, .. } if ground.as_str() == "serviceloven § 141")
    );
}

// ---- Who sees what (policy.rs, grounds.rs, consent.rs) ----

fn hours(n: i64) -> Timestamp {
    Timestamp(NOW.0 + n * 3_600_000_000)
}

fn consent(recipient: &Actor, categories: &[DataCategory]) -> Command {
    consent_as(recipient, categories, ConsentForm::Written, Some("journal-17"), None)
}

fn consent_as(
    recipient: &Actor,
    categories: &[DataCategory],
    form: ConsentForm,
    document: Option<&str>,
    valid_until: Option<Date>,
) -> Command {
    Command::RecordConsent {
        recipient: OrganisationRef { id: recipient.organisation.clone(), sector: recipient.sector },
        categories: categories.to_vec(),
        given_by: ConsentGiver::Citizen,
        form,
        given_on: NOW.date(),
        valid_until,
        purpose: text("koordinering"),
        document_reference: document.map(text),
    }
}

/// The citizen's consent that `recipient` may see their health information,
/// each part recorded by the service that holds it.
fn with_health_consent(given: Given, recipient: &Actor) -> Given {
    given
        .and(&ward(), consent(recipient, &[DataCategory::Psychiatric]))
        .and(&addiction(), consent(recipient, &[DataCategory::SubstanceAbuse]))
}

fn sees(plan: &Plan, who: &Actor, at: Timestamp) -> Vec<DataCategory> {
    policy::view(plan, who, at).map(|v| v.categories()).unwrap_or_default()
}

#[test]
fn job_centre_sees_health_only_under_consent_and_never_after_withdrawal() {
    use DataCategory::*;
    let given = dual_diagnosis();
    assert_eq!(sees(&given.plan, &jobcentre(), NOW), [PlanAndContact, Goals, Employment]);
    let redacted = disclosure::redacted(&given.plan, &sees(&given.plan, &jobcentre(), NOW));
    assert_eq!(redacted.goals.len(), 1, "the substance-abuse goal is left out");
    assert!(redacted.care_team.iter().all(|m| !m.sector.is_health()));

    let given = with_health_consent(given, &jobcentre());
    assert_eq!(sees(&given.plan, &jobcentre(), NOW), [PlanAndContact, Goals, Psychiatric, SubstanceAbuse, Employment]);
    assert_eq!(sees(&given.plan, &municipality(), NOW), [PlanAndContact, Goals, Social], "for that recipient only");

    let withdraw = Command::WithdrawConsent { consent_id: given.consent_id(1), reason: text("borgeren fortrød") };
    let given = given.and(&jobcentre(), withdraw.clone());
    assert_eq!(sees(&given.plan, &jobcentre(), NOW), [PlanAndContact, Goals, SubstanceAbuse, Employment]);
    assert_eq!(reason(given.when(&ward(), &withdraw).expect_err("once")), "CONSENT_WITHDRAWN");
}

#[test]
fn social_services_and_the_job_centre_see_each_other_only_under_consent() {
    use DataCategory::*;
    let given = dual_diagnosis();
    assert!(!sees(&given.plan, &jobcentre(), NOW).contains(&Social));
    assert!(!sees(&given.plan, &municipality(), NOW).contains(&Employment));
    let given = given.and(&municipality(), consent(&jobcentre(), &[Social]));
    assert!(sees(&given.plan, &jobcentre(), NOW).contains(&Social));
    let view = policy::view(&given.plan, &jobcentre(), NOW).expect("view");
    let ground =
        format!("social: the citizen's consent (forvaltningsloven § 28, stk. 2, nr. 1) [{}]", given.consent_id(1));
    assert!(view.legal_ground().contains(&ground));
}

#[test]
fn a_consent_is_recorded_by_the_data_holder_never_by_its_recipient() {
    let given = dual_diagnosis();
    let own = given.when(&jobcentre(), &consent(&jobcentre(), &[DataCategory::Psychiatric]));
    assert_eq!(reason(own.expect_err("self-consent")), "RECORDED_BY_RECIPIENT");
    let not_holder = given.when(&municipality(), &consent(&jobcentre(), &[DataCategory::Psychiatric]));
    assert_eq!(reason(not_holder.expect_err("social services hold no psychiatric information")), "NOT_DATA_HOLDER");
    let addiction_psych = given.when(&addiction(), &consent(&jobcentre(), &[DataCategory::Psychiatric]));
    assert_eq!(reason(addiction_psych.expect_err("the addiction service holds no psychiatry")), "NOT_DATA_HOLDER");
    // The ward sees the addiction service's records (current treatment) but does not hold them ...
    let ward_substance = given.when(&ward(), &consent(&jobcentre(), &[DataCategory::SubstanceAbuse]));
    assert_eq!(reason(ward_substance.expect_err("not the ward's records")), "NOT_DATA_HOLDER");
    // ... unless the region gives the citizen integrated treatment: it owns the addiction section.
    let integrated =
        Given::plan().with_team().and(&ward(), Command::TakeSectionOwnership { section: SectionKind::Addiction });
    assert!(integrated.when(&ward(), &consent(&jobcentre(), &[DataCategory::SubstanceAbuse])).is_ok());
    let substance = [DataCategory::SubstanceAbuse];
    let oral_no_document = consent_as(&jobcentre(), &substance, ConsentForm::Oral, None, None);
    assert!(given.when(&addiction(), &oral_no_document).is_ok());
    let written_no_document = consent_as(&jobcentre(), &substance, ConsentForm::Written, None, None);
    assert_eq!(reason(given.when(&addiction(), &written_no_document).expect_err("document")), "document_reference");
}

#[test]
fn an_objection_holds_at_once_against_every_ground_but_own_records() {
    use DataCategory::*;
    let given = with_health_consent(dual_diagnosis(), &jobcentre());
    let object = |recipient: &Actor, categories: &[DataCategory]| Command::RecordObjection {
        recipient: OrganisationRef { id: recipient.organisation.clone(), sector: recipient.sector },
        categories: categories.to_vec(),
        given_by: ConsentGiver::Citizen,
        given_on: NOW.date(),
    };
    let before = sees(&given.plan, &addiction(), NOW);
    let objected =
        given.and(&ward(), object(&addiction(), &[Psychiatric])).and(&ward(), object(&jobcentre(), &[Psychiatric]));
    assert!(!sees(&objected.plan, &addiction(), NOW).contains(&Psychiatric), "current treatment stops");
    assert!(sees(&objected.plan, &addiction(), NOW).contains(&SubstanceAbuse), "own records go on");
    assert!(!sees(&objected.plan, &jobcentre(), NOW).contains(&Psychiatric), "consent stops too");
    assert!(sees(&objected.plan, &jobcentre(), NOW).contains(&SubstanceAbuse), "only what was named");
    assert!(before.contains(&Psychiatric), "before the objection");

    let lift = Command::WithdrawObjection { objection_id: objected.objection_id(1), reason: text("borgeren fortrød") };
    assert_eq!(
        reason(objected.when(&addiction(), &lift).expect_err("its recipient cannot even see it")),
        "objection_id"
    );
    let lifted = objected.and(&ward(), lift);
    assert!(sees(&lifted.plan, &addiction(), NOW).contains(&Psychiatric));
}

#[test]
fn the_udskrivningsaftale_opens_the_discharge_to_social_services_only() {
    use DataCategory::*;
    let given = dual_diagnosis().and(&ward(), Command::TakeSectionOwnership { section: SectionKind::Psychiatry });
    assert!(!sees(&given.plan, &municipality(), NOW).contains(&DischargeCoordination));
    // Social services cannot give themselves the ground with a plan in their own section.
    let own = Command::AddActivity {
        section: SectionKind::Social,
        title: text("koordinationsplan"),
        legal_plan_type: LegalPlanType::Koordinationsplan,
        responsible_professional: prof("p-1"),
        start_date: NOW.date(),
        end_date: None,
        goal_ids: Vec::new(),
    };
    let social =
        given.clone_plan().and(&municipality(), Command::TakeSectionOwnership { section: SectionKind::Social });
    if let Ok(events) = social.when(&municipality(), &own) {
        let mut social = social;
        for event in events {
            social.apply(event, &municipality());
        }
        assert!(!sees(&social.plan, &municipality(), NOW).contains(&DischargeCoordination));
    }
    let planned = Command::RecordMilestone {
        milestone: Milestone::DischargePlanned { expected: NOW.date() },
        occurred_on: NOW.date(),
    };
    let refused = given.when(&municipality(), &planned).expect_err("the ward plans a discharge");
    assert!(matches!(reason(refused), "DISCHARGE_STEP_NOT_YOURS" | "CATEGORY_NOT_WRITABLE"));
    let given = given.and(&ward(), udskrivningsaftale());
    assert_eq!(sees(&given.plan, &municipality(), NOW), [PlanAndContact, Goals, Social, DischargeCoordination]);
    assert!(!sees(&given.plan, &jobcentre(), NOW).contains(&DischargeCoordination));
    let view = policy::view(&given.plan, &municipality(), NOW).expect("view");
    assert!(view.legal_ground().contains("psykiatriloven §§ 13 a-13 b"));
}

#[test]
fn a_consent_holds_only_until_its_last_day() {
    let limited = consent_as(&jobcentre(), &[DataCategory::Psychiatric], ConsentForm::Oral, None, Some(NOW.date()));
    let given = dual_diagnosis().and(&ward(), limited);
    assert!(sees(&given.plan, &jobcentre(), NOW).contains(&DataCategory::Psychiatric));
    assert!(!sees(&given.plan, &jobcentre(), hours(48)).contains(&DataCategory::Psychiatric));
}

#[test]
fn health_services_see_each_other_for_current_treatment() {
    use DataCategory::*;
    let given = dual_diagnosis();
    let health = [PlanAndContact, Goals, Psychiatric, SubstanceAbuse, DischargeCoordination];
    assert_eq!(sees(&given.plan, &ward(), NOW), health);
    assert_eq!(sees(&given.plan, &addiction(), NOW), health);
    let view = policy::view(&given.plan, &addiction(), NOW).expect("view");
    assert!(view.legal_ground().contains("psychiatric, discharge coordination: current treatment between health services (sundhedsloven § 41, stk. 2, nr. 1)"));
}

#[test]
fn roles_narrow_what_a_sector_sees() {
    let given = dual_diagnosis();
    let secretary = Actor { role: ProfessionalRole::Secretary, ..ward() };
    assert_eq!(sees(&given.plan, &secretary, NOW), [DataCategory::PlanAndContact]);
    let auditor = Actor { role: ProfessionalRole::Auditor, ..ward() };
    let refused = policy::view(&given.plan, &auditor, NOW).expect_err("auditors read access logs");
    assert_eq!(reason(refused), "ROLE_READS_NO_PLANS");
    let goal = Command::AddGoal { text: text("x"), category: DataCategory::Goals };
    assert_eq!(reason(given.when(&secretary, &goal).expect_err("administrative")), "CATEGORY_NOT_WRITABLE");
}

#[test]
fn a_sector_writes_only_what_it_holds() {
    let given = dual_diagnosis();
    let health_goal = Command::AddGoal { text: text("tage medicin"), category: DataCategory::Psychiatric };
    assert_eq!(reason(given.when(&jobcentre(), &health_goal).expect_err("job centre")), "CATEGORY_NOT_WRITABLE");
    let given = with_health_consent(given, &jobcentre());
    assert_eq!(
        reason(given.when(&jobcentre(), &health_goal).expect_err("consent lets it read, not write")),
        "CATEGORY_NOT_WRITABLE"
    );
    assert!(given.when(&ward(), &health_goal).is_ok());
}

#[test]
fn an_item_the_caller_may_not_see_is_answered_as_one_that_does_not_exist() {
    let given = dual_diagnosis();
    let substance_goal = given.plan.goals.iter().find(|g| g.category == DataCategory::SubstanceAbuse).expect("goal");
    let hidden = Command::EndGoal { goal_id: substance_goal.goal_id.clone(), reason: text("x") };
    let missing = Command::EndGoal { goal_id: "goal-9".into(), reason: text("x") };
    let answer = |c: &Command| given.when(&jobcentre(), c).expect_err("refused");
    assert_eq!(answer(&hidden), answer(&missing));
    let ward_member = Command::EndCareTeamMembership { member_id: given.member_id(1), end_date: NOW.date() };
    let no_member = Command::EndCareTeamMembership { member_id: "member-9".into(), end_date: NOW.date() };
    assert_eq!(answer(&ward_member), answer(&no_member));
    let to_ward = Command::AssignContactPerson { organisation: org("ward"), professional: prof("p-1") };
    let to_stranger = Command::AssignContactPerson { organisation: org("ukendt"), professional: prof("p-1") };
    assert_eq!(answer(&to_ward), answer(&to_stranger));
}

#[test]
fn leaving_the_care_team_ends_access_at_that_moment() {
    let given = dual_diagnosis();
    let member = given.plan.care_team.iter().find(|m| m.sector == Sector::JobCentre).expect("member").member_id.clone();
    let end = Command::EndCareTeamMembership { member_id: member, end_date: NOW.date() };
    let given = given.and(&ward(), end);
    assert_eq!(reason(policy::view(&given.plan, &jobcentre(), NOW).expect_err("gone")), "PLAN_NOT_FOUND");
}

#[test]
fn emergency_access_reads_everything_until_it_expires() {
    let given = dual_diagnosis();
    let stranger = Actor { role: ProfessionalRole::Physician, ..actor("skadestue", Sector::RegionalPsychiatry) };
    assert_eq!(reason(policy::view(&given.plan, &stranger, NOW).expect_err("outsider")), "PLAN_NOT_FOUND");
    let granted = emergency_access(&stranger, NOW, text("bevidstløs på skadestuen"), 24 * 3_600_000_000, IdSeed(7))
        .expect("granted");
    let mut plan = given.plan.clone();
    plan.apply(&record(plan.id, plan.version + 1, granted, &stranger));
    let view = policy::view(&plan, &stranger, hours(23)).expect("emergency view");
    assert_eq!((view.purpose, view.categories()), (Purpose::EmergencyAccess, DataCategory::ALL.to_vec()));
    assert!(view.legal_ground().contains("§ 41, stk. 2, nr. 4, and § 43, stk. 2, nr. 2"));
    assert_eq!(reason(policy::view(&plan, &stranger, hours(24)).expect_err("expired")), "PLAN_NOT_FOUND");
    let colleague = Actor { professional: prof("p-2"), ..stranger.clone() };
    assert!(policy::view(&plan, &colleague, hours(1)).is_err(), "the grant is personal");
    // The same staff id asserted in a role that reads no plan reads nothing through it.
    for role in [ProfessionalRole::Analyst, ProfessionalRole::Auditor, ProfessionalRole::Secretary] {
        let other_hat = Actor { role, ..stranger.clone() };
        assert!(policy::view(&plan, &other_hat, hours(1)).is_err(), "{role:?} reads nothing by the grant");
    }
}

#[test]
fn only_authorised_health_professionals_of_health_services_use_emergency_access() {
    let ask = |who: Actor| emergency_access(&who, NOW, text("x"), 1, IdSeed(7)).map(|_| ());
    for role in [ProfessionalRole::Physician, ProfessionalRole::Nurse, ProfessionalRole::Psychologist] {
        assert!(ask(Actor { role, ..ward() }).is_ok());
        assert!(ask(Actor { role, ..addiction() }).is_ok());
        for other in [jobcentre(), municipality()] {
            assert_eq!(
                reason(ask(Actor { role, ..other }).expect_err("not a health service")),
                "EMERGENCY_ACCESS_NOT_AUTHORISED"
            );
        }
    }
    for role in [
        ProfessionalRole::JobConsultant,
        ProfessionalRole::SocialWorker,
        ProfessionalRole::Mentor,
        ProfessionalRole::AddictionCounsellor,
        ProfessionalRole::Secretary,
        ProfessionalRole::Auditor,
    ] {
        assert_eq!(
            reason(ask(Actor { role, ..ward() }).expect_err("not authorised")),
            "EMERGENCY_ACCESS_NOT_AUTHORISED"
        );
    }
}

#[test]
fn the_citizen_is_to_be_informed_of_an_emergency_access_until_it_is_recorded() {
    let mut given = dual_diagnosis();
    let granted = emergency_access(&ward(), NOW, text("akut"), 3_600_000_000, IdSeed(7)).expect("granted");
    given.apply(granted, &ward());
    assert_eq!(given.plan.emergency_grants[0].citizen_informed_on, None, "pending");
    let informed = Command::RecordCitizenInformed {
        grant_id: given.plan.emergency_grants[0].grant_id.clone(),
        informed_on: NOW.date(),
    };
    assert_eq!(reason(given.when(&jobcentre(), &informed).expect_err("hidden")), "grant_id");
    let given = given.and(&ward(), informed.clone());
    assert_eq!(given.plan.emergency_grants[0].citizen_informed_on, Some(NOW.date()));
    assert_eq!(reason(given.when(&ward(), &informed).expect_err("once")), "CITIZEN_INFORMED");
}

#[test]
fn item_ids_tell_nothing_of_how_many_items_there_are() {
    // Two plans, one with a goal the job centre may not see: the next goal's
    // id is drawn at random in both, not numbered after the hidden one.
    let seen = Given::plan().with_team();
    let psychiatric = Command::AddGoal { text: text("sove om natten"), category: DataCategory::Psychiatric };
    let hidden = seen.clone_plan().and(&ward(), psychiatric);
    let employment = Command::AddGoal { text: text("et arbejde"), category: DataCategory::Employment };
    let next = |given: &Given| given.clone_plan().and(&jobcentre(), employment.clone()).plan.goals.last().cloned();
    let (a, b) = (next(&seen).expect("goal"), next(&hidden).expect("goal"));
    for id in [&a.goal_id, &b.goal_id] {
        let hex = id.strip_prefix("goal-").expect("kind prefix");
        assert!(hex.len() == 16 && hex.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    }
    assert_ne!(a.goal_id, b.goal_id);
    let seed = IdSeed(7);
    assert_ne!(seed.id("clock", 0), seed.id("clock", 1), "one decision's ids are distinct");
    assert_eq!(seed.id("clock", 1), IdSeed(7).id("clock", 1), "and follow from the seed alone");
}
