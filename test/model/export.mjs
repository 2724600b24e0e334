// Exports the part of the Matter data model that mattercam serves or calls
// as compact, deterministic JSON. The Go generator in
// matter/clusters/internal/gen reads the result; nothing at run time does.
//
//   cd test && npm ci && node model/export.mjs > ../matter/clusters/model.json
//
// The model comes from @matter/model, pinned in package.json to the version
// the test controller (@matter/main) uses, so the device and the controller
// agree on every ID, type and access rule. The output schema is described in
// matter/clusters/doc.go; keep the two in step.

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Matter, Specification } from "@matter/model";

// The version this file is meant for. A different installed version would
// silently change the committed model, so refuse instead.
const MODEL_VERSION = "0.17.9";

// Clusters the device serves (server) or calls (client), by ID.
const CLUSTERS = [
    0x001d, // Descriptor
    0x001f, // AccessControl
    0x0028, // BasicInformation
    0x0029, // OtaSoftwareUpdateProvider (client: the OTA requestor calls it)
    0x002a, // OtaSoftwareUpdateRequestor
    0x002f, // PowerSource
    0x0030, // GeneralCommissioning
    0x0031, // NetworkCommissioning
    0x0033, // GeneralDiagnostics
    0x0038, // TimeSynchronization
    0x003c, // AdministratorCommissioning
    0x003e, // OperationalCredentials
    0x003f, // GroupKeyManagement
    0x0551, // CameraAvStreamManagement
    0x0553, // WebRtcTransportProvider
    0x0554, // WebRtcTransportRequestor (client: the provider calls it)
    0x0801, // TlsCertificateManagement
    0x0802, // TlsClientManagement
];

// Name of the scope that holds the Matter-wide (global) datatypes.
const GLOBALS = "Globals";

// Global attributes (Core §7.13) are derived from the rest of the metadata
// by the data model, so they are not exported as attributes.
const FIRST_GLOBAL_ATTRIBUTE = 0xfff8;

const PRIMITIVES = new Set([
    "bool",
    "uint8", "uint16", "uint24", "uint32", "uint40", "uint48", "uint56", "uint64",
    "int8", "int16", "int24", "int32", "int40", "int48", "int56", "int64",
    "single", "double", "octstr", "string",
]);

const PRIVILEGES = { V: "view", O: "operate", M: "manage", A: "administer" };

function fail(message) {
    throw new Error(`export: ${message}`);
}

function checkVersion() {
    const entry = fileURLToPath(import.meta.resolve("@matter/model"));
    const root = entry.slice(0, entry.lastIndexOf("/dist/"));
    const { version } = JSON.parse(readFileSync(`${root}/package.json`, "utf8"));
    if (version !== MODEL_VERSION) {
        fail(`@matter/model is ${version}, expected ${MODEL_VERSION} (run npm ci in test/)`);
    }
}

// Scope name of a datatype: the cluster (or definitions-only cluster) that
// declares it, or GLOBALS for Matter-wide ones.
function scopeOf(model) {
    const parent = model.parent;
    if (!parent || parent.tag === "matter") {
        return GLOBALS;
    }
    if (parent.tag !== "cluster") {
        fail(`${model.path}: datatype outside a cluster or the global scope`);
    }
    return parent.name;
}

// Every datatype a resolved type refers to, keyed by "Scope.Name". Those
// outside the exported clusters become the shared scopes of the output.
const referenced = new Map();

