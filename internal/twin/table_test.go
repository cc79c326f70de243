package twin

import "testing"

// TestChunkLayout: slots fill their chunks in order, each chunk from its
// first slot to its last, the small ones doubling up to full chunks.
func TestChunkLayout(t *testing.T) {
	var wantC, wantOff uint32
	for i := range uint32(5000) {
		c, off := chunkOf(i)
		if c != wantC || off != wantOff {
			t.Fatalf("slot %d in chunk %d at %d, want %d at %d", i, c, off, wantC, wantOff)
		}
		if wantOff++; int(wantOff) == chunkLen(c) {
			wantC, wantOff = wantC+1, 0
		}
	}
	if n := chunkLen(chunkBits); n != 1<<(chunkBits-1) || chunkLen(chunkBits+1) != 1<<chunkBits {
		t.Errorf("the last small chunk holds %d slots, the first full one %d", n, chunkLen(chunkBits+1))
	}
}
