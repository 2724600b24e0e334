// Commissions and decommissions one device N times with one matter.js
// controller and prints each commissioning time (the peer.commission()
// call: PASE, attestation, NOC, CASE, CommissioningComplete and the
// initial wildcard read). Arguments: --address=IP --port=N --runs=N.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=")));
process.env.MATTER_PATH_ROOT ??= mkdtempSync(join(tmpdir(), "mattercam-bench-"));
process.env.MATTER_LOG_LEVEL ??= "error";

const { ServerNode, Seconds, ControllerBehavior } = await import("@matter/main");
const { PeerSet } = await import("@matter/main/protocol");

const ip = args.address ?? "127.0.0.1";
const port = Number(args.port);
const runs = Number(args.runs ?? 5);
const controller = await ServerNode.create({ id: "bench", network: { port: 0 }, commissioning: { enabled: false } });
controller.behaviors.require(ControllerBehavior, { ble: false });
await controller.start();
controller.env.get(PeerSet).added.on((peer) => {
  peer.descriptor.operationalAddress ??= { type: "udp", ip, port };
});
const times = [];
let code = 0;
try {
  for (let i = 0; i < runs; i++) {
    const peer = await controller.peers.forDescriptor({ addresses: [{ type: "udp", ip, port }] });
    const t0 = performance.now();
    await peer.commission({ passcode: 20202021, timeout: Seconds(60) });
    times.push(performance.now() - t0);
    await peer.decommission();
    await new Promise((r) => setTimeout(r, 500)); // the device reopens its window
  }
} catch (e) {
  process.stderr.write(String(e?.stack ?? e) + "\n");
  code = 1;
} finally {
  await controller.close();
}
process.stdout.write(JSON.stringify({ step: "bench", ok: code === 0, value: times }) + "\n");
process.exit(code);
