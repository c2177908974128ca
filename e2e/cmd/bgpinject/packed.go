package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/osrg/gobgp/v3/pkg/packet/bgp"
)

// packedSpeaker sends its routes the way a router sending a table does: as
// many prefixes in each UPDATE as fit in BGP's 4,096 bytes (about 800 IPv4
// /32s), announcements and withdrawals alike. GoBGP, the default speaker,
// cannot: it turns every path it is given into an UPDATE of its own, whatever
// the batch it came in.
//
// It is the least of a BGP speaker that a bench needs: it dials the peer and
// exchanges OPENs (IPv4 unicast, 4-octet ASNs) until a session is up, every
// second (a peer may refuse or reset connections until it has its
// configuration), sends KEEPALIVEs, and reads and drops what the peer sends.
// One Established session: a NOTIFICATION or a closed connection ends it,
// with an "error" line, and the speaker does not dial again.
type packedSpeaker struct {
	cfg    config
	routes []route
	// announceAll and withdrawAll are every route's UPDATEs, built once up
	// front so that a timed announce costs only the writes.
	announceAll, withdrawAll []byte

	mu   sync.Mutex // conn and ended
	conn net.Conn   // nil until Established
	// ended is why the session ended; nil while it has not.
	ended error

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// packedHoldTime is the hold time the packed speaker offers (BGP's usual).
const packedHoldTime = 90

// maxMessage is BGP's largest message without the extended message
// capability (RFC 4271, 4.1).
const maxMessage = 4096

func startPacked(ctx context.Context, cfg config, out *lineWriter) (*packedSpeaker, error) {
	announce, err := packAnnouncements(cfg.prefixes, cfg.nextHop, cfg.asn)
	if err != nil {
		return nil, err
	}
	withdraw, err := packWithdrawals(cfg.prefixes)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &packedSpeaker{cfg: cfg, routes: cfg.prefixes, announceAll: announce, withdrawAll: withdraw, cancel: cancel}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := s.session(sctx, out)
		if sctx.Err() == nil {
			out.printf("error session with %s ended: %v", cfg.peer, err)
		}
	}()
	return s, nil
}

func (s *packedSpeaker) count() int { return len(s.routes) }

func (s *packedSpeaker) run(ctx context.Context, c command) (int, time.Duration, error) {
	began := time.Now()
	var msgs []byte
	var n int
	var err error
	switch {
	case c.rng != nil && c.verb == "withdraw":
		picked := pick(*c.rng, s.routes)
		n = len(picked)
		if msgs, err = packWithdrawals(picked); err != nil {
			return 0, 0, err
		}
	case c.rng != nil:
		picked := pick(*c.rng, s.routes)
		n = len(picked)
		if msgs, err = packAnnouncements(picked, s.cfg.nextHop, s.cfg.asn); err != nil {
			return 0, 0, err
		}
	case c.verb == "announce":
		msgs, n = s.announceAll, len(s.routes)
	default:
		msgs, n = s.withdrawAll, len(s.routes)
	}
	if err := s.write(msgs); err != nil {
		return 0, 0, err
	}
	return n, time.Since(began), nil
}

// write sends msgs on the session; the keepalive loop writes through it too.
func (s *packedSpeaker) write(msgs []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.ended != nil:
		return fmt.Errorf("the session ended: %w", s.ended)
	case s.conn == nil:
		return errors.New("the session is not Established yet")
	}
	if _, err := s.conn.Write(msgs); err != nil {
		return fmt.Errorf("writing to %s: %w", s.conn.RemoteAddr(), err)
	}
	return nil
}

func (s *packedSpeaker) stop() {
	s.cancel()
	s.mu.Lock()
	if s.conn != nil {
		_ = s.conn.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// session dials the peer and opens the session until one reaches
// Established (a peer may refuse or reset connections until it has its
// configuration), then reads until it ends.
func (s *packedSpeaker) session(ctx context.Context, out *lineWriter) error {
	for {
		conn, r, hold, err := s.establish(ctx)
		if err == nil {
			return s.established(ctx, conn, r, hold, out)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		fmt.Fprintf(os.Stderr, "bgpinject: session with %s not up, trying again in %s: %v\n", s.cfg.peer, dialRetry, err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(dialRetry):
		}
	}
}

// establish dials the peer and exchanges OPENs and KEEPALIVEs.
func (s *packedSpeaker) establish(ctx context.Context) (net.Conn, *bufio.Reader, uint16, error) {
	conn, err := s.dial(ctx)
	if err != nil {
		return nil, nil, 0, err
	}
	// Closing the connection is what ends a read blocked on it.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	r := bufio.NewReader(conn)
	hold, err := s.open(conn, r)
	if err != nil {
		_ = conn.Close()
		return nil, nil, 0, err
	}
	return conn, r, hold, nil
}

// established runs an Established session until it ends.
func (s *packedSpeaker) established(ctx context.Context, conn net.Conn, r *bufio.Reader, hold uint16, out *lineWriter) error {
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	s.mu.Lock()
	s.conn = conn
	s.mu.Unlock()
	out.printf("established")
	if hold > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.keepalive(ctx, time.Duration(hold)*time.Second/3)
		}()
	}
	err := readUntilEnd(r)
	s.mu.Lock()
	s.ended = err
	s.mu.Unlock()
	_ = conn.Close()
	return err
}

// dialRetry is the wait between attempts to reach a peer not listening yet.
const dialRetry = time.Second

func (s *packedSpeaker) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: s.cfg.routerID.AsSlice()}, Timeout: 5 * time.Second}
	return d.DialContext(ctx, "tcp", net.JoinHostPort(s.cfg.peer.String(), strconv.Itoa(s.cfg.peerPort)))
}

