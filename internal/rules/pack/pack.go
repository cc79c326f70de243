// Package pack is vigil's shipped rule pack: detections that read better
// as rules than as Go, embedded in the binary. Each rule has cases in
// testdata/, run by go test and by vigil rules test.
//
// Load it as the first source, e.g. rules.Source{Name: pack.Name, FS:
// pack.FS()}: rules in a user directory with the same id (and lists or
// macros of the same name) replace the pack's.
package pack

import (
	"embed"
	"io/fs"
)

//go:embed *.yaml
var files embed.FS

// Name is how the pack's files are named in problems: pack/auth.yaml.
const Name = "pack"

// FS returns the pack's rule files.
func FS() fs.FS { return files }
