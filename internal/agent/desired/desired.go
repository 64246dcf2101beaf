// Package desired decides what a node agent programs: from its own NodeNetworkConfig and
// its peers' it computes the routes to peer blocks, the SNAT and pod-ingress policy of every
// family, and the node's CNI configuration.
//
// It is pure: no Kubernetes client, no netlink, no clock. The agent feeds it objects from
// its cache and hands the result to a datapath backend, so every decision here is
// table-tested without a node.
package desired

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/nodesubnet"
)

// ErrNotAllocated means the node's own NodeNetworkConfig holds no block yet, so there is
// nothing to program and no CNI configuration to write: pods must not start before the
// node has addresses to give them.
var ErrNotAllocated = errors.New("the node holds no pod CIDR yet")

// Link-local ranges. Destinations in them are masqueraded even when a non-masquerade
// range covers them, so that link-local services (a cloud's metadata endpoint at
// 169.254.169.254) see the node, not a pod address they could not answer (R15).
var (
	LinkLocalIPv4 = netip.MustParsePrefix("169.254.0.0/16")
	LinkLocalIPv6 = netip.MustParsePrefix("fe80::/10")
)

// Route sends a peer's block to the peer's node IP of the same family: direct on the node
// network, no encapsulation, so the receiver sees the sender's pod IP (R15).
type Route struct {
	// Dst is the peer's block.
	Dst netip.Prefix
	// Via is the peer's node IP of Dst's family.
	Via netip.Addr
	// Node names the peer; it is for messages only and is not programmed.
	Node string
	// Dev, when set, names the VXLAN device the route goes through (encap.go): Via is
	// then the peer block's network address, on the device's link.
	Dev string
}

// FamilyRules is the SNAT and pod-ingress policy of one IP family. The backend renders it
// as, in this order:
//
//	from PodCIDRs to LinkLocal        -> masquerade
//	from PodCIDRs to NonMasquerade    -> keep the source
//	from PodCIDRs to anything else    -> masquerade to the node address (R15)
//	forwarded to ClusterPodCIDRs, not part of an established or DNATed connection,
//	  from neither ClusterPodCIDRs nor NodeIPs -> drop (R16)
type FamilyRules struct {
	// Family is the IP family.
	Family v1alpha1.IPFamily
	// PodCIDRs are this node's blocks of the family: the sources that are masqueraded.
	PodCIDRs []netip.Prefix
	// LinkLocal is the family's link-local range, masqueraded before any exception.
	LinkLocal netip.Prefix
	// NonMasquerade are the destinations that keep the pod source address, merged: the
	// controller's nonMasqueradeCIDRs plus the whole pod space, because pod-to-pod
	// traffic is never translated whatever the list says (R15).
	NonMasquerade []netip.Prefix
	// ClusterPodCIDRs is the whole pod space of the family, merged: the controller's
	// clusterPodCIDRs plus every block in use.
	ClusterPodCIDRs []netip.Prefix
	// NodeIPs are the node IPs of every node, this one included: nodes may reach pods
	// (R17), nothing else outside the pod space may (R16).
	NodeIPs []netip.Addr
	// LegacySources are addresses that running pods of this node kept from an earlier
	// mode: a NodeSubnet to Overlay migration leaves them on node-subnet addresses until
	// they restart. Their traffic is masqueraded to every destination but this node's own
	// pods (PodCIDRs and LegacySources), because no peer's pod-ingress guard knows them
	// as pod sources (R16). The backend renders, after the PodCIDRs rules:
	//
	//	from LegacySources -> jump legacy
	//	legacy: to PodCIDRs or LegacySources -> keep the source; else masquerade
	LegacySources []netip.Prefix
	// VXLANPort, when not 0, is the UDP port of the family's VXLAN device: the backend
	// drops datagrams to it from anything but a node IP, since a decapsulated packet
	// carries whatever pod source its sender wrote (R16, B9).
	VXLANPort int
}

// ProxyNeighbors are the pod addresses that the node answers ARP for on its uplink. Pods
// in NodeSubnet mode hold addresses of the node subnet (R40), which the node network
// reaches directly: where a cloud's fabric does not deliver them itself, the node that
// hosts the pod claims its address on the shared link, like a cloud's secondary IP.
//
// The backend answers on the interface that holds Uplink, and owns every proxy entry of
// that interface inside the interface's own subnet: it adds the missing ones and removes
// the others. The kernel answers only for an address that it routes out of another
// interface, so a reserved address no pod holds yet is never claimed.
type ProxyNeighbors struct {
	// Uplink is the node's IPv4 address.
	Uplink netip.Addr
	// Addrs are the addresses to answer for, sorted.
	Addrs []netip.Addr
}

