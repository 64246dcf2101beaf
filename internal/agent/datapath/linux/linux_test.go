package linux_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent/datapath"
	"github.com/overlaynet/overlaynet/internal/agent/datapath/linux"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
	"github.com/overlaynet/overlaynet/test/topology"
)

var equateNetip = cmpopts.EquateComparable(netip.Addr{}, netip.Prefix{})

// requireRoot skips tests that create network namespaces when not root.
func requireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("skipping: creating network namespaces needs root (CI runs this as root)")
	}
}

// nodeNS returns a fresh namespace with a node-network interface holding 10.0.0.1/16 and
// fd10::1/64, so that gateways in those subnets are on-link. It is a veth whose peer
// stays in the namespace (not every kernel has the dummy driver).
func nodeNS(tb testing.TB) (netns.NsHandle, *netlink.Handle) {
	tb.Helper()
	ns, err := topology.NewNetNS()
	if err != nil {
		tb.Fatalf("creating a namespace: %v", err)
	}
	tb.Cleanup(func() { _ = ns.Close() })
	nl, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(nl.Close)
	link := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "eth0"}, PeerName: "eth0-peer"}
	if err := nl.LinkAdd(link); err != nil {
		tb.Fatal(err)
	}
	peer, err := nl.LinkByName("eth0-peer")
	if err != nil {
		tb.Fatal(err)
	}
	if err := nl.LinkSetUp(peer); err != nil {
		tb.Fatal(err)
	}
	for _, a := range []string{"10.0.0.1/16", "fd10::1/64"} {
		addr, _ := netlink.ParseAddr(a)
		if err := nl.AddrAdd(link, addr); err != nil {
			tb.Fatal(err)
		}
	}
	if err := nl.LinkSetUp(link); err != nil {
		tb.Fatal(err)
	}
	return ns, nl
}

func newBackend(tb testing.TB, ns netns.NsHandle) *linux.Backend {
	tb.Helper()
	b, err := linux.New(ns, linux.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = b.Close() })
	return b
}

// peers returns n peers: peer i has block 10.128.i.0/24 (from 10.128.0.0/9) and node IP
// 10.0.x.y in the node network, plus an IPv6 /120 when dual.
func peers(n int, dual bool) []desired.Route {
	var out []desired.Route
	for i := range n {
		via := netip.AddrFrom4([4]byte{10, 0, byte((i + 2) / 250), byte((i+2)%250 + 1)})
		dst := netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(128 + i/256), byte(i % 256), 0}), 24)
		out = append(out, desired.Route{Dst: dst, Via: via, Node: fmt.Sprintf("node-%d", i)})
		if dual {
			b := netip.MustParseAddr("fd12:3456:789a::").As16()
			b[13], b[14] = byte(i>>8), byte(i)
			v := netip.MustParseAddr("fd10::").As16()
			v[14], v[15] = byte((i+2)>>8), byte(i+2)
			out = append(out, desired.Route{Dst: netip.PrefixFrom(netip.AddrFrom16(b), 120), Via: netip.AddrFrom16(v), Node: fmt.Sprintf("node-%d", i)})
		}
	}
	return out
}

// datapathFor is what desired.Compute would produce for routes: sorted by destination.
func datapathFor(routes []desired.Route, dual bool) *desired.Datapath {
	routes = slices.Clone(routes)
	slices.SortFunc(routes, func(a, b desired.Route) int { return desired.ComparePrefix(a.Dst, b.Dst) })
	dp := &desired.Datapath{Routes: routes}
	ips4 := []netip.Addr{netip.MustParseAddr("10.0.0.1")}
	ips6 := []netip.Addr{netip.MustParseAddr("fd10::1")}
	for _, r := range routes {
		if r.Via.Is4() {
			ips4 = append(ips4, r.Via)
		} else {
			ips6 = append(ips6, r.Via)
		}
	}
	dp.Families = []desired.FamilyRules{{
		Family: v1alpha1.IPv4, PodCIDRs: []netip.Prefix{netip.MustParsePrefix("10.128.255.0/24")},
		LinkLocal: desired.LinkLocalIPv4, NonMasquerade: []netip.Prefix{netip.MustParsePrefix("10.128.0.0/9")},
		ClusterPodCIDRs: []netip.Prefix{netip.MustParsePrefix("10.128.0.0/9")}, NodeIPs: ips4,
	}}
	if dual {
		dp.Families = append(dp.Families, desired.FamilyRules{
			Family: v1alpha1.IPv6, PodCIDRs: []netip.Prefix{netip.MustParsePrefix("fd12:3456:789a::ff00/120")},
			LinkLocal: desired.LinkLocalIPv6, NonMasquerade: []netip.Prefix{netip.MustParsePrefix("fd12:3456:789a::/64")},
			ClusterPodCIDRs: []netip.Prefix{netip.MustParsePrefix("fd12:3456:789a::/64")}, NodeIPs: ips6,
		})
	}
	return dp
}

