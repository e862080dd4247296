// Package repocheck holds the tests of what the repository promises about
// itself beside the code: its license, and the platforms CI builds and
// vets for. It has no code.
package repocheck
