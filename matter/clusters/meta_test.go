package clusters_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/mattercam/mattercam/matter/dm"
)

// The model as this test reads it: only what Meta must reflect, parsed
// here independently of the generator so a mapping bug in one is not
// mirrored in the other.
type modelFile struct {
	Scopes []struct {
		Name      string
		Datatypes []struct{ Name, Kind string }
	}
	Clusters []struct {
		ID         uint32
		Name       string
		Revision   uint16
		Attributes []struct {
			ID                uint32
			Name, Read, Write string
			Fabric, Quality   string
			Timed, Nullable   bool
			Conformance       string
			Type              struct{ Kind string }
		}
		Commands []struct {
			ID                           uint32
			Name, Direction, Response    string
			ResponseID                   *uint32
			Invoke, Quality, Conformance string
			FabricScoped, Timed          bool
		}
		Events []struct {
			ID                   uint32
			Name, Priority, Read string
			Conformance          string
			FabricSensitive      bool
		}
		Datatypes []struct{ Name, Kind string }
	}
}

func loadModel(t *testing.T) *modelFile {
	t.Helper()
	b, err := os.ReadFile("model.json")
	if err != nil {
		t.Fatal(err)
	}
	var m modelFile
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return &m
}

var privilegeOf = map[string]dm.Privilege{
	"": dm.PrivilegeNone, "view": dm.PrivilegeView, "operate": dm.PrivilegeOperate,
	"manage": dm.PrivilegeManage, "administer": dm.PrivilegeAdminister,
}

var priorityOf = map[string]dm.Priority{"debug": dm.PriorityDebug, "info": dm.PriorityInfo, "critical": dm.PriorityCritical}

func packageByName(name string) *generatedPackage {
	for i := range generatedPackages {
		if generatedPackages[i].Name == name {
			return &generatedPackages[i]
		}
	}
	return nil
}

