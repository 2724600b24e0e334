package main

import (
	"bytes"
	"fmt"
	"go/format"
	"sort"
	"strings"
)

// typeInfo is a datatype and where its Go type lives.
type typeInfo struct {
	dt     *Datatype
	pkg    string // package name, also its directory under matter/clusters
	goName string
}

// generator holds the model and the index of every datatype by its
// "Scope.Name" reference.
type generator struct {
	m     *Model
	base  string // import path of matter/clusters
	types map[string]*typeInfo
}

func newGenerator(m *Model, base string) (*generator, error) {
	g := &generator{m: m, base: base, types: map[string]*typeInfo{}}
	add := func(scope string, dts []*Datatype) error {
		for _, dt := range dts {
			ref := scope + "." + dt.Name
			if _, dup := g.types[ref]; dup {
				return fmt.Errorf("datatype %s defined twice", ref)
			}
			g.types[ref] = &typeInfo{dt: dt, pkg: packageName(scope), goName: typeName(dt.Name)}
		}
		return nil
	}
	for _, s := range m.Scopes {
		if err := add(s.Name, s.Datatypes); err != nil {
			return nil, err
		}
	}
	for _, c := range m.Clusters {
		if err := add(c.Name, c.Datatypes); err != nil {
			return nil, err
		}
	}
	return g, nil
}

// file accumulates one generated Go file.
type file struct {
	g       *generator
	pkg     string
	imports map[string]string // import path → package name
	head    string            // package documentation and clause
	body    bytes.Buffer
	idents  map[string]string // package-level identifier → what declared it
	err     error
}

func (g *generator) newFile(pkg string) *file {
	return &file{g: g, pkg: pkg, imports: map[string]string{}, idents: map[string]string{}}
}

// packageClause sets the package documentation and clause.
func (f *file) packageClause(doc string) {
	f.head = ""
	if doc != "" {
		f.head = comment(doc) + "\n"
	}
	f.head += "package " + f.pkg + "\n\n"
}

// p writes one line of code (gofmt fixes the indentation later).
func (f *file) p(format string, args ...any) {
	fmt.Fprintf(&f.body, format, args...)
	f.body.WriteByte('\n')
}

func (f *file) fail(format string, args ...any) {
	if f.err == nil {
		f.err = fmt.Errorf(format, args...)
	}
}

// declare records a package-level identifier; a second declaration of the
// same name is a naming clash the generator must not paper over.
func (f *file) declare(ident, what string) {
	if prev, ok := f.idents[ident]; ok {
		f.fail("%s: identifier %s of %s is already used by %s", f.pkg, ident, what, prev)
		return
	}
	f.idents[ident] = what
}

// use imports a package by path and returns its name.
func (f *file) use(path string) string {
	name := path[strings.LastIndex(path, "/")+1:]
	f.imports[path] = name
	return name
}

const (
	tlvPath = "github.com/mattercam/mattercam/matter/tlv"
	dmPath  = "github.com/mattercam/mattercam/matter/dm"
)

func (f *file) tlv() string   { return f.use(tlvPath) }
func (f *file) field() string { return f.use(f.g.base + "/field") }

// info resolves a datatype reference.
func (f *file) info(ref string) *typeInfo {
	ti := f.g.types[ref]
	if ti == nil {
		f.fail("%s: unknown datatype %s", f.pkg, ref)
		return &typeInfo{dt: &Datatype{}, pkg: f.pkg, goName: "invalid"}
	}
	return ti
}

// qualified is a datatype's Go type as written in this file.
func (f *file) qualified(ti *typeInfo) string {
	if ti.pkg == f.pkg {
		return ti.goName
	}
	return f.use(f.g.base+"/"+ti.pkg) + "." + ti.goName
}

// goType is the Go type of a resolved model type.
func (f *file) goType(t *Type) string {
	switch t.Kind {
	case "list":
		return "[]" + f.goType(t.Entry)
	case "enum", "bitmap", "struct":
		return f.qualified(f.info(t.Ref))
	}
	p, ok := primitives[t.Kind]
	if !ok {
		f.fail("%s: unknown type kind %q", f.pkg, t.Kind)
		return "invalid"
	}
	return p.goType
}

// fieldType wraps a field's type for nullability and optionality.
func (f *file) fieldType(fl *Field) string {
	t := f.goType(fl.Type)
	if fl.Nullable {
		t = f.field() + ".Nullable[" + t + "]"
	}
	if fl.Optional {
		t = f.field() + ".Optional[" + t + "]"
	}
	return t
}

// bytes returns the formatted file.
func (f *file) bytes(header string) ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	var out bytes.Buffer
	out.WriteString(header)
	out.WriteString(f.head)
	paths := make([]string, 0, len(f.imports))
	for p := range f.imports {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	if len(paths) > 0 {
		out.WriteString("import (\n")
		for _, p := range paths {
			if !strings.Contains(p, ".") {
				fmt.Fprintf(&out, "%q\n", p)
			}
		}
		out.WriteString("\n")
		for _, p := range paths {
			if strings.Contains(p, ".") {
				fmt.Fprintf(&out, "%q\n", p)
			}
		}
		out.WriteString(")\n\n")
	}
	out.Write(f.body.Bytes())
	src, err := format.Source(out.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s: generated code does not parse: %w\n%s", f.pkg, err, numbered(out.Bytes()))
	}
	return src, nil
}

func numbered(src []byte) string {
	var b strings.Builder
	for i, line := range strings.Split(string(src), "\n") {
		fmt.Fprintf(&b, "%5d  %s\n", i+1, line)
	}
	return b.String()
}

// comment turns free text into // comment lines, re-flowed to fit 80
// columns (blank lines separate paragraphs).
func comment(text string) string {
	const width = 77
	var out []string
	for i, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		if i > 0 {
			out = append(out, "//")
		}
		line := ""
		for _, w := range strings.Fields(para) {
			if line != "" && len(line)+1+len(w) > width {
				out = append(out, "// "+line)
				line = ""
			}
			if line != "" {
				line += " "
			}
			line += w
		}
		if line != "" {
			out = append(out, "// "+line)
		}
	}
	return strings.Join(out, "\n")
}
