// Package firmware holds the detectors of tampered firmware installs.
package firmware

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/maphash"
	"strings"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/event"
)

// Config configures the firmware tampering detector.
type Config struct {
	// TrustedKeys are the OEM's image signing keys by key id: Ed25519
	// (ed25519.PublicKey) or ECDSA P-256 (*ecdsa.PublicKey). ParseKeys reads
	// them from the configuration file. Empty: signatures are not verified,
	// only their absence is flagged.
	TrustedKeys map[string]crypto.PublicKey `yaml:"-"`
	// Releases is the release manifest: the SHA-256 digests of every
	// genuine image (ParseDigest reads them). Empty: only side-loaded
	// images are checked against the images learned from campaigns.
	Releases [][32]byte `yaml:"-"`
	// MaxLearned bounds the images learned from campaigns, per tenant and
	// shard. Default 4096.
	MaxLearned int `yaml:"max_learned"`
}

// Firmware raises firmware-tampering on a firmware.install whose result is
// installed or failed (an attempt counts; offers are judged when installed)
// and that shows one or more of:
//
//   - no signature;
//   - a signature by a key id that is not trusted;
//   - a signature that does not verify with the trusted key (or whose
//     algorithm is not the key's);
//   - an image that is not a release: not in the manifest and not learned;
//     with a manifest configured this applies to every install, without one
//     only to side-loads over usb or an unknown channel;
//   - a version older than the one the twin knows for the ECU (or, when the
//     twin knows none, than the event's previous_version): a downgrade,
//     unless it comes in a signed OTA campaign (the OEM rolling back, or
//     restoring an ECU a tampered install had given a higher number);
//   - an install over the air, or over an unknown channel, outside any
//     campaign.
//
// One alert per install names every problem found. An image installed over
// the air within a campaign with a valid trusted signature is a release:
// it is learned (per tenant, in the shard's memory), so later side-loads of
// it are not flagged. Learned images are shard-local: with a manifest
// configured (as it should be) they change nothing.
//
// ECDSA signatures are verified over the 32 digest bytes as the message
// (hashed with SHA-256 by the scheme); a signature made with the digest as
// the ECDSA hash input (a "pre-hashed" signer) is accepted too.
type Firmware struct {
	keys       map[string]crypto.PublicKey
	releases   map[[32]byte]struct{}
	maxLearned int
}

// New returns the detector, or an error when a trusted key is of a type
// signatures cannot be verified with.
func New(cfg Config) (*Firmware, error) {
	if cfg.MaxLearned <= 0 {
		cfg.MaxLearned = 4096
	}
	f := &Firmware{keys: map[string]crypto.PublicKey{}, releases: map[[32]byte]struct{}{}, maxLearned: cfg.MaxLearned}
	for id, k := range cfg.TrustedKeys {
		k, err := checkKey(k)
		if err != nil {
			return nil, fmt.Errorf("trusted key %q: %w", id, err)
		}
		f.keys[id] = k
	}
	for _, d := range cfg.Releases {
		f.releases[d] = struct{}{}
	}
	return f, nil
}

var (
	_ detect.Detector   = (*Firmware)(nil)
	_ detect.ShardLocal = (*Firmware)(nil)
)

// Info describes the detector.
func (f *Firmware) Info() detect.Info {
	return detect.Info{
		ID:       "fw.tampering",
		Category: alert.FirmwareTampering,
		Title:    "Tampered firmware install",
		Description: fmt.Sprintf("A firmware install (or failed attempt) that is unsigned, signed by an untrusted key, wrongly signed, "+
			"not a release (%d in the manifest, plus images learned from signed OTA campaigns), a version downgrade, or over the air "+
			"outside any campaign. %d trusted key(s).", len(f.releases), len(f.keys)),
		Subscribe: []detect.Subscription{{Kind: detect.KindVehicle, Types: []event.Type{event.TypeFirmware}}},
	}
}

// shardState is a shard's memory: images learned from campaigns and
// signatures already verified.
type shardState struct {
	learned  map[string]map[[32]byte]struct{} // tenant → released images
	verified map[verifyKey]bool
	seed     maphash.Seed
}

type verifyKey struct {
	digest [32]byte
	keyID  string
	sig    uint64
}