func ownedRoutes(t *testing.T, b *linux.Backend) []desired.Route {
	t.Helper()
	got, err := b.OwnedRoutes()
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func withoutNodes(rs []desired.Route) []desired.Route {
	out := make([]desired.Route, len(rs))
	for i, r := range rs {
		out[i] = desired.Route{Dst: r.Dst, Via: r.Via}
	}
	return out
}

func TestApplyProgramsRoutesIncrementallyAndRepairsDrift(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	ns, nl := nodeNS(t)
	b := newBackend(t, ns)

	want := peers(3, true)
	st, err := b.Apply(ctx, datapathFor(want, true), false)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if diff := cmp.Diff(datapath.Stats{Routes: 6, Rules: 18, RoutesAdded: 6, TableWritten: true, Full: true}, st); diff != "" {
		t.Errorf("first Apply stats (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(withoutNodes(want), ownedRoutes(t, b), equateNetip, cmpopts.SortSlices(func(a, b desired.Route) bool { return a.Dst.String() < b.Dst.String() })); diff != "" {
		t.Errorf("owned routes (-want +got):\n%s", diff)
	}

	t.Run("one peer removed is one route removed and one set element less", func(t *testing.T) {
		st, err := b.Apply(ctx, datapathFor(want[:5], true), false)
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if diff := cmp.Diff(datapath.Stats{Routes: 5, Rules: 18, RoutesRemoved: 1, NodeIPsChanged: 1}, st); diff != "" {
			t.Errorf("stats (-want +got):\n%s", diff)
		}
	})

	t.Run("a peer whose node IP changed gets its route replaced", func(t *testing.T) {
		moved := append([]desired.Route(nil), want[:5]...)
		moved[0].Via = netip.MustParseAddr("10.0.9.9")
		st, err := b.Apply(ctx, datapathFor(moved, true), false)
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if st.RoutesReplaced != 1 || st.RoutesAdded != 0 || st.RoutesRemoved != 0 {
			t.Errorf("stats = %+v, want one route replaced", st)
		}
		if diff := cmp.Diff(withoutNodes(moved), ownedRoutes(t, b), equateNetip, cmpopts.SortSlices(func(a, b desired.Route) bool { return a.Dst.String() < b.Dst.String() })); diff != "" {
			t.Errorf("owned routes (-want +got):\n%s", diff)
		}
		want = moved
	})

	t.Run("a full apply repairs drift that an incremental one cannot see", func(t *testing.T) {
		// Someone deletes one of our routes and leaves a stale one with our protocol.
		gone := want[1]
		if err := nl.RouteDel(&netlink.Route{Dst: ipnet(gone.Dst), Protocol: linux.RouteProtocol}); err != nil {
			t.Fatal(err)
		}
		if err := nl.RouteAdd(&netlink.Route{Dst: ipnet(netip.MustParsePrefix("10.200.0.0/24")), Gw: net.ParseIP("10.0.0.50"), Protocol: linux.RouteProtocol}); err != nil {
			t.Fatal(err)
		}
		st, err := b.Apply(ctx, datapathFor(want, true), true)
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if st.RoutesAdded != 1 || st.RoutesRemoved != 1 || !st.TableWritten || !st.Full {
			t.Errorf("stats = %+v, want one route added, one removed and the table rewritten", st)
		}
		if diff := cmp.Diff(withoutNodes(want), ownedRoutes(t, b), equateNetip, cmpopts.SortSlices(func(a, b desired.Route) bool { return a.Dst.String() < b.Dst.String() })); diff != "" {
			t.Errorf("owned routes (-want +got):\n%s", diff)
		}
	})
}

func TestApplyNeverTouchesRoutesOrTablesItDoesNotOwn(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	ns, nl := nodeNS(t)

	// A static route elsewhere, a foreign route to a block the agent wants, and a foreign
	// nftables table.
	static := &netlink.Route{Dst: ipnet(netip.MustParsePrefix("192.168.77.0/24")), Gw: net.ParseIP("10.0.0.9"), Protocol: unix.RTPROT_STATIC}
	clash := &netlink.Route{Dst: ipnet(netip.MustParsePrefix("10.128.1.0/24")), Gw: net.ParseIP("10.0.0.9"), Protocol: unix.RTPROT_BOOT}
	for _, r := range []*netlink.Route{static, clash} {
		if err := nl.RouteAdd(r); err != nil {
			t.Fatal(err)
		}
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	c.AddTable(&nftables.Table{Name: "someone-else", Family: nftables.TableFamilyINet})
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}

	b := newBackend(t, ns)
	want := peers(3, false)
	st, err := b.Apply(ctx, datapathFor(want, false), true)
	if err == nil || !strings.Contains(err.Error(), "a route to 10.128.1.0/24 that overlaynet does not own exists") {
		t.Fatalf("Apply error = %v, want the clash reported", err)
	}
	if part, _ := datapath.FailedPart(err); part != datapath.PartRoutes {
		t.Errorf("failed part = %q, want %q", part, datapath.PartRoutes)
	}
	if st.Routes != 2 {
		t.Errorf("routes = %d, want the 2 that do not clash", st.Routes)
	}

	if err := b.Teardown(); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	if got := ownedRoutes(t, b); len(got) != 0 {
		t.Errorf("owned routes after Teardown = %v, want none", got)
	}
	for _, r := range []*netlink.Route{static, clash} {
		got, err := nl.RouteListFiltered(netlink.FAMILY_V4, r, netlink.RT_FILTER_DST|netlink.RT_FILTER_PROTOCOL)
		if err != nil || len(got) != 1 {
			t.Errorf("foreign route to %s: %v, %v; want it untouched", r.Dst, got, err)
		}
	}
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tb := range tables {
		names = append(names, tb.Name)
	}
	if diff := cmp.Diff([]string{"someone-else"}, names); diff != "" {
		t.Errorf("tables after Teardown (-want +got):\n%s", diff)
	}
}

func TestApplyTurnsOnForwardingInTheTargetNamespaceOnly(t *testing.T) {
	requireRoot(t)
	hostBefore := readSysctls(t, netns.None())
	ns, _ := nodeNS(t)
	if got := readSysctls(t, ns); got != "0 0" {
		t.Fatalf("a fresh namespace forwards: %q", got)
	}
	b := newBackend(t, ns)
	if _, err := b.Apply(context.Background(), datapathFor(peers(1, true), true), false); err != nil {
		t.Fatal(err)
	}
	if got := readSysctls(t, ns); got != "1 1" {
		t.Errorf("forwarding in the namespace = %q, want %q", got, "1 1")
	}
	if got := readSysctls(t, netns.None()); got != hostBefore {
		t.Errorf("host forwarding changed from %q to %q", hostBefore, got)
	}
}

func TestApplyLeavesIPv6ForwardingAloneOnAnIPv4OnlyNode(t *testing.T) {
	requireRoot(t)
	ns, _ := nodeNS(t)
	b := newBackend(t, ns)
	if _, err := b.Apply(context.Background(), datapathFor(peers(1, false), false), false); err != nil {
		t.Fatal(err)
	}
	if got := readSysctls(t, ns); got != "1 0" {
		t.Errorf("forwarding = %q, want %q", got, "1 0")
	}
}

// readSysctls returns "ip_forward all/forwarding" of ns, or of the host for netns.None().
func readSysctls(t *testing.T, ns netns.NsHandle) string {
	t.Helper()
	var out []string
	read := func() error {
		for _, k := range []string{"net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"} {
			b, err := os.ReadFile("/proc/sys/" + k)
			if err != nil {
				return err
			}
			out = append(out, strings.TrimSpace(string(b)))
		}
		return nil
	}
	var err error
	if ns.IsOpen() {
		err = linux.InNetNS(ns, read)
	} else {
		err = read()
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(out, " ")
}

func ipnet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// proxyEntries returns the IPv4 proxy neighbour entries of interface name in the namespace
// of nl, sorted: `ip neigh show proxy dev <name>`.
func proxyEntries(t *testing.T, nl *netlink.Handle, name string) []string {
	t.Helper()
	l, err := nl.LinkByName(name)
	if err != nil {
		t.Fatalf("finding %s: %v", name, err)
	}
	ns, err := nl.NeighProxyList(l.Attrs().Index, netlink.FAMILY_V4)
	if err != nil {
		t.Fatalf("listing the proxy entries of %s: %v", name, err)
	}
	out := []string{}
	for _, n := range ns {
		out = append(out, n.IP.String())
	}
	slices.Sort(out)
	return out
}

// addProxyEntry adds a proxy neighbour entry by hand: someone else's, or drift.
func addProxyEntry(t *testing.T, nl *netlink.Handle, name, addr string) {
	t.Helper()
	l, err := nl.LinkByName(name)
	if err != nil {
		t.Fatalf("finding %s: %v", name, err)
	}
	n := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: netlink.FAMILY_V4, Flags: netlink.NTF_PROXY, IP: net.ParseIP(addr)}
	if err := nl.NeighAdd(n); err != nil {
		t.Fatalf("adding proxy entry %s on %s: %v", addr, name, err)
	}
}

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// TestApplyOwnsProxyNeighborsInsideTheUplinkSubnetOnly proves R40's proxy entries: the
// node answers for exactly its pod addresses on the interface holding its address, within
// that interface's subnet, and leaves every proxy entry it did not add alone (B7).
func TestApplyOwnsProxyNeighborsInsideTheUplinkSubnetOnly(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	ns, nl := nodeNS(t) // eth0 holds 10.0.0.1/16
	b := newBackend(t, ns)

	// Someone else's entries: outside the uplink's subnet, and on another interface.
	addProxyEntry(t, nl, "eth0", "192.168.9.9")
	addProxyEntry(t, nl, "eth0-peer", "10.0.0.77")
	foreignPeer := []string{"10.0.0.77"}

	dp := &desired.Datapath{Proxy: desired.ProxyNeighbors{
		Uplink: netip.MustParseAddr("10.0.0.1"),
		// 172.16.0.5 is outside the uplink's subnet: skipped, not an error.
		Addrs: addrs("10.0.0.50", "10.0.0.51", "172.16.0.5"),
	}}
	st, err := b.Apply(ctx, dp, false)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if st.ProxyNeighbors != 2 || st.ProxyChanged != 2 {
		t.Errorf("R40: first Apply: ProxyNeighbors = %d, ProxyChanged = %d; want 2 and 2", st.ProxyNeighbors, st.ProxyChanged)
	}
	if diff := cmp.Diff([]string{"10.0.0.50", "10.0.0.51", "192.168.9.9"}, proxyEntries(t, nl, "eth0")); diff != "" {
		t.Errorf("R40: proxy entries of eth0 (-want +got):\n%s", diff)
	}
	if got, err := b.OwnedProxyNeighbors(); err != nil || !slices.Equal(got, addrs("10.0.0.50", "10.0.0.51")) {
		t.Errorf("OwnedProxyNeighbors = %v, %v; want [10.0.0.50 10.0.0.51]", got, err)
	}

	t.Run("an incremental Apply with nothing changed changes nothing", func(t *testing.T) {
		st, err := b.Apply(ctx, dp, false)
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if st.ProxyNeighbors != 2 || st.ProxyChanged != 0 || st.Full {
			t.Errorf("stats = %+v, want 2 proxy entries, none changed, not full", st)
		}
	})

	t.Run("a full Apply leaves an entry it did not add, even inside the uplink's subnet", func(t *testing.T) {
		addProxyEntry(t, nl, "eth0", "10.0.0.99")
		st, err := b.Apply(ctx, dp, true)
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if st.ProxyNeighbors != 2 || st.ProxyChanged != 0 {
			t.Errorf("R40: ProxyNeighbors = %d, ProxyChanged = %d; want 2 and 0 (10.0.0.99 is someone else's)", st.ProxyNeighbors, st.ProxyChanged)
		}
		if diff := cmp.Diff([]string{"10.0.0.50", "10.0.0.51", "10.0.0.99", "192.168.9.9"}, proxyEntries(t, nl, "eth0")); diff != "" {
			t.Errorf("R40: proxy entries of eth0 (-want +got):\n%s", diff)
		}
	})

	t.Run("a full Apply restores an owned entry someone deleted", func(t *testing.T) {
		l, _ := nl.LinkByName("eth0")
		if err := nl.NeighDel(&netlink.Neigh{LinkIndex: l.Attrs().Index, Family: netlink.FAMILY_V4, Flags: netlink.NTF_PROXY, IP: net.ParseIP("10.0.0.51")}); err != nil {
			t.Fatal(err)
		}
		st, err := b.Apply(ctx, dp, true)
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if st.ProxyChanged != 1 {
			t.Errorf("ProxyChanged = %d, want 1 (10.0.0.51 added back)", st.ProxyChanged)
		}
		if diff := cmp.Diff([]string{"10.0.0.50", "10.0.0.51", "10.0.0.99", "192.168.9.9"}, proxyEntries(t, nl, "eth0")); diff != "" {
			t.Errorf("R40: proxy entries of eth0 (-want +got):\n%s", diff)
		}
	})

	t.Run("one pod address less is one entry removed incrementally", func(t *testing.T) {
		dp.Proxy.Addrs = addrs("10.0.0.50")
		st, err := b.Apply(ctx, dp, false)
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
		if st.ProxyNeighbors != 1 || st.ProxyChanged != 1 || st.Full {
			t.Errorf("R40: stats = %+v, want 1 proxy entry, 1 changed, not full", st)
		}
		if diff := cmp.Diff([]string{"10.0.0.50", "10.0.0.99", "192.168.9.9"}, proxyEntries(t, nl, "eth0")); diff != "" {
			t.Errorf("R40: proxy entries of eth0 (-want +got):\n%s", diff)
		}
	})

	if diff := cmp.Diff(foreignPeer, proxyEntries(t, nl, "eth0-peer")); diff != "" {
		t.Errorf("proxy entries of another interface changed (-want +got):\n%s", diff)
	}

	if err := b.Teardown(); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	if diff := cmp.Diff([]string{"10.0.0.99", "192.168.9.9"}, proxyEntries(t, nl, "eth0")); diff != "" {
		t.Errorf("proxy entries of eth0 after Teardown (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(foreignPeer, proxyEntries(t, nl, "eth0-peer")); diff != "" {
		t.Errorf("proxy entries of another interface after Teardown (-want +got):\n%s", diff)
	}
}

// TestApplyReleasesProxyNeighborsWhenTheUplinkSubnetShrinks proves that the entries owned
// at a former place of the node address are removed (R40): after eth0's 10.0.0.1/16 becomes
// 10.0.0.1/24, an entry in the /16 outside the /24 is no longer answerable and goes.
func TestApplyReleasesProxyNeighborsWhenTheUplinkSubnetShrinks(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	ns, nl := nodeNS(t)
	b := newBackend(t, ns)
	dp := &desired.Datapath{Proxy: desired.ProxyNeighbors{Uplink: netip.MustParseAddr("10.0.0.1"), Addrs: addrs("10.0.0.50", "10.0.200.1")}}
	if _, err := b.Apply(ctx, dp, false); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if diff := cmp.Diff([]string{"10.0.0.50", "10.0.200.1"}, proxyEntries(t, nl, "eth0")); diff != "" {
		t.Fatalf("proxy entries of eth0 in the /16 (-want +got):\n%s", diff)
	}

	eth0, err := nl.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	wide, _ := netlink.ParseAddr("10.0.0.1/16")
	narrow, _ := netlink.ParseAddr("10.0.0.1/24")
	if err := nl.AddrDel(eth0, wide); err != nil {
		t.Fatal(err)
	}
	if err := nl.AddrAdd(eth0, narrow); err != nil {
		t.Fatal(err)
	}
	st, err := b.Apply(ctx, dp, false)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if st.ProxyNeighbors != 1 || st.ProxyChanged != 1 {
		t.Errorf("R40: ProxyNeighbors = %d, ProxyChanged = %d; want 1 and 1 (10.0.200.1 released)", st.ProxyNeighbors, st.ProxyChanged)
	}
	if diff := cmp.Diff([]string{"10.0.0.50"}, proxyEntries(t, nl, "eth0")); diff != "" {
		t.Errorf("R40: proxy entries of eth0 in the /24 (-want +got):\n%s", diff)
	}
}

// TestProxyNeighborOwnershipSurvivesARestart proves that proxy entries are owned by record
// (B7): a new backend on the same namespace, as after an agent restart, removes the entries
// its predecessor added once they are no longer wanted, never adopts an entry someone else
// added at an address it wants, and never removes it.
func TestProxyNeighborOwnershipSurvivesARestart(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	ns, nl := nodeNS(t)
	first := newBackend(t, ns)
	dp := &desired.Datapath{Proxy: desired.ProxyNeighbors{Uplink: netip.MustParseAddr("10.0.0.1"), Addrs: addrs("10.0.0.50", "10.0.0.51")}}
	if _, err := first.Apply(ctx, dp, false); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	// Someone else answers for an address too; then the agent restarts.
	addProxyEntry(t, nl, "eth0", "10.0.0.60")
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	second := newBackend(t, ns)

	dp.Proxy.Addrs = addrs("10.0.0.50", "10.0.0.60")
	st, err := second.Apply(ctx, dp, false)
	if err != nil {
		t.Fatalf("Apply after the restart: %v", err)
	}
	if diff := cmp.Diff([]string{"10.0.0.50", "10.0.0.60"}, proxyEntries(t, nl, "eth0")); diff != "" {
		t.Errorf("B7 the predecessor's 10.0.0.51 goes, the foreign 10.0.0.60 stays (-want +got):\n%s", diff)
	}
	if st.ProxyNeighbors != 1 || st.ProxyChanged != 1 {
		t.Errorf("stats = %+v, want 1 owned entry (10.0.0.50) and 1 change (10.0.0.51 removed)", st)
	}
	if got, err := second.OwnedProxyNeighbors(); err != nil || !slices.Equal(got, addrs("10.0.0.50")) {
		t.Errorf("OwnedProxyNeighbors = %v, %v; want [10.0.0.50]: 10.0.0.60 is someone else's", got, err)
	}

	dp.Proxy.Addrs = nil
	if _, err := second.Apply(ctx, dp, true); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if diff := cmp.Diff([]string{"10.0.0.60"}, proxyEntries(t, nl, "eth0")); diff != "" {
		t.Errorf("B7 no pod address left: only the foreign entry stays (-want +got):\n%s", diff)
	}
}

// TestApplyReportsProxyNeighborsWithoutAnUplink proves that pod addresses the node cannot
// answer for are a failure of the proxy part, named, while the rest is programmed; and that
// a node with no pod addresses needs no uplink.
func TestApplyReportsProxyNeighborsWithoutAnUplink(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	ns, nl := nodeNS(t)
	b := newBackend(t, ns)

	dp := datapathFor(peers(2, false), false)
	dp.Proxy = desired.ProxyNeighbors{Uplink: netip.MustParseAddr("10.9.9.9"), Addrs: addrs("10.0.0.50", "10.0.0.51")}
	st, err := b.Apply(ctx, dp, false)
	const msg = "no interface holds the node address 10.9.9.9; cannot answer for 2 pod addresses"
	if err == nil || !strings.Contains(err.Error(), msg) {
		t.Fatalf("Apply error = %v, want it to say %q", err, msg)
	}
	if part, _ := datapath.FailedPart(err); part != datapath.PartProxy {
		t.Errorf("failed part = %q, want %q", part, datapath.PartProxy)
	}
	if st.Routes != 2 || !st.TableWritten || st.ProxyNeighbors != 0 {
		t.Errorf("stats = %+v, want the routes and table programmed and no proxy entry", st)
	}
	if got := proxyEntries(t, nl, "eth0"); len(got) != 0 {
		t.Errorf("proxy entries of eth0 = %v, want none", got)
	}

	for _, uplink := range []netip.Addr{{}, netip.MustParseAddr("10.9.9.9")} {
		dp.Proxy = desired.ProxyNeighbors{Uplink: uplink}
		if _, err := b.Apply(ctx, dp, false); err != nil {
			t.Errorf("Apply with node address %v and no pod address: %v, want no error", uplink, err)
		}
	}
}

// lan is a node on a link shared with one other host, with pods behind veths: the node
// namespace's uplink eth0 holds 10.0.0.1/24, the host's eth0 10.0.0.2/24.
type lan struct {
	node, host     netns.NsHandle
	nodeNL, hostNL *netlink.Handle
	pods           int
}

func newLAN(t *testing.T) *lan {
	t.Helper()
	l := &lan{}
	l.node, l.nodeNL = emptyNS(t)
	l.host, l.hostNL = emptyNS(t)
	l.link(t, "eth0", "eth0", l.host, l.hostNL)
	l.addAddr(t, l.nodeNL, "eth0", "10.0.0.1/24")
	l.addAddr(t, l.hostNL, "eth0", "10.0.0.2/24")
	return l
}

func emptyNS(t *testing.T) (netns.NsHandle, *netlink.Handle) {
	t.Helper()
	ns, err := topology.NewNetNS()
	if err != nil {
		t.Fatalf("creating a namespace: %v", err)
	}
	t.Cleanup(func() { _ = ns.Close() })
	nl, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nl.Close)
	return ns, nl
}

// link makes a veth pair from the node (name) to another namespace (peer), both up.
func (l *lan) link(t *testing.T, name, peer string, ns netns.NsHandle, nl *netlink.Handle) {
	t.Helper()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: peer, PeerNamespace: netlink.NsFd(int(ns))}
	if err := l.nodeNL.LinkAdd(veth); err != nil {
		t.Fatalf("adding veth %s: %v", name, err)
	}
	for _, h := range []struct {
		nl   *netlink.Handle
		name string
	}{{l.nodeNL, name}, {nl, peer}} {
		link, err := h.nl.LinkByName(h.name)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.nl.LinkSetUp(link); err != nil {
			t.Fatal(err)
		}
	}
}

func (l *lan) addAddr(t *testing.T, nl *netlink.Handle, name, cidr string) {
	t.Helper()
	link, err := nl.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		t.Fatal(err)
	}
	if err := nl.AddrAdd(link, a); err != nil {
		t.Fatalf("adding %s to %s: %v", cidr, name, err)
	}
}

