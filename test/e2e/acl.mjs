// Scenario: a subject without Manage/Administer gets UNSUPPORTED_ACCESS.
//
// The administrator (this controller, the CASE subject of AddNOC) rewrites
// its fabric's ACL so that its own node ID keeps Administer only on the
// Access Control cluster (so it can repair the ACL afterwards) and has
// View elsewhere. Then, over the same CASE session:
//   * writing BasicInformation.NodeLabel (Manage) must get 0x7E,
//   * invoking GeneralCommissioning.ArmFailSafe (Administer) must get 0x7E,
//   * reading NodeLabel (View) must still work.
// Next the ACL grants View to some other node only: reading NodeLabel
// must now get 0x7E. Finally the full admin entry is restored, the write
// succeeds, and the controller decommissions.
import { check, commission, decommission, newController, readAttrs, run, step, writeAttr } from "./lib.mjs";

const { AccessControl } = await import("@matter/main/clusters/access-control");
const { BasicInformation } = await import("@matter/main/clusters/basic-information");
const { GeneralCommissioningClient } = await import("@matter/main/behaviors/general-commissioning");

const UNSUPPORTED_ACCESS = 0x7e;
const { AccessControlEntryPrivilege: Privilege, AccessControlEntryAuthMode: AuthMode } = AccessControl;
const ACL_CLUSTER = AccessControl.id; // 0x1F

await run(async ({ closeLater }) => {
  const controller = await newController();
  closeLater(controller);
  let peer;
  await step("commission", async () => {
    peer = await commission(controller);
    return peer.peerAddress;
  });

  let admin, fabricIndex;
  await step("read-acl", async () => {
    const { acl } = await readAttrs(peer, 0, AccessControl, ["acl"]);
    check(Array.isArray(acl) && acl.length === 1, `ACL after commissioning: ${JSON.stringify(acl, (_, v) => (typeof v === "bigint" ? String(v) : v))}`);
    const e = acl[0];
    check(e.privilege === Privilege.Administer && e.authMode === AuthMode.Case && e.subjects?.length === 1, "AddNOC admin entry");
    admin = e.subjects[0];
    fabricIndex = e.fabricIndex;
    return { admin: BigInt(admin), fabricIndex };
  });

  const entry = (privilege, subjects, targets = null) => ({ privilege, authMode: AuthMode.Case, subjects, targets, fabricIndex });
  const writeAcl = async (entries) => {
    const res = await writeAttr(peer, 0, AccessControl, "acl", entries);
    check(res.length > 0 && res.every((r) => r.status === 0), `ACL write statuses ${JSON.stringify(res)}`);
    return res.map((r) => r.status);
  };

  await step("acl-downgrade-to-view", async () =>
    writeAcl([
      entry(Privilege.Administer, [admin], [{ endpoint: 0, cluster: ACL_CLUSTER, deviceType: null }]),
      entry(Privilege.View, [admin]),
    ]),
  );

  await step("write-nodelabel-denied", async () => {
    const res = await writeAttr(peer, 0, BasicInformation, "nodeLabel", "denied");
    check(res.length === 1 && res[0].status === UNSUPPORTED_ACCESS, `NodeLabel write with View only: ${JSON.stringify(res)}`);
    return res[0].status;
  });

  await step("invoke-armfailsafe-denied", async () => {
    try {
      await peer.commandsOf(GeneralCommissioningClient).armFailSafe({ expiryLengthSeconds: 0, breadcrumb: 0 });
    } catch (e) {
      check(e?.code === UNSUPPORTED_ACCESS, `ArmFailSafe with View only: ${e}`);
      return e.code;
    }
    throw new Error("ArmFailSafe with View only succeeded");
  });

  await step("read-nodelabel-allowed", async () => {
    const v = await readAttrs(peer, 0, BasicInformation, ["nodeLabel"]);
    check(typeof v.nodeLabel === "string" && v.nodeLabel !== "denied", `NodeLabel read with View: ${JSON.stringify(v)}`);
    return v;
  });

  await step("acl-view-for-other-node", async () =>
    writeAcl([
      entry(Privilege.Administer, [admin], [{ endpoint: 0, cluster: ACL_CLUSTER, deviceType: null }]),
      entry(Privilege.View, [0x1234_5678n]),
    ]),
  );

  await step("read-nodelabel-denied", async () => {
    const v = await readAttrs(peer, 0, BasicInformation, ["nodeLabel"]);
    check(v.nodeLabel?.status === UNSUPPORTED_ACCESS, `NodeLabel read without any grant: ${JSON.stringify(v)}`);
    return v.nodeLabel;
  });

  await step("acl-restore", async () => writeAcl([entry(Privilege.Administer, [admin])]));

  await step("write-nodelabel-allowed", async () => {
    const res = await writeAttr(peer, 0, BasicInformation, "nodeLabel", "allowed");
    check(res.length === 1 && res[0].status === 0, `NodeLabel write as admin: ${JSON.stringify(res)}`);
    const v = await readAttrs(peer, 0, BasicInformation, ["nodeLabel"]);
    check(v.nodeLabel === "allowed", `read back ${JSON.stringify(v)}`);
    return v.nodeLabel;
  });

  await step("decommission", async () => decommission(peer));
});