const maxVerified = 8192

// NewShardState implements detect.ShardLocal.
func (f *Firmware) NewShardState() any {
	return &shardState{learned: map[string]map[[32]byte]struct{}{}, verified: map[verifyKey]bool{}, seed: maphash.MakeSeed()}
}

// problem is one thing wrong with an install.
type problem struct {
	id   string // the alert's detector id when it is the worst problem
	sev  event.Severity
	text string
}

// OnEvent judges an install.
func (f *Firmware) OnEvent(c *detect.Context, s detect.State, ev *event.Event) {
	fw := ev.Firmware
	if fw.Result == event.FWOffered {
		return
	}
	st := c.Local.(*shardState)
	v := s.Vehicle
	var probs []problem
	sigOK := false
	switch sig := fw.Signature; {
	case sig == nil:
		probs = append(probs, problem{"fw.unsigned", event.SeverityHigh, "the image carries no signature"})
	case len(f.keys) == 0:
		// Nothing to verify with: the configuration names no trusted key.
	default:
		key, ok := f.keys[sig.KeyID]
		if !ok {
			probs = append(probs, problem{"fw.unknown-key", event.SeverityHigh,
				fmt.Sprintf("it is signed with key id %q, which is not among the %d trusted key(s)", sig.KeyID, len(f.keys))})
			break
		}
		if why := st.verify(key, sig, fw.SHA256); why != "" {
			probs = append(probs, problem{"fw.bad-signature", event.SeverityCritical,
				fmt.Sprintf("its %s signature does not verify with trusted key %q: %s", algName(sig.Alg), sig.KeyID, why)})
			break
		}
		sigOK = true
	}
	ota := fw.Channel == event.FWChannelOTA
	campaign := fw.Campaign != ""
	released := f.released(st, c.Tenant, fw.SHA256)
	signedCampaign := ota && campaign && sigOK
	if signedCampaign {
		released = true
		if fw.Result == event.FWInstalled {
			st.learn(c.Tenant, fw.SHA256, f.maxLearned)
		}
	}
	sideload := fw.Channel == event.FWChannelUSB || fw.Channel == event.FWChannelUnknown || fw.Channel == event.FWChannelUnset
	if !released && (len(f.releases) > 0 || sideload) {
		p := problem{"fw.unknown-image", event.SeverityHigh, fmt.Sprintf("the image is not a release (not in the manifest of %d images, "+
			"nor installed by a signed OTA campaign)", len(f.releases))}
		if sigOK {
			p.sev, p.text = event.SeverityCritical, p.text+", yet it carries a valid signature of a trusted key: the signing key may be compromised"
		}
		probs = append(probs, p)
	}
	cur, from := v.ECUVersion(fw.ECU), "the twin's"
	if cur == "" {
		cur, from = fw.PreviousVersion, "the reported previous"
	}
	// A signed OTA campaign that installs an older version is the OEM rolling
	// back (or restoring a tampered ECU), not an attack.
	if cmp, ok := CompareVersions(fw.Version, cur); ok && cmp < 0 && !signedCampaign {
		probs = append(probs, problem{"fw.downgrade", event.SeverityHigh,
			fmt.Sprintf("version %s is older than %s version %s of ECU %s (a downgrade)", fw.Version, from, cur, fw.ECU)})
	}
	if !campaign && (ota || fw.Channel == event.FWChannelUnknown || fw.Channel == event.FWChannelUnset) {
		probs = append(probs, problem{"fw.outside-campaign", event.SeverityMedium,
			fmt.Sprintf("it was installed over %s outside any campaign", channelName(fw.Channel))})
	}
	if len(probs) == 0 {
		return
	}
	f.emit(c, ev, probs)
}

// OnTimer is unused: the detector sets no timers.
func (f *Firmware) OnTimer(*detect.Context, detect.State, int64) {}

func (f *Firmware) released(st *shardState, tenant string, d [32]byte) bool {
	if _, ok := f.releases[d]; ok {
		return true
	}
	_, ok := st.learned[tenant][d]
	return ok
}

