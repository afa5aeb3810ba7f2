//! redis-rs: a page's flags evaluated in one pipeline (one round trip).
//!
//!     cargo run --example pipeline -- redis://127.0.0.1:6379/ 443301 cdc_on new_checkout
#![allow(dead_code)]

/// Is each flag on for `user`? One pipeline, one round trip; also fetches
/// the variant of the first flag.
pub fn page_flags(
    con: &mut redis::Connection,
    user: &str,
    flags: &[&str],
) -> redis::RedisResult<(Vec<bool>, Option<String>)> {
    let mut p = redis::pipe();
    for f in flags {
        p.cmd("HANOI.ENABLED").arg(*f).arg(user);
    }
    if let Some(first) = flags.first() {
        p.cmd("HANOI.VARIANT").arg(*first).arg(user);
    }
    let replies: Vec<redis::Value> = p.query(con)?;
    let mut on = Vec::with_capacity(flags.len());
    for v in &replies[..flags.len()] {
        on.push(redis::from_redis_value::<i64>(v)? == 1);
    }
    let variant = match replies.get(flags.len()) {
        Some(v) => redis::from_redis_value::<Option<String>>(v)?,
        None => None,
    };
    Ok((on, variant))
}

fn main() -> redis::RedisResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .first()
        .map_or("redis://127.0.0.1:6379/", String::as_str);
    let user = args.get(1).map_or("443301", String::as_str);
    let flags: Vec<&str> = args.iter().skip(2).map(String::as_str).collect();
    let flags = if flags.is_empty() {
        vec!["cdc_on"]
    } else {
        flags
    };
    let mut con = redis::Client::open(url)?.get_connection()?;
    let (on, variant) = page_flags(&mut con, user, &flags)?;
    for (f, on) in flags.iter().zip(on) {
        println!("{f}: {}", if on { "on" } else { "off" });
    }
    println!(
        "variant of {}: {}",
        flags[0],
        variant.as_deref().unwrap_or("(none)")
    );
    Ok(())
}
