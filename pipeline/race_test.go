//go:build race

package pipeline_test

// memTestBytes is how much TestBoundedMemory pushes through the pipeline:
// less under the race detector, which makes every line ~10× slower.
const memTestBytes = 32 << 20
