//! `hanoi_redis._core`: hanoi-core's in-memory [`Rollout`] for Python.
//!
//! A thin binding: every argument is parsed and every flag decided by
//! hanoi-core, the same code the Redis module runs, so `MemoryBackEnd` and
//! `RedisModuleBackEnd` give the same answers. Names, ids and values arrive as
//! `bytes` (the Python layer encodes `str` once); errors are raised as
//! `HanoiCoreError` with the module's message (`no such flag`, ...).

#![forbid(unsafe_code)]

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use hanoi_core::observe::Tally;
use hanoi_core::refs::{Lookup, Refs};
use hanoi_core::reply::{Reply as WireReply, StatsReply};
use hanoi_core::rules::Attrs;
use hanoi_core::store::{self, Reply};
use hanoi_core::{Description, Flag, Query, Ramp, Reason, Rollout, Value};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

create_exception!(
    _core,
    HanoiCoreError,
    PyException,
    "An error from hanoi-core."
);

fn err(e: hanoi_core::Error) -> PyErr {
    HanoiCoreError::new_err(e.to_string())
}

type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Borrowed attribute pairs, checked by the core (no `id`, no name twice).
fn with_attrs<R>(pairs: &Pairs, f: impl FnOnce(Attrs<'_>) -> R) -> PyResult<R> {
    let borrowed: Vec<(&[u8], &[u8])> = pairs
        .iter()
        .map(|(k, v)| (k.as_slice(), v.as_slice()))
        .collect();
    let attrs = Attrs::new(&borrowed).map_err(err)?;
    Ok(f(attrs))
}

/// An in-memory set of flags, evaluated by hanoi-core. Thread-safe: reads
/// share a lock, writes take it alone.
///
/// References (prerequisites, `segment IN`) name Redis keys; the engine
/// holds each flag under its key without `prefix` (a mirror of the keys
/// under a prefix), so a reference is looked up without it, and a key
/// outside the prefix is missing here.
#[pyclass(frozen, module = "hanoi_redis._core")]
struct Engine {
    rollout: RwLock<Rollout>,
    prefix: Vec<u8>,
}

/// The engine's flags as an evaluation follows references to them: by key
/// (the prefix taken off), each referenced evaluation counted on the
/// referenced flag, as the module counts it.
struct Store<'a> {
    rollout: &'a Rollout,
    prefix: &'a [u8],
}

impl Lookup for Store<'_> {
    fn with_flag(&self, key: &[u8], f: &mut dyn FnMut(Option<&Flag>)) {
        f(key
            .strip_prefix(self.prefix)
            .and_then(|name| self.rollout.get(name)))
    }

    fn evaluated(&self, flag: &Flag, on: bool, variant: Option<usize>) {
        flag.counters().count(on, variant, 0);
    }
}

impl Engine {
    fn read(&self) -> PyResult<RwLockReadGuard<'_, Rollout>> {
        self.rollout
            .read()
            .map_err(|_| PyRuntimeError::new_err("hanoi engine lock poisoned"))
    }
    fn write(&self) -> PyResult<RwLockWriteGuard<'_, Rollout>> {
        self.rollout
            .write()
            .map_err(|_| PyRuntimeError::new_err("hanoi engine lock poisoned"))
    }
    /// The flags read, for the references of one evaluation.
    fn store<'a>(&'a self, rollout: &'a Rollout) -> Store<'a> {
        Store {
            rollout,
            prefix: &self.prefix,
        }
    }
}

#[pymethods]
impl Engine {
    /// `prefix`: what the keys of the flags held here start with in Redis
    /// (their names here are without it): references are keys.
    #[new]
    #[pyo3(signature = (prefix=Vec::new()))]
    fn new(prefix: Vec<u8>) -> Self {
        Engine {
            rollout: RwLock::new(Rollout::new()),
            prefix,
        }
    }

    /// `HANOI.DEFINE name [options...]`: creates or replaces the definition
    /// (with `PERCENTAGE`, a running ramp ends), as the module does.
    fn define(&self, name: Vec<u8>, options: Vec<Vec<u8>>) -> PyResult<()> {
        self.write()?
            .run("DEFINE", name, &options)
            .map(drop)
            .map_err(err)
    }

