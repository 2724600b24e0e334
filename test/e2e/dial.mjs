// Scenario for dial_test.go: the device dials its controller.
//
// A matter.js controller ServerNode that listens on UDP and TCP
// (--listen) and hosts a WebRTC Transport Requestor
// (CameraControllerDevice, endpoint 1) commissions the test device
// (test/e2e/internal/dialdevice) at the known address. It then grants the
// device View on its whole node, so that the device can read its Basic
// Information, and registers WebRTC session --session for the
// device, so that the device's Offer and End are accepted. Those two
// commands have the Large Message quality: matter.js accepts them only over
// TCP, so the device must open a TCP session to the controller's
// operational address (it had only the UDP session the controller opened).
// The steps check that Offer and End arrived over TCP, then wait until the
// device, told to stop by the Go test, has closed the session it opened.
import { args, check, commission, ip, matter, port, protocol, run, step, withTimeout } from "./lib.mjs";

const { ServerNode, ControllerBehavior } = matter;
const { CameraControllerDevice } = await import("@matter/main/devices/camera-controller");
const { WebRtcTransportRequestorServer } = await import("@matter/main/behaviors/web-rtc-transport-requestor");
const { AccessControlServer } = await import("@matter/main/behaviors/access-control");
const { AccessControl } = await import("@matter/main/clusters/access-control");

// Flag names without dashes: matter.js reads "--a-b=c" as its own
// configuration variable a.b (controller.md §6.2).
const sessionId = Number(args.session ?? 42);
const controllerPort = Number(args.listen ?? 0);

// deferred returns a promise and its resolver.
function deferred() {
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  return { promise, resolve };
}
const offered = deferred();
const ended = deferred();

// The requestor behaviour, with the transport each command came over. The
// request is copied before super runs: end() drops the session state, and
// state references die with the transaction (controller.md §3).
class Requestor extends WebRtcTransportRequestorServer {
  async offer(r) {
    const c = { webRtcSessionId: r.webRtcSessionId, sdp: r.sdp, tcp: this.context.session?.supportsLargeMessages === true };
    await super.offer(r);
    offered.resolve(c);
  }
  async end(r) {
    const c = { webRtcSessionId: r.webRtcSessionId, reason: r.reason, tcp: this.context.session?.supportsLargeMessages === true };
    await super.end(r);
    ended.resolve(c);
  }
}

await run(async ({ closeLater }) => {
  const controller = await ServerNode.create({
    id: "controller",
    network: { port: controllerPort, tcp: true },
    commissioning: { enabled: false },
  });
  controller.behaviors.require(ControllerBehavior, { ble: false });
  const requestorEp = await controller.add(CameraControllerDevice.with(Requestor), { id: "cameractl" });
  controller.env.get(protocol.PeerSet).added.on((peer) => {
    peer.descriptor.operationalAddress ??= { type: "udp", ip, port };
  });
  await controller.start();
  closeLater(controller);

  let peer;
  await step("commission", async () => {
    peer = await commission(controller);
    return { ...peer.peerAddress, requestorEndpoint: requestorEp.number };
  });
  const { fabricIndex, nodeId } = peer.peerAddress;

  await step("grant-view", async () => {
    await controller.act((agent) => agent.load(AccessControlServer));
    const acl = [
      ...controller.stateOf(AccessControlServer).acl,
      {
        fabricIndex,
        privilege: AccessControl.AccessControlEntryPrivilege.View,
        authMode: AccessControl.AccessControlEntryAuthMode.Case,
        subjects: [nodeId],
        targets: null,
      },
    ];
    await controller.setStateOf(AccessControlServer, { acl });
    return acl.length;
  });

  await step("register-session", async () => {
    await requestorEp.act((agent) =>
      agent.get(Requestor).upsertSession({
        id: sessionId,
        peerNodeId: nodeId,
        peerEndpointId: 1,
        streamUsage: 3,
        metadataEnabled: false,
        videoStreams: [1],
        fabricIndex,
      }),
    );
    return sessionId;
  });

  await step("offer", async () => {
    const o = await withTimeout(offered.promise, 40000, "Offer from the device");
    check(o.webRtcSessionId === sessionId, `Offer for session ${o.webRtcSessionId}`);
    check(o.tcp, "Offer did not come over TCP");
    return o;
  });
  await step("end", async () => {
    const e = await withTimeout(ended.promise, 20000, "End from the device");
    check(e.webRtcSessionId === sessionId && e.reason === 2 && e.tcp, `End ${JSON.stringify(e)}`);
    return e;
  });

  // The Go test stops the device, which closes the TCP session it opened
  // (CloseSession) before it exits, and then closes our stdin.
  const stdinClosed = new Promise((resolve) => {
    process.stdin.on("end", resolve);
    process.stdin.on("close", resolve);
    process.stdin.resume();
  });
  const sessions = controller.env.get(protocol.SessionManager);
  const deviceTCP = () => [...sessions.sessions].filter((s) => s.peerNodeId === nodeId && s.supportsLargeMessages && !s.isClosed && !s.isClosing).length;
  await step("device-tcp-session", async () => {
    const n = deviceTCP();
    check(n > 0, "no TCP session with the device");
    return n;
  });
  await withTimeout(stdinClosed, 60000, "the test's go-ahead");
  await step("device-closed-session", async () => {
    const deadline = Date.now() + 20000;
    while (deviceTCP() > 0) {
      check(Date.now() < deadline, `${deviceTCP()} TCP sessions with the device still open`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return true;
  });
});
