package desired

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
)

// The rules every peer passes before anything of it is programmed (B7). A peer's status is
// written by the manager only (the admission policy refuses everyone else), but the agent
// does not rely on that: a stray object, a tampered status or a manager bug must not steer
// this node's pod traffic. The manager never writes an entry that breaks a rule, so a peer
// with one is not trusted in part: it is skipped whole (no route to any of its blocks, and
// its node IPs may not reach pods) and reported, and every other peer is still programmed.
//
// A peer's block is programmed only when it
//   - is a canonical CIDR, neither IPv4-mapped nor /0 (checkPrefix),
//   - has exactly its family's block length and lies inside the family's pod CIDRs
//     (Cluster.checkBlock),
//
// and only via a node IP that
//   - is a global unicast address, not IPv4-mapped, without a zone,
//   - lies inside the node network,
//   - is not this node's own address, and not an address an older peer already holds
//     (Cluster.checkNodeIP and dedupNodeIPs),
//
// and the lists hold at most one entry per family.
//
// The same node IPs, and only they, may open connections to pods (R16, R17).

// Bounds on the lists of one NodeNetworkConfig spec: the schema allows two of each (one
// per family); the agent refuses longer lists instead of reading them.
const (
	maxPodCIDRs = 2
	maxNodeIPs  = 2
)

// Skipped names a peer whose NodeNetworkConfig broke a rule, and why. Nothing of it is programmed.
type Skipped struct {
	// Node names the peer.
	Node string
	// Problems say which entries broke which rule, in status order.
	Problems []string
}

// writtenAs reports whether s is p's canonical text, without allocating.
func writtenAs(p netip.Prefix, s string) bool {
	var buf [64]byte
	return string(p.AppendTo(buf[:0])) == s
}

// checkPrefix returns why p may not be used at all, or "".
func checkPrefix(p netip.Prefix) string {
	switch {
	case !p.IsValid():
		return "is not a CIDR"
	case p.Addr().Is4In6():
		return "is an IPv4-mapped IPv6 prefix"
	case p.Addr().Zone() != "":
		return "carries an IPv6 zone"
	case p.Bits() == 0:
		return "is /0, every address"
	}
	return ""
}

// checkBlock returns why p may not be a node's block, or "".
func (c *Cluster) checkBlock(p netip.Prefix) string {
	if why := checkPrefix(p); why != "" {
		return why
	}
	f := familyOf(p.Addr())
	pool := c.pool(f)
	switch {
	case pool == nil:
		return fmt.Sprintf("is %s, a family with no pod CIDR in the cluster (R7)", f)
	case p.Bits() != pool.BlockBits:
		return fmt.Sprintf("is not a /%d, the cluster's %s block length (R10, R11, B2)", pool.BlockBits, f)
	case !slices.ContainsFunc(pool.CIDRs, func(cidr netip.Prefix) bool { return cidr.Contains(p.Addr()) }):
		// A block of the right length that starts inside a pod CIDR lies wholly inside
		// it, since the CIDR is no longer than the block.
		return fmt.Sprintf("lies outside the cluster's pod CIDRs %v", pool.CIDRs)
	}
	return ""
}

// checkNodeIP returns why a may not be a node's IP, or "".
func (c *Cluster) checkNodeIP(a netip.Addr) string {
	switch {
	case a.Is4In6():
		return "is an IPv4-mapped IPv6 address"
	case a.Zone() != "":
		return "carries an IPv6 zone"
	case !a.IsGlobalUnicast():
		return "is not a global unicast address"
	case !slices.ContainsFunc(c.NodeNetwork, func(p netip.Prefix) bool { return p.Contains(a) }):
		return fmt.Sprintf("lies outside the node network %v", c.NodeNetwork)
	}
	return ""
}

