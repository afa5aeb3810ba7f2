//! A 3-primary Redis Cluster on loopback: flags in different slots read
//! through a cluster-aware client, one flag moved with SETSLOT/MIGRATE and
//! read again, HANOI.MENABLED over keys sharing a hash tag.

mod common;

use std::time::{Duration, Instant};

use common::{answers, build_big_flag, err, int, ok, ok_b, query, run_b, Server};
use redis::cluster::ClusterClient;

fn node_id(con: &mut redis::Connection) -> String {
    query(con, &["CLUSTER", "MYID"])
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn slot(con: &mut redis::Connection, key: &str) -> i64 {
    int(con, &["CLUSTER", "KEYSLOT", key])
}

#[test]
fn flags_in_a_three_primary_cluster() {
    let args = ["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"];
    let nodes: Vec<Server> = (0..3).map(|_| Server::start(&args)).collect();
    let mut cons: Vec<redis::Connection> = nodes.iter().map(Server::con).collect();
    let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
    for (con, (lo, hi)) in cons.iter_mut().zip(ranges) {
        ok_b(con, ("CLUSTER", "ADDSLOTSRANGE", lo, hi));
    }
    for n in &nodes[1..] {
        ok_b(&mut cons[0], ("CLUSTER", "MEET", "127.0.0.1", n.port));
    }
    for con in cons.iter_mut() {
        wait_until("cluster_state:ok", || {
            let info: String = query(con, &["CLUSTER", "INFO"]);
            info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3")
        });
    }
    let ids: Vec<String> = cons.iter_mut().map(node_id).collect();
    let owner = |slot: i64| {
        ranges
            .iter()
            .position(|&(lo, hi)| (lo..=hi).contains(&slot))
            .unwrap()
    };

    // One flag per node.
    let mut keys: Vec<(String, usize)> = Vec::new();
    for i in 0.. {
        let k = format!("flag:{i}");
        let o = owner(slot(&mut cons[0], &k));
        if !keys.iter().any(|(_, n)| *n == o) {
            keys.push((k, o));
        }
        if keys.len() == 3 {
            break;
        }
    }
    let client = ClusterClient::new(vec![nodes[0].url()]).unwrap();
    let mut cc = client.get_connection().unwrap();
    let mut samples = Vec::new();
    for (k, o) in &keys {
        // Built on the owner directly (big), then read through the cluster client.
        let sample = build_big_flag(&mut cons[*o], k, 100_000, 100 + *o as u64);
        let want = answers(&mut cons[*o], k, &sample);
        let mut got = Vec::new();
        for id in sample.iter().take(300) {
            got.push(run_b(&mut cc, ("HANOI.EXPLAIN", k, id)).unwrap());
        }
        assert_eq!(got, want[..300]);
        samples.push((sample, want));
    }
    // A write through the cluster client lands on the owner.
    assert_eq!(int(&mut cc, &["HANOI.REGISTER", &keys[0].0, "USER", "via-cluster"]), 1);
    int(&mut cc, &["HANOI.META", &keys[0].0, "SET", "owner", "cluster-team"]);
    #[rustfmt::skip]
    ok(&mut cc, &["HANOI.RULE", &keys[0].0, "SET", "pros", "ROLLOUT", "40", "IF", "plan", "EQ", "pro"]);
    ok(&mut cc, &["HANOI.SCHEDULE", &keys[0].0, "RAMP", "10", "60", "1000", "2000"]);
    let samples0 = answers(&mut cons[keys[0].1], &keys[0].0, &samples[0].0);
    let history0: redis::Value = query(&mut cons[keys[0].1], ("HANOI.HISTORY", &keys[0].0));
    let get0: redis::Value = query(&mut cons[keys[0].1], ("HANOI.GET", &keys[0].0));

    // Move flag 0 to another node: SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE.
    let (key, from) = (keys[0].0.clone(), keys[0].1);
    let to = (from + 1) % 3;
    let s = slot(&mut cons[0], &key);
    ok_b(&mut cons[to], ("CLUSTER", "SETSLOT", s, "IMPORTING", &ids[from]));
    ok_b(&mut cons[from], ("CLUSTER", "SETSLOT", s, "MIGRATING", &ids[to]));
    ok_b(&mut cons[from], ("MIGRATE", "127.0.0.1", nodes[to].port, &key, 0, 10_000));
    // The destination first, then the source, then the third node (as
    // Redis's resharding does): a node told later cannot gossip the old
    // owner back over the new one.
    for n in [to, from, 3 - to - from] {
        ok_b(&mut cons[n], ("CLUSTER", "SETSLOT", s, "NODE", &ids[to]));
    }
    assert_eq!(query::<String>(&mut cons[to], ("TYPE", &key)), "hanoiflag");
    assert_eq!(answers(&mut cons[to], &key, &samples[0].0), samples0);
    // History and metadata move with the flag.
    assert_eq!(query::<redis::Value>(&mut cons[to], ("HANOI.HISTORY", &key)), history0);
    assert_eq!(query::<redis::Value>(&mut cons[to], ("HANOI.GET", &key)), get0);
    // Rules and schedules move with it: the same answers with attributes.
    for id in samples[0].0.iter().take(200) {
        let args = ("HANOI.EXPLAIN", &key, id, "WITH", "plan", "pro");
        assert_eq!(run_b(&mut cons[to], args).unwrap(), run_b(&mut cc, args).unwrap());
    }
    // The cluster client follows the move.
    for (id, want) in samples[0].0.iter().zip(&samples0).take(300) {
        assert_eq!(&run_b(&mut cc, ("HANOI.EXPLAIN", &key, id)).unwrap(), want);
    }
    assert_eq!(int(&mut cc, &["HANOI.ENABLED", &key, "via-cluster"]), 1);

    // MENABLED over keys sharing a hash tag (one slot).
    let page = ["{page}:a", "{page}:b", "{page}:c"];
    ok(&mut cc, &["HANOI.DEFINE", page[0], "PERCENTAGE", "100"]);
    ok(&mut cc, &["HANOI.DEFINE", page[1], "PERCENTAGE", "0"]);
    let got: Vec<i64> = query(&mut cc, ("HANOI.MENABLED", "someone", &page));
    assert_eq!(got, [1, 0, 0]);
    // Keys in different slots: the cluster refuses, as for MGET.
    err(&mut cons[keys[1].1], &["HANOI.MENABLED", "someone", &keys[1].0, &keys[2].0]);
}
