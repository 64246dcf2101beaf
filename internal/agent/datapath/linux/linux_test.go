package linux_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

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