// Datapath is what the backend programs into the node's network namespace.
type Datapath struct {
	// Routes holds one route per peer block, sorted by destination.
	Routes []Route
	// Families holds the policy of each family of this node, IPv4 first.
	Families []FamilyRules
	// Proxy are the pod addresses the node answers for on its uplink (NodeSubnet, and
	// pods that kept a node-subnet address across a migration).
	Proxy ProxyNeighbors
	// Tunnels are the VXLAN devices to peers off the node's link, IPv4 first (encap.go);
	// the backend removes the devices of families not listed.
	Tunnels []Tunnel
}

// Result is everything the agent applies for one state of the NodeNetworkConfigs.
type Result struct {
	// Datapath is the kernel state to program.
	Datapath Datapath
	// CNI is the node's CNI configuration.
	CNI CNI
	// Warnings name peers or entries that were skipped and why; the agent logs them.
	Warnings []string
	// Skipped are the peers whose status broke a rule of peers.go, by name: what of them
	// was skipped and why. The rest of each is programmed.
	Skipped []Skipped
	// Paths counts the peers reached directly and through VXLAN (Encapsulate); the agent
	// exports them as metrics.
	Paths Paths
	// PathPolicy says, in words, how this node reaches its peers (directly on its link,
	// through VXLAN elsewhere). It depends only on the node's own uplink and the cluster's
	// setting, never on the peers, so the Programmed message that carries it does not
	// change when a peer joins or leaves (B8).
	PathPolicy string
}

// node is one NodeNetworkConfig's status, parsed.
type node struct {
	name     string
	podCIDRs []netip.Prefix
	nodeIPs  []netip.Addr
	// rank orders peers that claim overlapping blocks: the higher rank wins.
	rank rank
}

// rank prefers the most recently created NodeNetworkConfig: a stale object whose Node
// is gone but whose garbage collection is pending loses to the node that was given the
// block since. Names break ties so that every agent picks the same winner.
type rank struct {
	created int64
	name    string
}

func (r rank) less(o rank) bool {
	return r.created < o.created || (r.created == o.created && r.name > o.name)
}

