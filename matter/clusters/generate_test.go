package clusters_test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedUpToDate runs the generator into a temporary directory and
// compares its output with the committed files, so a change to model.json
// or to the generator without `go generate ./matter/clusters/` fails here.
func TestGeneratedUpToDate(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the generator")
	}
	// go test puts $GOROOT/bin at the front of PATH, so this finds the go
	// tool running the test.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to run the generator with")
	}
	out := t.TempDir()
	cmd := exec.Command(goTool, "run", "./internal/gen", "-model", "model.json", "-out", out)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generator: %v\n%s", err, msg)
	}

	fresh := generatedFiles(t, out)
	committed := generatedFiles(t, ".")
	if len(fresh) == 0 {
		t.Fatal("the generator wrote nothing")
	}
	for name, want := range fresh {
		got, ok := committed[name]
		switch {
		case !ok:
			t.Errorf("%s is generated but not committed: run go generate ./matter/clusters/", name)
		case !bytes.Equal(got, want):
			t.Errorf("%s differs from the generator's output: run go generate ./matter/clusters/", name)
		}
	}
	for name := range committed {
		if _, ok := fresh[name]; !ok {
			t.Errorf("%s is committed but no longer generated: run go generate ./matter/clusters/", name)
		}
	}
}

// generatedFiles returns the zz_generated*.go files under dir by relative
// path, leaving out hand-written files and test data.
func generatedFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || d.Name() == "internal") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasPrefix(d.Name(), "zz_generated") || !strings.HasSuffix(d.Name(), ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
