// Encodes Interaction Model messages with matter.js's own schemas
// (@matter/types TlvReadRequest, TlvDataReport, ...; the controller the
// end-to-end tests use) and prints them as JSON test vectors. The Go tests
// in matter/im decode each vector and check every field, so the device's
// codec and the controller's are checked to agree on tags, containers and
// types.
//
//   cd test && npm ci && node model/im-vectors.mjs > ../matter/im/testdata/matterjs-im-vectors.json

import {
    TlvAny,
    TlvArray,
    TlvByteString,
    TlvDataReport,
    TlvField,
    TlvInvokeRequest,
    TlvInvokeResponse,
    TlvObject,
    TlvReadRequest,
    TlvStatusResponse,
    TlvString,
    TlvSubscribeRequest,
    TlvSubscribeResponse,
    TlvTimedRequest,
    TlvUInt32,
    TlvUInt8,
    TlvWriteRequest,
    TlvWriteResponse,
} from "@matter/main/types";

const hex = b => Buffer.from(b).toString("hex");

const fields = TlvObject({ a: TlvField(0, TlvUInt32), s: TlvField(1, TlvString) });

const VECTORS = {
    // The commissioning read of controller.md §1 step 2: concrete paths, a
    // wildcard-endpoint path, fabric filtered.
    ReadRequest: TlvReadRequest.encode({
        attributeRequests: [
            { endpointId: 0, clusterId: 0x3e, attributeId: 2 },
            { clusterId: 0x31, attributeId: 0xfffc },
            { endpointId: 0, clusterId: 0x28, attributeId: 1, nodeId: 0x1122334455667788n },
        ],
        isFabricFiltered: true,
        interactionModelRevision: 12,
    }),
    // The full wildcard read of step 9 with events, filters and
    // DataVersionFilters.
    ReadRequestWildcard: TlvReadRequest.encode({
        attributeRequests: [{ wildcardPathFlags: { skipRootNode: true, skipDiagnosticsClusters: true } }],
        eventRequests: [{ isUrgent: true }, { endpointId: 1, clusterId: 0x551, eventId: 2 }],
        eventFilters: [{ eventMin: 0x1_0000_0001n }],
        isFabricFiltered: false,
        dataVersionFilters: [{ path: { endpointId: 1, clusterId: 6 }, dataVersion: 0xdeadbeef }],
        interactionModelRevision: 12,
    }),
    SubscribeRequest: TlvSubscribeRequest.encode({
        keepSubscriptions: true,
        minIntervalFloorSeconds: 0,
        maxIntervalCeilingSeconds: 63,
        attributeRequests: [{}],
        eventRequests: [{ isUrgent: true }],
        eventFilters: [{ eventMin: 7 }],
        isFabricFiltered: true,
        dataVersionFilters: [{ path: { endpointId: 0, clusterId: 0x28 }, dataVersion: 5 }],
        interactionModelRevision: 12,
    }),
    SubscribeResponse: TlvSubscribeResponse.encode({ subscriptionId: 0x12345678, maxInterval: 60, interactionModelRevision: 12 }),
    // A list write as a chunked writer sends it: replace with an empty
    // list, then an append with ListIndex null.
    WriteRequest: TlvWriteRequest.encode({
        suppressResponse: false,
        timedRequest: true,
        writeRequests: [
            { dataVersion: 3, path: { endpointId: 1, clusterId: 0x1f, attributeId: 0 }, data: TlvArray(TlvUInt8).encodeTlv([]) },
            { path: { endpointId: 1, clusterId: 0x1f, attributeId: 0, listIndex: null }, data: TlvUInt8.encodeTlv(9) },
        ],
        moreChunkedMessages: true,
        interactionModelRevision: 12,
    }),
    WriteResponse: TlvWriteResponse.encode({
        writeResponses: [
            { path: { endpointId: 1, clusterId: 0x1f, attributeId: 0 }, status: { status: 0 } },
            { path: { endpointId: 1, clusterId: 0x1f, attributeId: 1 }, status: { status: 0x88 } },
        ],
        interactionModelRevision: 12,
    }),
    InvokeRequest: TlvInvokeRequest.encode({
        suppressResponse: false,
        timedRequest: false,
        invokeRequests: [
            { commandPath: { endpointId: 1, clusterId: 0x553, commandId: 0 }, commandFields: fields.encodeTlv({ a: 3, s: "x" }), commandRef: 1 },
            { commandPath: { endpointId: 1, clusterId: 6, commandId: 2 }, commandFields: TlvObject({}).encodeTlv({}), commandRef: 2 },
        ],
        interactionModelRevision: 12,
    }),
    InvokeResponse: TlvInvokeResponse.encode({
        suppressResponse: false,
        invokeResponses: [
            { command: { commandPath: { endpointId: 1, clusterId: 0x553, commandId: 1 }, commandFields: fields.encodeTlv({ a: 4, s: "y" }), commandRef: 1 } },
            { status: { commandPath: { endpointId: 1, clusterId: 6, commandId: 2 }, status: { status: 0x01, clusterStatus: 3 }, commandRef: 2 } },
        ],
        moreChunkedMessages: true,
        interactionModelRevision: 12,
    }),
    TimedRequest: TlvTimedRequest.encode({ timeout: 500, interactionModelRevision: 12 }),
    StatusResponse: TlvStatusResponse.encode({ status: 0xc6, interactionModelRevision: 12 }),
    ReportData: TlvDataReport.encode({
        subscriptionId: 0x42,
        attributeReports: [
            { attributeData: { dataVersion: 7, path: { endpointId: 1, clusterId: 6, attributeId: 0 }, data: TlvByteString.encodeTlv(new Uint8Array([1, 2, 3])) } },
            { attributeData: { dataVersion: 7, path: { endpointId: 1, clusterId: 6, attributeId: 1, listIndex: null }, data: TlvUInt8.encodeTlv(5) } },
            { attributeStatus: { path: { endpointId: 2, clusterId: 6, attributeId: 0 }, status: { status: 0x7f } } },
        ],
        eventReports: [
            { eventData: { path: { endpointId: 1, clusterId: 0x28, eventId: 0 }, eventNumber: 0x1_0000_0000n, priority: 2, epochTimestamp: 1700000000000, data: fields.encodeTlv({ a: 1, s: "v" }) } },
            { eventStatus: { path: { endpointId: 1, clusterId: 0x28, eventId: 9 }, status: { status: 0xc7 } } },
        ],
        moreChunkedMessages: true,
        suppressResponse: false,
        interactionModelRevision: 12,
    }),
};

const out = {};
for (const [name, bytes] of Object.entries(VECTORS)) {
    out[name] = hex(bytes);
}
out._source = "matter.js @matter/types 0.17.9, encoded by test/model/im-vectors.mjs";
void TlvAny;
console.log(JSON.stringify(out, null, 2));
