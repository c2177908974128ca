package bfd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// State is a session state (RFC 5880 §4.1, "Sta").
type State uint8

const (
	AdminDown State = 0
	Down      State = 1
	Init      State = 2
	Up        State = 3
)

func (s State) String() string {
	switch s {
	case AdminDown:
		return "AdminDown"
	case Down:
		return "Down"
	case Init:
		return "Init"
	case Up:
		return "Up"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Diag is the diagnostic code: why the sender's session last left Up
// (RFC 5880 §4.1, "Diag").
type Diag uint8

const (
	DiagNone                  Diag = 0
	DiagControlDetectExpired  Diag = 1
	DiagEchoFailed            Diag = 2
	DiagNeighborSignaledDown  Diag = 3
	DiagForwardingPlaneReset  Diag = 4
	DiagPathDown              Diag = 5
	DiagConcatenatedPathDown  Diag = 6
	DiagAdminDown             Diag = 7
	DiagReverseConcatPathDown Diag = 8
)

func (d Diag) String() string {
	switch d {
	case DiagNone:
		return "none"
	case DiagControlDetectExpired:
		return "control detection time expired"
	case DiagEchoFailed:
		return "echo function failed"
	case DiagNeighborSignaledDown:
		return "neighbor signaled session down"
	case DiagForwardingPlaneReset:
		return "forwarding plane reset"
	case DiagPathDown:
		return "path down"
	case DiagConcatenatedPathDown:
		return "concatenated path down"
	case DiagAdminDown:
		return "administratively down"
	case DiagReverseConcatPathDown:
		return "reverse concatenated path down"
	}
	return fmt.Sprintf("diag %d", uint8(d))
}

// Version is the BFD protocol version this package speaks.
const Version = 1

// PacketLen is the length of a Control packet without authentication.
const PacketLen = 24

// Packet is a BFD Control packet (RFC 5880 §4.1). Intervals travel in
// microseconds; here they are durations.
type Packet struct {
	Diag  Diag
	State State
	// Poll, Final, ControlPlaneIndependent, Demand: the P, F, C and D bits.
	// The A bit (authentication) and M bit (multipoint) are never set by us
	// and refused on decode.
	Poll, Final             bool
	ControlPlaneIndependent bool
	Demand                  bool
	DetectMult              uint8
	MyDiscr, YourDiscr      uint32
	DesiredMinTx            time.Duration
	RequiredMinRx           time.Duration
	RequiredMinEchoRx       time.Duration
}

const (
	bitPoll   = 0x20
	bitFinal  = 0x10
	bitCPI    = 0x08
	bitAuth   = 0x04
	bitDemand = 0x02
	bitMulti  = 0x01
)

// Marshal appends the packet's 24 bytes to b.
func (p Packet) Marshal(b []byte) []byte {
	var out [PacketLen]byte
	out[0] = Version<<5 | uint8(p.Diag)&0x1f
	flags := uint8(p.State&3) << 6
	if p.Poll {
		flags |= bitPoll
	}
	if p.Final {
		flags |= bitFinal
	}
	if p.ControlPlaneIndependent {
		flags |= bitCPI
	}
	if p.Demand {
		flags |= bitDemand
	}
	out[1] = flags
	out[2] = p.DetectMult
	out[3] = PacketLen
	binary.BigEndian.PutUint32(out[4:], p.MyDiscr)
	binary.BigEndian.PutUint32(out[8:], p.YourDiscr)
	binary.BigEndian.PutUint32(out[12:], micros(p.DesiredMinTx))
	binary.BigEndian.PutUint32(out[16:], micros(p.RequiredMinRx))
	binary.BigEndian.PutUint32(out[20:], micros(p.RequiredMinEchoRx))
	return append(b, out[:]...)
}

func micros(d time.Duration) uint32 {
	us := d / time.Microsecond
	if us < 0 {
		return 0
	}
	if us > 0xffffffff {
		return 0xffffffff
	}
	return uint32(us)
}

// The reasons Unmarshal refuses a packet; each is a drop counter of its own.
var (
	ErrShort         = errors.New("shorter than a control packet")
	ErrVersion       = errors.New("unsupported version")
	ErrLength        = errors.New("length field does not match the packet")
	ErrDetectMult    = errors.New("detect multiplier is zero")
	ErrMultipoint    = errors.New("multipoint bit set")
	ErrMyDiscr       = errors.New("my discriminator is zero")
	ErrAuth          = errors.New("authentication present (not configured)")
	ErrYourDiscrZero = errors.New("your discriminator is zero in state Init or Up")
)

// Unmarshal decodes a Control packet and applies the checks of RFC 5880
// §6.8.6 that need no session: version, length, multiplier, M bit, my
// discriminator, authentication (we configure none, so an A bit is refused),
// and a zero "your discriminator" outside Down and AdminDown.
func Unmarshal(b []byte) (Packet, error) {
	if len(b) < PacketLen {
		return Packet{}, ErrShort
	}
	if b[0]>>5 != Version {
		return Packet{}, ErrVersion
	}
	// The length field covers the whole BFD packet; a datagram longer than
	// it (padding) is fine, shorter is not. With the A bit it would be at
	// least 26, but the A bit is refused below anyway.
	if n := int(b[3]); n < PacketLen || n > len(b) {
		return Packet{}, ErrLength
	}
	flags := b[1]
	p := Packet{
		Diag:                    Diag(b[0] & 0x1f),
		State:                   State(flags >> 6),
		Poll:                    flags&bitPoll != 0,
		Final:                   flags&bitFinal != 0,
		ControlPlaneIndependent: flags&bitCPI != 0,
		Demand:                  flags&bitDemand != 0,
		DetectMult:              b[2],
		MyDiscr:                 binary.BigEndian.Uint32(b[4:]),
		YourDiscr:               binary.BigEndian.Uint32(b[8:]),
		DesiredMinTx:            time.Duration(binary.BigEndian.Uint32(b[12:])) * time.Microsecond,
		RequiredMinRx:           time.Duration(binary.BigEndian.Uint32(b[16:])) * time.Microsecond,
		RequiredMinEchoRx:       time.Duration(binary.BigEndian.Uint32(b[20:])) * time.Microsecond,
	}
	switch {
	case p.DetectMult == 0:
		return Packet{}, ErrDetectMult
	case flags&bitMulti != 0:
		return Packet{}, ErrMultipoint
	case p.MyDiscr == 0:
		return Packet{}, ErrMyDiscr
	case flags&bitAuth != 0:
		return Packet{}, ErrAuth
	case p.YourDiscr == 0 && (p.State == Init || p.State == Up):
		return Packet{}, ErrYourDiscrZero
	}
	return p, nil
}
