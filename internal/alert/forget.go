package alert

import "strings"

// Forget drops what the manager remembers of erased entities of a tenant
// (docs/privacy.md): the fingerprints of recent alerts naming them and
// their places in open incidents. A repeat of an erased alert is then not
// recognised as one, and an alert about the subject opens a new incident.
// The incidents themselves name no entity and stay, as do the alert ids
// (hashes) seen. It returns how many entries went.
func (m *Manager) Forget(tenant string, e Entities) int {
	keys := entityKeys(&Alert{Tenant: tenant, Entities: e})
	if len(keys) == 0 {
		return 0
	}
	gone := make(map[string]bool, len(keys))
	for _, k := range keys {
		gone[k] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, k := range keys {
		if _, ok := m.byKey[k]; ok {
			delete(m.byKey, k)
			n++
		}
	}
	for fp := range m.prints {
		// tenant, detector, then one part per entity key.
		for _, part := range strings.Split(fp, "\x00") {
			if gone[part] {
				delete(m.prints, fp)
				n++
				break
			}
		}
	}
	return n
}
