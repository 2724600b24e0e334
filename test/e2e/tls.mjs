// Scenario: TLS Certificate Management (0x0801) and TLS Client Management
// (0x0802) on the root node.
//
// All their commands have Large-Message quality, so matter.js sends them
// only over TCP: the controller runs with TCP enabled and opens a CASE
// session over TCP to the device's operational address, the UDP one with
// type "tcp" (controller.md §2.4). Reads go over matter.js's newest
// session, so once that TCP session exists they use it too. Flags besides
// lib.mjs's:
//   --root-der=HEX  a DER root certificate (node cannot make X.509
//                   certificates; the Go test generates it), valid now.
//
// Steps: commission; the limits and empty lists read;
// ProvisionRootCertificate before the node has a UTC time gets
// INVALID_IN_STATE; SetUTCTime; ProvisionRootCertificate; the same
// certificate again gets ALREADY_EXISTS; the list read back;
// FindRootCertificate and LookupRootCertificate (SHA-256 fingerprint);
// ClientCSR (the Go test checks the CSR and the nonce signature);
// ProvisionEndpoint referencing the CAID and the CCDID; reading and
// finding it; RemoveRootCertificate and RemoveClientCertificate while
// referenced get INVALID_IN_STATE; RemoveEndpoint; both removals then
// succeed; FindRootCertificate gets NOT_FOUND; decommission.
import { createHash, randomBytes } from "node:crypto";
import { args, check, commission, decommission, ip, matter, port, protocol, readAttrs, run, step } from "./lib.mjs";

const { TlsCertificateManagement } = await import("@matter/main/clusters/tls-certificate-management");
const { TlsClientManagement } = await import("@matter/main/clusters/tls-client-management");
const { TlsCertificateManagementClient } = await import("@matter/main/behaviors/tls-certificate-management");
const { TlsClientManagementClient } = await import("@matter/main/behaviors/tls-client-management");
const { TimeSynchronization } = await import("@matter/main/clusters/time-synchronization");
const { TimeSynchronizationClient } = await import("@matter/main/behaviors/time-synchronization");

const INVALID_IN_STATE = 0xcb;
const NOT_FOUND = 0x8b;
const ALREADY_EXISTS = 0xd0;

check(/^[0-9a-f]+$/i.test(args["root-der"] ?? ""), "--root-der=HEX is required");
const rootDer = new Uint8Array(Buffer.from(args["root-der"], "hex"));
const hex = (b) => Buffer.from(b).toString("hex");
const same = (a, b) => a !== undefined && hex(a) === hex(b);
const show = (o) => JSON.stringify(o, (_, v) => (typeof v === "bigint" ? String(v) : v instanceof Uint8Array ? hex(v) : v));

// newTcpController is lib.mjs's newController with TCP enabled: matter.js
// needs its own TCP transport to reach a peer over TCP.
async function newTcpController(id = "controller") {
  const { ServerNode, ControllerBehavior } = matter;
  const node = await ServerNode.create({ id, network: { port: 0, tcp: true }, commissioning: { enabled: false } });
  node.behaviors.require(ControllerBehavior, { ble: false });
  node.env.get(protocol.PeerSet).added.on((peer) => {
    peer.descriptor.operationalAddress ??= { type: "udp", ip, port };
  });
  await node.start();
  return node;
}

// expectStatus runs an invoke that must fail with status code want.
async function expectStatus(what, want, fn) {
  try {
    await fn();
  } catch (e) {
    check(e?.code === want, `${what}: ${e}`);
    return e.code;
  }
  throw new Error(`${what} succeeded`);
}

