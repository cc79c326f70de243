package app

import (
	"io"
	"os"
)

// recordTo starts a recording of the process (a CPU profile, an execution
// trace) into a new file at path, and returns what ends it and closes the
// file; with an empty path it records nothing.
func recordTo(path string, start func(io.Writer) error, stop func()) (end func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { stop(); f.Close() }, nil
}
