// Scenario for timesync_test.go: the device takes its time from its
// trusted time source (Time Synchronization TSC feature, Core §11.17.13).
//
// The controller is a matter.js ServerNode whose root endpoint also serves
// Time Synchronization with a UTCTime that is its own clock at the moment
// of each read (Milliseconds granularity). It commissions the firmware,
// which runs with -host-clock=untrusted and so has no time of its own, and:
//   * checks that the device has no time (UTCTime null, TimeSource None);
//   * makes itself the device's TrustedTimeSource (SetTrustedTimeSource
//     with its own operational node ID, endpoint 0) before the device may
//     read anything of it: the device's read is denied, and the device
//     reports MissingTrustedTimeSource and TimeFailure (§11.17.10.4, .5);
//   * grants the device View on its node and sets the source again: the
//     device reads it at once and its UTCTime comes within a second of the
//     controller's clock, with TimeSource NodeTimeCluster and a granularity
//     one level below the controller's (Seconds);
//   * decommissions.
import { check, commission, decommission, ip, matter, port, protocol, readAttrs, run, step, withTimeout } from "./lib.mjs";

const { ServerNode, ControllerBehavior } = matter;
const { Read, Val, FabricManager } = protocol;
const { TimeSynchronizationServer } = await import("@matter/main/behaviors/time-synchronization");
const { TimeSynchronizationClient } = await import("@matter/main/behaviors/time-synchronization");
const { TimeSynchronization } = await import("@matter/main/clusters/time-synchronization");
const { AccessControlServer } = await import("@matter/main/behaviors/access-control");
const { AccessControl } = await import("@matter/main/clusters/access-control");

const { Granularity, TimeSource } = TimeSynchronization;
// matter.js holds epoch-us values as microseconds since the Unix epoch and
// converts them to the Matter epoch (2000-01-01, Core §7.19.2.6) on the wire.
const epochUs = (ms) => BigInt(ms) * 1000n;
const msOf = (us) => Number(BigInt(us) / 1000n);

// ControllerTime serves this process's clock as UTCTime: the value is
// computed when read, as matter.js does for GeneralDiagnostics.UpTime.
class ControllerTime extends TimeSynchronizationServer {
  static State = class extends TimeSynchronizationServer.State {
    granularity = Granularity.MillisecondsGranularity;
    timeSource = TimeSource.NonMatterNtp;
    [Val.properties]() {
      return {
        get utcTime() {
          return epochUs(Date.now());
        },
      };
    }
  };
}

// deviceTime reads the device's time attributes.
async function deviceTime(peer) {
  return readAttrs(peer, 0, TimeSynchronization, ["utcTime", "granularity", "timeSource", "trustedTimeSource"]);
}

