package bgp

import (
	"context"
	"log/slog"
	"slices"
	"strings"

	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
)

// gobgpLogger adapts GoBGP's log.Logger to slog; its lines carry
// source=gobgp.
//
// GoBGP narrates every step (a peer configured, a state changed, a path
// sent) at info level. This package logs the decisions itself, so GoBGP's
// info and debug lines go out at debug level, except sessions going up and
// down (sessionMessages); its warnings and errors keep their level, except
// the routine ones (routineWarnings).
type gobgpLogger struct {
	log *slog.Logger
	// events receives GoBGP's warnings and session-down lines about
	// neighbors, for PeerStatus.LastError; nil means nobody asks.
	events *peerEvents
}

func newGoBGPLogger(l *slog.Logger, events *peerEvents) *gobgpLogger {
	return &gobgpLogger{log: l.With("source", "gobgp"), events: events}
}

var _ gobgplog.Logger = (*gobgpLogger)(nil)

// Panic keeps GoBGP's contract that Panic does not return: it is only
// called on broken internal invariants ("code logic bug").
func (g *gobgpLogger) Panic(msg string, fields gobgplog.Fields) {
	g.emit(slog.LevelError, msg, fields)
	panic("gobgp: " + msg)
}

// Fatal logs at error level but does not exit: only the program's main may
// end the process. The one fatal condition reachable from outside GoBGP, a
// gRPC API address that cannot be bound, is checked by New beforehand.
func (g *gobgpLogger) Fatal(msg string, fields gobgplog.Fields) {
	g.emit(slog.LevelError, msg, fields)
}

func (g *gobgpLogger) Error(msg string, fields gobgplog.Fields) {
	g.emit(slog.LevelError, msg, fields)
}

// routineWarnings are GoBGP warnings that our designs produce in normal
// operation and that GoBGP itself then ignores; they go out at debug level
// and are not a peer's last error, so that a WARN line always means
// something for the operator to look at.
var routineWarnings = map[string]bool{
	// A route reflector drops a reflected path that carries its own
	// cluster ID (or comes back to its originator) by turning it into a
	// withdraw; when that path was never in the table, GoBGP warns
	// (table/destination.go:302). Every session between two reflectors
	// of one cluster does this for each reflected prefix.
	"No matching path for withdraw found, may be path was not installed into table": true,
	// A peer that was restarting reconnects without the Restart State
	// bit. GoBGP clears that bit for every neighbor as soon as the
	// neighbors that are established have sent End-of-RIB (server.go:1757),
	// so a GoBGP node whose sessions come back one by one sends it to the
	// first ones only; the helper ignores it (fsm.go:1418) and keeps the
	// stale routes until End-of-RIB all the same.
	"restart flag is not set": true,
}

func (g *gobgpLogger) Warn(msg string, fields gobgplog.Fields) {
	level := slog.LevelWarn
	if routineWarnings[msg] {
		level = slog.LevelDebug
	}
	g.emit(level, msg, fields)
}

// sessionMessages are GoBGP's info lines worth an operator's attention.
var sessionMessages = map[string]bool{"Peer Up": true, "Peer Down": true}

func (g *gobgpLogger) Info(msg string, fields gobgplog.Fields) {
	level := slog.LevelDebug
	if sessionMessages[msg] {
		level = slog.LevelInfo
	}
	g.emit(level, msg, fields)
}

func (g *gobgpLogger) Debug(msg string, fields gobgplog.Fields) {
	g.emit(slog.LevelDebug, msg, fields)
}

// SetLevel ignores GoBGP's level changes (gobgp CLI "log-level"): the
// level belongs to the agent's slog handler.
func (g *gobgpLogger) SetLevel(gobgplog.LogLevel) {}

// GetLevel lets GoBGP skip building debug messages nobody will see.
func (g *gobgpLogger) GetLevel() gobgplog.LogLevel {
	if g.log.Enabled(context.Background(), slog.LevelDebug) {
		return gobgplog.DebugLevel
	}
	return gobgplog.WarnLevel
}

func (g *gobgpLogger) emit(level slog.Level, msg string, fields gobgplog.Fields) {
	if g.events != nil && (level >= slog.LevelWarn || msg == "Peer Down") {
		g.events.note(msg, fields)
	}
	if g.events != nil && sessionMessages[msg] {
		g.events.countSession(msg, fields)
	}
	ctx := context.Background()
	if !g.log.Enabled(ctx, level) {
		return
	}
	g.log.Log(ctx, level, msg, fieldAttrs(fields)...)
}

// fieldAttrs converts GoBGP's fields to slog attributes in a stable order,
// with lower-case keys. GoBGP names the neighbor "Key" under topic "Peer";
// that becomes our "peer" key.
func fieldAttrs(fields gobgplog.Fields) []any {
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	peerTopic := fields["Topic"] == "Peer"
	attrs := make([]any, 0, len(keys))
	for _, k := range keys {
		name := strings.ToLower(k)
		if k == "Key" && peerTopic {
			name = "peer"
		}
		attrs = append(attrs, slog.Any(name, fields[k]))
	}
	return attrs
}
