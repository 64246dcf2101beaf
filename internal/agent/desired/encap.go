package desired

import (
	"crypto/sha256"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/netconf"
)

// Across subnets (B9). Compute routes every peer block to the peer's node IP, which the
// kernel accepts only when that IP is on the node's own link. Encapsulate then moves the
// routes to peers elsewhere onto a VXLAN device of the block's family, flannel's
// DirectRouting and Calico's CrossSubnet scheme:
//
//	10.244.2.0/24 via 10.244.2.0 dev overlaynet.vx4 onlink       (route, owned as before)
//	neigh 10.244.2.0 lladdr 02:4f:0a:02:00:05 PERMANENT          (peer block -> peer VTEP MAC)
//	fdb   02:4f:0a:02:00:05 dst 10.2.0.5 self permanent           (peer VTEP MAC -> peer node IP)
//
// The gateway of an encapsulated route is the network address of the peer's block, which
// no pod holds (host-local starts after the gateway, the first host). The device holds the
// network address of this node's own block, so the host's own packets to encapsulated
// pods leave with a pod-space source that the peer's guard admits (R16, R17) and whose
// replies come back through the tunnel, symmetric for reverse-path filters.
//
// VTEP MACs are derived from node IPs (TunnelMAC), never published: the agent may write
// nothing but its own Programmed condition, and every agent computes every peer's MAC
// from the peer's NodeNetworkConfig alone.
//
// Each family's pods ride the underlay of the same family: IPv4 blocks over IPv4 node IPs,
// IPv6 blocks over IPv6 node IPs, as direct routes already require. A peer without a node
// IP of the family gets no route of that family (Compute warns), whatever the mode.

// Underlay is what the node's network namespace says about its link to the node network.
// The agent reads it from the kernel (the interface holding the node IP, the uplink).
type Underlay struct {
	// Connected are the prefixes of the uplink's addresses, both families: a peer whose
	// node IP lies inside one of them is on the node's own link.
	Connected []netip.Prefix
	// MTU is the uplink's MTU; 0 when unknown.
	MTU int
}

// Tunnel is the VXLAN device that carries one pod family to the peers off the link.
type Tunnel struct {
	// Family is the pod family the device carries, and its underlay's.
	Family v1alpha1.IPFamily
	// Name is the device's name (TunnelName).
	Name string
	// VNI and Port are the VXLAN network identifier and UDP port.
	VNI, Port int
	// Local is this node's node IP of the family: the outer source.
	Local netip.Addr
	// MAC is the device's address, TunnelMAC(Local).
	MAC net.HardwareAddr
	// Addr is the device's own address, the network address of the node's block of the
	// family; invalid when the node has no block of the family.
	Addr netip.Addr
	// MTU is the device's MTU: the uplink's less the encapsulation; 0 leaves the kernel's.
	MTU int
	// Peers are the encapsulated peer blocks, sorted by gateway.
	Peers []TunnelPeer
}

// TunnelPeer is one encapsulated peer block: a neighbour entry and a forwarding entry.
type TunnelPeer struct {
	// Gateway is the route's next hop, the network address of the peer's block.
	Gateway netip.Addr
	// MAC is the peer's VTEP MAC, TunnelMAC(Remote).
	MAC net.HardwareAddr
	// Remote is the peer's node IP, the outer destination.
	Remote netip.Addr
	// Node names the peer, for messages.
	Node string
}

// Paths counts the peers reached each way, for the Programmed message and the metrics.
type Paths struct {
	// Direct and Encapsulated count peer nodes; a dual-stack peer counts once, as
	// encapsulated when any of its blocks is.
	Direct, Encapsulated int
}

// TunnelName is the name of the device of a family: the agent owns exactly these names.
func TunnelName(f v1alpha1.IPFamily) string {
	if f == v1alpha1.IPv6 {
		return "overlaynet.vx6"
	}
	return "overlaynet.vx4"
}

// TunnelMAC derives a node's VTEP MAC from its node IP: a locally administered unicast
// address. From an IPv4 address it is 02:4f followed by the address, so distinct IPv4 node
// IPs never share a MAC. From an IPv6 address it is 46 bits of its SHA-256, so at 65,536
// nodes two share a MAC with a chance of about 3 in 100,000; Encapsulate detects it and
// refuses the later peer rather than deliver one peer's pods to another.
func TunnelMAC(a netip.Addr) net.HardwareAddr {
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		return net.HardwareAddr{0x02, 0x4f, b[0], b[1], b[2], b[3]}
	}
	b := a.As16()
	h := sha256.Sum256(b[:])
	return net.HardwareAddr{h[0]&0xfc | 0x02, h[1], h[2], h[3], h[4], h[5]}
}

// tunnelMAC is TunnelMAC; tests replace it to make MACs collide.
var tunnelMAC = TunnelMAC

// TunnelOverhead is the VXLAN overhead over the underlay of a family.
func TunnelOverhead(f v1alpha1.IPFamily) int {
	if f == v1alpha1.IPv6 {
		return netconf.VXLANOverheadIPv6
	}
	return netconf.VXLANOverheadIPv4
}

