package datapath

import (
	"net/netip"

	"github.com/overlaynet/overlaynet/internal/agent/desired"
)

// UnderlayReader is a backend that can say which peers are on the node's own link (B9).
// The agent encapsulates only through a backend that implements it; with any other it
// routes every peer directly, as in Direct mode.
type UnderlayReader interface {
	// Underlay describes the interfaces holding nodeIPs, the node's own addresses.
	Underlay(nodeIPs []netip.Addr) (desired.Underlay, error)
}
