// Package clusters is the root of the cluster packages. Each cluster the
// device serves or calls has a package here (basicinformation,
// webrtctransportprovider, …) whose zz_generated.go is generated from
// model.json: IDs, feature bits, enums, bitmaps, structs, command and
// event payloads with TLV codecs, and the dm.ClusterMeta the data model
// serves. Hand-written behaviour sits next to the generated file in the
// same package. Datatypes shared between clusters live in globals (the
// Matter-wide ones) and webrtctransportdefinitions.
//
// # Regenerating
//
// model.json is exported from the Matter data model on npm,
// @matter/model, pinned in test/package.json to the version the test
// controller uses:
//
//	cd test && npm ci && node model/export.mjs > ../matter/clusters/model.json
//	go generate ./matter/clusters/
//
// Both outputs are committed; TestGeneratedUpToDate fails when the
// generated code does not match model.json and the generator.
//
// # model.json
//
// One JSON object, pretty-printed with one line per small element,
// everything sorted (clusters, attributes, events and fields by ID;
// requests before responses; datatypes by name):
//
//	source         "@matter/model@<version>"
//	specification  the Matter revision the model describes
//	scopes[]       datatype-only scopes: "Globals" and definitions-only
//	               clusters such as WebRtcTransportDefinitions; only the
//	               datatypes the exported clusters reference
//	  name, datatypes[]
//	clusters[]     by ID
//	  id, name, revision
//	  features[]   bit, code ("TC"), name ("TermsAndConditions"), conformance
//	  attributes[] non-global attributes: id, name, type, conformance,
//	               read / write (privilege: view, operate, manage,
//	               administer; absent when not readable / writable),
//	               optionalWrite (R[W]), fabric ("scoped" | "sensitive"),
//	               timed, quality (spec letters, "X N"), nullable,
//	               constraint (spec text), min / max / entry (its literal
//	               bounds), default
//	  commands[]   id, name, direction ("request" | "response"), response
//	               (name, or "status") and responseId, conformance, invoke
//	               (privilege), fabricScoped, timed, quality ("L"), fields[]
//	  events[]     id, name, priority, conformance, read, fabricSensitive,
//	               fields[]
//	  datatypes[]  name, kind:
//	               "struct": fabricScoped (has FabricIndex 0xFE), fields[]
//	               "enum":   base (uint8 | uint16), values[] {value, name, conformance}
//	               "bitmap": base, bits[] {bit, width, name, conformance}
//
//	field   id, name, type, conformance, optional (conformance is not
//	        plain "M"), nullable, fabricSensitive, constraint, min, max,
//	        entry, default
//	type    {"kind": primitive} with primitive one of bool, uint8…uint64,
//	        int8…int64, single, double, string, octstr, and "name" for the
//	        model's semantic type (vendor-id, fabric-idx, an alias such as
//	        WebRtcTransportDefinitions.WebRTCSessionID);
//	        {"kind": "list", "entry": type};
//	        {"kind": "enum" | "bitmap" | "struct", "ref": "Scope.Name"}
//
// Absent members are false, empty or unbounded. min and max bound the
// length of strings (in bytes), octet strings and lists, and the value of
// numbers; entry bounds each list entry. Elements the model disallows
// (conformance "X") are left out.
//
// # Generated Go
//
// Enums and bitmaps are named types over their base (GeneralCommissioning's
// RegulatoryLocationTypeEnum is generalcommissioning.RegulatoryLocationType
// with constants RegulatoryLocationTypeIndoor…); the Enum, Bitmap and
// Struct suffixes are dropped. Structs, command requests (FooRequest), responses
// (FooResponse) and events (FooEvent) have EncodeTLV and DecodeTLV.
// Optional fields are field.Optional, nullable ones field.Nullable (see
// package field). Decoding is strict: wrong element types, duplicate or
// missing mandatory fields and values outside literal constraints are
// errors (field.ErrConstraint for the latter); unknown fields are skipped.
package clusters

//go:generate go run ./internal/gen
