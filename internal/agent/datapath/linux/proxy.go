package linux

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/overlaynet/overlaynet/internal/agent/datapath"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
)

// Proxy neighbour entries (`ip neigh show proxy`) make the node answer ARP on its uplink for
// pod addresses of the node subnet (R40): the kernel replies with the uplink's MAC address
// to a request for such an address when it routes the address out of another interface
// (the pod's veth) and forwarding is on.
//
// Proxy entries carry no protocol or owner mark that netlink lets the backend set, so
// ownership is by record: the backend writes down every entry it adds, before adding it,
// in an nftables set of a table of its own,
//
//	table inet overlaynet-proxy {
//	  set owned { type iface_index . ipv4_addr; elements = { <uplink index> . <address>, ... } }
//	}
//
// and removes only entries that the record names and the kernel holds. The record lives in
// the kernel next to the entries, in the same network namespace: it survives an agent
// restart (a new backend reads it back on its first, full, apply), goes when the entries go
// (a reboot, the namespace's end), needs no host directory, and a tool that lists the
// ruleset shows it. An entry someone else added, even at an address the node wants to
// answer for, is left alone and never recorded; the kernel would accept a second add of an existing entry silently, so the backend
// looks before it adds. An agent from before the record (no record table yet) owned every entry of the
// uplink inside its subnet; on its first apply the backend adopts those that it wants
// itself, and leaves the rest.
//
// Writing the record first means that a crash between the two steps leaves a record of an
// entry that does not exist, which the next full apply forgets; never an entry without a
// record, which no one would remove.

// recordSet is the set of owned entries in the record table.
const recordSet = "owned"

// ownedProxy is one proxy entry the backend added.
type ownedProxy struct {
	// index is the interface index.
	index int
	// addr is the IPv4 address answered for.
	addr netip.Addr
}

func compareOwned(a, b ownedProxy) int {
	if a.index != b.index {
		return a.index - b.index
	}
	return a.addr.Compare(b.addr)
}

// uplink is where the backend answers for pod addresses: an interface and the subnet of
// the node address on it.
type uplink struct {
	// index is the interface index.
	index int
	// name is the interface name, for messages.
	name string
	// subnet is the connected subnet of the node address, masked.
	subnet netip.Prefix
}

func (u *uplink) String() string { return fmt.Sprintf("%s (subnet %s)", u.name, u.subnet) }

// syncProxy makes the owned proxy entries match p: the addresses of p.Addrs inside the
// uplink's subnet, on the uplink (the others cannot be answered for on that link and are
// skipped). Incrementally it diffs against what the previous apply left; in full, or when
// the previous apply failed, it reads the record and the kernel back.
func (b *Backend) syncProxy(p desired.ProxyNeighbors, full bool, st *datapath.Stats) error {
	full = full || !b.proxyKnown
	b.proxyKnown = false

	var target *uplink
	node := p.Uplink.Unmap()
	switch {
	case node.Is4():
		var err error
		if target, err = b.findUplink(node); err != nil {
			return err
		}
		if target == nil && len(p.Addrs) > 0 {
			return fmt.Errorf("no interface holds the node address %s; cannot answer for %d pod addresses", node, len(p.Addrs))
		}
	case len(p.Addrs) > 0 && node.IsValid():
		return fmt.Errorf("the node address %s is not IPv4; cannot answer for %d pod addresses", node, len(p.Addrs))
	case len(p.Addrs) > 0:
		return fmt.Errorf("the node has no IPv4 address to find its uplink by; cannot answer for %d pod addresses", len(p.Addrs))
	}
	var want []ownedProxy
	if target != nil {
		for _, a := range addrsIn(p.Addrs, target.subnet) {
			want = append(want, ownedProxy{index: target.index, addr: a})
		}
	}

	// The kernel drops an interface's proxy entries with its last IPv4 address: when the
	// uplink changed, what the last apply left is not to be trusted.
	if target == nil || b.uplink == nil || *target != *b.uplink {
		full = full || len(b.proxied) > 0
	}
	b.uplink = target
	have := b.proxied
	if full {
		var err error
		if have, err = b.readOwned(target, want); err != nil {
			return err
		}
	}
	add, del := diffOwned(want, have)
	// The kernel adds a proxy entry that exists already without complaint, so entries are
	// looked up before they are added: one present and not owned is someone else's.
	if len(add) > 0 {
		present, err := b.readProxies(target.index)
		if err != nil {
			return fmt.Errorf("listing the proxy neighbour entries of %s: %w", target, err)
		}
		add = slices.DeleteFunc(add, func(o ownedProxy) bool { return slices.Contains(present, o.addr) })
	}
	var errs []error
	// failed are the entries that should have come and did not; kept, those that should
	// have gone and did not; forget, what the record names and the backend does not own.
	var failed, kept, forget []ownedProxy
	if len(add) > 0 {
		if err := b.record(add, nil); err != nil {
			return fmt.Errorf("recording %d proxy neighbour entries before adding them: %w", len(add), err)
		}
	}
	for _, o := range add {
		if err := b.nl.NeighAdd(proxyNeigh(o.index, o.addr)); err != nil {
			errs = append(errs, fmt.Errorf("adding proxy neighbour entry %s on interface %d: %w", o.addr, o.index, err))
			forget = append(forget, o)
			failed = append(failed, o)
			continue
		}
		st.ProxyChanged++
	}
	for _, o := range del {
		if err := b.delProxy(o.index, o.addr); err != nil {
			errs = append(errs, fmt.Errorf("deleting proxy neighbour entry %s on interface %d: %w", o.addr, o.index, err))
			kept = append(kept, o)
			continue
		}
		forget = append(forget, o)
		st.ProxyChanged++
	}
	if len(forget) > 0 {
		if err := b.record(nil, forget); err != nil {
			errs = append(errs, fmt.Errorf("forgetting %d proxy neighbour entries: %w", len(forget), err))
		}
	}
	// Owned now: what was owned and stays wanted, what was added, and what failed to go.
	applied := slices.DeleteFunc(slices.Clone(have), func(o ownedProxy) bool { return slices.Contains(del, o) })
	applied = append(applied, slices.DeleteFunc(add, func(o ownedProxy) bool { return slices.Contains(failed, o) })...)
	applied = append(applied, kept...)
	slices.SortFunc(applied, compareOwned)
	b.proxied = applied
	b.proxyKnown = len(errs) == 0
	st.ProxyNeighbors = len(applied)
	return errors.Join(errs...)
}

