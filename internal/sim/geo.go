package sim

import (
	"math"

	"github.com/vigil-project/vigil/internal/event"
)

// city is a home region of the fleet. ipNet is the first octet of the
// broadband addresses handed out there; mncs are the mobile operators.
type city struct {
	name     string
	lat, lon float64
	weight   int
	mcc      int
	mncs     [3]int
	ipNet    byte
}

var cities = [...]city{
	{"Munich", 48.1372, 11.5756, 9, 262, [3]int{1, 2, 3}, 87},
	{"Berlin", 52.5200, 13.4050, 10, 262, [3]int{1, 2, 3}, 87},
	{"Hamburg", 53.5511, 9.9937, 6, 262, [3]int{1, 2, 3}, 87},
	{"Stuttgart", 48.7758, 9.1829, 5, 262, [3]int{1, 2, 3}, 87},
	{"Paris", 48.8566, 2.3522, 10, 208, [3]int{1, 10, 20}, 90},
	{"Lyon", 45.7640, 4.8357, 4, 208, [3]int{1, 10, 20}, 90},
	{"Madrid", 40.4168, -3.7038, 8, 214, [3]int{1, 3, 7}, 88},
	{"Barcelona", 41.3874, 2.1686, 6, 214, [3]int{1, 3, 7}, 88},
	{"Milan", 45.4642, 9.1900, 7, 222, [3]int{1, 10, 88}, 93},
	{"Rome", 41.9028, 12.4964, 6, 222, [3]int{1, 10, 88}, 93},
	{"Warsaw", 52.2297, 21.0122, 6, 260, [3]int{1, 2, 3}, 83},
	{"Vienna", 48.2082, 16.3738, 4, 232, [3]int{1, 3, 5}, 91},
	{"Amsterdam", 52.3676, 4.9041, 4, 204, [3]int{4, 8, 16}, 85},
	{"Prague", 50.0755, 14.4378, 4, 230, [3]int{1, 2, 3}, 89},
}

// The serving-cell grid: a cell is a cell of this grid, so the same place
// always gives the same cell, and a cell id gives its place back.
const (
	gridLat0  = 34.0
	gridLon0  = -12.0
	gridDLat  = 0.02 // ≈ 2.2 km
	gridDLon  = 0.03 // ≈ 2.1 km at 48°N
	gridRows  = 1950 // up to 73°N
	gridCols  = 2048 // up to 49°E
	lacBlock  = 8    // a location area is 8×8 cells
	mPerDeg   = 111_320.0
	earthR    = 6_371_000.0
	degToRad  = math.Pi / 180
	kmhPerMps = 3.6
)

// servingCell fills c with the cell serving (lat, lon) on operator mcc/mnc.
func servingCell(c *event.Cell, lat, lon float64, mcc, mnc int) {
	row := clampInt(int((lat-gridLat0)/gridDLat), 0, gridRows-1)
	col := clampInt(int((lon-gridLon0)/gridDLon), 0, gridCols-1)
	c.MCC, c.MNC = mcc, mnc
	c.LAC = int64((row/lacBlock)*(gridCols/lacBlock) + col/lacBlock + 1)
	c.CID = int64(row*gridCols + col + 1)
}

// CellLocation returns the centre of a simulated serving cell: the cell
// database of the simulated network, for checking GPS against the cell. ok is
// false for a cell the simulator never emits.
func CellLocation(c event.Cell) (lat, lon float64, ok bool) {
	i := c.CID - 1
	if i < 0 || i >= gridRows*gridCols {
		return 0, 0, false
	}
	row, col := int(i)/gridCols, int(i)%gridCols
	if c.LAC != int64((row/lacBlock)*(gridCols/lacBlock)+col/lacBlock+1) {
		return 0, 0, false
	}
	return gridLat0 + (float64(row)+0.5)*gridDLat, gridLon0 + (float64(col)+0.5)*gridDLon, true
}

// Distance returns the great-circle distance in metres.
func Distance(lat1, lon1, lat2, lon2 float64) float64 {
	dLat := (lat2 - lat1) * degToRad
	dLon := (lon2 - lon1) * degToRad
	a := math.Sin(dLat/2)*math.Sin(dLat/2) +
		math.Cos(lat1*degToRad)*math.Cos(lat2*degToRad)*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthR * math.Asin(math.Sqrt(min(1, a)))
}

// moveBy returns the point dx metres east and dy metres north of (lat, lon),
// on a local flat approximation (good to a few metres over a city).
func moveBy(lat, lon, dx, dy float64) (float64, float64) {
	return lat + dy/mPerDeg, lon + dx/(mPerDeg*math.Cos(lat*degToRad))
}

// offsetOf is the inverse of moveBy: metres east and north from (lat0, lon0).
func offsetOf(lat0, lon0, lat, lon float64) (dx, dy float64) {
	return (lon - lon0) * mPerDeg * math.Cos(lat0*degToRad), (lat - lat0) * mPerDeg
}

// round6 keeps coordinates to ~0.1 m, as GNSS receivers report them.
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

func round1(x float64) float64 { return math.Round(x*10) / 10 }

func clampInt(x, lo, hi int) int { return min(max(x, lo), hi) }
