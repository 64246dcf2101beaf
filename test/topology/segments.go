package topology

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
)

// Segment is one L2 segment of a routed node network: a bridge, its subnets, its nodes.
type Segment struct {
	// Nodes names the segment's node hosts: node i takes host address 4+i of each subnet.
	Nodes []string
	// Net4 and Net6 are the segment's subnets; Net6 invalid for IPv4 only. The router
	// takes host address 1 of each.
	Net4, Net6 netip.Prefix
}

// RoutedConfig describes node networks of several L2 segments joined by a router that
// knows only their subnets: no pod route, so a pod packet that leaves a segment with its
// pod address either crosses encapsulated or goes nowhere (B9).
type RoutedConfig struct {
	// Segments are the node segments; the first holds the nodes listed first.
	Segments []Segment
	// Outside is the external host's segment, behind the router too; it holds no node.
	// The external host takes host address 200 of each subnet.
	Outside Segment
	// WorkDir holds each host's CNI configuration, IPAM reservations and CNI cache.
	WorkDir string
}

// Routed is a running routed node network. Topology.VNet holds the bridges, Nodes every
// node in segment order, External the outside host.
type Routed struct {
	*Topology
	// Router joins the segments: one interface (seg0, seg1, ..., outside) per segment.
	Router *Host
	// SegmentOf names the index of each node's segment.
	SegmentOf map[string]int
}

// NewRouted builds the routed network. Every host has a default route via the router, as
// a node's default gateway would be. On error it tears down what it built.
func NewRouted(cfg RoutedConfig) (_ *Routed, err error) {
	r := &Routed{Topology: &Topology{VNet: netns.None(), Families: []v1alpha1.IPFamily{v1alpha1.IPv4}}, SegmentOf: map[string]int{}}
	if cfg.Outside.Net6.IsValid() {
		r.Families = append(r.Families, v1alpha1.IPv6)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, r.Close())
		}
	}()
	if r.VNet, err = NewNetNS(); err != nil {
		return nil, err
	}
	vnet, err := netlink.NewHandleAt(r.VNet, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening netlink in the bridges' namespace: %w", err)
	}
	defer vnet.Close()
	r.Router = &Host{Name: "router", NS: netns.None(), Dir: filepath.Join(cfg.WorkDir, "router")}
	if r.Router.NS, err = NewNetNS(); err != nil {
		return nil, err
	}
	if err := r.Router.InNetNS(func() error {
		return errors.Join(os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644),
			os.WriteFile("/proc/sys/net/ipv6/conf/all/forwarding", []byte("1"), 0o644))
	}); err != nil {
		return nil, fmt.Errorf("turning on forwarding in the router: %w", err)
	}

	segs := append(append([]Segment{}, cfg.Segments...), cfg.Outside)
	for si, seg := range segs {
		name := fmt.Sprintf("seg%d", si)
		if si == len(segs)-1 {
			name = "outside"
		}
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}
		if err := vnet.LinkAdd(br); err != nil {
			return nil, fmt.Errorf("adding bridge %s: %w", name, err)
		}
		if err := vnet.LinkSetUp(br); err != nil {
			return nil, fmt.Errorf("setting bridge %s up: %w", name, err)
		}
		nets := []netip.Prefix{seg.Net4, seg.Net6}
		addrsOf := func(n uint64) []netip.Addr {
			var out []netip.Addr
			for _, p := range nets {
				if p.IsValid() {
					out = append(out, nth(p, n))
				}
			}
			return out
		}
		// The router's leg on this segment.
		if err := plug(vnet, br, r.Router, "r-"+name, name, addrsOf(1), nets); err != nil {
			return nil, err
		}
		gws := addrsOf(1)
		hosts := seg.Nodes
		if si == len(segs)-1 {
			hosts = []string{"external"}
		}
		for i, hn := range hosts {
			n := uint64(4 + i)
			if si == len(segs)-1 {
				n = 200
			}
			h := &Host{Name: hn, NS: netns.None(), Addrs: addrsOf(n), Dir: filepath.Join(cfg.WorkDir, hn)}
			for _, d := range []string{h.CNIConfDir(), h.IPAMDataDir(), h.CNICacheDir()} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return nil, err
				}
			}
			if h.NS, err = NewNetNS(); err != nil {
				return nil, err
			}
			if si == len(segs)-1 {
				r.External = h
			} else {
				r.Nodes = append(r.Nodes, h)
				r.SegmentOf[hn] = si
			}
			if err := plug(vnet, br, h, fmt.Sprintf("%s-%d", name, i), "eth0", h.Addrs, nets); err != nil {
				return nil, err
			}
			if err := defaultRoutes(h, gws); err != nil {
				return nil, err
			}
		}
	}
	return r, nil
}

// plug connects host h to bridge br with a veth pair (port on the bridge side, ifname in
// h) and gives ifname addrs, each with the prefix length of its subnet in nets.
func plug(vnet *netlink.Handle, br *netlink.Bridge, h *Host, port, ifname string, addrs []netip.Addr, nets []netip.Prefix) error {
	veth := &netlink.Veth{
		LinkAttrs:     netlink.LinkAttrs{Name: port, MasterIndex: br.Index},
		PeerName:      ifname,
		PeerNamespace: netlink.NsFd(int(h.NS)),
	}
	if err := vnet.LinkAdd(veth); err != nil {
		return fmt.Errorf("adding the veth of %s on %s: %w", h.Name, br.Name, err)
	}
	if err := vnet.LinkSetUp(veth); err != nil {
		return fmt.Errorf("setting %s up: %w", port, err)
	}
	nl, err := netlink.NewHandleAt(h.NS, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer nl.Close()
	l, err := nl.LinkByName(ifname)
	if err != nil {
		return fmt.Errorf("finding %s of %s: %w", ifname, h.Name, err)
	}
	for _, a := range addrs {
		p := nets[0]
		if a.Is6() {
			p = nets[1]
		}
		if err := nl.AddrAdd(l, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(a, p.Bits()))}); err != nil {
			return fmt.Errorf("adding %s to %s of %s: %w", a, ifname, h.Name, err)
		}
	}
	if err := nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("setting %s of %s up: %w", ifname, h.Name, err)
	}
	return nil
}

// defaultRoutes gives h a default route per family via its segment's router address.
func defaultRoutes(h *Host, gws []netip.Addr) error {
	nl, err := netlink.NewHandleAt(h.NS, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer nl.Close()
	for _, gw := range gws {
		if err := nl.RouteAdd(&netlink.Route{Gw: gw.AsSlice()}); err != nil {
			return fmt.Errorf("adding the default route of %s via %s: %w", h.Name, gw, err)
		}
	}
	return nil
}

// Close destroys the router and every namespace of the topology.
func (r *Routed) Close() error {
	var errs []error
	if r.Router != nil && r.Router.NS.IsOpen() {
		errs = append(errs, r.Router.NS.Close())
		r.Router.NS = netns.None()
	}
	return errors.Join(append(errs, r.Topology.Close())...)
}

// NodeAddrs returns the addresses node name takes on its segment, IPv4 first, known before
// the network is built (what its Node object reports); nil for an unknown name.
func (cfg RoutedConfig) NodeAddrs(name string) []netip.Addr {
	for _, seg := range cfg.Segments {
		for i, n := range seg.Nodes {
			if n != name {
				continue
			}
			var out []netip.Addr
			for _, p := range []netip.Prefix{seg.Net4, seg.Net6} {
				if p.IsValid() {
					out = append(out, nth(p, uint64(4+i)))
				}
			}
			return out
		}
	}
	return nil
}
