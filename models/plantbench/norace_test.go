//go:build !race

package plantbench_test

// raceEnabled: the race detector is on (go test -race).
const raceEnabled = false