// readOwned returns the entries the backend owns: those the record names that the kernel
// holds, sorted. Record entries the kernel no longer holds are forgotten. Without a record
// table (an agent from before the record, or a new node), the wanted entries that the
// kernel already holds at the uplink are adopted (see the comment at the top).
func (b *Backend) readOwned(target *uplink, want []ownedProxy) ([]ownedProxy, error) {
	rec, exists, err := b.readRecord()
	if err != nil {
		return nil, fmt.Errorf("reading the record of owned proxy neighbour entries: %w", err)
	}
	indexes := map[int]bool{}
	for _, o := range rec {
		indexes[o.index] = true
	}
	if target != nil {
		indexes[target.index] = true
	}
	inKernel := map[ownedProxy]bool{}
	for index := range indexes {
		as, err := b.readProxies(index)
		if err != nil {
			if errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EINVAL) {
				continue // the interface is gone, and its entries with it
			}
			return nil, fmt.Errorf("listing the proxy neighbour entries of interface %d: %w", index, err)
		}
		for _, a := range as {
			inKernel[ownedProxy{index: index, addr: a}] = true
		}
	}
	var owned, gone []ownedProxy
	for _, o := range rec {
		if inKernel[o] {
			owned = append(owned, o)
		} else {
			gone = append(gone, o)
		}
	}
	if !exists {
		var adopt []ownedProxy
		for _, o := range want {
			if inKernel[o] {
				adopt = append(adopt, o)
			}
		}
		if len(adopt) == 0 {
			return nil, nil // the first entry added creates the record
		}
		if err := b.record(adopt, nil); err != nil {
			return nil, fmt.Errorf("creating the record of owned proxy neighbour entries: %w", err)
		}
		owned = append(owned, adopt...)
	}
	if len(gone) > 0 {
		if err := b.record(nil, gone); err != nil {
			return nil, fmt.Errorf("forgetting %d proxy neighbour entries that are gone: %w", len(gone), err)
		}
	}
	slices.SortFunc(owned, compareOwned)
	return owned, nil
}

// diffOwned returns what is in want and not in have, and the reverse; both sorted.
func diffOwned(want, have []ownedProxy) (add, del []ownedProxy) {
	i, j := 0, 0
	for i < len(want) || j < len(have) {
		switch {
		case j == len(have) || (i < len(want) && compareOwned(want[i], have[j]) < 0):
			add = append(add, want[i])
			i++
		case i == len(want) || compareOwned(want[i], have[j]) > 0:
			del = append(del, have[j])
			j++
		default:
			i, j = i+1, j+1
		}
	}
	return add, del
}

func (b *Backend) recordTable() *nftables.Table {
	return &nftables.Table{Name: b.table + "-proxy", Family: nftables.TableFamilyINet}
}

func (b *Backend) recordSetRef() *nftables.Set {
	return &nftables.Set{
		Table: b.recordTable(), Name: recordSet, Concatenation: true,
		KeyType: nftables.MustConcatSetType(nftables.TypeIFIndex, nftables.TypeIPAddr),
	}
}

// readRecord returns the recorded entries and whether the record exists.
func (b *Backend) readRecord() ([]ownedProxy, bool, error) {
	c, err := b.conn()
	if err != nil {
		return nil, false, err
	}
	set, err := c.GetSetByName(b.recordTable(), recordSet)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, os.ErrNotExist) {
			return nil, false, nil
		}
		return nil, false, err
	}
	elems, err := c.GetSetElements(set)
	if err != nil {
		return nil, false, err
	}
	out := make([]ownedProxy, 0, len(elems))
	for _, e := range elems {
		if len(e.Key) != 8 {
			continue
		}
		a, _ := netip.AddrFromSlice(e.Key[4:8])
		out = append(out, ownedProxy{index: int(binaryutil.NativeEndian.Uint32(e.Key[:4])), addr: a})
	}
	slices.SortFunc(out, compareOwned)
	return out, true, nil
}

