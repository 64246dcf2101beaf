package topology

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent/datapath/linux"
)

// Config describes a topology.
type Config struct {
	// Nodes names the node hosts.
	Nodes []string
	// VNet4 is the node network's IPv4 subnet: node i takes host address 4+i (the cloud
	// keeps the first ones, R14), the external host takes 200.
	VNet4 netip.Prefix
	// VNet6 is the node network's IPv6 subnet, same host numbers; invalid for IPv4 only.
	VNet6 netip.Prefix
	// WorkDir holds each host's CNI configuration, IPAM reservations and CNI cache.
	WorkDir string
}

// NodeAddrs returns the addresses node i of Nodes takes on the VNet, IPv4 first: what its
// Node object reports, known before the topology is built.
func (cfg Config) NodeAddrs(i int) []netip.Addr { return cfg.hostAddrs(uint64(4 + i)) }

// hostAddrs returns host number n of each of the VNet's subnets, IPv4 first.
func (cfg Config) hostAddrs(n uint64) []netip.Addr {
	var out []netip.Addr
	for _, p := range []netip.Prefix{cfg.VNet4, cfg.VNet6} {
		if p.IsValid() {
			out = append(out, nth(p, n))
		}
	}
	return out
}

// Host is a node or the external host: a namespace with one interface, eth0, on the VNet.
type Host struct {
	// Name is the host's name; for a node, its Node name.
	Name string
	// NS is the host's network namespace.
	NS netns.NsHandle
	// Addrs are eth0's addresses, IPv4 first.
	Addrs []netip.Addr
	// Dir is the host's working directory.
	Dir string
}

// The host's CNI directories.
func (h *Host) CNIConfDir() string  { return filepath.Join(h.Dir, "net.d") }
func (h *Host) IPAMDataDir() string { return filepath.Join(h.Dir, "ipam") }
func (h *Host) CNICacheDir() string { return filepath.Join(h.Dir, "cni-cache") }

// Addr returns the host's address of a family.
func (h *Host) Addr(f v1alpha1.IPFamily) netip.Addr { return addrOf(h.Addrs, f) }

// addrOf returns the first address of as in family f.
func addrOf(as []netip.Addr, f v1alpha1.IPFamily) netip.Addr {
	for _, a := range as {
		if (f == v1alpha1.IPv4) == a.Is4() {
			return a
		}
	}
	return netip.Addr{}
}

// Topology is a running simulated node network.
type Topology struct {
	// VNet is the namespace holding the bridge.
	VNet netns.NsHandle
	// Nodes are the node hosts, in Config order.
	Nodes []*Host
	// External is a host on the VNet that is not a node.
	External *Host
	// Families are the IP families of the VNet, IPv4 first.
	Families []v1alpha1.IPFamily
}

// New builds the topology. On error it tears down what it built.
func New(cfg Config) (_ *Topology, err error) {
	t := &Topology{VNet: netns.None(), Families: []v1alpha1.IPFamily{v1alpha1.IPv4}}
	if cfg.VNet6.IsValid() {
		t.Families = append(t.Families, v1alpha1.IPv6)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, t.Close())
		}
	}()
	if t.VNet, err = NewNetNS(); err != nil {
		return nil, err
	}
	vnet, err := netlink.NewHandleAt(t.VNet, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening netlink in the VNet namespace: %w", err)
	}
	defer vnet.Close()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "vnet"}}
	if err := vnet.LinkAdd(br); err != nil {
		return nil, fmt.Errorf("adding the VNet bridge: %w", err)
	}
	if err := vnet.LinkSetUp(br); err != nil {
		return nil, fmt.Errorf("setting the VNet bridge up: %w", err)
	}

	attach := func(name string, addrs []netip.Addr, port string) (*Host, error) {
		h := &Host{Name: name, NS: netns.None(), Addrs: addrs, Dir: filepath.Join(cfg.WorkDir, name)}
		for _, d := range []string{h.CNIConfDir(), h.IPAMDataDir(), h.CNICacheDir()} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return h, err
			}
		}
		var err error
		if h.NS, err = NewNetNS(); err != nil {
			return h, err
		}
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: port, MasterIndex: br.Index},
			PeerName:      "eth0",
			PeerNamespace: netlink.NsFd(int(h.NS)),
		}
		if err := vnet.LinkAdd(veth); err != nil {
			return h, fmt.Errorf("adding the veth of %s: %w", name, err)
		}
		if err := vnet.LinkSetUp(veth); err != nil {
			return h, fmt.Errorf("setting %s up: %w", port, err)
		}
		return h, configureEth0(h, cfg)
	}
	for i, name := range cfg.Nodes {
		h, err := attach(name, cfg.NodeAddrs(i), fmt.Sprintf("node%d", i))
		if h != nil && h.NS.IsOpen() {
			t.Nodes = append(t.Nodes, h)
		}
		if err != nil {
			return nil, fmt.Errorf("attaching node %s: %w", name, err)
		}
	}
	h, err := attach("external", cfg.hostAddrs(200), "external")
	if h != nil && h.NS.IsOpen() {
		t.External = h
	}
	if err != nil {
		return nil, fmt.Errorf("attaching the external host: %w", err)
	}
	return t, nil
}

