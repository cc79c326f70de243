package pseudo

import (
	"hash/maphash"
	"sync"
)

// cache remembers pseudonyms already computed, and whether their vault
// entry is known to be written. It is bounded: CLOCK eviction (a hit
// sets a bit, eviction skips and clears set bits), close to LRU and
// cheaper on the hit path. Sharded so concurrent ingest requests rarely
// wait on each other.
type cache struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard
}

const cacheShards = 64

type cacheKey struct {
	tenant string
	kind   Kind
	value  string
}

type cacheEntry struct {
	key       cacheKey
	pseudonym string
	ref       bool
	vaulted   bool
}

type cacheShard struct {
	mu   sync.Mutex
	idx  map[cacheKey]int32
	ents []cacheEntry
	max  int
	hand int
}

func newCache(entries int) *cache {
	c := &cache{seed: maphash.MakeSeed()}
	per := max(entries/cacheShards, 1)
	for i := range c.shards {
		c.shards[i].idx = make(map[cacheKey]int32)
		c.shards[i].max = per
	}
	return c
}

// shard spreads keys by their value alone (the tenant and the kind add
// little spread and would cost a second hash).
func (c *cache) shard(k *cacheKey) *cacheShard {
	return &c.shards[(maphash.String(c.seed, k.value)+uint64(k.kind))%cacheShards]
}

// get returns the pseudonym and whether its vault entry is written.
func (c *cache) get(k cacheKey) (pseudonym string, vaulted, ok bool) {
	s := c.shard(&k)
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.idx[k]
	if !ok {
		return "", false, false
	}
	e := &s.ents[i]
	e.ref = true
	return e.pseudonym, e.vaulted, true
}

// put adds a pseudonym, evicting one entry when the shard is full.
func (c *cache) put(k cacheKey, pseudonym string) {
	s := c.shard(&k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.idx[k]; ok {
		return
	}
	if len(s.ents) < s.max {
		s.idx[k] = int32(len(s.ents))
		s.ents = append(s.ents, cacheEntry{key: k, pseudonym: pseudonym})
		return
	}
	for s.ents[s.hand].ref {
		s.ents[s.hand].ref = false
		s.hand = (s.hand + 1) % len(s.ents)
	}
	delete(s.idx, s.ents[s.hand].key)
	s.ents[s.hand] = cacheEntry{key: k, pseudonym: pseudonym}
	s.idx[k] = int32(s.hand)
	s.hand = (s.hand + 1) % len(s.ents)
}

// setVaulted records whether the value's vault entry is written. An
// evicted value is checked against the vault again when next seen.
func (c *cache) setVaulted(k cacheKey, vaulted bool) {
	s := c.shard(&k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, ok := s.idx[k]; ok {
		s.ents[i].vaulted = vaulted
	}
}

func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		n += len(s.ents)
		s.mu.Unlock()
	}
	return n
}
