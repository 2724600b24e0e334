package capture

import "context"

// Snapshotter takes still pictures: Camera AV Stream Management's
// CaptureSnapshot (spec digest §5.3, §5.5) is answered from it.
type Snapshotter interface {
	// Snapshot returns a JPEG of the current picture, no larger than
	// maxWidth x maxHeight (both at least 1) and with the source's aspect
	// ratio, and the size it has. A source whose pictures are smaller
	// returns them at their own size; it never scales up. The JPEG is the
	// caller's to keep.
	Snapshot(ctx context.Context, maxWidth, maxHeight int) (jpeg []byte, width, height int, err error)
}
