//! Values parsed once: account ids, role ARNs, regions and durations. A
//! value that passed its `parse` is a type, and nothing downstream checks it
//! again; each `parse` error is the one line the user sees.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// A 12-digit AWS account id (text: leading zeros are significant).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(text: &str) -> Result<AccountId, String> {
        match text.len() == 12 && text.bytes().all(|b| b.is_ascii_digit()) {
            true => Ok(AccountId(text.to_owned())),
            false => Err(format!("{text:?} is not a 12-digit account id")),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IAM role ARN, `arn:PARTITION:iam::ACCOUNT:role/NAME`, and its account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleArn {
    arn: String,
    account: AccountId,
}

impl RoleArn {
    pub fn parse(text: &str) -> Result<RoleArn, String> {
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        let account = match parts.as_slice() {
            ["arn", partition, "iam", "", account, resource]
                if !partition.is_empty()
                    && resource
                        .strip_prefix("role/")
                        .is_some_and(|n| !n.is_empty()) =>
            {
                AccountId::parse(account).ok()
            }
            _ => None,
        };
        match account {
            Some(account) => Ok(RoleArn {
                arn: text.to_owned(),
                account,
            }),
            None => Err(format!(
                "{text:?} is not a role ARN like arn:aws:iam::123456789012:role/NAME"
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.arn
    }

    pub fn account(&self) -> &AccountId {
        &self.account
    }
}

/// An AWS region name: lowercase, `PARTITION-AREA[-AREA...]-N`
/// (`us-east-1`, `eu-central-2`, `us-gov-west-1`, `us-isob-east-1`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Region(String);

impl Region {
    pub fn parse(text: &str) -> Result<Region, String> {
        let parts: Vec<&str> = text.split('-').collect();
        let letters = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
        let valid = parts.len() >= 3
            && parts[0].len() == 2
            && parts[..parts.len() - 1].iter().all(|p| letters(p))
            && parts.last().is_some_and(|n| {
                (1..=2).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit())
            });
        match valid {
            true => Ok(Region(text.to_owned())),
            false => Err(format!(
                "{text:?} is not an AWS region name like us-east-1 (lowercase)"
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A moment given on the command line: RFC 3339 (`2026-09-30T23:59:59Z`),
/// or a date for its first instant in UTC (`2026-10-01`).
pub fn parse_moment(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|at| at.and_utc())
        .ok_or_else(|| {
            format!("{text:?} is not a moment like 2026-09-30T23:59:59Z or a date like 2026-10-01")
        })
}

/// Values in order, each once: the first occurrence wins.
/// A size in bytes: a whole number, optionally followed by KiB, MiB or GiB
/// (`512MiB`, `1GiB`, `65536`), at most 1 TiB.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{text}': use KiB, MiB or GiB"
            ));
        }
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size such as 512MiB"))?;
    number
        .checked_mul(scale)
        .filter(|bytes| *bytes <= 1 << 40)
        .ok_or_else(|| format!("'{text}' is over 1TiB"))
}

pub fn first_occurrences<T: PartialEq>(values: Vec<T>) -> Vec<T> {
    let mut kept: Vec<T> = Vec::with_capacity(values.len());
    for value in values {
        if !kept.contains(&value) {
            kept.push(value);
        }
    }
    kept
}

/// A duration such as `500ms`, `30s`, `90m`, `36h` or `14d` (a bare number
/// is seconds), at most `Span::MAX`: so that any span added to or taken from
/// a timestamp of this millennium, or given to a timer, stays in range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(Duration);

const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
];

impl Span {
    /// 100 years of 365 days.
    pub const MAX: Span = Span(Duration::from_secs(36_500 * 86_400));
    pub const ZERO: Span = Span(Duration::ZERO);

    pub const fn from_millis(ms: u64) -> Span {
        Span(Duration::from_millis(ms))
    }

    pub const fn from_secs(s: u64) -> Span {
        Span(Duration::from_secs(s))
    }

    pub fn parse(text: &str) -> Result<Span, String> {
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let number: u64 = number
            .parse()
            .map_err(|_| format!("{text:?} is not a duration like 30s, 90m, 36h or 14d"))?;
        let unit_ms = match unit {
            "" => 1000,
            _ => match UNITS.iter().find(|(name, _)| *name == unit) {
                Some((_, ms)) => *ms,
                None => {
                    return Err(format!(
                        "{text:?} has unknown unit {unit:?}; use ms, s, m, h or d"
                    ));
                }
            },
        };
        number
            .checked_mul(unit_ms)
            .map(Span::from_millis)
            .filter(|span| *span <= Span::MAX)
            .ok_or_else(|| format!("{text:?} is longer than {}", Span::MAX))
    }

    /// This span when it lies in `min..=max`, or the error naming the flag
    /// and the range.
    pub fn within(self, flag: &str, min: Span, max: Span) -> Result<Span, String> {
        match (min..=max).contains(&self) {
            true => Ok(self),
            false => Err(format!(
                "{flag} must be between {min} and {max}, got {self}"
            )),
        }
    }

    pub fn as_std(self) -> Duration {
        self.0
    }

    pub fn as_secs(self) -> u64 {
        self.0.as_secs()
    }

    /// As chrono's type; always in range, since a span is at most `MAX`.
    pub fn as_delta(self) -> TimeDelta {
        TimeDelta::from_std(self.0).unwrap_or(TimeDelta::MAX)
    }

    /// The moment this long before `at`; None before chrono's first date.
    pub fn before(self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        at.checked_sub_signed(self.as_delta())
    }
}

impl fmt::Display for Span {
    /// In the largest unit that divides it exactly, so that it parses back
    /// to the same span: `14d`, `90m`, `1500ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis() as u64;
        if ms == 0 {
            return f.write_str("0s");
        }
        let (name, unit) = UNITS
            .iter()
            .find(|(_, unit)| ms.is_multiple_of(*unit))
            .unwrap_or(&("ms", 1));
        write!(f, "{}{name}", ms / unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_accept_bytes_kib_mib_and_gib_up_to_a_tib() {
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("64KiB"), Ok(64 << 10));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("1024GiB"), Ok(1 << 40));
        for bad in [
            "",
            "MiB",
            "1MB",
            "-1",
            "1.5MiB",
            "1025GiB",
            "18446744073709551615GiB",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn the_size_parser_never_panics(text in "\\PC{0,24}") {
            let _ = parse_size(&text);
        }
    }

    #[test]
    fn spans_accept_the_documented_units() {
        assert_eq!(Span::parse("90m"), Ok(Span::from_secs(5400)));
        assert_eq!(Span::parse("36h"), Ok(Span::from_secs(129_600)));
        assert_eq!(Span::parse("14d"), Ok(Span::from_secs(1_209_600)));
        assert_eq!(Span::parse("250ms"), Ok(Span::from_millis(250)));
        assert_eq!(Span::parse("30"), Ok(Span::from_secs(30)));
        assert_eq!(Span::parse("36500d"), Ok(Span::MAX));
        assert!(Span::parse("36501d").is_err());
        assert!(Span::parse("100000000d").is_err());
        assert!(Span::parse("18446744073709551615").is_err());
        assert!(Span::parse("1e20s").is_err());
        assert!(Span::parse("-1s").is_err());
        assert!(Span::parse("").is_err());
        assert!(Span::parse("soon").is_err());
        assert!(Span::parse("5w").is_err());
    }

    #[test]
    fn a_span_outside_its_flags_range_names_the_flag_and_the_range() {
        let err = Span::ZERO
            .within("--timeout", Span::from_millis(1), Span::from_secs(3600))
            .unwrap_err();
        assert_eq!(err, "--timeout must be between 1ms and 1h, got 0s");
    }

    #[test]
    fn region_names_must_look_like_aws_regions() {
        for good in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "cn-north-1",
            "us-isob-east-1",
            "ap-southeast-5",
        ] {
            assert!(Region::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "US-EAST-1",
            "us-east",
            "useast1",
            "",
            "us--1",
            "us-east-1a",
            "u-east-1",
            "us_east_1",
        ] {
            assert!(Region::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn role_arns_name_their_account() {
        let arn = RoleArn::parse("arn:aws:iam::012345678901:role/snowball-reader").unwrap();
        assert_eq!(arn.account().as_str(), "012345678901");
        let arn = RoleArn::parse("arn:aws-us-gov:iam::012345678901:role/path/r").unwrap();
        assert_eq!(arn.account().as_str(), "012345678901");
        assert!(RoleArn::parse("arn:aws:iam::12345:role/r").is_err());
        assert!(RoleArn::parse("arn:aws:iam::012345678901:user/u").is_err());
        assert!(RoleArn::parse("snowball-reader").is_err());
    }

    #[test]
    fn moments_are_rfc3339_or_a_date_in_utc() {
        assert_eq!(
            parse_moment("2026-09-30T23:00:00+02:00").map(|t| t.to_rfc3339()),
            Ok("2026-09-30T21:00:00+00:00".to_owned())
        );
        assert_eq!(
            parse_moment("2026-10-01").map(|t| t.to_rfc3339()),
            Ok("2026-10-01T00:00:00+00:00".to_owned())
        );
        assert!(parse_moment("yesterday").is_err());
        assert!(parse_moment("2026-13-01").is_err());
    }

    #[test]
    fn repeated_values_keep_their_first_occurrence() {
        assert_eq!(
            first_occurrences(vec!["us-east-1", "eu-west-1", "us-east-1", "eu-west-1"]),
            ["us-east-1", "eu-west-1"]
        );
    }

    proptest! {
        #[test]
        fn the_span_parser_never_panics(text in "\\PC*") {
            let _ = Span::parse(&text);
        }

        #[test]
        fn the_span_parser_never_panics_on_numbers_and_units(
            number in any::<u64>(), unit in "(ms|s|m|h|d|w|)"
        ) {
            let _ = Span::parse(&format!("{number}{unit}"));
        }

        #[test]
        fn a_printed_span_parses_back_to_itself(ms in 0..=Span::MAX.as_std().as_millis() as u64) {
            let span = Span::from_millis(ms);
            prop_assert_eq!(Span::parse(&span.to_string()), Ok(span));
        }
    }
}
