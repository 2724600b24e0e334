// A matter.js camera controller driven by the Go test, line by line.
//
// The Go test is the media peer (a pion viewer) and the conductor; this
// script is the Matter side of one or two controllers ("a", "b"), each a
// ServerNode with TCP (the WebRTC commands are Large-Message commands,
// controller.md §2.4) that hosts a WebRtcTransportRequestor server on a
// CameraControllerDevice endpoint (controller.md §3).
//
// stdin: one JSON request per line, {id, op, ctl, ...args}.
// stdout: one JSON object per line: replies {id, ok, value} or
// {id, ok: false, error, status}, and events {event, ctl, ...} for what
// the camera invokes on a requestor (offer, answer, ice, end).
//
// Ops:
//   commission {ctl}                      ctl "a" commissions at --address/--port;
//                                         ctl "b" commissions through an enhanced window ctl "a" opens
//   invoke {ctl, cluster, command, fields} cluster "avsm" | "webrtc"; the reply value is the
//                                         response (bytes as hex), or {status} for a status error.
//                                         A successful solicitOffer/provideOffer (new session)
//                                         registers the session with ctl's requestor first.
//   read {ctl, cluster, attributes, fabricFiltered}
//   write {ctl, cluster, attribute, value}
//   requestorSessions {ctl}               the requestor's own CurrentSessions
//   decommission {ctl}
//   quit
import { createInterface } from "node:readline";
import { decommission, ip, matter, passcode, port, protocol, readAttrs, writeAttr } from "./lib.mjs";

const { ServerNode, ControllerBehavior, Seconds, Crypto } = matter;
const { PaseClient } = protocol;
const { CameraControllerDevice } = await import("@matter/main/devices/camera-controller");
const { WebRtcTransportRequestorServer } = await import("@matter/main/behaviors/web-rtc-transport-requestor");
const { WebRtcTransportProviderClient } = await import("@matter/main/behaviors/web-rtc-transport-provider");
const { WebRtcTransportProvider } = await import("@matter/main/clusters/web-rtc-transport-provider");
const { CameraAvStreamManagementClient } = await import("@matter/main/behaviors/camera-av-stream-management");
const { CameraAvStreamManagement } = await import("@matter/main/clusters/camera-av-stream-management");
const { AdministratorCommissioningClient } = await import("@matter/main/behaviors/administrator-commissioning");

// Bytes go out as hex; a Buffer has already become {type, data} through
// its toJSON by the time the replacer sees it.
const json = (o) =>
  JSON.stringify(o, (_, v) =>
    typeof v === "bigint"
      ? v.toString()
      : v instanceof Uint8Array
        ? Buffer.from(v).toString("hex")
        : v?.type === "Buffer" && Array.isArray(v.data)
          ? Buffer.from(v.data).toString("hex")
          : v,
  );
const emit = (o) => process.stdout.write(json(o) + "\n");

const clusters = {
  avsm: { client: CameraAvStreamManagementClient, cluster: CameraAvStreamManagement },
  webrtc: { client: WebRtcTransportProviderClient, cluster: WebRtcTransportProvider },
};

// requestorClass captures the requests before the base class handles them:
// end() removes the session before it emits, so its event carries a dead
// reference (controller.md §3).
function requestorClass(ctl) {
  return class Requestor extends WebRtcTransportRequestorServer {
    async offer(r) {
      const c = { id: r.webRtcSessionId, sdp: r.sdp, iceServers: r.iceServers, iceTransportPolicy: r.iceTransportPolicy };
      await super.offer(r);
      emit({ event: "offer", ctl, ...c });
    }
    async answer(r) {
      const c = { id: r.webRtcSessionId, sdp: r.sdp };
      await super.answer(r);
      emit({ event: "answer", ctl, ...c });
    }
    async iceCandidates(r) {
      const c = { id: r.webRtcSessionId, candidates: r.iceCandidates.map((x) => ({ ...x })) };
      await super.iceCandidates(r);
      emit({ event: "ice", ctl, ...c });
    }
    async end(r) {
      const c = { id: r.webRtcSessionId, reason: r.reason };
      await super.end(r);
      emit({ event: "end", ctl, ...c });
    }
  };
}

const ctls = {};

async function newCameraController(name) {
  const node = await ServerNode.create({ id: `camctl-${name}`, network: { port: 0, tcp: true }, commissioning: { enabled: false } });
  node.behaviors.require(ControllerBehavior, { ble: false });
  const requestor = await node.add(CameraControllerDevice.with(requestorClass(name)), { id: "cameractl" });
  node.env.get(protocol.PeerSet).added.on((peer) => {
    peer.descriptor.operationalAddress ??= { type: "udp", ip, port };
  });
  await node.start();
  return { node, requestor, peer: undefined };
}

