package main

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// The generated round-trip tests encode and decode two values of every
// record: "full", with every field present and non-null, and "minimal",
// with only mandatory fields, each at the smallest value its constraint
// allows. Values differ from field to field (a running counter), so a
// decoder that mixes up two fields of one type fails the comparison.

type sampler struct {
	f       *file
	n       int64 // running counter
	minimal bool
	depth   int
}

const maxSampleDepth = 8

// record returns a composite literal of rec's Go type.
func (s *sampler) record(goType string, fields []*Field) string {
	if s.depth > maxSampleDepth {
		s.f.fail("%s: %s nests too deeply for a sample", s.f.pkg, goType)
		return goType + "{}"
	}
	s.depth++
	defer func() { s.depth-- }()
	var parts []string
	for _, fl := range fields {
		if s.minimal && (fl.Optional || fl.Nullable) {
			continue // absent, or null (the zero Nullable)
		}
		v := s.field(fl)
		if v != "" {
			parts = append(parts, goName(fl.Name)+": "+v)
		}
	}
	if len(parts) == 0 {
		return goType + "{}"
	}
	return goType + "{\n" + strings.Join(parts, ",\n") + ",\n}"
}

func (s *sampler) field(fl *Field) string {
	v := s.value(fl.Type, fl.Bounds)
	t := s.f.goType(fl.Type)
	if fl.Nullable {
		fld := s.f.field()
		if v == "" {
			v = zeroOf(t)
		}
		v = fmt.Sprintf("%s.NonNull%s(%s)", fld, typeArg(t, v), v)
		t = fld + ".Nullable[" + t + "]"
	}
	if fl.Optional {
		if v == "" {
			v = zeroOf(t)
		}
		v = fmt.Sprintf("%s.Some%s(%s)", s.f.field(), typeArg(t, v), v)
	}
	return v
}

// typeArg is the explicit type argument a generic constructor needs for
// v: none when v has a type of its own, [t] for an untyped constant.
func typeArg(t, v string) string {
	if (t == "string" && strings.HasPrefix(v, `"`)) || (t == "bool" && (v == "true" || v == "false")) {
		return "" // the constant's default type is the right one
	}
	if v == "true" || v == "false" || strings.HasPrefix(v, `"`) || strings.IndexAny(v[:1], "-0123456789") == 0 {
		return "[" + t + "]"
	}
	return ""
}

// zeroOf is a literal of a type's zero value (for wrapping one that the
// sampler left out).
func zeroOf(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "nil"
	case t == "bool":
		return "false"
	case t == "string":
		return `""`
	case strings.Contains(t, "int") || strings.HasPrefix(t, "float"):
		return t + "(0)"
	}
	return t + "{}"
}

func (s *sampler) next() int64 {
	s.n++
	return s.n
}