// open exchanges OPENs and the first KEEPALIVEs; it returns the hold time
// agreed (the smaller of both, RFC 4271 4.2).
func (s *packedSpeaker) open(conn net.Conn, r *bufio.Reader) (uint16, error) {
	myAS := uint16(bgp.AS_TRANS)
	if s.cfg.asn <= 0xffff {
		myAS = uint16(s.cfg.asn)
	}
	caps := []bgp.ParameterCapabilityInterface{bgp.NewCapMultiProtocol(bgp.RF_IPv4_UC), bgp.NewCapFourOctetASNumber(s.cfg.asn)}
	open := bgp.NewBGPOpenMessage(myAS, packedHoldTime, s.cfg.routerID.String(), []bgp.OptionParameterInterface{bgp.NewOptionParameterCapability(caps)})
	if err := writeMessage(conn, open); err != nil {
		return 0, err
	}
	m, err := readMessage(r)
	if err != nil {
		return 0, fmt.Errorf("waiting for the peer's OPEN: %w", err)
	}
	theirs, ok := m.Body.(*bgp.BGPOpen)
	if !ok {
		return 0, fmt.Errorf("the peer's first message is of type %d, not an OPEN", m.Header.Type)
	}
	if err := checkOpen(theirs, s.cfg.peerASN); err != nil {
		return 0, err
	}
	if err := writeMessage(conn, bgp.NewBGPKeepAliveMessage()); err != nil {
		return 0, err
	}
	if m, err = readMessage(r); err != nil {
		return 0, fmt.Errorf("waiting for the peer's first KEEPALIVE: %w", err)
	}
	if m.Header.Type != bgp.BGP_MSG_KEEPALIVE {
		return 0, fmt.Errorf("the peer answered the OPEN with a message of type %d, not a KEEPALIVE", m.Header.Type)
	}
	return min(theirs.HoldTime, packedHoldTime), nil
}

// checkOpen checks that the peer is the ASN expected and speaks 4-octet
// ASNs, which the UPDATEs' AS_PATH is written in.
func checkOpen(o *bgp.BGPOpen, wantASN uint32) error {
	as4 := uint32(0)
	for _, p := range o.OptParams {
		c, ok := p.(*bgp.OptionParameterCapability)
		if !ok {
			continue
		}
		for _, cap := range c.Capability {
			if four, ok := cap.(*bgp.CapFourOctetASNumber); ok {
				as4 = four.CapValue
			}
		}
	}
	if as4 == 0 {
		return fmt.Errorf("the peer's OPEN has no 4-octet ASN capability, which this speaker's UPDATEs need")
	}
	if as4 != wantASN {
		return fmt.Errorf("the peer's OPEN says ASN %d, want %d", as4, wantASN)
	}
	return nil
}

func (s *packedSpeaker) keepalive(ctx context.Context, every time.Duration) {
	msg, _ := bgp.NewBGPKeepAliveMessage().Serialize()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if s.write(msg) != nil {
				return
			}
		}
	}
}

// readUntilEnd reads and drops the peer's messages until a NOTIFICATION or
// the end of the connection, which it returns as an error.
func readUntilEnd(r *bufio.Reader) error {
	for {
		m, err := readMessage(r)
		if err != nil {
			return err
		}
		if n, ok := m.Body.(*bgp.BGPNotification); ok {
			return fmt.Errorf("the peer sent a NOTIFICATION: code %d, subcode %d", n.ErrorCode, n.ErrorSubcode)
		}
	}
}

