package browser_test

import (
	"os"
	"slices"
	"strings"
)

func init() {
	for _, d := range strings.Split(os.Getenv("CF_DROP"), ",") {
		chromiumFlags = slices.DeleteFunc(chromiumFlags, func(f string) bool { return d != "" && f == d })
	}
	if a := os.Getenv("CF_ADD"); a != "" {
		chromiumFlags = append(chromiumFlags, strings.Split(a, ",")...)
	}
}
