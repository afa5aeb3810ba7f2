//! A 3-primary Redis Cluster on loopback: flags in different slots read
//! through a cluster-aware client, one flag moved with SETSLOT/MIGRATE and
//! read again, HANOI.MENABLED over keys sharing a hash tag.

mod common;

use std::time::{Duration, Instant};

use common::{answers, build_big_flag, Server};
use redis::cluster::ClusterClient;

fn node_id(con: &mut redis::Connection) -> String {
    redis::cmd("CLUSTER").arg("MYID").query(con).unwrap()
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn slot(con: &mut redis::Connection, key: &str) -> i64 {
    redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query(con)
        .unwrap()
}

#[test]
fn flags_in_a_three_primary_cluster() {
    let args = ["--cluster-enabled", "yes", "--cluster-node-timeout", "5000"];
    let nodes: Vec<Server> = (0..3).map(|_| Server::start(&args)).collect();
    let mut cons: Vec<redis::Connection> = nodes.iter().map(Server::con).collect();
    let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
    for (con, (lo, hi)) in cons.iter_mut().zip(ranges) {
        let () = redis::cmd("CLUSTER")
            .arg("ADDSLOTSRANGE")
            .arg(lo)
            .arg(hi)
            .query(con)
            .unwrap();
    }
    for n in &nodes[1..] {
        let () = redis::cmd("CLUSTER")
            .arg("MEET")
            .arg("127.0.0.1")
            .arg(n.port)
            .query(&mut cons[0])
            .unwrap();
    }
    for con in cons.iter_mut() {
        wait_until("cluster_state:ok", || {
            let info: String = redis::cmd("CLUSTER").arg("INFO").query(con).unwrap();
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
            let v: redis::Value = redis::cmd("HANOI.EXPLAIN")
                .arg(k)
                .arg(id)
                .query(&mut cc)
                .unwrap();
            got.push(v);
        }
        assert_eq!(got, want[..300]);
        samples.push((sample, want));
    }
    // A write through the cluster client lands on the owner.
    let n: i64 = redis::cmd("HANOI.REGISTER")
        .arg(&keys[0].0)
        .arg("USER")
        .arg("via-cluster")
        .query(&mut cc)
        .unwrap();
    assert_eq!(n, 1);
    let samples0 = answers(&mut cons[keys[0].1], &keys[0].0, &samples[0].0);

    // Move flag 0 to another node: SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE.
    let (key, from) = (keys[0].0.clone(), keys[0].1);
    let to = (from + 1) % 3;
    let s = slot(&mut cons[0], &key);
    let () = redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(s)
        .arg("IMPORTING")
        .arg(&ids[from])
        .query(&mut cons[to])
        .unwrap();
    let () = redis::cmd("CLUSTER")
        .arg("SETSLOT")
        .arg(s)
        .arg("MIGRATING")
        .arg(&ids[to])
        .query(&mut cons[from])
        .unwrap();
    let () = redis::cmd("MIGRATE")
        .arg("127.0.0.1")
        .arg(nodes[to].port)
        .arg(&key)
        .arg(0)
        .arg(10_000)
        .query(&mut cons[from])
        .unwrap();
    for con in cons.iter_mut() {
        let () = redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(s)
            .arg("NODE")
            .arg(&ids[to])
            .query(con)
            .unwrap();
    }
    let t: String = redis::cmd("TYPE").arg(&key).query(&mut cons[to]).unwrap();
    assert_eq!(t, "hanoiflag");
    assert_eq!(answers(&mut cons[to], &key, &samples[0].0), samples0);
    // The cluster client follows the move.
    for (id, want) in samples[0].0.iter().zip(&samples0).take(300) {
        let v: redis::Value = redis::cmd("HANOI.EXPLAIN")
            .arg(&key)
            .arg(id)
            .query(&mut cc)
            .unwrap();
        assert_eq!(&v, want);
    }
    let on: i64 = redis::cmd("HANOI.ENABLED")
        .arg(&key)
        .arg("via-cluster")
        .query(&mut cc)
        .unwrap();
    assert_eq!(on, 1);

    // MENABLED over keys sharing a hash tag (one slot).
    let page = ["{page}:a", "{page}:b", "{page}:c"];
    let () = redis::cmd("HANOI.DEFINE")
        .arg(&[page[0], "PERCENTAGE", "100"])
        .query(&mut cc)
        .unwrap();
    let () = redis::cmd("HANOI.DEFINE")
        .arg(&[page[1], "PERCENTAGE", "0"])
        .query(&mut cc)
        .unwrap();
    let got: Vec<i64> = redis::cmd("HANOI.MENABLED")
        .arg("someone")
        .arg(&page)
        .query(&mut cc)
        .unwrap();
    assert_eq!(got, [1, 0, 0]);
    // Keys in different slots: the cluster refuses, as for MGET.
    let r: redis::RedisResult<Vec<i64>> = redis::cmd("HANOI.MENABLED")
        .arg("someone")
        .arg(&keys[1].0)
        .arg(&keys[2].0)
        .query(&mut cons[keys[1].1]);
    assert!(r.is_err());
}
