package twin

import (
	"strings"
	"testing"
)

// TestSipHashVectors checks the reference vectors of SipHash-2-4 (key 00..0f,
// messages 00, 00 01, ...), one-shot and written in pieces.
func TestSipHashVectors(t *testing.T) {
	var kb [16]byte
	for i := range kb {
		kb[i] = byte(i)
	}
	k := HashKeyFrom(kb)
	want := map[int]uint64{0: 0x726fdb47dd0e0e31, 1: 0x74f839c593dc67fd, 2: 0x0d6c8009d9a94f5a, 3: 0x85676696d7fb7e2d,
		4: 0xcf2794e0277187b7, 5: 0x18765564cd99a68d, 6: 0xcbc9466e58fee3ce, 7: 0xab0200f58b01d137,
		8: 0x93f5f5799a932462, 15: 0xa129ca6149be45e5}
	var msg strings.Builder
	for i := range 16 {
		m := msg.String()
		if w, ok := want[i]; ok {
			if got := k.Sum64(m); got != w {
				t.Errorf("len %d: %#x, want %#x", i, got, w)
			}
		}
		if got := k.SumBytes([]byte(m)); got != k.Sum64(m) {
			t.Errorf("len %d: SumBytes %#x, Sum64 %#x", i, got, k.Sum64(m))
		}
		msg.WriteByte(byte(i))
	}
	if k.Bytes() != kb {
		t.Errorf("Bytes() = %x, want %x", k.Bytes(), kb)
	}
}

func TestUseHashKey(t *testing.T) {
	HashID("x")
	cur := ProcessHashKey()
	if err := UseHashKey(cur); err != nil {
		t.Fatalf("the key in use: %v", err)
	}
	if err := UseHashKey(NewHashKey()); err != ErrHashKeyInUse {
		t.Fatalf("another key after HashID was used: %v, want ErrHashKeyInUse", err)
	}
	if ProcessHashKey() != cur {
		t.Fatal("the key changed")
	}
}

func BenchmarkHashID(b *testing.B) {
	for _, s := range []string{"cmd-1", "WVWZZZ1KZAW123456", "8b3f1c2e-6a4d-4f1e-9c2b-0d7e5a9f3b21"} {
		b.Run(itoa(len(s)), func(b *testing.B) {
			for b.Loop() {
				HashID(s)
			}
		})
	}
}
