//! The rule parser (`HANOI.RULE key SET name ...`), then evaluation of the
//! rule on a flag with attributes made from the rest of the input.
//! Arguments are the input split at NUL bytes; attributes at 0x01.
#![no_main]

use hanoi_core::rules::{parse_rule, Attrs};
use hanoi_core::{Definition, Flag, Limits, Query};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (rule_part, attr_part) = match data.iter().position(|&b| b == 1) {
        Some(p) => (&data[..p], &data[p + 1..]),
        None => (data, &[][..]),
    };
    let args: Vec<&[u8]> = rule_part.split(|&b| b == 0).collect();
    let limits = Limits {
        regex_size_limit: 64 * 1024,
        max_in_values: 64,
        ..Limits::DEFAULT
    };
    let Some((name, rest)) = args.split_first() else {
        return;
    };
    let Ok(rule) = parse_rule(name, rest, &limits.rule_limits()) else {
        return;
    };
    // What it writes back parses to the same rule.
    let written = rule.args();
    let written: Vec<&[u8]> = written.iter().map(Vec::as_slice).collect();
    assert_eq!(parse_rule(name, &written, &limits.rule_limits()).as_ref(), Ok(&rule));
    let def = Definition {
        variants: rule.variant.iter().cloned().collect(),
        percentage: 10,
        ..Definition::default()
    };
    let Ok(mut flag) = Flag::new(def, &limits) else {
        return;
    };
    flag.set_rule(rule, &hanoi_core::Limits::default()).expect("its own variant exists");
    let words: Vec<&[u8]> = attr_part.split(|&b| b == 0).collect();
    let pairs: Vec<(&[u8], &[u8])> = words.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    let Ok(attrs) = Attrs::new(&pairs) else {
        return;
    };
    for id in [&b"1234"[..], b"", name] {
        let q = Query {
            attrs,
            now_ms: 0,
            ..Query::default()
        };
        let e = flag.explain_with(id, &q);
        assert_eq!(e.enabled, flag.is_enabled_with(Some(id), &q));
        let v = flag.variant_index_with(id, &q).map(|i| flag.definition().variants[i].as_slice());
        assert_eq!(e.variant, v);
    }
});
