package main

import (
	"fmt"
	"sort"
	"strings"
)

// pkgFiles is the output for one package: the generated code, and the
// generated round-trip test of every record in it.
type pkgFiles struct {
	pkg     string
	code    *file
	records []*record
}

// scopePackage generates a package holding only datatypes (the global
// ones, or a definitions-only cluster's).
func (g *generator) scopePackage(s *Scope) *pkgFiles {
	pkg := packageName(s.Name)
	f := g.newFile(pkg)
	doc := fmt.Sprintf("Package %s holds the Matter-wide (global) datatypes of the model that the generated clusters use.", pkg)
	if s.Name != "Globals" {
		doc = fmt.Sprintf("Package %s holds the datatypes of %s, shared by the clusters that use them.", pkg, s.Name)
	}
	f.packageClause(doc)
	recs := f.datatypes(s.Name, s.Datatypes)
	return &pkgFiles{pkg: pkg, code: f, records: recs}
}

// clusterPackage generates a cluster's package.
func (g *generator) clusterPackage(c *Cluster) *pkgFiles {
	pkg := packageName(c.Name)
	f := g.newFile(pkg)
	f.packageClause(fmt.Sprintf(`Package %s holds the generated model of the %s cluster
(0x%04X, revision %d): its IDs, feature bits, datatypes, command and event
payloads with their TLV codecs, and the metadata the data model serves.
Behaviour is written by hand next to it.`, pkg, c.Name, c.ID, c.Revision))
	for _, id := range []string{"ID", "Name", "Revision", "Meta"} {
		f.declare(id, "cluster constant")
	}
	f.p("const (")
	f.p("// ID is the cluster ID.")
	f.p("ID uint32 = 0x%04X", c.ID)
	f.p("// Name is the cluster's name in the Matter model.")
	f.p("Name = %q", c.Name)
	f.p("// Revision is the cluster revision the generated code follows.")
	f.p("Revision uint16 = %d", c.Revision)
	f.p(")")
	f.p("")
	f.features(c)
	f.attributeIDs(c)
	f.commandIDs(c)
	f.eventIDs(c)
	recs := f.datatypes(c.Name, c.Datatypes)
	recs = append(recs, f.commands(c)...)
	recs = append(recs, f.events(c)...)
	f.meta(c)
	return &pkgFiles{pkg: pkg, code: f, records: recs}
}

func (f *file) features(c *Cluster) {
	if len(c.Features) == 0 {
		return
	}
	f.p("// Feature bits of the FeatureMap attribute.")
	f.p("const (")
	for _, ft := range c.Features {
		name := "Feature" + goName(ft.Name)
		f.declare(name, "feature "+ft.Code)
		f.p("%s uint32 = 1 << %d // %s; conformance %s", name, ft.Bit, ft.Code, ft.Conformance)
	}
	f.p(")")
	f.p("")
}

func (f *file) attributeIDs(c *Cluster) {
	if len(c.Attributes) == 0 {
		return
	}
	f.p("// Attribute IDs, with the attribute's type, access, qualities,")
	f.p("// conformance and constraint.")
	f.p("const (")
	for _, a := range c.Attributes {
		name := "Attr" + goName(a.Name)
		f.declare(name, "attribute "+a.Name)
		parts := []string{f.typeDesc(a.Type), accessDesc(a)}
		if a.Quality != "" {
			parts = append(parts, "quality "+a.Quality)
		}
		if a.Conformance != "M" {
			parts = append(parts, "conformance "+a.Conformance)
		}
		if a.Constraint != "" {
			parts = append(parts, "constraint "+a.Constraint)
		}
		if a.Default != nil {
			parts = append(parts, "default "+defaultString(a.Default))
		}
		f.p("%s uint32 = 0x%04X // %s", name, a.ID, strings.Join(parts, "; "))
	}
	f.p(")")
	f.p("")
}

// typeDesc names a model type for comments.
func (f *file) typeDesc(t *Type) string {
	switch t.Kind {
	case "list":
		return "list of " + f.typeDesc(t.Entry)
	case "enum", "bitmap", "struct":
		return f.info(t.Ref).goName
	}
	if t.Name != "" {
		return t.Name
	}
	return t.Kind
}

