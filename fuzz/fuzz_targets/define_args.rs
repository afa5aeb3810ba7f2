//! The command-argument side: HANOI.DEFINE options, then REGISTER/BLOCK/
//! REGEX arguments and evaluation on the flag they define. Arguments are the
//! input split at NUL bytes.
#![no_main]

use hanoi_core::store::{self, Write};
use hanoi_core::{definition_args, parse_definition, parse_percentage, Flag, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let args: Vec<&[u8]> = data.split(|&b| b == 0).collect();
    let limits = Limits {
        regex_size_limit: 64 * 1024,
        max_regexes: 8,
        max_variants: 64,
        ..Limits::DEFAULT
    };
    let (opts, rest) = args.split_at(args.len() / 2);
    let Ok(def) = parse_definition(opts, &limits) else {
        return;
    };
    // The AOF rewrite's writer is the parser's inverse.
    let written = definition_args(&def);
    let written: Vec<&[u8]> = written.iter().map(Vec::as_slice).collect();
    assert_eq!(parse_definition(&written, &limits).as_ref(), Ok(&def));
    let Ok(mut flag) = Flag::new(def, &limits) else {
        return;
    };
    flag.add_users(rest.iter().copied());
    flag.block(rest.iter().step_by(3).copied());
    let _ = flag.add_regexes(rest.iter().take(2).copied(), &limits);
    if let Some(p) = rest.first() {
        if let Ok(p) = parse_percentage(p) {
            let _ = flag.set_percentage(p);
        }
    }
    for id in &args {
        let e = flag.explain(id);
        assert_eq!(e.enabled, flag.is_enabled(Some(id)));
        assert_eq!(e.variant, flag.variant(id));
    }
    flag.remove_users(rest.iter().copied());
    flag.remove_regexes(rest.iter().copied());
    // Every write on the rest of the arguments: a refused one changes
    // nothing; an applied one moves the revision only if it changed.
    for name in [
        "DEFINE", "REGISTER", "UNREGISTER", "BLOCK", "UNBLOCK", "TOGGLE", "PERCENTAGE", "RULE",
        "SCHEDULE", "META",
    ] {
        let Ok(write) = Write::parse(name.as_bytes(), rest, &limits) else {
            continue;
        };
        let before = flag.clone();
        match store::apply(Some(&mut flag), write, &limits, 0) {
            Err(_) => assert!(flag == before, "{name} refused yet changed the flag"),
            Ok(o) => assert_eq!(
                flag.revision(),
                before.revision() + u64::from(o.changed()),
                "{name}"
            ),
        }
    }
});
