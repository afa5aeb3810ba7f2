/** redis-server (or HANOI_SERVER, e.g. Valkey) with the hanoi module, on a
 * free port, started and stopped by the tests; Redis clients of each kind. */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";

import IORedis, { Cluster } from "ioredis";
import IORedis5, { Cluster as Cluster5 } from "ioredis5";
import { createClient, createCluster } from "redis";
import { createClient as createClient4, createCluster as createCluster4 } from "redis4";

export const ROOT = path.resolve(__dirname, "../../../..");
export const MODULE = process.env.HANOI_MODULE ?? path.join(ROOT, "target/release/libhanoi.so");
export const BINARY = process.env.HANOI_SERVER || "redis-server";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** One raw command over RESP, for the harness (no client library). */
export function rawCommand(port: number, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, "127.0.0.1");
    let data = "";
    sock.on("error", reject);
    // Something other than a Redis server on the port: its answer, or none.
    sock.setTimeout(2000, () => sock.destroy(new Error("no answer")));
    sock.on("close", () => resolve(data));
    sock.on("connect", () => {
      sock.write(`*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(""));
    });
    sock.on("data", (d) => {
      data += d.toString();
      if (data.endsWith("\r\n")) {
        sock.end();
        resolve(data);
      }
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Server {
  private proc: ChildProcess | undefined;
  constructor(
    readonly port: number,
    private readonly extra: string[] = [],
    /** Load the module (false: a plain server). */
    private readonly module = true,
  ) {}

  /** On a free port. Test files run in parallel: when another one's
   * process took the port first, this server exits and starts again on a
   * new port. */
  static async start(extra: string[] = [], module = true): Promise<Server> {
    for (let attempt = 1; ; attempt++) {
      const s = new Server(await freePort(), extra, module);
      try {
        await s.start();
        return s;
      } catch (e) {
        await s.stop();
        if (attempt === 5) throw e;
      }
    }
  }

  async start(): Promise<void> {
    const load = this.module ? ["--loadmodule", MODULE] : [];
    const args = ["--port", String(this.port), "--bind", "127.0.0.1", ...load, "--save", "", "--appendonly", "no", ...this.extra];
    const proc = spawn(BINARY, args, { stdio: ["ignore", "ignore", "inherit"] });
    this.proc = proc;
    for (let i = 0; i < 400; i++) {
      if (proc.exitCode !== null) throw new Error(`${BINARY} exited (${proc.exitCode}): is ${MODULE} built?`);
      try {
        // Ours, not another process on the same port: INFO's process_id.
        if ((await rawCommand(this.port, ["INFO", "server"])).includes(`process_id:${proc.pid}\r\n`)) return;
      } catch {
        /* not yet */
      }
      await sleep(25);
    }
    throw new Error(`${BINARY} did not answer on port ${this.port}`);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once("exit", r));
    p.kill("SIGKILL");
    await exited;
  }
}

export interface Client {
  redis: any;
  close(): Promise<void>;
}

/** The oldest versions the package claims (ioredis 5, node-redis 4: RESP2
 * only) beside the current ones, installed as npm aliases. */
function ioredis(Redis: new (options: object) => IORedis | IORedis5, port: number): Client {
  const redis = new Redis({ port, host: "127.0.0.1", maxRetriesPerRequest: 1 });
  redis.on("error", () => {}); // ioredis 5 prints the errors nobody listens to (a server restart)
  return { redis, close: async () => redis.disconnect() };
}

async function ioredisCluster(C: new (nodes: object[]) => Cluster | Cluster5, ports: number[]): Promise<Client> {
  const redis: any = new C(ports.map((port) => ({ host: "127.0.0.1", port })));
  await new Promise<void>((resolve, reject) => {
    redis.once("ready", () => resolve());
    redis.once("error", reject);
  });
  return { redis, close: async () => redis.disconnect() };
}

/** node-redis 5 and later close with `destroy()`, 4 with `disconnect()`. */
async function nodeRedis(redis: any): Promise<Client> {
  redis.on("error", () => {});
  await redis.connect();
  return { redis, close: async () => void (typeof redis.destroy === "function" ? redis.destroy() : await redis.disconnect()) };
}

const reconnectStrategy = (n: number) => Math.min(50 * 2 ** n, 500);

const CLIENTS = {
  ioredis: {
    standalone: async (port: number) => ioredis(IORedis, port),
    cluster: (ports: number[]) => ioredisCluster(Cluster, ports),
  },
  ioredis5: {
    standalone: async (port: number) => ioredis(IORedis5, port),
    cluster: (ports: number[]) => ioredisCluster(Cluster5, ports),
  },
  "node-redis": {
    standalone: (port: number) => nodeRedis(createClient({ socket: { port, host: "127.0.0.1", reconnectStrategy } })),
    cluster: (ports: number[]) => nodeRedis(createCluster({ rootNodes: ports.map((port) => ({ socket: { host: "127.0.0.1", port } })) })),
  },
  "node-redis-resp2": {
    standalone: (port: number) => nodeRedis(createClient({ socket: { port, host: "127.0.0.1", reconnectStrategy }, RESP: 2 })),
    cluster: undefined,
  },
  redis4: {
    standalone: (port: number) => nodeRedis(createClient4({ socket: { port, host: "127.0.0.1", reconnectStrategy } })),
    cluster: (ports: number[]) => nodeRedis(createCluster4({ rootNodes: ports.map((port) => ({ socket: { host: "127.0.0.1", port } })) })),
  },
};

/** The clients each test runs with: ioredis 6 and 5, node-redis 6 (RESP3 and
 * RESP2) and 4. */
export const KINDS = Object.keys(CLIENTS) as Kind[];
export type Kind = keyof typeof CLIENTS;
/** Those with a cluster client. */
export const CLUSTER_KINDS = KINDS.filter((k) => CLIENTS[k].cluster !== undefined);

export function client(kind: Kind, port: number): Promise<Client> {
  return CLIENTS[kind].standalone(port);
}

/** Three primaries with the module (Redis refuses cluster ports above 55535:
 * the bus is port + 10000, so the ports are picked here). */
export class TestCluster {
  readonly servers: Server[] = [];
  private dir = "";

  async start(): Promise<void> {
    this.dir = mkdtempSync(path.join(tmpdir(), "hanoi-node-cluster-"));
    const ports: number[] = [];
    // A port found free may be taken before the node binds it: that node
    // exits, and another port is tried.
    for (let failures = 0; ports.length < 3; ) {
      const p = 20000 + Math.floor(Math.random() * 25000);
      if (ports.includes(p) || !(await portIsFree(p)) || !(await portIsFree(p + 10000))) continue;
      const s = new Server(p, ["--cluster-enabled", "yes", "--dir", this.dir, "--cluster-config-file", `nodes-${p}.conf`]);
      try {
        await s.start();
      } catch (e) {
        await s.stop();
        if (++failures === 5) throw e;
        continue;
      }
      this.servers.push(s);
      ports.push(p);
    }
    execFileSync("redis-cli", ["--cluster", "create", ...ports.map((p) => `127.0.0.1:${p}`), "--cluster-yes"], { stdio: "ignore" });
    for (const p of ports) {
      for (let i = 0; ; i++) {
        if ((await rawCommand(p, ["CLUSTER", "INFO"])).includes("cluster_state:ok")) break;
        if (i > 400) throw new Error("the cluster did not come up");
        await sleep(25);
      }
    }
  }

  get ports(): number[] {
    return this.servers.map((s) => s.port);
  }

  async stop(): Promise<void> {
    for (const s of this.servers) await s.stop();
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}

export function clusterClient(kind: Kind, ports: number[]): Promise<Client> {
  const make = CLIENTS[kind].cluster;
  if (!make) throw new Error(`${kind} has no cluster client here`);
  return make(ports);
}