func accessDesc(a *Attribute) string {
	var parts []string
	if a.Read != "" {
		parts = append(parts, "read "+a.Read)
	}
	if a.Write != "" {
		w := "write " + a.Write
		if a.OptionalWrite {
			w = "optionally write " + a.Write
		}
		parts = append(parts, w)
	}
	if a.Fabric != "" {
		parts = append(parts, "fabric-"+a.Fabric)
	}
	if a.Timed {
		parts = append(parts, "timed")
	}
	return strings.Join(parts, ", ")
}

// commandName is the Go type of a command's fields: FooRequest for a
// request, FooResponse for a response, without doubling a suffix the
// model's name already has (AttestationRequest stays as it is).
func commandName(c *Command) string {
	n := goName(c.Name)
	suffix := "Response"
	if c.Direction == "request" {
		suffix = "Request"
	}
	if !strings.HasSuffix(n, suffix) {
		n += suffix
	}
	return n
}

func (f *file) commandIDs(c *Cluster) {
	if len(c.Commands) == 0 {
		return
	}
	f.p("// Command IDs. Requests go to the server; responses come back.")
	f.p("const (")
	cmds := append([]*Command(nil), c.Commands...)
	sort.SliceStable(cmds, func(i, j int) bool { return cmds[i].ID < cmds[j].ID })
	for _, cmd := range cmds {
		name := "Cmd" + goName(cmd.Name)
		f.declare(name, "command "+cmd.Name)
		var parts []string
		if cmd.Direction == "request" {
			if cmd.Response == "status" {
				parts = append(parts, "request answered by a status")
			} else {
				parts = append(parts, "request answered by "+cmd.Response)
			}
			parts = append(parts, "invoke "+cmd.Invoke)
		} else {
			parts = append(parts, "response")
		}
		if cmd.FabricScoped {
			parts = append(parts, "fabric-scoped")
		}
		if cmd.Timed {
			parts = append(parts, "timed")
		}
		if cmd.Quality != "" {
			parts = append(parts, "quality "+cmd.Quality)
		}
		if cmd.Conformance != "M" {
			parts = append(parts, "conformance "+cmd.Conformance)
		}
		f.p("%s uint32 = 0x%02X // %s", name, cmd.ID, strings.Join(parts, "; "))
	}
	f.p(")")
	f.p("")
}

func (f *file) eventIDs(c *Cluster) {
	if len(c.Events) == 0 {
		return
	}
	f.p("// Event IDs.")
	f.p("const (")
	for _, e := range c.Events {
		name := "Event" + goName(e.Name)
		f.declare(name, "event "+e.Name)
		parts := []string{e.Priority, "read " + e.Read}
		if e.FabricSensitive {
			parts = append(parts, "fabric-sensitive")
		}
		if e.Conformance != "M" {
			parts = append(parts, "conformance "+e.Conformance)
		}
		f.p("%s uint32 = 0x%02X // %s", name, e.ID, strings.Join(parts, "; "))
	}
	f.p(")")
	f.p("")
}

// datatypes emits enums and bitmaps, then structs, and returns the
// structs as records for the round-trip tests.
func (f *file) datatypes(scope string, dts []*Datatype) []*record {
	var recs []*record
	for _, dt := range dts {
		ti := f.info(scope + "." + dt.Name)
		switch dt.Kind {
		case "enum":
			f.enum(ti)
		case "bitmap":
			f.bitmap(ti)
		case "struct":
			doc := f.typeDoc(ti)
			if dt.FabricScoped {
				doc += " It is fabric-scoped: FabricIndex (field 0xFE) names the fabric an entry belongs to."
			}
			rec := &record{kind: "struct", goName: ti.goName, doc: doc, fields: dt.Fields, fabricScoped: dt.FabricScoped}
			f.record(rec)
			recs = append(recs, rec)
		default:
			f.fail("%s: datatype %s has unknown kind %q", f.pkg, dt.Name, dt.Kind)
		}
	}
	return recs
}

