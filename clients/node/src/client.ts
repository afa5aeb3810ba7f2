/**
 * The Redis clients hanoi accepts, behind one small interface: ioredis (>= 5,
 * `Redis` and `Cluster`) and node-redis (>= 4, `createClient` and
 * `createCluster`). Nothing is imported from either: they are told apart by
 * their shape.
 */

export type Arg = string | Buffer;

/** What hanoi needs from a Redis client. */
export interface Connection {
  readonly kind: "ioredis" | "node-redis";
  readonly cluster: boolean;
  /** Sends one command; `key` routes it in a cluster. */
  send(key: Arg | undefined, readonly: boolean, args: Arg[]): Promise<unknown>;
  /** Every key matching `match` of the type, on every primary. */
  scan(match: string, type: string): Promise<string[]>;
  /** The logical database of a standalone client (0 in a cluster). */
  db(): number;
  /** The client the application passed in. */
  readonly client: any;
}

/** Is `client` an ioredis `Redis` or `Cluster`? */
function isIoredis(client: any): boolean {
  return typeof client?.call === "function" && typeof client?.sendCommand === "function" && "status" in client;
}

/** node-redis's cluster: `masters` and `nodeClient()` from 4.6 on, `getMasters()`
 * (nodes with their connected `client`) before. */
function isNodeRedisCluster(client: any): boolean {
  return (
    typeof client?.sendCommand === "function" &&
    ((typeof client?.nodeClient === "function" && "masters" in client) || typeof client?.getMasters === "function")
  );
}

/** A node-redis cluster's primaries, each as a client. */
async function nodeRedisMasters(client: any): Promise<any[]> {
  if (typeof client.nodeClient === "function" && "masters" in client) {
    return Promise.all((client.masters as any[]).map((m) => client.nodeClient(m)));
  }
  return (client.getMasters() as any[]).map((m) => m.client);
}

function isNodeRedis(client: any): boolean {
  return typeof client?.sendCommand === "function" && "isOpen" in client;
}

async function scanNode(
  run: (args: Arg[]) => Promise<unknown>,
  match: string,
  type: string,
  out: string[],
): Promise<void> {
  let cursor = "0";
  do {
    const reply = (await run(["SCAN", cursor, "MATCH", match, "COUNT", "1000", "TYPE", type])) as [unknown, unknown[]];
    cursor = String(reply[0]);
    for (const k of reply[1]) out.push(String(k));
  } while (cursor !== "0");
}

/** CRC16 (XMODEM), Redis Cluster's key hash. */
function crc16(data: Buffer): number {
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** A key's cluster slot (a `{hash tag}` counts alone). */
export function keySlot(key: Arg): number {
  let k = Buffer.isBuffer(key) ? key : Buffer.from(key);
  const open = k.indexOf(0x7b); // {
  if (open >= 0) {
    const close = k.indexOf(0x7d, open + 1); // }
    if (close > open + 1) k = k.subarray(open + 1, close);
  }
  return crc16(k) % 16384;
}

/** ioredis's Cluster routes by the keys it knows of a command and knows none
 * of a module's (it would send them anywhere and follow MOVED): each command
 * goes to its key's primary from the cluster's slot map; a MOVED or ASK
 * answer (a resharding) goes through the Cluster, which follows it. */
function clusterSend(client: any): Connection["send"] {
  return (key, _readonly, args) => {
    const nodeKey = key === undefined ? undefined : client.slots?.[keySlot(key)]?.[0];
    const node = nodeKey === undefined ? undefined : client.connectionPool?.getInstanceByKey?.(nodeKey);
    if (!node) return client.call.apply(client, args);
    return node.call.apply(node, args).catch((e: unknown) => {
      if (e instanceof Error && /^(MOVED|ASK) /.test(e.message)) return client.call.apply(client, args);
      throw e;
    });
  };
}

export function connect(client: any): Connection {
  if (isIoredis(client)) {
    const cluster = client.isCluster === true;
    return {
      kind: "ioredis",
      cluster,
      client,
      send: cluster ? clusterSend(client) : (_key, _readonly, args) => client.call.apply(client, args),
      async scan(match, type) {
        const out: string[] = [];
        const nodes: any[] = cluster ? client.nodes("master") : [client];
        for (const n of nodes) await scanNode((a) => n.call(a[0], ...a.slice(1)), match, type, out);
        return out;
      },
      db: () => (cluster ? 0 : Number(client.options?.db ?? 0)),
    };
  }
  if (isNodeRedisCluster(client)) {
    return {
      kind: "node-redis",
      cluster: true,
      client,
      send: (key, readonly, args) => client.sendCommand(key, readonly, args),
      async scan(match, type) {
        const out: string[] = [];
        for (const node of await nodeRedisMasters(client)) await scanNode((a) => node.sendCommand(a), match, type, out);
        return out;
      },
      db: () => 0,
    };
  }
  if (isNodeRedis(client)) {
    return {
      kind: "node-redis",
      cluster: false,
      client,
      send: (_key, _readonly, args) => client.sendCommand(args),
      async scan(match, type) {
        const out: string[] = [];
        await scanNode((a) => client.sendCommand(a), match, type, out);
        return out;
      },
      db: () => Number(client.options?.database ?? 0),
    };
  }
  throw new TypeError("hanoi-redis needs an ioredis (Redis, Cluster) or a node-redis (createClient, createCluster) client");
}
