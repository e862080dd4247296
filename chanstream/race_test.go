//go:build race

package chanstream

// RaceEnabled says whether the race detector is on: it makes sync.Pool
// drop some of what it is given, so allocation bounds hold only without it.
const RaceEnabled = true