await run(async ({ closeLater }) => {
  const controller = await newTcpController();
  closeLater(controller);
  let peer;
  await step("commission", async () => {
    peer = await commission(controller);
    return peer.peerAddress;
  });
  const certs = () => peer.commandsOf(TlsCertificateManagementClient);
  const clients = () => peer.commandsOf(TlsClientManagementClient);

  await step("read-limits", async () => {
    const v = await readAttrs(peer, 0, TlsCertificateManagement, [
      "maxRootCertificates", "provisionedRootCertificates", "maxClientCertificates", "provisionedClientCertificates"]);
    const e = await readAttrs(peer, 0, TlsClientManagement, ["maxProvisioned", "provisionedEndpoints"]);
    check(v.maxRootCertificates >= 5 && v.maxClientCertificates >= 2 && e.maxProvisioned >= 5, `limits ${show({ v, e })}`);
    check(v.provisionedRootCertificates?.length === 0 && v.provisionedClientCertificates?.length === 0 && e.provisionedEndpoints?.length === 0,
      `lists not empty: ${show({ v, e })}`);
    return { maxRoot: v.maxRootCertificates, maxClient: v.maxClientCertificates, maxProvisioned: e.maxProvisioned };
  });

  // The node has no UTC time yet (matter.js skips the commissioning time
  // step), and a root certificate needs one (Core §14.4.6.1).
  await step("provision-root-without-time", async () =>
    expectStatus("ProvisionRootCertificate without a UTC time", INVALID_IN_STATE, () =>
      certs().provisionRootCertificate({ certificate: rootDer, caid: null })));

  await step("set-utc-time", async () => {
    // matter.js takes Unix-epoch microseconds and converts them to the
    // Matter epoch (2000-01-01) on the wire.
    const utcTime = BigInt(Date.now()) * 1000n;
    await peer.commandsOf(TimeSynchronizationClient).setUtcTime({ utcTime, granularity: TimeSynchronization.Granularity.MillisecondsGranularity });
    const { utcTime: now } = await readAttrs(peer, 0, TimeSynchronization, ["utcTime"]);
    check(now !== null && now !== undefined, `UTCTime after SetUTCTime: ${now}`);
    return String(now);
  });

  let caid;
  await step("provision-root", async () => {
    ({ caid } = await certs().provisionRootCertificate({ certificate: rootDer, caid: null }));
    check(Number.isInteger(caid) && caid >= 0 && caid <= 65534, `CAID ${caid}`);
    return caid;
  });

  await step("provision-root-again", async () =>
    expectStatus("the same root again", ALREADY_EXISTS, () => certs().provisionRootCertificate({ certificate: rootDer, caid: null })));

  // The certificate itself is in the list only when read over a
  // large-message transport (Core §14.4.5.2). matter.js reads over its
  // newest session, here the TCP one the invokes opened; over UDP the
  // entry would carry the CAID alone (the unit tests cover that case).
  await step("read-roots", async () => {
    const { provisionedRootCertificates: l } = await readAttrs(peer, 0, TlsCertificateManagement, ["provisionedRootCertificates"]);
    check(l?.length === 1 && l[0].caid === caid && l[0].fabricIndex === peer.peerAddress.fabricIndex, `ProvisionedRootCertificates ${show(l)}`);
    check(l[0].certificate === undefined || same(l[0].certificate, rootDer), `ProvisionedRootCertificates certificate ${show(l[0].certificate)}`);
    return { caid: l[0].caid, certificate: l[0].certificate === undefined ? "left out (UDP)" : "included (TCP)" };
  });

  await step("find-root", async () => {
    const { certificateDetails: d } = await certs().findRootCertificate({ caid: null });
    check(d?.length === 1 && d[0].caid === caid && same(d[0].certificate, rootDer), `FindRootCertificate ${show(d?.map((c) => c.caid))}`);
    return d.length;
  });

  await step("lookup-root", async () => {
    const fingerprint = new Uint8Array(createHash("sha256").update(rootDer).digest());
    const r = await certs().lookupRootCertificate({ fingerprint });
    check(r.caid === caid, `LookupRootCertificate ${r.caid}`);
    return r.caid;
  });

  let ccdid;
  await step("client-csr", async () => {
    const nonce = new Uint8Array(randomBytes(32));
    const r = await certs().clientCsr({ nonce, ccdid: null });
    ccdid = r.ccdid;
    check(Number.isInteger(ccdid) && r.csr.length > 0 && r.nonceSignature.length === 64, `ClientCSR ${show(r)}`);
    return { ccdid, nonce: hex(nonce), csr: hex(r.csr), nonceSignature: hex(r.nonceSignature) };
  });

  let endpointId;
  const hostname = new Uint8Array(Buffer.from("push.example.com"));
  await step("provision-endpoint", async () => {
    ({ endpointId } = await clients().provisionEndpoint({ hostname, port: 443, caid, ccdid, endpointId: null }));
    check(Number.isInteger(endpointId), `EndpointID ${endpointId}`);
    return endpointId;
  });

  await step("read-endpoints", async () => {
    const { provisionedEndpoints: l } = await readAttrs(peer, 0, TlsClientManagement, ["provisionedEndpoints"]);
    check(l?.length === 1 && l[0].endpointId === endpointId && same(l[0].hostname, hostname) && l[0].port === 443 &&
      l[0].caid === caid && l[0].ccdid === ccdid && l[0].referenceCount === 0, `ProvisionedEndpoints ${show(l)}`);
    const { endpoint } = await clients().findEndpoint({ endpointId });
    check(endpoint.endpointId === endpointId && endpoint.caid === caid, `FindEndpoint ${show(endpoint)}`);
    return l.length;
  });

  // A certificate a TLS endpoint references stays (Core §14.4.6.7, §14.4.6.15).
  await step("remove-root-in-use", async () =>
    expectStatus("RemoveRootCertificate while referenced", INVALID_IN_STATE, () => certs().removeRootCertificate({ caid })));
  await step("remove-client-in-use", async () =>
    expectStatus("RemoveClientCertificate while referenced", INVALID_IN_STATE, () => certs().removeClientCertificate({ ccdid })));

  await step("remove-endpoint", async () => {
    await clients().removeEndpoint({ endpointId });
    const { provisionedEndpoints: l } = await readAttrs(peer, 0, TlsClientManagement, ["provisionedEndpoints"]);
    check(l?.length === 0, `ProvisionedEndpoints after RemoveEndpoint ${show(l)}`);
    return endpointId;
  });

  await step("remove-root", async () => {
    await certs().removeRootCertificate({ caid });
    await certs().removeClientCertificate({ ccdid });
    const { provisionedRootCertificates: r, provisionedClientCertificates: c } = await readAttrs(peer, 0, TlsCertificateManagement, [
      "provisionedRootCertificates", "provisionedClientCertificates"]);
    check(r?.length === 0 && c?.length === 0, `lists after removal ${show({ r, c })}`);
    return caid;
  });

  await step("find-root-removed", async () =>
    expectStatus("FindRootCertificate after removal", NOT_FOUND, () => certs().findRootCertificate({ caid: null })));

  await step("decommission", async () => decommission(peer));
});
