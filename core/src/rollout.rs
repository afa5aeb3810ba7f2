//! The in-memory evaluator: hanoi's `Rollout` over a `HashMap`.

use std::collections::HashMap;

use crate::refs::{Lookup, Refs};
use crate::rules::{parse_rule, Attrs};
use crate::store::{self, Outcome, Reply, Write};
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

    /// Applies a write with the store's rules ([`store::apply`]): what the
    /// module does for the same command.
    pub fn apply(&mut self, name: impl AsRef<[u8]>, write: Write<'_>) -> Result<Reply, Error> {
        self.exec(name.as_ref(), write).map(|(reply, _)| reply)
    }

    /// [`Rollout::apply`], and whether the write changed the flag.
    fn exec(&mut self, name: &[u8], write: Write<'_>) -> Result<(Reply, bool), Error> {
        let new = write.references();
        if !new.is_empty() {
            crate::refs::check_new_references(name, &new, self)?;
        }
        let existing = self.flags.get_mut(name);
        let outcome = store::apply(existing, write, &self.limits, system_now_ms())?;
        let done = (outcome.reply(), outcome.changed());
        if let Outcome::Created(flag) = outcome {
            self.flags.insert(name.to_vec(), *flag);
        }
        Ok(done)
    }

    /// Runs a write command as the module gets it: `command` (`HANOI.RULE`
    /// or `RULE`), the flag's name, the arguments after it.
    pub fn run<A: AsRef<[u8]>>(
        &mut self,
        command: impl AsRef<[u8]>,
        name: impl AsRef<[u8]>,
        args: &[A],
    ) -> Result<Reply, Error> {
        let args: Vec<&[u8]> = args.iter().map(AsRef::as_ref).collect();
        let write = Write::parse(command.as_ref(), &args, &self.limits)?;
        self.apply(name, write)
    }

    /// Creates the flag or replaces its whole definition (as `HANOI.DEFINE`
    /// with every option: a running ramp ends); registrations stay.
    pub fn define(&mut self, name: impl AsRef<[u8]>, def: Definition) -> Result<(), Error> {
        self.apply(
            name,
            Write::Define {
                def,
                percentage: true,
            },
        )
        .map(drop)
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

    /// A write whose reply is a count.
    fn count(&mut self, name: impl AsRef<[u8]>, write: Write<'_>) -> Result<usize, Error> {
        match self.apply(name, write)? {
            Reply::Count(n) => Ok(n),
            _ => Ok(0),
        }
    }

    /// A write that says whether it changed the flag.
    fn changed(&mut self, name: impl AsRef<[u8]>, write: Write<'_>) -> Result<bool, Error> {
        self.exec(name.as_ref(), write).map(|(_, changed)| changed)
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
        self.count(name, Write::AddUsers(ids(users).collect()))
    }

    pub fn unregister<I: AsRef<[u8]>>(
        &mut self,
        name: impl AsRef<[u8]>,
        users: &[I],
    ) -> Result<usize, Error> {
        self.count(name, Write::RemoveUsers(ids(users).collect()))
    }

    /// Adds regexes, all or nothing.
    pub fn register_regex<I: AsRef<[u8]>>(
        &mut self,
        name: impl AsRef<[u8]>,
        patterns: &[I],
    ) -> Result<usize, Error> {
        self.count(name, Write::AddRegexes(ids(patterns).collect()))
    }

    pub fn unregister_regex<I: AsRef<[u8]>>(
        &mut self,
        name: impl AsRef<[u8]>,
        patterns: &[I],
    ) -> Result<usize, Error> {
        self.count(name, Write::RemoveRegexes(ids(patterns).collect()))
    }

    pub fn block<I: AsRef<[u8]>>(
        &mut self,
        name: impl AsRef<[u8]>,
        users: &[I],
    ) -> Result<usize, Error> {
        self.count(name, Write::Block(ids(users).collect()))
    }

    pub fn unblock<I: AsRef<[u8]>>(
        &mut self,
        name: impl AsRef<[u8]>,
        users: &[I],
    ) -> Result<usize, Error> {
        self.count(name, Write::Unblock(ids(users).collect()))
    }

    pub fn enable(&mut self, name: impl AsRef<[u8]>) -> Result<(), Error> {
        self.apply(name, Write::Switch(true)).map(drop)
    }

    pub fn disable(&mut self, name: impl AsRef<[u8]>) -> Result<(), Error> {
        self.apply(name, Write::Switch(false)).map(drop)
    }

    /// Flips the switch; returns the new state.
    pub fn toggle(&mut self, name: impl AsRef<[u8]>) -> Result<bool, Error> {
        Ok(self.apply(name, Write::Toggle)? == Reply::State(true))
    }

    pub fn set_percentage(&mut self, name: impl AsRef<[u8]>, pct: u8) -> Result<(), Error> {
        if pct > 100 {
            return Err(Error::InvalidPercentage);
        }
        self.apply(name, Write::Percentage(pct)).map(drop)
    }

    /// Is `name` on for `id`? Without an id, the switch alone. Unknown → false.
    pub fn is_enabled(&self, name: impl AsRef<[u8]>, id: Option<&[u8]>) -> bool {
        self.is_enabled_with(name, id, Attrs::NONE)
    }

    pub fn variant(&self, name: impl AsRef<[u8]>, id: impl AsRef<[u8]>) -> Option<&[u8]> {
        self.variant_with(name, id, Attrs::NONE)
    }

    pub fn explain(&self, name: impl AsRef<[u8]>, id: impl AsRef<[u8]>) -> Explanation<'_> {
        self.explain_with(name, id, Attrs::NONE)
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
        self.changed(name, Write::SetRule(rule))
    }

    pub fn delete_rules<I: AsRef<[u8]>>(
        &mut self,
        name: impl AsRef<[u8]>,
        rules: &[I],
    ) -> Result<usize, Error> {
        self.count(name, Write::DeleteRules(ids(rules).collect()))
    }

    pub fn move_rule(
        &mut self,
        name: impl AsRef<[u8]>,
        rule: impl AsRef<[u8]>,
        index: usize,
    ) -> Result<bool, Error> {
        self.changed(name, Write::MoveRule(rule.as_ref(), index))
    }

    pub fn set_window(
        &mut self,
        name: impl AsRef<[u8]>,
        from_ms: u64,
        until_ms: u64,
    ) -> Result<bool, Error> {
        self.changed(name, Write::Window(from_ms, until_ms))
    }

    pub fn set_ramp(&mut self, name: impl AsRef<[u8]>, ramp: Ramp) -> Result<bool, Error> {
        self.changed(name, Write::Ramp(ramp))
    }

    pub fn clear_schedule(
        &mut self,
        name: impl AsRef<[u8]>,
        window: bool,
        ramp: bool,
    ) -> Result<bool, Error> {
        self.changed(name, Write::ClearSchedule { window, ramp })
    }

    /// Sets metadata fields (`HANOI.META key SET`), all or nothing.
    pub fn set_meta(
        &mut self,
        name: impl AsRef<[u8]>,
        pairs: &[(&[u8], &[u8])],
    ) -> Result<usize, Error> {
        self.count(name, Write::SetMeta(pairs.to_vec()))
    }

    /// Deletes metadata fields (`HANOI.META key DEL`).
    pub fn delete_meta<I: AsRef<[u8]>>(
        &mut self,
        name: impl AsRef<[u8]>,
        fields: &[I],
    ) -> Result<usize, Error> {
        self.count(name, Write::DeleteMeta(ids(fields).collect()))
    }

    /// Is `name` on for `id` with these attributes, now? Unknown → false.
    pub fn is_enabled_with(
        &self,
        name: impl AsRef<[u8]>,
        id: Option<&[u8]>,
        attrs: Attrs<'_>,
    ) -> bool {
        let refs = Refs::new(self);
        self.get(name)
            .is_some_and(|f| f.is_enabled_with(id, &f.query(attrs).with_refs(&refs)))
    }

    /// The variant for `id` with these attributes, now.
    pub fn variant_with(
        &self,
        name: impl AsRef<[u8]>,
        id: impl AsRef<[u8]>,
        attrs: Attrs<'_>,
    ) -> Option<&[u8]> {
        let f = self.get(name)?;
        let refs = Refs::new(self);
        f.variant_with(id.as_ref(), &f.query(attrs).with_refs(&refs))
    }

    /// The whole answer with these attributes, now.
    pub fn explain_with(
        &self,
        name: impl AsRef<[u8]>,
        id: impl AsRef<[u8]>,
        attrs: Attrs<'_>,
    ) -> Explanation<'_> {
        let f = self.get(name);
        let refs = Refs::new(self);
        store::explain_with(
            f,
            id.as_ref(),
            &f.map_or_else(Query::default, |f| f.query(attrs))
                .with_refs(&refs),
        )
    }

    /// The JSON text served (`HANOI.VALUE`): `true`/`false` for a boolean
    /// flag, the served variant's value otherwise; none when no variant is
    /// served or the flag is missing.
    pub fn value_with(
        &self,
        name: impl AsRef<[u8]>,
        id: Option<&[u8]>,
        attrs: Attrs<'_>,
    ) -> Option<std::borrow::Cow<'_, [u8]>> {
        let f = self.get(name)?;
        let refs = Refs::new(self);
        f.value_with(id, &f.query(attrs).with_refs(&refs)).2
    }

    /// The answer with its value and type (`HANOI.RESOLVE`), now.
    pub fn resolve_with(
        &self,
        name: impl AsRef<[u8]>,
        id: impl AsRef<[u8]>,
        attrs: Attrs<'_>,
    ) -> crate::Resolution<'_> {
        let f = self.get(name);
        let refs = Refs::new(self);
        store::resolve_with(
            f,
            id.as_ref(),
            &f.map_or_else(Query::default, |f| f.query(attrs))
                .with_refs(&refs),
        )
    }

    /// hanoi's `@check`: `Ok` when the feature is on for `id` (or, without
    /// an id, switched on), `Err(NotEnabled)` otherwise.
    /// `HANOI.IDS name USERS|BLOCKED cursor [MATCH pattern] [COUNT n]` (the
    /// arguments after the name): the next cursor (0 at the end) and a page
    /// of ids; a missing flag is 0 and none.
    pub fn ids<A: AsRef<[u8]>>(
        &self,
        name: impl AsRef<[u8]>,
        args: &[A],
    ) -> Result<(u64, Vec<Vec<u8>>), Error> {
        let words: Vec<&[u8]> = args.iter().map(AsRef::as_ref).collect();
        let q = crate::ids::IdsQuery::parse(&words)?;
        Ok(match self.get(name) {
            Some(f) => {
                let (next, ids) = q.run(f);
                (next, ids.into_iter().map(<[u8]>::to_vec).collect())
            }
            None => (0, Vec::new()),
        })
    }

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

/// Flags reference each other by name in the same map.
impl Lookup for Rollout {
    fn with_flag(&self, key: &[u8], f: &mut dyn FnMut(Option<&Flag>)) {
        f(self.flags.get(key))
    }
}
