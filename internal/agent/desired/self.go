package desired

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/netconf"
)

// Bounds of maxPods (R12, R32, R41): the schema holds it to them and the agent clamps what
// it reads anyway, since the CNI configuration's ranges are sized by it.
const (
	MinMaxPods = 10
	MaxMaxPods = 250
)

// maxReservedEntries bounds spec.reservedIPs before it is parsed: a reservation holds
// at most MaxMaxPods addresses, so never more entries.
const maxReservedEntries = MaxMaxPods

// parseSelf parses the node's own status and checks it against the cluster (B7). A
// malformed or forbidden own block is an error, not a warning: programming half a node
// would hand out addresses no route leads to, and a block outside the pod CIDRs would hand
// out addresses that are someone else's. A node IP that breaks the rules is dropped with a
// warning, as every peer drops it.
func (c *Cluster) parseSelf(self *v1alpha1.NodeNetworkConfig, warn func(string, ...any)) (node, error) {
	n := node{name: self.Name}
	st := &self.Spec
	if len(st.PodCIDRs) > maxPodCIDRs {
		return n, fmt.Errorf("NodeNetworkConfig %q: spec.podCIDRs holds %d blocks, more than one per family", self.Name, len(st.PodCIDRs))
	}
	var err error
	if n.podCIDRs, err = parsePrefixes("spec.podCIDRs", st.PodCIDRs); err != nil {
		return n, fmt.Errorf("NodeNetworkConfig %q: %w", self.Name, err)
	}
	if len(familiesOf(n.podCIDRs)) != len(n.podCIDRs) {
		return n, fmt.Errorf("NodeNetworkConfig %q: spec.podCIDRs %v holds two blocks of one family", self.Name, st.PodCIDRs)
	}
	for _, p := range n.podCIDRs {
		if why := c.checkBlock(p); why != "" {
			return n, fmt.Errorf("NodeNetworkConfig %q: own block %s %s (B7)", self.Name, p, why)
		}
	}
	if len(st.NodeIPs) > maxNodeIPs {
		warn("own spec.nodeIPs holds %d entries, more than %d; all ignored (B7)", len(st.NodeIPs), maxNodeIPs)
		return n, nil
	}
	for _, s := range st.NodeIPs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			warn("own spec.nodeIPs entry %q is not an IP address; ignored", s)
			continue
		}
		if why := c.checkNodeIP(a); why != "" {
			warn("own node IP %q %s; ignored (B7)", s, why)
			continue
		}
		n.nodeIPs = append(n.nodeIPs, a)
	}
	return n, nil
}

// clampMaxPods returns the node's pod limit: the mode's default when unset, and inside
// MinMaxPods..MaxMaxPods whatever the status says.
func clampMaxPods(maxPods int32, mode v1alpha1.NetworkMode, warn func(string, ...any)) int32 {
	switch {
	case maxPods <= 0:
		maxPods = netconf.DefaultMaxPods(mode)
		warn("spec.maxPods is unset; limiting the node to the %s default of %d pods (R12, R32, R41)", cmp.Or(mode, v1alpha1.ModeOverlay), maxPods)
	case maxPods < MinMaxPods:
		warn("spec.maxPods %d is below %d; using %d (R12)", maxPods, MinMaxPods, MinMaxPods)
		maxPods = MinMaxPods
	case maxPods > MaxMaxPods:
		warn("spec.maxPods %d is above %d; using %d (R12, R32, R41)", maxPods, MaxMaxPods, MaxMaxPods)
		maxPods = MaxMaxPods
	}
	return maxPods
}

// skippedPeers lists the peers with problems, by name.
func skippedPeers(peers []node, problems map[int][]string) []Skipped {
	out := make([]Skipped, 0, len(problems))
	for i, why := range problems {
		out = append(out, Skipped{Node: peers[i].name, Problems: why})
	}
	slices.SortFunc(out, func(a, b Skipped) int { return cmp.Compare(a.Node, b.Node) })
	return out
}
