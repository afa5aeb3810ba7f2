/** HanoiProvider through the real @openfeature/server-sdk, with ioredis (6 and
 * 5) and node-redis (6 and 4): types, reasons, error codes, metadata, keyless evaluation, and
 * events (flag changes, and a server restart). */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import {
  type Client as OFClient,
  type EvaluationContext,
  type EventDetails,
  OpenFeature,
  ProviderEvents,
  ProviderFatalError,
  ProviderStatus,
} from "@openfeature/server-sdk";
import IORedis from "ioredis";
import { createClient } from "redis";

import { Hanoi } from "../src/index.js";
import { HanoiProvider } from "../src/openfeature.js";
import { type Client, Server, client } from "./server.js";

const NOTIFY = ["--notify-keyspace-events", "Kgxd"];

function changedNames(d?: EventDetails): string[] | undefined {
  return (d as { flagsChanged?: string[] } | undefined)?.flagsChanged;
}

/** The next event of the type whose details `ok` accepts. */
function next(of: OFClient, event: ProviderEvents, ok: (d?: EventDetails) => boolean = () => true): Promise<EventDetails | undefined> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      of.removeHandler(event, handler);
      reject(new Error(`no ${event} event`));
    }, 20_000);
    const handler = (d?: EventDetails) => {
      if (!ok(d)) return;
      clearTimeout(timer);
      of.removeHandler(event, handler);
      resolve(d);
    };
    of.addHandler(event, handler);
  });
}

