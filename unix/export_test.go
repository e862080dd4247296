package unix

// SetTestHookBound makes Listen call f right after bind, until the
// returned func restores the hook.
func SetTestHookBound(f func(path string)) (restore func()) {
	testHookBound = f
	return func() { testHookBound = nil }
}

// SetTestHookStale makes Listen call f when it has found the file at path
// stale, before it removes it, until the returned func restores the hook.
func SetTestHookStale(f func(path string)) (restore func()) {
	testHookStale = f
	return func() { testHookStale = nil }
}
