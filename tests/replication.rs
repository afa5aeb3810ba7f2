//! A replica fed by full sync and then by the command stream answers like
//! its primary; no-op writes are not replicated.

mod common;

use std::time::{Duration, Instant};

use common::{answers, build_big_flag, snapshot, Server};

fn repl_offset(con: &mut redis::Connection) -> i64 {
    let info: String = redis::cmd("INFO").arg("replication").query(con).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("master_repl_offset:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

fn wait_replica(primary: &mut redis::Connection) {
    let n: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(10_000)
        .query(primary)
        .unwrap();
    assert_eq!(n, 1, "replica did not acknowledge");
}

#[test]
fn replica_answers_like_primary() {
    let p = Server::start(&["--repl-ping-replica-period", "60"]);
    let mut pc = p.con();
    let ids = build_big_flag(&mut pc, "big", 100_000, 7);
    // Full sync of an existing flag.
    let r = Server::start(&["--replicaof", "127.0.0.1", &p.port.to_string()]);
    let mut rc = r.con();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info: String = redis::cmd("INFO")
            .arg("replication")
            .query(&mut rc)
            .unwrap();
        if info.contains("master_link_status:up") && !info.contains("master_sync_in_progress:1") {
            break;
        }
        assert!(Instant::now() < deadline, "replica never synced");
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_replica(&mut pc);
    assert_eq!(answers(&mut rc, "big", &ids), answers(&mut pc, "big", &ids));
    // Then the command stream.
    let _: i64 = redis::cmd("HANOI.REGISTER")
        .arg(&["big", "USER", "late-user"])
        .query(&mut pc)
        .unwrap();
    let _: i64 = redis::cmd("HANOI.BLOCK")
        .arg("big")
        .arg(&ids[0])
        .query(&mut pc)
        .unwrap();
    let _: i64 = redis::cmd("HANOI.REGISTER")
        .arg(&["big", "REGEX", "^late"])
        .query(&mut pc)
        .unwrap();
    let () = redis::cmd("HANOI.PERCENTAGE")
        .arg(&["big", "60"])
        .query(&mut pc)
        .unwrap();
    let () = redis::cmd("HANOI.DEFINE")
        .arg(&[
            "fresh",
            "PERCENTAGE",
            "25",
            "VARIANTS",
            "2",
            "x",
            "y",
            "SALT",
            "s",
        ])
        .query(&mut pc)
        .unwrap();
    let _: i64 = redis::cmd("HANOI.TOGGLE")
        .arg("fresh")
        .query(&mut pc)
        .unwrap();
    let _: i64 = redis::cmd("HANOI.TOGGLE")
        .arg("fresh")
        .query(&mut pc)
        .unwrap();
    wait_replica(&mut pc);
    assert_eq!(answers(&mut rc, "big", &ids), answers(&mut pc, "big", &ids));
    assert_eq!(
        answers(&mut rc, "fresh", &ids),
        answers(&mut pc, "fresh", &ids)
    );
    assert_eq!(snapshot(&mut rc, "big"), snapshot(&mut pc, "big"));
    let on: i64 = redis::cmd("HANOI.ENABLED")
        .arg(&["big", "late-user"])
        .query(&mut rc)
        .unwrap();
    assert_eq!(on, 1);
    // The replica refuses writes.
    let r: redis::RedisResult<i64> = redis::cmd("HANOI.TOGGLE").arg("big").query(&mut rc);
    assert_eq!(r.unwrap_err().kind(), redis::ErrorKind::ReadOnly);
    // Writes that change nothing are not replicated.
    let before = repl_offset(&mut pc);
    let _: i64 = redis::cmd("HANOI.REGISTER")
        .arg(&["big", "USER", "late-user"])
        .query(&mut pc)
        .unwrap();
    let () = redis::cmd("HANOI.PERCENTAGE")
        .arg(&["big", "60"])
        .query(&mut pc)
        .unwrap();
    let _: redis::RedisResult<()> = redis::cmd("HANOI.PERCENTAGE")
        .arg(&["big", "600"])
        .query(&mut pc);
    assert_eq!(repl_offset(&mut pc), before);

    // Promotion: the replica becomes a primary with the same answers, and
    // takes writes.
    let want = answers(&mut pc, "big", &ids);
    drop(pc);
    drop(p);
    let () = redis::cmd("REPLICAOF")
        .arg(&["NO", "ONE"])
        .query(&mut rc)
        .unwrap();
    assert_eq!(answers(&mut rc, "big", &ids), want);
    let n: i64 = redis::cmd("HANOI.REGISTER")
        .arg(&["big", "USER", "after-promotion"])
        .query(&mut rc)
        .unwrap();
    assert_eq!(n, 1);
    let on: i64 = redis::cmd("HANOI.ENABLED")
        .arg(&["big", "after-promotion"])
        .query(&mut rc)
        .unwrap();
    assert_eq!(on, 1);
}
