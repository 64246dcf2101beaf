// Package datapath is the contract between the node agent and a datapath backend: the agent
// decides (internal/agent/desired), a backend programs the kernel (datapath/linux), and
// errors say which part failed so that the Programmed condition can name it.
package datapath

import (
	"context"
	"errors"
	"fmt"

	"github.com/overlaynet/overlaynet/internal/agent/desired"
)

// Backend programs a desired datapath into one network namespace.
type Backend interface {
	// Apply makes the namespace match dp. With full false it applies the difference from
	// what the previous Apply left behind, so one peer more or less is one route change;
	// with full true it reads the kernel back and repairs any drift. A backend falls back
	// to a full apply on its own when it cannot trust its memory (first call, previous
	// failure). Apply programs what it can and reports every failure in the error.
	Apply(ctx context.Context, dp *desired.Datapath, full bool) (Stats, error)
}

// DeltaApplier is a Backend that also applies a change of peers alone (B8): the routes,
// node IPs and VXLAN entries that a peer joining, changing or leaving touches, at a cost
// that follows the change, not the cluster.
type DeltaApplier interface {
	Backend
	// ApplyDelta applies d on top of what the previous Apply or ApplyDelta left. When the
	// backend cannot trust its memory (no Apply yet, a previous failure) it changes
	// nothing and returns ErrFullApplyNeeded; the caller then calls Apply with the whole
	// datapath. The parts d does not touch (the families' rules but their node IPs, the
	// proxy entries, the devices) are left as the previous Apply set them.
	ApplyDelta(ctx context.Context, d *desired.Delta) (Stats, error)
}

// ErrFullApplyNeeded says that a backend needs the whole datapath (DeltaApplier).
var ErrFullApplyNeeded = errors.New("the backend needs the whole datapath")

// Stats describes the namespace after an Apply.
type Stats struct {
	// Routes is the number of routes the agent owns.
	Routes int
	// Rules is the number of nftables rules in the agent's table.
	Rules int
	// RoutesAdded, RoutesReplaced and RoutesRemoved count this Apply's route changes.
	RoutesAdded, RoutesReplaced, RoutesRemoved int
	// ProxyNeighbors is the number of proxy neighbour entries the agent owns on the uplink.
	ProxyNeighbors int
	// ProxyChanged counts this Apply's proxy neighbour additions and removals.
	ProxyChanged int
	// NodeIPsChanged counts node-IP set elements added or removed incrementally.
	NodeIPsChanged int
	// TableWritten is true when the nftables table was written whole.
	TableWritten bool
	// Tunnels is the number of VXLAN devices in place, TunnelPeers their encapsulated peer
	// blocks, TunnelChanged this Apply's device, neighbour and forwarding entry changes.
	Tunnels, TunnelPeers, TunnelChanged int
	// Full is true when the kernel was read back (a full resync).
	Full bool
}

// Part names a piece of the datapath.
type Part string

// The parts of the datapath, in the order a backend programs them.
const (
	// PartForwarding is IP forwarding (net.ipv4.ip_forward, net.ipv6.conf.all.forwarding).
	PartForwarding Part = "forwarding"
	// PartRoutes is the routes to peer blocks.
	PartRoutes Part = "routes"
	// PartTunnels is the VXLAN devices and their entries (B9).
	PartTunnels Part = "vxlan"
	// PartSNAT is the nftables table: masquerade and the pod-ingress guard.
	PartSNAT Part = "nftables"
	// PartProxy is the proxy neighbour entries of the uplink (NodeSubnet pod addresses).
	PartProxy Part = "proxy-neighbors"
)

// Error is a failure to program one part of the datapath.
type Error struct {
	// Part is the part that failed.
	Part Part
	// Err is the cause.
	Err error
}

func (e *Error) Error() string { return fmt.Sprintf("programming %s: %v", e.Part, e.Err) }

func (e *Error) Unwrap() error { return e.Err }

// FailedPart returns the first part named by an *Error in err's tree.
func FailedPart(err error) (Part, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Part, true
	}
	return "", false
}
