// Package atomicfile writes files so that readers, and a crash, see either
// the old content of a path or the new one, never a part of it: the content
// goes to a temporary file in the same folder, which is synced and closed,
// then renamed over the path, and the folder is synced so that the rename
// survives a crash.
//
// It serves the checkpoints of flows and cmd/gosbi and the simulation files
// of simulators, which all need the same sequence of steps.
package atomicfile
