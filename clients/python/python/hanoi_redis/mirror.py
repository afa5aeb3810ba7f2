"""`MirrorBackEnd`: every flag under a prefix mirrored in this process,
evaluated by hanoi-core (the module's own Rust code, through `_core`), kept
in step with Redis through a connection of its own.

    mirror = hanoi_redis.MirrorBackEnd(redis.Redis(), prefix="flags:")
    rollout = hanoi_redis.Rollout(mirror)
    rollout.is_enabled("new_checkout", "44488")   # from memory, no round trip

- At start: `SCAN ... TYPE hanoiflag` under the prefix, then `HANOI.EXPORT`
  of each flag, loaded with hanoi-core's codec (`Engine.load`).
- In step: per server (each primary of a cluster) one redis-py connection of
  the client's kind (TCP, TLS, Unix socket), `protocol=3`, with
  `CLIENT TRACKING ON BCAST PREFIX <prefix>`: every change of a key under the
  prefix (a hanoi write, DEL, RENAME, expiry, FLUSHALL) pushes an
  invalidation; the mirror re-reads that key's `HANOI.EXPORT` on a second
  connection (nil or another type: the flag is gone).
- Lost connection: answers stay those of the last state, `stale` is True
  (listeners told), reconnects with bounded exponential backoff, turns
  tracking on again, then resyncs everything (a flag deleted or changed
  meanwhile is caught), and `stale` is False again.
- Writes (`define`, `register`, ...) go to Redis as with
  `RedisModuleBackEnd`; the mirror sees them as it sees anyone's, through
  an invalidation: `sync()` waits until every change acknowledged before it
  was called is in the mirror (read-your-writes when you need it).
- Evaluations are counted in memory and added to the flag's `HANOI.STATS` on
  the server with `HANOI.TALLY`, at most once a second.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import redis
import redis.connection
from redis._parsers import _RESP3Parser
from redis.backoff import NoBackoff
from redis.retry import Retry

from ._common import (
    SPLIT_REASONS,
    Context,
    Explanation,
    HanoiError,
    Info,
    Pairs,
    attr_pairs,
    b,
    info_dict,
    is_plain,
    json_value,
    prefix_match,
    raise_refusal,
    resolution,
    text_of,
)
from .backend import RedisModuleBackEnd

try:
    from ._core import Engine as _Engine
    from ._core import HanoiCoreError as _CoreError
except ImportError:  # a source tree without the built extension
    _Engine = None  # type: ignore[assignment, misc]
    _CoreError = HanoiError  # type: ignore[assignment, misc]

log = logging.getLogger("hanoi_redis.mirror")

#: The module's answer for a key of another type, as raised by RedisModuleBackEnd.
WRONGTYPE = "WRONGTYPE Operation against a key holding the wrong kind of value"

#: How many keys one pipeline of EXPORTs carries.
BATCH = 256


class _Invalidation:
    """An `invalidate` push, as the tracking connection's parser hands it
    over: the keys changed, or None (FLUSHALL / FLUSHDB: every key)."""

    __slots__ = ("keys",)

    def __init__(self, keys: Optional[List[bytes]]) -> None:
        self.keys = keys


def _invalidation(push: List[Any]) -> _Invalidation:
    """redis-py's invalidation push handler: `[b"invalidate", keys | None]`."""
    keys = push[1] if len(push) > 1 else None
    return _Invalidation(None if keys is None else [b(k) for k in keys])


#: Connection arguments that belong to the client's own pool (maintenance
#: notifications, client-side caching): not for the tracking connection.
_POOL_ONLY = ("maint_notifications", "orig_", "oss_cluster_maint", "maintenance_", "cache")


