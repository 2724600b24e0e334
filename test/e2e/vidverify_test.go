package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestVIDVerification: matter.js asks the device to sign a random challenge
// for its fabric (SignVIDVerificationRequest, Core §11.18.6.15) and checks
// the signature itself with node:crypto: over vendor_id_verification_tbs
// rebuilt from the spec's fields (§11.18.6.16, §6.4.10.1) with the
// session's attestation challenge, under the fabric's NOC public key (not
// the DAC's), and matter.js's own TBS builder gives the same octets. A vendor ID
// and VID verification statement set with SetVIDVerificationStatement
// (§11.18.6.14) are read back and covered by the next signature; a VVSC is
// accepted without an ICAC (INVALID_COMMAND with one); an unknown fabric
// is CONSTRAINT_ERROR, a command without fields INVALID_COMMAND, an
// 84-octet statement CONSTRAINT_ERROR. The fabric is restored and removed.
func TestVIDVerification(t *testing.T) {
	fw := startFirmware(t, t.TempDir(), freePort(t))
	steps := runScript(t, t.TempDir(), "e2e/vidverify.mjs", "--address=127.0.0.1", "--port="+strconv.Itoa(fw.port))
	requireSteps(t, steps, "commission", "read-own-fabric", "sign-verify-noc-key", "matter-js-tbs", "set-statement",
		"sign-verify-with-statement", "vvsc", "errors", "restore", "decommission")
	var errs struct{ UnknownFabric, NoField, ShortStatement int }
	if err := json.Unmarshal(steps["errors"].Value, &errs); err != nil || errs.UnknownFabric != 0x87 || errs.NoField != 0x85 || errs.ShortStatement != 0x87 {
		t.Errorf("errors step: %s", steps["errors"].Value)
	}
	if log := fw.stderr.String(); !strings.Contains(log, `msg="VID verification data set"`) {
		t.Errorf("firmware did not log the SetVIDVerificationStatement:\n%s", tail(log, 20))
	}
	waitLog(t, fw, "commissioning window open", 2, 10*time.Second)
}