// typeDoc introduces a datatype's Go type with the model's name for it.
func (f *file) typeDoc(ti *typeInfo) string {
	kind := map[string]string{"enum": "enum", "bitmap": "bitmap", "struct": "struct"}[ti.dt.Kind]
	if ti.goName == ti.dt.Name {
		return fmt.Sprintf("%s is a %s of the model.", ti.goName, kind)
	}
	return fmt.Sprintf("%s is the model's %s %s.", ti.goName, kind, ti.dt.Name)
}

func (f *file) enum(ti *typeInfo) {
	dt := ti.dt
	base, ok := primitives[dt.Base]
	if !ok || base.class != "uint" {
		f.fail("%s: enum %s has base %q", f.pkg, dt.Name, dt.Base)
		return
	}
	f.declare(ti.goName, "enum "+dt.Name)
	f.p("%s", comment(f.typeDoc(ti)))
	f.p("type %s %s", ti.goName, base.goType)
	f.p("")
	if len(dt.Values) > 0 {
		f.p("// Values of %s.", ti.goName)
		f.p("const (")
		for _, v := range dt.Values {
			name := ti.goName + goName(v.Name)
			f.declare(name, "enum value "+dt.Name+"."+v.Name)
			line := fmt.Sprintf("%s %s = %d", name, ti.goName, v.Value)
			if v.Conformance != "" && v.Conformance != "M" {
				line += " // conformance " + v.Conformance
			}
			f.p("%s", line)
		}
		f.p(")")
		f.p("")
	}
	f.p("// Known reports whether e is a value the model defines. A command field")
	f.p("// holding any other value calls for CONSTRAINT_ERROR.")
	f.p("func (e %s) Known() bool {", ti.goName)
	if len(dt.Values) == 0 {
		f.p("return false")
	} else {
		f.p("switch e {")
		var names []string
		for _, v := range dt.Values {
			names = append(names, ti.goName+goName(v.Name))
		}
		f.p("case %s:", strings.Join(names, ",\n"))
		f.p("return true")
		f.p("}")
		f.p("return false")
	}
	f.p("}")
	f.p("")
	f.p("func (e %s) String() string {", ti.goName)
	if len(dt.Values) > 0 {
		f.p("switch e {")
		for _, v := range dt.Values {
			f.p("case %s:", ti.goName+goName(v.Name))
			f.p("return %q", v.Name)
		}
		f.p("}")
	}
	f.p("return %q + %s.FormatUint(uint64(e), 10) + \")\"", ti.goName+"(", f.use("strconv"))
	f.p("}")
	f.p("")
}

func (f *file) bitmap(ti *typeInfo) {
	dt := ti.dt
	base, ok := primitives[dt.Base]
	if !ok || base.class != "uint" {
		f.fail("%s: bitmap %s has base %q", f.pkg, dt.Name, dt.Base)
		return
	}
	f.declare(ti.goName, "bitmap "+dt.Name)
	f.p("%s", comment(f.typeDoc(ti)))
	f.p("type %s %s", ti.goName, base.goType)
	f.p("")
	if len(dt.Bits) == 0 {
		return
	}
	f.p("// Bits of %s. A field wider than one bit has a mask and a shift.", ti.goName)
	f.p("const (")
	for _, b := range dt.Bits {
		if b.Bit+b.Width > base.bits {
			f.fail("%s: bitmap %s: %s does not fit %s", f.pkg, dt.Name, b.Name, dt.Base)
		}
		name := ti.goName + goName(b.Name)
		suffix := ""
		if b.Conformance != "" && b.Conformance != "M" {
			suffix = " // conformance " + b.Conformance
		}
		if b.Width == 1 {
			f.declare(name, "bit "+dt.Name+"."+b.Name)
			f.p("%s %s = 1 << %d%s", name, ti.goName, b.Bit, suffix)
			continue
		}
		f.declare(name+"Mask", "bits "+dt.Name+"."+b.Name)
		f.declare(name+"Shift", "bits "+dt.Name+"."+b.Name)
		f.p("%sMask %s = 0x%X << %d%s", name, ti.goName, uint64(1)<<b.Width-1, b.Bit, suffix)
		f.p("%sShift = %d", name, b.Bit)
	}
	f.p(")")
	f.p("")
}