class _Server:
    """Where one tracking connection goes, and a redis-py client of its own
    for SCAN, EXPORT and TALLY (no silent retries: a lost connection must be
    seen)."""

    def __init__(self, kwargs: Dict[str, Any], connection_class: Any) -> None:
        kwargs = dict(kwargs)
        for k in ("retry", "retry_on_error", "retry_on_timeout", "redis_connect_func"):
            kwargs.pop(k, None)
        kwargs.pop("connection_class", None)
        kwargs["retry"] = Retry(NoBackoff(), 0)
        kwargs["socket_connect_timeout"] = kwargs.get("socket_connect_timeout") or 2.0
        kwargs["socket_timeout"] = kwargs.get("socket_timeout") or 10.0
        kwargs.pop("protocol", None)
        self.kwargs = kwargs
        # The asyncio classes have sync namesakes (Connection, SSLConnection,
        # UnixDomainSocketConnection) taking the same arguments.
        name = getattr(connection_class, "__name__", "Connection")
        self.cls: Any = getattr(redis.connection, name, redis.connection.Connection)
        self.data: Any = redis.Redis(
            connection_pool=redis.ConnectionPool(connection_class=self.cls, **kwargs)
        )

    def describe(self) -> str:
        k = self.kwargs
        return str(k.get("path") or f"{k.get('host', 'localhost')}:{k.get('port', 6379)}")

    def tracking_connection(self, handshake: Callable[[Any], None]) -> Any:
        """A redis-py connection of the client's class (TCP, TLS or a Unix
        socket) speaking RESP3, with redis-py's own RESP3 parser; `handshake`
        runs in place of redis-py's own connect steps (it calls them)."""
        kw = {k: v for k, v in self.kwargs.items() if not k.startswith(_POOL_ONLY)}
        kw.update(
            protocol=3,
            parser_class=_RESP3Parser,
            decode_responses=False,  # keys as they are
            health_check_interval=0,  # its PINGs are the link's own
            socket_keepalive=True,
            client_name="hanoi-mirror",
            redis_connect_func=handshake,
        )
        return self.cls(**kw)


def _servers(client: Any) -> List[_Server]:
    """One `_Server` per primary: the client's server, or each primary of a
    `redis.RedisCluster`."""
    if hasattr(client, "get_primaries"):
        base = dict(getattr(client.nodes_manager, "connection_kwargs", {}) or {})
        cls = base.pop("connection_class", None) or redis.connection.Connection
        if base.pop("ssl", False):  # RedisCluster(ssl=True): as its own nodes do
            cls = redis.connection.SSLConnection
        out = []
        for node in client.get_primaries():
            kw = dict(base)
            kw.update(host=node.host, port=node.port)
            kw.pop("db", None)
            out.append(_Server(kw, cls))
        return out
    pool = getattr(client, "connection_pool", None)
    if pool is None:
        raise ValueError("MirrorBackEnd needs a redis-py client (redis.Redis or RedisCluster)")
    return [_Server(pool.connection_kwargs, pool.connection_class)]


