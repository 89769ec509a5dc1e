//! What a subscription's deliveries put in the audit log: one record per
//! stream, plan and window (`subscriptions.audit_window_ms`, a minute by
//! default) instead of one per plan per batch — 500 subscribers made every
//! event cost 500 durable records.
//!
//! A record is made durable before the first event of its plan is sent in
//! its window. It names the window's end, the first global position it
//! covers and the categories the window may carry; an event that reveals a
//! category the window has not named yet (or rests on another legal ground)
//! gets a new record, for the rest of the same window, before it is sent. So
//! the citizen's access log still says which organisation was told of their
//! plan, from when until when, and what.

use std::collections::HashMap;
use std::time::Duration;

use super::{Delivery, Seen};
use crate::domain::{Actor, AuditEntry, DataCategory, Decision, PlanId, Timestamp};

/// Windows kept before those that have ended are dropped.
const PRUNE_AT: usize = 4096;

/// The open delivery windows of one stream.
pub(super) struct DeliveryWindows {
    length_micros: i64,
    open: HashMap<PlanId, Window>,
}

struct Window {
    until: Timestamp,
    named: Vec<DataCategory>,
    ground: String,
}

impl DeliveryWindows {
    pub(super) fn new(length: Duration) -> Self {
        Self { length_micros: i64::try_from(length.as_micros()).unwrap_or(i64::MAX), open: HashMap::new() }
    }

    /// Whether `plan` has no window open at `now`: its next delivery needs a record first.
    /// (With no window length, records are made per batch only.)
    pub(super) fn lapsed(&self, plan: PlanId, now: Timestamp) -> bool {
        self.length_micros > 0 && self.open.get(&plan).is_none_or(|window| window.until <= now)
    }

    /// The records to make durable before `visible` is sent, as `actor` on
    /// the stream `correlation_id` sees the plans in `views`.
    pub(super) fn entries(
        &mut self,
        now: Timestamp,
        actor: &Actor,
        correlation_id: &str,
        visible: &[Delivery],
        views: &HashMap<PlanId, Option<Seen>>,
    ) -> Vec<AuditEntry> {
        if self.open.len() > PRUNE_AT {
            self.open.retain(|_, window| window.until > now);
        }
        let mut firsts: Vec<(PlanId, u64)> = Vec::new();
        for delivery in visible {
            if !firsts.iter().any(|(plan, _)| *plan == delivery.plan) {
                firsts.push((delivery.plan, delivery.position));
            }
        }
        let mut entries = Vec::new();
        for (plan, first_position) in firsts {
            let Some(seen) = views.get(&plan).and_then(Option::as_ref) else { continue };
            let current = self.open.get(&plan).filter(|window| window.until > now);
            let revealed = visible.iter().filter(|d| d.plan == plan).flat_map(|d| d.revealed.iter().copied());
            // What the window named and the caller no longer sees (a consent
            // withdrawn) is not carried over.
            let named =
                current.map(|window| window.named.iter().copied().filter(|c| seen.view.sees(*c))).into_iter().flatten();
            let categories = DataCategory::distinct(named.chain(revealed));
            let ground = seen.view.only(&categories).legal_ground();
            if current.is_some_and(|window| window.named == categories && window.ground == ground) {
                continue;
            }
            let until = current.map_or(Timestamp(now.0.saturating_add(self.length_micros)), |window| window.until);
            self.open.insert(plan, Window { until, named: categories.clone(), ground: ground.clone() });
            entries.push(AuditEntry {
                at: now,
                actor: Some(actor.clone()),
                certificate_identity: None,
                correlation_id: correlation_id.to_owned(),
                plan: Some(plan),
                action: super::ACTION.to_owned(),
                purpose: seen.view.purpose,
                categories,
                decision: Decision::Delivering { first_position, until },
                legal_ground: ground,
                events: Vec::new(),
            });
        }
        entries
    }
}
