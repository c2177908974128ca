package agent

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/dynamic"

	"github.com/nodebgp/router/pkg/status"
)

// startStatus starts the node's BGPNodeState writer and the watch of its
// object in g. Neither blocks routing: the reporting loop hands the writer
// the latest status and goes on; an API server that refuses or does not
// answer only delays the status, is logged once per cause and counted.
func (a *agent) startStatus(ctx context.Context, g *errgroup.Group) error {
	cfg, err := restConfig(a.cfg.Kubeconfig)
	if err != nil {
		return err
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("creating the status client: %w", err)
	}
	kube := status.Kube{Client: client}
	m := a.health.Metrics()
	log := a.log.With("component", "status")
	w := status.NewWriter(status.WriterParams{
		Applier: kube,
		Logger:  log,
		OnWrite: m.StatusWrites.Inc,
		OnError: func(reason string) { m.StatusWriteErrors.WithLabelValues(reason).Inc() },
	})
	a.statusWriter = w
	watchErrs := onceLogger{log: func(reason string, err error) {
		log.Warn("cannot watch the status object; it is still written", "event", "status-watch-failed", "reason", reason, "error", err.Error())
	}}
	g.Go(func() error { return w.Run(ctx) })
	g.Go(func() error {
		return kube.Watch(ctx, a.cfg.NodeName, w.Observe, func(err error) { watchErrs.note(status.ErrorReason(err), err) })
	})
	return nil
}

// onceLogger logs an error when its reason differs from the last one's.
type onceLogger struct {
	mu   sync.Mutex
	last string
	log  func(reason string, err error)
}

func (o *onceLogger) note(reason string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if reason == o.last {
		return
	}
	o.last = reason
	o.log(reason, err)
}
