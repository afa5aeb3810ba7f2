/**
 * make bench (a script, not a test): checks per second of `isEnabled` against a
 * plain `GET` through the same client, ioredis and node-redis, side by side.
 * Each measurement keeps CONCURRENCY calls in flight for SECONDS; the two
 * alternate and the best round of each counts. Goal: isEnabled >= 0.8x GET.
 */

import * as os from "node:os";

import { Hanoi } from "../src/index.js";
import { Server, client } from "../test/server.js";

const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

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

async function main(): Promise<void> {
  const server = await Server.start();
  console.log(`hanoi-redis: isEnabled vs GET, ${CONCURRENCY} calls in flight, ${ROUNDS}x${SECONDS} s each`);
  console.log(`${new Date().toISOString()}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), node ${process.version}`);
  console.log("client        GET/s    isEnabled/s   ratio");
  try {
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
  } finally {
    await server.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