    /// Any write as the module gets it: `command` (`RULE`, `HANOI.RULE`),
    /// the flag's name, the arguments after it. The reply as the module's:
    /// `"OK"`, a count, or the new state (`TOGGLE`) as 1 or 0.
    fn run<'py>(
        &self,
        py: Python<'py>,
        command: Vec<u8>,
        name: Vec<u8>,
        args: Vec<Vec<u8>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let reply = self.write()?.run(command, name, &args).map_err(err)?;
        Ok(match reply {
            Reply::Ok => "OK".into_pyobject(py)?.into_any(),
            Reply::Count(n) => n.into_pyobject(py)?.into_any(),
            Reply::State(on) => i64::from(on).into_pyobject(py)?.into_any(),
        })
    }

    /// Deletes the flag; whether it existed.
    fn delete(&self, name: Vec<u8>) -> PyResult<bool> {
        Ok(self.write()?.remove(name).is_some())
    }

    fn exists(&self, name: Vec<u8>) -> PyResult<bool> {
        Ok(self.read()?.get(name).is_some())
    }

    fn names<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        Ok(self.read()?.names().map(|n| PyBytes::new(py, n)).collect())
    }

    /// `HANOI.REGISTER name USER|REGEX ...`, `HANOI.UNREGISTER`, `HANOI.BLOCK`,
    /// `HANOI.UNBLOCK`: `what` is one of `user`, `regex`, `unuser`, `unregex`,
    /// `block`, `unblock`. Returns how many were added or removed.
    fn ids(&self, name: Vec<u8>, what: &str, items: Vec<Vec<u8>>) -> PyResult<usize> {
        let mut r = self.write()?;
        let n = match what {
            "user" => r.register(name, &items),
            "unuser" => r.unregister(name, &items),
            "regex" => r.register_regex(name, &items),
            "unregex" => r.unregister_regex(name, &items),
            "block" => r.block(name, &items),
            "unblock" => r.unblock(name, &items),
            other => return Err(PyRuntimeError::new_err(format!("unknown id list {other}"))),
        };
        n.map_err(err)
    }

    /// `HANOI.IDS name USERS|BLOCKED cursor [MATCH pattern] [COUNT n]` (the
    /// arguments after the name): the next cursor (0 at the end) and the ids.
    fn scan_ids<'py>(
        &self,
        py: Python<'py>,
        name: Vec<u8>,
        args: Vec<Vec<u8>>,
    ) -> PyResult<(u64, Vec<Bound<'py, PyBytes>>)> {
        let (next, ids) = self.read()?.ids(name, &args).map_err(err)?;
        Ok((next, ids.iter().map(|i| PyBytes::new(py, i)).collect()))
    }

    fn enable(&self, name: Vec<u8>) -> PyResult<()> {
        self.write()?.enable(name).map_err(err)
    }

    fn disable(&self, name: Vec<u8>) -> PyResult<()> {
        self.write()?.disable(name).map_err(err)
    }

    /// Flips the switch; the new state.
    fn toggle(&self, name: Vec<u8>) -> PyResult<bool> {
        self.write()?.toggle(name).map_err(err)
    }

    fn set_percentage(&self, name: Vec<u8>, percentage: u8) -> PyResult<()> {
        self.write()?.set_percentage(name, percentage).map_err(err)
    }

    /// `HANOI.ENABLED name [id [WITH ...]]`. Every evaluation is counted in
    /// the flag's counters, as the module counts its own (`take_counts`).
    #[pyo3(signature = (name, id=None, attrs=Vec::new()))]
    fn enabled(&self, name: &[u8], id: Option<&[u8]>, attrs: Pairs) -> PyResult<bool> {
        let r = self.read()?;
        let store = self.store(&r);
        let refs = Refs::new(&store);
        let f = r.get(name);
        let on = if attrs.is_empty() {
            store::enabled_with(f, id, &query(f, Attrs::NONE).with_refs(&refs))
        } else {
            with_attrs(&attrs, |a| {
                store::enabled_with(f, id, &query(f, a).with_refs(&refs))
            })?
        };
        count(f, on, None);
        Ok(on)
    }

    /// `HANOI.MENABLED id [WITH ...] name ...`.
    #[pyo3(signature = (names, id, attrs=Vec::new()))]
    fn menabled(&self, names: Vec<Vec<u8>>, id: Vec<u8>, attrs: Pairs) -> PyResult<Vec<bool>> {
        let r = self.read()?;
        let store = self.store(&r);
        with_attrs(&attrs, |a| {
            names
                .iter()
                .map(|n| {
                    let f = r.get(n);
                    let refs = Refs::new(&store);
                    let q = query(f, a).with_refs(&refs);
                    let on = store::enabled_with(f, Some(&id), &q);
                    count(f, on, None);
                    on
                })
                .collect()
        })
    }

    /// `HANOI.VARIANT name id [WITH ...]`.
    #[pyo3(signature = (name, id, attrs=Vec::new()))]
    fn variant<'py>(
        &self,
        py: Python<'py>,
        name: &[u8],
        id: &[u8],
        attrs: Pairs,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let r = self.read()?;
        let Some(f) = r.get(name) else {
            with_attrs(&attrs, |_| ())?;
            return Ok(None);
        };
        let store = self.store(&r);
        let refs = Refs::new(&store);
        let (on, index) = if attrs.is_empty() {
            f.served(Some(id), &f.query(Attrs::NONE).with_refs(&refs))
        } else {
            with_attrs(&attrs, |a| f.served(Some(id), &f.query(a).with_refs(&refs)))?
        };
        count(Some(f), on, index);
        Ok(index
            .and_then(|i| f.definition().variants.get(i))
            .map(|v| PyBytes::new(py, v)))
    }

    /// `HANOI.VALUE name [id [WITH ...]]`: the JSON text served, or None.
    #[pyo3(signature = (name, id=None, attrs=Vec::new()))]
    fn value<'py>(
        &self,
        py: Python<'py>,
        name: Vec<u8>,
        id: Option<Vec<u8>>,
        attrs: Pairs,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let r = self.read()?;
        let Some(f) = r.get(&name) else {
            with_attrs(&attrs, |_| ())?;
            return Ok(None);
        };
        let store = self.store(&r);
        let refs = Refs::new(&store);
        let (on, index, text) = with_attrs(&attrs, |a| {
            f.value_with(id.as_deref(), &f.query(a).with_refs(&refs))
        })?;
        count(Some(f), on, index);
        Ok(text.map(|v| PyBytes::new(py, &v)))
    }

    /// `HANOI.RESOLVE name id [WITH ...]`: (enabled, variant, value, reason,
    /// detail, effective percentage, type), as the module replies.
    #[pyo3(signature = (name, id, attrs=Vec::new()))]
    fn resolve<'py>(
        &self,
        py: Python<'py>,
        name: Vec<u8>,
        id: Vec<u8>,
        attrs: Pairs,
    ) -> PyResult<Bound<'py, PyList>> {
        let r = self.read()?;
        let store = self.store(&r);
        let refs = Refs::new(&store);
        let f = r.get(&name);
        let values = with_attrs(&attrs, |a| {
            let res = store::resolve_with(f, &id, &query(f, a).with_refs(&refs));
            let e = &res.explanation;
            count(f, e.enabled, variant_index(f, e.variant));
            res.values()
        })?;
        py_list(py, values)
    }

    /// `HANOI.EXPLAIN name id [WITH ...]`: (enabled, variant, reason, detail,
    /// effective percentage), as the module replies.
    #[pyo3(signature = (name, id, attrs=Vec::new()))]
    fn explain<'py>(
        &self,
        py: Python<'py>,
        name: Vec<u8>,
        id: Vec<u8>,
        attrs: Pairs,
    ) -> PyResult<Bound<'py, PyList>> {
        let r = self.read()?;
        let store = self.store(&r);
        let refs = Refs::new(&store);
        let f = r.get(&name);
        let values = with_attrs(&attrs, |a| {
            let e = store::explain_with(f, &id, &query(f, a).with_refs(&refs));
            count(f, e.enabled, variant_index(f, e.variant));
            e.values()
        })?;
        py_list(py, values)
    }

    /// Puts a flag in from `HANOI.EXPORT`'s bytes (hanoi-core's codec, what
    /// `HANOI.LOAD key bytes` accepts), replacing any flag of that name; its
    /// evaluations not yet taken (`take_counts`) carry over to the new one.
    fn load(&self, name: Vec<u8>, data: &[u8]) -> PyResult<()> {
        let flag = hanoi_core::codec::from_bytes(data).map_err(err)?;
        let mut r = self.write()?;
        if let Some(old) = r.get(&name) {
            let c = old.counters().take();
            let variants = &old.definition().variants;
            let pairs: Vec<(&[u8], u64)> = variants
                .iter()
                .map(Vec::as_slice)
                .zip(c.variants.iter().copied())
                .collect();
            flag.tally(
                &Tally {
                    evaluations: c.evaluations,
                    enabled: c.enabled,
                    variants: pairs,
                },
                0,
            )
            .map_err(err)?;
        }
        r.insert(name, flag);
        Ok(())
    }

    /// The evaluations counted since the last take, per flag evaluated at
    /// least once: (name, evaluations, enabled, [(variant, count), ...]),
    /// the variants handed out at least once; zero again after.
    fn take_counts<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>> {
        let r = self.read()?;
        let mut out = Vec::new();
        for name in r.names() {
            let Some(f) = r.get(name) else { continue };
            let c = f.counters().take();
            if c.evaluations == 0 {
                continue;
            }
            let variants: Vec<(Bound<'py, PyBytes>, u64)> = f
                .definition()
                .variants
                .iter()
                .zip(c.variants)
                .filter(|(_, n)| *n > 0)
                .map(|(v, n)| (PyBytes::new(py, v), n))
                .collect();
            let item = (PyBytes::new(py, name), c.evaluations, c.enabled, variants);
            out.push(item.into_pyobject(py)?.into_any());
        }
        Ok(out)
    }

    /// The flags here that use any of `names` (their names here), directly
    /// or through other flags and segments: whose answers a change of those
    /// may change. Sorted; `names` themselves only when one uses another.
    fn dependents<'py>(
        &self,
        py: Python<'py>,
        names: Vec<Vec<u8>>,
    ) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let r = self.read()?;
        let mut found: std::collections::BTreeSet<Vec<u8>> = std::collections::BTreeSet::new();
        let mut todo = names;
        while let Some(changed) = todo.pop() {
            let key = [self.prefix.as_slice(), &changed].concat();
            for name in r.names() {
                let uses = r
                    .get(name)
                    .is_some_and(|f| f.references().any(|k| k == key.as_slice()));
                if uses && found.insert(name.to_vec()) {
                    todo.push(name.to_vec());
                }
            }
        }
        Ok(found.iter().map(|n| PyBytes::new(py, n)).collect())
    }

    /// The heap bytes hanoi-core holds for the flag (ids, regexes, rules,
    /// metadata, history), or None when it does not exist.
    fn heap_size(&self, name: Vec<u8>) -> PyResult<Option<usize>> {
        Ok(self.read()?.get(name).map(|f| f.heap_size()))
    }

    /// `HANOI.RULE name SET rule args...`.
    fn set_rule(&self, name: Vec<u8>, rule: Vec<u8>, args: Vec<Vec<u8>>) -> PyResult<()> {
        self.write()?
            .set_rule(name, rule, &args)
            .map(drop)
            .map_err(err)
    }

    /// `HANOI.RULE name DEL rule ...`: how many were removed.
    fn delete_rules(&self, name: Vec<u8>, rules: Vec<Vec<u8>>) -> PyResult<usize> {
        self.write()?.delete_rules(name, &rules).map_err(err)
    }

    /// `HANOI.RULE name MOVE rule index`.
    fn move_rule(&self, name: Vec<u8>, rule: Vec<u8>, index: usize) -> PyResult<()> {
        self.write()?
            .move_rule(name, rule, index)
            .map(drop)
            .map_err(err)
    }

    /// `HANOI.SCHEDULE name WINDOW from until`.
    fn set_window(&self, name: Vec<u8>, from_ms: u64, until_ms: u64) -> PyResult<()> {
        self.write()?
            .set_window(name, from_ms, until_ms)
            .map(drop)
            .map_err(err)
    }

    /// `HANOI.SCHEDULE name RAMP from to start end`.
    fn set_ramp(
        &self,
        name: Vec<u8>,
        from_pct: u8,
        to_pct: u8,
        start_ms: u64,
        end_ms: u64,
    ) -> PyResult<()> {
        let ramp = Ramp {
            from_pct,
            to_pct,
            start_ms,
            end_ms,
        };
        self.write()?.set_ramp(name, ramp).map(drop).map_err(err)
    }

    /// `HANOI.SCHEDULE name CLEAR [WINDOW|RAMP]`.
    fn clear_schedule(&self, name: Vec<u8>, window: bool, ramp: bool) -> PyResult<()> {
        self.write()?
            .clear_schedule(name, window, ramp)
            .map(drop)
            .map_err(err)
    }

    /// `HANOI.META name SET field value ...`: fields added or changed.
    fn meta_set(&self, name: Vec<u8>, pairs: Pairs) -> PyResult<usize> {
        let borrowed: Vec<(&[u8], &[u8])> = pairs
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_slice()))
            .collect();
        self.write()?.set_meta(name, &borrowed).map_err(err)
    }

    /// `HANOI.META name DEL field ...`: fields removed.
    fn meta_del(&self, name: Vec<u8>, fields: Vec<Vec<u8>>) -> PyResult<usize> {
        self.write()?.delete_meta(name, &fields).map_err(err)
    }

    /// `HANOI.ASSIGN name id [WITH ...]`: `HANOI.RESOLVE`'s list, after
    /// recording the id's first exposure when the flag's experiment runs and
    /// the random split answered it (as the module does, at this machine's
    /// clock; refused past the limits' `max_exposures`).
    #[pyo3(signature = (name, id, attrs=Vec::new()))]
    fn assign<'py>(
        &self,
        py: Python<'py>,
        name: Vec<u8>,
        id: Vec<u8>,
        attrs: Pairs,
    ) -> PyResult<Bound<'py, PyList>> {
        let mut r = self.write()?;
        // The flag is taken out while it is written: its references are
        // other keys (a flag never references itself), looked up in the rest.
        let Some(mut flag) = r.remove(&name) else {
            with_attrs(&attrs, |_| ())?;
            return py_list(py, hanoi_core::Resolution::UNDEFINED.values());
        };
        let max = r.limits().max_exposures;
        let done = {
            let store = self.store(&r);
            let refs = Refs::new(&store);
            with_attrs(&attrs, |a| {
                let q = flag.query(a).with_refs(&refs);
                let now = hanoi_core::system_now_ms();
                flag.assign(&id, &q, now, max).map(|_| {
                    let res = flag.resolve_with(&id, &q);
                    let e = &res.explanation;
                    count(
                        Some(&flag),
                        e.enabled,
                        variant_index(Some(&flag), e.variant),
                    );
                    res.values()
                })
            })
        };
        r.insert(name, flag);
        py_list(py, done?.map_err(err)?)
    }

    /// `HANOI.TRACK name id metric value`: whether it was recorded (an
    /// exposed id, a metric of the running experiment).
    fn track(&self, name: Vec<u8>, id: Vec<u8>, metric: Vec<u8>, value: u64) -> PyResult<bool> {
        let mut r = self.write()?;
        let Some(mut flag) = r.remove(&name) else {
            return Ok(false);
        };
        let done = hanoi_core::experiment::parse_value(value.to_string().as_bytes())
            .and_then(|v| flag.track(&id, &metric, v));
        r.insert(name, flag);
        Ok(done.map_err(err)?.is_some())
    }

    /// Records exposures as made elsewhere (`HANOI.LOAD key EXPOSURES`'s
    /// triples `id, arm, Unix ms`; an id exposed before keeps its first):
    /// how many were new. The mirror keeps an `ASSIGN` it sent to Redis.
    fn expose(&self, name: Vec<u8>, triples: Vec<Vec<u8>>) -> PyResult<usize> {
        let mut r = self.write()?;
        let Some(mut flag) = r.remove(&name) else {
            return Err(err(hanoi_core::Error::UnknownFlag));
        };
        let words: Vec<&[u8]> = triples.iter().map(Vec::as_slice).collect();
        let done = flag.load_exposures(&words);
        r.insert(name, flag);
        done.map_err(err)
    }

    /// `HANOI.EXPERIMENT name RESULTS`: per arm (arm, control, exposures,
    /// [(metric, converted, sum, sum of squares), ...]); None without an
    /// experiment.
    #[allow(clippy::type_complexity)]
    fn results<'py>(
        &self,
        py: Python<'py>,
        name: Vec<u8>,
    ) -> PyResult<Option<Vec<Bound<'py, PyAny>>>> {
        let r = self.read()?;
        let Some(e) = r.get(&name).and_then(Flag::experiment) else {
            return Ok(None);
        };
        hanoi_core::reply::ArmResult::all_of(e)
            .into_iter()
            .map(|a| {
                let metrics: Vec<(Bound<'py, PyBytes>, u64, u128, u128)> = a
                    .metrics
                    .iter()
                    .map(|m| {
                        (
                            PyBytes::new(py, &m.metric),
                            m.converted,
                            m.sum,
                            m.sum_squares,
                        )
                    })
                    .collect();
                Ok((PyBytes::new(py, &a.arm), a.control, a.exposures, metrics)
                    .into_pyobject(py)?
                    .into_any())
            })
            .collect::<PyResult<Vec<_>>>()
            .map(Some)
    }

    /// `HANOI.EXPERIMENT name EXPOSURES cursor [COUNT n]` (the arguments
    /// after `EXPOSURES`): the next cursor (0 at the end) and (id, arm, Unix
    /// ms) triples.
    #[allow(clippy::type_complexity)]
    fn exposures<'py>(
        &self,
        py: Python<'py>,
        name: Vec<u8>,
        args: Vec<Vec<u8>>,
    ) -> PyResult<(u64, Vec<(Bound<'py, PyBytes>, Bound<'py, PyBytes>, u64)>)> {
        let words: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let q = hanoi_core::experiment::ExposuresQuery::parse(&words).map_err(err)?;
        let r = self.read()?;
        let Some(e) = r.get(&name).and_then(Flag::experiment) else {
            return Ok((0, Vec::new()));
        };
        let (next, rows) = e.page(&q).map_err(err)?;
        Ok((
            next,
            rows.into_iter()
                .map(|(id, arm, t)| (PyBytes::new(py, id), PyBytes::new(py, arm), t))
                .collect(),
        ))
    }

    /// `HANOI.GET name`: the same fields as the module's map, or None.
    fn get<'py>(&self, py: Python<'py>, name: Vec<u8>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let r = self.read()?;
        r.get(name).map(|f| flag_dict(py, f)).transpose()
    }

    /// `HANOI.STATS name`: this process's counts of the flag's evaluations
    /// (the map the module replies), or None when it does not exist. The
    /// in-process evaluator reads no clock per evaluation, so
    /// `last_evaluated` stays nil.
    fn stats<'py>(&self, py: Python<'py>, name: Vec<u8>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let r = self.read()?;
        let Some(f) = r.get(name) else {
            return Ok(None);
        };
        let counts = f.counters().snapshot();
        let reply = StatsReply::of(&counts, &f.definition().variants).encode();
        py_reply(py, reply).map(Some)
    }

    /// `HANOI.TALLY name RESET`: the flag's counts start again from zero;
    /// whether it exists.
    fn reset_stats(&self, name: Vec<u8>) -> PyResult<bool> {
        let r = self.read()?;
        let Some(f) = r.get(name) else {
            return Ok(false);
        };
        f.counters().reset(hanoi_core::system_now_ms());
        Ok(true)
    }
}

