/** Every method of Hanoi, with ioredis (6 and 5) and with node-redis (6 over
 * RESP3 and RESP2, 4). */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { FlagNotFound, Hanoi, HanoiError } from "../src/index.js";
import { description } from "../src/replies.js";
import { type Client, KINDS, Server, client } from "./server.js";

let server: Server;
before(async () => {
  server = await Server.start();
});
after(async () => {
  await server?.stop();
});

for (const kind of KINDS) {
  describe(`Hanoi over ${kind}`, () => {
    let c: Client;
    let flags: Hanoi;
    const prefix = `${kind}:`;
    before(async () => {
      c = await client(kind, server.port);
      flags = new Hanoi(c.redis, { prefix });
    });
    after(async () => {
      await c.close();
    });

    test("define, then the reads of the README tour", async () => {
      await flags.define("cdc_on", { percentage: 80, variants: ["foo", "bar"] });
      assert.equal(await flags.register("cdc_on", ["447568110000", /01$/]), 2);
      assert.equal(await flags.isEnabled("cdc_on", 44488), false);
      assert.equal(await flags.isEnabled("cdc_on", "443301"), true);
      assert.equal(await flags.isEnabled("cdc_on"), true); // the switch alone
      assert.equal(await flags.variant("cdc_on", "443301"), "bar");
      assert.equal(await flags.variant("cdc_on", "44488"), null);
      assert.deepEqual(await flags.explain("cdc_on", "44488"), {
        enabled: false,
        variant: null,
        reason: "outside",
        detail: 88,
        percentage: 80,
        missing: null,
      });
      assert.deepEqual(await flags.explain("cdc_on", "443301"), {
        enabled: true,
        variant: "bar",
        reason: "regex",
        detail: "01$",
        percentage: 80,
        missing: null,
      });
      assert.equal((await flags.explain("cdc_on", "447568110000")).reason, "user");
      assert.equal(await flags.value("cdc_on", "443301"), "bar");
      assert.equal(await flags.value("cdc_on"), null); // needs the id
      assert.deepEqual(await flags.resolve("cdc_on"), {
        enabled: false,
        variant: null,
        value: null,
        reason: "needs_id",
        detail: null,
        percentage: 80,
        type: "string",
        missing: null,
      });
    });

    test("values: numbers, objects, a DEFAULT variant, weights and a salt", async () => {
      await flags.define("upload_limit", { percentage: 20, variants: ["small", "big"], values: [10, 250.5], default: "small" });
      assert.equal(await flags.value("upload_limit", "443301"), 250.5);
      assert.equal(await flags.value("upload_limit", "44488"), 10);
      assert.equal(await flags.variant("upload_limit", "44488"), "small");
      assert.equal(await flags.isEnabled("upload_limit", "44488"), false);
      assert.deepEqual(await flags.resolve("upload_limit", "44488"), {
        enabled: false,
        variant: "small",
        value: 10,
        reason: "outside",
        detail: 88,
        percentage: 20,
        type: "number",
        missing: null,
      });
      await flags.define("layout", { percentage: 100, variants: ["a", "b"], weights: [1, 3], values: [{ columns: 1 }, { columns: 2, promo: [1, "x"] }], salt: "s1" });
      const v = await flags.value<{ columns: number }>("layout", "u1");
      assert.ok(v && (v.columns === 1 || v.columns === 2));
      const d = await flags.describe("layout");
      assert.ok(d);
      assert.equal(d.type, "object");
      assert.deepEqual(d.weights, [1, 3]);
      assert.equal(d.salt, "s1");
      assert.deepEqual(d.values, [{ columns: 1 }, { columns: 2, promo: [1, "x"] }]);
      await flags.define("kill", { percentage: 100 });
      assert.equal(await flags.value("kill"), true);
      assert.equal((await flags.describe("kill"))?.type, "boolean");
      assert.equal(await flags.value("missing", "x"), null);
    });

    test("attributes and rules: setTargetingRule, deleteTargetingRule, moveTargetingRule", async () => {
      await flags.define("rules", { percentage: 0, variants: ["foo", "bar"] });
      await flags.setTargetingRule("rules", "de-pros", { rollout: 100, variant: "bar", when: [["country", "EQ", "DE"], ["plan", "IN", ["pro", "team"]]] });
      await flags.setTargetingRule("rules", "adults", { when: [["age", "GE", 18], ["beta", "EQ", "true"]] });
      await flags.setTargetingRule("rules", "known", { when: [["email", "EXISTS"]] });
      assert.equal(await flags.isEnabled("rules", "44488", { country: "DE", plan: "pro" }), true);
      assert.equal(await flags.isEnabled("rules", "44488", { country: "DE", plan: "free" }), false);
      assert.equal(await flags.variant("rules", "44488", { country: "DE", plan: "team" }), "bar");
      // numbers and booleans are sent as their JSON text
      assert.equal(await flags.isEnabled("rules", "44488", { age: 42, beta: true }), true);
      assert.equal(await flags.isEnabled("rules", "44488", { age: 17, beta: true }), false);
      assert.equal(await flags.isEnabled("rules", "44488", { age: 42, beta: false, email: null }), false);
      const known = await flags.explain("rules", "1", { email: "a@b" });
      assert.deepEqual([known.enabled, known.reason, known.detail, known.percentage], [true, "rule", "known", 0]);
      assert.ok(known.variant === "foo" || known.variant === "bar"); // the flag's pick (the rule names none)
      // keyless: a rule on an attribute decides without an id
      const r = await flags.resolve("rules", undefined, { country: "DE", plan: "pro" });
      assert.deepEqual([r.enabled, r.variant, r.reason, r.detail], [true, "bar", "rule", "de-pros"]);
      const d = await flags.describe("rules");
      assert.deepEqual(d?.rules, [
        { name: "de-pros", rollout: 100, variant: "bar", when: [["country", "EQ", "DE"], ["plan", "IN", ["pro", "team"]]] },
        { name: "adults", when: [["age", "GE", "18"], ["beta", "EQ", "true"]] },
        { name: "known", when: [["email", "EXISTS"]] },
      ]);
      await flags.moveTargetingRule("rules", "known", 0);
      assert.deepEqual((await flags.describe("rules"))?.rules.map((x) => x.name), ["known", "de-pros", "adults"]);
      assert.equal(await flags.deleteTargetingRule("rules", "known", "adults", "nope"), 2);
      assert.deepEqual((await flags.describe("rules"))?.rules.map((x) => x.name), ["de-pros"]);
      // a described rule is written back as it is (to another flag here)
      const [described] = (await flags.describe("rules"))!.rules;
      await flags.define("rules-copy", { percentage: 0, variants: ["foo", "bar"] });
      await flags.setTargetingRule("rules-copy", described!.name, described!);
      assert.deepEqual((await flags.describe("rules-copy"))?.rules, [described]);
      // the names of 0.1.0 are aliases
      await flags.setRule("rules-copy", "old", { when: [["email", "MISSING"]] });
      await flags.moveRule("rules-copy", "old", 0);
      assert.deepEqual((await flags.describe("rules-copy"))?.rules.map((x) => x.name), ["old", "de-pros"]);
      assert.equal(await flags.deleteRule("rules-copy", "old"), 1);
      await assert.rejects(flags.moveTargetingRule("rules", "zz", 0), (e: unknown) => e instanceof HanoiError && e.message === "no rule named 'zz'");
      await assert.rejects(flags.isEnabled("rules", "1", { tags: ["a"] as unknown as string }), TypeError);
      await assert.rejects(flags.isEnabled("rules", "1", { id: "x" }), HanoiError); // the module refuses `id`
    });

    test("register, unregister, block, unblock", async () => {
      await flags.define("ids", { percentage: 0 });
      assert.equal(await flags.register("ids", [1, 2, 3]), 3);
      assert.equal(await flags.register("ids", 3), 0);
      assert.equal(await flags.register("ids", /^u/), 1);
      assert.equal(await flags.isEnabled("ids", 2), true);
      assert.equal(await flags.isEnabled("ids", "u7"), true);
      assert.equal(await flags.unregister("ids", [2, /^u/]), 2);
      assert.equal(await flags.isEnabled("ids", 2), false);
      assert.equal(await flags.isEnabled("ids", "u7"), false);
      assert.equal(await flags.block("ids", [1, 5]), 2);
      assert.equal(await flags.isEnabled("ids", 1), false);
      assert.equal((await flags.explain("ids", 1)).reason, "blocked");
      assert.equal(await flags.unblock("ids", 1), 1);
      assert.equal(await flags.isEnabled("ids", 1), true);
      const d = await flags.describe("ids");
      assert.deepEqual([d?.users, d?.blocked, d?.regexes], [2, 1, []]);
      await assert.rejects(flags.register("ids", /a(?=b)/), HanoiError);
    });

    test("ids and iterIds: a page at a time, to the end, MATCH, the blocked list", async () => {
      await flags.define("walk", { percentage: 0 });
      const all = Array.from({ length: 300 }, (_, i) => `id${String(i).padStart(3, "0")}`);
      assert.equal(await flags.register("walk", all), 300);
      const seen: string[] = [];
      for await (const id of flags.iterIds("walk", { count: 50 })) seen.push(id);
      assert.deepEqual([...new Set(seen)].sort(), all);
      const matched = new Set<string>();
      for await (const id of flags.iterIds("walk", { match: "id1*", count: 100 })) matched.add(id);
      assert.deepEqual([...matched].sort(), all.slice(100, 200));
      // one page: the cursor as text, the ids as strings (a number id too)
      await flags.register("walk", 7);
      const page = await flags.ids("walk", { match: "7", count: 10_000 });
      assert.equal(typeof page.cursor, "string");
      assert.ok(page.ids.every((i: string) => i === "7"));
      let cursor = page.cursor;
      const sevens: string[] = [...page.ids];
      while (cursor !== "0") {
        const next = await flags.ids("walk", { match: "7", cursor });
        cursor = next.cursor;
        sevens.push(...next.ids);
      }
      assert.deepEqual(sevens, ["7"]);
      // the blocked list
      assert.equal(await flags.block("walk", ["b1", 2, "id005"]), 3);
      const blocked: string[] = [];
      for await (const id of flags.iterIds("walk", { list: "blocked" })) blocked.push(id);
      assert.deepEqual(blocked.sort(), ["2", "b1", "id005"]);
      // a missing flag: cursor "0" and nothing
      assert.deepEqual(await flags.ids("walk-missing"), { cursor: "0", ids: [] });
      assert.deepEqual(await flags.ids("walk-missing", { list: "blocked", cursor: "0" }), { cursor: "0", ids: [] });
      for await (const id of flags.iterIds("walk-missing")) assert.fail(`a missing flag has no ids (${id})`);
      await assert.rejects(flags.ids("walk", { list: "nope" as "users" }), TypeError);
    });

    test("switch and percentage: enable, disable, toggle, setPercentage", async () => {
      await flags.define("switch", { percentage: 100, enabled: false });
      assert.equal(await flags.isEnabled("switch", "a"), false);
      assert.equal((await flags.explain("switch", "a")).reason, "disabled");
      await flags.enable("switch");
      assert.equal(await flags.isEnabled("switch", "a"), true);
      assert.equal(await flags.toggle("switch"), false);
      assert.equal(await flags.toggle("switch"), true);
      await flags.disable("switch");
      assert.equal(await flags.isEnabled("switch"), false);
      await flags.enable("switch");
      await flags.setPercentage("switch", 0);
      assert.equal((await flags.explain("switch", "44488")).reason, "outside");
      await assert.rejects(flags.setPercentage("switch", 300), (e: unknown) => e instanceof HanoiError && !(e instanceof FlagNotFound) && /percentage/.test(e.message));
    });

    test("schedules: setWindow, setRamp, clearSchedule", async () => {
      await flags.define("sched", { percentage: 100 });
      const future = Date.now() + 3_600_000;
      await flags.setWindow("sched", new Date(future), null);
      assert.equal((await flags.explain("sched", "a")).reason, "inactive");
      assert.deepEqual((await flags.describe("sched"))?.window, { from: future, until: 0 });
      await flags.clearSchedule("sched", "window");
      assert.equal((await flags.explain("sched", "a")).reason, "all");
      await flags.setRamp("sched", { from: 5, to: 100, start: 1000, end: 2000 }); // long over
      const d = await flags.describe("sched");
      assert.deepEqual(d?.ramp, { from: 5, to: 100, start: 1000, end: 2000 });
      assert.equal(d?.effectivePercentage, 100);
      await flags.setRamp("sched", { from: 0, to: 50, start: new Date(future), end: new Date(future + 1000) }); // not begun
      assert.equal((await flags.explain("sched", "a")).percentage, 0);
      await flags.clearSchedule("sched");
      const cleared = await flags.describe("sched");
      assert.deepEqual([cleared?.window, cleared?.ramp], [null, null]);
      await assert.rejects(flags.setWindow("sched", 2000, 1000), HanoiError);
    });

    test("metadata: setMeta, deleteMeta; history; stats", async () => {
      await flags.define("meta", { percentage: 50 });
      assert.equal(await flags.setMeta("meta", { owner: "payments", description: "CDC pipeline", tags: "cdc,backend" }), 3);
      assert.equal(await flags.deleteMeta("meta", "tags"), 1);
      assert.deepEqual((await flags.describe("meta"))?.metadata, { owner: "payments", description: "CDC pipeline" });
      const h = await flags.history("meta");
      assert.equal(h.length, 3);
      assert.deepEqual(h[0]?.command, ["HANOI.META", "DEL", "tags"]);
      assert.equal(h[0]?.user, "default");
      assert.equal(h[0]?.arguments, 2);
      assert.equal(typeof h[0]?.time, "number");
      assert.deepEqual((await flags.history("meta", 1)).length, 1);
      assert.deepEqual(await flags.history("missing"), []);
      await flags.resetStats("meta");
      await flags.isEnabled("meta", "44488");
      await flags.isEnabled("meta", "443301");
      const s = await flags.stats("meta");
      assert.ok(s);
      assert.equal(s.evaluations, 2);
      assert.equal(typeof s.since, "number");
      await flags.define("meta-v", { percentage: 100, variants: ["a"] });
      await flags.variant("meta-v", "x");
      assert.deepEqual((await flags.stats("meta-v"))?.variants, { a: 1 });
      assert.equal(await flags.stats("missing"), null);
    });

    test("statsSeries: 60 minutes and 168 hours of this server's counts", async () => {
      await flags.define("series", { percentage: 0 });
      await flags.register("series", ["a", "b", "c"]);
      await flags.resetStats("series");
      for (const id of ["a", "b", "c", "x", "y"]) await flags.isEnabled("series", id);
      await flags.variant("series", "a"); // a variant's evaluation counts too
      const before = Date.now();
      const s = await flags.statsSeries("series");
      assert.ok(s);
      assert.equal(s.minutes.length, 60);
      assert.equal(s.hours.length, 168);
      const sum = (ps: typeof s.minutes, k: "evaluations" | "enabled") => ps.reduce((n, p) => n + p[k], 0);
      assert.equal(sum(s.minutes, "evaluations"), 6);
      assert.equal(sum(s.hours, "evaluations"), 6);
      assert.equal(sum(s.minutes, "enabled"), 4);
      assert.equal(sum(s.hours, "enabled"), 4);
      assert.equal((await flags.stats("series"))?.evaluations, 6);
      // oldest first, on the minute and the hour (Unix ms, as stats() gives times), the current one last
      s.minutes.forEach((p, i) => {
        assert.equal(typeof p.start, "number");
        assert.equal(p.start % 60_000, 0);
        if (i) assert.equal(p.start - s.minutes[i - 1]!.start, 60_000);
      });
      s.hours.forEach((p, i) => {
        assert.equal(p.start % 3_600_000, 0);
        if (i) assert.equal(p.start - s.hours[i - 1]!.start, 3_600_000);
      });
      assert.ok(s.minutes[59]!.start <= before + 1000 && s.minutes[59]!.start > before - 120_000);
      await flags.resetStats("series");
      assert.equal(sum((await flags.statsSeries("series"))!.minutes, "evaluations"), 0);
      assert.equal(await flags.statsSeries("missing"), null);
    });

    test("enabledMany: one round trip, one answer per flag", async () => {
      await flags.define("many-a", { percentage: 100 });
      await flags.define("many-b", { percentage: 0 });
      await flags.define("WITH", { percentage: 100 });
      assert.deepEqual(await flags.enabledMany(["many-a", "many-b", "many-missing"], "u1"), {
        "many-a": true,
        "many-b": false,
        "many-missing": false,
      });
      await flags.setTargetingRule("many-b", "de", { when: [["country", "EQ", "DE"]] });
      assert.deepEqual(await flags.enabledMany(["many-b"], "u1", { country: "DE" }), { "many-b": true });
      assert.deepEqual(await flags.enabledMany([], "u1"), {});
      // the order of 0.1.0, (id, flags, attributes?), is still taken
      assert.deepEqual(await flags.enabledMany("u1", ["many-a", "many-b"], { country: "DE" }), { "many-a": true, "many-b": true });
      assert.deepEqual(await flags.enabledMany(7, ["many-a"]), { "many-a": true });
    });

    test("names, describe and delete", async () => {
      const names = await flags.names();
      assert.ok(names.includes("cdc_on") && names.includes("many-a"));
      assert.deepEqual(names, [...names].sort());
      assert.ok(names.every((n) => !n.startsWith(prefix)));
      const other = new Hanoi(c.redis, { prefix: `${kind}-other[*]:` });
      await other.define("x");
      assert.deepEqual(await other.names(), ["x"]);
      assert.equal(await other.delete("x"), true);
      assert.equal(await other.delete("x"), false);
      assert.deepEqual(await other.names(), []);
      assert.equal(await flags.describe("nope"), null);
      const d = await flags.describe("cdc_on");
      assert.ok(d);
      assert.equal(d.enabled, true);
      assert.equal(d.percentage, 80);
      assert.deepEqual(d.variants, ["foo", "bar"]);
      assert.equal(d.type, "string");
      assert.equal(d.default, null);
      assert.ok(d.revision > 0 && d.created > 0);
    });

    test("segments and prerequisites: defineSegment, setPrereq, deletePrereq, movePrereq", async () => {
      await flags.defineSegment("beta");
      await flags.register("beta", ["anna", "carl"]);
      await flags.block("beta", "bob");
      await flags.setTargetingRule("beta", "staff", { when: [["email", "SUFFIX", "@example.com"]] });
      await flags.define("payments", { percentage: 0 });
      await flags.register("payments", ["anna", "dora"]);
      await flags.define("checkout", { percentage: 0, variants: ["new", "old"], default: "old" });
      await flags.setTargetingRule("checkout", "betas", { variant: "new", when: [["segment", "IN", ["beta"]]] });
      await flags.setPrereq("checkout", "payments");
      // The segment answers membership; the flag follows it and its prerequisite.
      assert.equal(await flags.isEnabled("beta", "anna"), true);
      assert.equal(await flags.isEnabled("beta", "zed", { email: "zed@example.com" }), true);
      assert.equal(await flags.isEnabled("checkout", "anna"), true);
      assert.deepEqual(await flags.explain("checkout", "carl"), {
        enabled: false,
        variant: "old",
        reason: "prerequisite",
        detail: "payments", // a name: without the prefix
        percentage: 0,
        missing: null,
      });
      assert.deepEqual(await flags.enabledMany(["checkout", "payments"], "carl"), { checkout: false, payments: false });
      await flags.register("beta", "dora"); // a segment's change reaches the flag at once
      assert.equal(await flags.variant("checkout", "dora"), "new");
      // In Redis the references are keys (the prefix in them); through Hanoi, names.
      const raw = description(await flags.connection.send(flags.key("checkout"), true, ["HANOI.GET", flags.key("checkout")]));
      assert.deepEqual(raw?.prerequisites, [{ flag: `${prefix}payments`, variant: null }]);
      assert.deepEqual(raw?.rules[0]?.when, [["segment", "IN", [`${prefix}beta`]]]);
      await flags.define("theme", { percentage: 100, variants: ["dark", "light"] });
      await flags.setPrereq("checkout", "theme", "dark");
      const d = await flags.describe("checkout");
      assert.equal(d?.kind, "flag");
      assert.equal((await flags.describe("beta"))?.kind, "segment");
      assert.deepEqual(d?.prerequisites, [
        { flag: "payments", variant: null },
        { flag: "theme", variant: "dark" },
      ]);
      assert.deepEqual(d?.rules, [{ name: "betas", variant: "new", when: [["segment", "IN", ["beta"]]] }]);
      await flags.movePrereq("checkout", "theme", 0);
      assert.deepEqual((await flags.describe("checkout"))?.prerequisites.map((p) => p.flag), ["theme", "payments"]);
      assert.equal(await flags.deletePrereq("checkout", "theme", "payments", "nothing"), 2);
      assert.deepEqual((await flags.describe("checkout"))?.prerequisites, []);
      // What references refuse.
      await assert.rejects(flags.setPercentage("beta", 50), /a segment has no percentage/);
      await assert.rejects(flags.setPrereq("checkout", "beta"), /is a segment/);
      await flags.setPrereq("checkout", "payments");
      await assert.rejects(flags.setPrereq("payments", "checkout"), /cycle/);
      await assert.rejects(flags.setTargetingRule("checkout", "r", { when: [["segment", "EQ", "payments"]] }), /not a segment/);
      // A deleted segment: its conditions are false, and the answer names it.
      await flags.deletePrereq("checkout", "payments");
      assert.equal(await flags.delete("beta"), true);
      const e = await flags.explain("checkout", "anna");
      assert.deepEqual([e.enabled, e.reason, e.missing], [false, "outside", "beta"]);
    });

    test("errors: FlagNotFound on a write, HanoiError for refusals, connection errors unchanged", async () => {
      const writes: Array<() => Promise<unknown>> = [
        () => flags.register("nope", 1),
        () => flags.unregister("nope", /x/),
        () => flags.block("nope", 1),
        () => flags.unblock("nope", 1),
        () => flags.enable("nope"),
        () => flags.disable("nope"),
        () => flags.toggle("nope"),
        () => flags.setPercentage("nope", 1),
        () => flags.setTargetingRule("nope", "r", { when: [["a", "EQ", "b"]] }),
        () => flags.deleteTargetingRule("nope", "r"),
        () => flags.moveTargetingRule("nope", "r", 0),
        () => flags.setWindow("nope", 0, 0),
        () => flags.setRamp("nope", { from: 0, to: 1, start: 1, end: 2 }),
        () => flags.clearSchedule("nope"),
        () => flags.setMeta("nope", { a: "b" }),
        () => flags.deleteMeta("nope", "a"),
      ];
      for (const w of writes) {
        await assert.rejects(w(), (e: unknown) => e instanceof FlagNotFound && e.flag === "nope" && e.message === "no such flag: nope");
      }
      assert.equal(await flags.isEnabled("nope", 1), false);
      await assert.rejects(flags.define("bad", { variants: ["a", "b"], values: [1, "x"] }), (e: unknown) => e instanceof HanoiError && /two types/.test(e.message));
      assert.equal(await flags.describe("bad"), null);
      await flags.connection.send(prefix + "str", false, ["SET", prefix + "str", "x"]);
      await assert.rejects(flags.enable("str"), (e: unknown) => e instanceof HanoiError && e.message.startsWith("WRONGTYPE"));

      const dead = await client(kind, server.port);
      await dead.close();
      const h = new Hanoi(dead.redis);
      const err = await h.isEnabled("x", 1).then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(err instanceof Error);
      assert.ok(!(err instanceof HanoiError), `${String(err)} is the client's own error`);
    });
  });
}

test("a client that is not a Redis client is refused", () => {
  assert.throws(() => new Hanoi({}), TypeError);
});
