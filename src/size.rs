//! Sizes as people write them on the command line: `500M`, `20G`, `1T` (powers of 1024).

const UNITS: [(char, u32); 4] = [('K', 1), ('M', 2), ('G', 3), ('T', 4)];

/// Bytes from `NUMBER[K|M|G|T]`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let upper = text.trim().to_ascii_uppercase();
    let upper = upper.strip_suffix('B').unwrap_or(&upper);
    let (digits, power) = match UNITS.iter().find(|(unit, _)| upper.ends_with(*unit)) {
        Some((_, power)) => (&upper[..upper.len() - 1], *power),
        None => (upper, 0),
    };
    let number: u64 = digits.parse().map_err(|_| {
        format!("`{text}` is not a size: write a number with K, M, G or T, e.g. 20G")
    })?;
    number
        .checked_mul(1024u64.pow(power))
        .ok_or_else(|| format!("`{text}` is too large"))
}

/// Bytes in the largest unit that keeps a whole number above 1, e.g. `12.3 GiB`.
pub fn human(bytes: u64) -> String {
    let mut value = bytes as f64;
    for unit in ["B", "KiB", "MiB", "GiB"] {
        if value < 1024.0 {
            return format!("{value:.1} {unit}");
        }
        value /= 1024.0;
    }
    format!("{value:.1} TiB")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("20G"), Ok(20 << 30));
        assert_eq!(parse_size("3m"), Ok(3 << 20));
        assert_eq!(parse_size("1TB"), Ok(1 << 40));
        assert!(parse_size("lots").unwrap_err().contains("not a size"));
        assert_eq!(human(3 << 30), "3.0 GiB");
    }
}
