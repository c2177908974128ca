// Command gobgpd-patched is gobgpd's core built from third_party/gobgp, the
// GoBGP the agent embeds with our patches (third_party/gobgp-patches), for
// `make bench`'s "gobgpd-patched" anchor: the engine alone, RIB only, to set
// against the agent that embeds it.
//
//	gobgpd-patched -f gobgpd.toml -api-hosts 10.199.1.101:50051
//
// It does what gobgpd v3.37.0 does with a config file and no other options:
// a BgpServer with its gRPC API on -api-hosts (gobgpd's 256 MiB message
// limits), the file read and applied by GoBGP's own pkg/config
// (ReadConfigFile, InitialConfig), GoBGP's default logger at info level. So
// the plain gobgpd anchor and this one run the same config through the same
// code, and differ by the patches (and by the dependency versions of the
// module each is built in). SIGTERM or SIGINT stops BGP and ends it.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	api "github.com/osrg/gobgp/v3/api"
	"github.com/osrg/gobgp/v3/pkg/config"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/grpc"
)

const gobgpModule = "github.com/osrg/gobgp/v3"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gobgpd-patched:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	configFile := flag.String("f", "", "gobgpd's config file, TOML (required)")
	apiHosts := flag.String("api-hosts", ":50051", "the gRPC API's listen address, as gobgpd's --api-hosts")
	pprofAddr := flag.String("pprof", "", "serve Go's pprof endpoints (/debug/pprof/) on this address; off when empty (gobgpd's --pprof-disable)")
	version := flag.Bool("version", false, "print the GoBGP version built in and exit")
	flag.Parse()
	if *version {
		fmt.Println("gobgpd-patched version " + gobgpVersion())
		return nil
	}
	if *configFile == "" {
		return fmt.Errorf("-f: no config file given")
	}
	if *pprofAddr != "" {
		if err := servePprof(*pprofAddr); err != nil {
			return err
		}
	}
	maxSize := 256 << 20
	s := server.NewBgpServer(
		server.GrpcListenAddress(*apiHosts),
		server.GrpcOption([]grpc.ServerOption{grpc.MaxRecvMsgSize(maxSize), grpc.MaxSendMsgSize(maxSize)}))
	go s.Serve()
	conf, err := config.ReadConfigFile(*configFile, "toml")
	if err != nil {
		return fmt.Errorf("-f %s: %w", *configFile, err)
	}
	if _, err := config.InitialConfig(ctx, s, conf, false); err != nil {
		return fmt.Errorf("-f %s: applying it: %w", *configFile, err)
	}
	<-ctx.Done()
	return s.StopBgp(context.Background(), &api.StopBgpRequest{})
}

// servePprof listens before it returns, so a bad address fails the start.
func servePprof(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("-pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	go func() { _ = http.Serve(ln, mux) }()
	return nil
}

// gobgpVersion is the GoBGP module version the binary was built with, and
// where it came from: go.mod replaces it with third_party/gobgp.
func gobgpVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "?"
	}
	for _, dep := range info.Deps {
		if dep.Path != gobgpModule {
			continue
		}
		v := dep.Version
		if dep.Replace != nil {
			v += " (" + dep.Replace.Path + ")"
		}
		return strings.TrimPrefix(v, "v")
	}
	return "?"
}
