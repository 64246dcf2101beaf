// Package linux is the node agent's Linux datapath: routes to peer blocks through netlink,
// masquerade and the pod-ingress guard in an nftables table of its own, proxy neighbour
// entries that answer ARP for node-subnet pod addresses on the uplink, and IP forwarding.
//
// It works on a network-namespace handle, never on the calling thread's namespace, so the
// agent programs the host namespace in production and tests drive several agents against
// namespaces they create, in one process.
//
// Ownership is explicit: routes carry RouteProtocol, the rules live in one table, and proxy
// neighbour entries are owned by record (a set in a table of their own, see proxy.go), so
// the backend removes exactly what it owns and never touches anyone else's routes, tables
// or proxy entries.
package linux

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent/datapath"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
)

// RouteProtocol marks the routes the agent owns (`ip route show proto 79`). 79 (0x4f) is
// unassigned in iproute2's rt_protos and in the kernel's RTPROT_* list, and differs from
// what other Kubernetes datapaths use (Calico's bird 12 and felix 80, for instance).
const RouteProtocol netlink.RouteProtocol = 0x4f

// TableName is the agent's nftables table, family inet: `nft list table inet overlaynet`.
const TableName = "overlaynet"

// Options tune a Backend; the zero value uses RouteProtocol and TableName.
type Options struct {
	// RouteProtocol overrides the protocol number of owned routes.
	RouteProtocol netlink.RouteProtocol
	// TableName overrides the nftables table name.
	TableName string
}

// Backend programs one network namespace. It is safe for concurrent use; Applies are
// serialised.
type Backend struct {
	mu sync.Mutex

	// ns is the backend's own duplicate of the target namespace handle.
	ns netns.NsHandle
	// nl is a netlink socket opened inside ns.
	nl *netlink.Handle
	// proto marks owned routes.
	proto netlink.RouteProtocol
	// table is the nftables table name.
	table string

	// routes is what the last Apply left in the kernel, by destination; valid only while
	// routesKnown, which a failure clears so that the next Apply reads the kernel back.
	routes      map[netip.Prefix]ownedRoute
	routesKnown bool
	gen         uint64
	// nft is what the last Apply left in the table; nil when unknown.
	nft *nftState
	// proxied are the proxy neighbour entries the backend owns (proxy.go) after the last
	// Apply, sorted; valid only while proxyKnown, which a failure clears. uplink is where
	// the last Apply answered, nil for nowhere.
	proxied    []ownedProxy
	uplink     *uplink
	proxyKnown bool
	// tunnels are the owned VXLAN devices the last Apply left, by name; nil when unknown
	// (tunnels.go).
	tunnels map[string]*tunnelState
	// local is true when ns is the process's own namespace: no setns needed.
	local bool
	// forwarding holds the families whose forwarding sysctl is known to be on.
	forwarding map[string]bool
}

var _ datapath.Backend = (*Backend)(nil)

// New returns a backend for the network namespace ns. It keeps its own duplicate of the
// handle, so the caller may close ns; Close releases the backend's.
func New(ns netns.NsHandle, opts Options) (*Backend, error) {
	fd, err := unix.FcntlInt(uintptr(ns), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicating the network namespace handle: %w", err)
	}
	own := netns.NsHandle(fd)
	// In its own namespace (the DaemonSet case) the backend opens plain sockets: joining
	// a namespace needs CAP_SYS_ADMIN, which the agent does not have.
	local := isCurrent(own)
	var nl *netlink.Handle
	if local {
		nl, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	} else {
		nl, err = netlink.NewHandleAt(own, unix.NETLINK_ROUTE)
	}
	if err != nil {
		_ = own.Close()
		return nil, fmt.Errorf("opening a netlink socket in the network namespace: %w", err)
	}
	b := &Backend{ns: own, local: local, nl: nl, proto: opts.RouteProtocol, table: opts.TableName, forwarding: map[string]bool{}}
	if b.proto == 0 {
		b.proto = RouteProtocol
	}
	if b.table == "" {
		b.table = TableName
	}
	return b, nil
}

