//! The in-memory evaluator: hanoi's `Rollout` over a `HashMap`.

use std::collections::HashMap;

use crate::rules::{parse_rule, Attrs};
use crate::store::{self, Defined};
use crate::{
    system_now_ms, Definition, Error, Explanation, Flag, KeyedState, Limits, NotEnabled, Query,
    Ramp,
};

/// Named flags in process memory, with hanoi's operations.
///
/// The name map hashes with the id sets' keyed hash ([`KeyedState`]), not
/// SipHash: looking a flag up by name is on every evaluation, and SipHash
/// cost more than most evaluations (35–40 ns of ~75, issue 14).
#[derive(Debug, Clone, Default)]
pub struct Rollout {
    flags: HashMap<Vec<u8>, Flag, KeyedState>,
    limits: Limits,
}

fn ids<'a, I: AsRef<[u8]> + 'a>(items: &'a [I]) -> impl Iterator<Item = &'a [u8]> {
    items.iter().map(AsRef::as_ref)
}

impl Rollout {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_limits(limits: Limits) -> Self {
        Rollout {
            flags: HashMap::default(),
            limits,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Creates the flag or replaces its definition; registrations stay.
    pub fn define(&mut self, name: impl AsRef<[u8]>, def: Definition) -> Result<(), Error> {
        let name = name.as_ref();
        let existing = self.flags.get_mut(name);
        if let Defined::Created(flag) = store::define(existing, def, &self.limits, system_now_ms())?
        {
            self.flags.insert(name.to_vec(), *flag);
        }
        Ok(())
    }

    /// Puts a whole flag under `name` (for example one read back from Redis).
    pub fn insert(&mut self, name: impl AsRef<[u8]>, flag: Flag) {
        self.flags.insert(name.as_ref().to_vec(), flag);
    }

    pub fn remove(&mut self, name: impl AsRef<[u8]>) -> Option<Flag> {
        self.flags.remove(name.as_ref())
    }

    pub fn get(&self, name: impl AsRef<[u8]>) -> Option<&Flag> {
        self.flags.get(name.as_ref())
    }

    fn flag_mut(&mut self, name: &[u8]) -> Result<&mut Flag, Error> {
        store::existing(self.flags.get_mut(name))
    }

    /// The flag names, in no particular order.
    pub fn names(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.flags.keys().map(Vec::as_slice)
    }

    pub fn register<I: AsRef<[u8]>>(
        &mut self,
        name: impl AsRef<[u8]>,
        users: &[I],
    ) -> Result<usize, Error> {
        Ok(self.flag_mut(name.as_ref())?.add_users(ids(users)))
    }

    pub fn unregister<I: AsRef<[u8]>>(
        &mut self,
        name: impl AsRef<[u8]>,
        users: &[I],
    ) -> Result<usize, Error> {
        Ok(self.flag_mut(name.as_ref())?.remove_users(ids(users)))
    }

    /// Adds regexes, all or nothing.
    pub fn register_regex<I: AsRef<[u8]>>(
        &mut self,
        name: impl AsRef<[u8]>,
        patterns: &[I],
    ) -> Result<usize, Error> {
        let limits = self.limits;
        self.flag_mut(name.as_ref())?
            .add_regexes(ids(patterns), &limits)
    }

    pub fn unregister_regex<I: AsRef<[u8]>>(
        &mut self,
        name: impl AsRef<[u8]>,
        patterns: &[I],
    ) -> Result<usize, Error> {
        Ok(self.flag_mut(name.as_ref())?.remove_regexes(ids(patterns)))
    }

    pub fn block<I: AsRef<[u8]>>(
        &mut self,
        name: impl AsRef<[u8]>,
        users: &[I],
    ) -> Result<usize, Error> {
        Ok(self.flag_mut(name.as_ref())?.block(ids(users)))
    }

    pub fn unblock<I: AsRef<[u8]>>(
        &mut self,
        name: impl AsRef<[u8]>,
        users: &[I],
    ) -> Result<usize, Error> {
        Ok(self.flag_mut(name.as_ref())?.unblock(ids(users)))
    }

    pub fn enable(&mut self, name: impl AsRef<[u8]>) -> Result<(), Error> {
        self.flag_mut(name.as_ref())?.set_enabled(true);
        Ok(())
    }

    pub fn disable(&mut self, name: impl AsRef<[u8]>) -> Result<(), Error> {
        self.flag_mut(name.as_ref())?.set_enabled(false);
        Ok(())
    }

    /// Flips the switch; returns the new state.
    pub fn toggle(&mut self, name: impl AsRef<[u8]>) -> Result<bool, Error> {
        Ok(self.flag_mut(name.as_ref())?.toggle())
    }

    pub fn set_percentage(&mut self, name: impl AsRef<[u8]>, pct: u8) -> Result<(), Error> {
        self.flag_mut(name.as_ref())?.set_percentage(pct).map(drop)
    }

    /// Is `name` on for `id`? Without an id, the switch alone. Unknown → false.
    pub fn is_enabled(&self, name: impl AsRef<[u8]>, id: Option<&[u8]>) -> bool {
        store::enabled(self.get(name), id)
    }

    pub fn variant(&self, name: impl AsRef<[u8]>, id: impl AsRef<[u8]>) -> Option<&[u8]> {
        store::variant(self.get(name), id.as_ref())
    }

    pub fn explain(&self, name: impl AsRef<[u8]>, id: impl AsRef<[u8]>) -> Explanation<'_> {
        store::explain(self.get(name), id.as_ref())
    }

    /// Sets a rule (replaces the one of that name, or appends).
    pub fn set_rule<A: AsRef<[u8]>>(
        &mut self,
        name: impl AsRef<[u8]>,
        rule: impl AsRef<[u8]>,
        args: &[A],
    ) -> Result<bool, Error> {
        let args: Vec<&[u8]> = args.iter().map(AsRef::as_ref).collect();
        let rule = parse_rule(rule.as_ref(), &args, &self.limits.rule_limits())?;
        let max = self.limits.max_rules;
        self.flag_mut(name.as_ref())?.set_rule(rule, max)
    }

    pub fn delete_rules<I: AsRef<[u8]>>(
        &mut self,
        name: impl AsRef<[u8]>,
        rules: &[I],
    ) -> Result<usize, Error> {
        let rules: Vec<&[u8]> = rules.iter().map(AsRef::as_ref).collect();
        Ok(self.flag_mut(name.as_ref())?.delete_rules(&rules))
    }

    pub fn move_rule(
        &mut self,
        name: impl AsRef<[u8]>,
        rule: impl AsRef<[u8]>,
        index: usize,
    ) -> Result<bool, Error> {
        self.flag_mut(name.as_ref())?
            .move_rule(rule.as_ref(), index)
    }

    pub fn set_window(
        &mut self,
        name: impl AsRef<[u8]>,
        from_ms: u64,
        until_ms: u64,
    ) -> Result<bool, Error> {
        self.flag_mut(name.as_ref())?.set_window(from_ms, until_ms)
    }

    pub fn set_ramp(&mut self, name: impl AsRef<[u8]>, ramp: Ramp) -> Result<bool, Error> {
        self.flag_mut(name.as_ref())?.set_ramp(ramp)
    }

    pub fn clear_schedule(
        &mut self,
        name: impl AsRef<[u8]>,
        window: bool,
        ramp: bool,
    ) -> Result<bool, Error> {
        Ok(self.flag_mut(name.as_ref())?.clear_schedule(window, ramp))
    }

    /// Sets metadata fields (`HANOI.META key SET`), all or nothing.
    pub fn set_meta(
        &mut self,
        name: impl AsRef<[u8]>,
        pairs: &[(&[u8], &[u8])],
    ) -> Result<usize, Error> {
        let (fields, bytes) = (
            self.limits.max_meta_fields,
            self.limits.max_meta_value_bytes,
        );
        self.flag_mut(name.as_ref())?
            .metadata_mut()
            .set(pairs, fields, bytes)
    }

    /// Deletes metadata fields (`HANOI.META key DEL`).
    pub fn delete_meta<I: AsRef<[u8]>>(
        &mut self,
        name: impl AsRef<[u8]>,
        fields: &[I],
    ) -> Result<usize, Error> {
        let fields: Vec<&[u8]> = fields.iter().map(AsRef::as_ref).collect();
        self.flag_mut(name.as_ref())?.metadata_mut().delete(&fields)
    }

    /// Is `name` on for `id` with these attributes, now? Unknown → false.
    pub fn is_enabled_with(
        &self,
        name: impl AsRef<[u8]>,
        id: Option<&[u8]>,
        attrs: Attrs<'_>,
    ) -> bool {
        self.get(name)
            .is_some_and(|f| f.is_enabled_with(id, &f.query(attrs)))
    }

    /// The variant for `id` with these attributes, now.
    pub fn variant_with(
        &self,
        name: impl AsRef<[u8]>,
        id: impl AsRef<[u8]>,
        attrs: Attrs<'_>,
    ) -> Option<&[u8]> {
        let f = self.get(name)?;
        f.variant_with(id.as_ref(), &f.query(attrs))
    }

    /// The whole answer with these attributes, now.
    pub fn explain_with(
        &self,
        name: impl AsRef<[u8]>,
        id: impl AsRef<[u8]>,
        attrs: Attrs<'_>,
    ) -> Explanation<'_> {
        let f = self.get(name);
        store::explain_with(
            f,
            id.as_ref(),
            &f.map_or_else(Query::default, |f| f.query(attrs)),
        )
    }

    /// hanoi's `@check`: `Ok` when the feature is on for `id` (or, without
    /// an id, switched on), `Err(NotEnabled)` otherwise.
    pub fn check(&self, name: impl AsRef<[u8]>, id: Option<&[u8]>) -> Result<(), NotEnabled> {
        if self.is_enabled(name.as_ref(), id) {
            Ok(())
        } else {
            Err(NotEnabled {
                flag: String::from_utf8_lossy(name.as_ref()).into_owned(),
                id: id.map(|i| String::from_utf8_lossy(i).into_owned()),
            })
        }
    }
}