// Compute returns the datapath and CNI configuration of the node whose NodeNetworkConfig is
// self, given every NodeNetworkConfig of the cluster (self may be among them; objects being
// deleted are ignored) and leases, the addresses the node's pods hold (host-local's
// reservations). It returns ErrNotAllocated while self holds neither a block nor a
// node-subnet reservation.
//
// In Overlay and Kubenet mode the node's pods take addresses from its blocks. In NodeSubnet
// mode they take its reserved node-subnet addresses (R40), which the node network reaches
// without routes: the node answers for them on its uplink (Datapath.Proxy), and its pods
// keep their address inside the VNet and are masqueraded outside it (R42). A lease outside
// the node's current addresses belongs to a pod that kept it across a migration; it stays
// reachable and is masqueraded until the pod goes (FamilyRules.LegacySources).
func Compute(self *v1alpha1.NodeNetworkConfig, all []v1alpha1.NodeNetworkConfig, cluster *Cluster, leases []netip.Addr, opts CNIOptions) (*Result, error) {
	if cluster == nil {
		return nil, ErrNoClusterFacts
	}
	res := &Result{}
	warn := func(format string, args ...any) { res.Warnings = append(res.Warnings, fmt.Sprintf(format, args...)) }

	me, err := cluster.parseSelf(self, warn)
	if err != nil {
		return nil, err
	}
	st := &self.Spec
	maxPods := clampMaxPods(st.MaxPods, st.Mode, warn)

	peers := make([]node, 0, len(all))
	problems := map[int][]string{}
	for i := range all {
		n := &all[i]
		if n.Name == self.Name || !n.DeletionTimestamp.IsZero() {
			continue
		}
		// A peer without a block (NodeSubnet, or not allocated yet) gets no route, but
		// its node IPs may still reach pods (R17).
		p, why := cluster.parsePeer(n)
		if len(why) > 0 {
			problems[len(peers)] = why
		}
		peers = append(peers, p)
	}
	dedupNodeIPs(me.nodeIPs, peers, problems)
	skip(peers, problems)
	res.Skipped = skippedPeers(peers, problems)
	for _, s := range res.Skipped {
		warn("peer %s is skipped: %s (B7)", s.Node, strings.Join(s.Problems, "; "))
	}
	// nodeAddrs names the node that holds each node address; only pods on node-subnet
	// addresses need it.
	nodeAddrMap := sync.OnceValue(func() map[netip.Addr]string {
		m := make(map[netip.Addr]string, len(peers)+1)
		for _, a := range me.nodeIPs {
			m[a] = me.name
		}
		for _, p := range peers {
			for _, a := range p.nodeIPs {
				m[a] = p.name
			}
		}
		return m
	})
	nodeAddrs := func(a netip.Addr) (string, bool) {
		holder, ok := nodeAddrMap()[a]
		return holder, ok
	}

	// sources are the addresses of the node's pods: its blocks, or its reservation.
	var (
		sources  []netip.Prefix
		reserved []nodesubnet.Run
		subnet   netip.Prefix
	)
	if st.Mode == v1alpha1.ModeNodeSubnet {
		if reserved, subnet, err = parseReservation(self, int(maxPods), cluster.NodeNetwork); err != nil {
			return nil, err
		}
		// A node that registered after the reservation was made may hold one of its
		// addresses until the controller moves it (R40): never hand it to a pod.
		reserved = withoutNodeAddrs(reserved, nodeAddrs, warn)
		for _, r := range reserved {
			sources = append(sources, r.Prefixes()...)
		}
		me.podCIDRs = nil // a reservation is not a block: nothing routes to it
	} else {
		sources = me.podCIDRs
	}
	if len(sources) == 0 {
		return nil, ErrNotAllocated
	}
	podSpace := cluster.PodCIDRs()
	nonMasq := cluster.NonMasquerade // one list for every node: a node's object cannot turn off its SNAT (R15, B7)

	// The node's own addresses, blocks or reservation, are never routed away.
	routes, nodeIPs := peerRoutes(node{name: me.name, podCIDRs: sources}, peers, warn)
	res.Datapath.Routes = routes

	legacy := legacyLeases(leases, sources)
	families := familiesOf(sources)
	allNodeIPs := slices.Concat(me.nodeIPs, nodeIPs)
	for _, f := range families {
		fr := FamilyRules{Family: f, LinkLocal: LinkLocalIPv4}
		if f == v1alpha1.IPv6 {
			fr.LinkLocal = LinkLocalIPv6
		}
		fr.PodCIDRs = Merge(ofFamily(sources, f))
		// The pod space that the guard keeps from the outside: blocks only. Node-subnet
		// addresses are the VNet's, which reaches them by design (R42).
		space := slices.Concat(ofFamily(podSpace, f), ofFamily(me.podCIDRs, f))
		for _, r := range routes {
			if familyOf(r.Dst.Addr()) == f {
				space = append(space, r.Dst)
			}
		}
		fr.ClusterPodCIDRs = Merge(space)
		fr.LegacySources = Merge(ofFamily(legacy, f))
		fr.NonMasquerade = Merge(slices.Concat(ofFamily(nonMasq, f), fr.ClusterPodCIDRs, fr.PodCIDRs, fr.LegacySources))
		fr.NodeIPs = sortedAddrs(addrsOfFamily(allNodeIPs, f))
		res.Datapath.Families = append(res.Datapath.Families, fr)
	}
	for _, p := range legacy {
		if !slices.Contains(families, familyOf(p.Addr())) {
			warn("a pod holds %s, of a family this node no longer has; it is not masqueraded", p.Addr())
		}
	}

	// The node's IPv4 address is its uplink and its NodeSubnet pods' gateway.
	nodeIPv4, _ := firstOfFamily(me.nodeIPs, v1alpha1.IPv4)
	res.Datapath.Proxy = proxyNeighbors(reserved, legacy, nodeIPv4, nodeAddrs, warn)

	var (
		cni         CNI
		cniWarnings []string
	)
	if st.Mode == v1alpha1.ModeNodeSubnet {
		cni, err = BuildNodeSubnetCNI(subnet, nodeIPv4, reserved, opts)
	} else {
		cni, cniWarnings, err = BuildCNI(me.podCIDRs, int(maxPods), opts)
	}
	if err != nil {
		return nil, fmt.Errorf("NodeNetworkConfig %q: %w", self.Name, err)
	}
	res.CNI = cni
	res.Warnings = append(res.Warnings, cniWarnings...)
	return res, nil
}

