// Scenario: Fabric Table Vendor ID Verification (Core 1.4.2+ §6.4.10) from
// matter.js's side.
//
// The controller commissions, then asks the device to sign a random
// 32-octet challenge for its fabric (SignVIDVerificationRequest,
// §11.18.6.15). The script rebuilds vendor_id_verification_tbs itself from
// the spec's field list (§11.18.6.16, §6.4.10.1) and checks the signature
// with node:crypto against the public key of the fabric's NOC (the signer
// is the operational key: "Crypto_Sign(noc_private_key, …)"), and that the
// DAC (from CertificateChainRequest) did not sign it. matter.js's own TBS
// builder (VendorIdVerification.dataToSign, which its device side signs)
// must produce the same octets. Then it installs a
// vendor ID and a VID verification statement (SetVIDVerificationStatement,
// §11.18.6.14), reads them back, and checks that the next signature covers
// both; tries a VVSC (accepted without an ICAC, INVALID_COMMAND with one);
// checks the error statuses; restores the fabric and decommissions.
//
// matter.js 0.17.9's VendorIdVerification.verify is not used: it puts the
// NOC's public key where vendor_fabric_binding_message has the root public
// key, so it rejects a device that follows §6.4.10.1 (and its own device
// side, which uses the root key).
import { createPublicKey, randomBytes, verify, X509Certificate } from "node:crypto";
import { check, commission, decommission, newController, protocol, readAttrs, run, step } from "./lib.mjs";

const { OperationalCredentials } = await import("@matter/main/clusters/operational-credentials");
const { OperationalCredentialsClient, VendorIdVerification } = await import("@matter/main/behaviors/operational-credentials");

const INVALID_COMMAND = 0x85;
const CONSTRAINT_ERROR = 0x87;
const FABRIC_BINDING_VERSION = 0x01;

// p256Key imports a 65-octet uncompressed P-256 point.
function p256Key(point) {
  const p = Buffer.from(point);
  if (p.length !== 65 || p[0] !== 0x04) throw new Error(`not an uncompressed P-256 point: ${p.toString("hex")}`);
  return createPublicKey({ key: { kty: "EC", crv: "P-256", x: p.subarray(1, 33).toString("base64url"), y: p.subarray(33).toString("base64url") }, format: "jwk" });
}

// tbs is vendor_id_verification_tbs (§11.18.6.16):
//   fabric_binding_version (1) || client_challenge (32) ||
//   attestation_challenge (16) || fabric_index (1) ||
//   vendor_fabric_binding_message || [vid_verification_statement (85)]
// with vendor_fabric_binding_message (§6.4.10.1):
//   fabric_binding_version (1) || root_public_key (65) ||
//   fabric_id (8, big-endian) || vendor_id (2, big-endian).
function tbs({ clientChallenge, attestationChallenge, fabricIndex, rootPublicKey, fabricId, vendorId, statement }) {
  const fabricIdBytes = Buffer.alloc(8);
  fabricIdBytes.writeBigUInt64BE(BigInt(fabricId));
  const vendorBytes = Buffer.alloc(2);
  vendorBytes.writeUInt16BE(vendorId);
  return Buffer.concat([
    Buffer.from([FABRIC_BINDING_VERSION]),
    Buffer.from(clientChallenge),
    Buffer.from(attestationChallenge),
    Buffer.from([fabricIndex]),
    Buffer.from([FABRIC_BINDING_VERSION]),
    Buffer.from(rootPublicKey),
    fabricIdBytes,
    vendorBytes,
    statement ? Buffer.from(statement) : Buffer.alloc(0),
  ]);
}

// rawVerify checks a raw r ‖ s ECDSA P-256 SHA-256 signature.
const rawVerify = (key, msg, sig) => verify("sha256", msg, { key, dsaEncoding: "ieee-p1363" }, Buffer.from(sig));

// statusOf runs fn and returns the IM status it failed with.
async function statusOf(fn) {
  try {
    await fn();
  } catch (e) {
    if (typeof e?.code === "number") return e.code;
    throw e;
  }
  throw new Error("the command succeeded");
}