for (const kind of ["ioredis", "ioredis5", "node-redis", "redis4"] as const) {
  describe(`HanoiProvider over ${kind}`, () => {
    let server: Server;
    let c: Client;
    let flags: Hanoi;
    let of: OFClient;
    const domain = `of-${kind}`;

    before(async () => {
      server = await Server.start(NOTIFY);
      c = await client(kind, server.port);
      flags = new Hanoi(c.redis, { prefix: "of:" });
      await OpenFeature.setProviderAndWait(domain, new HanoiProvider(c.redis, { prefix: "of:" }));
      of = OpenFeature.getClient(domain);
    });
    after(async () => {
      await OpenFeature.clearProviders();
      await c?.close();
      await server?.stop();
    });

    test("boolean flags: on or off, reasons, metadata", async () => {
      await flags.define("checkout", { percentage: 100 });
      await flags.setMeta("checkout", { description: "The new checkout", owner: "payments", tags: "web,pay", other: "x" });
      const d = await of.getBooleanDetails("checkout", false, { targetingKey: "44488" });
      assert.equal(d.value, true);
      assert.equal(d.variant, "on");
      assert.equal(d.reason, "STATIC");
      assert.equal(d.errorCode, undefined);
      // every metadata field, not only description, owner and tags (issue 34)
      assert.deepEqual(d.flagMetadata, { description: "The new checkout", owner: "payments", tags: "web,pay", other: "x", type: "boolean" });
      await flags.define("half", { percentage: 80 });
      await flags.register("half", /01$/);
      const out = await of.getBooleanDetails("half", true, { targetingKey: "44488" });
      assert.deepEqual([out.value, out.variant, out.reason], [false, "off", "DEFAULT"]);
      let id = 0;
      while ((await flags.explain("half", `u${id}`)).reason !== "percentage") id++;
      const inside = await of.getBooleanDetails("half", false, { targetingKey: `u${id}` });
      assert.deepEqual([inside.value, inside.reason], [true, "SPLIT"]);
      const match = await of.getBooleanDetails("half", false, { targetingKey: "443301" });
      assert.deepEqual([match.value, match.reason], [true, "TARGETING_MATCH"]);
      await flags.define("off", { enabled: false, percentage: 100 });
      const off = await of.getBooleanDetails("off", true, { targetingKey: "1" });
      assert.deepEqual([off.value, off.variant, off.reason], [false, "off", "DISABLED"]);
    });

    test("a failed prerequisite: PREREQUISITE_FAILED, no error code, the prerequisite in the metadata", async () => {
      await flags.define("payments", { percentage: 0 });
      await flags.register("payments", "anna");
      await flags.define("pay_page", { percentage: 100, variants: ["new", "old"], default: "old" });
      await flags.setPrereq("pay_page", "payments");
      await flags.define("pay_banner", { percentage: 100 });
      await flags.setPrereq("pay_banner", "payments");
      const s = await of.getStringDetails("pay_page", "fallback", { targetingKey: "carl" });
      assert.deepEqual([s.value, s.variant, s.reason, s.errorCode], ["old", "old", "PREREQUISITE_FAILED", undefined]);
      assert.equal(s.flagMetadata.prerequisite, "payments");
      const b = await of.getBooleanDetails("pay_banner", true, { targetingKey: "carl" });
      assert.deepEqual([b.value, b.reason, b.errorCode, b.flagMetadata.prerequisite], [false, "PREREQUISITE_FAILED", undefined, "payments"]);
      const on = await of.getStringDetails("pay_page", "fallback", { targetingKey: "anna" });
      assert.deepEqual([on.reason, on.errorCode, on.flagMetadata.prerequisite], ["STATIC", undefined, undefined]);
    });

    test("string, number and object flags", async () => {
      await flags.define("copy", { percentage: 100, variants: ["Hello"] });
      const s = await of.getStringDetails("copy", "x", { targetingKey: "u" });
      assert.deepEqual([s.value, s.variant, s.reason, s.flagMetadata.type], ["Hello", "Hello", "STATIC", "string"]);
      await flags.define("limit", { percentage: 20, variants: ["small", "big"], values: [10, 250.5], default: "small" });
      const big = await of.getNumberDetails("limit", -1, { targetingKey: "443301" });
      assert.deepEqual([big.value, big.variant, big.reason], [250.5, "big", "SPLIT"]);
      const small = await of.getNumberDetails("limit", -1, { targetingKey: "44488" });
      assert.deepEqual([small.value, small.variant, small.reason], [10, "small", "DEFAULT"]);
      await flags.define("layout", { percentage: 100, variants: ["a"], values: [{ columns: 2, promo: [1, "x"] }] });
      const o = await of.getObjectDetails("layout", {}, { targetingKey: "u" });
      assert.deepEqual(o.value, { columns: 2, promo: [1, "x"] });
      assert.equal(o.flagMetadata.type, "object");
      // off without a DEFAULT variant: the caller's default
      await flags.define("nodefault", { percentage: 0, variants: ["a", "b"] });
      const nd = await of.getStringDetails("nodefault", "mine", { targetingKey: "44488" });
      assert.deepEqual([nd.value, nd.reason, nd.errorCode], ["mine", "DEFAULT", undefined]);
    });

    test("targeting: attributes go to the rules (numbers and booleans as JSON text)", async () => {
      await flags.define("rules", { percentage: 0, variants: ["a", "b"] });
      await flags.setTargetingRule("rules", "de", { variant: "b", when: [["country", "EQ", "DE"], ["age", "GE", 18], ["beta", "EQ", "true"]] });
      const d = await of.getStringDetails("rules", "x", { targetingKey: "44488", country: "DE", age: 30, beta: true });
      assert.deepEqual([d.value, d.reason], ["b", "TARGETING_MATCH"]);
      const no = await of.getStringDetails("rules", "x", { targetingKey: "44488", country: "DE", age: 12, beta: true });
      assert.deepEqual([no.value, no.reason], ["x", "DEFAULT"]);
    });

    test("keyless evaluation: no targetingKey or an empty one", async () => {
      await flags.define("pct", { percentage: 50 });
      for (const ctx of [{}, { targetingKey: "" }] as EvaluationContext[]) {
        const d = await of.getBooleanDetails("pct", true, ctx);
        assert.deepEqual([d.value, d.errorCode, d.reason], [true, "TARGETING_KEY_MISSING", "ERROR"]);
        const off = await of.getBooleanDetails("off", true, ctx);
        assert.deepEqual([off.value, off.reason, off.errorCode], [false, "DISABLED", undefined]);
        const all = await of.getBooleanDetails("checkout", false, ctx);
        assert.deepEqual([all.value, all.reason], [true, "STATIC"]);
        const rule = await of.getStringDetails("rules", "x", { ...ctx, country: "DE", age: 30, beta: true });
        assert.deepEqual([rule.value, rule.reason], ["b", "TARGETING_MATCH"]);
      }
    });

    test("errors: FLAG_NOT_FOUND, TYPE_MISMATCH, INVALID_CONTEXT", async () => {
      const missing = await of.getBooleanDetails("missing", true, { targetingKey: "1" });
      assert.deepEqual([missing.value, missing.errorCode, missing.reason], [true, "FLAG_NOT_FOUND", "ERROR"]);
      await flags.connection.send("of:plain", false, ["SET", "of:plain", "x"]);
      assert.equal((await of.getBooleanDetails("plain", true, { targetingKey: "1" })).errorCode, "FLAG_NOT_FOUND");
      const mismatch = await of.getStringDetails("checkout", "x", { targetingKey: "1" });
      assert.deepEqual([mismatch.value, mismatch.errorCode, mismatch.reason], ["x", "TYPE_MISMATCH", "ERROR"]);
      assert.equal(mismatch.flagMetadata.type, "boolean");
      assert.equal((await of.getNumberDetails("copy", 1, { targetingKey: "1" })).errorCode, "TYPE_MISMATCH");
      assert.equal((await of.getBooleanDetails("limit", false, { targetingKey: "1" })).errorCode, "TYPE_MISMATCH");
      assert.equal((await of.getObjectDetails("checkout", {}, { targetingKey: "1" })).errorCode, "TYPE_MISMATCH");
      const bad = await of.getBooleanDetails("checkout", false, { targetingKey: "1", tags: ["a", "b"] });
      assert.equal(bad.errorCode, "INVALID_CONTEXT");
      const id = await of.getBooleanDetails("checkout", false, { targetingKey: "1", id: "x" });
      assert.equal(id.errorCode, "INVALID_CONTEXT"); // the module refuses an attribute named id
    });

    test("a provider over a Hanoi, and the type read again after a redefinition", async () => {
      const provider = new HanoiProvider(flags, { events: false, cacheSeconds: 60 });
      await OpenFeature.setProviderAndWait(`${domain}-hanoi`, provider);
      const other = OpenFeature.getClient(`${domain}-hanoi`);
      await flags.define("retype", { percentage: 100 });
      assert.equal(await other.getBooleanValue("retype", false, { targetingKey: "1" }), true);
      await flags.define("retype", { percentage: 100, variants: ["x"] });
      const d = await other.getBooleanDetails("retype", false, { targetingKey: "1" });
      assert.equal(d.errorCode, "TYPE_MISMATCH");
      assert.equal(await other.getStringValue("retype", "y", { targetingKey: "1" }), "x");
    });

    test("events: a flag's change, then a server restart", async () => {
      let changed = next(of, ProviderEvents.ConfigurationChanged, (d) => changedNames(d)?.includes("evented") ?? false);
      await flags.define("evented", { percentage: 10 });
      assert.deepEqual(changedNames(await changed), ["evented"]);
      changed = next(of, ProviderEvents.ConfigurationChanged, (d) => changedNames(d)?.includes("evented") ?? false);
      await flags.delete("evented");
      await changed;
      // a key outside the prefix is no flag of this provider
      const outside = next(of, ProviderEvents.ConfigurationChanged, (d) => changedNames(d)?.includes("inside") ?? false);
      await new Hanoi(c.redis).define("unrelated");
      await flags.define("inside");
      assert.deepEqual(changedNames(await outside), ["inside"]);

      // No in-process mirror in Node, so no STALE: ERROR while Redis is
      // away, READY once it is back.
      assert.equal(of.providerStatus, ProviderStatus.READY);
      const error = next(of, ProviderEvents.Error);
      await server.stop();
      await error;
      assert.equal(of.providerStatus, ProviderStatus.ERROR);
      const ready = next(of, ProviderEvents.Ready);
      const again = next(of, ProviderEvents.ConfigurationChanged, (d) => !changedNames(d));
      await server.start();
      await ready;
      assert.equal(of.providerStatus, ProviderStatus.READY);
      await again;
      // the data went with the old server (no persistence): define it anew
      await flags.define("after", { percentage: 100 });
      assert.equal(await of.getBooleanValue("after", false, { targetingKey: "1" }), true);
      changed = next(of, ProviderEvents.ConfigurationChanged, (d) => changedNames(d)?.includes("after") ?? false);
      await flags.disable("after");
      await changed;
      assert.equal((await of.getBooleanDetails("after", true, { targetingKey: "1" })).reason, "DISABLED");
    });
  });
}

