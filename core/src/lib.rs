//! hanoi-core: the rule engine of hanoi, feature flags evaluated inside Redis.
//!
//! Pure Rust, no FFI. The Redis module and the in-memory [`Rollout`] both call
//! [`Flag`], so every rule lives here once.
//!
//! `enabled(id)`, in this order: switched off → false; id blocked → false;
//! percentage 100 → true; id registered → true; a regex matches → true;
//! `crc32(salt ++ id) % 100 < percentage` → true; otherwise false.

#![forbid(unsafe_code)]

pub mod codec;
mod crc;
pub mod describe;
mod error;
pub mod experiment;
mod flag;
pub mod ids;
mod idset;
pub mod observe;
mod parse;
pub mod refs;
pub mod regexes;
pub mod reply;
mod rollout;
pub mod rules;
pub mod slot;
pub mod store;

pub use describe::{ConditionDescription, Cut, Description, Resolution, RuleDescription, Value};
pub use error::{Error, NotEnabled};
pub use flag::{
    crc32, parse_int, parse_percentage, parse_weight, system_now_ms, CopyParts, Definition, Detail,
    Explanation, Flag, Limits, Query, Ramp, Reason, Schedule, ValueType,
};
pub use idset::IdSet;
pub(crate) use idset::KeyedState;
pub use parse::{definition_args, parse_definition, parse_definition_given, quote};
pub use rollout::Rollout;