// configureEth0 addresses eth0 and sets it up. Hosts get no default route: the VNet has no
// uplink, and a pod CIDR is routed nowhere on it (R16).
func configureEth0(h *Host, cfg Config) error {
	nl, eth0, err := h.eth0()
	if err != nil {
		return err
	}
	defer nl.Close()
	for _, a := range h.Addrs {
		p := cfg.VNet4
		if a.Is6() {
			p = cfg.VNet6
		}
		if err := nl.AddrAdd(eth0, &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(a, p.Bits()))}); err != nil {
			return fmt.Errorf("adding %s to eth0 of %s: %w", a, h.Name, err)
		}
	}
	if err := nl.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("setting eth0 of %s up: %w", h.Name, err)
	}
	return nil
}

// Node returns the node host with this name, or nil.
func (t *Topology) Node(name string) *Host {
	for _, h := range t.Nodes {
		if h.Name == name {
			return h
		}
	}
	return nil
}

// Close destroys every namespace of the topology. Pods must be deleted first (their
// namespaces are the caller's).
func (t *Topology) Close() error {
	var errs []error
	for _, h := range slices.Concat(t.Nodes, []*Host{t.External}) {
		if h != nil && h.NS.IsOpen() {
			errs = append(errs, h.NS.Close())
			h.NS = netns.None()
		}
	}
	if t.VNet.IsOpen() {
		errs = append(errs, t.VNet.Close())
		t.VNet = netns.None()
	}
	return errors.Join(errs...)
}

// RouteVia adds, on host h, a route to dst via gw: what a host on the VNet would do to reach
// a pod CIDR through a node by hand (R16).
func (h *Host) RouteVia(dst netip.Prefix, gw netip.Addr) error {
	nl, err := netlink.NewHandleAt(h.NS, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer nl.Close()
	return nl.RouteAdd(&netlink.Route{Dst: ipNet(dst), Gw: gw.AsSlice()})
}

// InNetNS runs fn inside the host's namespace.
func (h *Host) InNetNS(fn func() error) error { return linux.InNetNS(h.NS, fn) }

// nth returns the n-th address of p.
func nth(p netip.Prefix, n uint64) netip.Addr {
	a := p.Masked().Addr()
	for range n {
		a = a.Next()
	}
	return a
}

// AddAddr adds an address to the host's eth0: a service on the VNet, such as a cloud's
// metadata endpoint at 169.254.169.254.
func (h *Host) AddAddr(p netip.Prefix) error {
	nl, eth0, err := h.eth0()
	if err != nil {
		return err
	}
	defer nl.Close()
	return nl.AddrAdd(eth0, &netlink.Addr{IPNet: ipNet(p)})
}

// RouteOnLink adds, on host h, a route to dst straight out of eth0, as a cloud hands its
// nodes the route to its metadata endpoint.
func (h *Host) RouteOnLink(dst netip.Prefix) error {
	nl, eth0, err := h.eth0()
	if err != nil {
		return err
	}
	defer nl.Close()
	return nl.RouteAdd(&netlink.Route{LinkIndex: eth0.Attrs().Index, Scope: netlink.SCOPE_LINK, Dst: ipNet(dst)})
}

// eth0 opens a netlink handle in the host's namespace and finds eth0 there; the caller
// closes the handle.
func (h *Host) eth0() (*netlink.Handle, netlink.Link, error) {
	nl, err := netlink.NewHandleAt(h.NS, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, nil, err
	}
	eth0, err := nl.LinkByName("eth0")
	if err != nil {
		nl.Close()
		return nil, nil, fmt.Errorf("finding eth0 of %s: %w", h.Name, err)
	}
	return nl, eth0, nil
}

// ipNet is p as netlink takes it.
func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// FlushNeighbors forgets every learned neighbour of the host, as ageing would: the next
// packet to each address resolves it afresh. Permanent entries and proxy entries stay.
func (h *Host) FlushNeighbors() error {
	nl, err := netlink.NewHandleAt(h.NS, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer nl.Close()
	neighs, err := nl.NeighList(0, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("listing the neighbours of %s: %w", h.Name, err)
	}
	var errs []error
	for i := range neighs {
		n := &neighs[i]
		if n.State&(netlink.NUD_PERMANENT|netlink.NUD_NOARP) != 0 {
			continue
		}
		if err := nl.NeighDel(n); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("forgetting neighbour %s of %s: %w", n.IP, h.Name, err))
		}
	}
	return errors.Join(errs...)
}