// Resolves a value's type by walking its base chain to the first struct,
// enum or bitmap datatype (a reference) or global primitive. Integer
// aliases (WebRTCSessionID, FabricIndex, vendor-id…) resolve to their
// primitive and keep their name for documentation; bare enum8/map16 types
// without values are plain integers.
function resolveType(value, where) {
    if (value.type === undefined) {
        fail(`${where}: no type`);
    }
    if (value.effectiveMetatype === "array") {
        const entry = value.listEntry;
        if (!entry) {
            fail(`${where}: list without an entry type`);
        }
        return { kind: "list", entry: resolveType(entry, `${where}[]`) };
    }
    if (value.tag !== "datatype" && value.children.some(c => c.tag === "field")) {
        fail(`${where}: inline ${value.type} definitions are not supported`);
    }

    let alias;
    for (let m = value.base, depth = 0; m; m = m.base, depth++) {
        if (depth > 16) {
            fail(`${where}: type chain too deep`);
        }
        const global = scopeOf(m) === GLOBALS;
        if (global && PRIMITIVES.has(m.name)) {
            const out = { kind: m.name };
            if (alias) {
                out.name = alias;
            }
            return out;
        }
        switch (m.metatype ?? m.effectiveMetatype) {
            case "enum":
            case "bitmap":
            case "object":
                if (global && (m.name === "struct" || /^(enum|map)\d+$/.test(m.name))) {
                    // A bare enum8/map16 without values is just an integer.
                    if (m.name === "struct") {
                        fail(`${where}: untyped struct`);
                    }
                    return { kind: m.name.replace(/^(enum|map)/, "uint"), name: m.name };
                }
                if (m.tag !== "datatype") {
                    break;
                }
                return refTo(m);
        }
        if (alias === undefined && m.tag === "datatype" && !PRIMITIVES.has(m.name)) {
            alias = scopeOf(m) === GLOBALS ? m.name : `${scopeOf(m)}.${m.name}`;
        }
    }
    fail(`${where}: cannot resolve type ${value.type}`);
}

function refTo(datatype) {
    const kind = { enum: "enum", bitmap: "bitmap", object: "struct" }[datatype.effectiveMetatype];
    const ref = `${scopeOf(datatype)}.${datatype.name}`;
    if (!referenced.has(ref)) {
        referenced.set(ref, datatype);
    }
    return { kind, ref };
}

// Literal numeric bounds of a constraint; references and expressions are
// left to hand-written code (the string form is exported as well).
function bounds(constraint) {
    const out = {};
    if (!constraint || constraint.isEmpty || constraint.desc) {
        return out;
    }
    const literal = x => (typeof x === "number" || typeof x === "bigint" ? number(x) : undefined);
    const parts = constraint.parts ?? [constraint];
    if (parts.length !== 1) {
        return out;
    }
    const c = parts[0];
    if (c.value !== undefined && literal(c.value) !== undefined) {
        out.min = literal(c.value);
        out.max = out.min;
    }
    if (c.min !== undefined && literal(c.min) !== undefined) {
        out.min = literal(c.min);
    }
    if (c.max !== undefined && literal(c.max) !== undefined) {
        out.max = literal(c.max);
    }
    if (c.entry) {
        const entry = bounds(c.entry);
        if (Object.keys(entry).length) {
            out.entry = entry;
        }
    }
    return out;
}

// Numbers beyond 2^53 stay exact as decimal strings.
function number(x) {
    if (typeof x === "bigint") {
        return Number.isSafeInteger(Number(x)) ? Number(x) : x.toString();
    }
    return x;
}

function defaultValue(value) {
    return value.default === undefined ? undefined : jsonValue(value.default, value.path);
}

// A model FieldValue as JSON: primitives as they are, references as
// {"ref": name}, octets as {"bytes": hex}, lists as arrays.
function jsonValue(d, where) {
    switch (typeof d) {
        case "number":
        case "bigint":
            return number(d);
        case "boolean":
        case "string":
            return d;
    }
    if (d === null) {
        return null;
    }
    if (Array.isArray(d)) {
        return d.map(v => jsonValue(v, where));
    }
    switch (d.type) {
        case "reference":
            return { ref: d.name };
        case "bytes":
            return { bytes: d.value };
        case "percent":
        case "celsius":
            return { [d.type]: number(d.value) };
        case "properties":
            return Object.fromEntries(
                Object.entries(d.properties)
                    .sort(([a], [b]) => compareNames(a, b))
                    .map(([k, v]) => [k, jsonValue(v, where)]),
            );
    }
    fail(`${where}: unsupported default ${JSON.stringify(d)}`);
}

function constraintOf(value) {
    const c = value.effectiveConstraint;
    return c.isEmpty ? undefined : c.toString();
}

function conformanceOf(value) {
    return value.effectiveConformance.toString();
}

function disallowed(value) {
    return conformanceOf(value) === "X";
}

function qualityOf(value) {
    return value.effectiveQuality.toString();
}

function privilege(letter, where) {
    if (letter === undefined) {
        return undefined;
    }
    return PRIVILEGES[letter] ?? fail(`${where}: unknown privilege ${letter}`);
}

function fabricOf(access) {
    if (access.fabricScoped) {
        return "scoped";
    }
    if (access.fabricSensitive) {
        return "sensitive";
    }
    return undefined;
}

