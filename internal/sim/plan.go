package sim

import (
	"math/rand/v2"
	"time"
)

// The fleet lives in central European time (UTC+1 in winter); habits are in
// local hours.
const (
	localOffset = int64(time.Hour)
	dayNs       = int64(24 * time.Hour)
	hourNs      = int64(time.Hour)
	minuteNs    = int64(time.Minute)
	secondNs    = int64(time.Second)
)

func localDay(t int64) int64 {
	d := (t + localOffset) / dayNs
	if (t+localOffset)%dayNs < 0 {
		d--
	}
	return d
}

// atLocal is the time of local hour h (may exceed 24) on local day d.
func atLocal(d int64, h float64) int64 { return d*dayNs - localOffset + int64(h*float64(hourNs)) }

func localHour(t int64) float64 { return float64(t-atLocal(localDay(t), 0)) / float64(hourNs) }

// weekday of a local day: 0 Monday … 6 Sunday (1970-01-01 was a Thursday).
func weekday(d int64) int { return int(((d+3)%7 + 7) % 7) }

// Trip destinations.
const (
	destHome = iota
	destWork
	destShop
	destFar
	destStop // a fleet vehicle's delivery stop
)

// Vehicle habits.
const (
	kindCommuter = iota
	kindOccasional
	kindFleet
)

const maxTrips = 8

type plannedTrip struct {
	at   int64
	dest uint8
}

// dayPlan is a vehicle's departures for one local day, in time order.
type dayPlan struct {
	day   int64
	n, i  uint8
	trips [maxTrips]plannedTrip
}

func (p *dayPlan) add(d int64, h float64, dest uint8) {
	if int(p.n) < maxTrips {
		p.trips[p.n] = plannedTrip{at: atLocal(d, h), dest: dest}
		p.n++
	}
}

func (p *dayPlan) next() (plannedTrip, bool) {
	if p.i < p.n {
		return p.trips[p.i], true
	}
	return plannedTrip{}, false
}

func plan(r *rand.Rand, kind uint8, d int64) dayPlan {
	p := dayPlan{day: d}
	wd := weekday(d)
	switch {
	case kind == kindFleet:
		if wd == 6 {
			break
		}
		h := 6.5 + 1.5*r.Float64()
		end := 17.5
		if wd == 5 {
			end = 13
		}
		for range 3 + r.IntN(4) {
			if h > end {
				break
			}
			p.add(d, h, destStop)
			h += 0.6 + r.Float64()
		}
		p.add(d, h, destHome)
	case kind == kindCommuter && wd < 5:
		p.add(d, clamp(7.6+0.6*r.NormFloat64(), 5.5, 10), destWork)
		if r.IntN(8) == 0 {
			h := 12 + 1.5*r.Float64()
			p.add(d, h, destShop)
			p.add(d, h+0.5+0.5*r.Float64(), destWork)
		}
		p.add(d, clamp(17.3+0.8*r.NormFloat64(), 15, 20), destHome)
		if r.IntN(10) < 3 {
			h := 19 + 2*r.Float64()
			p.add(d, h, destShop)
			p.add(d, h+0.3+0.9*r.Float64(), destHome)
		}
	default:
		errands(r, &p, d, wd >= 5)
	}
	if r.IntN(50) == 0 && kind != kindFleet { // a rare night out
		h := 23 + 1.5*r.Float64()
		p.add(d, h, destShop)
		p.add(d, h+0.3+0.7*r.Float64(), destHome)
	}
	return p
}

// errands plans round trips from home in the daytime, now and then a long
// one at the weekend.
func errands(r *rand.Rand, p *dayPlan, d int64, weekend bool) {
	n := r.IntN(3)
	if weekend {
		n++
	}
	h := 8.5 + 2*r.Float64()
	for range n {
		h += 3 * r.Float64()
		if h > 20 {
			return
		}
		dest, dwell := uint8(destShop), 0.3+1.5*r.Float64()
		if weekend && r.IntN(40) == 0 {
			dest, dwell = destFar, 2+2*r.Float64()
		}
		p.add(d, h, dest)
		h += dwell + 0.5
		p.add(d, h, destHome)
		h += 0.5
	}
}

func clamp(x, lo, hi float64) float64 { return min(max(x, lo), hi) }
