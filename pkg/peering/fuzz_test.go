package peering

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// FuzzParsePeers proves that no nodebgp.io/peers value makes the parser
// panic, that every problem names the annotation, and that whatever it
// accepts is valid and survives being written back and read again unchanged.
func FuzzParsePeers(f *testing.F) {
	f.Add(`[{"address":"10.199.2.1","asn":65000,"port":179,"multihopTTL":2,"holdTime":"90s","keepaliveTime":"30s",` +
		`"passwordSecret":"kube-system/tor-secret","passwordKey":"password","localAddress":"10.199.2.11","maxPrefixes":100}]`)
	f.Add(`[{"address":"fd00::1","asn":4294967295,"passwordSecret":"a/b"},{"address":"fd00::1","asn":1}]`)
	f.Add(`[{"address":"::ffff:1.2.3.4","asn":23456,"holdTime":"2s","keepaliveTime":"1h"}]`)
	f.Add(`[{"address":"10.0.0.1","asn":1,"connectRetryTime":"0s"},{"address":"10.0.0.2","asn":1,"connectRetryTime":"-5s"}]`)
	f.Add(`[null, 1, "x", [], {"asn":1e3,"port":-0,"pasword":1}]`)
	f.Add(`{"address":"10.0.0.1"}`)
	f.Add(`[] [`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, value string) {
		cfg, problems := ParseNodeConfig(annotated("fuzz", AnnotationPeers, value))
		for _, p := range problems {
			var ae *AnnotationError
			if !errors.As(p, &ae) || ae.Node != "fuzz" || ae.Annotation != AnnotationPeers ||
				(ae.Field != "" && !strings.HasPrefix(ae.Field, "[")) {
				t.Fatalf("problem %v does not name node fuzz and %s", p, AnnotationPeers)
			}
		}
		seen := map[string]bool{}
		for _, p := range cfg.Peers {
			if err := checkPeer(p); err != nil {
				t.Fatalf("accepted peer %+v: %v", p, err)
			}
			if seen[p.Address.String()] {
				t.Fatalf("address %s accepted twice", p.Address)
			}
			seen[p.Address.String()] = true
		}
		if len(cfg.Peers) == 0 {
			return
		}
		again, problems := ParseNodeConfig(annotated("fuzz", AnnotationPeers, renderPeers(t, cfg.Peers)))
		if len(problems) > 0 || !reflect.DeepEqual(again.Peers, cfg.Peers) {
			t.Fatalf("peers %+v read back as %+v, problems %v", cfg.Peers, again.Peers, problems)
		}
	})
}

// checkPeer states, independently of the parser, what an accepted peer is.
func checkPeer(p UpstreamPeer) error {
	switch {
	case !p.Address.IsValid() || p.Address.Zone() != "" || p.Address.Is4In6() || p.Address.IsUnspecified():
		return fmt.Errorf("address %v is not a plain IP", p.Address)
	case p.ASN == 0 || p.ASN == 23456:
		return fmt.Errorf("ASN %d", p.ASN)
	case p.Port == 0:
		return errors.New("port 0")
	case p.HoldTime != 0 && (p.HoldTime < 3*time.Second || p.HoldTime > 65535*time.Second):
		return fmt.Errorf("hold time %s", p.HoldTime)
	case p.HoldTime%time.Second != 0 || p.KeepaliveTime%time.Second != 0 || p.KeepaliveTime < 0:
		return fmt.Errorf("timers %s/%s are not whole seconds", p.HoldTime, p.KeepaliveTime)
	case p.ConnectRetryTime < 0 || p.ConnectRetryTime%time.Second != 0 || p.ConnectRetryTime > 65535*time.Second:
		return fmt.Errorf("connect retry time %s", p.ConnectRetryTime)
	case p.HoldTime != 0 && p.KeepaliveTime*3 > p.HoldTime:
		return fmt.Errorf("keepalive %s above a third of hold time %s", p.KeepaliveTime, p.HoldTime)
	case p.LocalAddress.IsValid() && p.LocalAddress.Is4() != p.Address.Is4():
		return fmt.Errorf("local address %s of another family", p.LocalAddress)
	case !p.PasswordSecret.IsZero() && (p.PasswordSecret.Namespace == "" || p.PasswordSecret.Name == "" || p.PasswordSecret.Key == ""):
		return fmt.Errorf("incomplete Secret reference %+v", p.PasswordSecret)
	}
	return nil
}

// renderPeers writes peers back as a nodebgp.io/peers value.
func renderPeers(t *testing.T, peers []UpstreamPeer) string {
	t.Helper()
	var out []map[string]any
	for _, p := range peers {
		m := map[string]any{"address": p.Address.String(), "asn": p.ASN, "port": p.Port,
			"multihopTTL": p.MultihopTTL,
			"holdTime":    p.HoldTime.String(), "keepaliveTime": p.KeepaliveTime.String(),
			"connectRetryTime": p.ConnectRetryTime.String()}
		if p.MaxPrefixesSet {
			m["maxPrefixes"] = p.MaxPrefixes
		}
		if p.LocalAddress.IsValid() {
			m["localAddress"] = p.LocalAddress.String()
		}
		if !p.PasswordSecret.IsZero() {
			m["passwordSecret"] = p.PasswordSecret.Namespace + "/" + p.PasswordSecret.Name
			m["passwordKey"] = p.PasswordSecret.Key
		}
		out = append(out, m)
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatalf("rendering peers: %v", err)
	}
	return string(b)
}
