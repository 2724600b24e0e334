package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

// The schema of model.json, written by test/model/export.mjs (see
// matter/clusters/doc.go for the description). Absent members are zero:
// the exporter drops false flags and empty strings.

// Model is the whole file.
type Model struct {
	Source        string     `json:"source"`
	Specification string     `json:"specification"`
	Scopes        []*Scope   `json:"scopes"`
	Clusters      []*Cluster `json:"clusters"`
}

// Scope is a set of datatypes that is not a served cluster: the global
// datatypes, or a definitions-only cluster shared by several clusters.
type Scope struct {
	Name      string      `json:"name"`
	Datatypes []*Datatype `json:"datatypes"`
}

// Cluster is one cluster.
type Cluster struct {
	ID         uint32       `json:"id"`
	Name       string       `json:"name"`
	Revision   uint16       `json:"revision"`
	Features   []*Feature   `json:"features"`
	Attributes []*Attribute `json:"attributes"`
	Commands   []*Command   `json:"commands"`
	Events     []*Event     `json:"events"`
	Datatypes  []*Datatype  `json:"datatypes"`
}

// Feature is one FeatureMap bit.
type Feature struct {
	Bit         uint   `json:"bit"`
	Code        string `json:"code"`
	Name        string `json:"name"`
	Conformance string `json:"conformance"`
}

// Bounds are a constraint's literal numeric limits: lengths for strings,
// octet strings and lists, values for numbers. Nil means unbounded.
type Bounds struct {
	Min   *json.Number `json:"min"`
	Max   *json.Number `json:"max"`
	Entry *Bounds      `json:"entry"` // of each list entry
}

// Attribute is one (non-global) attribute.
type Attribute struct {
	ID            uint32 `json:"id"`
	Name          string `json:"name"`
	Type          *Type  `json:"type"`
	Conformance   string `json:"conformance"`
	Read          string `json:"read"`  // privilege, "" when not readable
	Write         string `json:"write"` // privilege, "" when not writable
	OptionalWrite bool   `json:"optionalWrite"`
	Fabric        string `json:"fabric"` // "scoped", "sensitive" or ""
	Timed         bool   `json:"timed"`
	Quality       string `json:"quality"` // spec letters, e.g. "X N"
	Nullable      bool   `json:"nullable"`
	Constraint    string `json:"constraint"`
	Default       any    `json:"default"`
	Bounds               // literal limits of Constraint
}

// Command is a request or a response.
type Command struct {
	ID           uint32   `json:"id"`
	Name         string   `json:"name"`
	Direction    string   `json:"direction"` // "request" or "response"
	Response     string   `json:"response"`  // request: response command name or "status"
	ResponseID   *uint32  `json:"responseId"`
	Conformance  string   `json:"conformance"`
	Invoke       string   `json:"invoke"`
	FabricScoped bool     `json:"fabricScoped"`
	Timed        bool     `json:"timed"`
	Quality      string   `json:"quality"`
	Fields       []*Field `json:"fields"`
}

// Event is one event.
type Event struct {
	ID              uint32   `json:"id"`
	Name            string   `json:"name"`
	Priority        string   `json:"priority"`
	Conformance     string   `json:"conformance"`
	Read            string   `json:"read"`
	FabricSensitive bool     `json:"fabricSensitive"`
	Fields          []*Field `json:"fields"`
}

// Field is a member of a struct, command or event.
type Field struct {
	ID              uint8  `json:"id"`
	Name            string `json:"name"`
	Type            *Type  `json:"type"`
	Conformance     string `json:"conformance"`
	Optional        bool   `json:"optional"`
	Nullable        bool   `json:"nullable"`
	FabricSensitive bool   `json:"fabricSensitive"`
	Constraint      string `json:"constraint"`
	Default         any    `json:"default"`
	Bounds
}

// Type is a resolved type: a primitive kind, a list, or a reference to
// a struct, enum or bitmap datatype by "Scope.Name".
type Type struct {
	Kind  string `json:"kind"`
	Name  string `json:"name"` // primitive kinds: the model's semantic type, if any
	Ref   string `json:"ref"`
	Entry *Type  `json:"entry"`
}

// Datatype is a struct, enum or bitmap definition.
type Datatype struct {
	Name         string   `json:"name"`
	Kind         string   `json:"kind"` // "struct", "enum", "bitmap"
	Base         string   `json:"base"` // enum, bitmap: uint8…uint64
	FabricScoped bool     `json:"fabricScoped"`
	Fields       []*Field `json:"fields"`
	Values       []*Value `json:"values"`
	Bits         []*Bit   `json:"bits"`
}

// Value is one enum value.
type Value struct {
	Value       uint64 `json:"value"`
	Name        string `json:"name"`
	Conformance string `json:"conformance"`
}

// Bit is one bitmap field: Width bits from Bit.
type Bit struct {
	Bit         uint   `json:"bit"`
	Width       uint   `json:"width"`
	Name        string `json:"name"`
	Conformance string `json:"conformance"`
}

// loadModel reads and checks model.json. Unknown members are an error, so
// a schema change in the exporter cannot be silently ignored here.
func loadModel(path string) (*Model, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var m Model
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(m.Clusters) == 0 {
		return nil, fmt.Errorf("%s: no clusters", path)
	}
	return &m, nil
}
