// matter.js (the independent controller) commissions a mattercam device at a
// known address and drives it. Arguments: --address=IP --port=N
// --passcode=N [--steps=a,b,c]. One JSON object per line on stdout, so the
// Go test can assert each step; exit code 0 only if every step passed.
//
// Flags avoid matter.js's own --storage/--log/--mdns/--network/--path
// prefixes (controller.md §6.2).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=")));
process.env.MATTER_PATH_ROOT ??= mkdtempSync(join(tmpdir(), "mattercam-controller-"));
process.env.MATTER_LOG_LEVEL ??= "warn";
process.env.MATTER_LOG_FORMAT ??= "plain";

const out = (o) => process.stdout.write(JSON.stringify(o, (_, v) => (typeof v === "bigint" ? v.toString() : v)) + "\n");
const step = async (name, fn) => {
  const t0 = performance.now();
  try {
    const value = await fn();
    out({ step: name, ok: true, ms: Math.round(performance.now() - t0), value });
  } catch (e) {
    out({ step: name, ok: false, ms: Math.round(performance.now() - t0), error: String(e?.stack ?? e) });
    throw e;
  }
};

const { ServerNode, Seconds, ControllerBehavior } = await import("@matter/main");
const { PeerSet, Read } = await import("@matter/main/protocol");
const { BasicInformation } = await import("@matter/main/clusters/basic-information");
const { BasicInformationClient } = await import("@matter/main/behaviors/basic-information");

const ip = args.address ?? "127.0.0.1";
const port = Number(args.port ?? 5540);
const passcode = Number(args.passcode ?? 20202021);

const controller = await ServerNode.create({
  id: "controller",
  network: { port: 0 },
  commissioning: { enabled: false },
});
controller.behaviors.require(ControllerBehavior, { ble: false });
await controller.start();
// Seed the operational address for the CASE reconnect (controller.md §1).
controller.env.get(PeerSet).added.on((peer) => {
  peer.descriptor.operationalAddress ??= { type: "udp", ip, port };
});

// The kill test waits for this line before it starts the clock.
out({ step: "ready", ok: true, ms: 0 });
const only = args.steps ? new Set(args.steps.split(",")) : null;
const want = (name) => !only || only.has(name);

let failed = false;
try {
  const options = {
    passcode,
    timeout: Seconds(60),
    onAttestationFailure: (f) => f.every((x) => x.level !== "error") || "attestation errors",
  };
  let peer;
  await step("commission", async () => {
    if (args.discriminator) {
      // Discovery of _matterc._udp by long discriminator over mDNS.
      peer = await controller.peers.commission({ ...options, discriminator: Number(args.discriminator) });
    } else {
      peer = await controller.peers.forDescriptor({ addresses: [{ type: "udp", ip, port }] });
      await peer.commission(options);
    }
    return peer.peerAddress;
  });
  if (want("read-basic")) await step("read-basic", async () => {
    const values = {};
    for await (const chunk of peer.interaction.read(
      Read(Read.Attribute({ endpoint: 0, cluster: BasicInformation, attributes: ["vendorId", "productId", "vendorName", "productName", "nodeLabel"] })),
    ))
      for await (const r of chunk) if (r.kind === "attr-value") values[r.path.attributeId] = r.value;
    return values;
  });
  if (want("cached-state")) await step("cached-state", async () => peer.stateOf(BasicInformationClient).productName);
  if (want("decommission")) await step("decommission", async () => peer.decommission());
} catch {
  failed = true;
} finally {
  await controller.close();
}
process.exit(failed ? 1 : 0);
