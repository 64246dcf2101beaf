package leasegc_test

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/overlaynet/overlaynet/internal/agent/leasegc"
)

var old = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func writeLease(t *testing.T, dir, name, content string, mtime time.Time) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// TestRunReclaimsOldLeasesWithoutAPodRoute: a sandbox that failed half-way left
// 10.244.1.3 reserved with no pod behind it; the running pod (with its route), a lease
// younger than the grace period (ptp has not made the route yet), and a lease rewritten
// for a new container while the reclaimer judged it all stay.
func TestRunReclaimsOldLeasesWithoutAPodRoute(t *testing.T) {
	dir := t.TempDir()
	now := old.Add(time.Hour)
	writeLease(t, dir, "10.244.1.2", "running\r\neth0", old)
	writeLease(t, dir, "10.244.1.3", "failed-sandbox\r\neth0", old)
	writeLease(t, dir, "10.244.1.4", "starting\r\neth0", now.Add(-10*time.Second))
	writeLease(t, dir, "10.244.1.5", "failed-too\r\neth0", old)
	writeLease(t, dir, "fd00:244:1::3", "failed-sandbox\r\neth0", old)
	writeLease(t, dir, "last_reserved_ip.0", "10.244.1.5", old)
	writeLease(t, dir, "lock", "", old)
	// Not host-local's: a link named like an address must not be followed or removed.
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "10.244.1.6")); err != nil {
		t.Fatal(err)
	}

	calls := 0
	r := &leasegc.Reclaimer{
		Dir: dir, Grace: time.Minute, Now: func() time.Time { return now },
		Live: func() (map[netip.Addr]bool, error) {
			calls++
			if calls == 2 { // under the lock: a new container got 10.244.1.5 meanwhile
				writeLease(t, dir, "10.244.1.5", "new-pod\r\neth0", now)
			}
			return map[netip.Addr]bool{netip.MustParseAddr("10.244.1.2"): true}, nil
		},
	}
	removed, err := r.Run()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range removed {
		got = append(got, l.String())
	}
	want := []string{"10.244.1.3 (container failed-sandbox, eth0)", "fd00:244:1::3 (container failed-sandbox, eth0)"}
	if !slices.Equal(got, want) {
		t.Errorf("removed %v, want %v", got, want)
	}
	if want := []string{"10.244.1.2", "10.244.1.4", "10.244.1.5", "10.244.1.6", "last_reserved_ip.0", "lock"}; !slices.Equal(names(t, dir), want) {
		t.Errorf("left %v, want %v", names(t, dir), want)
	}
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Errorf("the link's target is gone: %v", err)
	}

	// Nothing stale: no second look, no lock taken, nothing removed.
	calls = 0
	if removed, err := r.Run(); err != nil || len(removed) != 0 || calls != 1 {
		t.Errorf("second pass removed %v (err %v, %d looks at the routes), want nothing", removed, err, calls)
	}
}

func TestRunWithoutADirectoryDoesNothing(t *testing.T) {
	r := &leasegc.Reclaimer{Dir: filepath.Join(t.TempDir(), "absent"), Live: func() (map[netip.Addr]bool, error) {
		t.Error("looked at the routes although there is no lease")
		return nil, nil
	}}
	if removed, err := r.Run(); err != nil || removed != nil {
		t.Errorf("Run = %v, %v", removed, err)
	}
}

// TestPodRoutesSeesPtpsHostRoutes: the routes ptp makes to pods (a host route through the
// pod's veth) count, block routes and routes through a gateway do not.
func TestPodRoutesSeesPtpsHostRoutes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	ns, err := netns.New()
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := netns.Set(orig); err != nil {
		t.Fatal(err)
	}
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()

	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "vethpod"}, PeerName: "eth0pod"}
	if err := h.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	link, err := h.LinkByName("vethpod")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	if err := h.AddrAdd(link, &netlink.Addr{IPNet: mustNet("10.224.0.4/24")}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*netlink.Route{
		{LinkIndex: link.Attrs().Index, Dst: mustNet("10.244.1.7/32"), Scope: netlink.SCOPE_LINK},
		{LinkIndex: link.Attrs().Index, Dst: mustNet("10.244.2.0/24"), Gw: net.ParseIP("10.224.0.5")},
		{LinkIndex: link.Attrs().Index, Dst: mustNet("10.244.3.9/32"), Gw: net.ParseIP("10.224.0.6")},
	} {
		if err := h.RouteAdd(r); err != nil {
			t.Fatalf("adding %v: %v", r, err)
		}
	}
	live, err := leasegc.PodRoutes(h)
	if err != nil {
		t.Fatal(err)
	}
	var got []netip.Addr
	for a := range live {
		got = append(got, a)
	}
	if want := []netip.Addr{netip.MustParseAddr("10.244.1.7")}; !slices.Equal(got, want) {
		t.Errorf("PodRoutes = %v, want %v", got, want)
	}
}

func mustNet(s string) *net.IPNet {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}
