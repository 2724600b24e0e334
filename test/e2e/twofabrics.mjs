// Scenario: two controllers on two fabrics.
//
// Controller A commissions the device (fabric A). A opens an Enhanced
// Commissioning Method window through AdministratorCommissioning
// OpenCommissioningWindow with a fresh random passcode and its own PAKE
// verifier; controller B (a second ServerNode in this process, with its
// own storage and therefore its own root CA) commissions with that
// passcode (fabric B). Each reads OperationalCredentials Fabrics and NOCs
// fabric-filtered and sees only its own fabric; A's unfiltered read of
// Fabrics sees both. With --b-discover=true, B finds the device by the
// window's discriminator over DNS-SD instead of at the known address.
// B removes its fabric, A still reads Basic Information and sees one
// fabric, then A decommissions.
import { args, check, commission, decommission, matter, newController, protocol, readAttrs, run, step, withTimeout } from "./lib.mjs";

const { OperationalCredentials } = await import("@matter/main/clusters/operational-credentials");
const { AdministratorCommissioning } = await import("@matter/main/clusters/administrator-commissioning");
const { AdministratorCommissioningClient } = await import("@matter/main/behaviors/administrator-commissioning");
const { BasicInformation } = await import("@matter/main/clusters/basic-information");
const { ManualPairingCodeCodec } = await import("@matter/main/types");
const { Crypto, Seconds } = matter;
const discover = args["b-discover"] === "true";
const { PaseClient } = protocol;

const big = (v) => (typeof v === "bigint" ? v.toString() : v);
const fabricsOf = (list) =>
  list.map((f) => ({ fabricIndex: f.fabricIndex, fabricId: big(f.fabricId), nodeId: big(f.nodeId), vendorId: f.vendorId, label: f.label, rootPublicKey: f.rootPublicKey && Buffer.from(f.rootPublicKey).toString("hex").slice(0, 16) }));

// ownView reads this controller's fabric-filtered view of the fabric table
// and NOCs, and checks that it holds exactly its own fabric (the device's
// fabric index of the accessing fabric is CurrentFabricIndex; the
// controller's peerAddress.fabricIndex is its own local index).
async function ownView(peer) {
  const v = await readAttrs(peer, 0, OperationalCredentials, ["fabrics", "nocs", "currentFabricIndex", "commissionedFabrics"]);
  const idx = v.currentFabricIndex;
  check(typeof idx === "number" && idx > 0, `CurrentFabricIndex ${JSON.stringify(idx)}`);
  check(Array.isArray(v.fabrics) && v.fabrics.length === 1 && v.fabrics[0].fabricIndex === idx, `fabric-filtered Fabrics: ${JSON.stringify(fabricsOf(v.fabrics ?? []))}`);
  check(v.fabrics[0].nodeId === peer.peerAddress.nodeId, `Fabrics nodeId ${v.fabrics[0].nodeId} != ${peer.peerAddress.nodeId}`);
  check(Array.isArray(v.nocs) && v.nocs.length === 1 && v.nocs[0].fabricIndex === idx && v.nocs[0].noc?.length > 0, `fabric-filtered NOCs: ${JSON.stringify(v.nocs?.map((n) => ({ fabricIndex: n.fabricIndex, noc: n.noc?.length })))}`);
  return { fabricIndex: idx, commissionedFabrics: v.commissionedFabrics, fabrics: fabricsOf(v.fabrics), nocFabrics: v.nocs.map((n) => n.fabricIndex) };
}

