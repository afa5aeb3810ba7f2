//! The `HANOI.DEFINE` options, parsed from raw arguments. Here rather than in
//! the module so that the in-memory evaluator, tests and the fuzzer share it.

use crate::{parse_percentage, parse_weight, Definition, Error, Limits};

const KEYWORDS: [&str; 6] = [
    "ENABLED",
    "DISABLED",
    "PERCENTAGE",
    "VARIANTS",
    "WEIGHTS",
    "SALT",
];

/// An argument as error messages quote it: at most 64 bytes, escaped when
/// not UTF-8.
pub fn quote(arg: &[u8]) -> String {
    let arg = arg.get(..64).unwrap_or(arg);
    match std::str::from_utf8(arg) {
        Ok(s) => s.to_owned(),
        Err(_) => arg.escape_ascii().to_string(),
    }
}

fn keyword(arg: &[u8]) -> Option<&'static str> {
    KEYWORDS
        .iter()
        .find(|k| arg.eq_ignore_ascii_case(k.as_bytes()))
        .copied()
}

/// Parses `[ENABLED|DISABLED] [PERCENTAGE pct] [VARIANTS count name ...
/// [WEIGHTS w ...]] [SALT salt]` (case-insensitive, each at most once);
/// omitted options take their defaults. The result is validated.
pub fn parse_definition(opts: &[&[u8]], limits: &Limits) -> Result<Definition, Error> {
    let mut def = Definition::default();
    let mut seen: Vec<&str> = Vec::new();
    let mut i = 0;
    while let Some(&opt) = opts.get(i) {
        i += 1;
        let kw = keyword(opt).ok_or_else(|| Error::UnknownOption(quote(opt)))?;
        let group = if kw == "DISABLED" { "ENABLED" } else { kw };
        if seen.contains(&group) {
            return Err(Error::RepeatedOption(kw));
        }
        seen.push(group);
        let mut value = || {
            let v = opts.get(i).copied();
            i += 1;
            v.ok_or(Error::MissingValue(kw))
        };
        match kw {
            "ENABLED" => def.enabled = true,
            "DISABLED" => def.enabled = false,
            "PERCENTAGE" => def.percentage = parse_percentage(value()?)?,
            "SALT" => def.salt = Some(value()?.to_vec()),
            "VARIANTS" => {
                let raw = value()?;
                let count = std::str::from_utf8(raw)
                    .ok()
                    .and_then(|s| s.parse::<usize>().ok())
                    .ok_or_else(|| Error::BadVariantCount(quote(raw)))?;
                if count > limits.max_variants {
                    return Err(Error::TooManyVariants {
                        limit: limits.max_variants,
                    });
                }
                let names =
                    opts.get(i..i.saturating_add(count))
                        .ok_or(Error::MissingVariantNames {
                            count,
                            got: opts.len().saturating_sub(i),
                        })?;
                i += count;
                def.variants = names.iter().map(|n| n.to_vec()).collect();
            }
            _ => {
                // WEIGHTS: every argument up to the next keyword.
                if !seen.contains(&"VARIANTS") {
                    return Err(Error::WeightsWithoutVariants);
                }
                let start = i;
                while opts.get(i).is_some_and(|a| keyword(a).is_none()) {
                    i += 1;
                }
                let weights = opts
                    .get(start..i)
                    .unwrap_or(&[])
                    .iter()
                    .map(|w| parse_weight(w))
                    .collect::<Result<Vec<u32>, Error>>()?;
                def.weights = Some(weights);
            }
        }
    }
    def.validate(limits)?;
    Ok(def)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Definition, Error> {
        let opts: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        parse_definition(&opts, &Limits::default())
    }

    #[test]
    fn options_and_defaults() {
        assert_eq!(parse(&[]), Ok(Definition::default()));
        let d = parse(&[
            "disabled",
            "Percentage",
            "7",
            "VARIANTS",
            "2",
            "a",
            "b",
            "WEIGHTS",
            "1",
            "2",
            "SALT",
            "s",
        ])
        .unwrap();
        assert!(!d.enabled);
        assert_eq!(d.percentage, 7);
        assert_eq!(d.variants, vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(d.weights, Some(vec![1, 2]));
        assert_eq!(d.salt, Some(b"s".to_vec()));
        // A variant may be named like a keyword: the count decides.
        let d = parse(&["VARIANTS", "2", "SALT", "ENABLED"]).unwrap();
        assert_eq!(d.variants, vec![b"SALT".to_vec(), b"ENABLED".to_vec()]);
    }

    #[test]
    fn errors() {
        assert_eq!(parse(&["NOPE"]), Err(Error::UnknownOption("NOPE".into())));
        assert_eq!(parse(&["SALT"]), Err(Error::MissingValue("SALT")));
        assert_eq!(
            parse(&["ENABLED", "DISABLED"]),
            Err(Error::RepeatedOption("DISABLED"))
        );
        assert_eq!(
            parse(&["VARIANTS", "3", "a"]),
            Err(Error::MissingVariantNames { count: 3, got: 1 })
        );
        assert_eq!(
            parse(&["VARIANTS", "x"]),
            Err(Error::BadVariantCount("x".into()))
        );
        assert_eq!(
            parse(&["VARIANTS", "18446744073709551615", "a"]),
            Err(Error::TooManyVariants { limit: 256 })
        );
        assert_eq!(parse(&["WEIGHTS", "1"]), Err(Error::WeightsWithoutVariants));
        assert_eq!(
            parse(&["VARIANTS", "1", "a", "WEIGHTS"]),
            Err(Error::WeightsCount {
                variants: 1,
                weights: 0
            })
        );
        let bad: &[&[u8]] = &[&[0xff, 0xfe]];
        assert_eq!(
            parse_definition(bad, &Limits::default()),
            Err(Error::UnknownOption("\\xff\\xfe".into()))
        );
    }
}
