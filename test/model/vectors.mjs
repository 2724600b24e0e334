// Encodes a set of command payloads, structs and events with matter.js's
// own TLV codec (TlvOfModel from @matter/types, the controller the
// end-to-end tests use) and prints them as JSON test vectors. The Go tests
// in matter/clusters decode each vector with the generated code and check
// the values field by field, so the device and the controller are checked
// to agree on tags, types, optional and nullable fields.
//
//   cd test && npm ci && node model/vectors.mjs > ../matter/clusters/testdata/matterjs-vectors.json

import { TlvOfModel } from "@matter/main/types";
import { Matter } from "@matter/model";

// Deterministic octets: n bytes counting up from start.
function octets(n, start = 0) {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
        b[i] = (start + i) & 0xff;
    }
    return b;
}

// name: "Cluster.Element" (a command, datatype or event of the cluster).
const VECTORS = [
    ["GeneralCommissioning.ArmFailSafe", { expiryLengthSeconds: 900, breadcrumb: 0 }],
    ["GeneralCommissioning.ArmFailSafe", { expiryLengthSeconds: 60, breadcrumb: 0x1122334455667788n }],
    ["GeneralCommissioning.ArmFailSafeResponse", { errorCode: 0, debugText: "" }],
    ["GeneralCommissioning.SetRegulatoryConfig", { newRegulatoryConfig: 2, countryCode: "XX", breadcrumb: 2 }],
    ["GeneralCommissioning.CommissioningComplete", undefined], // no fields
    ["GeneralCommissioning.CommissioningCompleteResponse", { errorCode: 3, debugText: "no fail-safe" }],
    ["OperationalCredentials.AttestationRequest", { attestationNonce: octets(32) }],
    ["OperationalCredentials.AttestationResponse", { attestationElements: octets(40, 0x10), attestationSignature: octets(64, 0x80) }],
    ["OperationalCredentials.CsrRequest", { csrNonce: octets(32, 0x20), isForUpdateNoc: false }],
    ["OperationalCredentials.AddNoc", {
        nocValue: octets(20, 1), icacValue: octets(10, 2), ipkValue: octets(16, 3),
        caseAdminSubject: 0x000000000001b669n, adminVendorId: 0xfff1,
    }],
    ["OperationalCredentials.NocResponse", { statusCode: 0, fabricIndex: 1 }],
    ["AccessControl.AccessControlEntryStruct", { privilege: 5, authMode: 2, subjects: [112233n], targets: null, fabricIndex: 1 }],
    ["AccessControl.AccessControlEntryStruct", {
        privilege: 3, authMode: 2, subjects: null,
        targets: [{ cluster: 0x0551, endpoint: null, deviceType: null }], fabricIndex: 2,
    }],
    ["Descriptor.DeviceTypeStruct", { deviceType: 0x0142, revision: 1 }],
    ["BasicInformation.StartUp", { softwareVersion: 7 }],
    ["WebRtcTransportProvider.SolicitOffer", {
        streamUsage: 3, originatingEndpointId: 1, videoStreamId: null,
        iceServers: [{ urLs: ["stun:stun.example.org"] }],
    }],
    ["WebRtcTransportProvider.SolicitOfferResponse", { webRtcSessionId: 4, deferredOffer: true, videoStreamId: 1 }],
    ["WebRtcTransportProvider.ProvideOffer", {
        webRtcSessionId: null, sdp: "v=0\r\n", streamUsage: 3, originatingEndpointId: 1,
    }],
    ["WebRtcTransportProvider.ProvideAnswer", { webRtcSessionId: 4, sdp: "v=0\r\n" }],
    ["WebRtcTransportProvider.EndSession", { webRtcSessionId: 4, reason: 11 }],
    ["WebRtcTransportRequestor.IceCandidates", {
        webRtcSessionId: 4,
        iceCandidates: [{ candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", sdpMid: "0", sdpmLineIndex: null }],
    }],
    ["WebRtcTransportRequestor.End", { webRtcSessionId: 4, reason: 2 }],
    ["CameraAvStreamManagement.VideoStreamAllocate", {
        streamUsage: 3, videoCodec: 0, minFrameRate: 15, maxFrameRate: 30,
        minResolution: { width: 640, height: 360 }, maxResolution: { width: 1280, height: 720 },
        minBitRate: 500000, maxBitRate: 2000000, keyFrameInterval: 4000,
    }],
];

function find(name) {
    const [clusterName, element] = name.split(".");
    const cluster = Matter.clusters.find(c => c.name === clusterName);
    if (!cluster) {
        throw new Error(`vectors: no cluster ${clusterName}`);
    }
    const model =
        cluster.commands.find(c => c.name === element) ??
        cluster.datatypes.find(d => d.name === element) ??
        cluster.events.find(e => e.name === element);
    if (!model) {
        throw new Error(`vectors: no ${element} in ${clusterName}`);
    }
    return model;
}

function hex(bytes) {
    return Array.from(bytes, b => b.toString(16).padStart(2, "0")).join("");
}

const out = VECTORS.map(([name, value]) => ({ name, hex: hex(TlvOfModel(find(name)).encode(value)) }));
process.stdout.write(`${JSON.stringify({ source: "@matter/types TlvOfModel, @matter/main 0.17.9", vectors: out }, null, 2)}\n`);
