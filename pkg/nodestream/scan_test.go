package nodestream

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// stringSpecialNaive is hasStringSpecial byte by byte.
func stringSpecialNaive(w uint64) bool {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], w)
	for _, c := range b {
		if c == '"' || c == '\\' || c < 0x20 {
			return true
		}
	}
	return false
}

func TestTheWordTestFindsExactlyTheBytesThatEndAPlainRunInAString(t *testing.T) {
	// Every byte value in every position of an otherwise plain word, the
	// bytes next to the special ones and UTF-8's high bytes included.
	plain := []byte("abcdefgh")
	for pos := range 8 {
		for c := range 256 {
			b := append([]byte(nil), plain...)
			b[pos] = byte(c)
			w := binary.LittleEndian.Uint64(b)
			if got, want := hasStringSpecial(w), stringSpecialNaive(w); got != want {
				t.Fatalf("byte %#x at %d in %q: %v, want %v", c, pos, b, got, want)
			}
		}
	}
	// Words of random bytes, and of random bytes from near the specials'
	// values, where a borrow between bytes could mislead a word test.
	near := []byte{0x00, 0x01, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7f, 0x80, 0x81, 0xa2, 0xdc, 0xff}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1_000_000 {
		w := r.Uint64()
		var b [8]byte
		for i := range b {
			b[i] = near[r.IntN(len(near))]
		}
		for _, w := range []uint64{w, binary.LittleEndian.Uint64(b[:])} {
			if got, want := hasStringSpecial(w), stringSpecialNaive(w); got != want {
				t.Fatalf("word %#016x: %v, want %v", w, got, want)
			}
		}
	}
}
