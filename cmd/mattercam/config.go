package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// defaultConfigPath is read when it exists and -config is not given.
const defaultConfigPath = "/etc/mattercam/mattercam.conf"

// maxConfigLen bounds the configuration file; it is a few lines of text.
const maxConfigLen = 1 << 20

// loadConfig applies a configuration file to fs before the command line
// is parsed, so flags override the file. The file is "name = value" lines
// whose names are the flag names; '#' starts a comment. A missing default
// file is no error: the firmware runs with no configuration at all.
func loadConfig(set *flag.FlagSet, path string, explicit bool) error {
	f, err := os.Open(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if st.Size() > maxConfigLen {
		return fmt.Errorf("config: %s: %d bytes exceeds %d", path, st.Size(), maxConfigLen)
	}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.Trim(strings.TrimSpace(value), `"`)
		if !ok || name == "" {
			return fmt.Errorf("config: %s:%d: want name = value", path, n)
		}
		if name == "config" || set.Lookup(name) == nil {
			return fmt.Errorf("config: %s:%d: unknown setting %q", path, n, name)
		}
		if err := set.Set(name, value); err != nil {
			return fmt.Errorf("config: %s:%d: %s: %w", path, n, name, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("config: %s: %w", path, err)
	}
	return nil
}

// configPath finds -config among the arguments before flags are parsed,
// so the file can be applied first.
func configPath(args []string) (string, bool) {
	for i, a := range args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasValue {
			return value, true
		}
		if i+1 < len(args) {
			return args[i+1], true
		}
	}
	return defaultConfigPath, false
}