func (st *shardState) learn(tenant string, d [32]byte, limit int) {
	m := st.learned[tenant]
	if m == nil {
		m = map[[32]byte]struct{}{}
		st.learned[tenant] = m
	}
	if len(m) >= limit {
		return // full: the manifest in the configuration should list releases
	}
	m[d] = struct{}{}
}

// verify checks sig over digest with key and returns "" when it holds, else
// why not. Results are cached per shard: a campaign installs one image on
// thousands of vehicles.
func (st *shardState) verify(key crypto.PublicKey, sig *event.Signature, digest [32]byte) string {
	vk := verifyKey{digest: digest, keyID: sig.KeyID, sig: maphash.Bytes(st.seed, sig.Value) ^ uint64(sig.Alg)}
	if ok, seen := st.verified[vk]; seen && ok {
		return ""
	}
	why := verifySignature(key, sig, digest)
	if why == "" {
		if len(st.verified) >= maxVerified {
			clear(st.verified)
		}
		st.verified[vk] = true
	}
	return why
}

// verifySignature checks a signature of the ingest contract: over the 32
// raw bytes of the image's SHA-256 digest.
func verifySignature(key crypto.PublicKey, sig *event.Signature, digest [32]byte) string {
	switch k := key.(type) {
	case ed25519.PublicKey:
		if sig.Alg != event.AlgEd25519 {
			return fmt.Sprintf("the event says %s but the key is Ed25519", algName(sig.Alg))
		}
		if len(sig.Value) != ed25519.SignatureSize {
			return fmt.Sprintf("an Ed25519 signature has %d bytes, this one %d", ed25519.SignatureSize, len(sig.Value))
		}
		if !ed25519.Verify(k, digest[:], sig.Value) {
			return "the Ed25519 signature is not the key's over this digest"
		}
	case *ecdsa.PublicKey:
		if sig.Alg != event.AlgECDSAP256SHA256 {
			return fmt.Sprintf("the event says %s but the key is ECDSA P-256", algName(sig.Alg))
		}
		h := sha256.Sum256(digest[:])
		if !ecdsa.VerifyASN1(k, h[:], sig.Value) && !ecdsa.VerifyASN1(k, digest[:], sig.Value) {
			return "the ECDSA signature (ASN.1 DER) is not the key's over this digest"
		}
	default:
		return fmt.Sprintf("keys of type %T cannot verify", key)
	}
	return ""
}

func (f *Firmware) emit(c *detect.Context, ev *event.Event, probs []problem) {
	fw := ev.Firmware
	worst := probs[0]
	for _, p := range probs[1:] {
		if p.sev > worst.sev {
			worst = p
		}
	}
	texts := make([]string, len(probs))
	for i, p := range probs {
		texts[i] = p.text
	}
	what := "was installed"
	if fw.Result == event.FWFailed {
		what = "failed to install"
	}
	c.Emit(&alert.Alert{
		Detector: worst.id,
		Time:     ev.Time,
		Severity: worst.sev,
		Title:    fmt.Sprintf("Tampered firmware on ECU %s of %s", fw.ECU, c.Key),
		Explanation: fmt.Sprintf("Firmware %s (sha256 %s) %s on ECU %s of vehicle %s at %s over %s%s. %d problem(s): %s.",
			orNone(fw.Version), hexDigest(fw.SHA256), what, fw.ECU, c.Key, fmtTime(ev.Time), channelName(fw.Channel),
			campaignText(fw.Campaign), len(probs), strings.Join(texts, "; ")),
		Entities: alert.Entities{Vehicle: c.Key},
		Evidence: []event.Ref{ev.Ref()},
	})
}

func campaignText(c string) string {
	if c == "" {
		return ""
	}
	return " in campaign " + c
}

func channelName(ch event.FirmwareChannel) string {
	switch ch {
	case event.FWChannelUnset:
		return "an unnamed channel"
	case event.FWChannelUnknown:
		return "an unknown channel"
	}
	return ch.String()
}

func algName(a event.SignatureAlg) string {
	if s := a.String(); s != "" {
		return s
	}
	return "unnamed algorithm"
}

func orNone(s string) string {
	if s == "" {
		return "(no version)"
	}
	return s
}

func hexDigest(d [32]byte) string { return hex.EncodeToString(d[:]) }

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
