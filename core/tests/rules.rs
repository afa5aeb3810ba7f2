//! The evaluation rules, step by step, and hanoi's worked example.

use hanoi_core::{
    crc32, parse_percentage, parse_weight, Definition, Detail, Error, Flag, Limits, Reason, Rollout,
};

fn def(pct: u8) -> Definition {
    Definition {
        percentage: pct,
        ..Definition::default()
    }
}

fn flag(pct: u8) -> Flag {
    Flag::new(def(pct), &Limits::default()).unwrap()
}

/// The seed's bootstrap example.
fn cdc_on() -> Rollout {
    let mut r = Rollout::new();
    r.define(
        "cdc_on",
        Definition {
            percentage: 80,
            variants: vec![b"foo".to_vec(), b"bar".to_vec()],
            ..Definition::default()
        },
    )
    .unwrap();
    r.register("cdc_on", &["447568110000"]).unwrap();
    r.register_regex("cdc_on", &[r"01$"]).unwrap();
    r
}

#[test]
fn seed_example() {
    let r = cdc_on();
    // 44488: bucket 88, not registered, no regex match.
    assert!(!r.is_enabled("cdc_on", Some(b"44488")));
    let e = r.explain("cdc_on", "44488");
    assert_eq!(e.reason, Reason::Outside);
    assert_eq!(e.detail, Some(Detail::Bucket(88)));
    // 443301: matches 01$, variant bar.
    assert!(r.is_enabled("cdc_on", Some(b"443301")));
    assert_eq!(r.variant("cdc_on", "443301"), Some(&b"bar"[..]));
    let e = r.explain("cdc_on", "443301");
    assert_eq!(e.reason, Reason::Regex);
    assert_eq!(e.detail, Some(Detail::Pattern("01$")));
    // 444401: bucket 85 (hanoi's README says 89), and it matches 01$: on.
    assert!(r.is_enabled("cdc_on", Some(b"444401")));
    assert_eq!(r.get("cdc_on").unwrap().bucket(b"444401"), 85);
    assert_eq!(r.explain("cdc_on", "444401").reason, Reason::Regex);
    // The registered user.
    assert_eq!(r.explain("cdc_on", "447568110000").reason, Reason::User);
    // The global check.
    assert!(r.is_enabled("cdc_on", None));
    assert!(r.check("cdc_on", Some(b"443301")).is_ok());
    let err = r.check("cdc_on", Some(b"44488")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "feature 'cdc_on' is not enabled for '44488'"
    );
}

#[test]
fn order_disabled_beats_everything() {
    let mut f = flag(100);
    f.add_users([&b"u"[..]]);
    f.set_enabled(false);
    assert_eq!(f.evaluate(b"u"), Reason::Disabled);
    assert!(!f.is_enabled(None));
    assert!(!f.is_enabled(Some(b"u")));
}

#[test]
fn order_blocked_beats_all_user_regex() {
    let mut f = flag(100);
    f.add_users([&b"u"[..]]);
    f.add_regexes([&b"^u$"[..]], &Limits::default()).unwrap();
    f.block([&b"u"[..]]);
    assert_eq!(f.evaluate(b"u"), Reason::Blocked);
    assert_eq!(f.variant(b"u"), None);
    assert!(
        f.is_enabled(None),
        "blocking an id does not switch the flag off"
    );
    assert_eq!(f.unblock([&b"u"[..]]), 1);
    assert_eq!(f.evaluate(b"u"), Reason::All);
}

#[test]
fn order_user_then_regex_then_percentage() {
    let mut f = flag(0);
    f.add_users([&b"abc"[..]]);
    f.add_regexes([&b"^ab"[..]], &Limits::default()).unwrap();
    assert_eq!(f.evaluate(b"abc"), Reason::User);
    assert_eq!(f.evaluate(b"abd"), Reason::Regex);
    assert_eq!(f.evaluate(b"zzz"), Reason::Outside);
}

#[test]
fn percentage_zero_nobody_hundred_everybody() {
    let f0 = flag(0);
    let f100 = flag(100);
    for i in 0..10_000u32 {
        let id = i.to_string();
        assert!(!f0.is_enabled(Some(id.as_bytes())));
        assert_eq!(f100.evaluate(id.as_bytes()), Reason::All);
    }
}

