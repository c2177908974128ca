package bgp

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	api "github.com/osrg/gobgp/v3/api"
	gobgplog "github.com/osrg/gobgp/v3/pkg/log"
	"github.com/osrg/gobgp/v3/pkg/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"
)

// An upstream router that floods a node with routes, as a ToR leaking a full
// Internet table does. It is a plain GoBGP in a process of its own (the test
// binary run again as TestHelperFloodingRouter), so that what the test
// measures of its own process (RSS, CPU) is the node's speaker alone.

// floodRouterEnv carries the flooding router's floodSpec (JSON) to the
// helper process.
const floodRouterEnv = "NODEBGP_BGP_TEST_FLOOD_ROUTER"

// floodSpec is what the flooding router does.
type floodSpec struct {
	// Local is the router's address (and router ID); it dials Peer:PeerPort.
	Local, Peer string
	PeerPort    uint16
	ASN, PeerAS uint32
	// API is the router's own gRPC address, the only way into GoBGP's
	// batched AddPathStream.
	API string
	// Routes /24s from 20.0.0.0 up are announced, next hop Local.
	Routes int
	// Distinct gives every route its own MED, so GoBGP packs one prefix per
	// UPDATE: the worst case for a receiver that checks its prefix limit
	// per UPDATE, and close to a real Internet table, whose prefixes share
	// attributes only a few at a time. Otherwise all share the attributes and
	// each UPDATE carries hundreds.
	Distinct bool
}

// floodRouter is the running helper process.
type floodRouter struct {
	addr  netip.Addr
	stdin io.Closer
	lines chan string
}

// startFloodingRouter starts the helper process as the upstream router
// from (its address and ASN), peering with n and sending it routes routes
// (see floodSpec.Distinct). It is stopped (stdin closed, then killed by PID
// if it lingers) when the test ends.
func startFloodingRouter(t testing.TB, n *node, from Peer, routes int, distinct bool) *floodRouter {
	t.Helper()
	spec := floodSpec{
		Local: from.Address.String(), Peer: n.cfg.ListenAddress.String(), PeerPort: uint16(n.cfg.ListenPort),
		ASN: from.ASN, PeerAS: n.cfg.ASN, API: netip.AddrPortFrom(loopback, freePort(t, loopback)).String(),
		Routes: routes, Distinct: distinct,
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperFloodingRouter$", "-test.count=1")
	cmd.Env = append(os.Environ(), floodRouterEnv+"="+string(raw))
	cmd.Stderr = tWriter{t}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the flooding router: %v", err)
	}
	r := &floodRouter{addr: netip.MustParseAddr(spec.Local), stdin: stdin, lines: make(chan string, 16)}
	go func() {
		defer close(r.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			r.lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return r
}

// await returns the router's next line that starts with prefix, failing on
// an "error" line, on its exit or after timeout.
func (r *floodRouter) await(t testing.TB, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				t.Fatalf("flooding router exited before %q", prefix)
			}
			if strings.HasPrefix(l, "error") {
				t.Fatalf("flooding router: %s", l)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("flooding router: no %q after %s", prefix, timeout)
		}
	}
}

