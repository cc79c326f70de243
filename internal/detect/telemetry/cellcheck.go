package telemetry

import (
	"fmt"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
)

// CellConfig configures the GPS / serving cell consistency detector.
type CellConfig struct {
	// Cells is the cell database (LoadCells reads an OpenCelliD CSV file,
	// named in the configuration). nil: the detector checks nothing.
	Cells CellLookup `yaml:"-"`
	// MarginM is added to a cell's range before a fix counts as too far
	// from it: database positions are estimates and handovers lag. Default
	// 2000 m.
	MarginM float64 `yaml:"margin_m"`
	// MinRangeM is the range assumed for cells whose stated range is
	// smaller or unknown. Default 1000 m.
	MinRangeM float64 `yaml:"min_range_m"`
	// Consecutive is how many fixes in a row must be too far from their
	// serving cell. Default 3.
	Consecutive int `yaml:"consecutive"`
}

// Cell raises telemetry-spoofing when a vehicle's GNSS fixes lie, several in
// a row, farther from their serving cell than the cell reaches (plus a
// margin): the position is spoofed while the radio link shows where the unit
// really is (Oligeri et al., "Drive Me Not", WiSec 2019). Fixes whose cell is
// not in the database count neither way. A vehicle alerts once per run of
// such fixes.
type Cell struct {
	cfg         CellConfig
	consecutive uint8
	margin      float32
	minRange    float32
}

// NewCell returns the detector.
func NewCell(cfg CellConfig) *Cell {
	if cfg.MarginM <= 0 {
		cfg.MarginM = 2000
	}
	if cfg.MinRangeM <= 0 {
		cfg.MinRangeM = 1000
	}
	if cfg.Consecutive <= 0 {
		cfg.Consecutive = 3
	}
	return &Cell{cfg: cfg, consecutive: uint8(min(cfg.Consecutive, 250)), margin: float32(cfg.MarginM), minRange: float32(cfg.MinRangeM)}
}

var _ detect.Detector = (*Cell)(nil)

// Info describes the detector.
func (d *Cell) Info() detect.Info {
	return detect.Info{
		ID:       "telemetry.gps-cell-mismatch",
		Category: alert.TelemetrySpoofing,
		Title:    "GPS position far from the serving cell",
		Description: fmt.Sprintf("%d consecutive fixes of a vehicle lie farther from their serving cell than its range (at least %.0f m) "+
			"plus %.0f m.", d.cfg.Consecutive, d.cfg.MinRangeM, d.cfg.MarginM),
		Subscribe: []detect.Subscription{{Kind: detect.KindVehicle, Types: []event.Type{event.TypeTelemetry}}},
	}
}

// OnEvent compares the fix with its serving cell.
func (d *Cell) OnEvent(c *detect.Context, s detect.State, ev *event.Event) {
	t := ev.Telemetry
	if d.cfg.Cells == nil || t.Cell == nil {
		return
	}
	site, ok := d.cfg.Cells.Cell(t.Cell)
	if !ok {
		return
	}
	v := s.Vehicle
	limit := max(site.RangeM, d.minRange) + d.margin
	dy := float32(t.Position.Lat-float64(site.Lat)) * metresPerDegree
	if dy*dy <= limit*limit {
		dx := float32(t.Position.Lon-float64(site.Lon)) * metresPerDegree * site.cosLat
		if dx*dx+dy*dy <= limit*limit {
			v.CellMisses = 0
			return
		}
	}
	if v.CellMisses < 255 {
		v.CellMisses++
	}
	if v.CellMisses != d.consecutive {
		return
	}
	dist := Haversine(t.Position.Lat, t.Position.Lon, float64(site.Lat), float64(site.Lon))
	refs := []event.Ref{ev.Ref()}
	first := ev.Time
	if d.consecutive > 1 && v.FixTime != 0 && v.FixTime < ev.Time {
		refs, first = []event.Ref{v.FixRef, ev.Ref()}, v.FixTime
	}
	cl := t.Cell
	v.LastSpoofAlert = max(v.LastSpoofAlert, ev.Time) // opens a spoofing episode (twin.SpoofEpisode)
	c.Emit(&alert.Alert{
		Time:      ev.Time,
		FirstSeen: first,
		LastSeen:  ev.Time,
		Severity:  event.SeverityHigh,
		Explanation: fmt.Sprintf("Vehicle %s reported its position at (%.5f, %.5f) at %s, %.1f km from its serving cell %d-%d-%d-%d at (%.5f, %.5f), "+
			"beyond the cell's range of %.0f m plus %.0f m; %d fixes in a row were that far from their cells (threshold %d). "+
			"The GNSS position is probably spoofed while the radio link shows where the unit is.",
			c.Key, t.Position.Lat, t.Position.Lon, fmtTime(ev.Time), dist/1000, cl.MCC, cl.MNC, cl.LAC, cl.CID, site.Lat, site.Lon,
			max(site.RangeM, d.minRange), d.margin, v.CellMisses, d.consecutive),
		Entities: alert.Entities{Vehicle: c.Key, Device: imeiOf(t)},
		Evidence: refs,
	})
}

// OnTimer is unused: the detector sets no timers.
func (d *Cell) OnTimer(*detect.Context, detect.State, int64) {}

func imeiOf(t *event.Telemetry) string {
	if t.Device != nil {
		return t.Device.IMEI
	}
	return ""
}