#[test]
fn percentage_uses_strict_less_than() {
    // 44488 has bucket 88: off at 88, on at 89 (hanoi's <= would turn it on at 88).
    assert_eq!(flag(88).evaluate(b"44488"), Reason::Outside);
    assert_eq!(flag(89).evaluate(b"44488"), Reason::Percentage);
}

#[test]
fn percentage_80_is_80_buckets() {
    let f = flag(80);
    let on = (0..100_000u32)
        .filter(|i| f.is_enabled(Some(i.to_string().as_bytes())))
        .count();
    assert!((79_000..=81_000).contains(&on), "{on}");
    for i in 0..1000u32 {
        let id = i.to_string();
        let b = f.bucket(id.as_bytes());
        assert_eq!(f.is_enabled(Some(id.as_bytes())), b < 80);
    }
}

#[test]
fn salt_changes_the_bucket() {
    let mut d = def(50);
    d.salt = Some(b"s1".to_vec());
    let f = Flag::new(d, &Limits::default()).unwrap();
    assert_eq!(
        u32::from(f.bucket(b"44488")),
        crc32(Some(b"s1"), b"44488") % 100
    );
    assert_ne!(f.bucket(b"44488"), flag(0).bucket(b"44488"));
}

#[test]
fn edge_ids() {
    let mut f = flag(0);
    let big = vec![b'7'; 1 << 20];
    let ids: Vec<&[u8]> = vec![b"", &[0xff, 0xfe, 0x00], "東京😀".as_bytes(), &big];
    for id in &ids {
        assert_eq!(f.evaluate(id), Reason::Outside);
    }
    assert_eq!(f.add_users(ids.iter().copied()), 4);
    assert_eq!(f.add_users(ids.iter().copied()), 0);
    for id in &ids {
        assert_eq!(f.evaluate(id), Reason::User);
    }
    assert!(!f.is_enabled(Some(&big[1..])));
    // A regex over raw bytes and one over unicode text.
    let mut g = flag(0);
    g.add_regexes([&br"(?-u:\xFF)"[..], "京".as_bytes()], &Limits::default())
        .unwrap();
    assert_eq!(g.evaluate(&[0xff, 0xfe, 0x00]), Reason::Regex);
    assert_eq!(g.evaluate("東京😀".as_bytes()), Reason::Regex);
    assert_eq!(g.evaluate(b""), Reason::Outside);
    // Regexes see ids of at most MAX_ID_LEN bytes; a longer id never matches.
    let max = hanoi_core::regexes::MAX_ID_LEN;
    let mut edge = vec![b'x'; max - "京".len()];
    edge.extend_from_slice("京".as_bytes());
    assert_eq!(g.evaluate(&edge), Reason::Regex);
    let mut longer = vec![b'x'; max + 1 - "京".len()];
    longer.extend_from_slice("京".as_bytes());
    assert_eq!(g.evaluate(&longer), Reason::Outside);
    assert!(!g.is_enabled(Some(&longer)));
    g.add_users([longer.as_slice()]);
    assert_eq!(g.evaluate(&longer), Reason::User);
}

#[test]
fn regex_is_an_unanchored_search() {
    let mut f = flag(0);
    f.add_regexes([&b"33"[..]], &Limits::default()).unwrap();
    assert!(f.is_enabled(Some(b"443301")));
    assert!(!f.is_enabled(Some(b"4401")));
}

#[test]
fn regexes_all_or_nothing_and_dedup() {
    let l = Limits::default();
    let mut f = flag(0);
    assert_eq!(f.add_regexes([&b"a"[..], &b"b"[..], &b"a"[..]], &l), Ok(2));
    let err = f.add_regexes([&b"c"[..], &b"("[..]], &l).unwrap_err();
    assert!(matches!(err, Error::InvalidRegex { ref pattern, .. } if pattern == "("));
    assert_eq!(f.patterns().collect::<Vec<_>>(), ["a", "b"]);
    assert_eq!(f.add_regexes([&b""[..]], &l), Err(Error::EmptyRegex));
    assert!(matches!(
        f.add_regexes([&[0xffu8][..]], &l),
        Err(Error::InvalidRegex { .. })
    ));
    assert_eq!(f.remove_regexes([&b"a"[..], &b"zz"[..]]), 1);
    assert_eq!(f.patterns().collect::<Vec<_>>(), ["b"]);
    assert!(!f.is_enabled(Some(b"a")));
    assert!(f.is_enabled(Some(b"b")));
}