// addPod returns a pod namespace holding addr/32, reached from the node through a veth
// pod<n>, the way a CNI plugin wires a pod: the node routes addr/32 to the veth and holds
// a link-local gateway address on it, which the pod's default route uses.
func (l *lan) addPod(t *testing.T, addr string) netns.NsHandle {
	t.Helper()
	ns, nl := emptyNS(t)
	l.pods++
	name, gw := fmt.Sprintf("pod%d", l.pods), fmt.Sprintf("169.254.1.%d", l.pods)
	l.link(t, name, "eth0", ns, nl)
	l.addAddr(t, l.nodeNL, name, gw+"/32")
	l.addAddr(t, nl, "eth0", addr+"/32")
	podEth0, err := nl.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	nodeEnd, err := l.nodeNL.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		nl *netlink.Handle
		r  *netlink.Route
	}{
		{nl, &netlink.Route{LinkIndex: podEth0.Attrs().Index, Scope: netlink.SCOPE_LINK, Dst: ipnet(netip.MustParsePrefix(gw + "/32"))}},
		{nl, &netlink.Route{LinkIndex: podEth0.Attrs().Index, Gw: net.ParseIP(gw)}},
		{l.nodeNL, &netlink.Route{LinkIndex: nodeEnd.Attrs().Index, Scope: netlink.SCOPE_LINK, Dst: ipnet(netip.MustParsePrefix(addr + "/32"))}},
	} {
		if err := r.nl.RouteAdd(r.r); err != nil {
			t.Fatalf("adding route %v for pod %s: %v", r.r, addr, err)
		}
	}
	return ns
}

