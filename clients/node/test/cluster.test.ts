/** Hanoi over a 3-primary cluster, with ioredis's Cluster and node-redis's
 * createCluster (the current versions and the oldest claimed). */

import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";

import { OpenFeature } from "@openfeature/server-sdk";

import { keySlot } from "../src/client.js";
import { FlagNotFound, Hanoi } from "../src/index.js";
import { HanoiProvider } from "../src/openfeature.js";
import { CLUSTER_KINDS, type Client, TestCluster, clusterClient, rawCommand } from "./server.js";

let cluster: TestCluster;

/** How many MOVED redirections each primary answered so far. */
function moved(): Promise<number[]> {
  return Promise.all(
    cluster.ports.map(async (p) => Number(/errorstat_MOVED:count=(\d+)/.exec(await rawCommand(p, ["INFO", "errorstats"]))?.[1] ?? 0)),
  );
}
before(async () => {
  cluster = new TestCluster();
  await cluster.start();
});
after(async () => {
  await cluster?.stop();
});

test("keySlot is the server's CLUSTER KEYSLOT", async () => {
  for (const k of ["flag0", "ioredis:flag7", "{page}a", "a{}b", "{}x{y}", "é{ü}"]) {
    assert.equal(keySlot(k), Number((await rawCommand(cluster.ports[0]!, ["CLUSTER", "KEYSLOT", k])).slice(1)), k);
  }
});

for (const kind of CLUSTER_KINDS) {
  describe(`a cluster over ${kind}`, () => {
    let c: Client;
    let flags: Hanoi;
    before(async () => {
      c = await clusterClient(kind, cluster.ports);
      flags = new Hanoi(c.redis, { prefix: `${kind}:` });
    });
    after(async () => {
      await c.close();
    });

    test("reads and writes on every primary, names from every primary", async () => {
      const movedBefore = await moved();
      const names = [...Array.from({ length: 12 }, (_, i) => `flag${i}`), "{page}a", "{page}b"];
      for (const n of names) await flags.define(n, { percentage: 50, variants: ["foo", "bar"] });
      assert.equal(await flags.register("flag0", /01$/), 1);
      assert.equal(await flags.isEnabled("flag0", "443301"), true);
      assert.equal(await flags.isEnabled("flag0", "44488"), false);
      assert.equal(await flags.variant("flag1", "443301"), "bar");
      assert.equal((await flags.explain("flag2", "44488")).reason, "outside");
      assert.equal((await flags.resolve("flag3")).reason, "needs_id");
      await flags.setTargetingRule("flag4", "de", { when: [["country", "EQ", "DE"]] });
      assert.equal(await flags.isEnabled("flag4", "44488", { country: "DE" }), true);
      await flags.setMeta("flag5", { owner: "me" });
      assert.equal((await flags.describe("flag5"))?.metadata.owner, "me");
      assert.equal((await flags.history("flag5", 1))[0]?.command[0], "HANOI.META");
      assert.deepEqual(await flags.enabledMany(["{page}a", "{page}b"], "2"), { "{page}a": true, "{page}b": true });
      assert.deepEqual(await flags.names(), [...names].sort());
      assert.equal(await flags.delete("flag11"), true);
      assert.equal((await flags.names()).includes("flag11"), false);
      await assert.rejects(flags.enable("flag11"), FlagNotFound);
      // the flags' keys are spread over the three primaries
      for (const p of cluster.ports) {
        const size = Number((await rawCommand(p, ["DBSIZE"])).slice(1));
        assert.ok(size > 0, `primary ${p} holds no flag`);
      }
      // each command went to its slot's primary at once: no MOVED redirection
      assert.deepEqual(await moved(), movedBefore);
    });

    test("the OpenFeature provider over a cluster client (no events)", async () => {
      await flags.define("of", { percentage: 100, variants: ["x"] });
      await OpenFeature.setProviderAndWait(`cluster-${kind}`, new HanoiProvider(flags));
      try {
        const d = await OpenFeature.getClient(`cluster-${kind}`).getStringDetails("of", "y", { targetingKey: "1" });
        assert.deepEqual([d.value, d.reason], ["x", "STATIC"]);
      } finally {
        await OpenFeature.clearProviders();
      }
    });
  });
}