#[test]
fn regex_limits() {
    let l = Limits {
        regex_size_limit: 10_000,
        max_regexes: 2,
        ..Limits::default()
    };
    let mut f = flag(0);
    let err = f.add_regexes([&br"\w{1000}"[..]], &l).unwrap_err();
    assert!(err.to_string().contains("size limit"), "{err}");
    f.add_regexes([&b"a"[..], &b"b"[..]], &l).unwrap();
    assert_eq!(
        f.add_regexes([&b"c"[..]], &l),
        Err(Error::TooManyRegexes { limit: 2 })
    );
    // Hostile for backtracking engines; linear here.
    let mut g = flag(0);
    g.add_regexes([&b"(a+)+$"[..]], &Limits::default()).unwrap();
    let mut id = vec![b'a'; 100_000];
    id.push(b'!');
    assert!(!g.is_enabled(Some(&id)));
    assert!(!g.is_enabled(Some(&id[id.len() - 1000..])));
    assert!(g.is_enabled(Some(&id[..1000])));
    // Exponential as a DFA: refused at the write, naming the limit.
    let err = g
        .add_regexes([&b"(a|b)*a(a|b){20}"[..]], &Limits::default())
        .unwrap_err();
    assert!(err.to_string().contains("hanoi.regex-size-limit"), "{err}");
    // A Unicode word boundary cannot be a DFA; the ASCII one can.
    let err = g
        .add_regexes([&br"\bfoo\b"[..]], &Limits::default())
        .unwrap_err();
    assert!(err.to_string().contains("(?-u:\\b)"), "{err}");
    g.add_regexes([&br"(?-u:\b)foo(?-u:\b)"[..]], &Limits::default())
        .unwrap();
    assert!(g.is_enabled(Some(b"a foo!")));
    assert!(!g.is_enabled(Some(b"afoo")));
}

#[test]
fn the_regex_budget_counts_regexes_and_matches_conditions() {
    let l = Limits {
        max_regex_work: 3 * 1024,
        ..Limits::default()
    };
    let mut f = flag(0);
    f.add_regexes([&b"^a"[..], &b"^b"[..]], &l).unwrap();
    let rule = |name: &str, n: usize| {
        let mut words: Vec<&[u8]> = vec![b"IF"];
        for i in 0..n {
            if i > 0 {
                words.push(b"AND");
            }
            words.extend([&b"ua"[..], b"MATCHES", b"x"]);
        }
        hanoi_core::rules::parse_rule(name.as_bytes(), &words, &l.rule_limits()).unwrap()
    };
    assert!(f.set_rule(rule("one", 1), &l).unwrap());
    let err = f.set_rule(rule("two", 1), &l).unwrap_err();
    assert!(
        err.to_string().contains("hanoi.max-regex-work (3072)"),
        "{err}"
    );
    let err = f.add_regexes([&b"^c"[..]], &l).unwrap_err();
    assert!(
        matches!(
            err,
            Error::RegexWork {
                work: 4096,
                limit: 3072
            }
        ),
        "{err}"
    );
    assert_eq!(f.patterns().count(), 2);
    // Replacing a rule counts what it replaces.
    assert!(f.set_rule(rule("one", 1), &l).is_ok());
    f.delete_rules(&[b"one"]);
    assert!(f.set_rule(rule("two", 1), &l).unwrap());
    // Stored flags load whatever they hold.
    assert!(f.set_rule(rule("three", 5), &Limits::STORED).unwrap());
}

#[test]
fn variants_unweighted_match_hanoi() {
    let r = cdc_on();
    let f = r.get("cdc_on").unwrap();
    for i in 0..2000u32 {
        let id = i.to_string();
        let expected = if f.is_enabled(Some(id.as_bytes())) {
            let v: &[u8] = if crc32(None, id.as_bytes()).is_multiple_of(2) {
                b"foo"
            } else {
                b"bar"
            };
            Some(v)
        } else {
            None
        };
        assert_eq!(f.variant(id.as_bytes()), expected, "{id}");
    }
}

#[test]
fn variants_none_without_variants_or_when_off() {
    let f = flag(100);
    assert_eq!(f.variant(b"x"), None);
    let r = cdc_on();
    assert_eq!(r.variant("cdc_on", "44488"), None);
    assert_eq!(r.variant("nope", "44488"), None);
}