class _Link(threading.Thread):
    """One server's tracking connection and its thread: reads invalidations,
    re-reads the flags they name, answers `sync()` barriers, reconnects and
    resyncs.

    The connection is redis-py's (`protocol=3`, its RESP3 parser, the
    invalidations through the parser's invalidation push handler). A
    connection object is used for one session only: redis-py reconnects on
    its own when a command is sent or a read polled after a disconnect, and
    such a session would have no tracking on and no resync behind it, so
    its handshake refuses a second connect; the link makes a new one.

    Over TLS every read and write of the connection is on the link's thread
    (an SSL socket is not to be written by one thread while another reads
    it): a `sync()` barrier is queued and sent from there, the thread polling
    the socket every `TLS_POLL` seconds. A plain TCP or Unix socket is sent
    to from the caller's thread at once."""

    TLS_POLL = 0.02

    def __init__(self, mirror: "Mirror", server: _Server, index: int) -> None:
        super().__init__(name=f"hanoi-mirror-{server.describe()}", daemon=True)
        self.mirror = mirror
        self.server = server
        self.index = index
        self.conn: Optional[Any] = None
        self.send_lock = threading.Lock()
        # One entry per PING sent, in order: the event a barrier waits on
        # (None for a health check).
        self.waiting: List[Optional[threading.Event]] = []
        # Over TLS: the PINGs to send, from the link's thread.
        self.outbox: List[Tuple[Tuple[bytes, ...], Optional[threading.Event]]] = []
        self.direct = True
        self.fresh = False
        self.resyncs = 0

    # ----- the connection -----

    def _send(self, args: Tuple[bytes, ...], waiter: Optional[threading.Event] = None) -> None:
        with self.send_lock:
            conn = self.conn
            if conn is None:
                raise redis.ConnectionError("not connected")
            if not self.direct and threading.current_thread() is not self:
                self.outbox.append((args, waiter))
                return
            self.waiting.append(waiter)
            try:
                conn.send_command(*args, check_health=False)
            except BaseException:
                self.waiting.pop()
                raise

    def _flush(self) -> None:
        """Sends the queued PINGs (TLS), on the link's thread."""
        with self.send_lock:
            outbox, self.outbox = self.outbox, []
        for args, waiter in outbox:
            self._send(args, waiter)

    def _handshake(self, conn: Any) -> None:
        """redis-py's connect steps (HELLO 3 with AUTH, SETNAME, SELECT),
        then tracking on; once per connection object."""
        if getattr(conn, "_hanoi_session", False):
            raise redis.ConnectionError("the tracking connection was lost")
        conn._hanoi_session = True
        # The parser hands each `invalidate` push to this handler (as
        # redis-py's client-side cache does, on its own connections).
        conn._parser.set_invalidation_push_handler(_invalidation)
        conn.on_connect()
        track: List[Any] = ["CLIENT", "TRACKING", "ON", "BCAST"]
        if self.mirror.prefix:
            track += ["PREFIX", self.mirror.prefix]
        conn.send_command(*track, check_health=False)
        reply = conn.read_response()
        if b(reply) != b"OK":
            raise redis.ConnectionError(f"CLIENT TRACKING answered {reply!r}")

    def connect(self) -> None:
        """Connects, turns tracking on (before anything is read: no change
        after this is missed), then loads every flag of this server."""
        self.close_socket()
        conn = self.server.tracking_connection(self._handshake)
        try:
            conn.connect()  # redis-py's errors as they are (ConnectionError, AuthenticationError)
        except BaseException:
            conn.disconnect()
            raise
        with self.send_lock:
            self.conn = conn
            self.direct = not isinstance(conn, redis.connection.SSLConnection)
        try:
            self.mirror._resync(self)
        except BaseException:
            self.close_socket()
            raise
        self.resyncs += 1
        self.mirror._set_fresh(self, True)

    def close_socket(self) -> None:
        with self.send_lock:
            conn, self.conn = self.conn, None
            waiting, self.waiting = self.waiting, []
            waiting += [w for _, w in self.outbox]
            self.outbox = []
        for w in waiting:  # a barrier on a lost connection is not reached
            if w is not None:
                w.set()
        if conn is not None:
            conn.disconnect()  # shuts the socket down: a blocked read returns

    def wake(self) -> None:
        """`close()`: a plain socket is shut down from here (its blocked read
        returns); a TLS one is closed by the link's thread, which sees the
        stop within `TLS_POLL`."""
        if self.direct:
            self.close_socket()

    # ----- the thread -----

    def run(self) -> None:
        backoff = self.mirror.min_backoff
        while not self.mirror._stop.is_set():
            if self.conn is None:
                try:
                    self.connect()
                    backoff = self.mirror.min_backoff
                except Exception as e:
                    log.info(
                        "mirror: %s unreachable (%s); again in %.2fs",
                        self.server.describe(),
                        e,
                        backoff,
                    )
                    self.mirror._stop.wait(backoff)
                    backoff = min(backoff * 2, self.mirror.max_backoff)
                    continue
            try:
                self._listen()
            except Exception as e:
                if self.mirror._stop.is_set():
                    break
                log.warning(
                    "mirror: lost %s (%s): answering from the last state", self.server.describe(), e
                )
                self.mirror._set_fresh(self, False)
                self.close_socket()
        self.close_socket()

    def _listen(self) -> None:
        conn: Any = self.conn
        if conn is None:
            raise redis.ConnectionError("not connected")
        pending: Set[bytes] = set()
        pinged = False
        health = self.mirror.health_interval
        step = health if self.direct else min(self.TLS_POLL, health)
        idle = 0.0
        while not self.mirror._stop.is_set():
            if self.conn is None:  # closed by close(), or a failed send
                raise redis.ConnectionError("closed")
            if self.outbox:
                self._flush()
            if pending and not conn.can_read(0):
                self.mirror._refresh(self, pending)
                pending = set()
            if not conn.can_read(step):
                idle += step
                if idle < health:
                    continue
                idle = 0.0
                if pinged:
                    raise redis.ConnectionError("no answer to PING")
                self._send((b"PING",))
                pinged = True
                continue
            idle = 0.0
            # One message: a push comes back as the handler made it.
            msg = conn.read_response(push_request=True)
            pinged = False
            if isinstance(msg, _Invalidation):
                if msg.keys is None:  # FLUSHALL / FLUSHDB: every key
                    pending = set()
                    self.mirror._resync(self)
                else:
                    pending.update(msg.keys)
                continue
            if msg is None or isinstance(msg, list):
                continue  # another push (none is asked for): not a reply
            # A reply: to a PING (health, or a sync() barrier), in order.
            if pending:
                self.mirror._refresh(self, pending)
                pending = set()
            with self.send_lock:
                waiter = self.waiting.pop(0) if self.waiting else None
            if waiter is not None:
                waiter.set()

    def barrier(self) -> threading.Event:
        """A PING on the tracking connection: its answer comes after every
        invalidation of a change acknowledged before it was sent, and is read
        after they are applied."""
        event = threading.Event()
        self._send((b"PING", b"sync"), event)
        return event


