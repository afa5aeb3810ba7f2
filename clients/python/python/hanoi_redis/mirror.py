"""`MirrorBackEnd`: every flag under a prefix mirrored in this process,
evaluated by hanoi-core (the module's own Rust code, through `_core`), kept
in step with Redis through a connection of its own.

    mirror = hanoi_redis.MirrorBackEnd(redis.Redis(), prefix="flags:")
    rollout = hanoi_redis.Rollout(mirror)
    rollout.is_enabled("new_checkout", "44488")   # from memory, no round trip

- At start: `SCAN ... TYPE hanoiflag` under the prefix, then `HANOI.EXPORT`
  of each flag, loaded with hanoi-core's codec (`Engine.load`).
- In step: per server (each primary of a cluster) one RESP3 connection with
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
import socket
import threading
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import redis
import redis.connection
from redis.backoff import NoBackoff
from redis.retry import Retry

from ._common import (
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


class _Push(list):  # type: ignore[type-arg]
    """A RESP3 push message (`>`): out of band, not a reply."""


class _Incomplete(Exception):
    """The buffer ends inside a message."""


def _parse(buf: bytes, pos: int) -> Tuple[Any, int]:
    """One RESP3 value from `buf` at `pos`: (value, position after it)."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise _Incomplete
    kind, line, pos = buf[pos : pos + 1], buf[pos + 1 : end], end + 2
    if kind in (b"+", b"("):
        return (line if kind == b"+" else int(line)), pos
    if kind == b"-":
        return redis.ResponseError(line.decode("utf-8", "replace")), pos
    if kind == b":":
        return int(line), pos
    if kind == b"_":
        return None, pos
    if kind == b"#":
        return line == b"t", pos
    if kind == b",":
        return float(line), pos
    if kind in (b"$", b"=", b"!"):
        n = int(line)
        if n < 0:
            return None, pos
        if len(buf) < pos + n + 2:
            raise _Incomplete
        return buf[pos : pos + n], pos + n + 2
    if kind in (b"*", b"~", b">", b"%", b"|"):
        n = int(line)
        if n < 0:
            return None, pos
        items = []
        for _ in range(n * 2 if kind in (b"%", b"|") else n):
            item, pos = _parse(buf, pos)
            items.append(item)
        if kind == b"|":  # attributes: skip them, the value follows
            return _parse(buf, pos)
        return (_Push(items) if kind == b">" else items), pos
    raise redis.ConnectionError(f"unexpected RESP3 type {kind!r}")