func (f *file) commands(c *Cluster) []*record {
	var recs []*record
	for _, cmd := range c.Commands {
		name := commandName(cmd)
		var doc string
		if cmd.Direction == "request" {
			answer := "a status"
			if cmd.Response != "status" {
				answer = commandName(&Command{Name: cmd.Response, Direction: "response"})
			}
			doc = fmt.Sprintf("%s is the request of the %s command (0x%02X), answered by %s.", name, cmd.Name, cmd.ID, answer)
		} else {
			doc = fmt.Sprintf("%s is the %s command (0x%02X).", name, cmd.Name, cmd.ID)
		}
		rec := &record{kind: cmd.Direction, goName: name, doc: doc, fields: cmd.Fields}
		f.record(rec)
		recs = append(recs, rec)
	}
	return recs
}

// eventName is the Go type of an event's payload.
func eventName(e *Event) string { return goName(e.Name) + "Event" }

func (f *file) events(c *Cluster) []*record {
	var recs []*record
	for _, e := range c.Events {
		name := eventName(e)
		doc := fmt.Sprintf("%s is the payload of the %s event (0x%02X, priority %s).", name, e.Name, e.ID, e.Priority)
		// An event's FabricIndex field says which fabric may read it; the
		// event is always emitted with it, so it stays mandatory.
		rec := &record{kind: "event", goName: name, doc: doc, fields: e.Fields}
		f.record(rec)
		recs = append(recs, rec)
	}
	return recs
}

var privileges = map[string]string{
	"view":       "PrivilegeView",
	"operate":    "PrivilegeOperate",
	"manage":     "PrivilegeManage",
	"administer": "PrivilegeAdminister",
}

func (f *file) privilege(p string) string {
	name, ok := privileges[p]
	if !ok {
		f.fail("%s: unknown privilege %q", f.pkg, p)
	}
	return f.use(dmPath) + "." + name
}

// qualityLetters maps the model's quality letters to dm flags. Singleton
// (I) and diagnostics (K) have no flag: nothing in the stack acts on them.
var qualityLetters = map[string]string{
	"X": "QualityNullable",
	"N": "QualityNonVolatile",
	"F": "QualityFixed",
	"C": "QualityChangesOmitted",
	"S": "QualityScene",
	"P": "QualityReportable",
	"T": "QualityAtomic",
	"Q": "QualityQuieterReporting",
	"L": "QualityLargeMessage",
	"I": "",
	"K": "",
}

// quality renders quality letters plus access-derived flags as a dm.Quality
// expression, or "" for none.
func (f *file) quality(letters string, extra ...string) string {
	var flags []string
	for _, l := range strings.Fields(letters) {
		flag, ok := qualityLetters[l]
		if !ok {
			f.fail("%s: unknown quality %q", f.pkg, l)
			continue
		}
		if flag != "" {
			flags = append(flags, flag)
		}
	}
	flags = append(flags, extra...)
	dm := f.use(dmPath)
	for i := range flags {
		flags[i] = dm + "." + flags[i]
	}
	return strings.Join(flags, " | ")
}

// fabricScopedList reports whether a list attribute's entries are
// fabric-scoped structs: such a list is fabric-scoped whatever its access
// letters say (WebRTC CurrentSessions is "R S M" in the model).
func (f *file) fabricScopedList(t *Type) bool {
	if t.Kind != "list" || t.Entry.Kind != "struct" {
		return false
	}
	return f.info(t.Entry.Ref).dt.FabricScoped
}

type kv struct{ k, v string }

