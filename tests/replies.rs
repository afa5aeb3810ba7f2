//! The module's structured replies read back by the core's decoders
//! (`hanoi_core::reply`), under RESP2 and RESP3: every reply the module
//! builds with the core's encoder decodes to what the core computes, the
//! same on both protocols.

mod common;

use common::{ok, run, server_ms, to_reply, Server};
use hanoi_core::reply::{self, ExplainReply, IdsPage, ResolveReply, StatsReply};
use hanoi_core::rules::Attrs;
use hanoi_core::{codec, Description, Query};

#[test]
fn every_structured_reply_decodes_with_the_cores_decoder_on_resp2_and_resp3() {
    let server = Server::start(&[]);
    let mut con = server.con();
    let mut con3 = server.con3();
    for args in [
        &["HANOI.DEFINE", "f", "ENABLED", "PERCENTAGE", "40", "VARIANTS", "2", "a", "b"][..],
        &[
            "HANOI.DEFINE",
            "f",
            "ENABLED",
            "PERCENTAGE",
            "40",
            "VARIANTS",
            "2",
            "a",
            "b",
            "VALUES",
            "1",
            "2",
            "DEFAULT",
            "b",
            "SALT",
            "s",
        ],
        &["HANOI.RULE", "f", "SET", "beta", "IF", "plan", "EQ", "pro"],
        &["HANOI.META", "f", "SET", "owner", "me"],
    ] {
        run(&mut con, args).unwrap();
    }
    ok(&mut con, &["HANOI.SCHEDULE", "f", "RAMP", "10", "50", "1000", "2000"]);
    for args in [
        &["HANOI.REGISTER", "f", "USER", "u1", "u2"][..],
        &["HANOI.REGISTER", "f", "REGEX", "^9"],
        &["HANOI.BLOCK", "f", "u3"],
        &["HANOI.ENABLED", "f", "u1"],
    ] {
        run(&mut con, args).unwrap();
    }
    let exported = run(&mut con, &["HANOI.EXPORT", "f"]).unwrap();
    let flag = codec::from_bytes(&redis::from_redis_value::<Vec<u8>>(&exported).unwrap()).unwrap();

    let both = |con: &mut redis::Connection, con3: &mut redis::Connection, args: &[&str]| {
        let two = to_reply(run(con, args).unwrap());
        let three = to_reply(run(con3, args).unwrap());
        (two, three)
    };
    for (id, attrs) in [
        ("u1", vec![]),
        ("u3", vec![]),
        ("9x", vec![]),
        ("zz", vec![("plan", "pro")]),
        ("42", vec![]),
    ] {
        let mut args = vec!["HANOI.EXPLAIN", "f", id];
        if !attrs.is_empty() {
            args.push("WITH");
            for (k, v) in &attrs {
                args.extend([*k, *v]);
            }
        }
        let pairs: Vec<(&[u8], &[u8])> = attrs
            .iter()
            .map(|(k, v)| (k.as_bytes(), v.as_bytes()))
            .collect();
        let q = Query {
            attrs: Attrs::new(&pairs).unwrap(),
            now_ms: server_ms(&mut con),
            ..Query::default()
        };
        let (two, three) = both(&mut con, &mut con3, &args);
        let want = ExplainReply::of(&flag.explain_with(id.as_bytes(), &q));
        assert_eq!(ExplainReply::decode(&two).unwrap(), want, "{id}");
        assert_eq!(ExplainReply::decode(&three).unwrap(), want, "{id}");
        args[0] = "HANOI.RESOLVE";
        let (two, three) = both(&mut con, &mut con3, &args);
        let want = ResolveReply::of(&flag.resolve_with(id.as_bytes(), &q));
        assert_eq!(ResolveReply::decode(&two).unwrap(), want, "{id}");
        assert_eq!(ResolveReply::decode(&three).unwrap(), want, "{id}");
    }

    let (two, three) = both(&mut con, &mut con3, &["HANOI.GET", "f"]);
    let want = Description::of(&flag, server_ms(&mut con));
    assert_eq!(Description::decode(&two).unwrap(), want);
    assert_eq!(Description::decode(&three).unwrap(), want);
    let (two, three) = both(&mut con, &mut con3, &["HANOI.GET", "missing"]);
    assert_eq!(Description::decode_optional(&two).unwrap(), None);
    assert_eq!(Description::decode_optional(&three).unwrap(), None);

    let (two, three) = both(&mut con, &mut con3, &["HANOI.STATS", "f"]);
    let stats = StatsReply::decode(&two).unwrap();
    assert_eq!(StatsReply::decode(&three).unwrap().variants, stats.variants);
    assert!(stats.evaluations >= 11 && stats.last_evaluated_ms.is_some());
    assert_eq!(
        stats
            .variants
            .iter()
            .map(|(v, _)| v.clone())
            .collect::<Vec<_>>(),
        vec![b"a".to_vec(), b"b".to_vec()]
    );

    let (two, three) = both(&mut con, &mut con3, &["HANOI.STATS", "f", "SERIES"]);
    let series = hanoi_core::observe::SeriesCounts::decode(&two).unwrap();
    assert_eq!(
        hanoi_core::observe::SeriesCounts::decode(&three)
            .unwrap()
            .hours
            .len(),
        series.hours.len()
    );
    assert!(series.minutes.iter().map(|p| p.evaluations).sum::<u64>() >= 11);

    let (two, three) = both(&mut con, &mut con3, &["HANOI.HISTORY", "f"]);
    let history = reply::decode_history(&two).unwrap();
    assert_eq!(reply::decode_history(&three).unwrap(), history);
    let want: Vec<_> = flag.history().newest().cloned().collect();
    assert_eq!(history, want);

    let (two, three) = both(&mut con, &mut con3, &["HANOI.IDS", "f", "USERS", "0"]);
    let page = IdsPage::decode(&two).unwrap();
    assert_eq!(IdsPage::decode(&three).unwrap(), page);
    assert_eq!(page.cursor, 0);
    let mut ids = page.ids;
    ids.sort();
    assert_eq!(ids, vec![b"u1".to_vec(), b"u2".to_vec()]);
}
