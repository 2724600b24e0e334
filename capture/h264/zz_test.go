package h264
import ("testing";"time")
func TestZZ(t *testing.T) {
	in := []byte("'000Y0\xb0Ba1000000B0 \x00\x00\x0000")
	st := time.Now()
	s, err := ParseSPS(in)
	t.Log(s, err, time.Since(st))
}
