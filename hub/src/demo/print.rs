//! How the demo prints: plans, views, the event timeline, enum names.

use anyhow::Context;
use samplan_proto::v1 as pb;
use samplan_proto::v1::plan_event::Event;

use super::Participant;

pub(super) fn name<T: TryFrom<i32> + std::fmt::Debug>(value: i32) -> String {
    T::try_from(value).map(|v| format!("{v:?}")).unwrap_or_else(|_| value.to_string())
}

/// `SubstanceAbuse` -> `substance abuse`.
pub(super) fn short(name: String) -> String {
    let mut words = String::new();
    for c in name.chars() {
        if c.is_uppercase() && !words.is_empty() {
            words.push(' ');
        }
        words.extend(c.to_lowercase());
    }
    words
}

/// What one participant sees of the plan: its categories, the care team it
/// may see, the contact person (or that one is withheld), goals and sections.
pub(super) async fn print_view(who: &mut Participant, plan: &str) -> anyhow::Result<()> {
    let plan =
        who.client.get_plan(pb::GetPlanRequest { name: plan.into() }).await?.into_inner().plan.context("no plan")?;
    let categories: Vec<_> = plan.visible_categories.iter().map(|c| short(name::<pb::DataCategory>(*c))).collect();
    let sections: Vec<_> = plan.sections.iter().map(|s| short(name::<pb::SectionKind>(s.kind))).collect();
    let team: Vec<_> = plan.care_team.iter().map(|m| m.organisation_id.as_str()).collect();
    let contact = match &plan.contact_person {
        Some(cp) if cp.withheld => "withheld (a contact person exists)".to_owned(),
        Some(cp) => format!("{} / {}", cp.organisation_id, cp.professional_id),
        None => "none".to_owned(),
    };
    println!("        {:<22} sees {}", who.label, categories.join(", "));
    println!("        {:<22} care team: {}; contact person: {contact}", "", team.join(", "));
    println!(
        "        {:<22} sections: {}; {} goals, {} activities, {} clocks, discharge {}, indsatsplan {}",
        "",
        if sections.is_empty() { "none".to_owned() } else { sections.join(", ") },
        plan.goals.len(),
        plan.activities.len(),
        plan.clocks.len(),
        if plan.discharge.is_some() { "shown" } else { "not shown" },
        if plan.indsatsplan.is_some() { "shown" } else { "not shown" },
    );
    Ok(())
}

pub(super) fn print_plan(plan: &pb::Plan) {
    println!(
        "\n== The plan, as the ward reads it (health information as a treating service; social and employment under the citizen's consent) =="
    );
    println!("{}  version {}  status {}", plan.name, plan.version, name::<pb::PlanStatus>(plan.status));
    if let Some(cp) = &plan.contact_person {
        println!("Coordinating contact person: {} / {}", cp.organisation_id, cp.professional_id);
    }
    for c in &plan.consents {
        let categories: Vec<_> = c.categories.iter().map(|k| short(name::<pb::DataCategory>(*k))).collect();
        println!(
            "Consent {}: {} may see {} — {} (recorded by {}{})",
            c.consent_id,
            c.recipient_organisation_id,
            categories.join(", "),
            c.purpose,
            c.recorded_by_organisation_id,
            if c.withdraw_time.is_some() { ", withdrawn" } else { "" }
        );
    }
    println!("Goals:");
    for g in &plan.goals {
        println!(
            "  {:<8} [{} / {}] {}",
            g.goal_id,
            name::<pb::GoalLifecycle>(g.lifecycle),
            name::<pb::GoalAchievement>(g.achievement),
            g.text
        );
    }
    println!("Sections and activities:");
    for s in &plan.sections {
        println!(
            "  {} — owned by {} since {}",
            name::<pb::SectionKind>(s.kind),
            s.owner_organisation_id,
            s.owned_since
        );
        for a in plan.activities.iter().filter(|a| a.section == s.kind) {
            println!(
                "    {:<11} {:<11} {:<26} {} (from {}, serves {})",
                a.activity_id,
                name::<pb::ActivityStatus>(a.status),
                name::<pb::LegalPlanType>(a.legal_plan_type),
                a.title,
                a.start_date,
                a.goal_ids.join(", ")
            );
        }
    }
    println!("Care team:");
    for m in &plan.care_team {
        println!(
            "  {:<9} {:<24} {:<14} {:<20} since {}",
            m.member_id,
            m.organisation_id,
            m.professional_id,
            name::<pb::ProfessionalRole>(m.role),
            m.start_date
        );
    }
    println!("Advance statements:");
    for s in &plan.advance_statements {
        let superseded =
            if s.superseded_by.is_empty() { String::new() } else { format!(" (superseded by {})", s.superseded_by) };
        println!("  {} {}: {}{superseded}", s.statement_id, name::<pb::AdvanceStatementOccasion>(s.occasion), s.text);
    }
    println!("Relatives:");
    for r in &plan.relatives {
        println!(
            "  {} {} ({}) — {}",
            r.relative_id,
            r.name,
            r.relation,
            name::<pb::RelativeInvolvement>(r.involvement)
        );
    }
}