def _command(*args: bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class _Server:
    """Where one tracking connection goes, and a redis-py client of its own
    for SCAN, EXPORT and TALLY (no silent retries: a lost connection must be
    seen)."""

    def __init__(self, kwargs: Dict[str, Any], connection_class: Any) -> None:
        if "SSL" in getattr(connection_class, "__name__", ""):
            raise ValueError("MirrorBackEnd does not speak TLS yet: use a plain connection")
        kwargs = dict(kwargs)
        for k in ("retry", "retry_on_error", "retry_on_timeout", "redis_connect_func"):
            kwargs.pop(k, None)
        kwargs.pop("connection_class", None)
        kwargs["retry"] = Retry(NoBackoff(), 0)
        kwargs["socket_connect_timeout"] = kwargs.get("socket_connect_timeout") or 2.0
        kwargs["socket_timeout"] = kwargs.get("socket_timeout") or 10.0
        kwargs.pop("protocol", None)
        self.kwargs = kwargs
        name = getattr(connection_class, "__name__", "Connection")
        cls = getattr(redis.connection, name, redis.connection.Connection)
        self.data: Any = redis.Redis(
            connection_pool=redis.ConnectionPool(connection_class=cls, **kwargs)
        )

    def describe(self) -> str:
        k = self.kwargs
        return str(k.get("path") or f"{k.get('host', 'localhost')}:{k.get('port', 6379)}")

    def connect(self) -> socket.socket:
        try:
            return self._connect()
        except OSError as e:
            raise redis.ConnectionError(f"cannot reach {self.describe()}: {e}") from e

    def _connect(self) -> socket.socket:
        k = self.kwargs
        timeout = float(k["socket_connect_timeout"])
        if k.get("path"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(k["path"])
        else:
            sock = socket.create_connection(
                (k.get("host", "localhost"), k.get("port", 6379)), timeout
            )
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        return sock


def _servers(client: Any) -> List[_Server]:
    """One `_Server` per primary: the client's server, or each primary of a
    `redis.RedisCluster`."""
    if hasattr(client, "get_primaries"):
        base = dict(getattr(client.nodes_manager, "connection_kwargs", {}) or {})
        out = []
        for node in client.get_primaries():
            kw = dict(base)
            kw.update(host=node.host, port=node.port)
            kw.pop("db", None)
            out.append(_Server(kw, redis.connection.Connection))
        return out
    pool = getattr(client, "connection_pool", None)
    if pool is None:
        raise ValueError("MirrorBackEnd needs a redis-py client (redis.Redis or RedisCluster)")
    return [_Server(pool.connection_kwargs, pool.connection_class)]


class _Link(threading.Thread):
    """One server's tracking connection and its thread: reads invalidations,
    re-reads the flags they name, answers `sync()` barriers, reconnects and
    resyncs."""

    def __init__(self, mirror: "Mirror", server: _Server, index: int) -> None:
        super().__init__(name=f"hanoi-mirror-{server.describe()}", daemon=True)
        self.mirror = mirror
        self.server = server
        self.index = index
        self.sock: Optional[socket.socket] = None
        self.buf = b""
        self.send_lock = threading.Lock()
        # One entry per PING sent, in order: the event a barrier waits on
        # (None for a health check).
        self.waiting: List[Optional[threading.Event]] = []
        self.fresh = False
        self.resyncs = 0

    # ----- the connection -----

    def _send(self, data: bytes, waiter: Optional[threading.Event] = None) -> None:
        with self.send_lock:
            if self.sock is None:
                raise redis.ConnectionError("not connected")
            self.waiting.append(waiter)
            try:
                self.sock.sendall(data)
            except OSError:
                self.waiting.pop()
                raise

    def _read(self) -> Any:
        """The next message; socket.timeout when none came in time."""
        while True:
            try:
                value, pos = _parse(self.buf, 0)
                self.buf = self.buf[pos:]
                return value
            except _Incomplete:
                pass
            assert self.sock is not None
            chunk = self.sock.recv(65536)
            if not chunk:
                raise redis.ConnectionError("connection closed by the server")
            self.buf += chunk

    def _buffered(self) -> bool:
        try:
            _parse(self.buf, 0)
            return True
        except _Incomplete:
            return False

    def _setup_call(self, *args: bytes) -> Any:
        assert self.sock is not None
        self.sock.sendall(_command(*args))
        while True:
            reply = self._read()
            if isinstance(reply, _Push):
                continue
            if isinstance(reply, redis.ResponseError):
                raise reply
            return reply

    def connect(self) -> None:
        """Connects, turns tracking on (before anything is read: no change
        after this is missed), then loads every flag of this server."""
        self.close_socket()
        k = self.server.kwargs
        sock = self.server.connect()
        self.sock, self.buf = sock, b""
        try:
            hello = [b"HELLO", b"3"]
            if k.get("password"):
                hello += [b"AUTH", b(k.get("username") or "default"), b(k["password"])]
            hello += [b"SETNAME", b"hanoi-mirror"]
            self._setup_call(*hello)
            if int(k.get("db") or 0):
                self._setup_call(b"SELECT", b(k["db"]))
            track = [b"CLIENT", b"TRACKING", b"ON", b"BCAST"]
            if self.mirror.prefix:
                track += [b"PREFIX", self.mirror.prefix]
            self._setup_call(*track)
            sock.settimeout(self.mirror.health_interval)
            self.mirror._resync(self)
        except BaseException:
            self.close_socket()
            raise
        self.resyncs += 1
        self.mirror._set_fresh(self, True)

    def close_socket(self) -> None:
        with self.send_lock:
            sock, self.sock = self.sock, None
            waiting, self.waiting = self.waiting, []
        for w in waiting:  # a barrier on a lost connection is not reached
            if w is not None:
                w.set()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    # ----- the thread -----

    def run(self) -> None:
        backoff = self.mirror.min_backoff
        while not self.mirror._stop.is_set():
            if self.sock is None:
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
        pending: Set[bytes] = set()
        pinged = False
        while not self.mirror._stop.is_set():
            if pending and not self._buffered():
                self.mirror._refresh(self, pending)
                pending = set()
            try:
                msg = self._read()
            except socket.timeout:
                if pinged:
                    raise redis.ConnectionError("no answer to PING") from None
                self._send(_command(b"PING"))
                pinged = True
                continue
            pinged = False
            if isinstance(msg, _Push):
                if len(msg) >= 2 and msg[0] == b"invalidate":
                    if msg[1] is None:  # FLUSHALL / FLUSHDB: every key
                        pending = set()
                        self.mirror._resync(self)
                    else:
                        pending.update(msg[1])
                continue
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
        self._send(_command(b"PING", b"sync"), event)
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
        self.engine = _Engine()
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
        if not self._change_listeners:
            return
        text = sorted(str(text_of(n)) for n in names)
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
        except (OSError, redis.ConnectionError):
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
            link.close_socket()
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
            return Explanation.from_reply(self._engine.explain(b(name), id_, pairs))
        except _CoreError as e:
            raise_refusal(str(e), name)

    def hanoi_resolve(
        self, name: str, id_: bytes, pairs: Pairs
    ) -> Tuple[Explanation, Any, Optional[str]]:
        self._wrong(b(name))
        try:
            return resolution(self._engine.resolve(b(name), id_, pairs))
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
        return info_dict(self._engine.get(b(name)))


__all__ = ["MirrorBackEnd", "Mirror"]
