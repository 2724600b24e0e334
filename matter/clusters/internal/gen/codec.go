package main

import (
	"fmt"
	"strconv"
	"strings"
)

// record is anything encoded as a TLV structure of fields: a struct
// datatype, a command's fields or an event's fields.
type record struct {
	kind   string // "struct", "request", "response" or "event"
	goName string
	doc    string
	fields []*Field
	// fabricScoped records carry their FabricIndex in field 0xFE. A
	// client writing one may leave it out or send anything: the server
	// replaces it with the accessing fabric. So decoding neither requires
	// nor range-checks it, and encoding leaves out 0 (no fabric yet), which
	// keeps decode and encode inverse to each other.
	fabricScoped bool
}

// isFabricIndex reports whether fl is the FabricIndex of a fabric-scoped
// record: a plain fabric index in field 0xFE. (GroupKeySetStruct has an
// optional one and is treated like any other struct.)
func (rec *record) isFabricIndex(fl *Field) bool {
	return rec.fabricScoped && fl.ID == fabricIndexTag && !fl.Optional && !fl.Nullable && fl.Type.Kind == "uint8"
}

// fabricIndexTag is the field ID of a fabric-scoped struct's FabricIndex.
const fabricIndexTag = 0xFE

// sensitive reports whether the record has fabric-sensitive fields and a
// FabricIndex to decide, per entry, whether a reader may see them.
func (rec *record) sensitive() bool {
	var index, sensitive bool
	for _, fl := range rec.fields {
		index = index || rec.isFabricIndex(fl)
		sensitive = sensitive || fl.FabricSensitive
	}
	return index && sensitive
}

func (f *file) fieldNames(rec *record) map[*Field]string {
	names := map[*Field]string{}
	seen := map[string]bool{}
	for _, fl := range rec.fields {
		n := goName(fl.Name)
		if seen[n] {
			f.fail("%s.%s: two fields named %s", f.pkg, rec.goName, n)
		}
		seen[n] = true
		names[fl] = n
	}
	return names
}

// fieldComment documents a field's tag and what the model says beyond its
// Go type.
func fieldComment(fl *Field) string {
	parts := []string{strconv.Itoa(int(fl.ID))}
	if fl.Conformance != "" && fl.Conformance != "M" {
		parts = append(parts, "conformance "+fl.Conformance)
	}
	if fl.Constraint != "" {
		parts = append(parts, "constraint "+fl.Constraint)
	}
	if fl.FabricSensitive {
		parts = append(parts, "fabric-sensitive")
	}
	if fl.Default != nil {
		parts = append(parts, "default "+defaultString(fl.Default))
	}
	return strings.Join(parts, "; ")
}

// record emits the Go struct and its EncodeTLV and DecodeTLV methods.
func (f *file) record(rec *record) {
	f.declare(rec.goName, "record "+rec.goName)
	names := f.fieldNames(rec)
	f.p("%s", comment(rec.doc))
	if len(rec.fields) == 0 {
		f.p("type %s struct{}", rec.goName)
	} else {
		f.p("type %s struct {", rec.goName)
		for _, fl := range rec.fields {
			c := fieldComment(fl)
			if rec.isFabricIndex(fl) {
				c += "; 0 (no fabric yet) is left out of the encoding"
			}
			f.p("%s %s // %s", names[fl], f.fieldType(fl), c)
		}
		f.p("}")
	}
	f.p("")
	f.encoder(rec, names)
	f.decoder(rec, names)
}

func (f *file) encoder(rec *record, names map[*Field]string) {
	tlv := f.tlv()
	sensitive := rec.sensitive()
	if sensitive {
		var fabricField string
		for _, fl := range rec.fields {
			if rec.isFabricIndex(fl) {
				fabricField = names[fl]
			}
		}
		f.p("// EncodeTLV writes v as a structure with the given tag, every field included.")
		f.p("func (v *%s) EncodeTLV(w *%s.Writer, tag %s.Tag) { v.encode(w, tag, true) }", rec.goName, tlv, tlv)
		f.p("")
		f.p("// EncodeTLVFor writes v as a reader on accessingFabric may see it: an entry of")
		f.p("// another fabric leaves out its fabric-sensitive fields.")
		f.p("func (v *%s) EncodeTLVFor(w *%s.Writer, tag %s.Tag, accessingFabric uint8) {", rec.goName, tlv, tlv)
		f.p("v.encode(w, tag, v.%s == accessingFabric)", fabricField)
		f.p("}")
		f.p("")
		f.p("func (v *%s) encode(w *%s.Writer, tag %s.Tag, sensitive bool) {", rec.goName, tlv, tlv)
	} else {
		f.p("// EncodeTLV writes v as a structure with the given tag.")
		f.p("func (v *%s) EncodeTLV(w *%s.Writer, tag %s.Tag) {", rec.goName, tlv, tlv)
	}
	f.p("w.StartStructure(tag)")
	open := false // inside an "if sensitive" block of consecutive sensitive fields
	for _, fl := range rec.fields {
		stmts := f.encodeField("v."+names[fl], fl, fmt.Sprintf("%s.ContextTag(%d)", tlv, fl.ID))
		if want := sensitive && fl.FabricSensitive; want != open {
			if want {
				f.p("if sensitive {")
			} else {
				f.p("}")
			}
			open = want
		}
		if rec.isFabricIndex(fl) {
			stmts = wrap("if v."+names[fl]+" != 0 {", stmts, "}")
		}
		f.lines(stmts)
	}
	if open {
		f.p("}")
	}
	f.p("w.EndContainer()")
	f.p("}")
	f.p("")
}