// TestHelperFloodingRouter is not a test: it is the flooding router's
// process (see startFloodingRouter), and skips when run any other way.
func TestHelperFloodingRouter(t *testing.T) {
	raw := os.Getenv(floodRouterEnv)
	if raw == "" {
		t.Skip("the flooding router's process, started by startFloodingRouter")
	}
	if err := runFloodingRouter(raw); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func runFloodingRouter(raw string) error {
	var spec floodSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return fmt.Errorf("%s: %w", floodRouterEnv, err)
	}
	paths, err := floodPaths(spec)
	if err != nil {
		return err
	}
	logger := gobgplog.NewDefaultLogger()
	logger.SetLevel(gobgplog.ErrorLevel)
	s := server.NewBgpServer(server.GrpcListenAddress(spec.API), server.LoggerOption(logger))
	go s.Serve()
	defer s.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := s.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: spec.ASN, RouterId: spec.Local, ListenPort: -1}}); err != nil {
		return fmt.Errorf("starting BGP: %w", err)
	}
	err = s.AddPeer(ctx, &api.AddPeerRequest{Peer: &api.Peer{
		Conf:      &api.PeerConf{NeighborAddress: spec.Peer, PeerAsn: spec.PeerAS},
		Transport: &api.Transport{LocalAddress: spec.Local, RemotePort: uint32(spec.PeerPort)},
		Timers:    &api.Timers{Config: &api.TimersConfig{ConnectRetry: 1}},
		AfiSafis:  []*api.AfiSafi{{Config: &api.AfiSafiConfig{Family: floodFamily, Enabled: true}}},
	}})
	if err != nil {
		return fmt.Errorf("adding peer %s: %w", spec.Peer, err)
	}
	conn, err := grpc.DialContext(ctx, spec.API, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("GoBGP API %s: %w", spec.API, err)
	}
	defer conn.Close()
	client := api.NewGobgpApiClient(conn)
	if _, err := client.GetBgp(ctx, &api.GetBgpRequest{}, grpc.WaitForReady(true)); err != nil {
		return fmt.Errorf("GoBGP API %s not answering: %w", spec.API, err)
	}
	if err := awaitEstablished(ctx, s, spec.Peer); err != nil {
		return err
	}
	fmt.Println("established")
	began := time.Now()
	stream, err := client.AddPathStream(ctx)
	if err != nil {
		return fmt.Errorf("opening AddPathStream: %w", err)
	}
	const batch = 1000
	for i := 0; i < len(paths); i += batch {
		if err := stream.Send(&api.AddPathStreamRequest{TableType: api.TableType_GLOBAL, Paths: paths[i:min(i+batch, len(paths))]}); err != nil {
			return fmt.Errorf("sending paths from %d: %w", i, err)
		}
	}
	if _, err := stream.CloseAndRecv(); err != nil {
		return fmt.Errorf("closing AddPathStream: %w", err)
	}
	fmt.Printf("announced n=%d s=%.3f\n", len(paths), time.Since(began).Seconds())
	// Run until the test closes stdin (or dies: Pdeathsig).
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

var floodFamily = &api.Family{Afi: api.Family_AFI_IP, Safi: api.Family_SAFI_UNICAST}

func awaitEstablished(ctx context.Context, s *server.BgpServer, peer string) error {
	for ctx.Err() == nil {
		up := false
		err := s.ListPeer(ctx, &api.ListPeerRequest{Address: peer}, func(p *api.Peer) {
			up = p.GetState().GetSessionState() == api.PeerState_ESTABLISHED
		})
		if err != nil {
			return fmt.Errorf("listing peer %s: %w", peer, err)
		}
		if up {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("session with %s not established: %w", peer, ctx.Err())
}

func floodPaths(spec floodSpec) ([]*api.Path, error) {
	origin, err := anypb.New(&api.OriginAttribute{Origin: 0})
	if err != nil {
		return nil, err
	}
	nh, err := anypb.New(&api.NextHopAttribute{NextHop: spec.Local})
	if err != nil {
		return nil, err
	}
	paths := make([]*api.Path, 0, spec.Routes)
	for i := range spec.Routes {
		nlri, err := anypb.New(&api.IPAddressPrefix{Prefix: floodPrefix(i).Addr().String(), PrefixLen: 24})
		if err != nil {
			return nil, err
		}
		attrs := []*anypb.Any{origin, nh}
		if spec.Distinct {
			med, err := anypb.New(&api.MultiExitDiscAttribute{Med: uint32(i)})
			if err != nil {
				return nil, err
			}
			attrs = append(attrs, med)
		}
		paths = append(paths, &api.Path{Family: floodFamily, Nlri: nlri, Pattrs: attrs})
	}
	return paths, nil
}

// floodPrefix is the i-th flooded /24: 20.0.0.0/24, 20.0.1.0/24, … (BGP
// attributes only: no traffic goes there).
func floodPrefix(i int) netip.Prefix {
	v := uint32(20)<<24 + uint32(i)<<8
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 0}), 24)
}
