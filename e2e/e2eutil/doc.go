//go:build e2e

// Package e2eutil holds what nodebgp's end-to-end suites (e2e, fabric,
// dualstack, reflectors, ecmp) share: bounded waits, runbook steps that save
// a dump when they fail, commands and sockets inside the lab's network
// namespaces, ping, and the TestMain scaffolding that brings a lab up once
// and always tears it down. What only one suite needs stays in that suite.
package e2eutil
