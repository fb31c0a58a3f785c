//! Human tracking numbers: `YYYY-NNNNNN`, e.g. `2026-000123`.
//!
//! The year is the year the request was received (in the jurisdiction's
//! time zone); the number counts up within the year and is at least six
//! digits wide. Numbers may have gaps (a rejected submission can burn one),
//! never duplicates.

use std::fmt;
use std::str::FromStr;

use crate::error::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TrackingNumber {
    pub year: i32,
    pub seq: u64,
}

impl TrackingNumber {
    pub fn new(year: i32, seq: u64) -> Self {
        Self { year, seq }
    }
}

impl fmt::Display for TrackingNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:06}", self.year, self.seq)
    }
}

impl FromStr for TrackingNumber {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || DomainError::MalformedId(s.chars().take(64).collect());
        let (year, seq) = s.trim().split_once('-').ok_or_else(bad)?;
        if year.len() != 4 || seq.len() < 6 || seq.len() > 12 {
            return Err(bad());
        }
        if !year.bytes().chain(seq.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let year = year.parse().map_err(|_| bad())?;
        let seq = seq.parse().map_err(|_| bad())?;
        Ok(TrackingNumber { year, seq })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        let t = TrackingNumber::new(2026, 123);
        assert_eq!(t.to_string(), "2026-000123");
        assert_eq!("2026-000123".parse::<TrackingNumber>().unwrap(), t);
        assert_eq!(TrackingNumber::new(2026, 1_234_567).to_string(), "2026-1234567");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "",
            "2026",
            "2026-12",
            "26-000123",
            "2026-00012x",
            "abcd-000123",
            "2026-0001234567890",
        ] {
            let err = bad.parse::<TrackingNumber>().unwrap_err();
            assert_eq!(err.code(), "MALFORMED_ID", "{bad}");
        }
    }
}
