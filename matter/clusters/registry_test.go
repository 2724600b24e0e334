package clusters_test

import (
	"github.com/mattercam/mattercam/matter/clusters/internal/clustertest"
	"github.com/mattercam/mattercam/matter/dm"
)

// generatedPackage is one entry of generatedPackages (zz_generated_test.go).
type generatedPackage struct {
	Name   string
	Meta   *dm.ClusterMeta // nil for datatype-only packages
	Codecs []generatedCodec
}

// generatedCodec is one generated struct, command or event type.
type generatedCodec struct {
	Name string
	Kind string // "struct", "request", "response" or "event"
	New  func() clustertest.Codec
}
