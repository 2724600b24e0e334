// Scenario: two SubscribeRequests on one CASE session, back to back.
//
// Commissions without matter.js's automatic subscription, then --rounds
// times sends, without waiting in between,
//   S1: KeepSubscriptions=false, three BasicInformation attributes,
//   S2: KeepSubscriptions=true,  BasicInformation.NodeLabel,
// in that order on the same session. S1 arrives first, so it may only end
// subscriptions that existed before it (Core §8.5.1 KeepSubscriptions);
// S2 came after it and must be established, every round, within
// --within-ms. Step "round-N" fails with the subscription that did not
// complete.
import { args, check, decommission, ip, matter, newController, passcode, port, protocol, run, step, withTimeout } from "./lib.mjs";

const { BasicInformation } = await import("@matter/main/clusters/basic-information");
const { Seconds } = matter;
const { Read, Subscribe } = protocol;
const rounds = Number(args.rounds ?? 10);
const withinMs = Number(args["within-ms"] ?? 3000);

await run(async ({ closeLater }) => {
  const controller = await newController();
  closeLater(controller);
  let peer;
  await step("commission", async () => {
    peer = await controller.peers.forDescriptor({ addresses: [{ type: "udp", ip, port }] });
    await peer.commission({ passcode, timeout: Seconds(60), autoSubscribe: false });
    return peer.peerAddress;
  });

  const subscribe = (keep, attributes) => {
    const req = Subscribe(
      { keepSubscriptions: keep, minIntervalFloor: Seconds(0), maxIntervalCeiling: Seconds(30) },
      Read.Attribute({ endpoint: 0, cluster: BasicInformation, attributes }),
    );
    req.updated = async (data) => {
      for await (const chunk of data) for await (const _ of chunk);
    };
    return peer.interaction.subscribe(req);
  };

  const open = [];
  try {
    for (let i = 1; i <= rounds; i++) {
      await step(`round-${i}`, async () => {
        const s1 = subscribe(false, ["vendorName", "productName", "nodeLabel"]);
        const s2 = subscribe(true, ["nodeLabel"]);
        const [r1, r2] = await Promise.allSettled([
          withTimeout(s1, withinMs, "S1 (KeepSubscriptions=false, sent first)"),
          withTimeout(s2, withinMs, "S2 (KeepSubscriptions=true, sent second)"),
        ]);
        for (const r of [r1, r2]) if (r.status === "fulfilled") open.push(r.value);
        check(r2.status === "fulfilled", `S2: ${r2.reason}`);
        check(r1.status === "fulfilled", `S1: ${r1.reason}`);
        return { s1: r1.value.subscriptionId, s2: r2.value.subscriptionId };
      });
    }
  } finally {
    for (const s of open) {
      try {
        await s.close?.();
      } catch {}
    }
  }
  await step("decommission", async () => decommission(peer));
});