const commissionOptions = (pc) => ({
  passcode: pc,
  timeout: Seconds(60),
  onAttestationFailure: (f) => f.every((x) => x.level !== "error") || "attestation errors",
});

async function cameraEndpoint(c) {
  for (let i = 0; i < 100; i++) {
    const ep = [...c.peer.endpoints].find((e) => e.number === 1);
    if (ep) return ep;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("camera endpoint 1 not known to the controller");
}

const ops = {
  async commission({ ctl }) {
    const c = (ctls[ctl] ??= await newCameraController(ctl));
    let pc = passcode;
    if (ctl !== "a") {
      // A opens an enhanced window with a passcode of its own (Core §11.19.8.1).
      const a = ctls.a;
      const crypto = a.node.env.get(Crypto);
      pc = PaseClient.generateRandomPasscode(crypto);
      const discriminator = PaseClient.generateRandomDiscriminator(crypto);
      const salt = crypto.randomBytes(32);
      const iterations = 1000;
      const pakePasscodeVerifier = await PaseClient.generatePakePasscodeVerifier(crypto, pc, { iterations, salt });
      await a.peer.commandsOf(AdministratorCommissioningClient).openCommissioningWindow({
        commissioningTimeout: 180, pakePasscodeVerifier, discriminator, iterations, salt,
      });
    }
    c.peer = await c.node.peers.forDescriptor({ addresses: [{ type: "udp", ip, port }] });
    await c.peer.commission(commissionOptions(pc));
    return { nodeId: c.peer.peerAddress.nodeId, requestorEndpoint: c.requestor.number };
  },

  async invoke({ ctl, cluster, command, fields }) {
    const c = ctls[ctl];
    const ep = await cameraEndpoint(c);
    const { client } = clusters[cluster];
    let res;
    try {
      res = await ep.commandsOf(client)[command](fields ?? {});
    } catch (e) {
      if (e?.code !== undefined && typeof e.code === "number") return { status: e.code };
      throw e;
    }
    if (cluster === "webrtc" && (command === "solicitOffer" || (command === "provideOffer" && fields.webRtcSessionId === null))) {
      await c.requestor.act((agent) =>
        agent.get(WebRtcTransportRequestorServer).upsertSession({
          id: res.webRtcSessionId,
          peerNodeId: c.peer.peerAddress.nodeId,
          peerEndpointId: ep.number,
          streamUsage: fields.streamUsage ?? 3,
          metadataEnabled: false,
          videoStreams: fields.videoStreams,
          audioStreams: fields.audioStreams,
          fabricIndex: c.peer.peerAddress.fabricIndex,
        }),
      );
    }
    return res ?? {};
  },

  async read({ ctl, cluster, attributes, fabricFiltered = true }) {
    return readAttrs(ctls[ctl].peer, 1, clusters[cluster].cluster, attributes, fabricFiltered);
  },

  async write({ ctl, cluster, attribute, value }) {
    return writeAttr(ctls[ctl].peer, 1, clusters[cluster].cluster, attribute, value);
  },

  async requestorSessions({ ctl }) {
    return ctls[ctl].requestor.stateOf(WebRtcTransportRequestorServer).currentSessions;
  },

  async decommission({ ctl }) {
    return decommission(ctls[ctl].peer);
  },
};

const rl = createInterface({ input: process.stdin });
let chain = Promise.resolve();
emit({ event: "ready" });
for await (const line of rl) {
  if (!line.trim()) continue;
  const req = JSON.parse(line);
  if (req.op === "quit") break;
  // Requests run one after another unless the caller marks one async, so
  // a slow invoke does not reorder the ones after it.
  const run = async () => {
    try {
      const fn = ops[req.op];
      if (!fn) throw new Error(`unknown op ${req.op}`);
      emit({ id: req.id, ok: true, value: await fn(req) });
    } catch (e) {
      emit({ id: req.id, ok: false, error: String(e?.stack ?? e), status: typeof e?.code === "number" ? e.code : undefined });
    }
  };
  if (req.async) run();
  else chain = chain.then(run);
}
await chain;
for (const c of Object.values(ctls)) {
  try {
    await c.node.close();
  } catch (e) {
    emit({ event: "close-error", error: String(e) });
  }
}
process.exit(0);
