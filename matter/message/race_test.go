//go:build race

package message

// raceEnabled is set under the race detector, which makes sync.Pool drop
// items at random: allocation counts are not meaningful there.
const raceEnabled = true