// proxyNeighbors returns what the node answers for on its uplink: its node-subnet pods
// (reserved) and the IPv4 pods that kept a node-subnet address across a migration
// (legacy), but never a node's address (nodeAddrs names their holders). uplink is the
// node's IPv4 address, invalid when it has none.
func proxyNeighbors(reserved []nodesubnet.Run, legacy []netip.Prefix, uplink netip.Addr, nodeAddrs func(netip.Addr) (string, bool), warn func(string, ...any)) ProxyNeighbors {
	var out ProxyNeighbors
	for _, r := range reserved {
		for a := r.First; r.Contains(a); a = a.Next() {
			out.Addrs = append(out.Addrs, a)
		}
	}
	for _, p := range legacy {
		a := p.Addr()
		if holder, ok := nodeAddrs(a); ok {
			// Answering for it would take the address from its node.
			warn("a pod holds %s, the address of node %s; the node does not answer for it", a, holder)
			continue
		}
		if a.Is4() {
			out.Addrs = append(out.Addrs, a)
		}
	}
	out.Addrs = sortedAddrs(out.Addrs)
	// The uplink is named only when there is something to answer for, so that a node
	// that never held node-subnet pods leaves its interface's proxy entries alone.
	if len(out.Addrs) > 0 {
		if !uplink.IsValid() {
			warn("the node has no IPv4 node IP: nothing answers for its %d node-subnet pod addresses", len(out.Addrs))
		}
		out.Uplink = uplink
	}
	return out
}

// parseReservation reads a NodeSubnet node's reserved addresses and their subnet. The
// reservation must lie inside the subnet, be IPv4 (the controller reserves from the IPv4
// node subnet, R40) and hold at most maxPods addresses: the CNI configuration hands out
// exactly the reservation.
func parseReservation(self *v1alpha1.NodeNetworkConfig, maxPods int, nodeNetwork []netip.Prefix) ([]nodesubnet.Run, netip.Prefix, error) {
	st := &self.Spec
	if len(st.ReservedIPs) > maxReservedEntries {
		return nil, netip.Prefix{}, fmt.Errorf("NodeNetworkConfig %q: spec.reservedIPs holds %d entries, more than %d (R41)", self.Name, len(st.ReservedIPs), maxReservedEntries)
	}
	runs, err := nodesubnet.ParseReserved(st.ReservedIPs)
	if err != nil {
		return nil, netip.Prefix{}, fmt.Errorf("NodeNetworkConfig %q: spec.%w", self.Name, err)
	}
	if len(runs) == 0 {
		return nil, netip.Prefix{}, nil
	}
	subnet, err := netip.ParsePrefix(st.NodeSubnet)
	if err != nil || subnet != subnet.Masked() {
		return nil, netip.Prefix{}, fmt.Errorf("NodeNetworkConfig %q: spec.nodeSubnet %q is not a canonical CIDR; the reservation %v needs its subnet (R40)", self.Name, st.NodeSubnet, st.ReservedIPs)
	}
	total := 0
	for _, r := range runs {
		if !r.First.Is4() {
			return nil, netip.Prefix{}, fmt.Errorf("NodeNetworkConfig %q: reserved addresses %s-%s are not IPv4: NodeSubnet pods take IPv4 node-subnet addresses (R40)", self.Name, r.First, r.Last)
		}
		if !subnet.Contains(r.First) || !subnet.Contains(r.Last) {
			return nil, netip.Prefix{}, fmt.Errorf("NodeNetworkConfig %q: reserved addresses %s-%s lie outside spec.nodeSubnet %s (R40)", self.Name, r.First, r.Last, subnet)
		}
		total += min(r.Len(), math.MaxInt/2)
	}
	if why := checkPrefix(subnet); why != "" || !slices.ContainsFunc(nodeNetwork, func(p netip.Prefix) bool { return p.Bits() <= subnet.Bits() && p.Contains(subnet.Addr()) }) {
		return nil, netip.Prefix{}, fmt.Errorf("NodeNetworkConfig %q: spec.nodeSubnet %s is not a subnet of the node network %v (R40, B7)", self.Name, subnet, nodeNetwork)
	}
	if total > maxPods {
		return nil, netip.Prefix{}, fmt.Errorf("NodeNetworkConfig %q: spec.reservedIPs hold %d addresses, more than maxPods %d (R40, R41)", self.Name, total, maxPods)
	}
	return runs, subnet, nil
}

