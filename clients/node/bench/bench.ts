/**
 * make bench (a script, not a test), two measurements side by side:
 *
 * - checks per second of `isEnabled` against a plain `GET` through the same
 *   client, ioredis and node-redis. Goal: isEnabled >= 0.8x GET.
 * - when HANOI_WEB names the hanoi-web binary: evaluations per second of
 *   `getBooleanDetails` through the OpenFeature server SDK with HanoiProvider
 *   against @openfeature/ofrep-provider asking hanoi-web (started here, on the
 *   same redis-server), the same flag. Goal: the provider >= 2x OFREP.
 *
 * Each measurement keeps CONCURRENCY calls in flight for SECONDS; the two of a
 * pair alternate and the best round of each counts.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { OFREPProvider } from "@openfeature/ofrep-provider";
import { OpenFeature } from "@openfeature/server-sdk";

import { Hanoi } from "../src/index.js";
import { HanoiProvider } from "../src/openfeature.js";
import { Server, client, freePort } from "../test/server.js";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WEB = process.env.HANOI_WEB;

async function rate(call: (i: number) => Promise<unknown>): Promise<number> {
  const end = Date.now() + SECONDS * 1000;
  let n = 0;
  const start = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      for (let i = w; Date.now() < end; i += CONCURRENCY) {
        await call(i);
        n++;
      }
    }),
  );
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  return n / secs;
}

async function isEnabledVsGet(server: Server): Promise<void> {
  console.log(`\nisEnabled vs GET through the same client`);
  console.log("client        GET/s    isEnabled/s   ratio");
  for (const kind of ["ioredis", "node-redis"] as const) {
    const c = await client(kind, server.port);
    const flags = new Hanoi(c.redis);
    await flags.define("bench", { percentage: 50 });
    await flags.connection.send("plain", false, ["SET", "plain", "x"]);
    let get = 0;
    let enabled = 0;
    for (let r = 0; r < ROUNDS; r++) {
      get = Math.max(get, await rate(() => c.redis.get("plain")));
      enabled = Math.max(enabled, await rate((i) => flags.isEnabled("bench", `u${i}`)));
    }
    console.log(`${kind.padEnd(12)} ${get.toFixed(0).padStart(7)}   ${enabled.toFixed(0).padStart(9)}     ${(enabled / get).toFixed(2)}x`);
    await c.close();
  }
}

const API_KEY = "bench-key-0123456789abcdef";

/** hanoi-web on a free port in front of `server`, an API key for every flag. */
async function startWeb(binary: string, server: Server): Promise<{ base: string; stop: () => Promise<void> }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "hanoi-node-bench-"));
  const config = path.join(dir, "hanoi-web.toml");
  writeFileSync(config, `[[api_key]]\nkey = "${API_KEY}"\nprefix = ""\n`);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc: ChildProcess = spawn(
    binary,
    ["--redis", `redis://127.0.0.1:${server.port}`, "--listen", `127.0.0.1:${port}`, "--config", config],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  const stop = async () => {
    if (proc.exitCode === null) {
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; ; i++) {
    if (proc.exitCode !== null) throw new Error(`${binary} exited (${proc.exitCode})`);
    try {
      if ((await fetch(`${base}/healthz`)).ok) return { base, stop };
    } catch {
      /* not yet */
    }
    if (i > 600) {
      await stop();
      throw new Error(`${binary} did not answer on ${base}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The same flag through the SDK: HanoiProvider (ioredis) against OFREPProvider
 * asking hanoi-web. The flag is on for everyone (OFREPProvider 0.1.3 takes an
 * answer without a value for an error); every answer is checked. */
async function providerVsOfrep(server: Server): Promise<void> {
  if (!WEB) {
    console.log("\nHanoiProvider vs OFREP: skipped (HANOI_WEB does not name the hanoi-web binary)");
    return;
  }
  const web = await startWeb(WEB, server);
  const c = await client("ioredis", server.port);
  try {
    const flags = new Hanoi(c.redis);
    await flags.connection.send(undefined, false, ["CONFIG", "SET", "notify-keyspace-events", "Kgxd"]); // the provider's events, as deployed
    await flags.define("bench-of", { percentage: 100 });
    await flags.setTargetingRule("bench-of", "de", { when: [["country", "EQ", "DE"]] });
    await OpenFeature.setProviderAndWait("hanoi", new HanoiProvider(flags));
    await OpenFeature.setProviderAndWait("ofrep", new OFREPProvider({ baseUrl: web.base, headers: { "X-API-Key": API_KEY } }));
    const clients = { hanoi: OpenFeature.getClient("hanoi"), ofrep: OpenFeature.getClient("ofrep") };
    let wrong = 0;
    const evaluate = (of: (typeof clients)["hanoi"]) => async (i: number) => {
      const d = await of.getBooleanDetails("bench-of", false, { targetingKey: `u${i}`, country: "FR" });
      if (d.value !== true || d.errorCode !== undefined) wrong++;
    };
    for (const of of Object.values(clients)) {
      const d = await of.getBooleanDetails("bench-of", false, { targetingKey: "u1", country: "FR" });
      if (d.value !== true || d.reason !== "STATIC") throw new Error(`unexpected answer: ${JSON.stringify(d)}`);
    }
    let hanoi = 0;
    let ofrep = 0;
    for (let r = 0; r < ROUNDS; r++) {
      hanoi = Math.max(hanoi, await rate(evaluate(clients.hanoi)));
      ofrep = Math.max(ofrep, await rate(evaluate(clients.ofrep)));
    }
    if (wrong > 0) throw new Error(`${wrong} evaluations did not answer true without an error`);
    console.log(`\nHanoiProvider vs OFREPProvider (hanoi-web), getBooleanDetails through the SDK, one flag`);
    console.log("OFREP/s    HanoiProvider/s   ratio   (goal >= 2x)");
    console.log(`${ofrep.toFixed(0).padStart(7)}   ${hanoi.toFixed(0).padStart(13)}     ${(hanoi / ofrep).toFixed(2)}x`);
  } finally {
    await OpenFeature.close();
    await c.close();
    await web.stop();
  }
}

async function main(): Promise<void> {
  const server = await Server.start();
  console.log(`hanoi-redis benchmark: ${CONCURRENCY} calls in flight, ${ROUNDS}x${SECONDS} s each, best round`);
  console.log(`${new Date().toISOString()}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), node ${process.version}`);
  try {
    await isEnabledVsGet(server);
    await providerVsOfrep(server);
  } finally {
    await server.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
