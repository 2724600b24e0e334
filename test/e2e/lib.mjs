// Shared plumbing of the scenario scripts (nodelabel.mjs, badpasscode.mjs,
// acl.mjs, twofabrics.mjs), following commission.mjs's conventions: flags
// --address=IP --port=N --passcode=N, one JSON object per line on stdout,
// exit code 0 only if every step passed.
//
// Import this module first: it sets MATTER_PATH_ROOT and the log settings
// before @matter/main is loaded (controller.md §6.1). A caller that wants
// to keep the controller's storage across runs sets MATTER_PATH_ROOT
// itself (the Go test does).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=")));
process.env.MATTER_PATH_ROOT ??= mkdtempSync(join(tmpdir(), "mattercam-controller-"));
process.env.MATTER_LOG_LEVEL ??= "warn";
process.env.MATTER_LOG_FORMAT ??= "plain";

export const ip = args.address ?? "127.0.0.1";
export const port = Number(args.port ?? 5540);
export const passcode = Number(args.passcode ?? 20202021);

const json = (o) => JSON.stringify(o, (_, v) => (typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v));
export const out = (o) => process.stdout.write(json(o) + "\n");

// step runs fn as one named step; a failure is printed and rethrown.
export async function step(name, fn) {
  const t0 = performance.now();
  try {
    const value = await fn();
    out({ step: name, ok: true, ms: Math.round(performance.now() - t0), value });
    return value;
  } catch (e) {
    out({ step: name, ok: false, ms: Math.round(performance.now() - t0), error: String(e?.stack ?? e) });
    throw e;
  }
}

// check throws unless cond holds; the message says what was seen.
export function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

// withTimeout rejects when p takes longer than ms.
export function withTimeout(p, ms, what) {
  let timer;
  return Promise.race([
    p,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export const matter = await import("@matter/main");
export const protocol = await import("@matter/main/protocol");

// newController starts a controller ServerNode with its own storage (named
// by id under MATTER_PATH_ROOT) that seeds the device's operational address
// for CASE, as commission.mjs does (controller.md §1).
export async function newController(id = "controller") {
  const { ServerNode, ControllerBehavior } = matter;
  const node = await ServerNode.create({ id, network: { port: 0 }, commissioning: { enabled: false } });
  node.behaviors.require(ControllerBehavior, { ble: false });
  node.env.get(protocol.PeerSet).added.on((peer) => {
    peer.descriptor.operationalAddress ??= { type: "udp", ip, port };
  });
  await node.start();
  return node;
}

// commission commissions the device at the known address with pc.
export async function commission(controller, pc = passcode, timeoutSeconds = 60) {
  const peer = await controller.peers.forDescriptor({ addresses: [{ type: "udp", ip, port }] });
  await peer.commission({
    passcode: pc,
    timeout: matter.Seconds(timeoutSeconds),
    onAttestationFailure: (f) => f.every((x) => x.level !== "error") || "attestation errors",
  });
  return peer;
}

// decommission removes the controller's fabric from the device
// (RemoveFabric). matter.js 0.17.9 sometimes fails AFTER the device
// accepted RemoveFabric, when clearing its own peer record collides with
// another transaction on that record (SynchronousTransactionConflictError
// "Cannot lock ….commissioning.state synchronously", seen when the device's
// DNS-SD goodbye or a subscription report lands at the same moment). That
// is the controller's local bookkeeping, not the device: it is reported,
// not failed, and every caller verifies the removal on the device side
// (the Go test's log checks, or a read by another fabric).
export async function decommission(peer) {
  try {
    await peer.decommission();
    return "removed";
  } catch (e) {
    if (e?.constructor?.name === "SynchronousTransactionConflictError" || /Cannot lock .* synchronously/.test(String(e))) {
      return `removed; matter.js local state conflict afterwards: ${e.message}`;
    }
    throw e;
  }
}

// readAttrs reads attributes of one cluster on one endpoint over the wire:
// {attributeName: value} for values, {attributeName: {status}} for
// attribute statuses. fabricFiltered defaults to true.
export async function readAttrs(peer, endpoint, cluster, attributes, fabricFiltered = true) {
  const { Read } = protocol;
  const names = Object.fromEntries(Object.entries(cluster.attributes).map(([n, a]) => [a.id, n]));
  const values = {};
  for await (const chunk of peer.interaction.read(Read({ fabricFilter: fabricFiltered }, Read.Attribute({ endpoint, cluster, attributes }))))
    for await (const r of chunk) {
      const name = names[r.path.attributeId] ?? r.path.attributeId;
      if (r.kind === "attr-value") values[name] = r.value;
      else if (r.kind === "attr-status") values[name] = { status: r.status, clusterStatus: r.clusterStatus };
    }
  return values;
}

// writeAttr writes one attribute and returns [{status, clusterStatus}] of
// the response (one per attribute path written).
export async function writeAttr(peer, endpoint, cluster, attribute, value) {
  const { Write } = protocol;
  const res = await peer.interaction.write(Write(Write.Attribute({ endpoint, cluster, attributes: [attribute], value })));
  return res.map((r) => ({ status: r.status, clusterStatus: r.clusterStatus, path: r.path }));
}

// run runs body(ctx) and exits 0 if it completed, 1 if it threw; the
// controllers it registered with ctx.closeLater are closed either way.
export async function run(body) {
  const closers = [];
  let failed = false;
  try {
    await body({ closeLater: (n) => closers.push(n) });
  } catch {
    failed = true;
  } finally {
    for (const n of closers.reverse()) {
      try {
        await withTimeout(n.close(), 10000, "close");
      } catch (e) {
        out({ step: "close", ok: false, error: String(e) });
        failed = true;
      }
    }
  }
  process.exit(failed ? 1 : 0);
}
