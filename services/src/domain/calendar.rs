//! The Danish working-day calendar: Monday to Friday, except the public
//! holidays (helligdage) of the Danish church year, as data. Store Bededag
//! (the fourth Friday after Easter) was abolished as a public holiday from
//! 2024 (lov om konsekvenser ved afskaffelsen af store bededag som helligdag,
//! L 13, Folketingsåret 2022-23, 2. samling). Grundlovsdag, Christmas Eve and New
//! Year's Eve are not public holidays, though many offices close: those are
//! a deployment's extra closed days ([`Calendar`], from configuration).

use std::collections::BTreeSet;

use chrono::{Datelike, Weekday};

use super::model::Date;

/// A public holiday: a fixed day of the year, or a day counted from Easter
/// Sunday; in force in the years `from..=until`.
struct Holiday {
    day: HolidayDay,
    from: i32,
    until: i32,
}

enum HolidayDay {
    Fixed { month: u32, day: u32 },
    FromEaster(i64),
}

const HOLIDAYS: &[Holiday] = &[
    Holiday { day: HolidayDay::Fixed { month: 1, day: 1 }, from: 1700, until: 9999 }, // nytårsdag
    Holiday { day: HolidayDay::FromEaster(-3), from: 1700, until: 9999 },             // skærtorsdag
    Holiday { day: HolidayDay::FromEaster(-2), from: 1700, until: 9999 },             // langfredag
    Holiday { day: HolidayDay::FromEaster(0), from: 1700, until: 9999 },              // påskedag
    Holiday { day: HolidayDay::FromEaster(1), from: 1700, until: 9999 },              // 2. påskedag
    Holiday { day: HolidayDay::FromEaster(26), from: 1700, until: 2023 },             // store bededag
    Holiday { day: HolidayDay::FromEaster(39), from: 1700, until: 9999 },             // Kristi himmelfartsdag
    Holiday { day: HolidayDay::FromEaster(49), from: 1700, until: 9999 },             // pinsedag
    Holiday { day: HolidayDay::FromEaster(50), from: 1700, until: 9999 },             // 2. pinsedag
    Holiday { day: HolidayDay::Fixed { month: 12, day: 25 }, from: 1700, until: 9999 }, // juledag
    Holiday { day: HolidayDay::Fixed { month: 12, day: 26 }, from: 1700, until: 9999 }, // 2. juledag
];

/// Easter Sunday of `year` (Gregorian; the anonymous "Meeus/Jones/Butcher" computus).
pub fn easter(year: i32) -> Date {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    Date::from_ymd_opt(year, month as u32, day as u32).unwrap_or(Date::MIN)
}

/// Whether `date` is a Danish public holiday.
pub fn is_public_holiday(date: Date) -> bool {
    let year = date.year();
    let easter = easter(year);
    HOLIDAYS.iter().filter(|h| (h.from..=h.until).contains(&year)).any(|h| match h.day {
        HolidayDay::Fixed { month, day } => date.month() == month && date.day() == day,
        HolidayDay::FromEaster(offset) => (date - easter).num_days() == offset,
    })
}

/// Whether `date` is a working day: Monday to Friday, not a public holiday.
pub fn is_working_day(date: Date) -> bool {
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && !is_public_holiday(date)
}

/// The working days of a deployment: Monday to Friday except the public
/// holidays and the extra days its offices close (e.g. Grundlovsdag,
/// Christmas Eve, New Year's Eve), which its configuration names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Calendar {
    closed: BTreeSet<Date>,
}

impl Calendar {
    pub fn with_closed_days(days: impl IntoIterator<Item = Date>) -> Self {
        Self { closed: days.into_iter().collect() }
    }

    pub fn is_working_day(&self, date: Date) -> bool {
        is_working_day(date) && !self.closed.contains(&date)
    }

