"""MirrorBackEnd against other SDKs' local evaluation, same process, same run
(issue 23): time per check of the same four flags, made equivalent:

  pct       on for 50 % of user ids (hash bucketing by id);
  rule      on when country == DE and plan in {pro, team}, then for 50 % of
            those ids; off otherwise (contexts cycle DE/pro, DE/team, FR/pro,
            DE/free: about 25 % on);
  list      on for a list of 1,000 ids, off for the rest (every other id
            asked is in the list: 50 % on);
  variants  two variants weighted 1:3 (25 % a, 75 % b), the variant asked.

  hanoi     a MirrorBackEnd (Rollout.is_enabled / Rollout.variant) over the
            module's flags: DEFINE PERCENTAGE 50; DEFINE PERCENTAGE 0 + RULE
            SET r ROLLOUT 50 IF country EQ DE AND plan IN 2 pro team; DEFINE
            PERCENTAGE 0 + REGISTER USER (1,000 ids); DEFINE PERCENTAGE 100
            VARIANTS 2 a b WEIGHTS 1 3;
  unleash   UnleashClient (FileCache.bootstrap_from_dict, initialize_client(
            fetch_toggles=False), metrics and registration off):
            flexibleRollout 50 on userId; the same with two IN constraints;
            userWithId with the 1,000 ids; flexibleRollout 100 with variants
            weighted 250/750 (get_variant);
  launchdarkly  launchdarkly-server-sdk, TestData (flags given as their JSON
            through a FlagBuilder, since TestData's builder has no rollouts),
            events off: fallthrough rollout 50000/50000; a rule of two `in`
            clauses with that rollout; targets with the 1,000 ids; two
            variations rolled out 25000/75000 (variation);
  growthbook  growthbook (features dict): a force rule with coverage 0.5 on
            `id`; the same with a condition {country: DE, plan: {$in: ...}};
            a force rule with {id: {$in: 1,000 ids}}; an experiment rule with
            weights 0.25/0.75 (get_feature_value), attributes set per check;
  flagd     openfeature-provider-flagd in-process with a file source, through
            openfeature-sdk: fractional 50/50 on targetingKey; `if` of an
            `and` of `==` and `in` then that fractional; `in` the 1,000 ids;
            fractional 25/75 between two string variants; against hanoi's
            HanoiProvider over the mirror through the same SDK.

Contexts are built before the timed loop for every side (LaunchDarkly
Contexts, OpenFeature EvaluationContexts, hanoi's attribute dicts). Each side
must give the same share of enabled answers (of variant `a`) within 4 points
(asserted). Medians of alternated rounds; the goal is hanoi <= 0.5x each
peer's time per check, and the mirror >= 30x RedisModuleBackEnd's checks/s.
A peer whose package is missing is skipped (said so). Run by `make bench`.
"""

import atexit
import json
import logging
import os
import statistics
import sys
import tempfile
import time

import hanoi_redis
import harness

N, ROUNDS = 2000, 5
IDS = [f"user-{i}" for i in range(N)]
LISTED = IDS[::2]  # the 1,000 ids of the list
CONTEXTS = [
    {"country": "DE", "plan": "pro"},
    {"country": "DE", "plan": "team"},
    {"country": "FR", "plan": "pro"},
    {"country": "DE", "plan": "free"},
]
CASES = ("pct", "rule", "list", "variants")
# The share each case should give (a rollout's is near it, not exactly it).
EXPECTED = {"pct": 0.5, "rule": 0.25, "list": 0.5, "variants": 0.25}


def ctx_of(i):
    return CONTEXTS[i % len(CONTEXTS)]


# ----- hanoi -----


def hanoi_flags(r):
    r.execute_command("HANOI.DEFINE", "peer:pct", "PERCENTAGE", 50)
    r.execute_command("HANOI.DEFINE", "peer:rule", "PERCENTAGE", 0)
    r.execute_command(
        "HANOI.RULE", "peer:rule", "SET", "r", "ROLLOUT", 50,
        "IF", "country", "EQ", "DE", "AND", "plan", "IN", 2, "pro", "team",
    )  # fmt: skip
    r.execute_command("HANOI.DEFINE", "peer:list", "PERCENTAGE", 0)
    r.execute_command("HANOI.REGISTER", "peer:list", "USER", *LISTED)
    r.execute_command(
        "HANOI.DEFINE", "peer:variants", "PERCENTAGE", 100, "VARIANTS", 2, "a", "b", "WEIGHTS", 1, 3
    )


