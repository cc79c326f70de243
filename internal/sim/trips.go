package sim

import (
	"math"
	"math/rand/v2"
)

const (
	maxWaypoints = 9
	accel        = 1.5 // m/s², an unhurried driver
	decel        = 2.0 // m/s²
)

// trip is a drive along a road-like polyline: straight segments joined by
// turns, each segment with the cruise speed of its road class. Positions are
// metres east/north of the start.
type trip struct {
	lat0, lon0 float64
	n          int // segments
	x, y, cum  [maxWaypoints]float64
	vmax       [maxWaypoints]float64 // cruise speed of segment k, m/s
	corner     [maxWaypoints]float64 // speed through waypoint k, m/s; 0 = stop
	light      [maxWaypoints]bool    // waypoint k has a traffic light that is red
	s, v       float64               // distance along the route (m), speed (m/s)
	seg        int
	dwellUntil int64
	last       int64 // time of the last update
	// tunnel is a stretch without GNSS or cell coverage: no telemetry there.
	tunnelFrom, tunnelTo float64
	dest                 uint8
}

// route lays out a trip from (lat0, lon0) to (lat1, lon1).
func (tr *trip) route(r *rand.Rand, lat0, lon0, lat1, lon1 float64) {
	*tr = trip{lat0: lat0, lon0: lon0}
	dx, dy := offsetOf(lat0, lon0, lat1, lon1)
	d := math.Hypot(dx, dy)
	tr.n = clampInt(int(d/2500)+1, 1, maxWaypoints-1)
	if d < 800 {
		tr.n = 1
	}
	px, py := -dy/max(d, 1), dx/max(d, 1) // unit normal: turns bend the path sideways
	for k := 1; k < tr.n; k++ {
		f := (float64(k) + 0.6*(r.Float64()-0.5)) / float64(tr.n)
		side := (r.Float64() - 0.5) * 0.5 * d / float64(tr.n)
		tr.x[k], tr.y[k] = f*dx+side*px, f*dy+side*py
	}
	tr.x[tr.n], tr.y[tr.n] = dx, dy
	for k := 1; k <= tr.n; k++ {
		l := math.Hypot(tr.x[k]-tr.x[k-1], tr.y[k]-tr.y[k-1])
		tr.cum[k] = tr.cum[k-1] + l
		var kmh float64
		switch {
		case l > 5000:
			kmh = 100 + 30*r.Float64()
		case l > 2000:
			kmh = 60 + 30*r.Float64()
		default:
			kmh = 30 + 20*r.Float64()
		}
		tr.vmax[k-1] = kmh / kmhPerMps
		if l > 6000 && tr.tunnelTo == 0 && r.IntN(4) == 0 {
			tr.tunnelFrom = tr.cum[k-1] + l*(0.2+0.3*r.Float64())
			tr.tunnelTo = min(tr.tunnelFrom+2000+3000*r.Float64(), tr.cum[k]-500)
		}
	}
	for k := 1; k < tr.n; k++ {
		tr.corner[k] = min((15+20*r.Float64())/kmhPerMps, tr.vmax[k-1], tr.vmax[k])
		if tr.vmax[k-1] < 15 && tr.vmax[k] < 15 && r.IntN(3) == 0 {
			tr.corner[k], tr.light[k] = 0, true
		}
	}
}

// advance moves the vehicle on to time now in one-second steps and returns
// the distance covered and whether it has arrived.
func (tr *trip) advance(r *rand.Rand, now int64) (dist float64, arrived bool) {
	start := tr.s
	for t := tr.last; t < now; {
		h := min(secondNs, now-t)
		t += h
		if t <= tr.dwellUntil {
			continue
		}
		dt := float64(h) / float64(secondNs)
		for tr.seg < tr.n-1 && tr.s >= tr.cum[tr.seg+1] {
			tr.seg++
		}
		end := tr.cum[tr.seg+1]
		vc := tr.corner[tr.seg+1]
		left := end - tr.s
		target := min(tr.vmax[tr.seg], math.Sqrt(vc*vc+2*decel*left))
		if tr.v < target {
			tr.v = min(target, tr.v+accel*dt)
		} else {
			tr.v = max(target, tr.v-decel*dt)
		}
		if vc == 0 && left <= max(1, tr.v*dt) { // stop at the light or the destination
			tr.s, tr.v = end, 0
			if tr.seg == tr.n-1 {
				tr.last = now
				return tr.s - start, true
			}
			tr.seg++
			tr.dwellUntil = t + (10+r.Int64N(50))*secondNs
			continue
		}
		tr.v = max(tr.v, min(target, 2)) // creep on, never stall short of the goal
		tr.s += tr.v * dt
	}
	tr.last = now
	return tr.s - start, false
}

// position returns where the vehicle is and which way it faces (degrees).
func (tr *trip) position() (lat, lon, heading float64) {
	k := tr.seg
	for k < tr.n-1 && tr.s > tr.cum[k+1] {
		k++
	}
	l := tr.cum[k+1] - tr.cum[k]
	f := 0.0
	if l > 0 {
		f = min(1, (tr.s-tr.cum[k])/l)
	}
	dx, dy := tr.x[k+1]-tr.x[k], tr.y[k+1]-tr.y[k]
	lat, lon = moveBy(tr.lat0, tr.lon0, tr.x[k]+f*dx, tr.y[k]+f*dy)
	heading = math.Mod(math.Atan2(dx, dy)/degToRad+360, 360)
	return lat, lon, heading
}

func (tr *trip) inTunnel() bool { return tr.s > tr.tunnelFrom && tr.s < tr.tunnelTo }

// destination picks where a trip goes.
func (v *vehicle) destination(r *rand.Rand, f *fleet, dest uint8) (float64, float64) {
	switch dest {
	case destHome:
		return v.homeLat, v.homeLon
	case destWork:
		return v.workLat, v.workLon
	case destFar:
		d, a := 80_000+170_000*r.Float64(), r.Float64()*2*math.Pi
		return moveBy(v.homeLat, v.homeLon, d*math.Sin(a), d*math.Cos(a))
	case destStop:
		o := &f.operators[v.operator]
		d, a := 2000+13_000*r.Float64(), r.Float64()*2*math.Pi
		return moveBy(o.lat, o.lon, d*math.Sin(a), d*math.Cos(a))
	}
	d, a := 1500+6500*r.Float64(), r.Float64()*2*math.Pi
	return moveBy(v.homeLat, v.homeLon, d*math.Sin(a), d*math.Cos(a))
}