#[test]
fn variant_is_stable_while_definition_is_unchanged() {
    let mut r = cdc_on();
    let v = r.variant("cdc_on", "443301").map(<[u8]>::to_vec);
    r.register("cdc_on", &["1", "2", "3"]).unwrap();
    r.set_percentage("cdc_on", 80).unwrap();
    assert_eq!(r.variant("cdc_on", "443301").map(<[u8]>::to_vec), v);
}

/// Each weighted variant's share among enabled ids is within 2 points of
/// its weight, at every percentage 1..=100, over 100k enabled ids each.
#[test]
fn weighted_shares_hold_at_every_percentage() {
    let weights = [70u32, 20, 10];
    let total: u32 = weights.iter().sum();
    let mut d = def(0);
    d.variants = vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()];
    d.weights = Some(weights.to_vec());
    let f = Flag::new(d, &Limits::default()).unwrap();
    // Bucket and variant of each id, computed once.
    let n = 6_000_000u32;
    let mut bucket = Vec::with_capacity(n as usize);
    let mut variant = Vec::with_capacity(n as usize);
    for i in 0..n {
        let id = format!("{i}");
        bucket.push(f.bucket(id.as_bytes()));
        let v = f.assigned_variant(id.as_bytes()).unwrap()[0] - b'a';
        variant.push(v);
    }
    for pct in 1..=100u8 {
        let mut counts = [0u32; 3];
        let mut seen = 0;
        for (b, v) in bucket.iter().zip(&variant) {
            if *b < pct {
                counts[*v as usize] += 1;
                seen += 1;
                if seen == 100_000 {
                    break;
                }
            }
        }
        assert!(seen >= 50_000, "too few ids at {pct}%: {seen}");
        for (c, w) in counts.iter().zip(weights) {
            let share = 100.0 * f64::from(*c) / f64::from(seen);
            let want = 100.0 * f64::from(w) / f64::from(total);
            assert!((share - want).abs() <= 2.0, "{pct}%: {share} vs {want}");
        }
    }
}

#[test]
fn python_compatibility_table() {
    let table = include_str!("data/python_crc32.tsv");
    let mut rows = 0;
    for line in table.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        let id: Vec<u8> = (0..cols[0].len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&cols[0][i..i + 2], 16).unwrap())
            .collect();
        let crc: u32 = cols[1].parse().unwrap();
        assert_eq!(crc32(None, &id), crc);
        assert_eq!(flag(0).bucket(&id).to_string(), cols[2]);
        let mut d = def(100);
        d.variants = vec![b"v0".to_vec(), b"v1".to_vec()];
        let f2 = Flag::new(d.clone(), &Limits::default()).unwrap();
        assert_eq!(
            f2.variant(&id).unwrap()[1] - b'0',
            cols[3].parse::<u8>().unwrap()
        );
        d.variants.push(b"v2".to_vec());
        let f3 = Flag::new(d.clone(), &Limits::default()).unwrap();
        assert_eq!(
            f3.variant(&id).unwrap()[1] - b'0',
            cols[4].parse::<u8>().unwrap()
        );
        d.salt = Some(b"s1".to_vec());
        let fs = Flag::new(d, &Limits::default()).unwrap();
        assert_eq!(fs.bucket(&id).to_string(), cols[5]);
        rows += 1;
    }
    assert!(rows >= 40);
}

