package cert

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// vector is one certificate of testdata/chip_test_vectors.txt in both
// encodings.
type vector struct {
	name string
	tlv  []byte
	der  []byte
}

var (
	vectorsOnce sync.Once
	vectorList  []vector
	vectorsErr  error
)

// loadVectors parses testdata/chip_test_vectors.txt; see its header for the
// source and format.
func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	vectorsOnce.Do(func() {
		f, err := os.ReadFile("testdata/chip_test_vectors.txt")
		if err != nil {
			vectorsErr = err
			return
		}
		var cur *vector
		var tlvHex, pemText strings.Builder
		state := ""
		flush := func() {
			if cur == nil {
				return
			}
			cur.tlv, err = hex.DecodeString(tlvHex.String())
			if err != nil {
				vectorsErr = err
				return
			}
			block, _ := pem.Decode([]byte(pemText.String()))
			if block == nil {
				vectorsErr = os.ErrInvalid
				return
			}
			cur.der = block.Bytes
			vectorList = append(vectorList, *cur)
			tlvHex.Reset()
			pemText.Reset()
		}
		sc := bufio.NewScanner(bytes.NewReader(f))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			switch {
			case strings.HasPrefix(line, "#"), line == "":
			case strings.HasPrefix(line, "name:"):
				flush()
				cur = &vector{name: strings.TrimSpace(strings.TrimPrefix(line, "name:"))}
			case line == "tlv:", line == "der:":
				state = line
			case state == "tlv:":
				for _, tok := range strings.Split(line, ",") {
					tok = strings.TrimPrefix(strings.TrimSpace(tok), "0x")
					tlvHex.WriteString(tok)
				}
			case state == "der:":
				pemText.WriteString(line + "\n")
			}
		}
		flush()
	})
	if vectorsErr != nil {
		tb.Fatalf("loading vectors: %v", vectorsErr)
	}
	return vectorList
}

// vectorByName returns the named vector.
func vectorByName(tb testing.TB, name string) vector {
	tb.Helper()
	for _, v := range loadVectors(tb) {
		if v.name == name {
			return v
		}
	}
	tb.Fatalf("no vector %q", name)
	return vector{}
}

// mustDecode decodes the TLV of the named vector.
func mustDecode(tb testing.TB, name string) *Certificate {
	tb.Helper()
	c, err := DecodeTLV(vectorByName(tb, name).tlv)
	if err != nil {
		tb.Fatalf("DecodeTLV(%s): %v", name, err)
	}
	return c
}

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// testKey derives a P-256 key deterministically from a label, so that tests
// issue the same certificates on every run.
func testKey(tb testing.TB, label string) *ecdsa.PrivateKey {
	tb.Helper()
	h := sha256.Sum256([]byte("mattercam cert test key " + label))
	n := elliptic.P256().Params().N
	d := new(big.Int).SetBytes(h[:])
	d.Mod(d, new(big.Int).Sub(n, big.NewInt(1)))
	d.Add(d, big.NewInt(1))
	var buf [32]byte
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d.FillBytes(buf[:]))
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

// Times used by the issued test chains.
var (
	testNotBefore = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	testNotAfter  = time.Date(2034, 1, 1, 0, 0, 0, 0, time.UTC)
	testNow       = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
)

const (
	testFabricID = 0xFAB0_0000_0000_0001
	testNodeID   = 0x0000_0000_0000_1234
	testRCACID   = 0xCACA_CACA_0000_0001
	testICACID   = 0xCACA_CACA_0000_0002
)

// testChain is a valid three-certificate chain issued with fixed keys.
type testChain struct {
	rootKey, icaKey, nodeKey *ecdsa.PrivateKey
	rcac, icac, noc          *Certificate
}

func newTestChain(tb testing.TB) *testChain {
	tb.Helper()
	ch := &testChain{
		rootKey: testKey(tb, "root"),
		icaKey:  testKey(tb, "ica"),
		nodeKey: testKey(tb, "node"),
	}
	var err error
	ch.rcac, err = NewRCAC(Params{SerialNumber: []byte{1}, NotBefore: testNotBefore, NotAfter: testNotAfter,
		ID: testRCACID, FabricID: testFabricID}, ch.rootKey)
	if err != nil {
		tb.Fatalf("NewRCAC: %v", err)
	}
	ch.icac, err = NewICAC(Params{SerialNumber: []byte{2}, NotBefore: testNotBefore, NotAfter: testNotAfter,
		ID: testICACID, FabricID: testFabricID}, &ch.icaKey.PublicKey, ch.rcac, ch.rootKey)
	if err != nil {
		tb.Fatalf("NewICAC: %v", err)
	}
	ch.noc, err = NewNOC(Params{SerialNumber: []byte{3}, NotBefore: testNotBefore, NotAfter: testNotAfter,
		ID: testNodeID, FabricID: testFabricID, CATs: []CAT{0x0001_0001, 0xABCD_0002}},
		&ch.nodeKey.PublicKey, ch.icac, ch.icaKey)
	if err != nil {
		tb.Fatalf("NewNOC: %v", err)
	}
	return ch
}
