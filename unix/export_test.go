package unix

// SetTestHookBound makes Listen call f right after bind, until the
// returned func restores the hook.
func SetTestHookBound(f func(path string)) (restore func()) {
	testHookBound = f
	return func() { testHookBound = nil }
}
