package bgp

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

func captureLogger(level slog.Level) (*gobgpLogger, *bytes.Buffer) {
	var buf bytes.Buffer
	l := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	return newGoBGPLogger(l, nil), &buf
}

func TestGoBGPLogsAreQuietExceptSessionChangesWarningsAndErrors(t *testing.T) {
	g, buf := captureLogger(slog.LevelInfo)
	g.Debug("debug line", nil)
	g.Info("Add a peer configuration", gobgplog.Fields{"Topic": "Peer", "Key": "10.0.0.2"})
	if buf.Len() != 0 {
		t.Errorf("GoBGP info/debug logged at info level: %q", buf.String())
	}
	g.Info("Peer Down", gobgplog.Fields{"Topic": "Peer", "Key": "10.0.0.2", "Reason": "graceful-restart"})
	g.Warn("received notification", gobgplog.Fields{"Topic": "Peer", "Key": "10.0.0.2", "Code": 6})
	g.Error("failed", nil)
	g.Fatal("failed to listen grpc port", gobgplog.Fields{"Err": "in use"})
	want := []string{
		`level=INFO msg="Peer Down" source=gobgp peer=10.0.0.2 reason=graceful-restart topic=Peer`,
		`level=WARN msg="received notification" source=gobgp code=6 peer=10.0.0.2 topic=Peer`,
		`level=ERROR msg=failed source=gobgp`,
		`level=ERROR msg="failed to listen grpc port" source=gobgp err="in use"`,
	}
	if got := strings.Split(strings.TrimSpace(buf.String()), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("logged\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if g.GetLevel() != gobgplog.WarnLevel {
		t.Errorf("GetLevel = %v at info, want warn (GoBGP then skips building debug lines)", g.GetLevel())
	}
}

func TestGoBGPRoutineWarningsShowOnlyAtDebugLevelAndAreNoPeerError(t *testing.T) {
	for _, msg := range []string{
		"No matching path for withdraw found, may be path was not installed into table",
		"restart flag is not set",
	} {
		t.Run(msg, func(t *testing.T) {
			g, buf := captureLogger(slog.LevelInfo)
			g.events = newPeerEvents(nil)
			g.Warn(msg, gobgplog.Fields{"Topic": "Peer", "Key": "10.0.0.2"})
			if buf.Len() != 0 {
				t.Errorf("logged at info level: %q", buf.String())
			}
			if got := g.events.get(netip.MustParseAddr("10.0.0.2")); got != "" {
				t.Errorf("the peer's last error is %q, want none", got)
			}
			g, buf = captureLogger(slog.LevelDebug)
			g.Warn(msg, nil)
			if !strings.HasPrefix(buf.String(), "level=DEBUG") {
				t.Errorf("at debug level logged %q, want a DEBUG line", buf.String())
			}
		})
	}
}

func TestGoBGPInfoShowsAtDebugLevel(t *testing.T) {
	g, buf := captureLogger(slog.LevelDebug)
	g.Info("create Destination", gobgplog.Fields{"Topic": "Table", "Key": "10.244.1.0/24"})
	if got, want := strings.TrimSpace(buf.String()), `level=DEBUG msg="create Destination" source=gobgp key=10.244.1.0/24 topic=Table`; got != want {
		t.Errorf("logged %q, want %q", got, want)
	}
	if g.GetLevel() != gobgplog.DebugLevel {
		t.Errorf("GetLevel = %v at debug, want debug", g.GetLevel())
	}
	g.SetLevel(gobgplog.PanicLevel)
	if g.GetLevel() != gobgplog.DebugLevel {
		t.Error("SetLevel changed the level; the slog handler owns it")
	}
}

func TestGoBGPPanicStillPanics(t *testing.T) {
	g, buf := captureLogger(slog.LevelInfo)
	defer func() {
		if recover() == nil {
			t.Error("Panic returned; GoBGP relies on it not returning")
		}
		if !strings.Contains(buf.String(), "code logic bug") {
			t.Errorf("Panic did not log its message: %q", buf.String())
		}
	}()
	g.Panic("code logic bug", nil)
}
