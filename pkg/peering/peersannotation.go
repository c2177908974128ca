package peering

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/nodebgp/router/pkg/bfd"
	"github.com/nodebgp/router/pkg/bgp"
)

// peerJSON is one entry of nodebgp.io/peers as written. Every field stays raw
// so that each is checked on its own, with a message naming it, instead of
// encoding/json's type errors.
type peerJSON struct {
	Address        json.RawMessage `json:"address"`
	ASN            json.RawMessage `json:"asn"`
	Port           json.RawMessage `json:"port"`
	MultihopTTL    json.RawMessage `json:"multihopTTL"`
	HoldTime       json.RawMessage `json:"holdTime"`
	KeepaliveTime  json.RawMessage `json:"keepaliveTime"`
	ConnectRetry   json.RawMessage `json:"connectRetryTime"`
	PasswordSecret json.RawMessage `json:"passwordSecret"`
	PasswordKey    json.RawMessage `json:"passwordKey"`
	LocalAddress   json.RawMessage `json:"localAddress"`
	MaxPrefixes    json.RawMessage `json:"maxPrefixes"`
	BFD            json.RawMessage `json:"bfd"`
}

// fieldError is a problem at a path inside an annotation ("[1].asn").
type fieldError struct {
	field string
	err   error
}

type fieldErrors []fieldError

func (fe *fieldErrors) add(field, format string, args ...any) {
	*fe = append(*fe, fieldError{field: field, err: fmt.Errorf(format, args...)})
}

// parsePeers reads the nodebgp.io/peers value. An entry with any bad field is
// left out whole (a session with some of its settings is not the one asked
// for) and the other entries are kept: each is a session of its own.
func parsePeers(value string) ([]UpstreamPeer, fieldErrors) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	var errs fieldErrors
	var entries []json.RawMessage
	dec := json.NewDecoder(strings.NewReader(value))
	if err := dec.Decode(&entries); err != nil {
		errs.add("", "not a JSON list of peers: %s", jsonMessage(err))
		return nil, errs
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		errs.add("", "not a JSON list of peers: data after the list")
		return nil, errs
	}
	var peers []UpstreamPeer
	where := map[string]int{} // address → index of the entry that has it
	for i, raw := range entries {
		p, perrs := parsePeerEntry(raw)
		for _, e := range perrs {
			errs = append(errs, fieldError{field: fmt.Sprintf("[%d]%s", i, e.field), err: e.err})
		}
		if len(perrs) > 0 {
			continue
		}
		if j, dup := where[p.Address.String()]; dup {
			errs.add(fmt.Sprintf("[%d].address", i), "%s is already the address of peers[%d]", p.Address, j)
			continue
		}
		where[p.Address.String()] = i
		peers = append(peers, p)
	}
	return peers, errs
}

// parsePeerEntry reads one entry; error fields are relative to it (".asn").
func parsePeerEntry(raw json.RawMessage) (UpstreamPeer, fieldErrors) {
	var errs fieldErrors
	if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		errs.add("", "%s is not a JSON object", raw)
		return UpstreamPeer{}, errs
	}
	var in peerJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		errs.add("", "%s", jsonMessage(err))
		return UpstreamPeer{}, errs
	}

	var p UpstreamPeer
	if absent(in.Address) {
		errs.add(".address", "required")
	} else if s, ok := errs.str(".address", in.Address); ok {
		if a, err := parsePeerAddress(s); err != nil {
			errs.add(".address", "%w", err)
		} else {
			p.Address = a
		}
	}
	if v, ok := errs.number(".asn", in.ASN, validASN, "is not a valid ASN"); ok {
		p.ASN = uint32(v)
	} else if absent(in.ASN) {
		errs.add(".asn", "required")
	}
	p.Port = DefaultPort
	if v, ok := errs.number(".port", in.Port, inRange(1, math.MaxUint16), "is not a port (1..65535)"); ok {
		p.Port = uint16(v)
	}
	if v, ok := errs.number(".multihopTTL", in.MultihopTTL, inRange(0, math.MaxUint8), "is not a TTL (0..255)"); ok {
		p.MultihopTTL = uint8(v)
	}
	if v, ok := errs.number(".maxPrefixes", in.MaxPrefixes, inRange(0, math.MaxUint32), "is not a prefix count (0..4294967295)"); ok {
		p.MaxPrefixes, p.MaxPrefixesSet = uint32(v), true
	}
	p.HoldTime, p.KeepaliveTime = errs.timers(in.HoldTime, in.KeepaliveTime)
	if d, ok := errs.duration(".connectRetryTime", in.ConnectRetry); ok {
		if err := bgp.CheckConnectRetry(d); err != nil {
			errs.add(".connectRetryTime", "%w", err)
		} else {
			p.ConnectRetryTime = d
		}
	}
	if s, ok := errs.str(".localAddress", in.LocalAddress); ok {
		a, err := parsePeerAddress(s)
		switch {
		case err != nil:
			errs.add(".localAddress", "%w", err)
		case p.Address.IsValid() && a.Is4() != p.Address.Is4():
			errs.add(".localAddress", "%s is not of the family of address %s", a, p.Address)
		default:
			p.LocalAddress = a
		}
	}
	p.PasswordSecret = errs.secret(in.PasswordSecret, in.PasswordKey, p.Address)
	p.BFD = errs.bfd(in.BFD)
	return p, errs
}