func readMessage(r *bufio.Reader) (*bgp.BGPMessage, error) {
	header := make([]byte, bgp.BGP_HEADER_LENGTH)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, err
	}
	length := int(binary.BigEndian.Uint16(header[16:18]))
	if length < bgp.BGP_HEADER_LENGTH || length > maxMessage {
		return nil, fmt.Errorf("a message of %d bytes: BGP's are %d to %d", length, bgp.BGP_HEADER_LENGTH, maxMessage)
	}
	msg := make([]byte, length)
	copy(msg, header)
	if _, err := io.ReadFull(r, msg[bgp.BGP_HEADER_LENGTH:]); err != nil {
		return nil, err
	}
	if msg[18] == bgp.BGP_MSG_UPDATE {
		// Dropped unread: this speaker only sends routes.
		return &bgp.BGPMessage{Header: bgp.BGPHeader{Len: uint16(length), Type: bgp.BGP_MSG_UPDATE}}, nil
	}
	return bgp.ParseBGPMessage(msg)
}

func writeMessage(w io.Writer, m *bgp.BGPMessage) error {
	b, err := m.Serialize()
	if err != nil {
		return fmt.Errorf("encoding a message of type %d: %w", m.Header.Type, err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("sending a message of type %d: %w", m.Header.Type, err)
	}
	return nil
}

// updateOverhead is an UPDATE's bytes besides its path attributes, withdrawn
// routes and NLRI: the header and the two length fields.
const updateOverhead = bgp.BGP_HEADER_LENGTH + 2 + 2

// prefixBytes is what a prefix takes in an UPDATE: its length, then as many
// bytes as its bits need.
func prefixBytes(p netip.Prefix) int { return 1 + (p.Bits()+7)/8 }

// packAnnouncements writes routes as UPDATEs, one run of UPDATEs per next
// hop (in the order the next hops first appear), each holding as many
// prefixes as fit.
func packAnnouncements(routes []route, defaultNextHop netip.Addr, asn uint32) ([]byte, error) {
	var order []netip.Addr
	byNextHop := map[netip.Addr][]route{}
	for _, r := range routes {
		nh := r.nextHop
		if !nh.IsValid() {
			nh = defaultNextHop
		}
		if _, ok := byNextHop[nh]; !ok {
			order = append(order, nh)
		}
		byNextHop[nh] = append(byNextHop[nh], r)
	}
	var out []byte
	for _, nh := range order {
		if !nh.Is4() {
			return nil, fmt.Errorf("next hop %s: only IPv4 next hops are announced", nh)
		}
		attrs := []bgp.PathAttributeInterface{
			bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
			bgp.NewPathAttributeAsPath([]bgp.AsPathParamInterface{bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, []uint32{asn})}),
			bgp.NewPathAttributeNextHop(nh.String()),
		}
		attrLen := 0
		for _, a := range attrs {
			attrLen += a.Len()
		}
		var err error
		if out, err = appendPacked(out, byNextHop[nh], maxMessage-updateOverhead-attrLen, func(nlri []*bgp.IPAddrPrefix) *bgp.BGPMessage {
			return bgp.NewBGPUpdateMessage(nil, attrs, nlri)
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// packWithdrawals writes the withdrawal of routes as UPDATEs, each holding
// as many prefixes as fit.
func packWithdrawals(routes []route) ([]byte, error) {
	return appendPacked(nil, routes, maxMessage-updateOverhead, func(withdrawn []*bgp.IPAddrPrefix) *bgp.BGPMessage {
		return bgp.NewBGPUpdateMessage(withdrawn, nil, nil)
	})
}

// appendPacked appends to out the UPDATEs that message makes of routes'
// prefixes, filling each with at most room bytes of prefixes.
func appendPacked(out []byte, routes []route, room int, message func([]*bgp.IPAddrPrefix) *bgp.BGPMessage) ([]byte, error) {
	var batch []*bgp.IPAddrPrefix
	used := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		b, err := message(batch).Serialize()
		if err != nil {
			return fmt.Errorf("encoding an UPDATE of %d prefixes: %w", len(batch), err)
		}
		if len(b) > maxMessage {
			return fmt.Errorf("an UPDATE of %d prefixes takes %d bytes, more than BGP's %d", len(batch), len(b), maxMessage)
		}
		out, batch, used = append(out, b...), batch[:0], 0
		return nil
	}
	for _, r := range routes {
		p := r.prefix
		if !p.Addr().Is4() {
			return nil, fmt.Errorf("prefix %s: only IPv4 prefixes are announced", p)
		}
		if used+prefixBytes(p) > room {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		batch = append(batch, bgp.NewIPAddrPrefix(uint8(p.Bits()), p.Addr().String()))
		used += prefixBytes(p)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}
