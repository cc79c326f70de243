package service

// Temporary: a large run of every principal-side detector. Not committed.

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-project/vigil/internal/alert"
	"github.com/vigil-project/vigil/internal/detect"
	"github.com/vigil-project/vigil/internal/detect/access"
	"github.com/vigil-project/vigil/internal/detect/credential"
	"github.com/vigil-project/vigil/internal/detect/mass"
	"github.com/vigil-project/vigil/internal/detect/takeover"
	"github.com/vigil-project/vigil/internal/directory"
	"github.com/vigil-project/vigil/internal/sim"
)

func TestZZEval(t *testing.T) {
	seedsEnv := os.Getenv("ZZ_SEEDS")
	if seedsEnv == "" {
		t.Skip()
	}
	veh, _ := strconv.Atoi(os.Getenv("ZZ_VEHICLES"))
	per, _ := strconv.Atoi(os.Getenv("ZZ_PER"))
	nodir := os.Getenv("ZZ_NODIR") != ""
	for _, f := range []string{seedsEnv} {
		for _, ss := range splitComma(f) {
			seed, _ := strconv.ParseInt(ss, 10, 64)
			s, err := sim.New(sim.Config{Seed: seed, Vehicles: veh, Duration: 24 * time.Hour, Attacks: alert.Categories(), AttacksPerCategory: per})
			if err != nil {
				t.Fatal(err)
			}
			var dir *directory.Directory
			if !nodir {
				dir = directoryOf(s)
			}
			x, _ := access.NewExfiltration(dir, detect.PerTenant[access.ExfilConfig]{})
			p, _ := access.NewPrivileged(dir, detect.PerTenant[access.PrivilegedConfig]{Default: access.PrivilegedConfig{Location: time.FixedZone("CET", 3600)}})
			m, _ := mass.New(dir, detect.PerTenant[mass.Config]{})
			dets := []detect.Detector{credential.New(credential.Config{}), credential.NewStuffing(detect.PerTenant[credential.StuffingConfig]{}),
				credential.NewPIN(detect.PerTenant[credential.PINConfig]{}), takeover.New(detect.PerTenant[takeover.Config]{}), m, x, p,
				New(detect.PerTenant[Config]{})}
			start := time.Now()
			labels, alerts := run(t, s, dets)
			st := s.Stats()
			fmt.Printf("seed %d: %d events, %d labels, %d alerts, %v\n", seed, st.Events, len(labels), len(alerts), time.Since(start))
			for i := range labels {
				if labels[i].Category == alert.ServiceAnomaly.String() {
					labels[i].Entities.Account = "tenant:" + labels[i].Tenant
				}
			}
			for _, a := range alerts {
				if a.Category == alert.ServiceAnomaly {
					a.Entities.Account = "tenant:" + a.Tenant
				}
			}
			for _, a := range alerts {
				if w := os.Getenv("ZZ_WHO"); w != "" && (a.Entities.Account == w || a.Tenant == w) {
					fmt.Println("   ALERT", a.Detector, time.Unix(0, a.Time).UTC().Format(time.TimeOnly), a.Explanation)
				}
			}
			falses := 0
			for _, c := range []alert.Category{alert.CredentialAttack, alert.AccountTakeover, alert.MassCommand, alert.DataExfiltration, alert.PrivilegedMisuse, alert.ServiceAnomaly} {
				r, pr, rep := score(labels, alerts, c)
				fmt.Printf("  %-20s recall %.3f precision %.3f%s\n", c, r, pr, rep)
				for _, a := range alerts {
					if a.Category != c {
						continue
					}
					ok := false
					for _, l := range labels {
						if matches(a, l) {
							ok = true
						}
					}
					if !ok {
						falses++
					}
				}
			}
			fmt.Printf("  false alerts: %d = %.2f per million events\n", falses, float64(falses)/float64(st.Events)*1e6)
		}
	}
}

func splitComma(s string) []string {
	var out []string
	cur := ""
	for _, ch := range s {
		if ch == ',' {
			out = append(out, cur)
			cur = ""
		} else {
			cur += string(ch)
		}
	}
	return append(out, cur)
}
