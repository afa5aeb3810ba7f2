//! `tests/vectors/replies.json`: each command's reply fields, in order, with
//! their types, as `hanoi_core::reply` lays them out. The clients (Python,
//! Node) check their decoders against this file, so it must be current:
//! this test fails when it is not, and writes it with `HANOI_BLESS=1`.

use std::path::PathBuf;

use hanoi_core::reply::{Field, LAYOUTS, TYPES};
use serde_json::{json, Map, Value};

const REGENERATE: &str = "HANOI_BLESS=1 cargo test -p hanoi-core --test replies";

fn fields(fs: &[Field]) -> Value {
    fs.iter()
        .map(|f| json!({ "name": f.name, "type": f.ty }))
        .collect()
}

/// The file's text, from the core's layouts.
fn generated() -> String {
    let mut commands = Map::new();
    for l in LAYOUTS {
        let mut c = Map::new();
        c.insert("shape".into(), l.shape.as_str().into());
        c.insert("missing".into(), l.missing.map_or(Value::Null, Value::from));
        c.insert("fields".into(), fields(l.fields));
        commands.insert(l.command.into(), Value::Object(c));
    }
    let types: Map<String, Value> = TYPES
        .iter()
        .map(|(name, fs)| {
            (
                (*name).to_owned(),
                json!({ "shape": "array", "fields": fields(fs) }),
            )
        })
        .collect();
    let doc = json!({
        "about": format!(
            "Each HANOI.* command's reply fields, in order, with their types \
             (hanoi_core::reply). Generated: do not edit; regenerate with `{REGENERATE}`. \
             An array is read by position and may be longer (fields appended by a newer \
             module); a map is read by name and may have names not listed. Types: bool \
             (integer 1 or 0), int, bytes, word (simple string), json (bulk JSON text), \
             decimal (bulk unsigned integer), list<T>, map<bytes,T>, [T,...] (fixed length), \
             A|B, a name from `types`; a trailing ? may be nil."
        ),
        "commands": commands,
        "types": types,
    });
    serde_json::to_string_pretty(&doc).unwrap() + "\n"
}

#[test]
fn replies_json_is_current() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/replies.json");
    let want = generated();
    if std::env::var_os("HANOI_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is not the core's reply layouts (hanoi_core::reply::LAYOUTS); regenerate it with `{REGENERATE}`",
        path.display()
    );
}
