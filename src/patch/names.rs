//! File names in patch headers: quoting, strip levels, containment and the epoch timestamps
//! `diff -N` writes for absent files.

/// Decodes a C-style quoted name as git writes it (`"a/with\ttab"`). Returns the name and the
/// bytes after the closing quote, or `None` when the quoting is malformed.
pub(super) fn unquote(quoted: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let mut name = Vec::new();
    let mut i = 1;
    while i < quoted.len() {
        match quoted[i] {
            b'"' => return Some((name, &quoted[i + 1..])),
            b'\\' => {
                let escape = *quoted.get(i + 1)?;
                i += 2;
                match escape {
                    b'n' => name.push(b'\n'),
                    b't' => name.push(b'\t'),
                    b'r' => name.push(b'\r'),
                    b'a' => name.push(0x07),
                    b'b' => name.push(0x08),
                    b'f' => name.push(0x0c),
                    b'v' => name.push(0x0b),
                    b'0'..=b'7' => {
                        let mut value = u32::from(escape - b'0');
                        let mut digits = 1;
                        while digits < 3 {
                            match quoted.get(i) {
                                Some(&digit @ b'0'..=b'7') => {
                                    value = value * 8 + u32::from(digit - b'0');
                                    i += 1;
                                    digits += 1;
                                }
                                _ => break,
                            }
                        }
                        name.push(u8::try_from(value).ok()?);
                    }
                    other => name.push(other),
                }
            }
            byte => {
                name.push(byte);
                i += 1;
            }
        }
    }
    None
}

/// Removes `strip` leading components like `patch -pN` (a run of `/` is one separator).
pub(super) fn strip_components(name: &[u8], strip: usize) -> Option<&[u8]> {
    let mut rest = name;
    for _ in 0..strip {
        let slash = rest.iter().position(|&b| b == b'/')?;
        let after = &rest[slash..];
        let skip = after.iter().take_while(|&&b| b == b'/').count();
        rest = &after[skip..];
    }
    Some(rest)
}

/// Normalises a stripped name to `a/b/c`; `None` if it is absolute, empty or has a `..`
/// component, so that no name can point outside the tree lexically.
pub(super) fn safe_relative(path: &[u8]) -> Option<Vec<u8>> {
    if path.first() == Some(&b'/') {
        return None;
    }
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return None,
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        return None;
    }
    Some(parts.join(&b'/'))
}

/// GNU patch's choice among candidate names that exist: fewest components, then the shortest
/// base name, then the shortest name; on a tie the earlier candidate.
pub(super) fn best_name<'n>(candidates: &[&'n [u8]]) -> Option<&'n [u8]> {
    let key = |name: &[u8]| {
        let components = name.iter().filter(|&&b| b == b'/').count();
        let base = name.rsplit(|&b| b == b'/').next().map_or(0, <[u8]>::len);
        (components, base, name.len())
    };
    let mut best: Option<&[u8]> = None;
    for &candidate in candidates {
        if best.is_none_or(|chosen| key(candidate) < key(chosen)) {
            best = Some(candidate);
        }
    }
    best
}

/// Whether a header timestamp denotes the Unix epoch, which `diff -N` writes for files that
/// are absent on that side.
pub(super) fn is_epoch(timestamp: &str) -> bool {
    let words: Vec<&str> = timestamp.split_whitespace().collect();
    // Traditional `ctime` format: "Thu Jan  1 00:00:00 1970".
    if words.len() == 5 && words[1..] == ["Jan", "1", "00:00:00", "1970"] {
        return true;
    }
    // ISO format: "1970-01-01 00:00:00.000000000 +0000" (zone optional).
    let (Some(date), Some(time)) = (words.first(), words.get(1)) else {
        return false;
    };
    let zone = words.get(2).copied().unwrap_or("+0000");
    iso_seconds(date, time, zone) == Some(0)
}

/// Seconds since the epoch of an ISO date, time and zone; `None` for anything else or a time
/// with a non-zero fraction.
fn iso_seconds(date: &str, time: &str, zone: &str) -> Option<i64> {
    let mut date = date.splitn(3, '-');
    let year: i64 = date.next()?.parse().ok()?;
    let month: i64 = date.next()?.parse().ok()?;
    let day: i64 = date.next()?.parse().ok()?;
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    if !fraction.bytes().all(|b| b == b'0') {
        return None;
    }
    let mut clock = clock.splitn(3, ':');
    let hour: i64 = clock.next()?.parse().ok()?;
    let minute: i64 = clock.next()?.parse().ok()?;
    let second: i64 = clock.next()?.parse().ok()?;
    let (sign, digits) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let zone_hours: i64 = digits[..2].parse().ok()?;
    let zone_minutes: i64 = digits[2..].parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    // Days since 1970-01-01 in the proleptic Gregorian calendar.
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    let zone_seconds = sign * (zone_hours * 3600 + zone_minutes * 60);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - zone_seconds)
}

/// A name for messages.
pub(super) fn display(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_detection() {
        assert!(is_epoch("1970-01-01 00:00:00.000000000 +0000"));
        assert!(is_epoch("1970-01-01 00:00:00"));
        assert!(is_epoch("1970-01-01 09:00:00.000000000 +0900"));
        assert!(is_epoch("1969-12-31 16:00:00.000000000 -0800"));
        assert!(is_epoch("Thu Jan  1 00:00:00 1970"));
        assert!(!is_epoch("1970-01-01 00:00:01 +0000"));
        assert!(!is_epoch("2024-03-01 12:00:00.5 +0000"));
        assert!(!is_epoch(""));
    }

    #[test]
    fn stripping_and_containment() {
        assert_eq!(
            strip_components(b"x//y/src/bar.h", 2),
            Some(&b"src/bar.h"[..])
        );
        assert_eq!(strip_components(b"bar.h", 1), None);
        assert_eq!(safe_relative(b"./a//b/"), Some(b"a/b".to_vec()));
        for unsafe_name in [&b"/etc/passwd"[..], b"a/../../x", b"..", b"./"] {
            assert_eq!(safe_relative(unsafe_name), None);
        }
    }

    #[test]
    fn gnu_best_name() {
        assert_eq!(best_name(&[b"foo.c.orig", b"foo.c"]), Some(&b"foo.c"[..]));
        assert_eq!(best_name(&[b"x/y", b"z"]), Some(&b"z"[..]));
        assert_eq!(best_name(&[b"ab", b"ab"]), Some(&b"ab"[..]));
    }

    #[test]
    fn quoted_names() {
        let (name, rest) = unquote(b"\"a/my\\tfile\\303\\251\"\t2024").unwrap();
        assert_eq!(name, b"a/my\tfile\xc3\xa9");
        assert_eq!(rest, b"\t2024");
        assert!(unquote(b"\"unterminated").is_none());
    }
}
