//go:build !race

package pipeline_test

// memTestBytes is how much TestBoundedMemory pushes through the pipeline.
const memTestBytes = 256 << 20