    /// The day `n` working days after `start` (`start` itself when `n` is 0).
    pub fn add_working_days(&self, start: Date, n: u32) -> Date {
        let mut day = start;
        let mut left = n;
        while left > 0 {
            day = day.succ_opt().unwrap_or(Date::MAX);
            if day == Date::MAX {
                return day;
            }
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        day
    }

    /// How many working days lie in `from..until`.
    pub fn working_days_between(&self, from: Date, until: Date) -> u32 {
        from.iter_days()
            .take_while(|d| *d < until)
            .filter(|d| self.is_working_day(*d))
            .count()
            .try_into()
            .unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> Date {
        Date::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn easter_sundays() {
        assert_eq!(easter(2023), day(2023, 4, 9));
        assert_eq!(easter(2024), day(2024, 3, 31));
        assert_eq!(easter(2025), day(2025, 4, 20));
        assert_eq!(easter(2026), day(2026, 4, 5));
        assert_eq!(easter(2027), day(2027, 3, 28));
    }

    #[test]
    fn the_holidays_of_2026_and_store_bededag_before_2024() {
        for holiday in [
            day(2026, 1, 1),
            day(2026, 4, 2),
            day(2026, 4, 3),
            day(2026, 4, 5),
            day(2026, 4, 6),
            day(2026, 5, 14),
            day(2026, 5, 24),
            day(2026, 5, 25),
            day(2026, 12, 25),
            day(2026, 12, 26),
        ] {
            assert!(is_public_holiday(holiday), "{holiday}");
        }
        assert!(is_public_holiday(day(2023, 5, 5)), "store bededag 2023");
        assert!(!is_public_holiday(day(2024, 4, 26)), "abolished from 2024");
        assert!(!is_public_holiday(day(2026, 6, 5)), "grundlovsdag is no public holiday");
        assert!(!is_working_day(day(2026, 4, 6)) && is_working_day(day(2026, 4, 7)));
        assert!(!is_working_day(day(2026, 12, 5)), "a Saturday");
    }

    #[test]
    fn working_day_periods_skip_the_holidays() {
        use crate::domain::deadlines::Period;
        // Five working days from Wednesday 1 April 2026: Easter takes Thursday to Monday.
        let danish = Calendar::default();
        assert_eq!(Period::WorkingDays(5).due(day(2026, 4, 1), &danish), day(2026, 4, 13));
        // From Wednesday 23 December 2026: the 25th and 26th and the weekend.
        assert_eq!(Period::WorkingDays(5).due(day(2026, 12, 23), &danish), day(2026, 12, 31));
        // A deployment whose offices close on Christmas Eve and New Year's Eve.
        let closing = Calendar::with_closed_days([day(2026, 12, 24), day(2026, 12, 31)]);
        assert_eq!(Period::WorkingDays(5).due(day(2026, 12, 23), &closing), day(2027, 1, 5));
        assert_eq!(closing.working_days_between(day(2026, 12, 21), day(2027, 1, 4)), 6);
    }

    /// Every Danish public holiday of 2024-2030, from the church calendar.
    #[test]
    fn the_public_holidays_of_2024_to_2030() {
        // (Easter Sunday, Store Bededag in force)
        let years = [
            (2024, day(2024, 3, 31)),
            (2025, day(2025, 4, 20)),
            (2026, day(2026, 4, 5)),
            (2027, day(2027, 3, 28)),
            (2028, day(2028, 4, 16)),
            (2029, day(2029, 4, 1)),
            (2030, day(2030, 4, 21)),
        ];
        for (year, sunday) in years {
            assert_eq!(easter(year), sunday, "{year}");
            let holidays: Vec<Date> = day(year, 1, 1)
                .iter_days()
                .take_while(|d| d.year() == year)
                .filter(|d| is_public_holiday(*d))
                .collect();
            let from_easter = |n: i64| sunday + chrono::Duration::days(n);
            let expected = vec![
                day(year, 1, 1),
                from_easter(-3),
                from_easter(-2),
                sunday,
                from_easter(1),
                from_easter(39),
                from_easter(49),
                from_easter(50),
                day(year, 12, 25),
                day(year, 12, 26),
            ];
            assert_eq!(holidays, expected, "{year}: ten holidays, no Store Bededag");
        }
        assert!(is_public_holiday(easter(2023) + chrono::Duration::days(26)), "Store Bededag 2023");
    }
}