// PodMTU returns the MTU the node's pods get: the one the user set, else, when the mode
// may encapsulate and the uplink's MTU is known, the uplink's less the largest overhead of
// the node's families (one pod interface carries both), else 0 (the plugin's default, the
// host's). Pods rather than TCP MSS clamping: a smaller MTU fits UDP, ICMP and every
// other protocol through the tunnel, costs direct paths about 3% of their bytes per
// packet, and needs no per-packet rule. It is an error when the result is below 1280 (X2).
func PodMTU(cs netconf.CrossSubnet, u Underlay, families []v1alpha1.IPFamily) (int, error) {
	if cs.PodMTU > 0 {
		return cs.PodMTU, nil
	}
	if !cs.MayEncapsulate() || u.MTU <= 0 {
		return 0, nil
	}
	overhead := 0
	for _, f := range families {
		overhead = max(overhead, TunnelOverhead(f))
	}
	mtu := u.MTU - overhead
	if mtu < v1alpha1.MinPodMTU {
		return 0, fmt.Errorf("the uplink's MTU %d less the VXLAN overhead of %d leaves pods %d bytes, below %d (X2): raise the uplink's MTU or set crossSubnet.mode Direct",
			u.MTU, overhead, mtu, v1alpha1.MinPodMTU)
	}
	return mtu, nil
}

// Encapsulate moves the routes of dp that must not go direct onto a VXLAN device of their
// family, per cs: in CrossSubnet mode those whose node IP lies outside every prefix of
// u.Connected, in VXLAN mode all, in Direct mode none. self is this node's
// NodeNetworkConfig, for its node IPs and blocks. It returns the path counts and warnings
// for routes it had to drop.
func Encapsulate(dp *Datapath, self *v1alpha1.NodeNetworkConfig, cs netconf.CrossSubnet, u Underlay) (Paths, []string) {
	var warnings []string
	warn := func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }
	me := ownAddresses(self)

	direct := map[string]bool{}
	encap := map[string]bool{}
	tunnels := map[v1alpha1.IPFamily]*Tunnel{}
	// macs names the node that owns each MAC of each device, this node included.
	macs := map[v1alpha1.IPFamily]map[string]string{}
	routes := dp.Routes[:0]
	for _, r := range dp.Routes {
		if !mustEncapsulate(cs, u, r.Via) {
			direct[r.Node] = true
			routes = append(routes, r)
			continue
		}
		f := familyOf(r.Dst.Addr())
		t := tunnels[f]
		if t == nil {
			local, ok := firstOfFamily(me.nodeIPs, f)
			if !ok {
				warn("the node has no %s node IP to encapsulate from; no route to %s of peer %s (B9)", f, r.Dst, r.Node)
				continue
			}
			t = &Tunnel{Family: f, Name: TunnelName(f), VNI: cs.VNI, Port: cs.Port, Local: local, MAC: tunnelMAC(local)}
			if own := ofFamily(me.podCIDRs, f); len(own) > 0 {
				t.Addr = own[0].Masked().Addr()
			}
			if u.MTU > 0 {
				t.MTU = u.MTU - TunnelOverhead(f)
			}
			tunnels[f] = t
			macs[f] = map[string]string{t.MAC.String(): me.name}
		}
		mac := tunnelMAC(r.Via)
		if holder, ok := macs[f][mac.String()]; ok && holder != r.Node {
			warn("peer %s's VTEP MAC %s, derived from node IP %s, is also %s's; no route to its block %s (B9)", r.Node, mac, r.Via, holder, r.Dst)
			continue
		}
		macs[f][mac.String()] = r.Node
		gw := r.Dst.Masked().Addr()
		t.Peers = append(t.Peers, TunnelPeer{Gateway: gw, MAC: mac, Remote: r.Via, Node: r.Node})
		encap[r.Node] = true
		routes = append(routes, Route{Dst: r.Dst, Via: gw, Node: r.Node, Dev: t.Name})
	}
	dp.Routes = routes
	dp.Tunnels = nil
	for _, f := range []v1alpha1.IPFamily{v1alpha1.IPv4, v1alpha1.IPv6} {
		if t := tunnels[f]; t != nil {
			slices.SortFunc(t.Peers, func(a, b TunnelPeer) int { return a.Gateway.Compare(b.Gateway) })
			dp.Tunnels = append(dp.Tunnels, *t)
		}
	}
	for i := range dp.Families {
		if tunnels[dp.Families[i].Family] != nil {
			dp.Families[i].VXLANPort = cs.Port
		}
	}
	paths := Paths{Encapsulated: len(encap)}
	for n := range direct {
		if !encap[n] {
			paths.Direct++
		}
	}
	return paths, warnings
}

// mustEncapsulate says whether a route via the node IP via goes through the tunnel.
func mustEncapsulate(cs netconf.CrossSubnet, u Underlay, via netip.Addr) bool {
	switch cs.Mode {
	case v1alpha1.CrossSubnetModeDirect:
		return false
	case v1alpha1.CrossSubnetModeVXLAN:
		return true
	}
	return !slices.ContainsFunc(u.Connected, func(p netip.Prefix) bool { return p.Contains(via) })
}

// ownAddresses reads the node's own blocks and node IPs for its VXLAN devices. Encapsulate
// runs after Compute, which has already refused an own status that breaks the cluster's
// rules (B7), so entries that do not parse are simply left out here.
func ownAddresses(self *v1alpha1.NodeNetworkConfig) node {
	n := node{name: self.Name}
	for _, s := range self.Spec.PodCIDRs {
		if p, err := netip.ParsePrefix(s); err == nil {
			n.podCIDRs = append(n.podCIDRs, p)
		}
	}
	for _, s := range self.Spec.NodeIPs {
		if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" && !a.Is4In6() {
			n.nodeIPs = append(n.nodeIPs, a)
		}
	}
	return n
}