func literal(pairs []kv) string {
	var parts []string
	for _, p := range pairs {
		if p.v != "" {
			parts = append(parts, p.k+": "+p.v)
		}
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func (f *file) meta(c *Cluster) {
	dm := f.use(dmPath)
	f.p("// Meta describes the cluster to the data model, which derives the global")
	f.p("// attributes (AttributeList, AcceptedCommandList, GeneratedCommandList,")
	f.p("// FeatureMap, ClusterRevision) from it. It lists everything the model")
	f.p("// defines; Conformance says which parts a server must serve.")
	f.p("var Meta = %s.ClusterMeta{", dm)
	f.p("ID: ID,")
	f.p("Name: Name,")
	f.p("Revision: Revision,")
	if len(c.Attributes) > 0 {
		f.p("Attributes: []%s.AttributeMeta{", dm)
		for _, a := range c.Attributes {
			var extra []string
			if a.Fabric == "scoped" || f.fabricScopedList(a.Type) {
				extra = append(extra, "QualityFabricScoped")
			}
			if a.Fabric == "sensitive" {
				extra = append(extra, "QualityFabricSensitive")
			}
			if a.Timed {
				extra = append(extra, "QualityTimed")
			}
			pairs := []kv{{"ID", "Attr" + goName(a.Name)}, {"Name", fmt.Sprintf("%q", a.Name)}}
			if a.Read != "" {
				pairs = append(pairs, kv{"Read", f.privilege(a.Read)})
			}
			if a.Write != "" {
				pairs = append(pairs, kv{"Write", f.privilege(a.Write)})
			}
			if a.Type.Kind == "list" {
				pairs = append(pairs, kv{"List", "true"})
			}
			pairs = append(pairs, kv{"Quality", f.quality(a.Quality, extra...)}, kv{"Conformance", fmt.Sprintf("%q", a.Conformance)})
			f.p("%s,", literal(pairs))
		}
		f.p("},")
	}
	var generated []*Command
	var requests []*Command
	for _, cmd := range c.Commands {
		if cmd.Direction == "request" {
			requests = append(requests, cmd)
		} else {
			generated = append(generated, cmd)
		}
	}
	if len(requests) > 0 {
		f.p("Commands: []%s.CommandMeta{", dm)
		for _, cmd := range requests {
			var extra []string
			if cmd.FabricScoped {
				extra = append(extra, "QualityFabricScoped")
			}
			if cmd.Timed {
				extra = append(extra, "QualityTimed")
			}
			resp := dm + ".NoResponse"
			if cmd.Response != "status" {
				resp = "Cmd" + goName(cmd.Response)
			}
			pairs := []kv{
				{"ID", "Cmd" + goName(cmd.Name)},
				{"Name", fmt.Sprintf("%q", cmd.Name)},
				{"Invoke", f.privilege(cmd.Invoke)},
				{"Response", resp},
				{"Quality", f.quality(cmd.Quality, extra...)},
				{"Conformance", fmt.Sprintf("%q", cmd.Conformance)},
			}
			f.p("%s,", literal(pairs))
		}
		f.p("},")
	}
	if len(generated) > 0 {
		sort.Slice(generated, func(i, j int) bool { return generated[i].ID < generated[j].ID })
		var ids []string
		for _, cmd := range generated {
			ids = append(ids, "Cmd"+goName(cmd.Name))
		}
		f.p("Generated: []uint32{%s},", strings.Join(ids, ", "))
	}
	if len(c.Events) > 0 {
		f.p("Events: []%s.EventMeta{", dm)
		for _, e := range c.Events {
			var extra []string
			if e.FabricSensitive {
				extra = append(extra, "QualityFabricSensitive")
			}
			prio, ok := map[string]string{"debug": "PriorityDebug", "info": "PriorityInfo", "critical": "PriorityCritical"}[e.Priority]
			if !ok {
				f.fail("%s: event %s has priority %q", f.pkg, e.Name, e.Priority)
			}
			pairs := []kv{
				{"ID", "Event" + goName(e.Name)},
				{"Name", fmt.Sprintf("%q", e.Name)},
				{"Read", f.privilege(e.Read)},
				{"Priority", dm + "." + prio},
				{"Quality", f.quality("", extra...)},
				{"Conformance", fmt.Sprintf("%q", e.Conformance)},
			}
			f.p("%s,", literal(pairs))
		}
		f.p("},")
	}
	f.p("}")
}