// value returns a literal of type t within bounds, or "" for the zero
// value (which a composite literal leaves out).
func (s *sampler) value(t *Type, b Bounds) string {
	f := s.f
	switch t.Kind {
	case "list":
		lo, hi, err := lenBounds(b)
		if err != nil {
			f.fail("%s: %v", f.pkg, err)
			return ""
		}
		n := lo
		if !s.minimal {
			n = clampLen(2, lo, hi)
		}
		if n == 0 {
			return "" // decodes back to nil
		}
		var entry Bounds
		if b.Entry != nil {
			entry = *b.Entry
		}
		elemType := f.goType(t.Entry)
		elems := make([]string, n)
		for i := range elems {
			elems[i] = s.value(t.Entry, entry)
			if elems[i] == "" {
				elems[i] = zeroOf(elemType)
			}
			// Struct entries need no type in a slice literal (gofmt -s).
			if t.Entry.Kind == "struct" {
				elems[i] = strings.TrimPrefix(elems[i], elemType)
			}
		}
		return "[]" + f.goType(t.Entry) + "{\n" + strings.Join(elems, ",\n") + ",\n}"
	case "struct":
		ti := f.info(t.Ref)
		return s.record(f.qualified(ti), ti.dt.Fields)
	case "enum":
		ti := f.info(t.Ref)
		vals := ti.dt.Values
		if len(vals) == 0 {
			return ""
		}
		i := 0
		if !s.minimal {
			i = int(s.next() % int64(len(vals)))
		}
		return f.qualifiedConst(ti, goName(vals[i].Name))
	case "bitmap":
		ti := f.info(t.Ref)
		if s.minimal || len(ti.dt.Bits) == 0 {
			return ""
		}
		b := ti.dt.Bits[int(s.next()%int64(len(ti.dt.Bits)))]
		if b.Width != 1 {
			return f.qualifiedConst(ti, goName(b.Name)+"Mask")
		}
		return f.qualifiedConst(ti, goName(b.Name))
	}
	p, ok := primitives[t.Kind]
	if !ok {
		f.fail("%s: no sample for kind %q", f.pkg, t.Kind)
		return ""
	}
	switch p.class {
	case "bool":
		if s.minimal || s.next()%2 == 0 {
			return ""
		}
		return "true"
	case "float32", "float64":
		if s.minimal {
			return ""
		}
		return fmt.Sprintf("%d.5", s.next())
	case "string", "octstr":
		lo, hi, err := lenBounds(b)
		if err != nil {
			f.fail("%s: %v", f.pkg, err)
			return ""
		}
		n := lo
		k := s.next()
		if !s.minimal {
			n = clampLen(3+int(k%5), lo, hi)
		}
		if n == 0 {
			return ""
		}
		text := sampleText(k, n)
		if p.class == "string" {
			return strconv.Quote(text)
		}
		return fmt.Sprintf("[]byte(%q)", text)
	case "uint", "int":
		lo, hi, _, err := numBounds(p.class, p.bits, b)
		if err != nil {
			f.fail("%s: %v", f.pkg, err)
			return ""
		}
		// Start from the allowed value nearest zero; full samples step
		// away from it by the counter, staying in range.
		v := new(big.Int)
		switch {
		case v.Cmp(lo) < 0:
			v.Set(lo)
		case v.Cmp(hi) > 0:
			v.Set(hi)
		}
		if !s.minimal {
			if span := new(big.Int).Sub(hi, v); span.Sign() > 0 {
				span.Add(span, big.NewInt(1))
				v.Add(v, new(big.Int).Mod(big.NewInt(s.next()), span))
			} else {
				span := new(big.Int).Sub(v, lo)
				span.Add(span, big.NewInt(1))
				v.Sub(v, new(big.Int).Mod(big.NewInt(s.next()), span))
			}
		}
		if v.Sign() == 0 {
			return ""
		}
		return v.String()
	}
	f.fail("%s: no sample for kind %q", f.pkg, t.Kind)
	return ""
}

func clampLen(n, lo, hi int) int {
	if n < lo {
		n = lo
	}
	if hi >= 0 && n > hi {
		n = hi
	}
	return n
}

// sampleText is n bytes of printable text that starts with k, so two
// samples of one type differ.
func sampleText(k int64, n int) string {
	s := "s" + strconv.FormatInt(k, 10) + strings.Repeat("x", n)
	return s[:n]
}

// qualifiedConst is a constant of a datatype's package as written here.
func (f *file) qualifiedConst(ti *typeInfo, suffix string) string {
	q := f.qualified(ti)
	return q + suffix
}

// testFile generates a package's round-trip test.
func (g *generator) testFile(pf *pkgFiles) *file {
	f := g.newFile(pf.pkg)
	f.packageClause("")
	ct := f.use(g.base + "/internal/clustertest")
	f.use("testing")
	f.p("// TestGeneratedRoundTrip encodes and decodes every struct, command and event")
	f.p("// with all fields set (full) and with only the mandatory ones (minimal).")
	f.p("func TestGeneratedRoundTrip(t *testing.T) {")
	f.p("clustertest.RoundTrip(t, []%s.Case{", ct)
	for _, rec := range pf.records {
		for _, variant := range []string{"full", "minimal"} {
			s := &sampler{f: f, minimal: variant == "minimal"}
			lit := s.record(rec.goName, rec.fields)
			f.p("{Name: %q, In: &%s, Out: new(%s)},", rec.goName+"/"+variant, lit, rec.goName)
		}
	}
	f.p("})")
	f.p("}")
	return f
}