await run(async ({ closeLater }) => {
  const a = await newController("controller-a");
  closeLater(a);
  let peerA;
  await step("a-commission", async () => {
    peerA = await commission(a);
    return peerA.peerAddress;
  });

  let ecmPasscode, ecmDiscriminator, manualCode, fabricA, fabricB;
  await step("a-open-window", async () => {
    const crypto = a.env.get(Crypto);
    ecmPasscode = PaseClient.generateRandomPasscode(crypto);
    const discriminator = (ecmDiscriminator = PaseClient.generateRandomDiscriminator(crypto));
    const salt = crypto.randomBytes(32);
    const iterations = 1000;
    const pakePasscodeVerifier = await PaseClient.generatePakePasscodeVerifier(crypto, ecmPasscode, { iterations, salt });
    // A timed invoke: matter.js sends the TimedRequest itself (the
    // command's model says timed).
    await peerA.commandsOf(AdministratorCommissioningClient).openCommissioningWindow({
      commissioningTimeout: 180,
      pakePasscodeVerifier,
      discriminator,
      iterations,
      salt,
    });
    manualCode = ManualPairingCodeCodec.encode({ discriminator, passcode: ecmPasscode });
    const w = await readAttrs(peerA, 0, AdministratorCommissioning, ["windowStatus", "adminFabricIndex", "adminVendorId"]);
    check(w.windowStatus === AdministratorCommissioning.CommissioningWindowStatus.EnhancedWindowOpen, `WindowStatus ${JSON.stringify(w)}`);
    const { currentFabricIndex } = await readAttrs(peerA, 0, OperationalCredentials, ["currentFabricIndex"]);
    fabricA = currentFabricIndex;
    check(w.adminFabricIndex === fabricA && w.adminVendorId === 0xfff1, `Admin attributes ${JSON.stringify(w)}, A's fabric ${fabricA}`);
    return { discriminator, manualCode, window: w };
  });

  const b = await newController("controller-b");
  closeLater(b);
  let peerB;
  await step("b-commission", async () => {
    if (discover) {
      // Like a real second administrator: find the device by the
      // window's discriminator over DNS-SD (_matterc._udp, _L<disc>).
      peerB = await withTimeout(
        b.peers.commission({
          passcode: ecmPasscode,
          discriminator: ecmDiscriminator,
          timeout: Seconds(4),
          onAttestationFailure: (f) => f.every((x) => x.level !== "error") || "attestation errors",
        }),
        15000,
        `discovery of discriminator ${ecmDiscriminator}`,
      );
    } else {
      peerB = await commission(b, ecmPasscode);
    }
    const { currentFabricIndex } = await readAttrs(peerB, 0, OperationalCredentials, ["currentFabricIndex"]);
    fabricB = currentFabricIndex;
    check(fabricB > 0 && fabricB !== fabricA, `B's fabric index ${fabricB}, A's ${fabricA}`);
    return { peer: peerB.peerAddress, deviceFabricIndex: fabricB };
  });

  await step("window-closed", async () => {
    // CommissioningComplete closes the window (Core §11.10.7.6).
    const w = await readAttrs(peerA, 0, AdministratorCommissioning, ["windowStatus", "adminFabricIndex", "adminVendorId"]);
    check(w.windowStatus === AdministratorCommissioning.CommissioningWindowStatus.WindowNotOpen, `WindowStatus after B commissioned: ${JSON.stringify(w)}`);
    return w;
  });

  await step("a-own-fabric", async () => {
    const v = await ownView(peerA);
    check(v.fabricIndex === fabricA && v.commissionedFabrics === 2, `A's view ${JSON.stringify(v)}`);
    return v;
  });
  await step("b-own-fabric", async () => {
    const v = await ownView(peerB);
    check(v.fabricIndex === fabricB && v.commissionedFabrics === 2, `B's view ${JSON.stringify(v)}`);
    return v;
  });
  await step("a-all-fabrics", async () => {
    // Fabrics is fabric-scoped but not sensitive: an unfiltered read
    // lists every fabric.
    const v = await readAttrs(peerA, 0, OperationalCredentials, ["fabrics"], false);
    const idx = (v.fabrics ?? []).map((f) => f.fabricIndex).sort();
    const want = [fabricA, fabricB].sort();
    check(JSON.stringify(idx) === JSON.stringify(want), `unfiltered Fabrics ${JSON.stringify(fabricsOf(v.fabrics ?? []))}`);
    const roots = new Set(v.fabrics.map((f) => Buffer.from(f.rootPublicKey).toString("hex")));
    check(roots.size === 2, "both fabrics have the same root public key");
    // NOCs is fabric-sensitive: unfiltered, B's entry shows its fabric
    // index only, never B's certificate (Core §7.13.5).
    const n = await readAttrs(peerA, 0, OperationalCredentials, ["nocs"], false);
    const nocs = (n.nocs ?? []).map((x) => ({ fabricIndex: x.fabricIndex, noc: x.noc?.length ?? 0 }));
    check(nocs.length === 2, `unfiltered NOCs ${JSON.stringify(n.nocs === undefined ? n : nocs)}`);
    check(nocs.find((x) => x.fabricIndex === fabricA)?.noc > 0, `A's own NOC missing: ${JSON.stringify(nocs)}`);
    check(nocs.find((x) => x.fabricIndex === fabricB)?.noc === 0, `B's NOC visible to A: ${JSON.stringify(nocs)}`);
    return { fabrics: fabricsOf(v.fabrics), nocs };
  });

  await step("b-decommission", async () => decommission(peerB));

  await step("a-after-b-left", async () => {
    const basic = await readAttrs(peerA, 0, BasicInformation, ["vendorId", "productName"]);
    check(basic.vendorId === 0xfff1, `BasicInformation ${JSON.stringify(basic)}`);
    const v = await ownView(peerA);
    check(v.fabricIndex === fabricA && v.commissionedFabrics === 1, `A's view ${JSON.stringify(v)}`);
    const all = await readAttrs(peerA, 0, OperationalCredentials, ["fabrics"], false);
    check(all.fabrics.length === 1 && all.fabrics[0].fabricIndex === fabricA, `unfiltered Fabrics ${JSON.stringify(fabricsOf(all.fabrics))}`);
    return { basic, ...v };
  });

  await step("a-decommission", async () => decommission(peerA));
});
