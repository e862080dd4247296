module github.com/cspstream/streams

go 1.24.0

require golang.org/x/sync v0.19.0

require go.uber.org/goleak v1.3.0

require golang.org/x/net v0.50.0