#[test]
fn definition_errors() {
    let l = Limits::default();
    let mut d = def(101);
    assert_eq!(
        Flag::new(d.clone(), &l).unwrap_err(),
        Error::InvalidPercentage
    );
    d.percentage = 10;
    d.variants = vec![b"a".to_vec(), b"".to_vec()];
    assert_eq!(
        Flag::new(d.clone(), &l).unwrap_err(),
        Error::EmptyVariantName
    );
    d.variants = vec![b"a".to_vec(), b"a".to_vec()];
    assert!(matches!(
        Flag::new(d.clone(), &l),
        Err(Error::DuplicateVariant(_))
    ));
    d.variants = vec![b"a".to_vec(), b"b".to_vec()];
    d.weights = Some(vec![1]);
    assert_eq!(
        Flag::new(d.clone(), &l).unwrap_err(),
        Error::WeightsCount {
            variants: 2,
            weights: 1
        }
    );
    d.weights = Some(vec![1, 0]);
    assert_eq!(Flag::new(d.clone(), &l).unwrap_err(), Error::InvalidWeight);
    d.variants.clear();
    d.weights = Some(vec![]);
    assert_eq!(Flag::new(d, &l).unwrap_err(), Error::WeightsWithoutVariants);
    assert_eq!(parse_percentage(b"100"), Ok(100));
    for bad in [
        &b"101"[..],
        b"-1",
        b"abc",
        b"",
        b"1.5",
        b"99999999999999999999",
        &[0xff],
    ] {
        assert_eq!(parse_percentage(bad), Err(Error::InvalidPercentage));
    }
    assert_eq!(parse_weight(b"7"), Ok(7));
    for bad in [&b"0"[..], b"-3", b"x", b"4294967296", b""] {
        assert_eq!(parse_weight(bad), Err(Error::InvalidWeight));
    }
}

#[test]
fn rollout_operations() {
    let mut r = Rollout::new();
    assert_eq!(r.register("x", &["1"]), Err(Error::UnknownFlag));
    assert_eq!(r.toggle("x"), Err(Error::UnknownFlag));
    assert!(!r.is_enabled("x", None));
    assert_eq!(r.explain("x", "1").reason, Reason::Undefined);
    assert!(r.check("x", None).is_err());
    r.define("x", def(0)).unwrap();
    assert_eq!(r.register("x", &["1", "2", "1"]), Ok(2));
    assert_eq!(r.unregister("x", &["2", "3"]), Ok(1));
    assert!(r.is_enabled("x", Some(b"1")));
    assert!(!r.is_enabled("x", Some(b"2")));
    // define replaces the definition and keeps registrations.
    r.define("x", def(0)).unwrap();
    assert!(r.is_enabled("x", Some(b"1")));
    assert_eq!(r.block("x", &["1"]), Ok(1));
    assert!(!r.is_enabled("x", Some(b"1")));
    assert_eq!(r.unblock("x", &["1"]), Ok(1));
    assert_eq!(r.toggle("x"), Ok(false));
    assert!(r.check("x", None).is_err());
    assert_eq!(r.toggle("x"), Ok(true));
    r.disable("x").unwrap();
    assert!(!r.is_enabled("x", Some(b"1")));
    r.enable("x").unwrap();
    assert_eq!(r.set_percentage("x", 101), Err(Error::InvalidPercentage));
    r.set_percentage("x", 100).unwrap();
    assert!(r.is_enabled("x", Some(b"anyone")));
    assert_eq!(
        r.register_regex("x", &["("])
            .map_err(|e| matches!(e, Error::InvalidRegex { .. })),
        Err(true)
    );
    assert_eq!(r.register_regex("x", &["^9"]), Ok(1));
    assert_eq!(r.unregister_regex("x", &["^9"]), Ok(1));
    assert_eq!(r.names().collect::<Vec<_>>(), vec![&b"x"[..]]);
    assert!(r.remove("x").is_some());
    assert!(!r.is_enabled("x", None));
}

#[test]
fn error_messages_are_single_lines() {
    let mut f = flag(0);
    let err = f
        .add_regexes([&b"(?P<"[..]], &Limits::default())
        .unwrap_err();
    assert!(!err.to_string().contains('\n'), "{err}");
    assert!(!err.to_string().contains('\r'));
}

/// `is_enabled` tries the "on" steps cheapest first; it must always agree
/// with `evaluate`, which follows the documented order.
#[test]
fn is_enabled_agrees_with_evaluate_on_random_flags() {
    let mut x: u64 = 0x1234_5678;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..200 {
        let mut d = def((next() % 101) as u8);
        d.enabled = next() % 10 != 0;
        if next() % 2 == 0 {
            d.salt = Some(next().to_le_bytes().to_vec());
        }
        if next() % 2 == 0 {
            d.variants = vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()];
            if next() % 2 == 0 {
                d.weights = Some(vec![1, 2, 3]);
            }
        }
        let mut f = Flag::new(d, &Limits::default()).unwrap();
        let ids: Vec<Vec<u8>> = (0..500)
            .map(|_| (next() % 3000).to_string().into_bytes())
            .collect();
        f.add_users(ids.iter().take(100).map(Vec::as_slice));
        f.block(ids.iter().skip(50).take(30).map(Vec::as_slice));
        if next() % 2 == 0 {
            f.add_regexes([&b"^1"[..], &b"7$"[..]], &Limits::default())
                .unwrap();
        }
        for id in &ids {
            let e = f.explain(id);
            assert_eq!(f.is_enabled(Some(id)), e.enabled);
            assert_eq!(f.is_enabled(Some(id)), f.evaluate(id).enabled());
            assert_eq!(f.variant(id), e.variant);
        }
    }
}

