//! Five-field cron expressions in UTC (`minute hour day-of-month month day-of-week`), and the
//! next time one fires. A sixth field in front gives seconds (`*/5 * * * * *`: every five
//! seconds), for schedules finer than a minute. Fields take `*`, numbers, ranges `a-b`, steps `*/n` and `a-b/n`, lists
//! `a,b`, month names `JAN`–`DEC` and weekday names `SUN`–`SAT` (0 and 7 are Sunday). As in
//! Vixie cron, when both day fields are restricted a day matches either of them.

/// A parsed expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    seconds: u64,
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    day_restricted: bool,
    weekday_restricted: bool,
}

/// Why an expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CronError(pub String);

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn value(text: &str, min: u32, max: u32, names: &[&str], name_base: u32) -> Result<u32, CronError> {
    let upper = text.to_ascii_uppercase();
    if let Some(i) = names.iter().position(|n| *n == upper) {
        return Ok(name_base + u32::try_from(i).unwrap_or(0));
    }
    if text.is_empty() || text.len() > 2 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CronError(format!("{text:?} is not a value")));
    }
    let v: u32 = text
        .parse()
        .map_err(|_| CronError(format!("{text:?} is not a value")))?;
    if v < min || v > max {
        return Err(CronError(format!("{v} is outside {min}-{max}")));
    }
    Ok(v)
}

/// The set of one field as a bit mask, and whether it is restricted (not `*`).
fn field(
    text: &str,
    min: u32,
    max: u32,
    names: &[&str],
    name_base: u32,
) -> Result<(u64, bool), CronError> {
    let mut mask = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step = value(s, 1, max.max(1), &[], 0)?;
                (r, step)
            }
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (
                value(a, min, max, names, name_base)?,
                value(b, min, max, names, name_base)?,
            );
            if a > b {
                return Err(CronError(format!("the range {range} runs backwards")));
            }
            (a, b)
        } else {
            let v = value(range, min, max, names, name_base)?;
            // `5/15` means from 5 to the end in steps of 15.
            (v, if part.contains('/') { max } else { v })
        };
        let mut v = lo;
        while v <= hi {
            mask |= 1 << v;
            v += step;
        }
    }
    Ok((mask, text != "*"))
}

impl Cron {
    /// Parses an expression.
    pub fn parse(text: &str) -> Result<Self, CronError> {
        if text.len() > 200 {
            return Err(CronError("the expression is too long".into()));
        }
        let fields: Vec<&str> = text.split_whitespace().collect();
        let (second, rest) = match fields.as_slice() {
            [second, rest @ ..] if fields.len() == 6 => (*second, rest),
            rest => ("0", rest),
        };
        let [minute, hour, day, month, weekday] = rest else {
            return Err(CronError(format!(
                "a cron expression has 5 fields (minute hour day month weekday), or 6 with seconds first, not {}",
                fields.len()
            )));
        };
        let (seconds, _) = field(second, 0, 59, &[], 0)?;
        let (minutes, _) = field(minute, 0, 59, &[], 0)?;
        let (hours, _) = field(hour, 0, 23, &[], 0)?;
        let (days, day_restricted) = field(day, 1, 31, &[], 0)?;
        let (months, _) = field(month, 1, 12, &MONTHS, 1)?;
        let (mut weekdays, weekday_restricted) = field(weekday, 0, 7, &WEEKDAYS, 0)?;
        if weekdays & (1 << 7) != 0 {
            weekdays = (weekdays | 1) & !(1 << 7);
        }
        Ok(Self {
            seconds,
            minutes,
            hours: u32::try_from(hours).unwrap_or(0),
            days: u32::try_from(days).unwrap_or(0),
            months: u16::try_from(months).unwrap_or(0),
            weekdays: u8::try_from(weekdays).unwrap_or(0),
            day_restricted,
            weekday_restricted,
        })
    }

    fn day_matches(&self, day: u32, weekday: u32) -> bool {
        let by_day = self.days & (1 << day) != 0;
        let by_weekday = self.weekdays & (1 << weekday) != 0;
        match (self.day_restricted, self.weekday_restricted) {
            (true, true) => by_day || by_weekday,
            (true, false) => by_day,
            (false, true) => by_weekday,
            (false, false) => true,
        }
    }