def hanoi_checks(rollout):
    return {
        "pct": [lambda i, id_=id_: rollout.is_enabled("pct", id_) for id_ in IDS],
        "rule": [
            lambda i, id_=id_, c=c: rollout.is_enabled("rule", id_, c)
            for id_, c in zip(IDS, [ctx_of(i) for i in range(N)])
        ],
        "list": [lambda i, id_=id_: rollout.is_enabled("list", id_) for id_ in IDS],
        "variants": [lambda i, id_=id_: rollout.variant("variants", id_) == "a" for id_ in IDS],
    }


def openfeature_checks(client, EvaluationContext, direct=False):
    """Through an OpenFeature client, or (direct) the provider's own resolve
    methods, without the SDK around them."""
    if direct:

        def boolean(name, c):
            return client.resolve_boolean_details(name, False, c).value

        def string(name, c):
            return client.resolve_string_details(name, "?", c).value
    else:

        def boolean(name, c):
            return client.get_boolean_value(name, False, c)

        def string(name, c):
            return client.get_string_value(name, "?", c)

    out = {c: [] for c in CASES}
    for i, id_ in enumerate(IDS):
        plain = EvaluationContext(id_)
        with_attrs = EvaluationContext(id_, dict(ctx_of(i)))
        out["pct"].append(lambda i, c=plain: boolean("pct", c))
        out["rule"].append(lambda i, c=with_attrs: boolean("rule", c))
        out["list"].append(lambda i, c=plain: boolean("list", c))
        out["variants"].append(lambda i, c=plain: string("variants", c) == "a")
    return out


# ----- peers -----


def unleash_checks():
    from UnleashClient import UnleashClient
    from UnleashClient.cache import FileCache

    def rollout(name, pct, **extra):
        return {"name": "flexibleRollout", "parameters": {"rollout": str(pct), "stickiness": "userId", "groupId": name}, **extra}

    features = {
        "version": 1,
        "features": [
            {"name": "pct", "enabled": True, "strategies": [rollout("pct", 50)]},
            {"name": "rule", "enabled": True, "strategies": [rollout("rule", 50, constraints=[
                {"contextName": "country", "operator": "IN", "values": ["DE"]},
                {"contextName": "plan", "operator": "IN", "values": ["pro", "team"]}])]},
            {"name": "list", "enabled": True, "strategies": [
                {"name": "userWithId", "parameters": {"userIds": ",".join(LISTED)}}]},
            {"name": "variants", "enabled": True, "strategies": [rollout("variants", 100, variants=[
                {"name": "a", "weight": 250, "stickiness": "userId", "weightType": "variable"},
                {"name": "b", "weight": 750, "stickiness": "userId", "weightType": "variable"}])]},
        ],
    }  # fmt: skip
    cache = FileCache("hanoi-bench", directory=tempfile.mkdtemp(prefix="hanoi-unleash-"))
    cache.bootstrap_from_dict(features)
    client = UnleashClient(
        url="http://127.0.0.1:9", app_name="hanoi-bench", cache=cache,
        disable_metrics=True, disable_registration=True,
    )  # fmt: skip
    client.initialize_client(fetch_toggles=False)
    out = {c: [] for c in CASES}
    for i, id_ in enumerate(IDS):
        plain = {"userId": id_}
        with_attrs = {"userId": id_, "properties": dict(ctx_of(i))}
        out["pct"].append(lambda i, c=plain: client.is_enabled("pct", c))
        out["rule"].append(lambda i, c=with_attrs: client.is_enabled("rule", c))
        out["list"].append(lambda i, c=plain: client.is_enabled("list", c))
        out["variants"].append(lambda i, c=plain: client.get_variant("variants", c)["name"] == "a")
    return out, client.destroy