test("a server without keyspace events: the provider warns and runs on", async () => {
  const server = await Server.start();
  const c = await client("ioredis", server.port);
  const warnings: string[] = [];
  try {
    await OpenFeature.setProviderAndWait("warn", new HanoiProvider(c.redis, { logger: { warn: (m: string) => void warnings.push(m) } }));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /Kgxd/);
    await new Hanoi(c.redis).define("f", { percentage: 100 });
    assert.equal(await OpenFeature.getClient("warn").getBooleanValue("f", false, { targetingKey: "1" }), true);
  } finally {
    await OpenFeature.clearProviders();
    await c.close();
    await server.stop();
  }
});

test("a server without the module: FATAL (PROVIDER_FATAL), as in Python", async () => {
  const server = await Server.start([], false);
  const c = await client("ioredis", server.port);
  try {
    await assert.rejects(OpenFeature.setProviderAndWait("fatal", new HanoiProvider(c.redis, { events: false })), ProviderFatalError);
    const of = OpenFeature.getClient("fatal");
    assert.equal(of.providerStatus, ProviderStatus.FATAL);
    const d = await of.getBooleanDetails("f", true, { targetingKey: "1" });
    assert.deepEqual([d.value, d.errorCode, d.reason], [true, "PROVIDER_FATAL", "ERROR"]);
  } finally {
    await OpenFeature.clearProviders();
    await c.close();
    await server.stop();
  }
});

