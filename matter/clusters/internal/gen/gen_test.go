package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// tinyModel is a one-cluster model in model.json's schema; edit tweaks it.
func tinyModel(t *testing.T, edit func(m *Model)) *Model {
	t.Helper()
	const src = `{
  "source": "test", "specification": "0",
  "scopes": [],
  "clusters": [{
    "id": 4660, "name": "Thing", "revision": 1,
    "features": [{"bit": 0, "code": "F", "name": "Fast", "conformance": "O"}],
    "attributes": [{"id": 0, "name": "Level", "type": {"kind": "uint8"}, "conformance": "M", "read": "view", "quality": "N"}],
    "commands": [
      {"id": 0, "name": "Go", "direction": "request", "response": "GoResponse", "responseId": 1, "conformance": "M", "invoke": "operate",
       "fields": [{"id": 0, "name": "Mode", "type": {"kind": "enum", "ref": "Thing.ModeEnum"}, "conformance": "M"}]},
      {"id": 1, "name": "GoResponse", "direction": "response", "conformance": "M", "fields": []}
    ],
    "datatypes": [
      {"name": "ModeEnum", "kind": "enum", "base": "uint8", "values": [{"value": 0, "name": "Slow"}, {"value": 1, "name": "Quick"}]}
    ]
  }]
}`
	var m Model
	dec := json.NewDecoder(strings.NewReader(src))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(&m)
	}
	return &m
}

func TestGenerate(t *testing.T) {
	files, err := generate(tinyModel(t, nil), defaultBase)
	if err != nil {
		t.Fatal(err)
	}
	// gofmt aligns constant blocks; compare with runs of blanks collapsed.
	code := strings.Join(strings.Fields(string(files["thing/zz_generated.go"])), " ")
	for _, want := range []string{
		"// Code generated ",
		"ID uint32 = 0x1234",
		"FeatureFast uint32 = 1 << 0",
		"AttrLevel uint32 = 0x0000",
		"CmdGo uint32 = 0x00",
		"type Mode uint8",
		"ModeQuick Mode = 1",
		"func (v *GoRequest) DecodeTLV(r *tlv.Reader) error",
		"Response: CmdGoResponse",
		"Generated: []uint32{CmdGoResponse}",
	} {
		if !strings.Contains(code, want) {
			t.Errorf("generated code lacks %q", want)
		}
	}
	if _, ok := files["thing/zz_generated_test.go"]; !ok {
		t.Error("no round-trip test generated")
	}
	if _, ok := files["zz_generated_test.go"]; !ok {
		t.Error("no registry generated")
	}
}

// The generator refuses a model it cannot turn into correct code rather
// than emitting something that compiles but means something else.
func TestGenerateRefuses(t *testing.T) {
	tests := []struct {
		name string
		edit func(m *Model)
		want string
	}{
		{"unknown datatype", func(m *Model) {
			m.Clusters[0].Commands[0].Fields[0].Type.Ref = "Thing.Missing"
		}, "unknown datatype"},
		{"name clash", func(m *Model) {
			m.Clusters[0].Datatypes = append(m.Clusters[0].Datatypes, &Datatype{
				Name: "ModeQuickEnum", Kind: "enum", Base: "uint8", Values: []*Value{{Value: 0, Name: "A"}},
			}, &Datatype{Name: "ModeQuick", Kind: "bitmap", Base: "uint8"})
		}, "already used"},
		{"unknown quality", func(m *Model) { m.Clusters[0].Attributes[0].Quality = "Z" }, "unknown quality"},
		{"unknown privilege", func(m *Model) { m.Clusters[0].Attributes[0].Read = "root" }, "unknown privilege"},
		{"unknown kind", func(m *Model) { m.Clusters[0].Commands[0].Fields[0].Type = &Type{Kind: "uint128"} }, "kind"},
		{"bit outside the base", func(m *Model) {
			m.Clusters[0].Datatypes = append(m.Clusters[0].Datatypes, &Datatype{
				Name: "FlagsBitmap", Kind: "bitmap", Base: "uint8", Bits: []*Bit{{Bit: 7, Width: 2, Name: "Wide"}},
			})
		}, "does not fit"},
		{"two fields with one Go name", func(m *Model) {
			f := m.Clusters[0].Commands[0].Fields
			m.Clusters[0].Commands[0].Fields = append(f, &Field{ID: 1, Name: "mode", Type: &Type{Kind: "bool"}, Conformance: "M"})
		}, "two fields named Mode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := generate(tinyModel(t, tc.edit), defaultBase)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