func serve(t *testing.T, ns netns.NsHandle) {
	t.Helper()
	s, err := topology.Serve(ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
}

// TestProxyNeighborAnswersARPForAPodBehindTheNode proves R40 end to end: a host on the
// node's link reaches a pod holding a node-subnet address, with no route to it, because the
// node answers ARP for the pod's address; and stops reaching it once the entry is gone.
func TestProxyNeighborAnswersARPForAPodBehindTheNode(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	l := newLAN(t)
	pod := l.addPod(t, "10.0.0.50")
	serve(t, pod)
	b := newBackend(t, l.node)

	// No nftables family: the proxy entries alone turn IPv4 forwarding on.
	dp := &desired.Datapath{Proxy: desired.ProxyNeighbors{Uplink: netip.MustParseAddr("10.0.0.1"), Addrs: addrs("10.0.0.50")}}
	if _, err := b.Apply(ctx, dp, false); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if got := readSysctls(t, l.node); !strings.HasPrefix(got, "1 ") {
		t.Errorf("R40: node forwarding = %q, want IPv4 forwarding on for the proxy entries", got)
	}
	// The kernel delays a proxy reply to a broadcast request by up to proxy_delay (0.8 s).
	seen, err := topology.Probe(ctx, l.host, netip.MustParseAddr("10.0.0.50"), 5*time.Second)
	if err != nil {
		t.Fatalf("R40: the host on the link cannot reach the pod at 10.0.0.50 through the node's proxy ARP: %v", err)
	}
	if want := netip.MustParseAddr("10.0.0.2"); seen != want {
		t.Errorf("R40: the pod saw the connection from %s, want the host's own %s", seen, want)
	}

	if err := b.Teardown(); err != nil {
		t.Fatalf("Teardown: %v", err)
	}
	// Forget the node's answer on the host, then ask again: nobody answers.
	eth0, err := l.hostNL.LinkByName("eth0")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.hostNL.NeighDel(&netlink.Neigh{LinkIndex: eth0.Attrs().Index, IP: net.ParseIP("10.0.0.50")}); err != nil && !errors.Is(err, unix.ENOENT) {
		t.Fatal(err)
	}
	if _, err := topology.Probe(ctx, l.host, netip.MustParseAddr("10.0.0.50"), 2*time.Second); !topology.IsUnreachable(err) {
		t.Errorf("R40: after Teardown the pod at 10.0.0.50 is still reachable from the link (probe error %v); want no ARP answer", err)
	}
}

// nftTable returns `nft list table inet overlaynet` run in ns, or skips without nft.
func nftTable(t *testing.T, ns netns.NsHandle) string {
	t.Helper()
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("skipping: the nft command is not installed")
	}
	var out []byte
	err := linux.InNetNS(ns, func() error {
		var err error
		out, err = exec.Command("nft", "list", "table", "inet", linux.TableName).CombinedOutput()
		return err
	})
	if err != nil {
		t.Fatalf("nft list table inet %s: %v: %s", linux.TableName, err, out)
	}
	return string(out)
}

