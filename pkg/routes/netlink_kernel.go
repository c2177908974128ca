package routes

import (
	"fmt"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// netlinkKernel is the real Kernel: netlink's own handle for the dumps, and
// our batch writer for the writes.
type netlinkKernel struct {
	*netlink.Handle
	*batchWriter
}

// socketTimeout bounds every netlink request, so that a wedged kernel call
// fails a Sync instead of hanging the route loop forever.
const socketTimeout = 30 * time.Second

// newKernel opens two netlink route sockets in the calling thread's network
// namespace and keeps them: one socket for the reconciler's lifetime is
// much cheaper than one per request, which is what netlink's package-level
// functions do.
func newKernel() (*netlinkKernel, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening netlink route socket: %w", err)
	}
	if err := h.SetSocketTimeout(socketTimeout); err != nil {
		h.Close()
		return nil, fmt.Errorf("setting netlink socket timeout: %w", err)
	}
	w, err := newBatchWriter()
	if err != nil {
		h.Close()
		return nil, err
	}
	return &netlinkKernel{Handle: h, batchWriter: w}, nil
}

func (k *netlinkKernel) Close() {
	k.Handle.Close()
	k.batchWriter.Close()
}