// bfdJSON is the object form of an entry's "bfd".
type bfdJSON struct {
	MinTx      json.RawMessage `json:"minTx"`
	MinRx      json.RawMessage `json:"minRx"`
	Multiplier json.RawMessage `json:"multiplier"`
}

// bfd reads "bfd": true or false, or an object of timers ({"minTx":
// "300ms", "minRx": "300ms", "multiplier": 3}) whose missing fields come
// from the --bfd-* flags. Ranges are pkg/bfd's.
func (fe *fieldErrors) bfd(raw json.RawMessage) PeerBFD {
	if absent(raw) {
		return PeerBFD{}
	}
	var on bool
	if err := json.Unmarshal(raw, &on); err == nil {
		return PeerBFD{Enabled: on}
	}
	if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		fe.add(".bfd", "%s is not true, false or an object of timers", raw)
		return PeerBFD{}
	}
	var in bfdJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		fe.add(".bfd", "%s", jsonMessage(err))
		return PeerBFD{}
	}
	out := PeerBFD{Enabled: true}
	interval := func(field string, raw json.RawMessage) time.Duration {
		s, ok := fe.str(field, raw)
		if !ok {
			return 0
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			fe.add(field, "%q is not a duration (\"300ms\")", s)
			return 0
		}
		if err := bfd.CheckInterval(d); err != nil {
			fe.add(field, "%w", err)
			return 0
		}
		return d
	}
	out.Timers.MinTx = interval(".bfd.minTx", in.MinTx)
	out.Timers.MinRx = interval(".bfd.minRx", in.MinRx)
	if v, ok := fe.number(".bfd.multiplier", in.Multiplier, inRange(bfd.MinMultiplier, bfd.MaxMultiplier),
		fmt.Sprintf("is not a multiplier (%d..%d)", bfd.MinMultiplier, bfd.MaxMultiplier)); ok {
		out.Timers.Multiplier = uint8(v)
	}
	return out
}

// secret reads passwordSecret and passwordKey; the key defaults to one named
// after the peer's address.
func (fe *fieldErrors) secret(rawSecret, rawKey json.RawMessage, addr netip.Addr) SecretRef {
	key, hasKey := fe.str(".passwordKey", rawKey)
	if hasKey && !validPasswordKey(key) {
		fe.add(".passwordKey", "%q is not a valid Secret key", key)
		return SecretRef{}
	}
	s, ok := fe.str(".passwordSecret", rawSecret)
	if !ok {
		if hasKey {
			fe.add(".passwordKey", "set without passwordSecret")
		}
		return SecretRef{}
	}
	if !hasKey {
		key = defaultPasswordKey(addr)
	}
	ref, err := parseSecretRef(s, key)
	if err != nil {
		fe.add(".passwordSecret", "%w", err)
	}
	return ref
}

// timers reads holdTime and keepaliveTime. BGP counts both in whole seconds;
// a hold time is 0 (the default) or at least 3s (RFC 4271 §4.2), and
// keepalives come at most every third of it so a lost one is survived.
func (fe *fieldErrors) timers(rawHold, rawKeepalive json.RawMessage) (hold, keepalive time.Duration) {
	hold, holdOK := fe.duration(".holdTime", rawHold)
	if err := bgp.CheckHoldTime(hold); holdOK && err != nil {
		fe.add(".holdTime", "%w", err)
		hold = 0
	}
	keepalive, kaOK := fe.duration(".keepaliveTime", rawKeepalive)
	if err := bgp.CheckKeepaliveTime(keepalive, hold); kaOK && err != nil {
		fe.add(".keepaliveTime", "%w", err)
		keepalive = 0
	}
	return hold, keepalive
}

// duration reads a Go duration string of whole, non-negative seconds.
func (fe *fieldErrors) duration(field string, raw json.RawMessage) (time.Duration, bool) {
	s, ok := fe.str(field, raw)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d%time.Second != 0 {
		fe.add(field, "%q is not a duration in whole seconds (\"90s\")", s)
		return 0, false
	}
	return d, true
}

// str reads an optional string field; ok is false when absent or not a string.
func (fe *fieldErrors) str(field string, raw json.RawMessage) (s string, ok bool) {
	if absent(raw) {
		return "", false
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		fe.add(field, "%s is not a string", raw)
		return "", false
	}
	return s, true
}

// number reads an optional non-negative JSON integer that valid accepts; ok
// is false when absent or bad. Quoted numbers, fractions and exponents are
// refused: a value that is not what it looks like is a typo to report.
func (fe *fieldErrors) number(field string, raw json.RawMessage, valid func(uint64) bool, what string) (uint64, bool) {
	if absent(raw) {
		return 0, false
	}
	v, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil || !valid(v) {
		fe.add(field, "%s %s", raw, what)
		return 0, false
	}
	return v, true
}

func inRange(lo, hi uint64) func(uint64) bool {
	return func(v uint64) bool { return v >= lo && v <= hi }
}

func absent(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// jsonMessage drops encoding/json's "json: " prefix, which the annotation
// name already stands in for.
func jsonMessage(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}