/// A module's reply as redis-py gives it (RESP3): bulk strings as `bytes`,
/// simple strings as `str`, a map as a dict of `bytes` keys.
fn py_reply(py: Python<'_>, r: WireReply) -> PyResult<Bound<'_, PyAny>> {
    Ok(match r {
        WireReply::Nil => py.None().into_bound(py),
        WireReply::Int(i) => i.into_pyobject(py)?.into_any(),
        WireReply::Bulk(b) => PyBytes::new(py, &b).into_any(),
        WireReply::Simple(w) => w.into_pyobject(py)?.into_any(),
        WireReply::Array(a) => {
            let items = a
                .into_iter()
                .map(|x| py_reply(py, x))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        WireReply::Map(m) => {
            let d = PyDict::new(py);
            for (k, v) in m {
                d.set_item(PyBytes::new(py, &k), py_reply(py, v)?)?;
            }
            d.into_any()
        }
    })
}

/// The query for `f`: the system time only when it has a schedule.
fn query<'a>(f: Option<&Flag>, attrs: Attrs<'a>) -> Query<'a> {
    f.map_or_else(Query::default, |f| f.query(attrs))
}

/// Counts one evaluation in the flag's counters, as the module does.
#[inline]
fn count(f: Option<&Flag>, on: bool, variant: Option<usize>) {
    if let Some(f) = f {
        f.counters().count(on, variant, 0);
    }
}

