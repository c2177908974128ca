package agent

import (
	"context"
	"fmt"

	"github.com/nodebgp/router/pkg/cniinstall"
)

// conflistFile is the node's conflist in the CNI conf dir.
type conflistFile struct{ dir string }

func (c conflistFile) Write(ctx context.Context, p cniinstall.ConflistParams) (bool, error) {
	conf, err := cniinstall.RenderConflist(p)
	if err != nil {
		return false, fmt.Errorf("rendering CNI config: %w", err)
	}
	return cniinstall.WriteConflist(ctx, c.dir, conf)
}

func (c conflistFile) Exists() (bool, error) { return cniinstall.ConflistExists(c.dir) }