class Mirror:
    """The machinery of `MirrorBackEnd` (and of the asyncio one): the engine,
    one `_Link` per server, the evaluation counts' reporter."""

    def __init__(
        self,
        client: Any,
        prefix: bytes,
        *,
        min_backoff: float = 0.05,
        max_backoff: float = 2.0,
        health_interval: float = 1.0,
        report_interval: float = 1.0,
        servers: Optional[List[_Server]] = None,
    ) -> None:
        if _Engine is None:
            raise ImportError("hanoi_redis._core is not built: pip install ./clients/python")
        self.engine = _Engine(prefix)
        self.client = client
        self.prefix = prefix
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.health_interval = health_interval
        self.report_interval = report_interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        # Which server each mirrored flag came from (a resync of one server
        # drops only its own flags that are gone).
        self._owner: Dict[bytes, int] = {}
        # Keys under the prefix holding another type: the module answers
        # them WRONGTYPE, so does the mirror.
        self.wrongtype: Set[bytes] = set()
        # Grows each time a flag is loaded or dropped, after the engine
        # changed: what was read of a flag at generation g is current while
        # the generation is still g (the provider's description cache).
        self.generation: Dict[bytes, int] = {}
        self._listeners: List[Callable[[bool], None]] = []
        self._change_listeners: List[Callable[[List[str]], None]] = []
        self._pending: Dict[bytes, List[Any]] = {}
        self._report_lock = threading.Lock()
        self._stale = True
        self.links = [_Link(self, s, i) for i, s in enumerate(servers or _servers(client))]
        try:
            for link in self.links:  # the first load, here: raises when unreachable
                link.connect()
        except BaseException:
            for link in self.links:
                link.close_socket()
            raise
        for link in self.links:
            link.start()
        self._reporter = threading.Thread(
            target=self._report_loop, name="hanoi-mirror-tally", daemon=True
        )
        self._reporter.start()

    # ----- state -----

    @property
    def stale(self) -> bool:
        return self._stale

    def _set_fresh(self, link: _Link, fresh: bool) -> None:
        with self._lock:
            link.fresh = fresh
            stale = not all(lk.fresh for lk in self.links)
            changed, self._stale = stale != self._stale, stale
        if changed:
            for cb in list(self._listeners):
                try:
                    cb(stale)
                except Exception:
                    log.exception("mirror: a stale listener failed")

    def _changed(self, names: Iterable[bytes]) -> None:
        """Tells the change listeners: the flags re-read, and every flag that
        uses one of them (a segment's or a prerequisite's change changes
        their answers too)."""
        if not self._change_listeners:
            return
        changed = set(names)
        changed.update(self.engine.dependents(sorted(changed)))
        text = sorted(str(text_of(n)) for n in changed)
        for cb in list(self._change_listeners):
            try:
                cb(text)
            except Exception:
                log.exception("mirror: a change listener failed")

    # ----- loading -----

    def _load(self, link: _Link, keys: Sequence[bytes], found: Optional[Set[bytes]] = None) -> None:
        """EXPORTs `keys` from `link`'s server, in pipelines, into the engine:
        a flag replaces the mirrored one, nil or another type removes it."""
        cut = len(self.prefix)
        for i in range(0, len(keys), BATCH):
            chunk = keys[i : i + BATCH]
            pipe = link.server.data.pipeline(transaction=False)
            for k in chunk:
                pipe.execute_command("HANOI.EXPORT", k)
            replies = pipe.execute(raise_on_error=False)
            for key, data in zip(chunk, replies):
                name = key[cut:]
                if isinstance(data, bytes):
                    try:
                        self.engine.load(name, data)
                    except _CoreError as e:
                        log.error("mirror: %r could not be loaded (%s): left out", key, e)
                        self._forget(name)
                        continue
                    with self._lock:
                        self._owner[name] = link.index
                        self.wrongtype.discard(name)
                        self.generation[name] = self.generation.get(name, 0) + 1
                    if found is not None:
                        found.add(name)
                elif data is None:
                    self._forget(name)
                elif isinstance(data, redis.ResponseError) and str(data).startswith("WRONGTYPE"):
                    self._forget(name)
                    with self._lock:
                        self._owner[name] = link.index
                        self.wrongtype.add(name)
                    if found is not None:
                        found.add(name)
                elif isinstance(data, Exception):
                    raise data

    def _forget(self, name: bytes) -> None:
        self.engine.delete(name)
        with self._lock:
            self._owner.pop(name, None)
            self.wrongtype.discard(name)
            self.generation[name] = self.generation.get(name, 0) + 1

    def _refresh(self, link: _Link, keys: Iterable[bytes]) -> None:
        keys = sorted(keys)
        self._load(link, keys)
        self._changed(k[len(self.prefix) :] for k in keys)

    def _resync(self, link: _Link) -> None:
        """Every flag of `link`'s server again; its flags not found are gone."""
        keys = sorted(
            set(
                b(k)
                for k in link.server.data.scan_iter(
                    match=prefix_match(self.prefix), count=1000, _type="hanoiflag"
                )
            )
        )
        # Every key this server had (flags, keys of another type) is asked
        # again too: a flag deleted, or replaced by another type, while the
        # mirror was away is caught (SCAN TYPE hanoiflag leaves both out).
        with self._lock:
            known = [self.prefix + n for n, i in self._owner.items() if i == link.index]
        keys = sorted(set(keys) | set(known))
        found: Set[bytes] = set()
        self._load(link, keys, found)
        with self._lock:
            gone = [n for n, i in self._owner.items() if i == link.index and n not in found]
        for name in gone:
            self._forget(name)
        self._changed(found | set(gone))

    # ----- sync, counts, close -----

    def sync(self, timeout: float = 5.0) -> bool:
        """Waits until every change acknowledged before this call is in the
        mirror: True, or False when a server is unreachable (or the time is
        over)."""
        try:
            events = [link.barrier() for link in self.links]
        except (OSError, redis.RedisError):
            return False
        deadline = time.monotonic() + timeout
        for e in events:
            if not e.wait(max(0.0, deadline - time.monotonic())):
                return False
        return not self._stale

    def report(self) -> bool:
        """Adds the evaluations counted since the last report to the
        server's counts (`HANOI.TALLY`, one per flag); kept for the next
        report when Redis is unreachable. Whether everything was sent."""
        with self._report_lock:
            return self._report()

    def _report(self) -> bool:
        for name, n, on, variants in self.engine.take_counts():
            p = self._pending.setdefault(name, [0, 0, {}])
            p[0] += n
            p[1] += on
            for v, c in variants:
                p[2][v] = p[2].get(v, 0) + c
        if not self._pending:
            return True
        pending, self._pending = self._pending, {}
        try:
            if hasattr(self.client, "get_primaries"):  # a cluster's pipeline routes each key
                pipe = self.client.pipeline()
            else:
                pipe = self.client.pipeline(transaction=False)
            items = list(pending.items())
            for name, (n, on, variants) in items:
                args: List[Any] = [self.prefix + name, n, on]
                for v, c in variants.items():
                    args += [v, c]
                pipe.execute_command("HANOI.TALLY", *args)
            replies = pipe.execute(raise_on_error=False)
        except Exception as e:
            log.info("mirror: counts not sent (%s): kept for the next report", e)
            for name, p in pending.items():
                q = self._pending.setdefault(name, [0, 0, {}])
                q[0] += p[0]
                q[1] += p[1]
                for v, c in p[2].items():
                    q[2][v] = q[2].get(v, 0) + c
            return False
        for (name, _), reply in zip(items, replies):
            if isinstance(reply, redis.ConnectionError):
                self._pending[name] = pending[name]
        return True

    def _report_loop(self) -> None:
        while not self._stop.wait(self.report_interval):
            try:
                self.report()
            except Exception:
                log.exception("mirror: reporting counts failed")

    def close(self) -> None:
        """Stops the threads, closes the connections; the counts not yet
        reported are sent once more."""
        if self._stop.is_set():
            return
        self._stop.set()
        for link in self.links:
            link.wake()
        for link in self.links:
            link.join(timeout=5)
        self._reporter.join(timeout=5)
        try:
            self.report()
        except Exception:
            pass
        for link in self.links:
            link.server.data.close()