// Drops undefined members, false flags and empty strings and objects so the
// JSON stays compact; the Go side reads absent as zero. Default values are
// kept as they are (a default of false is information).
function compact(object) {
    const out = {};
    for (const [k, v] of Object.entries(object)) {
        if (k === "default") {
            if (v !== undefined) {
                out[k] = v;
            }
            continue;
        }
        if (v === undefined || v === false || v === "") {
            continue;
        }
        if (typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0) {
            continue;
        }
        out[k] = v;
    }
    return out;
}

function fieldOf(f, where) {
    const path = `${where}.${f.name}`;
    const access = f.effectiveAccess;
    return compact({
        id: f.id,
        name: f.name,
        type: resolveType(f, path),
        conformance: conformanceOf(f),
        optional: conformanceOf(f) !== "M",
        nullable: f.nullable,
        fabricSensitive: access.fabricSensitive,
        constraint: constraintOf(f),
        ...bounds(f.effectiveConstraint),
        default: defaultValue(f),
    });
}

function fieldsOf(model, where) {
    const fields = model.children.filter(c => c.tag === "field" && !disallowed(c));
    for (const f of fields) {
        if (f.id === undefined) {
            fail(`${where}.${f.name}: field without an ID`);
        }
    }
    return fields.sort((a, b) => a.id - b.id).map(f => fieldOf(f, where));
}

function datatypeOf(d) {
    const where = `${scopeOf(d)}.${d.name}`;
    const metatype = d.effectiveMetatype;
    const base = d.primitiveBase?.name;
    switch (metatype) {
        case "object": {
            const fields = fieldsOf(d, where);
            return compact({
                name: d.name,
                kind: "struct",
                // Core §7.5.2: a fabric-scoped struct carries its FabricIndex in field 0xFE.
                fabricScoped: fields.some(f => f.id === 0xfe),
                fields,
            });
        }
        case "enum": {
            const values = d.children
                .filter(c => c.tag === "field" && !disallowed(c))
                .sort((a, b) => a.id - b.id)
                .map(v => compact({ value: v.id, name: v.name, conformance: conformanceOf(v) }));
            return { name: d.name, kind: "enum", base, values };
        }
        case "bitmap": {
            const bits = d.children
                .filter(c => c.tag === "field" && !disallowed(c))
                .map(b => {
                    const { min, max } = bounds(b.constraint);
                    if (min === undefined || max === undefined) {
                        fail(`${where}.${b.name}: bit position ${b.constraint} is not literal`);
                    }
                    // "n" is one bit; "a to b" is a field of b-a+1 bits (b inclusive).
                    return compact({ bit: min, width: max - min + 1, name: b.name, conformance: conformanceOf(b) });
                })
                .sort((a, b) => a.bit - b.bit);
            return { name: d.name, kind: "bitmap", base, bits };
        }
    }
    return undefined; // integer aliases resolve at their use sites
}

function attributeOf(a, where) {
    const access = a.effectiveAccess;
    return compact({
        id: a.id,
        name: a.name,
        type: resolveType(a, `${where}.${a.name}`),
        conformance: conformanceOf(a),
        read: privilege(access.readable ? access.readPriv : undefined, a.path),
        write: privilege(access.writable ? access.writePriv : undefined, a.path),
        optionalWrite: access.rw === "R[W]",
        fabric: fabricOf(access),
        timed: access.timed,
        quality: qualityOf(a),
        nullable: a.nullable,
        constraint: constraintOf(a),
        ...bounds(a.effectiveConstraint),
        default: defaultValue(a),
    });
}

function commandOf(c, cluster, where) {
    const access = c.effectiveAccess;
    const request = c.isRequest;
    let response;
    let responseId;
    if (request) {
        response = c.effectiveResponse ?? "status";
        if (response !== "status") {
            const model = cluster.commands.find(r => r.name === response && r.isResponse);
            if (!model) {
                fail(`${where}.${c.name}: response ${response} not found`);
            }
            responseId = model.id;
        }
    }
    return compact({
        id: c.id,
        name: c.name,
        direction: request ? "request" : "response",
        response,
        responseId,
        conformance: conformanceOf(c),
        // A command's single privilege letter is its invoke privilege; the
        // model stores it as the write privilege (default Operate).
        invoke: request ? privilege(access.writePriv, c.path) : undefined,
        fabricScoped: request && access.fabricScoped,
        timed: access.timed,
        quality: qualityOf(c),
        fields: fieldsOf(c, `${where}.${c.name}`),
    });
}

