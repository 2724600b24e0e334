// A matter.js on/off light: the peer device `make bench` commissions with
// the same controller as mattercam, for a same-run comparison.
// Arguments: --port=N. Prints {"step":"ready"} once it listens.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, "").split("=")));
process.env.MATTER_PATH_ROOT ??= mkdtempSync(join(tmpdir(), "mattercam-jsdevice-"));
process.env.MATTER_LOG_LEVEL ??= "error";

const { ServerNode } = await import("@matter/main");
const { OnOffLightDevice } = await import("@matter/main/devices/on-off-light");

const node = await ServerNode.create({
  id: "jsdevice",
  network: { port: Number(args.port ?? 5560) },
  commissioning: { passcode: 20202021, discriminator: 3840 },
  basicInformation: { vendorId: 0xfff1, productId: 0x8000, vendorName: "matter.js", productName: "light" },
});
await node.add(OnOffLightDevice);
await node.start();
process.stdout.write(JSON.stringify({ step: "ready", ok: true }) + "\n");
const stop = async () => {
  await node.close();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