// TestMetaMatchesModel checks every generated ClusterMeta against
// model.json: IDs, names, counts, privileges, responses and the quality
// flags that access control and transports act on.
func TestMetaMatchesModel(t *testing.T) {
	m := loadModel(t)
	if want := len(m.Clusters) + len(m.Scopes); len(generatedPackages) != want {
		t.Errorf("%d generated packages, model has %d clusters and scopes", len(generatedPackages), want)
	}
	for _, c := range m.Clusters {
		t.Run(c.Name, func(t *testing.T) {
			pkg := packageByName(strings.ToLower(c.Name))
			if pkg == nil || pkg.Meta == nil {
				t.Fatalf("no generated package with metadata for %s", c.Name)
			}
			meta := pkg.Meta
			if meta.ID != c.ID || meta.Name != c.Name || meta.Revision != c.Revision {
				t.Errorf("Meta says %#x %s rev %d, model %#x %s rev %d", meta.ID, meta.Name, meta.Revision, c.ID, c.Name, c.Revision)
			}

			if len(meta.Attributes) != len(c.Attributes) {
				t.Fatalf("%d attributes, model has %d", len(meta.Attributes), len(c.Attributes))
			}
			for i, a := range c.Attributes {
				got := meta.Attributes[i]
				if got.ID != a.ID || got.Name != a.Name || got.Conformance != a.Conformance {
					t.Errorf("attribute %d is %#x %s %q, model %#x %s %q", i, got.ID, got.Name, got.Conformance, a.ID, a.Name, a.Conformance)
				}
				if got.Read != privilegeOf[a.Read] || got.Write != privilegeOf[a.Write] {
					t.Errorf("%s: read/write %d/%d, model %q/%q", a.Name, got.Read, got.Write, a.Read, a.Write)
				}
				if got.List != (a.Type.Kind == "list") {
					t.Errorf("%s: List %v, model type %s", a.Name, got.List, a.Type.Kind)
				}
				checkFlag(t, a.Name, got.Quality, dm.QualityNullable, a.Nullable)
				checkFlag(t, a.Name, got.Quality, dm.QualityFixed, hasLetter(a.Quality, "F"))
				checkFlag(t, a.Name, got.Quality, dm.QualityNonVolatile, hasLetter(a.Quality, "N"))
				checkFlag(t, a.Name, got.Quality, dm.QualityChangesOmitted, hasLetter(a.Quality, "C"))
				checkFlag(t, a.Name, got.Quality, dm.QualityFabricSensitive, a.Fabric == "sensitive")
				checkFlag(t, a.Name, got.Quality, dm.QualityTimed, a.Timed)
				if a.Fabric == "scoped" && got.Quality&dm.QualityFabricScoped == 0 {
					t.Errorf("%s: fabric-scoped in the model, not in Meta", a.Name)
				}
			}

			var requests, responses int
			for _, cmd := range c.Commands {
				if cmd.Direction == "response" {
					responses++
					continue
				}
				requests++
				got := meta.Command(cmd.ID)
				if got == nil {
					t.Errorf("request %s (%#x) missing from Meta.Commands", cmd.Name, cmd.ID)
					continue
				}
				if got.Name != cmd.Name || got.Invoke != privilegeOf[cmd.Invoke] || got.Conformance != cmd.Conformance {
					t.Errorf("%s: Meta %s invoke %d %q, model invoke %q %q", cmd.Name, got.Name, got.Invoke, got.Conformance, cmd.Invoke, cmd.Conformance)
				}
				wantResp := dm.NoResponse
				if cmd.Response != "status" {
					if cmd.ResponseID == nil {
						t.Fatalf("%s: model names response %s without its ID", cmd.Name, cmd.Response)
					}
					wantResp = *cmd.ResponseID
				}
				if got.Response != wantResp {
					t.Errorf("%s: response %#x, model %#x", cmd.Name, got.Response, wantResp)
				}
				checkFlag(t, cmd.Name, got.Quality, dm.QualityLargeMessage, hasLetter(cmd.Quality, "L"))
				checkFlag(t, cmd.Name, got.Quality, dm.QualityFabricScoped, cmd.FabricScoped)
				checkFlag(t, cmd.Name, got.Quality, dm.QualityTimed, cmd.Timed)
				if wantResp != dm.NoResponse && !containsID(meta.Generated, wantResp) {
					t.Errorf("%s: response %#x not in Meta.Generated", cmd.Name, wantResp)
				}
			}
			if len(meta.Commands) != requests || len(meta.Generated) != responses {
				t.Errorf("%d accepted / %d generated commands, model %d / %d", len(meta.Commands), len(meta.Generated), requests, responses)
			}

			if len(meta.Events) != len(c.Events) {
				t.Fatalf("%d events, model has %d", len(meta.Events), len(c.Events))
			}
			for i, e := range c.Events {
				got := meta.Events[i]
				if got.ID != e.ID || got.Name != e.Name || got.Read != privilegeOf[e.Read] || got.Priority != priorityOf[e.Priority] {
					t.Errorf("event %d: Meta %#x %s read %d prio %d, model %#x %s %q %q",
						i, got.ID, got.Name, got.Read, got.Priority, e.ID, e.Name, e.Read, e.Priority)
				}
				checkFlag(t, e.Name, got.Quality, dm.QualityFabricSensitive, e.FabricSensitive)
			}

			// Every struct, command and event has a codec.
			kinds := map[string]int{}
			for _, cd := range pkg.Codecs {
				kinds[cd.Kind]++
			}
			structs := 0
			for _, d := range c.Datatypes {
				if d.Kind == "struct" {
					structs++
				}
			}
			want := map[string]int{"struct": structs, "request": requests, "response": responses, "event": len(c.Events)}
			for k, n := range want {
				if kinds[k] != n {
					t.Errorf("%d %s codecs, model has %d", kinds[k], k, n)
				}
			}
		})
	}
}

func checkFlag(t *testing.T, what string, q, flag dm.Quality, want bool) {
	t.Helper()
	if got := q&flag != 0; got != want {
		t.Errorf("%s: quality flag %#x is %v, model says %v", what, flag, got, want)
	}
}

func hasLetter(quality, letter string) bool {
	for _, l := range strings.Fields(quality) {
		if l == letter {
			return true
		}
	}
	return false
}

func containsID(ids []uint32, id uint32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
