//! The `HANOI.DEFINE` options, parsed from raw arguments. Here rather than in
//! the module so that the in-memory evaluator, tests and the fuzzer share it.

use crate::{parse_int, parse_percentage, parse_weight, Definition, Error, Limits};

const KEYWORDS: [&str; 9] = [
    "ENABLED",
    "DISABLED",
    "PERCENTAGE",
    "VARIANTS",
    "WEIGHTS",
    "VALUES",
    "DEFAULT",
    "SALT",
    "SEGMENT",
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

/// A JSON text without the white space around it (RFC 8259's).
fn trim_json(v: &[u8]) -> &[u8] {
    let ws = |b: &u8| b" \t\r\n".contains(b);
    let start = v.iter().position(|b| !ws(b)).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !ws(b)).map_or(start, |e| e + 1);
    &v[start..end]
}

fn keyword(arg: &[u8]) -> Option<&'static str> {
    KEYWORDS
        .iter()
        .find(|k| arg.eq_ignore_ascii_case(k.as_bytes()))
        .copied()
}

/// Parses `[ENABLED|DISABLED] [PERCENTAGE pct] [VARIANTS count name ...
/// [WEIGHTS w ...] [VALUES json ...]] [DEFAULT name] [SALT salt]`, or
/// `SEGMENT [SALT salt]`
/// (case-insensitive, each at most once);
/// omitted options take their defaults. The result is validated.
pub fn parse_definition(opts: &[&[u8]], limits: &Limits) -> Result<Definition, Error> {
    parse_definition_given(opts, limits).map(|(def, _)| def)
}

/// [`parse_definition`], and whether PERCENTAGE was given (setting the
/// percentage by hand ends a ramp).
pub fn parse_definition_given(
    opts: &[&[u8]],
    limits: &Limits,
) -> Result<(Definition, bool), Error> {
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
            "SEGMENT" => def.segment = true,
            "DEFAULT" => def.default = Some(value()?.to_vec()),
            "VARIANTS" => {
                let raw = value()?;
                let count = parse_int(raw)
                    .and_then(|c| usize::try_from(c).ok())
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
                // WEIGHTS and VALUES: every argument up to the next keyword
                // (a JSON text is never a bare keyword).
                if !seen.contains(&"VARIANTS") {
                    return Err(if kw == "VALUES" {
                        Error::BadValue("VALUES needs VARIANTS".into())
                    } else {
                        Error::WeightsWithoutVariants
                    });
                }
                let start = i;
                while opts.get(i).is_some_and(|a| keyword(a).is_none()) {
                    i += 1;
                }
                let args = opts.get(start..i).unwrap_or(&[]);
                if kw == "VALUES" {
                    def.values = Some(args.iter().map(|v| trim_json(v).to_vec()).collect());
                } else {
                    let weights = args
                        .iter()
                        .map(|w| parse_weight(w))
                        .collect::<Result<Vec<u32>, Error>>()?;
                    def.weights = Some(weights);
                }
            }
        }
    }
    def.validate(limits)?;
    Ok((def, seen.contains(&"PERCENTAGE")))
}

/// The `HANOI.DEFINE` options that recreate `def`: the inverse of
/// [`parse_definition`] (the AOF rewrite writes them; a property test checks
/// `parse_definition(definition_args(d)) == d`).
pub fn definition_args(def: &Definition) -> Vec<Vec<u8>> {
    if def.segment {
        let mut a = vec![b"SEGMENT".to_vec()];
        if let Some(salt) = &def.salt {
            a.push(b"SALT".to_vec());
            a.push(salt.clone());
        }
        return a;
    }
    let state: &[u8] = if def.enabled { b"ENABLED" } else { b"DISABLED" };
    let mut a = vec![
        state.to_vec(),
        b"PERCENTAGE".to_vec(),
        def.percentage.to_string().into_bytes(),
    ];
    if !def.variants.is_empty() {
        a.push(b"VARIANTS".to_vec());
        a.push(def.variants.len().to_string().into_bytes());
        a.extend(def.variants.iter().cloned());
        if let Some(w) = &def.weights {
            a.push(b"WEIGHTS".to_vec());
            a.extend(w.iter().map(|w| w.to_string().into_bytes()));
        }
        if let Some(v) = &def.values {
            a.push(b"VALUES".to_vec());
            a.extend(v.iter().cloned());
        }
    }
    if let Some(d) = &def.default {
        a.push(b"DEFAULT".to_vec());
        a.push(d.clone());
    }
    if let Some(salt) = &def.salt {
        a.push(b"SALT".to_vec());
        a.push(salt.clone());
    }
    a
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
    fn integers_as_redis_parses_them() {
        #[rustfmt::skip]
        let cases: &[(&[&str], Result<(), Error>)] = &[
            (&["PERCENTAGE", "0"], Ok(())),
            (&["PERCENTAGE", "100"], Ok(())),
            (&["PERCENTAGE", "+5"], Err(Error::InvalidPercentage)),
            (&["PERCENTAGE", "05"], Err(Error::InvalidPercentage)),
            (&["PERCENTAGE", "+0"], Err(Error::InvalidPercentage)),
            (&["PERCENTAGE", "-0"], Err(Error::InvalidPercentage)),
            (&["PERCENTAGE", " 5"], Err(Error::InvalidPercentage)),
            (&["VARIANTS", "+2", "a", "b"], Err(Error::BadVariantCount("+2".into()))),
            (&["VARIANTS", "02", "a", "b"], Err(Error::BadVariantCount("02".into()))),
            (&["VARIANTS", "-1"], Err(Error::BadVariantCount("-1".into()))),
            (&["VARIANTS", "2", "a", "b", "WEIGHTS", "+1", "1"], Err(Error::InvalidWeight)),
            (&["VARIANTS", "2", "a", "b", "WEIGHTS", "01", "1"], Err(Error::InvalidWeight)),
            (&["VARIANTS", "2", "a", "b", "WEIGHTS", "10", "1"], Ok(())),
        ];
        for (args, want) in cases {
            assert_eq!(parse(args).map(drop), *want, "{args:?}");
        }
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
            Err(Error::BadVariantCount("18446744073709551615".into()))
        );
        assert_eq!(
            parse(&["VARIANTS", "9223372036854775807", "a"]),
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

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    fn definition() -> impl Strategy<Value = Definition> {
        let names =
            proptest::collection::hash_set(proptest::collection::vec(any::<u8>(), 1..6), 0..6);
        (
            any::<bool>(),
            0u8..=100,
            names,
            any::<bool>(),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..6)),
            proptest::collection::vec(1u32.., 6),
        )
            .prop_map(|(enabled, percentage, names, weighted, salt, w)| {
                let variants: Vec<Vec<u8>> = names.into_iter().collect();
                let weights =
                    (weighted && !variants.is_empty()).then(|| w[..variants.len()].to_vec());
                Definition {
                    enabled,
                    percentage,
                    variants,
                    weights,
                    salt,
                    ..Definition::default()
                }
            })
    }

    proptest! {
        #[test]
        fn parse_inverts_definition_args(d in definition()) {
            let args = definition_args(&d);
            let opts: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            prop_assert_eq!(parse_definition(&opts, &Limits::DEFAULT), Ok(d));
        }
    }
}
