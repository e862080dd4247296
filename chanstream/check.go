package chanstream

// CheckOptions returns the error of the first invalid option in opts — one
// that wraps ErrInvalidArgument — or nil. Packages that take stream options
// for later connections (server, unix) call it when they are constructed,
// so that a bad option is an error there rather than a panic in New on the
// first connection. It does not block.
func CheckOptions(opts ...Option) error {
	return newConfig(opts).err
}
