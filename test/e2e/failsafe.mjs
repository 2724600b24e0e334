// Scenario: an expired fail-safe rolls back a half-done commissioning
// (Core §11.10.7.2.2). Controller A runs matter.js's commissioning flow
// over PASE (ArmFailSafe, CSRRequest, AddTrustedRootCertificate, AddNOC,
// ...) but never connects over CASE nor sends CommissioningComplete: its
// finalizeCommissioning hook does nothing. The device's fail-safe (armed
// for BasicCommissioningInfo.FailSafeExpiryLengthSeconds, which the Go
// test sets short with -failsafe-expiry) then expires and must remove the
// fabric, NOC, root and ACL entries A added. Controller B then commissions
// the same device with the same passcode and sees exactly one fabric, its
// own, and an ACL of its own only.
//
// Flags: --address --port --passcode, --wait-ms (how long to wait for the
// expiry after A's half-done commissioning).
import { args, check, commission, decommission, ip, matter, newController, passcode, port, readAttrs, run, step } from "./lib.mjs";

const { OperationalCredentials } = await import("@matter/main/clusters/operational-credentials");
const { AccessControl } = await import("@matter/main/clusters/access-control");
const { GeneralCommissioning } = await import("@matter/main/clusters/general-commissioning");
const waitMs = Number(args["wait-ms"] ?? 6000);
const js = (o) => JSON.stringify(o, (_, v) => (typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? `${v.length} bytes` : v));

await run(async ({ closeLater }) => {
  const a = await newController("a");
  closeLater(a);
  await step("a-half-commission", async () => {
    const peer = await a.peers.forDescriptor({ addresses: [{ type: "udp", ip, port }] });
    let finalized = false;
    await peer.commission({
      passcode,
      timeout: matter.Seconds(60),
      autoSubscribe: false,
      autoStateInitialize: false,
      onAttestationFailure: (f) => f.every((x) => x.level !== "error") || "attestation errors",
      finalizeCommissioning: async () => {
        finalized = true; // and nothing else: no CASE, no CommissioningComplete
      },
    });
    check(finalized, "matter.js did not reach the final step");
    return "AddNOC done, CommissioningComplete withheld";
  });
  await step("wait-expiry", async () => {
    await new Promise((r) => setTimeout(r, waitMs));
    return waitMs;
  });

  const b = await newController("b");
  closeLater(b);
  let peer, deviceFabric;
  await step("b-commission", async () => {
    peer = await commission(b);
    return peer.peerAddress;
  });
  await step("b-one-fabric", async () => {
    const v = await readAttrs(peer, 0, OperationalCredentials, ["fabrics", "commissionedFabrics", "trustedRootCertificates", "nocs"], false);
    check(v.commissionedFabrics === 1, `commissionedFabrics ${v.commissionedFabrics}`);
    check(v.fabrics.length === 1 && BigInt(v.fabrics[0].nodeId) === BigInt(peer.peerAddress.nodeId), `fabrics ${js(v.fabrics)}`);
    deviceFabric = v.fabrics[0].fabricIndex;
    check(v.trustedRootCertificates.length === 1, `${v.trustedRootCertificates.length} trusted roots`);
    check(v.nocs.length === 1, `${v.nocs.length} NOCs`);
    return { fabrics: v.fabrics.length, roots: v.trustedRootCertificates.length, fabricIndex: deviceFabric };
  });
  await step("b-acl-own-only", async () => {
    const v = await readAttrs(peer, 0, AccessControl, ["acl"], false);
    check(v.acl.length > 0 && v.acl.every((e) => e.fabricIndex === deviceFabric), `acl ${js(v.acl)}`);
    return v.acl.length;
  });
  await step("b-breadcrumb", async () => {
    const v = await readAttrs(peer, 0, GeneralCommissioning, ["breadcrumb"]);
    check(Number(v.breadcrumb) === 0, `breadcrumb ${v.breadcrumb}`);
    return Number(v.breadcrumb);
  });
  await step("decommission", async () => decommission(peer));
});