// deviceEvents returns the IDs of the device's Time Synchronization events.
async function deviceEvents(peer) {
  const ids = [];
  for await (const chunk of peer.interaction.read(Read(Read.Event({ endpoint: 0, cluster: TimeSynchronization }))))
    for await (const r of chunk) if (r.kind === "event-value") ids.push(r.path.eventId);
  return ids;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

await run(async ({ closeLater }) => {
  const controller = await ServerNode.create({ id: "controller", network: { port: 0 }, commissioning: { enabled: false } });
  controller.behaviors.require(ControllerBehavior, { ble: false });
  controller.behaviors.require(ControllerTime);
  controller.env.get(protocol.PeerSet).added.on((peer) => {
    peer.descriptor.operationalAddress ??= { type: "udp", ip, port };
  });
  await controller.start();
  closeLater(controller);

  let peer;
  await step("commission", async () => {
    peer = await commission(controller);
    return peer.peerAddress;
  });
  // The device's node ID and the controller's own, on the controller's
  // fabric; the device numbers that fabric itself.
  const { fabricIndex, nodeId: deviceNode } = peer.peerAddress;
  const ownNode = controller.env.get(FabricManager).for(fabricIndex).nodeId;

  await step("controller-time", async () => {
    // Our own server, read locally: the value is the present time.
    const t = controller.stateOf(ControllerTime);
    const d = msOf(t.utcTime) - Date.now();
    check(Math.abs(d) < 5 && t.granularity === Granularity.MillisecondsGranularity, `controller UTCTime off by ${d} ms`);
    return { ownNode, offMs: d };
  });

  await step("device-without-time", async () => {
    const v = await deviceTime(peer);
    check(v.utcTime === null && v.timeSource === TimeSource.None && v.granularity === Granularity.NoTimeGranularity, `device time ${JSON.stringify(v, big)}`);
    check(v.trustedTimeSource === null, `TrustedTimeSource ${JSON.stringify(v.trustedTimeSource, big)}`);
    return v;
  });

  const setSource = () =>
    peer.commandsOf(TimeSynchronizationClient).setTrustedTimeSource({ trustedTimeSource: { nodeId: ownNode, endpoint: 0 } });

  await step("source-denied", async () => {
    const before = await deviceEvents(peer);
    await setSource();
    // The device reads at once; we have not granted it anything, so the
    // read is refused and the device reports a missing source and no time.
    const deadline = Date.now() + 15000;
    for (;;) {
      const ids = (await deviceEvents(peer)).slice(before.length);
      const missing = ids.includes(TimeSynchronization.events.missingTrustedTimeSource.id);
      const failure = ids.includes(TimeSynchronization.events.timeFailure.id);
      if (missing && failure) {
        const v = await deviceTime(peer);
        check(v.utcTime === null, `device took a time from a refused read: ${JSON.stringify(v, big)}`);
        return { events: ids, trustedTimeSource: v.trustedTimeSource };
      }
      check(Date.now() < deadline, `events after SetTrustedTimeSource: ${ids}`);
      await sleep(100);
    }
  });

  await step("grant-view", async () => {
    await controller.act((agent) => agent.load(AccessControlServer));
    const acl = [
      ...controller.stateOf(AccessControlServer).acl,
      {
        fabricIndex,
        privilege: AccessControl.AccessControlEntryPrivilege.View,
        authMode: AccessControl.AccessControlEntryAuthMode.Case,
        subjects: [deviceNode],
        targets: [{ endpoint: 0, cluster: TimeSynchronization.id, deviceType: null }],
      },
    ];
    await controller.setStateOf(AccessControlServer, { acl });
    return acl.length;
  });

  await step("device-time", async () => {
    await setSource();
    const deadline = Date.now() + 15000;
    for (;;) {
      const t0 = Date.now();
      const v = await deviceTime(peer);
      const t1 = Date.now();
      if (v.utcTime !== null) {
        // The device's time at some moment between t0 and t1.
        const at = msOf(v.utcTime);
        const off = at < t0 ? at - t0 : at > t1 ? at - t1 : 0;
        check(Math.abs(off) < 1000, `device UTCTime ${new Date(at).toISOString()}, ${off} ms outside [${new Date(t0).toISOString()}, ${new Date(t1).toISOString()}]`);
        check(v.timeSource === TimeSource.NodeTimeCluster, `TimeSource ${v.timeSource}`);
        check(v.granularity === Granularity.SecondsGranularity, `Granularity ${v.granularity}`);
        const tts = v.trustedTimeSource;
        check(tts && BigInt(tts.nodeId) === BigInt(ownNode) && tts.endpoint === 0 && tts?.fabricIndex > 0, `TrustedTimeSource ${JSON.stringify(tts, big)}`);
        return { offMs: off, utc: new Date(at).toISOString(), granularity: v.granularity, timeSource: v.timeSource, trustedTimeSource: tts };
      }
      check(Date.now() < deadline, `device UTCTime still null: ${JSON.stringify(v, big)}`);
      await sleep(100);
    }
  });

  await step("decommission", async () => withTimeout(decommission(peer), 20000, "decommission"));
});

function big(_, v) {
  return typeof v === "bigint" ? v.toString() : v;
}
