//! A flag with 100k registered ids gives identical answers before and after
//! DEBUG RELOAD, a restart from RDB, and a restart from a rewritten AOF.

mod common;

use common::{answers, build_big_flag, int, ok, run, snapshot, wait_persistence_idle, Server};

const N: usize = 100_000;

#[test]
fn debug_reload_keeps_every_answer() {
    let s = Server::start(&[]);
    let mut con = s.con();
    let ids = build_big_flag(&mut con, "big", N, 1);
    let before = answers(&mut con, "big", &ids);
    let snap = snapshot(&mut con, "big");
    ok(&mut con, &["DEBUG", "RELOAD"]);
    assert_eq!(answers(&mut con, "big", &ids), before);
    assert_eq!(snapshot(&mut con, "big"), snap);
}

#[test]
fn restart_from_rdb_keeps_every_answer() {
    let mut s = Server::start(&[]);
    let mut con = s.con();
    let ids = build_big_flag(&mut con, "big", N, 2);
    let before = answers(&mut con, "big", &ids);
    let snap = snapshot(&mut con, "big");
    drop(con);
    s.shutdown("SAVE");
    assert!(s.dir.join("dump.rdb").exists());
    s.start_again();
    let mut con = s.con();
    assert_eq!(answers(&mut con, "big", &ids), before);
    assert_eq!(snapshot(&mut con, "big"), snap);
}

#[test]
fn restart_from_rewritten_aof_keeps_every_answer() {
    let mut s = Server::start(&[
        "--appendonly",
        "yes",
        "--aof-use-rdb-preamble",
        "no",
        "--appendfsync",
        "always",
    ]);
    let mut con = s.con();
    let ids = build_big_flag(&mut con, "big", N, 3);
    let _ = run(&mut con, &["BGREWRITEAOF"]);
    wait_persistence_idle(&mut con);
    // Writes after the rewrite land in the incremental AOF.
    int(&mut con, &["HANOI.REGISTER", "big", "USER", "after-rewrite"]);
    ok(&mut con, &["HANOI.DEFINE", "small", "DISABLED"]);
    let before = answers(&mut con, "big", &ids);
    let snap = snapshot(&mut con, "big");
    let small = snapshot(&mut con, "small");
    // The rewrite emitted HANOI commands (no RDB preamble).
    let aof_dir = s.dir.join("appendonlydir");
    let base = std::fs::read_dir(&aof_dir)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().contains(".base."))
        .expect("base AOF file");
    let text = std::fs::read(base.path()).unwrap();
    assert!(text.windows(12).any(|w| w == b"HANOI.DEFINE"));
    assert!(text.windows(14).any(|w| w == b"HANOI.REGISTER"));
    drop(con);
    s.shutdown("NOSAVE");
    s.start_again();
    let mut con = s.con();
    assert_eq!(answers(&mut con, "big", &ids), before);
    assert_eq!(snapshot(&mut con, "big"), snap);
    assert_eq!(snapshot(&mut con, "small"), small);
    assert_eq!(int(&mut con, &["HANOI.ENABLED", "big", "after-rewrite"]), 1);
}