pub(super) fn print_timeline(events: &[pb::PlanEvent]) {
    println!("\n== Event timeline (the log the plan is projected from) ==");
    for e in events {
        let who = e.actor.as_ref().map(|a| format!("{}/{}", a.organisation_id, a.professional_id)).unwrap_or_default();
        let what = match &e.event {
            Some(event) => describe(event),
            None => "unknown event".into(),
        };
        println!("  #{:<3} pos {:<4} {:<36} {what}", e.sequence, e.global_position, who);
    }
}

/// The event's type name (the first word of its description).
pub(super) fn event_name(event: &Event) -> String {
    describe(event).split([' ', ':', ',']).next().unwrap_or_default().to_owned()
}

pub(super) fn describe(event: &Event) -> String {
    match event {
        Event::PlanCreated(e) => format!("PlanCreated ({})", e.reason),
        Event::PlanActivated(_) => "PlanActivated".into(),
        Event::PlanPutOnHold(e) => format!("PlanPutOnHold: {}", e.reason),
        Event::PlanResumed(_) => "PlanResumed".into(),
        Event::PlanClosed(e) => format!("PlanClosed: {}", e.reason),
        Event::PlanReopened(e) => format!("PlanReopened: {}", e.reason),
        Event::GoalAdded(e) => format!("GoalAdded {}", e.goal_id),
        Event::GoalRevised(e) => format!("GoalRevised {}", e.goal_id),
        Event::GoalAssessed(e) => format!("GoalAssessed {} {}", e.goal_id, name::<pb::GoalAchievement>(e.achievement)),
        Event::GoalEnded(e) => format!("GoalEnded {}", e.goal_id),
        Event::SectionOwnershipTaken(e) => format!("SectionOwnershipTaken {}", name::<pb::SectionKind>(e.section)),
        Event::SectionOwnershipTransferred(e) => {
            format!("SectionOwnershipTransferred {} -> {}", name::<pb::SectionKind>(e.section), e.to_organisation_id)
        }
        Event::ActivityAdded(e) => {
            format!("ActivityAdded {}", e.activity.as_ref().map(|a| a.activity_id.as_str()).unwrap_or(""))
        }
        Event::ActivityStatusChanged(e) => format!(
            "ActivityStatusChanged {} {} -> {}",
            e.activity_id,
            name::<pb::ActivityStatus>(e.from_status),
            name::<pb::ActivityStatus>(e.to_status)
        ),
        Event::CareTeamMemberAdded(e) => {
            format!("CareTeamMemberAdded {}", e.member.as_ref().map(|m| m.organisation_id.as_str()).unwrap_or(""))
        }
        Event::CareTeamMembershipEnded(e) => format!("CareTeamMembershipEnded {}", e.member_id),
        Event::ContactPersonAssigned(e) => format!("ContactPersonAssigned {}/{}", e.organisation_id, e.professional_id),
        Event::ContactPersonHandedOver(e) => format!(
            "ContactPersonHandedOver {}/{} -> {}/{}",
            e.from_organisation_id, e.from_professional_id, e.to_organisation_id, e.to_professional_id
        ),
        Event::AdvanceStatementRecorded(e) => {
            format!("AdvanceStatementRecorded {} {}", e.statement_id, name::<pb::AdvanceStatementOccasion>(e.occasion))
        }
        Event::RelativeRegistered(e) => {
            format!("RelativeRegistered {}", e.relative.as_ref().map(|r| r.relative_id.as_str()).unwrap_or(""))
        }
        Event::RelativeInvolvementChanged(e) => format!("RelativeInvolvementChanged {}", e.relative_id),
        Event::CareTeamJoined(e) => format!(
            "CareTeamJoined {} ({})",
            e.member.as_ref().map(|m| m.organisation_id.as_str()).unwrap_or(""),
            e.reason
        ),
        Event::ConsentRecorded(e) => {
            let c = e.consent.clone().unwrap_or_default();
            let categories: Vec<_> = c.categories.iter().map(|v| name::<pb::DataCategory>(*v)).collect();
            format!("ConsentRecorded {} for {}: {}", c.consent_id, c.recipient_organisation_id, categories.join(", "))
        }
        Event::ConsentWithdrawn(e) => format!("ConsentWithdrawn {}", e.consent_id),
        Event::ObjectionRecorded(e) => {
            let o = e.objection.clone().unwrap_or_default();
            let categories: Vec<_> = o.categories.iter().map(|c| short(name::<pb::DataCategory>(*c))).collect();
            format!(
                "ObjectionRecorded {} against {}: {}",
                o.objection_id,
                o.recipient_organisation_id,
                categories.join(", ")
            )
        }
        Event::ObjectionWithdrawn(e) => format!("ObjectionWithdrawn {}", e.objection_id),
        Event::CitizenInformedOfEmergencyAccess(e) => {
            format!("CitizenInformedOfEmergencyAccess {} on {}", e.grant_id, e.informed_date)
        }
        Event::CareTeamMemberInvited(e) => {
            let m = e.member.clone().unwrap_or_default();
            format!("CareTeamMemberInvited {} ({}) on the ground: {}", m.organisation_id, m.member_id, e.ground)
        }
        Event::EmergencyAccessGranted(e) => format!("EmergencyAccessGranted {}", e.grant_id),
        Event::MilestoneRecorded(e) => {
            let started: Vec<_> = e
                .started
                .iter()
                .map(|c| format!("{} due {}", short(name::<pb::ClockKind>(c.kind)), c.due_date))
                .collect();
            format!(
                "MilestoneRecorded {} on {}{}{}",
                short(name::<pb::MilestoneKind>(e.milestone)),
                e.occurred_on,
                if started.is_empty() { String::new() } else { format!("; started {}", started.join(", ")) },
                if e.stopped_clock_ids.is_empty() {
                    String::new()
                } else {
                    format!("; stopped {}", e.stopped_clock_ids.join(", "))
                }
            )
        }
        Event::ClockPaused(e) => format!("ClockPaused {}", e.clock_id),
        Event::ClockResumed(e) => format!("ClockResumed {} due {}", e.clock_id, e.due_date),
        Event::ClockOverdue(e) => format!("ClockOverdue {} (due {})", e.clock_id, e.due_date),
        Event::ClockBasisSet(e) => format!("ClockBasisSet {}: {}", e.clock_id, short(name::<pb::RuleBasis>(e.basis))),
        Event::ClockEnded(e) => {
            format!("ClockEnded {} on {}: {}", e.clock_id, e.end_date, short(name::<pb::ClockStopReason>(e.reason)))
        }
        Event::IndsatsplanStarted(e) => format!("IndsatsplanStarted, next meeting {}", e.next_meeting_date),
        Event::IndsatsplanMeetingSet(e) => format!("IndsatsplanMeetingSet {}", e.next_meeting_date),
        Event::IndsatsActionPrioritised(e) => format!("IndsatsActionPrioritised {} #{}", e.activity_id, e.priority),
        Event::IndsatsplanSigned(e) => {
            let sides: Vec<_> = e.sides.iter().map(|s| short(name::<pb::SectionKind>(*s))).collect();
            format!(
                "IndsatsplanSigned v{} for {}{}",
                e.version,
                sides.join(" and "),
                if e.agreed { ": agreed by both sides and the citizen" } else { "" }
            )
        }
        Event::IndsatsplanAccepted(e) => format!(
            "IndsatsplanAccepted v{} by the citizen{}",
            e.version,
            if e.agreed { ": agreed by both sides and the citizen" } else { "" }
        ),
        Event::IndsatsplanReopened(e) => {
            format!("IndsatsplanReopened: v{} awaits both signatures and the citizen", e.version)
        }
        Event::DischargeCoordinatorOffered(e) => {
            format!("DischargeCoordinatorOffered {} from {} to {}", e.mentor_professional_id, e.start_date, e.end_date)
        }
        Event::DischargeCoordinatorOfferAnswered(e) => {
            format!("DischargeCoordinatorOfferAnswered: {}", if e.accepted { "accepted" } else { "declined" })
        }
        Event::NetworkMeetingRequested(e) => format!("NetworkMeetingRequested for {}", e.meeting_date),
        Event::NetworkMeetingAskedFor(e) => {
            format!(
                "NetworkMeetingAskedFor by the {} on {}",
                short(name::<pb::NetworkMeetingAsker>(e.asked_by)),
                e.ask_date
            )
        }
        Event::AdvanceStatementsRequested(_) => "AdvanceStatementsRequested".into(),
        Event::NextContactPersonAgreed(e) => {
            format!("NextContactPersonAgreed {}/{}", e.organisation_id, e.professional_id)
        }
        Event::DischargeCompleted(e) => format!("DischargeCompleted on {}", e.discharge_date),
    }
}
