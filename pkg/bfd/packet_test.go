package bfd

import (
	"bytes"
	"errors"
	"testing"
	"time"
)

func TestPacketRoundTrip(t *testing.T) {
	p := Packet{
		Diag: DiagControlDetectExpired, State: Up, Poll: true, Demand: false,
		DetectMult: 3, MyDiscr: 0x01020304, YourDiscr: 0xa0b0c0d0,
		DesiredMinTx: 300 * time.Millisecond, RequiredMinRx: 250 * time.Millisecond,
	}
	b := p.Marshal(nil)
	want := []byte{
		0x21, 0xe0, 3, 24,
		1, 2, 3, 4,
		0xa0, 0xb0, 0xc0, 0xd0,
		0x00, 0x04, 0x93, 0xe0, // 300000 µs
		0x00, 0x03, 0xd0, 0x90, // 250000 µs
		0, 0, 0, 0,
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("Marshal = % x\nwant      % x", b, want)
	}
	got, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != p {
		t.Fatalf("round trip: got %+v, want %+v", got, p)
	}
}

func TestUnmarshalRefuses(t *testing.T) {
	good := Packet{State: Down, DetectMult: 3, MyDiscr: 7, DesiredMinTx: time.Second, RequiredMinRx: time.Second}.Marshal(nil)
	edit := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrShort},
		{"23 bytes", good[:23], ErrShort},
		{"version 0", edit(func(b []byte) []byte { b[0] &= 0x1f; return b }), ErrVersion},
		{"version 2", edit(func(b []byte) []byte { b[0] = 2<<5 | b[0]&0x1f; return b }), ErrVersion},
		{"length 23", edit(func(b []byte) []byte { b[3] = 23; return b }), ErrLength},
		{"length past the datagram", edit(func(b []byte) []byte { b[3] = 30; return b }), ErrLength},
		{"multiplier 0", edit(func(b []byte) []byte { b[2] = 0; return b }), ErrDetectMult},
		{"M bit", edit(func(b []byte) []byte { b[1] |= bitMulti; return b }), ErrMultipoint},
		{"my discriminator 0", edit(func(b []byte) []byte { copy(b[4:8], []byte{0, 0, 0, 0}); return b }), ErrMyDiscr},
		{"A bit", edit(func(b []byte) []byte { b[1] |= bitAuth; b[3] = 24; return b }), ErrAuth},
		{"Up with your discriminator 0", edit(func(b []byte) []byte { b[1] = uint8(Up) << 6; return b }), ErrYourDiscrZero},
		{"Init with your discriminator 0", edit(func(b []byte) []byte { b[1] = uint8(Init) << 6; return b }), ErrYourDiscrZero},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Unmarshal(tc.b); !errors.Is(err, tc.want) {
				t.Fatalf("Unmarshal: %v, want %v", err, tc.want)
			}
		})
	}
	// Padding after the length the packet declares is accepted.
	if _, err := Unmarshal(append(bytes.Clone(good), 0, 0, 0, 0)); err != nil {
		t.Fatalf("padded packet: %v", err)
	}
}