// parsePeer parses a peer's status; problems say which entries break the rules. A list
// longer than the schema allows is not read.
func (c *Cluster) parsePeer(nnc *v1alpha1.NodeNetworkConfig) (n node, problems []string) {
	n = node{name: nnc.Name, rank: rank{created: nnc.CreationTimestamp.UnixNano(), name: nnc.Name}}
	st := &nnc.Spec
	if len(st.PodCIDRs) > maxPodCIDRs {
		problems = append(problems, fmt.Sprintf("spec.podCIDRs holds %d entries, more than %d", len(st.PodCIDRs), maxPodCIDRs))
	} else {
		for _, s := range st.PodCIDRs {
			p, err := netip.ParsePrefix(s)
			var why string
			switch {
			case err != nil:
				why = "is not a CIDR"
			case p != p.Masked() || !writtenAs(p, s):
				why = "is not canonical"
			default:
				why = c.checkBlock(p)
			}
			if why == "" && slices.ContainsFunc(n.podCIDRs, func(o netip.Prefix) bool { return familyOf(o.Addr()) == familyOf(p.Addr()) }) {
				why = fmt.Sprintf("is a second %s block", familyOf(p.Addr()))
			}
			if why != "" {
				problems = append(problems, fmt.Sprintf("block %q %s", s, why))
				continue
			}
			n.podCIDRs = append(n.podCIDRs, p)
		}
	}
	if len(st.NodeIPs) > maxNodeIPs {
		problems = append(problems, fmt.Sprintf("spec.nodeIPs holds %d entries, more than %d", len(st.NodeIPs), maxNodeIPs))
		return n, problems
	}
	for _, s := range st.NodeIPs {
		a, err := netip.ParseAddr(s)
		why := "is not an IP address"
		if err == nil {
			why = c.checkNodeIP(a)
		}
		if why == "" && slices.ContainsFunc(n.nodeIPs, func(o netip.Addr) bool { return familyOf(o) == familyOf(a) }) {
			why = fmt.Sprintf("is a second %s node IP", familyOf(a))
		}
		if why != "" {
			problems = append(problems, fmt.Sprintf("node IP %q %s", s, why))
			continue
		}
		n.nodeIPs = append(n.nodeIPs, a)
	}
	return n, problems
}

// dedupNodeIPs skips every peer (in full) that claims this node's own address (own) or an
// address an older peer holds, adding the reason to problems by peer index. Peers that
// already have problems are skipped and hold no address. The oldest claimant holds an
// address: the manager hands every address to one node (B7), so two claimants mean a stray
// or tampered object, and a newcomer must not take a working node's address and with it
// the traffic to that node's block. A stale object whose Node is gone and whose address a
// new node was given delays the new node only until garbage collection removes it.
//
// It costs two passes and no sort: the first finds each address's oldest claimant, the
// second skips the others.
func dedupNodeIPs(own []netip.Addr, peers []node, problems map[int][]string) {
	holder := make(map[netip.Addr]int, len(own)+2*len(peers))
	for _, a := range own {
		holder[a] = -1
	}
	for i := range peers {
		if len(problems[i]) > 0 {
			continue
		}
		for _, a := range peers[i].nodeIPs {
			h, taken := holder[a]
			if !taken || (h >= 0 && older(&peers[i], &peers[h])) {
				holder[a] = i
			}
		}
	}
	for i := range peers {
		if len(problems[i]) > 0 {
			continue
		}
		for _, a := range peers[i].nodeIPs {
			switch h := holder[a]; {
			case h < 0:
				problems[i] = append(problems[i], fmt.Sprintf("node IP %q is this node's own address", a))
			case h != i:
				problems[i] = append(problems[i], fmt.Sprintf("node IP %q is already the address of %s", a, peers[h].name))
			}
		}
	}
}

// older reports whether a's object is older than b's; names break ties.
func older(a, b *node) bool {
	switch {
	case a.rank.created != b.rank.created:
		return a.rank.created < b.rank.created
	}
	return a.name < b.name
}

// skip clears the peers with problems: nothing of them is programmed.
func skip(peers []node, problems map[int][]string) {
	for i := range problems {
		peers[i].podCIDRs, peers[i].nodeIPs = nil, nil
	}
}