// Close releases the backend's sockets and namespace handle. It leaves the datapath in
// place: pods keep their network while the agent restarts.
func (b *Backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nl.Close()
	return b.ns.Close()
}

// Apply implements datapath.Backend.
func (b *Backend) Apply(ctx context.Context, dp *desired.Datapath, full bool) (datapath.Stats, error) {
	b.mu.Lock()
	defer b.mu.Unlock()

	full = full || !b.routesKnown || b.nft == nil
	st := datapath.Stats{Full: full}
	var errs []error
	if err := b.ensureForwarding(dp, full); err != nil {
		errs = append(errs, &datapath.Error{Part: datapath.PartForwarding, Err: err})
	}
	if err := b.syncTunnels(dp.Tunnels, full, &st); err != nil {
		errs = append(errs, &datapath.Error{Part: datapath.PartTunnels, Err: err})
	}
	// Creating or deleting a device changes routes behind the backend's back.
	if !b.routesKnown && !st.Full {
		full, st.Full = true, true
	}
	if err := b.syncRoutes(ctx, dp.Routes, full, &st); err != nil {
		errs = append(errs, &datapath.Error{Part: datapath.PartRoutes, Err: err})
	}
	if err := b.syncNFT(dp.Families, full, &st); err != nil {
		errs = append(errs, &datapath.Error{Part: datapath.PartSNAT, Err: err})
	}
	if err := b.syncProxy(dp.Proxy, full, &st); err != nil {
		errs = append(errs, &datapath.Error{Part: datapath.PartProxy, Err: err})
	}
	return st, errors.Join(errs...)
}

// Teardown removes everything the backend owns from the namespace: its routes, its table
// and its proxy neighbour entries with their record. It removes what it can and reports every failure.
// The agent does not call it on exit (pods keep working across restarts); it is for
// uninstalling and for tests.
func (b *Backend) Teardown() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.routesKnown, b.nft = false, nil
	var errs []error
	owned, err := b.listRoutes()
	if err != nil {
		errs = append(errs, fmt.Errorf("listing owned routes: %w", err))
	}
	for _, rs := range owned {
		for i := range rs {
			if err := b.nl.RouteDel(&rs[i]); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("deleting route to %s: %w", rs[i].Dst, err))
			}
		}
	}
	if err := b.deleteTable(); err != nil {
		errs = append(errs, err)
	}
	if err := b.teardownProxies(); err != nil {
		errs = append(errs, err)
	}
	if err := b.teardownTunnels(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ensureForwarding turns on IP forwarding for the families the node routes, and IPv4
// forwarding when the node answers for pod addresses on its uplink (the kernel answers for
// a proxy neighbour entry only when it forwards), checking the sysctls on every full
// apply. IPv6 forwarding is left alone on an IPv4-only node: turning it on makes the kernel
// ignore router advertisements, which could cost the host its IPv6 default route.
func (b *Backend) ensureForwarding(dp *desired.Datapath, full bool) error {
	const v4, v6 = "net/ipv4/ip_forward", "net/ipv6/conf/all/forwarding"
	var want []string
	for _, f := range dp.Families {
		if f.Family == v1alpha1.IPv6 {
			want = append(want, v6)
		} else {
			want = append(want, v4)
		}
	}
	if len(dp.Proxy.Addrs) > 0 && !slices.Contains(want, v4) {
		want = append(want, v4)
	}
	var errs []error
	for _, key := range want {
		if b.forwarding[key] && !full {
			continue
		}
		if err := inNetNS(b.ns, func() error { return ensureSysctl(key, "1") }); err != nil {
			b.forwarding[key] = false
			errs = append(errs, err)
			continue
		}
		b.forwarding[key] = true
	}
	return errors.Join(errs...)
}

// retryDump runs dump, which reads a netlink dump, again while a concurrent change
// interrupts it (an interrupted dump may be incomplete), at most 5 times in all, and
// returns its last error.
func retryDump(dump func() error) error {
	var err error
	for range 5 {
		if err = dump(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return err
		}
	}
	return err
}
