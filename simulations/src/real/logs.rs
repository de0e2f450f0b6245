//! Reading a daemon's log: when it published and when it accepted each
//! record by gossip, from the driver's debug lines
//! (`RUST_LOG=mirror_commons::net::driver=debug`), each stamped by
//! `tracing`'s formatter with the machine's clock (every daemon shares it).
//!
//! The lines read:
//! `2026-12-04T12:40:01.123456Z DEBUG publish{kind="publish" bytes=…}: mirror_commons::net::driver: published and gossiped record=<hex>`
//! `2026-12-04T12:40:01.150000Z DEBUG gossip{peer=… kind="gossip" bytes=…}: mirror_commons::net::driver: accepted record=<hex>`
//!
//! Records that arrive by a sync round are not logged one by one; the
//! harness finds them in the node's final record list instead.

/// What one node's log says.
#[derive(Debug, Default, Clone)]
pub struct NodeLog {
    /// (record id hex, unix ms) of every record this node published.
    pub published: Vec<(String, i64)>,
    /// (record id hex, unix ms) of every record accepted from gossip.
    pub accepted: Vec<(String, i64)>,
}

/// Parse a daemon's whole log.
pub fn parse(text: &str) -> NodeLog {
    let mut log = NodeLog::default();
    for line in text.lines() {
        let Some(record) = line
            .rsplit_once(" record=")
            .map(|(_, r)| r.trim().to_string())
        else {
            continue;
        };
        let Some(at) = line.split_whitespace().next().and_then(unix_ms) else {
            continue;
        };
        if line.contains(": published") {
            log.published.push((record, at));
        } else if line.contains(": accepted ") {
            log.accepted.push((record, at));
        }
    }
    log
}

/// `2026-12-04T12:40:01.123456Z` as unix ms (UTC only, as `tracing`
/// writes it).
pub fn unix_ms(stamp: &str) -> Option<i64> {
    let stamp = stamp.strip_suffix('Z')?;
    let (date, time) = stamp.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    // Milliseconds from the fraction's first three digits.
    let ms: i64 = format!("{frac:0<3}")[..3].parse().ok()?;
    let days = days_from_civil(y, m, day);
    Some(((days * 24 + h) * 60 + min) * 60_000 + s * 1000 + ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
/// algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_read_as_unix_ms() {
        assert_eq!(unix_ms("1970-01-01T00:00:00.000000Z"), Some(0));
        // T0 of the simulator: 2026-11-24T00:00:00Z.
        assert_eq!(unix_ms("2026-11-24T00:00:00.5Z"), Some(1_795_478_400_500));
        assert_eq!(
            unix_ms("2026-11-24T00:00:01.123456Z"),
            Some(1_795_478_401_123)
        );
        assert_eq!(unix_ms("garbage"), None);
    }

    #[test]
    fn driver_lines_are_read() {
        let text = "\
2026-11-24T00:00:01.000000Z DEBUG publish{kind=\"publish\" bytes=300}: mirror_commons::net::driver: published and gossiped record=aa
2026-11-24T00:00:01.030000Z DEBUG gossip{peer=12D3 kind=\"gossip\" bytes=500}: mirror_commons::net::driver: accepted record=bb
2026-11-24T00:00:02.000000Z  INFO mirror_commons::net::driver: connected peer=12D3
";
        let log = parse(text);
        assert_eq!(log.published, vec![("aa".to_string(), 1_795_478_401_000)]);
        assert_eq!(log.accepted, vec![("bb".to_string(), 1_795_478_401_030)]);
    }
}
