//go:build !race

package simulators

// raceEnabled reports a -race build, in which sync.Pool drops items at
// random, so allocation counts are meaningless.
const raceEnabled = false