/// The index of the variant served, for its count.
fn variant_index(f: Option<&Flag>, v: Option<&[u8]>) -> Option<usize> {
    let (f, v) = (f?, v?);
    f.definition().variants.iter().position(|x| x == v)
}

/// `HANOI.GET`'s fields as the core describes them ([`Description`]).
fn flag_dict<'py>(py: Python<'py>, f: &hanoi_core::Flag) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for (k, v) in Description::of(f, hanoi_core::system_now_ms()).fields() {
        out.set_item(k, py_value(py, v)?)?;
    }
    Ok(out)
}

/// A reply's values as a list.
fn py_list<'py>(
    py: Python<'py>,
    values: impl IntoIterator<Item = Value>,
) -> PyResult<Bound<'py, PyList>> {
    let items = values
        .into_iter()
        .map(|v| py_value(py, v))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// A core [`Value`] as redis-py gives the module's reply to it: byte
/// strings as `bytes`, reasons as `str`, a map as a dict of `bytes` keys.
fn py_value(py: Python<'_>, v: Value) -> PyResult<Bound<'_, PyAny>> {
    Ok(match v {
        Value::Nil => py.None().into_bound(py),
        Value::Bool(b) => i64::from(b).into_pyobject(py)?.into_any(),
        Value::Int(i) => i.into_pyobject(py)?.into_any(),
        Value::Bytes(b) => PyBytes::new(py, &b).into_any(),
        Value::Word(w) => w.into_pyobject(py)?.into_any(),
        Value::List(l) => py_list(py, l)?.into_any(),
        Value::Map(m) => {
            let d = PyDict::new(py);
            for (k, v) in m {
                d.set_item(PyBytes::new(py, &k), py_value(py, v)?)?;
            }
            d.into_any()
        }
    })
}

/// OpenFeature's reason for a hanoi reason (`HANOI.EXPLAIN`'s third
/// field), from the core: the mapping OFREP uses too.
#[pyfunction]
fn openfeature_reason(reason: &str) -> PyResult<&'static str> {
    Reason::parse(reason.as_bytes())
        .map(Reason::openfeature)
        .ok_or_else(|| HanoiCoreError::new_err(format!("unknown reason '{reason}'")))
}

/// hanoi-core for Python: the same rules as the Redis module, in process.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Engine>()?;
    m.add_function(wrap_pyfunction!(openfeature_reason, m)?)?;
    m.add("HanoiCoreError", m.py().get_type::<HanoiCoreError>())?;
    Ok(())
}
