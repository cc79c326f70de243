package telemetry

import (
	"testing"

	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/detecttest"
)

func TestCases(t *testing.T) {
	detecttest.Cases(t, func() []detect.Detector { return []detect.Detector{NewMovement(MovementConfig{})} })
}
