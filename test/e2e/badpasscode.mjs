// Scenario: commissioning with a wrong passcode fails cleanly.
//
// Commissions the device at --address/--port with --passcode (a wrong
// one) and expects the attempt to be refused during PASE, within
// --within-ms (default 20000): step "commission-refused" passes when
// commissioning threw a PASE / authentication error in time, and fails
// when it succeeded, hung, or failed some other way. The controller then
// closes; the Go test checks that the firmware is still up and
// commissionable, and commissions it with the right passcode.
import { args, check, commission, newController, run, step, withTimeout } from "./lib.mjs";

const withinMs = Number(args["within-ms"] ?? 20000);

await run(async ({ closeLater }) => {
  const controller = await newController();
  closeLater(controller);
  await step("commission-refused", async () => {
    let peer;
    try {
      // The commissioning timeout bounds the whole attempt; withTimeout
      // catches a hang of the promise itself.
      peer = await withTimeout(commission(controller, undefined, Math.ceil(withinMs / 1000)), withinMs + 5000, "commission");
    } catch (e) {
      const text = String(e?.stack ?? e);
      // matter.js reports a failed SPAKE2+ confirmation as a PASE error;
      // the device answers Pake3 with StatusReport INVALID_PARAM (or the
      // controller detects the bad cB in Pake2 itself).
      const pase = /pase|pake|spake|verif|InvalidParam|invalid param|authenticat|passcode|hBX|hAY/i.test(text);
      check(!/no result within/.test(text), `commissioning hung: ${text}`);
      check(pase, `commissioning failed, but not in PASE: ${text}`);
      return { error: `${e?.constructor?.name}: ${e?.message}`.slice(0, 400) };
    }
    throw new Error(`commissioning with a wrong passcode succeeded: ${JSON.stringify(peer.peerAddress)}`);
  });
});