// record adds and removes record entries in one transaction, creating the record first.
func (b *Backend) record(add, del []ownedProxy) error {
	c, err := b.conn()
	if err != nil {
		return err
	}
	c.AddTable(b.recordTable())
	set := b.recordSetRef()
	if err := c.AddSet(set, nil); err != nil {
		return err
	}
	key := func(os []ownedProxy) []nftables.SetElement {
		out := make([]nftables.SetElement, len(os))
		for i, o := range os {
			out[i] = nftables.SetElement{Key: append(binaryutil.NativeEndian.PutUint32(uint32(o.index)), o.addr.AsSlice()...)}
		}
		return out
	}
	for chunk := range slices.Chunk(add, elementsPerMessage) {
		if err := c.SetAddElements(set, key(chunk)); err != nil {
			return err
		}
	}
	for chunk := range slices.Chunk(del, elementsPerMessage) {
		if err := c.SetDeleteElements(set, key(chunk)); err != nil {
			return err
		}
	}
	return c.Flush()
}

// deleteRecord removes the record table.
func (b *Backend) deleteRecord() error {
	c, err := b.conn()
	if err != nil {
		return err
	}
	c.AddTable(b.recordTable())
	c.DelTable(b.recordTable())
	if err := c.Flush(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("deleting table inet %s: %w", b.recordTable().Name, err)
	}
	return nil
}

// findUplink returns the interface holding the IPv4 address node and node's subnet on it,
// or nil when no interface holds it.
func (b *Backend) findUplink(node netip.Addr) (*uplink, error) {
	addrs, err := b.nl.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("listing IPv4 addresses to find the interface of the node address %s: %w", node, err)
	}
	for _, a := range addrs {
		if a.IPNet == nil {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || ip.Unmap() != node {
			continue
		}
		bits, _ := a.Mask.Size()
		u := &uplink{index: a.LinkIndex, subnet: netip.PrefixFrom(node, bits).Masked()}
		if l, err := b.nl.LinkByIndex(a.LinkIndex); err == nil {
			u.name = l.Attrs().Name
		} else {
			u.name = fmt.Sprintf("interface %d", a.LinkIndex)
		}
		return u, nil
	}
	return nil, nil
}

// readProxies returns the IPv4 proxy entries of interface index in the kernel, sorted.
func (b *Backend) readProxies(index int) ([]netip.Addr, error) {
	var ns []netlink.Neigh
	err := retryDump(func() (err error) {
		ns, err = b.nl.NeighProxyList(index, netlink.FAMILY_V4)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(ns))
	for _, n := range ns {
		a, ok := netip.AddrFromSlice(n.IP)
		if a = a.Unmap(); ok && n.LinkIndex == index && a.Is4() {
			out = append(out, a)
		}
	}
	return sortedAddrs(out), nil
}

// teardownProxies deletes every owned entry and the record.
func (b *Backend) teardownProxies() error {
	b.proxied, b.proxyKnown = nil, false
	owned, err := b.readOwned(nil, nil)
	if err != nil {
		return err
	}
	var errs []error
	for _, o := range owned {
		if err := b.delProxy(o.index, o.addr); err != nil {
			errs = append(errs, fmt.Errorf("deleting proxy neighbour entry %s on interface %d: %w", o.addr, o.index, err))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...) // the record stays, so that a second Teardown retries
	}
	return b.deleteRecord()
}

// delProxy deletes one proxy entry; one that is already gone is not an error.
func (b *Backend) delProxy(index int, a netip.Addr) error {
	if err := b.nl.NeighDel(proxyNeigh(index, a)); err != nil && !errors.Is(err, unix.ENOENT) {
		return err
	}
	return nil
}

// proxyNeigh is the proxy entry of a on interface index: `ip neigh add proxy a dev <index>`.
func proxyNeigh(index int, a netip.Addr) *netlink.Neigh {
	return &netlink.Neigh{LinkIndex: index, Family: netlink.FAMILY_V4, Flags: netlink.NTF_PROXY, IP: a.AsSlice()}
}

// addrsIn returns the IPv4 addresses of as inside subnet, sorted without duplicates.
func addrsIn(as []netip.Addr, subnet netip.Prefix) []netip.Addr {
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		if a = a.Unmap(); a.Is4() && subnet.Contains(a) {
			out = append(out, a)
		}
	}
	return sortedAddrs(out)
}

// OwnedProxyNeighbors returns the addresses of the proxy neighbour entries the backend
// owns in the kernel (recorded and present), sorted.
func (b *Backend) OwnedProxyNeighbors() ([]netip.Addr, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	rec, _, err := b.readRecord()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, o := range rec {
		as, err := b.readProxies(o.index)
		if err != nil {
			return nil, err
		}
		if slices.Contains(as, o.addr) {
			out = append(out, o.addr)
		}
	}
	return sortedAddrs(out), nil
}
