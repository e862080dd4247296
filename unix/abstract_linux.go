package unix

// abstractNames says whether a path starting with "@" names a socket in
// the abstract namespace, which only Linux has.
const abstractNames = true