def launchdarkly_checks():
    from ldclient import Config, Context, LDClient
    from ldclient.integrations.test_data import FlagBuilder, TestData

    class RawFlag(FlagBuilder):
        """A flag as its JSON (TestData's builder has no percentage rollouts)."""

        def __init__(self, key, data):
            super().__init__(key)
            self._data = data

        def _build(self, version):
            base = {"key": self._key, "version": version, "on": True, "prerequisites": [], "salt": self._key,
                    "targets": [], "contextTargets": [], "rules": [], "offVariation": 1}  # fmt: skip
            base.update(self._data)
            return base

        def _copy(self):
            return RawFlag(self._key, self._data)

    def split(a, b):
        return {"rollout": {"variations": [{"variation": 0, "weight": a}, {"variation": 1, "weight": b}]}}

    td = TestData.data_source()
    td.update(RawFlag("pct", {"variations": [True, False], "fallthrough": split(50000, 50000)}))
    td.update(RawFlag("rule", {"variations": [True, False], "fallthrough": {"variation": 1}, "rules": [
        {"id": "r", "clauses": [
            {"attribute": "country", "op": "in", "values": ["DE"], "negate": False},
            {"attribute": "plan", "op": "in", "values": ["pro", "team"], "negate": False}],
         **split(50000, 50000)}]}))  # fmt: skip
    td.update(RawFlag("list", {"variations": [True, False], "fallthrough": {"variation": 1},
                               "targets": [{"variation": 0, "values": LISTED}]}))  # fmt: skip
    td.update(RawFlag("variants", {"variations": ["a", "b"], "fallthrough": split(25000, 75000)}))
    client = LDClient(Config("bench-sdk-key", update_processor_class=td, send_events=False))
    out = {c: [] for c in CASES}
    for i, id_ in enumerate(IDS):
        plain = Context.create(id_)
        b = Context.builder(id_)
        for k, v in ctx_of(i).items():
            b.set(k, v)
        with_attrs = b.build()
        out["pct"].append(lambda i, c=plain: client.variation("pct", c, False))
        out["rule"].append(lambda i, c=with_attrs: client.variation("rule", c, False))
        out["list"].append(lambda i, c=plain: client.variation("list", c, False))
        out["variants"].append(lambda i, c=plain: client.variation("variants", c, "?") == "a")
    return out, client.close


def growthbook_checks():
    from growthbook import GrowthBook

    features = {
        "pct": {"defaultValue": False, "rules": [{"force": True, "coverage": 0.5, "hashAttribute": "id"}]},
        "rule": {"defaultValue": False, "rules": [{
            "condition": {"country": "DE", "plan": {"$in": ["pro", "team"]}},
            "force": True, "coverage": 0.5, "hashAttribute": "id"}]},
        "list": {"defaultValue": False, "rules": [{"condition": {"id": {"$in": LISTED}}, "force": True}]},
        "variants": {"defaultValue": "?", "rules": [{
            "key": "variants", "variations": ["a", "b"], "weights": [0.25, 0.75], "hashAttribute": "id"}]},
    }  # fmt: skip
    gb = GrowthBook(features=features)

    def on(name, attrs):
        gb.set_attributes(attrs)
        return gb.is_on(name)

    def value(name, attrs):
        gb.set_attributes(attrs)
        return gb.get_feature_value(name, "?")

    out = {c: [] for c in CASES}
    for i, id_ in enumerate(IDS):
        plain = {"id": id_}
        with_attrs = {"id": id_, **ctx_of(i)}
        out["pct"].append(lambda i, a=plain: on("pct", a))
        out["rule"].append(lambda i, a=with_attrs: on("rule", a))
        out["list"].append(lambda i, a=plain: on("list", a))
        out["variants"].append(lambda i, a=plain: value("variants", a) == "a")
    return out, gb.destroy