func (f *file) lines(stmts []string) {
	for _, s := range stmts {
		f.p("%s", s)
	}
}

// encodeField writes a field, leaving it out when optional and absent.
func (f *file) encodeField(expr string, fl *Field, tag string) []string {
	if fl.Optional {
		inner := f.encodeNullable(expr+".Value", fl.Type, fl.Nullable, tag, 0)
		return wrap("if "+expr+".Present {", inner, "}")
	}
	return f.encodeNullable(expr, fl.Type, fl.Nullable, tag, 0)
}

func (f *file) encodeNullable(expr string, t *Type, nullable bool, tag string, depth int) []string {
	if !nullable {
		return f.encodeValue(expr, t, tag, depth)
	}
	out := []string{"if " + expr + ".Valid {"}
	out = append(out, f.encodeValue(expr+".Value", t, tag, depth)...)
	return append(out, "} else {", "w.PutNull("+tag+")", "}")
}

func wrap(open string, body []string, close string) []string {
	return append(append([]string{open}, body...), close)
}

// encodeValue writes one value of type t.
func (f *file) encodeValue(expr string, t *Type, tag string, depth int) []string {
	switch t.Kind {
	case "list":
		i := fmt.Sprintf("i%d", depth)
		body := f.encodeValue(expr+"["+i+"]", t.Entry, f.tlv()+".AnonymousTag()", depth+1)
		out := []string{"w.StartArray(" + tag + ")"}
		out = append(out, wrap("for "+i+" := range "+expr+" {", body, "}")...)
		return append(out, "w.EndContainer()")
	case "struct":
		return []string{expr + ".EncodeTLV(w, " + tag + ")"}
	case "enum", "bitmap":
		return []string{"w.PutUint(" + tag + ", uint64(" + expr + "))"}
	}
	p := primitives[t.Kind]
	switch p.class {
	case "bool":
		return []string{"w.PutBool(" + tag + ", " + expr + ")"}
	case "uint":
		return []string{"w.PutUint(" + tag + ", " + convert("uint64", p.goType, expr) + ")"}
	case "int":
		return []string{"w.PutInt(" + tag + ", " + convert("int64", p.goType, expr) + ")"}
	case "float32":
		return []string{"w.PutFloat32(" + tag + ", " + expr + ")"}
	case "float64":
		return []string{"w.PutFloat64(" + tag + ", " + expr + ")"}
	case "string":
		return []string{"w.PutString(" + tag + ", " + expr + ")"}
	case "octstr":
		return []string{"w.PutBytes(" + tag + ", " + expr + ")"}
	}
	f.fail("%s: cannot encode kind %q", f.pkg, t.Kind)
	return nil
}

func convert(to, from, expr string) string {
	if to == from {
		return expr
	}
	return to + "(" + expr + ")"
}

func (f *file) decoder(rec *record, names map[*Field]string) {
	tlv, fld := f.tlv(), f.field()
	name := rec.goName
	f.p("// DecodeTLV decodes v from the structure at r's current element. Unknown")
	f.p("// fields are skipped; missing mandatory fields, duplicates, wrong element")
	f.p("// types and values outside the model's constraints are errors.")
	f.p("func (v *%s) DecodeTLV(r *%s.Reader) error {", name, tlv)
	f.p("*v = %s{}", name)
	f.p("if err := %s.EnterStruct(r); err != nil {", fld)
	f.p("return %s.Wrap(err, %q)", fld, name)
	f.p("}")
	f.p("var seen %s.Seen", fld)
	f.p("for {")
	if len(rec.fields) == 0 {
		f.p("_, ok, err := %s.Next(r, &seen)", fld)
	} else {
		f.p("tag, ok, err := %s.Next(r, &seen)", fld)
	}
	f.p("if err != nil {")
	f.p("return %s.Wrap(err, %q)", fld, name)
	f.p("}")
	f.p("if !ok {")
	f.p("break")
	f.p("}")
	if len(rec.fields) > 0 {
		f.p("switch tag {")
		for _, fl := range rec.fields {
			f.p("case %d:", fl.ID)
			fname := names[fl]
			if rec.isFabricIndex(fl) {
				unchecked := *fl
				unchecked.Bounds = Bounds{}
				fl = &unchecked
			}
			f.lines(f.decodeField("v."+fname, fl))
			f.p("if err != nil {")
			f.p("return %s.Wrap(err, %q)", fld, name+"."+fname)
			f.p("}")
		}
		f.p("}")
	}
	f.p("}")
	f.p("if err := r.Exit(); err != nil {")
	f.p("return %s.Wrap(err, %q)", fld, name)
	f.p("}")
	for _, fl := range rec.fields {
		if fl.Optional || rec.isFabricIndex(fl) {
			continue
		}
		f.p("if !seen.Has(%d) {", fl.ID)
		f.p("return %s.Missing(%q)", fld, name+"."+names[fl])
		f.p("}")
	}
	f.p("return nil")
	f.p("}")
	f.p("")
}