/** A hang guard only: the provider must give up after timeoutMs (300). */
const HANG_GUARD_MS = 20_000;

/** Redis down and the clients' defaults (ioredis queues the command offline
 * and retries, 73 s measured; node-redis 5 s): the provider answers GENERAL
 * and the default after timeoutMs. */
for (const kind of ["ioredis", "node-redis"] as const) {
  test(`an evaluation over a default ${kind} client with Redis down gives up after timeoutMs`, async () => {
    const server = await Server.start();
    let redis: any;
    if (kind === "ioredis") {
      redis = new IORedis(server.port, "127.0.0.1");
      redis.on("error", () => {});
    } else {
      redis = createClient({ socket: { port: server.port, host: "127.0.0.1" } });
      redis.on("error", () => {});
      await redis.connect();
    }
    const domain = `timeout-${kind}`;
    try {
      await new Hanoi(redis).define("f", { percentage: 100 });
      await OpenFeature.setProviderAndWait(domain, new HanoiProvider(redis, { events: false, timeoutMs: 300, cacheSeconds: 0 }));
      const of = OpenFeature.getClient(domain);
      assert.equal(await of.getBooleanValue("f", false, { targetingKey: "1" }), true);
      await server.stop();
      const started = Date.now();
      const d = await of.getBooleanDetails("f", false, { targetingKey: "1" });
      assert.ok(Date.now() - started < HANG_GUARD_MS);
      assert.deepEqual([d.value, d.errorCode, d.reason], [false, "GENERAL", "ERROR"]);
      assert.match(d.errorMessage ?? "", /within 300 ms/);
    } finally {
      await OpenFeature.clearProviders();
      if (kind === "ioredis") redis.disconnect();
      else if (typeof redis.destroy === "function") redis.destroy();
      else await redis.disconnect().catch(() => {});
      await server.stop();
    }
  });
}

test("timeoutMs defaults to 1000", () => {
  const p = new HanoiProvider(new IORedis({ lazyConnect: true }), { events: false });
  assert.equal((p as unknown as { timeoutMs: number }).timeoutMs, 1000);
});