function eventOf(e, where) {
    const access = e.effectiveAccess;
    return compact({
        id: e.id,
        name: e.name,
        priority: e.priority,
        conformance: conformanceOf(e),
        read: privilege(access.readPriv, e.path),
        fabricSensitive: access.fabricSensitive,
        fields: fieldsOf(e, `${where}.${e.name}`),
    });
}

function clusterOf(c) {
    const where = c.name;
    const features = c.features
        .map(f => {
            const { min } = bounds(f.constraint);
            if (min === undefined) {
                fail(`${where}: feature ${f.name} has no bit`);
            }
            return compact({ bit: min, code: f.name, name: f.title, conformance: conformanceOf(f) });
        })
        .sort((a, b) => a.bit - b.bit);
    const attributes = c.attributes
        .filter(a => a.id < FIRST_GLOBAL_ATTRIBUTE && !disallowed(a))
        .sort((a, b) => a.id - b.id)
        .map(a => attributeOf(a, where));
    // Requests before responses; IDs are unique within each direction.
    const commands = c.commands
        .filter(x => !disallowed(x))
        .sort((a, b) => Number(a.isResponse) - Number(b.isResponse) || a.id - b.id)
        .map(x => commandOf(x, c, where));
    const events = c.events
        .filter(e => !disallowed(e))
        .sort((a, b) => a.id - b.id)
        .map(e => eventOf(e, where));
    const datatypes = c.datatypes
        .filter(d => !disallowed(d))
        .map(datatypeOf)
        .filter(d => d !== undefined)
        .sort((a, b) => compareNames(a.name, b.name));
    return compact({
        id: c.id,
        name: c.name,
        revision: c.revision,
        features,
        attributes,
        commands,
        events,
        datatypes,
    });
}

function compareNames(a, b) {
    return a < b ? -1 : a > b ? 1 : 0;
}

// Datatypes of scopes that are not exported clusters (the global scope,
// definitions-only clusters), transitively: exporting one may reference more.
function sharedScopes(exported) {
    const scopes = new Map();
    const done = new Set();
    for (;;) {
        const pending = [...referenced.keys()].filter(k => !done.has(k));
        if (!pending.length) {
            break;
        }
        for (const key of pending) {
            done.add(key);
            const d = referenced.get(key);
            const scope = scopeOf(d);
            if (exported.has(scope)) {
                continue;
            }
            if (!scopes.has(scope)) {
                scopes.set(scope, []);
            }
            scopes.get(scope).push(datatypeOf(d));
        }
    }
    return [...scopes.entries()]
        .sort(([a], [b]) => compareNames(a, b))
        .map(([name, datatypes]) => ({ name, datatypes: datatypes.sort((a, b) => compareNames(a.name, b.name)) }));
}

// Pretty-prints with one line per element that fits in LINE characters
// (a field, an enum value, a type), so the file stays short and diffs show
// one changed line per changed element.
const LINE = 160;

function format(value, indent) {
    const flat = JSON.stringify(value);
    if (flat.length + indent.length <= LINE || value === null || typeof value !== "object") {
        return flat;
    }
    const inner = `${indent}  `;
    if (Array.isArray(value)) {
        return `[\n${value.map(v => inner + format(v, inner)).join(",\n")}\n${indent}]`;
    }
    const members = Object.entries(value).map(([k, v]) => `${inner}${JSON.stringify(k)}: ${format(v, inner)}`);
    return `{\n${members.join(",\n")}\n${indent}}`;
}

function main() {
    checkVersion();
    const clusters = CLUSTERS.map(id => {
        const c = Matter.clusters.find(c => c.id === id);
        if (!c) {
            fail(`cluster 0x${id.toString(16)} is not in the model`);
        }
        return c;
    }).sort((a, b) => a.id - b.id);

    const exported = new Set(clusters.map(c => c.name));
    const exportedClusters = clusters.map(clusterOf);
    const model = {
        source: `@matter/model@${MODEL_VERSION}`,
        specification: Specification.REVISION,
        scopes: sharedScopes(exported), // after the clusters: they fill `referenced`
        clusters: exportedClusters,
    };
    process.stdout.write(`${format(model, "")}\n`);
}

main();
