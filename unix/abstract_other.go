//go:build !linux

package unix

// abstractNames says whether a path starting with "@" names a socket in
// the abstract namespace, which only Linux has. Elsewhere Listen refuses
// such a path rather than make a file named "@…".
const abstractNames = false
