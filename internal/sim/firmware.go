package sim

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/vigil-project/vigil/internal/event"
)

const (
	ecuTCU = iota
	ecuGateway
	ecuInfotainment
	numECUs
)

var (
	ecuNames = [numECUs]string{"tcu", "gateway", "infotainment"}
	ecuSizes = [numECUs]int64{48_211_968, 6_291_456, 1_288_490_188}
	// baseVersions are installed in the fleet before the span; each ECU then
	// gets one release per campaign.
	baseVersions = [numECUs][]string{{"4.0.2", "4.1.0", "4.2.1"}, {"2.6.0", "2.7.1", "2.8.0"}, {"7.0.4", "7.1.3"}}
	nextMajor    = [numECUs]string{"4.", "2.", "7."}
	firstMinor   = [numECUs]int{3, 9, 2}
)

// release is one genuine firmware image.
type release struct {
	version string
	sha256  [32]byte
	sig     []byte // Ed25519 over the raw digest
}

// firmware is the simulated OEM's release manifest and signing key.
type firmware struct {
	keyID    string
	priv     ed25519.PrivateKey
	pub      ed25519.PublicKey
	releases [numECUs][]release // ascending versions
}

func newFirmware(seed uint64, span time.Duration) firmware {
	r := rand.New(rand.NewPCG(seed, 0x5167))
	var keySeed [ed25519.SeedSize]byte
	for i := 0; i < len(keySeed); i += 8 {
		binary.LittleEndian.PutUint64(keySeed[i:], r.Uint64())
	}
	priv := ed25519.NewKeyFromSeed(keySeed[:])
	f := firmware{keyID: "oem-2026", priv: priv, pub: priv.Public().(ed25519.PublicKey)}
	days := int(span/(24*time.Hour)) + 1
	for e := range numECUs {
		versions := append([]string(nil), baseVersions[e]...)
		for k := range days/3 + 2 {
			versions = append(versions, nextMajor[e]+strconv.Itoa(firstMinor[e]+k)+".0")
		}
		for _, v := range versions {
			f.releases[e] = append(f.releases[e], f.sign(imageDigest(seed, ecuNames[e], v), v))
		}
	}
	return f
}

func (f *firmware) sign(digest [32]byte, version string) release {
	return release{version: version, sha256: digest, sig: ed25519.Sign(f.priv, digest[:])}
}

// imageDigest stands in for the SHA-256 of an image: unique per ECU, version
// and seed.
func imageDigest(seed uint64, ecu, version string) [32]byte {
	return sha256.Sum256([]byte("vigil-sim image " + ecu + " " + version + " " + strconv.FormatUint(seed, 10)))
}

func (f *firmware) manifest() [][32]byte {
	var out [][32]byte
	for e := range numECUs {
		for _, r := range f.releases[e] {
			out = append(out, r.sha256)
		}
	}
	return out
}

// genuine is the firmware.install data for a genuine release over the air.
func (f *firmware) genuine(ecu, rel int, previous, campaign string, result event.FirmwareResult) event.Firmware {
	r := &f.releases[ecu][rel]
	return event.Firmware{
		ECU: ecuNames[ecu], Version: r.version, PreviousVersion: previous, SHA256: r.sha256,
		Size: ecuSizes[ecu], HasSize: true, Channel: event.FWChannelOTA, Campaign: campaign, Result: result,
		Signature: &event.Signature{Alg: event.AlgEd25519, KeyID: f.keyID, Value: r.sig},
	}
}

// pendingInstall is an offered update the vehicle installs once parked.
type pendingInstall struct {
	ecu, rel int
	campaign string
	at       int64
}

// campaign rolls one release out to part of a tenant's fleet in waves.
type campaign struct {
	tenant uint16
	ecu    int
	rel    int
	name   string
	day    int64 // local day of the rollout
	wave   int
	i      int // position in the tenant's vehicles
}

const campaignWaves = 4

// campaign waves start at these local hours.
var waveHours = [campaignWaves]float64{10, 13, 16, 19}

func (s *Simulator) scheduleCampaigns() {
	for d := localDay(s.start); atLocal(d, 0) < s.end; d++ {
		for t := range s.tenants {
			ecu := int(d+int64(t)) % numECUs
			k := int(d-localDay(s.start)) / numECUs
			c := &campaign{tenant: uint16(t), ecu: ecu, rel: len(baseVersions[ecu]) + k, day: d}
			c.name = ecuNames[ecu] + "-" + s.fw.releases[ecu][c.rel].version + "-" + s.tenants[t].name
			if at := atLocal(d, waveHours[0]); at >= s.start {
				s.procs.push(at, c)
			}
		}
	}
}

// inWave says whether vehicle i gets the update, and in which wave: about a
// third of the fleet a day.
func (c *campaign) inWave(i int32) (bool, int) {
	h := mix(uint64(i)*0x9e3779b97f4a7c15 ^ uint64(c.day))
	return h%100 < 35, int(h>>32) % campaignWaves
}

func (c *campaign) step(s *Simulator, now int64) int64 {
	vs := s.tenants[c.tenant].vehicles
	for ; c.i < len(vs); c.i++ {
		v := &s.vehicles[vs[c.i]]
		ok, wave := c.inWave(v.idx)
		if !ok || wave != c.wave || v.fwRel[c.ecu] >= c.rel || v.pending != nil {
			continue
		}
		c.i++
		s.push(s.firmwareEvent(v, now, s.fw.genuine(c.ecu, c.rel, v.fw[c.ecu], c.name, event.FWOffered)))
		v.pending = &pendingInstall{ecu: c.ecu, rel: c.rel, campaign: c.name, at: now + s.life.Int64N(40*int64(time.Minute)) + 5*int64(time.Minute)}
		return now + 200*int64(time.Millisecond) + s.life.Int64N(int64(time.Second))
	}
	c.wave++
	c.i = 0
	if c.wave == campaignWaves {
		return never
	}
	return atLocal(c.day, waveHours[c.wave])
}

// install applies a pending update on a parked vehicle: 2% fail.
func (s *Simulator) install(v *vehicle, now int64) {
	p := v.pending
	v.pending = nil
	result := event.FWInstalled
	if s.life.IntN(50) == 0 {
		result = event.FWFailed
	}
	s.push(s.firmwareEvent(v, now, s.fw.genuine(p.ecu, p.rel, v.fw[p.ecu], p.campaign, result)))
	if result == event.FWInstalled {
		v.setFirmware(&s.fw, p.ecu, p.rel)
	}
}

// mix is a 64-bit finaliser (splitmix64): a stable hash for per-entity choices
// that must not consume a random stream.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