def sync_twin(client: Any) -> Any:
    """A sync redis-py client to the server and db an asyncio client talks
    to (the mirror's threads follow Redis on sync connections)."""
    pool = getattr(client, "connection_pool", None)
    if pool is None:
        raise ValueError(
            "an asyncio cluster client: pass sync_client=redis.RedisCluster(...) to follow it"
        )
    kwargs = dict(pool.connection_kwargs)
    kwargs.pop("connection_class", None)
    for k in ("retry", "redis_connect_func"):
        kwargs.pop(k, None)
    name = pool.connection_class.__name__
    cls = getattr(redis.connection, name, redis.connection.Connection)
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=cls, **kwargs))


class MirrorBackEnd(RedisModuleBackEnd):
    """Every flag under `prefix` mirrored in this process and answered from
    memory by hanoi-core; writes go to Redis (see the module's docs).

    `obj`: a redis-py client (`redis.Redis`, or `redis.RedisCluster`: one
    tracking connection per primary), a (host, port[, db]) tuple, or None for
    localhost. Raises when Redis is unreachable at start. `max_backoff`
    bounds the wait between reconnections (from `min_backoff`, doubling);
    `health_interval`: a silent connection is PINGed after that long and
    given up after twice that; `report_interval`: how often the evaluation
    counts go to `HANOI.STATS` (at most once a second by default)."""

    def __init__(
        self,
        obj: Any = None,
        prefix: str = "",
        *,
        min_backoff: float = 0.05,
        max_backoff: float = 2.0,
        health_interval: float = 1.0,
        report_interval: float = 1.0,
    ) -> None:
        super().__init__(obj, prefix)
        self._mirror = Mirror(
            self._redis,
            self._prefix,
            min_backoff=min_backoff,
            max_backoff=max_backoff,
            health_interval=health_interval,
            report_interval=report_interval,
        )
        self._engine = self._mirror.engine
        self._names: Dict[Any, bytes] = {}

    # ----- the mirror -----

    @property
    def mirror(self) -> Mirror:
        return self._mirror

    @property
    def stale(self) -> bool:
        """True while a server's connection is lost (or being resynced):
        answers are those of the last state seen."""
        return self._mirror.stale

    def add_stale_listener(self, callback: Callable[[bool], None]) -> None:
        """`callback(stale)` on every change of `stale`, from the mirror's thread."""
        self._mirror._listeners.append(callback)

    def add_change_listener(self, callback: Callable[[List[str]], None]) -> None:
        """`callback(names)` after flags were re-read (changed, created or
        deleted), from the mirror's thread."""
        self._mirror._change_listeners.append(callback)

    def generation(self, name: str) -> int:
        """Grows each time the flag is re-read (changed, created, deleted):
        anything read of it while this stays the same is still current."""
        return self._mirror.generation.get(self._names.get(name) or self._name(name), 0)

    def sync(self, timeout: float = 5.0) -> bool:
        """Waits until every change acknowledged by Redis before this call is
        in the mirror; False when Redis is unreachable or time ran out."""
        return self._mirror.sync(timeout)

    def report(self) -> bool:
        """Sends the evaluation counts now (`HANOI.TALLY`)."""
        return self._mirror.report()

    def close(self) -> None:
        """Stops following Redis (answers stay those of the last state)."""
        self._mirror.close()

    def __enter__(self) -> "MirrorBackEnd":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def names(self) -> List[str]:
        return sorted(str(text_of(n)) for n in self._engine.names())

    def hanoi_define(self, name: str, options: Sequence[bytes]) -> None:
        """HANOI.DEFINE in Redis, then waits (at most 1 s) until the mirror
        has it: `add_functionality` reads the flag back right after."""
        super().hanoi_define(name, options)
        self._mirror.sync(1.0)

    def hanoi_experiment(self, name: str, args: Sequence[bytes]) -> None:
        """HANOI.EXPERIMENT START/STOP in Redis, then waits (at most 1 s)
        until the mirror has it: sticky arms start and stop with it."""
        super().hanoi_experiment(name, args)
        self._mirror.sync(1.0)

    def hanoi_assign(
        self, name: str, id_: bytes, pairs: Pairs
    ) -> Tuple[Explanation, Any, Optional[str]]:
        """HANOI.ASSIGN in Redis (one round trip: the exposure is recorded
        there, where the first one wins), then kept in the mirrored flag too,
        so that this process's reads are sticky at once."""
        resolved = super().hanoi_assign(name, id_, pairs)
        self.keep_exposure(name, id_, resolved[0])
        return resolved

    def keep_exposure(self, name: str, id_: bytes, answer: Explanation) -> None:
        """Records in the mirrored flag the exposure Redis's ASSIGN answer
        implies: an answer from the random split while the experiment runs
        means the id is exposed there to the arm served (just now, or before,
        and then sticky: the same arm). Redis's own copy comes with the
        flag's next reload (`HANOI.EXPORT` carries exposures)."""
        if not id_ or answer.reason not in SPLIT_REASONS:
            return
        if answer.variant is None:
            arm = {"percentage": b"on", "outside": b"off"}.get(answer.reason)
        else:
            arm = b(answer.variant) if answer.reason != "outside" else None
        if arm is None:
            return
        try:
            self._engine.expose(b(name), [id_, arm, str(int(time.time() * 1000)).encode()])
        except _CoreError:
            pass  # not mirrored yet, or no experiment here yet: the next reload brings it

    # ----- the hot reads, from memory -----

    def _name(self, name: Any) -> bytes:
        """A flag name's bytes, remembered (the hot reads ask the same few)."""
        n = self._names.get(name)
        if n is None:
            n = b(name)
            if len(self._names) < 10_000:
                self._names[name] = n
        return n

    def _id(self, name: str, item: Any) -> bytes:
        if type(item) is str:
            return item.encode("utf-8", "surrogateescape")
        return b(item) if is_plain(item) else self.item_id(name, item)

    def _wrong(self, n: bytes) -> None:
        if n in self._mirror.wrongtype:
            raise HanoiError(WRONGTYPE)

    def is_enabled(
        self, name: str, item: Any = None, context: Context = None, **attrs: Any
    ) -> bool:
        n = self._names.get(name) or self._name(name)
        if self._mirror.wrongtype:
            self._wrong(n)
        if item is None:
            id_: Optional[bytes] = None
            pairs: Pairs = ()
        else:
            id_ = self._id(name, item)
            pairs = attr_pairs(context, attrs) if (context or attrs) else ()
        try:
            return self._engine.enabled(n, id_, pairs)
        except _CoreError as e:
            raise_refusal(str(e), name)

    def variant(self, name: str, item: Any, context: Context = None, **attrs: Any) -> Optional[str]:
        n = self._names.get(name) or self._name(name)
        if self._mirror.wrongtype:
            self._wrong(n)
        pairs = attr_pairs(context, attrs) if (context or attrs) else ()
        try:
            v = self._engine.variant(n, self._id(name, item), pairs)
        except _CoreError as e:
            raise_refusal(str(e), name)
        return None if v is None else v.decode("utf-8", "surrogateescape")

    def hanoi_enabled(self, name: str, id_: Optional[bytes], pairs: Pairs) -> bool:
        self._wrong(b(name))
        try:
            return self._engine.enabled(b(name), id_, pairs)
        except _CoreError as e:
            raise_refusal(str(e), name)

    def hanoi_variant(self, name: str, id_: bytes, pairs: Pairs) -> Optional[str]:
        self._wrong(b(name))
        try:
            v = self._engine.variant(b(name), id_, pairs)
        except _CoreError as e:
            raise_refusal(str(e), name)
        return None if v is None else str(text_of(v))

    def hanoi_value(self, name: str, id_: Optional[bytes], pairs: Pairs) -> Any:
        self._wrong(b(name))
        try:
            return json_value(self._engine.value(b(name), id_, pairs))
        except _CoreError as e:
            raise_refusal(str(e), name)

    def hanoi_explain(self, name: str, id_: bytes, pairs: Pairs) -> Explanation:
        self._wrong(b(name))
        try:
            return Explanation.from_reply(self._engine.explain(b(name), id_, pairs), self._prefix)
        except _CoreError as e:
            raise_refusal(str(e), name)

    def hanoi_resolve(
        self, name: str, id_: bytes, pairs: Pairs
    ) -> Tuple[Explanation, Any, Optional[str]]:
        self._wrong(b(name))
        try:
            return resolution(self._engine.resolve(b(name), id_, pairs), self._prefix)
        except _CoreError as e:
            raise_refusal(str(e), name)

    def hanoi_menabled(self, names: Sequence[str], id_: bytes, pairs: Pairs) -> List[bool]:
        for n in names:
            self._wrong(b(n))
        try:
            return self._engine.menabled([b(n) for n in names], id_, pairs)
        except _CoreError as e:
            raise_refusal(str(e), names)

    def hanoi_get(self, name: str) -> Optional[Info]:
        self._wrong(b(name))
        return info_dict(self._engine.get(b(name)), self._prefix)


__all__ = ["MirrorBackEnd", "Mirror"]
