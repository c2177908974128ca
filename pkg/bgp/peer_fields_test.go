package bgp

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"
	"time"
)

// Every field of Peer has a decision in peerFields, and every decision
// names a field: a new field must not silently reset sessions (or never
// reach GoBGP).
func TestPeerFieldsDecideEveryFieldOfPeer(t *testing.T) {
	typ := reflect.TypeOf(Peer{})
	var fields []string
	for i := range typ.NumField() {
		fields = append(fields, typ.Field(i).Name)
	}
	decided := map[string]bool{}
	for _, f := range peerFields {
		if decided[f.name] {
			t.Errorf("peerFields decides %s twice", f.name)
		}
		decided[f.name] = true
		if !slices.Contains(fields, f.name) {
			t.Errorf("peerFields decides %s, which Peer does not have", f.name)
		}
		// Policy fields live in our policy objects and fields of effect none
		// are only ours: GoBGP's neighbor has neither to compare.
		if (f.same == nil) != (f.effect == effectPolicy || f.effect == effectNone) {
			t.Errorf("peerFields: %s (%s) must compare GoBGP's neighbor exactly when it is neither policy nor none", f.name, f.effect)
		}
	}
	for _, name := range fields {
		if !decided[name] {
			t.Errorf("Peer.%s: no decision in peerFields: none, policy, update or recreate? (see GoBGP's updateNeighbor)", name)
		}
	}
}

// Changing one field at a time is seen as a change of exactly that field,
// with its effect: each comparison looks at its own field.
func TestPeerChangeSeesEachFieldAlone(t *testing.T) {
	base := Peer{
		Name: "n2", Address: netip.MustParseAddr("10.199.1.12"), ASN: 64512, Port: 179,
		LocalAddress: netip.MustParseAddr("10.199.1.11"), HoldTime: 90 * time.Second,
		KeepaliveTime: 30 * time.Second, ConnectRetry: 5 * time.Second,
	}
	for _, f := range peerFields {
		if f.same == nil {
			continue
		}
		want := base
		v := reflect.ValueOf(&want).Elem().FieldByName(f.name)
		setOther(t, v)
		effect, changed := peerChange(base, want)
		if effect != f.effect || !slices.Equal(changed, []string{f.name}) {
			t.Errorf("changing only %s: peerChange = %s %v, want %s [%s]", f.name, effect, changed, f.effect, f.name)
		}
		if effect, changed := peerChange(want, want); effect != effectNone {
			t.Errorf("%s: a peer differs from itself in %v", f.name, changed)
		}
	}
}

// setOther changes v (a field of Peer) to another valid value.
func setOther(t *testing.T, v reflect.Value) {
	t.Helper()
	switch x := v.Interface().(type) {
	case netip.Addr:
		v.Set(reflect.ValueOf(x.Next()))
	case time.Duration:
		v.Set(reflect.ValueOf(x + time.Second))
	default:
		switch v.Kind() {
		case reflect.String:
			v.SetString(v.String() + "-other")
		case reflect.Bool:
			v.SetBool(!v.Bool())
		case reflect.Uint8, reflect.Uint16, reflect.Uint32:
			v.SetUint(v.Uint() + 1)
		default:
			t.Fatalf("setOther: no other value for %s", v.Type())
		}
	}
}
