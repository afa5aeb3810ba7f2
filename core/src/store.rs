//! The rules of a flag store, written once for every store: the module's
//! Redis keys and the in-memory [`crate::Rollout`] both apply them.
//!
//! - `define` creates the flag or replaces its definition (registrations,
//!   blocks and regexes stay);
//! - every other write needs an existing flag;
//! - a missing flag is off for everyone (no variant, reason `undefined`).

use crate::{Definition, Error, Explanation, Flag, Limits, Query};

/// What [`define`] did.
#[derive(Debug)]
pub enum Defined {
    /// There was no flag: here is the new one, for the store to keep.
    Created(Box<Flag>),
    /// The existing flag's definition was replaced (or was already this).
    Replaced { changed: bool },
}

/// `HANOI.DEFINE`: creates the flag (created at `now_ms`, counting from
/// then) or replaces its definition. Checks everything before it changes
/// anything.
pub fn define(
    existing: Option<&mut Flag>,
    def: Definition,
    limits: &Limits,
    now_ms: u64,
) -> Result<Defined, Error> {
    match existing {
        Some(flag) => flag
            .set_definition(def, limits)
            .map(|changed| Defined::Replaced { changed }),
        None => {
            let mut flag = Flag::new(def, limits)?;
            flag.metadata_mut().created_ms = now_ms;
            flag.counters().reset(now_ms);
            Ok(Defined::Created(Box::new(flag)))
        }
    }
}

/// Every write but `define` needs the flag to exist.
pub fn existing(flag: Option<&mut Flag>) -> Result<&mut Flag, Error> {
    flag.ok_or(Error::UnknownFlag)
}

/// Is the flag on for `id` (without an id: is it switched on)? Missing: off.
#[inline]
pub fn enabled(flag: Option<&Flag>, id: Option<&[u8]>) -> bool {
    flag.is_some_and(|f| f.is_enabled(id))
}

/// The variant for `id`; a missing flag has none.
#[inline]
pub fn variant<'a>(flag: Option<&'a Flag>, id: &[u8]) -> Option<&'a [u8]> {
    flag.and_then(|f| f.variant(id))
}

/// The whole answer; a missing flag is `undefined`.
pub fn explain<'a>(flag: Option<&'a Flag>, id: &[u8]) -> Explanation<'a> {
    flag.map_or(Explanation::UNDEFINED, |f| f.explain(id))
}

/// [`enabled`] with attributes and a time.
#[inline]
pub fn enabled_with(flag: Option<&Flag>, id: Option<&[u8]>, q: &Query<'_>) -> bool {
    flag.is_some_and(|f| f.is_enabled_with(id, q))
}

/// [`enabled_with`] for one id asked of many flags: see
/// [`Flag::is_enabled_shared`].
#[inline]
pub fn enabled_shared(
    flag: Option<&Flag>,
    id: Option<&[u8]>,
    q: &Query<'_>,
    unsalted: &std::cell::Cell<Option<u32>>,
) -> bool {
    flag.is_some_and(|f| f.is_enabled_shared(id, q, unsalted))
}

/// [`explain`] with attributes and a time.
pub fn explain_with<'a>(flag: Option<&'a Flag>, id: &[u8], q: &Query<'_>) -> Explanation<'a> {
    flag.map_or(Explanation::UNDEFINED, |f| f.explain_with(id, q))
}
