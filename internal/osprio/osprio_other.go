//go:build !linux

package osprio

import (
	"errors"
	"time"
)

// Supported: elsewhere a priority belongs to the whole process, so
// Background does nothing.
const Supported = false

func lowerThread(int) error { return errors.New("osprio: thread priorities are only set on Linux") }

func shortSlice(time.Duration) error {
	return errors.New("osprio: thread time slices are only set on Linux")
}