#[test]
fn rollout_rules_and_schedules() {
    use hanoi_core::rules::Attrs;
    use hanoi_core::{system_now_ms, Ramp};
    let mut r = Rollout::new();
    r.define(
        "f",
        Definition {
            variants: vec![b"a".to_vec(), b"b".to_vec()],
            ..Definition::default()
        },
    )
    .unwrap();
    r.set_rule("f", "pros", &["VARIANT", "b", "IF", "plan", "EQ", "pro"])
        .unwrap();
    let pro: &[(&[u8], &[u8])] = &[(b"plan", b"pro")];
    let pro = Attrs::new(pro).unwrap();
    assert!(!r.is_enabled("f", Some(b"u1")));
    assert!(r.is_enabled_with("f", Some(b"u1"), pro));
    assert_eq!(r.variant_with("f", "u1", pro), Some(&b"b"[..]));
    let e = r.explain_with("f", "u1", pro);
    assert_eq!(
        (e.reason, e.detail),
        (Reason::Rule, Some(Detail::Rule(b"pros")))
    );
    assert!(r.set_rule("f", "bad", &["IF", "x", "NOPE"]).is_err());
    // A window that has not begun: off for everyone.
    let now = system_now_ms();
    r.set_window("f", now + 3_600_000, 0).unwrap();
    assert!(!r.is_enabled_with("f", Some(b"u1"), pro));
    assert!(!r.is_enabled("f", None));
    assert_eq!(r.explain("f", "u1").reason, Reason::Inactive);
    assert!(r.clear_schedule("f", true, false).unwrap());
    // A ramp that has ended: its final percentage.
    let ramp = Ramp {
        from_pct: 0,
        to_pct: 100,
        start_ms: now - 2000,
        end_ms: now - 1000,
    };
    r.set_ramp("f", ramp).unwrap();
    assert!(r.is_enabled("f", Some(b"anyone")));
    assert_eq!(r.explain("f", "anyone").percentage, 100);
    r.set_percentage("f", 0).unwrap();
    assert!(
        r.get("f").unwrap().schedule().ramp.is_none(),
        "a percentage set by hand ends the ramp"
    );
    assert_eq!(r.delete_rules("f", &["pros", "nope"]).unwrap(), 1);
    assert!(!r.is_enabled_with("f", Some(b"u1"), pro));
}

/// `HANOI.MENABLED`'s shared crc: the same answers as one flag at a time,
/// salted or not, for flags asked in any order with one cache per id.
#[test]
fn shared_crc_answers_as_each_flag_alone() {
    use hanoi_core::Query;
    use std::cell::Cell;
    let mut flags = vec![flag(30), flag(50), flag(0), flag(100)];
    let mut salted = def(50);
    salted.salt = Some(b"s1".to_vec());
    flags.insert(1, Flag::new(salted, &Limits::default()).unwrap());
    flags[2].add_users([&b"77"[..]]);
    let q = Query::default();
    for i in 0..5000u32 {
        let id = format!("{}", i * 7919);
        let cache = Cell::new(None);
        for f in &flags {
            assert_eq!(
                f.is_enabled_shared(Some(id.as_bytes()), &q, &cache),
                f.is_enabled_with(Some(id.as_bytes()), &q),
                "id {id}"
            );
        }
        assert_eq!(cache.get(), Some(crc32(None, id.as_bytes())));
    }
}

/// Counting from a command (load and store) counts like `count`.
#[test]
fn serialized_counts_add_up() {
    let f = flag(50);
    for i in 0..10u64 {
        f.counters().count_serialized(i % 2 == 0, None, 1000 + i);
    }
    let c = f.counters().snapshot();
    assert_eq!((c.evaluations, c.enabled, c.last_ms), (10, 5, 1009));
}
