//! Times: shown as `YYYY-MM-DD HH:MM:SS UTC`, typed in forms as that or as
//! Unix milliseconds.

/// Unix ms as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn fmt_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Unix ms as ISO 8601 in UTC: `2027-01-01T00:00:00Z`.
pub fn fmt_iso(ms: i64) -> String {
    let t = fmt_ms(ms);
    // `YYYY-MM-DD HH:MM:SS UTC` → `YYYY-MM-DDTHH:MM:SSZ`.
    format!("{}Z", t.trim_end_matches(" UTC").replacen(' ', "T", 1))
}

/// A core time (Unix ms, unsigned) as the pages' times are (signed).
pub fn signed(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// A core time (Unix ms, unsigned) as [`fmt_iso`] shows it.
pub fn fmt_iso_u(ms: u64) -> String {
    fmt_iso(signed(ms))
}

/// How long ago (or ahead) `ms` is from `now`, roughly: "just now",
/// "3 min ago", "2 h ago", "5 days ago", "in 3 min".
pub fn relative(ms: i64, now: i64) -> String {
    let d = now.saturating_sub(ms);
    let s = d.unsigned_abs() / 1000;
    let amount = if s < 45 {
        return "just now".to_owned();
    } else if s < 3600 {
        format!("{} min", (s + 30) / 60)
    } else if s < 86_400 {
        format!("{} h", (s + 1800) / 3600)
    } else {
        let days = (s + 43_200) / 86_400;
        format!("{days} day{}", if days == 1 { "" } else { "s" })
    };
    if d >= 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z.rem_euclid(146097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// A time typed in a form: Unix ms, or `YYYY-MM-DD[ T]HH:MM[:SS]` in UTC;
/// empty is 0 (an open side).
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim().trim_end_matches("UTC").trim();
    if s.is_empty() {
        return Some(0);
    }
    if let Ok(ms) = s.parse::<i64>() {
        return (ms >= 0).then_some(ms);
    }
    let (date, time) = s.split_once(['T', ' ']).unwrap_or((s, "00:00"));
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, mo, da) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (h, mi) = (t.next()??, t.next()??);
    let sec = t.next().flatten().unwrap_or(0);
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&da)
        || !(0..=23).contains(&h)
        || !(0..=59).contains(&mi)
        || !(0..=59).contains(&sec)
    {
        return None;
    }
    Some((days_from_civil(y, mo, da) * 86400 + h * 3600 + mi * 60 + sec) * 1000)
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(fmt_ms(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(fmt_ms(1798761600000), "2027-01-01 00:00:00 UTC");
        assert_eq!(parse_time("2027-01-01 00:00"), Some(1798761600000));
        assert_eq!(parse_time("2027-01-01T00:00:00"), Some(1798761600000));
        assert_eq!(parse_time("1798761600000"), Some(1798761600000));
        assert_eq!(parse_time(""), Some(0));
        assert_eq!(parse_time("2027-13-01 00:00"), None);
        assert_eq!(parse_time("soon"), None);
        assert_eq!(parse_time("99999999999999-01-01 00:00"), None);
        assert_eq!(parse_time("2027-01-01 -1:00"), None);
        assert_eq!(fmt_iso(1798761600000), "2027-01-01T00:00:00Z");
        assert_eq!(relative(0, 10_000), "just now");
        assert_eq!(relative(0, 180_000), "3 min ago");
        assert_eq!(relative(0, 7_200_000), "2 h ago");
        assert_eq!(relative(0, 86_400_000), "1 day ago");
        assert_eq!(relative(180_000, 0), "in 3 min");
        let _ = fmt_ms(i64::MAX);
        let _ = fmt_ms(i64::MIN);
    }
}
