//! Service-level targets and the calendar they are counted on.
//!
//! A target is either clock hours (24/7: a water main break does not wait for
//! Monday) or business days (weekends and the jurisdiction's holidays do not
//! count). Due times are computed in the jurisdiction's time zone, so a
//! request received on Friday afternoon with a one-business-day target is due
//! on Monday afternoon, daylight saving time included.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::error::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaUnit {
    Hours,
    BusinessDays,
}

impl SlaUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            SlaUnit::Hours => "hours",
            SlaUnit::BusinessDays => "business_days",
        }
    }
}

impl FromStr for SlaUnit {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hours" => Ok(SlaUnit::Hours),
            "business_days" => Ok(SlaUnit::BusinessDays),
            other => Err(DomainError::field(
                "sla.unit",
                "UNKNOWN_SLA_UNIT",
                format!("`{other}` is not an SLA unit; expected hours or business_days"),
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SlaTarget {
    pub amount: u32,
    pub unit: SlaUnit,
}

impl SlaTarget {
    pub fn hours(amount: u32) -> Self {
        Self {
            amount,
            unit: SlaUnit::Hours,
        }
    }

    pub fn business_days(amount: u32) -> Self {
        Self {
            amount,
            unit: SlaUnit::BusinessDays,
        }
    }

    /// The target in clock hours, counting a business day as 24 hours. Used
    /// for display and sorting; due dates come from [`SlaCalendar::due`].
    pub fn nominal_hours(self) -> u32 {
        match self.unit {
            SlaUnit::Hours => self.amount,
            SlaUnit::BusinessDays => self.amount.saturating_mul(24),
        }
    }
}

impl fmt::Display for SlaTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.unit {
            SlaUnit::Hours => write!(f, "{} hours", self.amount),
            SlaUnit::BusinessDays => write!(f, "{} business days", self.amount),
        }
    }
}

/// Working days of one jurisdiction.
#[derive(Debug, Clone, PartialEq)]
pub struct SlaCalendar {
    pub timezone: Tz,
    pub holidays: BTreeSet<NaiveDate>,
}

impl Default for SlaCalendar {
    fn default() -> Self {
        Self {
            timezone: chrono_tz::UTC,
            holidays: BTreeSet::new(),
        }
    }
}

impl SlaCalendar {
    pub fn new(timezone: Tz, holidays: impl IntoIterator<Item = NaiveDate>) -> Self {
        Self {
            timezone,
            holidays: holidays.into_iter().collect(),
        }
    }

    pub fn is_business_day(&self, day: NaiveDate) -> bool {
        !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&day)
    }

    /// The local calendar year of an instant (used for tracking numbers).
    pub fn local_year(&self, at: DateTime<Utc>) -> i32 {
        at.with_timezone(&self.timezone).year()
    }

    /// When a request received at `received` is due under `target`.
    pub fn due(&self, received: DateTime<Utc>, target: SlaTarget) -> DateTime<Utc> {
        match target.unit {
            SlaUnit::Hours => received + Duration::hours(i64::from(target.amount)),
            SlaUnit::BusinessDays => {
                let local = received.with_timezone(&self.timezone);
                let mut day = local.date_naive();
                let mut counted = 0;
                // A bounded walk: even a year of holidays cannot stall it.
                let mut steps = 0u32;
                while counted < target.amount && steps < target.amount.saturating_mul(7) + 400 {
                    day = day.succ_opt().unwrap_or(day);
                    steps += 1;
                    if self.is_business_day(day) {
                        counted += 1;
                    }
                }
                let naive = day.and_time(local.time());
                // Across a DST gap the local time may not exist: take the
                // earliest valid instant at or after it.
                match self.timezone.from_local_datetime(&naive).earliest() {
                    Some(t) => t.with_timezone(&Utc),
                    None => self
                        .timezone
                        .from_local_datetime(&(naive + Duration::hours(1)))
                        .earliest()
                        .map_or(received, |t| t.with_timezone(&Utc)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn hours_are_clock_hours() {
        let cal = SlaCalendar::default();
        let at = utc("2026-11-27T22:00:00Z"); // a Friday night
        assert_eq!(cal.due(at, SlaTarget::hours(48)), utc("2026-11-29T22:00:00Z"));
    }

    #[test]
    fn business_days_skip_weekends_and_holidays() {
        let cal = SlaCalendar::new(
            chrono_tz::America::Chicago,
            [NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()], // Thanksgiving
        );
        // Wednesday 25 Nov 2026, 10:00 Chicago (16:00Z).
        let at = utc("2026-11-25T16:00:00Z");
        // Thu is a holiday, Fri counts (1), Sat/Sun skipped, Mon (2).
        assert_eq!(cal.due(at, SlaTarget::business_days(2)), utc("2026-11-30T16:00:00Z"));
        // Friday afternoon + 1 business day = Monday afternoon.
        let fri = utc("2026-11-27T21:00:00Z");
        assert_eq!(cal.due(fri, SlaTarget::business_days(1)), utc("2026-11-30T21:00:00Z"));
    }

    #[test]
    fn business_days_respect_daylight_saving() {
        let cal = SlaCalendar::new(chrono_tz::America::Chicago, []);
        // Friday 30 Oct 2026 09:00 CDT (14:00Z); DST ends Sunday 1 Nov.
        let at = utc("2026-10-30T14:00:00Z");
        // Monday 2 Nov 09:00 CST is 15:00Z.
        assert_eq!(cal.due(at, SlaTarget::business_days(1)), utc("2026-11-02T15:00:00Z"));
    }

    #[test]
    fn local_year_uses_the_jurisdictions_zone() {
        let cal = SlaCalendar::new(chrono_tz::America::Chicago, []);
        assert_eq!(cal.local_year(utc("2027-01-01T03:00:00Z")), 2026);
        assert_eq!(SlaTarget::business_days(5).nominal_hours(), 120);
    }
}
