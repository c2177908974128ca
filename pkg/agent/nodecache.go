package agent

import (
	"k8s.io/client-go/tools/cache"

	"github.com/nodebgp/router/pkg/slimnode"
)

// nodeCache reads the node informer's store, which holds *slimnode.Node
// (pkg/nodestream decodes them so).
type nodeCache struct {
	store cache.Store
}

// list returns every Node in the cache, in no particular order.
func (c nodeCache) list() []*slimnode.Node {
	objs := c.store.List()
	nodes := make([]*slimnode.Node, 0, len(objs))
	for _, o := range objs {
		if n, ok := o.(*slimnode.Node); ok {
			nodes = append(nodes, n)
		}
	}
	return nodes
}

// get returns the Node named name, nil if the cache has none.
func (c nodeCache) get(name string) *slimnode.Node {
	o, ok, err := c.store.GetByKey(name)
	if err != nil || !ok {
		return nil
	}
	n, _ := o.(*slimnode.Node)
	return n
}