    /// The first time it fires strictly after `after_ms` (Unix ms, UTC), on a whole second;
    /// `None` when it never fires within 5 years (`0 0 30 2 *`).
    pub fn next_after(&self, after_ms: i64) -> Option<i64> {
        let mut second = after_ms.div_euclid(1000) + 1;
        let limit = second + 5 * 366 * 86_400;
        while second < limit {
            let minute = second.div_euclid(60);
            let days = minute.div_euclid(1440);
            let (year, month, day) = civil_from_days(days);
            let weekday = u32::try_from((days + 4).rem_euclid(7)).ok()?;
            if self.months & (1 << month) == 0 {
                // The first second of the next month.
                let (y, m) = if month == 12 {
                    (year + 1, 1)
                } else {
                    (year, month + 1)
                };
                second = days_from_civil(y, m, 1) * 86_400;
                continue;
            }
            if !self.day_matches(day, weekday) {
                second = (days + 1) * 86_400;
                continue;
            }
            let in_day = minute - days * 1440;
            let hour = u32::try_from(in_day / 60).ok()?;
            if self.hours & (1 << hour) == 0 {
                second = (days * 1440 + (i64::from(hour) + 1) * 60) * 60;
                continue;
            }
            let m = u32::try_from(in_day % 60).ok()?;
            if self.minutes & (1 << m) == 0 {
                second = (minute + 1) * 60;
                continue;
            }
            let s = second - minute * 60;
            // The first matching second of this minute at or after `s`.
            let later = self.seconds >> s;
            if later == 0 {
                second = (minute + 1) * 60;
                continue;
            }
            return Some((second + i64::from(later.trailing_zeros())) * 1000);
        }
        None
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (month, day) = (i64::from(month), i64::from(day));
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 2026-12-04 is a Friday.
    const FRI_2026_12_04: i64 = 1_796_342_400_000;

    fn at(y: i64, mo: u32, d: u32, h: i64, mi: i64) -> i64 {
        (days_from_civil(y, mo, d) * 1440 + h * 60 + mi) * 60_000
    }

    #[test]
    fn the_seed_examples_fire_when_they_say() {
        assert_eq!(at(2026, 12, 4, 0, 0), FRI_2026_12_04);
        let friday = Cron::parse("0 0 * * FRI").expect("parses");
        assert_eq!(
            friday.next_after(at(2026, 12, 2, 13, 0)),
            Some(FRI_2026_12_04)
        );
        assert_eq!(
            friday.next_after(FRI_2026_12_04),
            Some(at(2026, 12, 11, 0, 0)),
            "strictly after"
        );
        let five = Cron::parse("*/5 * * * *").expect("parses");
        assert_eq!(
            five.next_after(at(2026, 1, 1, 10, 3)),
            Some(at(2026, 1, 1, 10, 5))
        );
        assert_eq!(
            five.next_after(at(2026, 1, 1, 23, 59)),
            Some(at(2026, 1, 2, 0, 0))
        );
        let hourly = Cron::parse("0 * * * *").expect("parses");
        assert_eq!(
            hourly.next_after(at(2026, 1, 1, 10, 0) + 1),
            Some(at(2026, 1, 1, 11, 0))
        );
    }

    #[test]
    fn fields_lists_ranges_steps_and_names() {
        let c = Cron::parse("15,45 9-17/4 1 JAN-MAR *").expect("parses");
        assert_eq!(
            c.next_after(at(2026, 1, 1, 0, 0)),
            Some(at(2026, 1, 1, 9, 15))
        );
        assert_eq!(
            c.next_after(at(2026, 1, 1, 17, 45)),
            Some(at(2026, 2, 1, 9, 15))
        );
        assert_eq!(
            c.next_after(at(2026, 3, 1, 17, 45)),
            Some(at(2027, 1, 1, 9, 15))
        );
        // Both day fields restricted: either matches (the 13th, or any Friday).
        let c = Cron::parse("0 12 13 * 5").expect("parses");
        assert_eq!(
            c.next_after(at(2026, 12, 1, 0, 0)),
            Some(at(2026, 12, 4, 12, 0))
        );
        assert_eq!(
            c.next_after(at(2026, 12, 11, 12, 0)),
            Some(at(2026, 12, 13, 12, 0))
        );
        // 7 is Sunday too; a leap day only in leap years.
        assert_eq!(Cron::parse("0 0 * * 7"), Cron::parse("0 0 * * SUN"));
        let leap = Cron::parse("0 0 29 2 *").expect("parses");
        assert_eq!(
            leap.next_after(at(2026, 1, 1, 0, 0)),
            Some(at(2028, 2, 29, 0, 0))
        );
        assert_eq!(
            Cron::parse("0 0 30 2 *").expect("parses").next_after(0),
            None
        );
    }

    #[test]
    fn a_sixth_field_gives_seconds() {
        let c = Cron::parse("*/5 * * * * *").expect("parses");
        assert_eq!(
            c.next_after(at(2026, 1, 1, 10, 3)),
            Some(at(2026, 1, 1, 10, 3) + 5_000)
        );
        assert_eq!(
            c.next_after(at(2026, 1, 1, 10, 3) + 57_000),
            Some(at(2026, 1, 1, 10, 4))
        );
        let c = Cron::parse("30 0 12 * * *").expect("parses");
        assert_eq!(
            c.next_after(at(2026, 1, 1, 12, 0)),
            Some(at(2026, 1, 1, 12, 0) + 30_000)
        );
        assert!(Cron::parse("60 * * * * *").is_err());
    }

    #[test]
    fn bad_expressions_are_refused() {
        for bad in [
            "",
            "* * * *",
            "* * * * * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 8",
            "*/0 * * * *",
            "5-1 * * * *",
            "a * * * *",
            "1,,2 * * * *",
            "-1 * * * *",
            "* * * FOO *",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn the_next_time_is_later_on_a_minute_and_matches(
            minute in 0u32..60, hour in 0u32..24, after in 0i64..4_000_000_000_000,
        ) {
            let c = Cron::parse(&format!("{minute} {hour} * * *")).expect("parses");
            let next = c.next_after(after).expect("daily");
            prop_assert!(next > after);
            prop_assert!(next - after <= 86_400_000);
            prop_assert_eq!(next % 60_000, 0);
            prop_assert_eq!((next / 60_000) % 60, i64::from(minute));
            prop_assert_eq!((next / 3_600_000) % 24, i64::from(hour));
        }

        #[test]
        fn any_text_is_parsed_or_refused_without_panic(text in ".{0,60}") {
            if let Ok(c) = Cron::parse(&text) {
                let _ = c.next_after(0);
            }
        }
    }
}
