package health

import (
	"net/http"
	"net/http/pprof"
)

// WithProfiling serves Go's pprof endpoints under /debug/pprof/ beside h.
// They are off unless asked for (`router run --profiling`): a CPU profile
// costs the node while it runs, and the heap profile shows the RIB's
// contents to anyone who can reach the health address.
func WithProfiling(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.Handle("/", h)
	return mux
}
