// Package pipeline joins streams, transforms and sinks with channels, each
// stage a goroutine, all supervised by one errgroup: the first error
// cancels every stage, and Wait returns it once every stage has returned.
//
// Sources turn a [chanstream.Reader] into a channel of items ([Lines],
// [Split], [Chunks]); stages transform channels ([Map], [Filter], [Batch],
// [Merge], [Broadcast]); sinks end in a [chanstream.Writer] ([WriteTo],
// [Copy]). The channels are ordinary Go channels: a program can range over
// one, or receive from it in its own select, next to its other channels.
//
//	p := pipeline.New(ctx)
//	lines := pipeline.Lines(p, r)
//	upper := pipeline.Map(p, lines, func(_ context.Context, line []byte) ([]byte, error) {
//		return bytes.ToUpper(line), nil
//	})
//	pipeline.WriteTo(p, w, upper)
//	err := p.Wait()
//
// # Cancellation
//
// When the ctx given to [New] ends, or a stage fails, the pipeline's
// context ([Pipeline.Context]) is cancelled: every stage returns and closes
// its output channel, and [Pipeline.Wait] returns the first error — ctx's
// error when ctx ended first. A stage that is cancelled stops taking items
// even when some are ready.
//
// Sources are cancel-safe: a read that is cancelled consumes nothing, and
// an item read but never received by anyone is put back into its Reader
// with [chanstream.Reader.Unread], by the source or, for the items still in
// its channel, by Wait. So a Reader handed on after a cancelled pipeline
// reads next exactly the bytes that no receiver got: nothing lost, nothing
// repeated. Items that a stage received are delivered, and a stage that is
// cancelled drops what it holds. While a pipeline runs, its sources (and
// [Copy]) must be their Reader's only readers.
//
// # Order and ownership
//
// Every stage keeps the order of its input; [Map] handles one item at a
// time. Items from [Lines] and [Split] keep their separator, as
// [chanstream.Reader.ReadUntil] returns them. An item from a source, and a
// batch from [Batch], is a new slice that belongs to its receiver, which
// may modify or keep it; [Broadcast] gives the same item to every output.
//
// # Memory
//
// Each channel a stage makes holds at most 128 items, so a pipeline's memory
// in flight is bounded by its stages, whatever the volume. A slow sink
// fills the channels before it, which stops the source, whose Reader stops
// reading its connection: TCP back-pressure reaches the peer. [WriteTo] and
// [Copy] drain their Writer at its high watermark.
//
// # Errors
//
// A source's read error (a *chanstream.LimitOverrunError, a reset, a local
// Close) ends the pipeline with that error, after every item before it was
// sent; EOF closes the source's channel and is not an error. An error
// from a Map function or a sink's write ends the pipeline with that error.
// Invalid arguments (size < 1, n < 1, max < 1, an empty separator) panic
// with an error wrapping [chanstream.ErrInvalidArgument], as a
// programming mistake.
package pipeline