// decodeField decodes the current element into a field; the statements
// leave any failure in err.
func (f *file) decodeField(dst string, fl *Field) []string {
	if fl.Optional {
		out := []string{dst + ".Present = true"}
		return append(out, f.decodeNullable(dst+".Value", fl.Type, fl.Nullable, fl.Bounds, fl.Name)...)
	}
	return f.decodeNullable(dst, fl.Type, fl.Nullable, fl.Bounds, fl.Name)
}

func (f *file) decodeNullable(dst string, t *Type, nullable bool, b Bounds, what string) []string {
	if !nullable {
		return f.decodeValue(dst, t, b, what)
	}
	// Null leaves the zero Nullable, which is null.
	out := []string{"if !r.IsNull() {", dst + ".Valid = true"}
	out = append(out, f.decodeValue(dst+".Value", t, b, what)...)
	return append(out, "}")
}

// decodeValue decodes one value of type t into dst, enforcing the
// constraint's literal bounds.
func (f *file) decodeValue(dst string, t *Type, b Bounds, what string) []string {
	fld := f.field()
	switch t.Kind {
	case "list":
		lo, hi, err := lenBounds(b)
		if err != nil {
			f.fail("%s: %s: %v", f.pkg, what, err)
		}
		var entry Bounds
		if b.Entry != nil {
			entry = *b.Entry
		}
		elem := f.goType(t.Entry)
		body := f.decodeValue("e", t.Entry, entry, what)
		out := []string{fmt.Sprintf("%s, err = %s.List(r, %d, %s, func(r *%s.Reader) (e %s, err error) {",
			dst, fld, lo, limitLiteral(hi), f.tlv(), elem)}
		out = append(out, body...)
		return append(out, "return", "})")
	case "struct":
		return []string{"err = " + dst + ".DecodeTLV(r)"}
	case "enum", "bitmap":
		return []string{fmt.Sprintf("%s, err = %s.Uint[%s](r)", dst, fld, f.goType(t))}
	}
	p, ok := primitives[t.Kind]
	if !ok {
		f.fail("%s: %s: cannot decode kind %q", f.pkg, what, t.Kind)
		return nil
	}
	switch p.class {
	case "bool":
		return []string{dst + ", err = r.Bool()"}
	case "float32":
		return []string{dst + ", err = " + fld + ".Float32(r)"}
	case "float64":
		return []string{dst + ", err = " + fld + ".Float64(r)"}
	case "string", "octstr":
		lo, hi, err := lenBounds(b)
		if err != nil {
			f.fail("%s: %s: %v", f.pkg, what, err)
		}
		fn := map[string]string{"string": "String", "octstr": "Bytes"}[p.class]
		return []string{fmt.Sprintf("%s, err = %s.%s(r, %d, %s)", dst, fld, fn, lo, limitLiteral(hi))}
	case "uint", "int":
		fn := map[string]string{"uint": "Uint", "int": "Int"}[p.class]
		var out []string
		if p.bits == goBits(p.bits) {
			out = []string{fmt.Sprintf("%s, err = %s.%s[%s](r)", dst, fld, fn, p.goType)}
		} else {
			out = []string{fmt.Sprintf("%s, err = %s.%sBits[%s](r, %d)", dst, fld, fn, p.goType, p.bits)}
		}
		lo, hi, check, err := numBounds(p.class, p.bits, b)
		if err != nil {
			f.fail("%s: %s: %v", f.pkg, what, err)
			return nil
		}
		if check {
			out = append(out, "if err == nil {",
				fmt.Sprintf("err = %s.Range[%s](%s, %s, %s)", fld, p.goType, dst, lo, hi), "}")
		}
		return out
	}
	f.fail("%s: %s: cannot decode kind %q", f.pkg, what, t.Kind)
	return nil
}

// defaultString renders a model default for a comment.
func defaultString(v any) string {
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case map[string]any:
		if ref, ok := x["ref"]; ok {
			return fmt.Sprint(ref)
		}
		if b, ok := x["bytes"]; ok {
			return "0x" + fmt.Sprint(b)
		}
		return fmt.Sprint(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = defaultString(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}