// withoutNodeAddrs returns the runs without the addresses that belong to nodes (nodeAddrs
// names their holders), splitting runs around them, and names each one dropped in a
// warning. It looks up each reserved address, at most MaxMaxPods of them (parseReservation),
// so its cost does not grow with the cluster.
func withoutNodeAddrs(runs []nodesubnet.Run, nodeAddrs func(netip.Addr) (string, bool), warn func(string, ...any)) []nodesubnet.Run {
	var hit []netip.Addr
	for _, r := range runs {
		for a := r.First; a.IsValid() && r.Contains(a); a = a.Next() {
			if _, ok := nodeAddrs(a); ok {
				hit = append(hit, a)
			}
		}
	}
	if len(hit) == 0 {
		return runs
	}
	slices.SortFunc(hit, netip.Addr.Compare)
	hit = slices.Compact(hit)
	out := make([]nodesubnet.Run, 0, len(runs)+len(hit))
	for _, r := range runs {
		for _, a := range hit {
			if !r.Contains(a) {
				continue
			}
			holder, _ := nodeAddrs(a)
			warn("reserved address %s is the address of node %s; no pod gets it (R40)", a, holder)
			if a != r.First {
				out = append(out, nodesubnet.Run{First: r.First, Last: a.Prev()})
			}
			if a == r.Last {
				r.First = netip.Addr{}
				break
			}
			r.First = a.Next()
		}
		if r.First.IsValid() {
			out = append(out, r)
		}
	}
	return out
}

