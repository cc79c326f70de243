package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// cheap are parameters that keep the tests fast; the defaults are
// measured by BenchmarkHash.
var cheap = Params{MemoryKiB: MinMemoryKiB, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func newHasher(t testing.TB, p Params) *Hasher {
	t.Helper()
	h, err := NewHasher(p, 2)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, cheap)
	enc, err := h.Hash(ctx, "tulip lantern orbit 7")
	if err != nil {
		t.Fatal(err)
	}
	if want := "$argon2id$v=19$m=8192,t=1,p=1$"; !strings.HasPrefix(enc, want) {
		t.Fatalf("hash %q does not start with %q", enc, want)
	}
	again, _ := h.Hash(ctx, "tulip lantern orbit 7")
	if again == enc {
		t.Error("two hashes of one password are equal: the salt is not fresh")
	}
	cases := []struct {
		name, password string
		ok             bool
	}{
		{"right", "tulip lantern orbit 7", true},
		{"wrong", "tulip lantern orbit 8", false},
		{"empty", "", false},
		{"prefix", "tulip lantern orbit", false},
		{"case", "Tulip lantern orbit 7", false},
	}
	for _, c := range cases {
		ok, rehash, err := h.Verify(ctx, enc, c.password)
		if err != nil || ok != c.ok || rehash {
			t.Errorf("%s: ok %v rehash %v err %v, want ok %v", c.name, ok, rehash, err, c.ok)
		}
	}
}

// TestNormalization: the composed and decomposed forms of "é" are one
// password.
func TestNormalization(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, cheap)
	enc, _ := h.Hash(ctx, "caf\u00e9 au lait sans sucre")
	if ok, _, _ := h.Verify(ctx, enc, "cafe\u0301 au lait sans sucre"); !ok {
		t.Error("the decomposed form of the same password is refused")
	}
}

// TestRehash: a hash made with other parameters verifies and asks to be
// replaced; the replacement carries the new parameters.
func TestRehash(t *testing.T) {
	ctx := context.Background()
	old := newHasher(t, cheap)
	enc, _ := old.Hash(ctx, "granite meadow falcon")
	stronger := cheap
	stronger.Time = 2
	h := newHasher(t, stronger)
	ok, rehash, err := h.Verify(ctx, enc, "granite meadow falcon")
	if !ok || !rehash || err != nil {
		t.Fatalf("old hash with new parameters: ok %v rehash %v err %v, want ok and rehash", ok, rehash, err)
	}
	if ok, rehash, _ := h.Verify(ctx, enc, "granite meadow falcoN"); ok || rehash {
		t.Errorf("wrong password on an old hash: ok %v rehash %v", ok, rehash)
	}
	enc2, _ := h.Hash(ctx, "granite meadow falcon")
	if !strings.Contains(enc2, "m=8192,t=2,p=1$") {
		t.Errorf("new hash %q lacks the new parameters", enc2)
	}
	if ok, rehash, _ := h.Verify(ctx, enc2, "granite meadow falcon"); !ok || rehash {
		t.Errorf("new hash: ok %v rehash %v", ok, rehash)
	}
}

func TestParsePHC(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, cheap)
	good, _ := h.Hash(ctx, "x")
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	cases := []struct{ name, in string }{
		{"empty", ""},
		{"argon2i", "$argon2i$v=19$m=8192,t=1,p=1$" + salt + "$" + key},
		{"version 16", "$argon2id$v=16$m=8192,t=1,p=1$" + salt + "$" + key},
		{"order", "$argon2id$v=19$t=1,m=8192,p=1$" + salt + "$" + key},
		{"leading zero", "$argon2id$v=19$m=08192,t=1,p=1$" + salt + "$" + key},
		{"memory too large", "$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + key},
		{"memory too small", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"time 0", "$argon2id$v=19$m=8192,t=0,p=1$" + salt + "$" + key},
		{"time too large", "$argon2id$v=19$m=8192,t=1000,p=1$" + salt + "$" + key},
		{"threads 0", "$argon2id$v=19$m=8192,t=1,p=0$" + salt + "$" + key},
		{"threads 256", "$argon2id$v=19$m=8192,t=1,p=256$" + salt + "$" + key},
		{"negative", "$argon2id$v=19$m=-1,t=1,p=1$" + salt + "$" + key},
		{"padded salt", "$argon2id$v=19$m=8192,t=1,p=1$" + salt + "==$" + key},
		{"url base64", "$argon2id$v=19$m=8192,t=1,p=1$" + strings.NewReplacer("+", "-", "/", "_").Replace(salt+"-_") + "$" + key},
		{"short salt", "$argon2id$v=19$m=8192,t=1,p=1$AAAA$" + key},
		{"short hash", "$argon2id$v=19$m=8192,t=1,p=1$" + salt + "$AAAA"},
		{"extra part", good + "$x"},
		{"no leading $", strings.TrimPrefix(good, "$")},
		{"long", good + strings.Repeat("A", 300)},
	}
	for _, c := range cases {
		if _, _, _, err := ParsePHC(c.in); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("%s: %q: err %v, want ErrMalformedHash", c.name, c.in, err)
		}
		if _, _, err := h.Verify(ctx, c.in, "x"); !errors.Is(err, ErrMalformedHash) {
			t.Errorf("%s: Verify err %v, want ErrMalformedHash", c.name, err)
		}
	}
	if _, _, _, err := ParsePHC(good); err != nil {
		t.Errorf("good hash: %v", err)
	}
}

