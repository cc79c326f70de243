package pseudo

import (
	"fmt"
	"testing"
)

func TestCacheBoundedAndKeepsWhatIsUsed(t *testing.T) {
	c := newCache(640)
	hot := cacheKey{tenant: "t", kind: Vehicle, value: "hot"}
	c.put(hot, "p-hot")
	for i := range 20000 {
		c.put(cacheKey{tenant: "t", kind: Account, value: fmt.Sprint(i)}, fmt.Sprint("p", i))
		if _, _, ok := c.get(hot); !ok {
			t.Fatalf("an entry used all along was evicted after %d others", i)
		}
	}
	if n := c.len(); n > 640 {
		t.Errorf("%d entries, bound 640", n)
	}
	if _, _, ok := c.get(cacheKey{tenant: "t", kind: Account, value: "0"}); ok {
		t.Error("the oldest unused entry is still there")
	}
	if p, _, ok := c.get(cacheKey{tenant: "t", kind: Account, value: "19999"}); !ok || p != "p19999" {
		t.Errorf("the newest entry: %q %v", p, ok)
	}
	// The vault mark follows the entry and can be taken back.
	c.setVaulted(hot, true)
	if _, v, _ := c.get(hot); !v {
		t.Error("vault mark lost")
	}
	c.setVaulted(hot, false)
	if _, v, _ := c.get(hot); v {
		t.Error("vault mark not cleared")
	}
}

// TestEvictedValuesKeepTheirPseudonym: a value computed again after its
// eviction gets the same pseudonym.
func TestEvictedValuesKeepTheirPseudonym(t *testing.T) {
	p := newTest(t, Options{CacheEntries: 64})
	first := mustPseudonym(t, p, "t", Account, "acc-1")
	for i := range 1000 {
		mustPseudonym(t, p, "t", Account, fmt.Sprint("acc-x", i))
	}
	if again := mustPseudonym(t, p, "t", Account, "acc-1"); again != first {
		t.Errorf("%s then %s", first, again)
	}
}