await run(async ({ closeLater }) => {
  const controller = await newController();
  closeLater(controller);
  let peer;
  await step("commission", async () => {
    peer = await commission(controller);
    return peer.peerAddress;
  });
  const opcreds = () => peer.commandsOf(OperationalCredentialsClient);

  // The device's view of this fabric.
  const own = async () => {
    const v = await readAttrs(peer, 0, OperationalCredentials, ["fabrics", "nocs", "currentFabricIndex", "trustedRootCertificates"]);
    const idx = v.currentFabricIndex;
    const fabric = v.fabrics?.find((f) => f.fabricIndex === idx);
    const noc = v.nocs?.find((n) => n.fabricIndex === idx);
    check(fabric && noc?.noc?.length > 0 && v.trustedRootCertificates?.length === 1, `own fabric ${idx}: ${JSON.stringify({ fabrics: v.fabrics?.length, nocs: v.nocs?.length })}`);
    return { idx, fabric, noc, rcac: v.trustedRootCertificates[0] };
  };

  // The attestation challenges of the controller's secure sessions with
  // the device (the command went out on one of them).
  const challenges = () => {
    const sessions = controller.env.get(protocol.PeerSet).get(peer.peerAddress)?.sessions ?? [];
    return [...sessions].map((s) => s.attestationChallengeKey).filter((c) => c?.length === 16);
  };

  // sign asks for a signature and checks it against the NOC key over the
  // TBS built here; it returns which session challenge matched.
  const sign = async (view, vendorId, statement) => {
    const clientChallenge = randomBytes(32);
    const res = await opcreds().signVidVerificationRequest({ fabricIndex: view.idx, clientChallenge });
    check(res.fabricIndex === view.idx && res.fabricBindingVersion === FABRIC_BINDING_VERSION && res.signature?.length === 64,
      `response ${JSON.stringify({ fabricIndex: res.fabricIndex, version: res.fabricBindingVersion, signature: res.signature?.length })}`);
    const noc = protocol.Noc.fromTlv(view.noc.noc).cert;
    const nocKey = p256Key(noc.ellipticCurvePublicKey);
    const chs = challenges();
    check(chs.length > 0, "no secure session with the device");
    for (const attestationChallenge of chs) {
      const msg = tbs({ clientChallenge, attestationChallenge, fabricIndex: view.idx, rootPublicKey: view.fabric.rootPublicKey,
        fabricId: noc.subject.fabricId, vendorId, statement });
      if (rawVerify(nocKey, msg, res.signature)) {
        return { msg, signature: res.signature, tbsLength: msg.length, sessions: chs.length, clientChallenge, attestationChallenge, fabricId: noc.subject.fabricId, nocKey };
      }
    }
    throw new Error(`signature does not verify under the NOC key for any of ${chs.length} session(s)`);
  };

  let view;
  await step("read-own-fabric", async () => {
    view = await own();
    check(view.fabric.vidVerificationStatement === undefined && view.noc.vvsc === undefined, "VID verification data before any was set");
    return { fabricIndex: view.idx, vendorId: view.fabric.vendorId, icac: view.noc.icac !== null };
  });

  await step("sign-verify-noc-key", async () => {
    const r = await sign(view, view.fabric.vendorId);
    check(r.tbsLength === 1 + 32 + 16 + 1 + 76, `TBS of ${r.tbsLength} octets`);
    // The DAC signs attestation and NOCSR elements, not this.
    const { certificate } = await opcreds().certificateChainRequest({ certificateType: OperationalCredentials.CertificateChainType.DacCertificate });
    const dac = new X509Certificate(Buffer.from(certificate)).publicKey;
    check(!rawVerify(dac, r.msg, r.signature), "the signature verifies under the DAC");
    return { tbsLength: r.tbsLength, sessions: r.sessions, nocKey: true, dac: false };
  });

  // matterTBS checks that matter.js builds the same message the script
  // did, and that the device's signature verifies over it.
  const matterTBS = (r, vendorId, statement) => {
    const { signatureData } = VendorIdVerification.dataToSign({
      clientChallenge: r.clientChallenge,
      attChallenge: r.attestationChallenge,
      fabricIndex: view.idx,
      fabric: { rootPublicKey: view.fabric.rootPublicKey, fabricId: r.fabricId, rootVendorId: vendorId, vidVerificationStatement: statement },
    });
    check(Buffer.from(signatureData).equals(r.msg), `matter.js TBS ${Buffer.from(signatureData).toString("hex")} != ${r.msg.toString("hex")}`);
    check(rawVerify(r.nocKey, signatureData, r.signature), "signature does not verify over matter.js's TBS");
    return signatureData.length;
  };

  await step("matter-js-tbs", async () => matterTBS(await sign(view, view.fabric.vendorId), view.fabric.vendorId));

  const statement = Buffer.concat([Buffer.from([0x21]), randomBytes(84)]);
  await step("set-statement", async () => {
    await opcreds().setVidVerificationStatement({ vendorId: 0xfff2, vidVerificationStatement: statement });
    view = await own();
    check(view.fabric.vendorId === 0xfff2, `vendorId ${view.fabric.vendorId}`);
    check(Buffer.from(view.fabric.vidVerificationStatement ?? []).equals(statement), "statement not read back");
    return { vendorId: view.fabric.vendorId, statement: statement.length };
  });

  await step("sign-verify-with-statement", async () => {
    const r = await sign(view, 0xfff2, statement);
    check(r.tbsLength === 1 + 32 + 16 + 1 + 76 + 85, `TBS of ${r.tbsLength} octets`);
    return { tbsLength: r.tbsLength, matterJS: matterTBS(r, 0xfff2, statement) };
  });

  await step("vvsc", async () => {
    const vvsc = randomBytes(300);
    if (view.noc.icac !== null) {
      const st = await statusOf(() => opcreds().setVidVerificationStatement({ vvsc }));
      check(st === INVALID_COMMAND, `VVSC beside an ICAC: status ${st}`);
      return { icac: true, status: st };
    }
    await opcreds().setVidVerificationStatement({ vvsc });
    let v = await own();
    check(Buffer.from(v.noc.vvsc ?? []).equals(vvsc), "VVSC not read back");
    await opcreds().setVidVerificationStatement({ vvsc: new Uint8Array(0) });
    v = await own();
    check(v.noc.vvsc === undefined, "VVSC not removed");
    return { icac: false, set: vvsc.length, removed: true };
  });

  await step("errors", async () => {
    const unknown = view.idx === 254 ? 253 : 254;
    const res = {
      unknownFabric: await statusOf(() => opcreds().signVidVerificationRequest({ fabricIndex: unknown, clientChallenge: randomBytes(32) })),
      noField: await statusOf(() => opcreds().setVidVerificationStatement({})),
      shortStatement: await statusOf(() => opcreds().setVidVerificationStatement({ vidVerificationStatement: randomBytes(84) })),
    };
    check(res.unknownFabric === CONSTRAINT_ERROR, `SignVIDVerificationRequest for fabric ${unknown}: ${res.unknownFabric}`);
    check(res.noField === INVALID_COMMAND, `SetVIDVerificationStatement without fields: ${res.noField}`);
    check(res.shortStatement === CONSTRAINT_ERROR, `84-octet statement: ${res.shortStatement}`);
    return res;
  });

  await step("restore", async () => {
    await opcreds().setVidVerificationStatement({ vendorId: 0xfff1, vidVerificationStatement: new Uint8Array(0) });
    view = await own();
    check(view.fabric.vendorId === 0xfff1 && view.fabric.vidVerificationStatement === undefined, `after restore ${JSON.stringify({ vendorId: view.fabric.vendorId, statement: view.fabric.vidVerificationStatement?.length })}`);
    const r = await sign(view, 0xfff1);
    return { vendorId: view.fabric.vendorId, tbsLength: r.tbsLength };
  });

  await step("decommission", async () => decommission(peer));
});
