//go:build !race

package chanstream

// raceAllocs is what the race detector adds to the allocations of a read
// that waits in the poller: nothing without it.
const raceAllocs = 0
