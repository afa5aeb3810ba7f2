//! A copy between environments (`Flag::copied`): only the parts chosen
//! come from the source, and a flag new to the target arrives switched off
//! unless the switch is chosen.

use hanoi_core::rules::parse_rule;
use hanoi_core::{CopyParts, Definition, Flag, Limits};

fn source() -> Flag {
    let limits = Limits::default();
    let mut f = Flag::new(
        Definition {
            enabled: true,
            percentage: 50,
            variants: vec![b"a".to_vec(), b"b".to_vec()],
            ..Definition::default()
        },
        &limits,
    )
    .unwrap();
    f.add_users([&b"u1"[..]]);
    let rule = parse_rule(
        b"de",
        &[b"VARIANT", b"b", b"IF", b"country", b"EQ", b"DE"],
        &limits.rule_limits(),
    )
    .unwrap();
    f.set_rule(rule, &limits).unwrap();
    f.metadata_mut()
        .set(&[(b"owner", b"payments")], 10, 100)
        .unwrap();
    f
}

const ALL_BUT_SWITCH: CopyParts = CopyParts {
    switch: false,
    percentage: true,
    variants: true,
    rules: true,
    schedule: true,
    regexes: true,
    metadata: true,
    ids: false,
};

#[test]
fn a_new_flag_arrives_switched_off_unless_the_switch_is_chosen() {
    let src = source();
    let f = Flag::copied(&src, None, ALL_BUT_SWITCH).unwrap();
    assert!(!f.definition().enabled);
    assert_eq!(f.definition().percentage, 50);
    assert_eq!(f.rules().len(), 1);
    assert_eq!(f.users().len(), 0, "ids only when chosen");
    let on = Flag::copied(
        &src,
        None,
        CopyParts {
            switch: true,
            ..ALL_BUT_SWITCH
        },
    )
    .unwrap();
    assert!(on.definition().enabled);
    // Nothing chosen: a new flag as new flags are.
    let bare = Flag::copied(&src, None, CopyParts::default()).unwrap();
    assert!(!bare.definition().enabled);
    assert_eq!(bare.definition().percentage, 0);
    assert!(bare.rules().is_empty() && bare.metadata().fields.is_empty());
}

#[test]
fn only_the_parts_chosen_change_the_target() {
    let src = source();
    let limits = Limits::default();
    let mut dst = Flag::new(
        Definition {
            enabled: false,
            percentage: 5,
            variants: vec![b"a".to_vec(), b"b".to_vec()],
            ..Definition::default()
        },
        &limits,
    )
    .unwrap();
    dst.add_users([&b"t1"[..]]);
    dst.metadata_mut()
        .set(&[(b"owner", b"ops")], 10, 100)
        .unwrap();
    let only_rules = CopyParts {
        rules: true,
        ..CopyParts::default()
    };
    let f = Flag::copied(&src, Some(&dst), only_rules).unwrap();
    assert!(!f.definition().enabled);
    assert_eq!(f.definition().percentage, 5);
    assert_eq!(f.rules().len(), 1);
    assert_eq!(f.metadata().fields.get(&b"owner"[..]).unwrap(), b"ops");
    let with_ids = Flag::copied(
        &src,
        Some(&dst),
        CopyParts {
            ids: true,
            ..CopyParts::default()
        },
    )
    .unwrap();
    assert_eq!(
        with_ids.users().len(),
        2,
        "the source's added to the target's"
    );
    // A rule naming a variant the result lacks: refused.
    let boolean = Flag::new(Definition::default(), &limits).unwrap();
    assert!(Flag::copied(&src, Some(&boolean), only_rules).is_err());
    assert!(Flag::copied(
        &src,
        Some(&boolean),
        CopyParts {
            variants: true,
            ..only_rules
        }
    )
    .is_ok());
}
