//go:build tools

// Package tools pins the gobgp CLI's main package so go.mod and go.sum carry
// everything `go build github.com/osrg/gobgp/v3/cmd/gobgp` needs.
package tools

import _ "github.com/osrg/gobgp/v3/cmd/gobgp"