// legacyLeases returns, as host prefixes, the leases that lie outside the node's own
// addresses.
func legacyLeases(leases []netip.Addr, own []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, a := range leases {
		a = a.Unmap()
		if !a.IsValid() || slices.ContainsFunc(own, func(p netip.Prefix) bool { return p.Contains(a) }) {
			continue
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out
}

// peerRoutes returns one route per peer block via the peer's node IP of the block's
// family, sorted by destination, and the node IPs of every peer. A block that overlaps one
// of this node's blocks is never routed away; of peers whose blocks overlap each other the
// higher rank wins.
//
// CIDRs either nest or are disjoint, so after sorting by address the blocks that overlap
// form runs under a root that contains the rest: conflicts are resolved inside each run,
// and the whole costs one sort (5,000 peers, R13).
// candidate is a block that may be routed.
type candidate struct {
	Route
	// peer indexes peers; -1 for this node's own blocks.
	peer int
}

func (c candidate) dst() netip.Prefix { return c.Dst }

func peerRoutes(me node, peers []node, warn func(string, ...any)) ([]Route, []netip.Addr) {
	cands := make([]candidate, 0, len(me.podCIDRs)+2*len(peers))
	for _, p := range me.podCIDRs {
		cands = append(cands, candidate{Route: Route{Dst: p, Node: me.name}, peer: -1})
	}
	ips := make([]netip.Addr, 0, 2*len(peers))
	for i, p := range peers {
		ips = append(ips, p.nodeIPs...)
		for _, dst := range p.podCIDRs {
			via, ok := firstOfFamily(p.nodeIPs, familyOf(dst.Addr()))
			if !ok {
				warn("peer %s has no %s node IP; no route to its block %s", p.name, familyOf(dst.Addr()), dst)
				continue
			}
			cands = append(cands, candidate{Route: Route{Dst: dst, Via: via, Node: p.name}, peer: i})
		}
	}
	cands = sortByPrefix(cands)

	routes := make([]Route, 0, len(cands))
	for i := 0; i < len(cands); {
		j := i + 1
		for j < len(cands) && cands[i].Dst.Contains(cands[j].Dst.Addr()) {
			j++
		}
		run := cands[i:j]
		i = j
		if len(run) == 1 {
			if run[0].peer >= 0 {
				routes = append(routes, run[0].Route)
			}
			continue
		}
		// The node's own blocks first, then peers by rank; each keeps its block unless
		// it overlaps one kept before it.
		order := make([]int, len(run))
		for k := range order {
			order[k] = k
		}
		slices.SortStableFunc(order, func(x, y int) int {
			a, b := run[x].peer, run[y].peer
			switch {
			case a < 0 || b < 0:
				return cmp.Compare(a, b) // the node's own first
			case peers[b].rank.less(peers[a].rank):
				return -1
			case peers[a].rank.less(peers[b].rank):
				return 1
			}
			return 0
		})
		kept := make([]bool, len(run))
		for _, k := range order {
			c := run[k]
			clash := -1
			for m := range run {
				if kept[m] && run[m].Dst.Overlaps(c.Dst) {
					clash = m
					break
				}
			}
			if clash >= 0 {
				warn("peer %s claims %s, which overlaps a block of %s; no route to it", c.Node, c.Dst, run[clash].Node)
				continue
			}
			kept[k] = true
		}
		for k, c := range run {
			if kept[k] && c.peer >= 0 {
				routes = append(routes, c.Route)
			}
		}
	}
	return routes, ips
}

// sortByPrefix returns cands ordered by ComparePrefix of their destinations. It sorts small
// pointer-free keys and moves each candidate once: sorting the candidates themselves
// moves strings and netip values, write barriers included, O(n log n) times, and was most
// of an agent's work per peer change at 5,000 peers (B8).
func sortByPrefix[T interface{ dst() netip.Prefix }](cands []T) []T {
	type key struct {
		addr [16]byte
		is6  bool
		bits int16
		i    int32
	}
	keys := make([]key, len(cands))
	for i, c := range cands {
		p := c.dst()
		keys[i] = key{addr: p.Addr().As16(), is6: !p.Addr().Is4(), bits: int16(p.Bits()), i: int32(i)}
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.is6 != b.is6 {
			if a.is6 {
				return 1
			}
			return -1
		}
		if c := bytes.Compare(a.addr[:], b.addr[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.bits, b.bits)
	})
	out := make([]T, len(cands))
	for i, k := range keys {
		out[i] = cands[k.i]
	}
	return out
}

// Merge sorts prefixes and drops every one contained in another.
func Merge(in []netip.Prefix) []netip.Prefix {
	ps := slices.Clone(in)
	for i := range ps {
		ps[i] = ps[i].Masked()
	}
	slices.SortFunc(ps, ComparePrefix)
	out := ps[:0]
	for _, p := range ps {
		// Sorted by address then length, a prefix is covered by an earlier one exactly
		// when the last kept prefix contains its address and is no longer.
		if n := len(out); n > 0 && out[n-1].Bits() <= p.Bits() && out[n-1].Contains(p.Addr()) {
			continue
		}
		out = append(out, p)
	}
	return slices.Clip(out)
}

// ComparePrefix orders prefixes by family, address, then length.
func ComparePrefix(a, b netip.Prefix) int {
	if c := a.Addr().Compare(b.Addr()); c != 0 {
		return c
	}
	return cmp.Compare(a.Bits(), b.Bits())
}

func parsePrefixes(path string, in []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(in))
	for i, s := range in {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %q is not a CIDR", path, i, s)
		}
		if p != p.Masked() {
			return nil, fmt.Errorf("%s[%d]: %s is not canonical, did you mean %s?", path, i, s, p.Masked())
		}
		out = append(out, p)
	}
	return out, nil
}

func familyOf(a netip.Addr) v1alpha1.IPFamily {
	if a.Unmap().Is4() {
		return v1alpha1.IPv4
	}
	return v1alpha1.IPv6
}

// familiesOf lists the families present, IPv4 first.
func familiesOf(ps []netip.Prefix) []v1alpha1.IPFamily {
	var out []v1alpha1.IPFamily
	for _, f := range []v1alpha1.IPFamily{v1alpha1.IPv4, v1alpha1.IPv6} {
		if len(ofFamily(ps, f)) > 0 {
			out = append(out, f)
		}
	}
	return out
}

func ofFamily(ps []netip.Prefix, f v1alpha1.IPFamily) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range ps {
		if familyOf(p.Addr()) == f {
			out = append(out, p)
		}
	}
	return out
}

func addrsOfFamily(as []netip.Addr, f v1alpha1.IPFamily) []netip.Addr {
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		if familyOf(a) == f {
			out = append(out, a)
		}
	}
	return out
}

func firstOfFamily(as []netip.Addr, f v1alpha1.IPFamily) (netip.Addr, bool) {
	for _, a := range as {
		if familyOf(a) == f {
			return a, true
		}
	}
	return netip.Addr{}, false
}

func sortedAddrs(as []netip.Addr) []netip.Addr {
	slices.SortFunc(as, netip.Addr.Compare)
	return slices.Compact(as)
}