def flagd_checks():
    from openfeature import api
    from openfeature.contrib.provider.flagd import FlagdProvider
    from openfeature.contrib.provider.flagd.config import ResolverType
    from openfeature.evaluation_context import EvaluationContext

    def frac(a, b, x="on", y="off"):
        return {"fractional": [{"var": "targetingKey"}, [x, a], [y, b]]}

    onoff = {"state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off"}
    flags = {"flags": {
        "pct": {**onoff, "targeting": frac(50, 50)},
        "rule": {**onoff, "targeting": {"if": [
            {"and": [{"==": [{"var": "country"}, "DE"]}, {"in": [{"var": "plan"}, ["pro", "team"]]}]},
            frac(50, 50), "off"]}},
        "list": {**onoff, "targeting": {"if": [{"in": [{"var": "targetingKey"}, LISTED]}, "on", "off"]}},
        "variants": {"state": "ENABLED", "variants": {"a": "a", "b": "b"}, "defaultVariant": "a",
                     "targeting": frac(25, 75, "a", "b")},
    }}  # fmt: skip
    fd, path = tempfile.mkstemp(prefix="hanoi-flagd-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(flags, f)
    provider = FlagdProvider(resolver_type=ResolverType.FILE, offline_flag_source_path=path)
    api.set_provider_and_wait(provider, domain="flagd")
    client = api.get_client("flagd")

    # Removed at exit: flagd's file watcher thread may still look at it.
    atexit.register(os.unlink, path)

    def close():
        provider.shutdown()

    return openfeature_checks(client, EvaluationContext), close


def flagd_provider_checks():
    """flagd's provider alone (its resolve methods, no SDK around them)."""
    from openfeature.evaluation_context import EvaluationContext

    _, close = flagd_checks()
    from openfeature import api

    provider = api.provider_registry.get_provider("flagd")
    return openfeature_checks(provider, EvaluationContext, direct=True), close


PEERS = [
    ("unleash", unleash_checks),
    ("launchdarkly", launchdarkly_checks),
    ("growthbook", growthbook_checks),
    ("flagd", flagd_checks),
    ("flagd-provider", flagd_provider_checks),
]


# ----- measuring -----


def run(checks):
    """Seconds for the checks, and the share of True answers."""
    t = time.perf_counter()
    on = 0
    for i, c in enumerate(checks):
        on += bool(c(i))
    return time.perf_counter() - t, on / len(checks)


def per_check_us(ours, theirs):
    a, b, sa, sb = [], [], None, None
    for _ in range(ROUNDS):
        ta, sa = run(ours)
        tb, sb = run(theirs)
        a.append(ta)
        b.append(tb)
    return statistics.median(a) / N * 1e6, statistics.median(b) / N * 1e6, sa, sb


def main():
    logging.disable(logging.WARNING)
    from hanoi_redis.openfeature import HanoiProvider
    from openfeature import api
    from openfeature.evaluation_context import EvaluationContext

    server = harness.Server()
    mirror = None
    failed = []
    try:
        r = server.client()
        hanoi_flags(r)
        mirror = hanoi_redis.MirrorBackEnd(r, prefix="peer:")
        ours = hanoi_checks(hanoi_redis.Rollout(mirror))
        provider = HanoiProvider(mirror)
        api.set_provider_and_wait(provider, domain="hanoi")
        ours_of = openfeature_checks(api.get_client("hanoi"), EvaluationContext)
        ours_direct = openfeature_checks(provider, EvaluationContext, direct=True)
        print(f"mirror vs peers: us per check (Redis {server.version}, {N} ids x {ROUNDS} rounds, medians)")

        # The mirror against one round trip per check.
        remote = hanoi_redis.Rollout(hanoi_redis.RedisModuleBackEnd(r, prefix="peer:"))
        t_remote, s_remote = run([lambda i, id_=id_: remote.is_enabled("pct", id_) for id_ in IDS])
        t_mirror, s_mirror = run(ours["pct"])
        assert s_remote == s_mirror, (s_remote, s_mirror)
        ratio = t_remote / t_mirror
        print(f"  pct, RedisModuleBackEnd {N / t_remote:,.0f} checks/s, MirrorBackEnd {N / t_mirror:,.0f} checks/s: "
              f"{ratio:.0f}x (goal >= 30x) {'ok' if ratio >= 30 else 'MISSED'}")  # fmt: skip

        for peer, make in PEERS:
            try:
                theirs, close = make()
            except ImportError as e:
                print(f"  {peer}: skipped ({e.name} is not installed: make bench installs it)")
                continue
            side, label = {
                "flagd": (ours_of, "hanoi provider over the mirror, via the SDK"),
                "flagd-provider": (ours_direct, "hanoi provider alone"),
            }.get(peer, (ours, "hanoi mirror"))
            try:
                for case in CASES:
                    us, them, sa, sb = per_check_us(side[case], theirs[case])
                    assert abs(sa - sb) <= 0.04 and abs(sa - EXPECTED[case]) <= 0.04, (peer, case, sa, sb)
                    goal = us <= 0.5 * them
                    if not goal:
                        failed.append(f"{peer}/{case}")
                    print(f"  {case:8} {label} {us:6.2f} us vs {peer} {them:7.2f} us: {us / them:.2f}x "
                          f"(shares {sa:.3f} / {sb:.3f}) {'ok' if goal else 'MISSED the 0.5x goal'}")  # fmt: skip
            finally:
                close()
    finally:
        if mirror is not None:
            mirror.close()
        api.clear_providers()
        server.stop()
    if failed:
        print(f"  goal missed for: {', '.join(failed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