// chainOf returns the rules of chain name in an `nft list` output, one per line, trimmed;
// nil when there is no such chain.
func chainOf(listing, name string) []string {
	_, rest, ok := strings.Cut(listing, "\tchain "+name+" {\n")
	if !ok {
		return nil
	}
	body, _, _ := strings.Cut(rest, "\n\t}")
	out := []string{}
	for _, line := range strings.Split(body, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// legacyDatapath is a dual-stack node with block 10.244.1.0/24 whose pod at 10.0.0.50
// kept its node-subnet address across a migration.
func legacyDatapath(legacy ...string) *desired.Datapath {
	dp := &desired.Datapath{Families: []desired.FamilyRules{{
		Family: v1alpha1.IPv4, PodCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.1.0/24")},
		LinkLocal: desired.LinkLocalIPv4, NonMasquerade: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")},
		ClusterPodCIDRs: []netip.Prefix{netip.MustParsePrefix("10.244.0.0/16")}, NodeIPs: addrs("10.0.0.1", "10.0.0.2"),
	}, {
		Family: v1alpha1.IPv6, PodCIDRs: []netip.Prefix{netip.MustParsePrefix("fd44::100/120")},
		LinkLocal: desired.LinkLocalIPv6, NonMasquerade: []netip.Prefix{netip.MustParsePrefix("fd44::/64")},
		ClusterPodCIDRs: []netip.Prefix{netip.MustParsePrefix("fd44::/64")}, NodeIPs: addrs("fd10::1"),
	}}}
	for _, l := range legacy {
		dp.Families[0].LegacySources = append(dp.Families[0].LegacySources, netip.MustParsePrefix(l))
	}
	dp.Proxy = desired.ProxyNeighbors{Uplink: netip.MustParseAddr("10.0.0.1")}
	for _, l := range legacy {
		dp.Proxy.Addrs = append(dp.Proxy.Addrs, netip.MustParsePrefix(l).Addr())
	}
	return dp
}

// TestApplyRendersLegacySourcesOnlyWhenThereAreAny proves the table shape of R16's legacy
// sources: a jump from postrouting for each legacy source, and a legacy chain that keeps the
// source towards the node's own pods and masquerades the rest; no legacy chain in a family
// without legacy sources, and none at all once they are gone.
func TestApplyRendersLegacySourcesOnlyWhenThereAreAny(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	ns, _ := nodeNS(t)
	b := newBackend(t, ns)

	st, err := b.Apply(ctx, legacyDatapath(), false)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	rulesWithout := st.Rules
	listing := nftTable(t, ns)
	if strings.Contains(listing, "legacy") {
		t.Fatalf("R16: a node without legacy sources has legacy rules:\n%s", listing)
	}

	st, err = b.Apply(ctx, legacyDatapath("10.0.0.50/32", "10.0.0.60/32"), false)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if !st.TableWritten || st.Rules != rulesWithout+2+4+2 {
		t.Errorf("R16: a change of legacy sources: TableWritten = %v, rules = %d; want the table rewritten with %d rules (2 jumps, 4 in the legacy chain, 2 in the guard)", st.TableWritten, st.Rules, rulesWithout+8)
	}
	listing = nftTable(t, ns)
	if diff := cmp.Diff([]string{
		"type nat hook postrouting priority srcnat; policy accept;",
		"ip saddr 10.244.1.0/24 jump masquerade-v4",
		"ip saddr 10.0.0.50 jump legacy-v4",
		"ip saddr 10.0.0.60 jump legacy-v4",
		"ip6 saddr fd44::100/120 jump masquerade-v6",
	}, chainOf(listing, "postrouting")); diff != "" {
		t.Errorf("R16: postrouting chain (-want +got):\n%s\nwhole table:\n%s", diff, listing)
	}
	if diff := cmp.Diff([]string{
		"ip daddr 10.244.1.0/24 return",
		"ip daddr 10.0.0.50 return",
		"ip daddr 10.0.0.60 return",
		"meta nfproto ipv4 masquerade",
	}, chainOf(listing, "legacy-v4")); diff != "" {
		t.Errorf("R16: legacy-v4 chain (-want +got):\n%s\nwhole table:\n%s", diff, listing)
	}
	if diff := cmp.Diff([]string{
		"ip saddr 10.244.0.0/16 return",
		"ip saddr 10.0.0.50 return",
		"ip saddr 10.0.0.60 return",
		"ip saddr @node-ips-v4 return",
		"counter packets 0 bytes 0 drop",
	}, chainOf(listing, "pod-ingress-v4")); diff != "" {
		t.Errorf("R16: the guard lets the node's legacy pods reach its block (-want +got):\n%s\nwhole table:\n%s", diff, listing)
	}
	if got := chainOf(listing, "legacy-v6"); got != nil {
		t.Errorf("R16: a legacy-v6 chain exists without IPv6 legacy sources: %v", got)
	}

	st, err = b.Apply(ctx, legacyDatapath(), false)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if listing := nftTable(t, ns); strings.Contains(listing, "legacy") || st.Rules != rulesWithout {
		t.Errorf("R16: once the legacy pods are gone the table holds %d rules, want %d, and no legacy rule:\n%s", st.Rules, rulesWithout, listing)
	}
}

// TestLegacySourcesAreMasqueradedLeavingTheNode proves R16 for pods that kept a
// node-subnet address: their connections to a host of the node network leave with the node
// address, while one between two legacy pods of the node keeps its source. Without legacy
// sources the same pod leaves with its own address (and the host's reply still reaches it
// through the node's proxy ARP, R40).
func TestLegacySourcesAreMasqueradedLeavingTheNode(t *testing.T) {
	requireRoot(t)
	ctx := context.Background()
	l := newLAN(t)
	pod := l.addPod(t, "10.0.0.50")
	other := l.addPod(t, "10.0.0.60")
	serve(t, l.host)
	serve(t, other)
	b := newBackend(t, l.node)

	probe := func(from netns.NsHandle, to string) netip.Addr {
		t.Helper()
		seen, err := topology.Probe(ctx, from, netip.MustParseAddr(to), 5*time.Second)
		if err != nil {
			t.Fatalf("probing %s: %v", to, err)
		}
		return seen
	}

	if _, err := b.Apply(ctx, legacyDatapath("10.0.0.50/32", "10.0.0.60/32"), false); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if seen, want := probe(pod, "10.0.0.2"), netip.MustParseAddr("10.0.0.1"); seen != want {
		t.Errorf("R16: the host saw the legacy pod's connection from %s, want the node address %s", seen, want)
	}
	if seen, want := probe(pod, "10.0.0.60"), netip.MustParseAddr("10.0.0.50"); seen != want {
		t.Errorf("R16: a legacy pod of the same node saw the connection from %s, want the pod's own %s", seen, want)
	}

	// Still answered for, but no longer a legacy source.
	dp := legacyDatapath()
	dp.Proxy.Addrs = addrs("10.0.0.50")
	if _, err := b.Apply(ctx, dp, false); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if seen, want := probe(pod, "10.0.0.2"), netip.MustParseAddr("10.0.0.50"); seen != want {
		t.Errorf("without legacy sources the host saw the pod's connection from %s, want the pod's own %s", seen, want)
	}
}
