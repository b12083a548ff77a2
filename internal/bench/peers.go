// Package bench holds side-by-side benchmarks of reclaim against its peer
// libraries. It is a nested module so that the peers never enter the
// library's go.mod; see ../../BENCHMARKS.md in the shared design notes and the
// README's benchmark table.
package bench
