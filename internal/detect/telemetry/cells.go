package telemetry

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/vigil-project/vigil/internal/event"
)

// CellSite is where a serving cell is and how far it reaches.
type CellSite struct {
	Lat, Lon float32 // WGS 84 degrees
	RangeM   float32 // estimated reach in metres (OpenCelliD "range"); 0 unknown
	cosLat   float32
}

// NewCellSite returns a site, with what distance checks need precomputed.
func NewCellSite(lat, lon, rangeM float64) CellSite {
	return CellSite{Lat: float32(lat), Lon: float32(lon), RangeM: float32(rangeM), cosLat: float32(math.Cos(lat * math.Pi / 180))}
}

// CellLookup finds the site of a serving cell. *CellDB implements it; tests
// and adapters can wrap a function with CellFunc.
type CellLookup interface {
	Cell(c *event.Cell) (CellSite, bool)
}

// CellFunc adapts a function to CellLookup.
type CellFunc func(c *event.Cell) (CellSite, bool)

// Cell implements CellLookup.
func (f CellFunc) Cell(c *event.Cell) (CellSite, bool) { return f(c) }

type cellKey struct {
	mcc, mnc uint16
	area     uint32
	cell     uint64
}

// CellDB is a cell tower database: the site of each cell by (MCC, MNC,
// LAC/TAC, cell id). It is read-only once loaded and safe for concurrent use.
type CellDB struct {
	cells   map[cellKey]CellSite
	samples map[cellKey]int32 // while loading: to keep the better-measured of duplicates
}

// NewCellDB returns an empty database.
func NewCellDB() *CellDB { return &CellDB{cells: map[cellKey]CellSite{}} }

// Len returns the number of cells.
func (db *CellDB) Len() int { return len(db.cells) }

// Add records a cell's site. Build the database before handing it to
// detectors: Add is not safe for concurrent use.
func (db *CellDB) Add(mcc, mnc int, area, cell int64, site CellSite) {
	if k, ok := makeKey(mcc, mnc, area, cell); ok {
		db.cells[k] = site
	}
}

func makeKey(mcc, mnc int, area, cell int64) (cellKey, bool) {
	if mcc < 0 || mcc > math.MaxUint16 || mnc < 0 || mnc > math.MaxUint16 || area < 0 || area > math.MaxUint32 || cell < 0 {
		return cellKey{}, false
	}
	return cellKey{uint16(mcc), uint16(mnc), uint32(area), uint64(cell)}, true
}

// Cell implements CellLookup.
func (db *CellDB) Cell(c *event.Cell) (CellSite, bool) {
	k, ok := makeKey(c.MCC, c.MNC, c.LAC, c.CID)
	if !ok {
		return CellSite{}, false
	}
	s, ok := db.cells[k]
	return s, ok
}

// openCellIDColumns is the layout of an OpenCelliD export.
var openCellIDColumns = []string{"radio", "mcc", "net", "area", "cell", "unit", "lon", "lat", "range", "samples",
	"changeable", "created", "updated", "averageSignal"}

// LoadCells reads a cell database in OpenCelliD CSV format: the columns
// radio,mcc,net,area,cell,unit,lon,lat,range,samples,changeable,created,
// updated,averageSignal, with or without that header line (with a header the
// columns may come in any order and extra ones are ignored). Of two rows for
// the same cell the one with more samples wins. An error names the line and
// the column.
func LoadCells(r io.Reader) (*CellDB, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cr.Comment = '#'
	col := map[string]int{}
	for i, n := range openCellIDColumns {
		col[n] = i
	}
	db := NewCellDB()
	db.samples = map[cellKey]int32{}
	defer func() { db.samples = nil }()
	for first := true; ; first = false {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			if first {
				return nil, errors.New("cell database: empty; want OpenCelliD CSV (radio,mcc,net,area,cell,unit,lon,lat,range,...)")
			}
			return db, nil
		}
		if err != nil {
			return nil, fmt.Errorf("cell database: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if first && len(rec) > 0 && strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(rec[0], "\ufeff")), "radio") {
			col = map[string]int{}
			for i, n := range rec {
				col[strings.TrimSpace(n)] = i
			}
			for _, need := range []string{"mcc", "net", "area", "cell", "lon", "lat", "range"} {
				if _, ok := col[need]; !ok {
					return nil, fmt.Errorf("cell database: the header lacks the column %q (OpenCelliD: %s)", need, strings.Join(openCellIDColumns, ","))
				}
			}
			continue
		}
		if err := db.addRecord(rec, col, line); err != nil {
			return nil, err
		}
	}
}

func (db *CellDB) addRecord(rec []string, col map[string]int, line int) error {
	field := func(name string) (string, error) {
		i, ok := col[name]
		if !ok || i >= len(rec) {
			return "", fmt.Errorf("cell database: line %d: no %s column (%d fields, want the OpenCelliD layout %s)",
				line, name, len(rec), strings.Join(openCellIDColumns, ","))
		}
		return strings.TrimSpace(rec[i]), nil
	}
	integer := func(name string, limit int64) (int64, error) {
		s, err := field(name)
		if err != nil {
			return 0, err
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > limit {
			return 0, fmt.Errorf("cell database: line %d: %s %q is not a whole number between 0 and %d", line, name, s, limit)
		}
		return n, nil
	}
	number := func(name string, lo, hi float64) (float64, error) {
		s, err := field(name)
		if err != nil {
			return 0, err
		}
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(x) || x < lo || x > hi {
			return 0, fmt.Errorf("cell database: line %d: %s %q is not a number between %g and %g", line, name, s, lo, hi)
		}
		return x, nil
	}
	mcc, err := integer("mcc", 999)
	if err != nil {
		return err
	}
	mnc, err := integer("net", 65535)
	if err != nil {
		return err
	}
	area, err := integer("area", math.MaxUint32)
	if err != nil {
		return err
	}
	cell, err := integer("cell", math.MaxInt64)
	if err != nil {
		return err
	}
	lon, err := number("lon", -180, 180)
	if err != nil {
		return err
	}
	lat, err := number("lat", -90, 90)
	if err != nil {
		return err
	}
	rng, err := number("range", 0, 1e7)
	if err != nil {
		return err
	}
	var samples int64
	if _, ok := col["samples"]; ok && col["samples"] < len(rec) && strings.TrimSpace(rec[col["samples"]]) != "" {
		if samples, err = integer("samples", math.MaxInt32); err != nil {
			return err
		}
	}
	k, _ := makeKey(int(mcc), int(mnc), area, cell)
	if prev, ok := db.samples[k]; ok && int64(prev) >= samples {
		return nil
	}
	db.samples[k] = int32(samples)
	db.cells[k] = NewCellSite(lat, lon, rng)
	return nil
}
