// Scenario: NodeLabel write, subscription report, persistence.
//
// --phase=write: commission, wait for matter.js's automatic subscription,
//   subscribe (KeepSubscriptions) to BasicInformation.nodeLabel on
//   endpoint 0, write nodeLabel = --label, wait for the device's
//   change-driven reports carrying the new value on both subscriptions,
//   then close the controller WITHOUT decommissioning (its storage under
//   MATTER_PATH_ROOT keeps the fabric and the peer).
// --phase=verify: with the same MATTER_PATH_ROOT, find the already
//   commissioned peer (CASE only, no PASE), read nodeLabel over the wire,
//   then decommission.
import { args, check, commission, decommission, matter, newController, protocol, readAttrs, run, step, withTimeout, writeAttr } from "./lib.mjs";

const { BasicInformation } = await import("@matter/main/clusters/basic-information");
const { BasicInformationClient } = await import("@matter/main/behaviors/basic-information");
const { NetworkClient } = matter;
const { Seconds } = matter;
const { Read, Subscribe } = protocol;
const label = args.label ?? "kitchen";
const phase = args.phase ?? "write";

await run(async ({ closeLater }) => {
  const controller = await newController();
  closeLater(controller);

  if (phase === "write") {
    let peer;
    await step("commission", async () => {
      peer = await commission(controller);
      return peer.peerAddress;
    });

    // matter.js subscribes to everything (KeepSubscriptions=false) right
    // after commissioning; wait until that subscription is up so that ours
    // (KeepSubscriptions=true) is not sent concurrently with it (the
    // concurrent case is concurrentsubscribe.mjs).
    const autoLabels = [];
    await step("auto-subscription", async () => {
      const t0 = Date.now();
      while (!(await peer.act((agent) => agent.get(NetworkClient).subscriptionActive))) {
        check(Date.now() - t0 < 10000, "matter.js's automatic subscription not active within 10 s");
        await new Promise((r) => setTimeout(r, 20));
      }
      peer.eventsOf(BasicInformationClient).nodeLabel$Changed.on((v) => autoLabels.push(v));
      return Date.now() - t0;
    });

    // Every nodeLabel value our subscription delivers, in order.
    const reports = [];
    let wake = () => {};
    const req = Subscribe(
      { keepSubscriptions: true, minIntervalFloor: Seconds(0), maxIntervalCeiling: Seconds(30) },
      Read.Attribute({ endpoint: 0, cluster: BasicInformation, attributes: ["nodeLabel"] }),
    );
    req.updated = async (data) => {
      for await (const chunk of data)
        for await (const r of chunk)
          if (r.kind === "attr-value" && r.path.attributeId === BasicInformation.attributes.nodeLabel.id) {
            reports.push(r.value);
            wake();
          }
    };
    const waitFor = (pred, ms, what) =>
      withTimeout(
        new Promise((resolve) => {
          const test = () => pred() && resolve(reports.slice());
          wake = test;
          test();
        }),
        ms,
        what,
      );

    await step("subscribe", async () => {
      const s = await peer.interaction.subscribe(req);
      // The priming report is delivered before subscribe resolves or
      // right after; either way it carries the current (old) label.
      await waitFor(() => reports.length > 0, 5000, "priming report");
      check(reports[0] !== label, `label already ${JSON.stringify(label)} before the write`);
      return { subscriptionId: s.subscriptionId, priming: reports[0] };
    });

    const before = reports.length;
    await step("write-nodelabel", async () => {
      const res = await writeAttr(peer, 0, BasicInformation, "nodeLabel", label);
      check(res.every((r) => r.status === 0), `write statuses ${JSON.stringify(res)}`);
      return res.map((r) => r.status);
    });
    await step("report-nodelabel", async () => {
      // A write response carries statuses only, so a value here came in
      // a DataReport of the subscription.
      const got = await waitFor(() => reports.slice(before).includes(label), 10000, `report of nodeLabel=${label}`);
      return got;
    });
    await step("auto-report-nodelabel", async () => {
      // The automatic wildcard subscription sees the change too.
      const t0 = Date.now();
      while (!autoLabels.includes(label)) {
        check(Date.now() - t0 < 10000, `automatic subscription reported ${JSON.stringify(autoLabels)}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return autoLabels;
    });
    await step("read-nodelabel", async () => {
      const v = await readAttrs(peer, 0, BasicInformation, ["nodeLabel"]);
      check(v.nodeLabel === label, `read ${JSON.stringify(v)}`);
      return v.nodeLabel;
    });
    // No decommission: the controller closes and keeps its fabric.
    return;
  }

  // phase verify
  let peer;
  await step("known-peer", async () => {
    const peers = [...controller.peers].filter((p) => p.lifecycle.isCommissioned);
    check(peers.length === 1, `${peers.length} commissioned peers in storage`);
    peer = peers[0];
    return { id: peer.id, address: peer.peerAddress };
  });
  await step("read-nodelabel", async () => {
    // The first interaction establishes CASE with the stored fabric.
    const v = await withTimeout(readAttrs(peer, 0, BasicInformation, ["nodeLabel", "vendorId"]), 30000, "read over CASE");
    check(v.nodeLabel === label, `nodeLabel after restart ${JSON.stringify(v)}`);
    return v;
  });
  await step("decommission", async () => decommission(peer));
});