// TestVerifyDummy: the dummy always fails, with the hasher's parameters.
func TestVerifyDummy(t *testing.T) {
	h := newHasher(t, cheap)
	if err := h.VerifyDummy(context.Background(), "anything at all"); err != nil {
		t.Fatal(err)
	}
	p, _, _, err := ParsePHC(h.dummy)
	if err != nil || p != cheap {
		t.Errorf("dummy hash parameters %+v (%v), want %+v", p, err, cheap)
	}
}

// TestHashWaitsForASlot: beyond the concurrency bound a hash waits, and
// gives up when its context ends.
func TestHashWaitsForASlot(t *testing.T) {
	h, err := NewHasher(cheap, 1)
	if err != nil {
		t.Fatal(err)
	}
	h.slots <- struct{}{} // the one slot is taken
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("hash with no slot and a cancelled context: %v", err)
	}
	if _, _, err := h.Verify(ctx, h.dummy, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("verify with no slot and a cancelled context: %v", err)
	}
	h.release()
	if _, err := h.Hash(context.Background(), "x"); err != nil {
		t.Errorf("after the slot is free: %v", err)
	}
}

func TestParamsValidate(t *testing.T) {
	if err := DefaultParams().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if _, err := NewHasher(Params{MemoryKiB: 1 << 30, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1); err == nil {
		t.Error("a hasher with 1 TiB of memory was made")
	}
	if _, err := NewHasher(cheap, 0); err == nil {
		t.Error("a hasher with no concurrency was made")
	}
}

func FuzzParsePHC(f *testing.F) {
	h := newHasher(f, cheap)
	good, _ := h.Hash(context.Background(), "seed")
	f.Add(good)
	f.Add("$argon2id$v=19$m=65536,t=2,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("$argon2id$v=19$m=,t=,p=$$")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := ParsePHC(s)
		if err != nil {
			if !errors.Is(err, ErrMalformedHash) {
				t.Fatalf("error %v is not ErrMalformedHash", err)
			}
			return
		}
		if p.Validate() != nil || len(salt) != int(p.SaltLen) || len(key) != int(p.KeyLen) {
			t.Fatalf("accepted %q as %+v", s, p)
		}
		// What parses is what it encodes to.
		if again := encodePHC(p, salt, key); again != s {
			t.Fatalf("%q parses, but encodes back as %q", s, again)
		}
	})
}

// BenchmarkHash measures one argon2id hash with the default parameters (the
// cost of one sign-in) and with cheaper and dearer ones for comparison:
//
//	go test ./internal/auth -run '^$' -bench Hash -benchtime 10x
func BenchmarkHash(b *testing.B) {
	for _, p := range []Params{
		DefaultParams(),
		{MemoryKiB: 19 << 10, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32},
		{MemoryKiB: 64 << 10, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32},
		{MemoryKiB: 64 << 10, Time: 3, Threads: 2, SaltLen: 16, KeyLen: 32},
		{MemoryKiB: 64 << 10, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32},
	} {
		b.Run(fmt.Sprintf("m=%dMiB,t=%d,p=%d", p.MemoryKiB>>10, p.Time, p.Threads), func(b *testing.B) {
			h := newHasher(b, p)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := h.Hash(ctx, "correct staple battery horse"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
