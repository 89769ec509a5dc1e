//! The plan's log as each recipient counts it. A recipient's version of the
//! plan, its update time and the sequence numbers of the events it is shown
//! count only the events it may see: were they counted from the whole log, a
//! number that jumps by two after the recipient's own change (the
//! indsatsplan reopened by it) or moves while nothing it sees has changed
//! would tell it of what it may not see.
//!
//! The trail keeps, for every event of the log, the set of categories it
//! reveals ([`super::disclosure::event_reveals`], decided as the event is
//! applied), and when an event revealing each set was last recorded.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::{DataCategory, Timestamp};

/// A set of categories, one bit per [`DataCategory::ALL`] entry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CategorySet(u8);

impl CategorySet {
    pub fn of(categories: &[DataCategory]) -> Self {
        Self(categories.iter().fold(0, |bits, c| bits | Self::bit(*c)))
    }

    fn bit(category: DataCategory) -> u8 {
        1 << (category as u8)
    }

    /// Whether every category of `self` is in `other`.
    pub fn within(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn categories(self) -> Vec<DataCategory> {
        DataCategory::ALL.into_iter().filter(|c| self.0 & Self::bit(*c) != 0).collect()
    }
}

/// `count` events seen by a recipient that sees `categories`, as a version or
/// a page token: 256 times the count, plus the set of categories. A count
/// alone could come back with other content once what the recipient may see
/// changed (12 events, 8 after a consent is withdrawn, 12 again after four
/// more); with the set in it, a version or token issued before the change
/// never matches after it.
pub fn counted(categories: &[DataCategory], count: u64) -> u64 {
    count.saturating_mul(256) + u64::from(CategorySet::of(categories).0)
}

/// The count in `value` (see [`counted`]), if it was issued to a recipient that saw `categories`.
pub fn count_of(categories: &[DataCategory], value: u64) -> Option<u64> {
    (value % 256 == u64::from(CategorySet::of(categories).0)).then_some(value / 256)
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trail {
    /// What event `sequence` reveals (a [`CategorySet`]'s bits), at index
    /// `sequence - 1`: one byte per event, stored as bytes.
    #[serde(with = "serde_bytes")]
    reveals: Vec<u8>,
    /// Per set revealed: how many events revealed it, and when the last was recorded.
    by_set: BTreeMap<CategorySet, (u64, Timestamp)>,
}

impl Trail {
    /// Adds the next event of the log.
    pub fn record(&mut self, revealed: &[DataCategory], at: Timestamp) {
        let set = CategorySet::of(revealed);
        self.reveals.push(set.0);
        let entry = self.by_set.entry(set).or_insert((0, at));
        *entry = (entry.0 + 1, at);
    }

    /// What the event at `sequence` reveals (everything, for one the trail does not know).
    pub fn revealed(&self, sequence: u64) -> Vec<DataCategory> {
        let index = usize::try_from(sequence).ok().and_then(|s| s.checked_sub(1));
        index
            .and_then(|i| self.reveals.get(i))
            .map_or(DataCategory::ALL.to_vec(), |bits| CategorySet(*bits).categories())
    }

    /// Whether a recipient that sees `categories` may see the event at `sequence`.
    pub fn shows(&self, categories: &[DataCategory], sequence: u64) -> bool {
        let index = usize::try_from(sequence).ok().and_then(|s| s.checked_sub(1));
        index
            .and_then(|i| self.reveals.get(i))
            .is_some_and(|bits| CategorySet(*bits).within(CategorySet::of(categories)))
    }

    /// How many events a recipient that sees `categories` may see.
    pub fn shown_count(&self, categories: &[DataCategory]) -> u64 {
        let sees = CategorySet::of(categories);
        self.by_set.iter().filter(|(set, _)| set.within(sees)).map(|(_, (count, _))| count).sum()
    }

    /// How many of the first `sequence` events a recipient that sees
    /// `categories` may see: the number it is shown for event `sequence`.
    /// Counted back from the end, where the events asked about (just
    /// written or delivered) usually are.
    pub fn shown_at(&self, categories: &[DataCategory], sequence: u64) -> u64 {
        let sees = CategorySet::of(categories);
        let from = usize::try_from(sequence).unwrap_or(usize::MAX).min(self.reveals.len());
        let later = self.reveals[from..].iter().filter(|bits| CategorySet(**bits).within(sees)).count() as u64;
        self.shown_count(categories) - later
    }

    /// The plan's version as a recipient that sees `categories` is shown it.
    pub fn shown_version(&self, categories: &[DataCategory]) -> u64 {
        counted(categories, self.shown_count(categories))
    }

    /// The plan's version after event `sequence`, as such a recipient is shown it.
    pub fn version_at(&self, categories: &[DataCategory], sequence: u64) -> u64 {
        counted(categories, self.shown_at(categories, sequence))
    }

    /// Where in the log the events a recipient that sees `categories` counts
    /// as `first` to `first + count - 1` lie (fewer at the end of the log): the
    /// first and the last sequence of that page, if it holds any.
    pub fn page(&self, categories: &[DataCategory], first: u64, count: usize) -> Option<(u64, u64)> {
        let sees = CategorySet::of(categories);
        let mut shown = (1u64..)
            .zip(&self.reveals)
            .filter(|(_, bits)| CategorySet(**bits).within(sees))
            .map(|(sequence, _)| sequence)
            .skip(usize::try_from(first.max(1) - 1).unwrap_or(usize::MAX))
            .take(count);
        let start = shown.next()?;
        Some((start, shown.last().unwrap_or(start)))
    }

    /// When the last event a recipient that sees `categories` may see was recorded.
    pub fn shown_update(&self, categories: &[DataCategory]) -> Option<Timestamp> {
        let sees = CategorySet::of(categories);
        self.by_set.iter().filter(|(set, _)| set.within(sees)).map(|(_, (_, at))| *at).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DataCategory::*;

    #[test]
    fn counts_only_what_the_recipient_sees() {
        let mut trail = Trail::default();
        trail.record(&[PlanAndContact], Timestamp(10));
        trail.record(&[Psychiatric, SubstanceAbuse], Timestamp(20));
        trail.record(&[], Timestamp(30));
        trail.record(&[Psychiatric], Timestamp(40));
        let job_centre = [PlanAndContact, Goals, Employment];
        assert_eq!(trail.shown_count(&job_centre), 2);
        assert_eq!(trail.shown_version(&job_centre), counted(&job_centre, 2));
        assert_eq!(trail.shown_at(&job_centre, 2), 1);
        assert_eq!(trail.shown_at(&job_centre, 3), 2);
        assert_eq!(trail.shown_update(&job_centre), Some(Timestamp(30)));
        let ward = [PlanAndContact, Goals, Psychiatric];
        assert_eq!(trail.shown_count(&ward), 3);
        assert_eq!(trail.shown_update(&ward), Some(Timestamp(40)));
        assert_eq!(trail.shown_count(&DataCategory::ALL), 4);
        assert_eq!(trail.version_at(&ward, 2), counted(&ward, 1));
        assert_eq!(trail.page(&job_centre, 1, 1), Some((1, 1)));
        assert_eq!(trail.page(&job_centre, 2, 5), Some((3, 3)));
        assert_eq!(trail.page(&job_centre, 3, 5), None);
        assert_eq!(trail.page(&ward, 2, 2), Some((3, 4)));
        assert_eq!(trail.revealed(2), vec![Psychiatric, SubstanceAbuse]);
        assert_eq!(trail.revealed(9), DataCategory::ALL.to_vec());
    }

    #[test]
    fn a_version_never_comes_back_once_what_is_seen_changed() {
        // Twelve events seen; a consent withdrawn leaves eight; four more make twelve again.
        let before = counted(&[PlanAndContact, Goals, Psychiatric], 12);
        let after = counted(&[PlanAndContact, Goals], 12);
        assert_ne!(before, after);
        assert_eq!(count_of(&[PlanAndContact, Goals], after), Some(12));
        assert_eq!(count_of(&[PlanAndContact, Goals], before), None, "a token of the earlier view is refused");
    }

    #[test]
    fn sets_hold_every_category() {
        let all = CategorySet::of(&DataCategory::ALL);
        assert_eq!(all.categories(), DataCategory::ALL.to_vec());
        for category in DataCategory::ALL {
            let one = CategorySet::of(&[category]);
            assert!(one.within(all));
            assert!(!one.within(CategorySet::default()));
        }
    }
}
