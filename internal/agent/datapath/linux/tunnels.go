package linux

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent/datapath"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
)

// VXLAN devices (B9). The backend owns the devices named desired.TunnelName of each
// family, whole: their settings, their address, and every neighbour and forwarding entry on
// them. A device the desired datapath no longer lists is deleted, which takes its entries
// and routes with it. Learning is off: only the entries programmed here forward, one per
// encapsulated peer block (neighbour: block gateway -> peer VTEP MAC) and one per peer
// node (forwarding: VTEP MAC -> node IP).

// tunnelState is what the last apply left on one device.
type tunnelState struct {
	// index is the device's interface index.
	index int
	// addr is the device's own address as last set.
	addr netip.Addr
	// neigh maps each gateway to its MAC; fdb each MAC to its node IP.
	neigh map[netip.Addr]string
	fdb   map[string]netip.Addr
}

var tunnelNames = []string{desired.TunnelName(v1alpha1.IPv4), desired.TunnelName(v1alpha1.IPv6)}

// syncTunnels makes the owned devices match want. Entries are diffed against what the
// previous apply left, or, in full or after a failure, against the kernel.
func (b *Backend) syncTunnels(want []desired.Tunnel, full bool, st *datapath.Stats) error {
	if b.tunnels == nil {
		b.tunnels, full = map[string]*tunnelState{}, true
	}
	var errs []error
	for _, name := range tunnelNames {
		i := slices.IndexFunc(want, func(t desired.Tunnel) bool { return t.Name == name })
		if i < 0 {
			if err := b.deleteTunnel(name, st); err != nil {
				errs = append(errs, err)
			}
			continue
		}
		t := &want[i]
		if err := b.syncTunnel(t, full, st); err != nil {
			delete(b.tunnels, name)
			errs = append(errs, fmt.Errorf("VXLAN device %s: %w", name, err))
			continue
		}
		st.Tunnels++
		st.TunnelPeers += len(t.Peers)
	}
	return errors.Join(errs...)
}

// deleteTunnel removes the device name if it exists. The kernel drops its routes with it,
// so the routes are read back on the next apply.
func (b *Backend) deleteTunnel(name string, st *datapath.Stats) error {
	delete(b.tunnels, name)
	l, err := b.nl.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("looking up VXLAN device %s: %w", name, err)
	}
	if err := b.nl.LinkDel(l); err != nil {
		return fmt.Errorf("deleting VXLAN device %s: %w", name, err)
	}
	b.routesKnown = false
	st.TunnelChanged++
	return nil
}

// syncTunnel creates or fixes one device, then its entries.
func (b *Backend) syncTunnel(t *desired.Tunnel, full bool, st *datapath.Stats) error {
	s := b.tunnels[t.Name]
	index, created, err := b.ensureTunnelDevice(t)
	if err != nil {
		return err
	}
	if created || s == nil || s.index != index {
		// A new device holds nothing, and took no routes; one whose memory is gone is
		// read back.
		s = &tunnelState{index: index}
		b.tunnels[t.Name] = s
		full = true
		if created {
			b.routesKnown = false
			st.TunnelChanged++
		}
	}
	if full || s.addr != t.Addr {
		if err := b.ensureTunnelAddr(t, index); err != nil {
			return err
		}
		s.addr = t.Addr
	}
	if full {
		if s.neigh, s.fdb, err = b.readTunnelEntries(t.Family, index); err != nil {
			return err
		}
	}

	wantNeigh := make(map[netip.Addr]string, len(t.Peers))
	wantFDB := make(map[string]netip.Addr, len(t.Peers))
	macs := make(map[string]net.HardwareAddr, len(t.Peers))
	for _, p := range t.Peers {
		wantNeigh[p.Gateway] = p.MAC.String()
		wantFDB[p.MAC.String()] = p.Remote
		macs[p.MAC.String()] = p.MAC
	}
	fam := familyNumber(t.Family)
	var errs []error
	// Forwarding entries first, so that a neighbour never points at a MAC the device
	// cannot send to; removals after, for the same reason.
	for mac, remote := range wantFDB {
		if have, ok := s.fdb[mac]; ok && have == remote {
			continue
		}
		if err := b.nl.NeighSet(fdbEntry(index, macs[mac], remote)); err != nil {
			errs = append(errs, fmt.Errorf("forwarding entry %s -> %s: %w", mac, remote, err))
			continue
		}
		s.fdb[mac] = remote
		st.TunnelChanged++
	}
	for gw, mac := range wantNeigh {
		if have, ok := s.neigh[gw]; ok && have == mac {
			continue
		}
		if err := b.nl.NeighSet(tunnelNeigh(fam, index, gw, macs[mac])); err != nil {
			errs = append(errs, fmt.Errorf("neighbour entry %s -> %s: %w", gw, mac, err))
			continue
		}
		s.neigh[gw] = mac
		st.TunnelChanged++
	}
	for gw, mac := range s.neigh {
		if _, ok := wantNeigh[gw]; ok {
			continue
		}
		hw, _ := net.ParseMAC(mac)
		if err := b.nl.NeighDel(tunnelNeigh(fam, index, gw, hw)); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("deleting neighbour entry %s: %w", gw, err))
			continue
		}
		delete(s.neigh, gw)
		st.TunnelChanged++
	}
	for mac, remote := range s.fdb {
		if _, ok := wantFDB[mac]; ok {
			continue
		}
		hw, _ := net.ParseMAC(mac)
		if err := b.nl.NeighDel(fdbEntry(index, hw, remote)); err != nil && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("deleting forwarding entry %s: %w", mac, err))
			continue
		}
		delete(s.fdb, mac)
		st.TunnelChanged++
	}
	if len(errs) > 0 {
		delete(b.tunnels, t.Name) // read back next time
	}
	return errors.Join(errs...)
}

// ensureTunnelDevice returns the index of the device of t, creating it, or recreating it
// when its VNI, port, local address or MAC differ, and setting its MTU and state.
func (b *Backend) ensureTunnelDevice(t *desired.Tunnel) (int, bool, error) {
	l, err := b.nl.LinkByName(t.Name)
	var nf netlink.LinkNotFoundError
	switch {
	case errors.As(err, &nf):
		l = nil
	case err != nil:
		return 0, false, fmt.Errorf("looking up: %w", err)
	}
	if l != nil {
		vx, ok := l.(*netlink.Vxlan)
		if !ok || vx.VxlanId != t.VNI || vx.Port != t.Port || !vx.SrcAddr.Equal(t.Local.AsSlice()) ||
			vx.HardwareAddr.String() != t.MAC.String() || vx.Learning {
			if err := b.nl.LinkDel(l); err != nil {
				return 0, false, fmt.Errorf("deleting a device that differs from the wanted one: %w", err)
			}
			l = nil
		}
	}
	created := false
	if l == nil {
		vx := &netlink.Vxlan{
			LinkAttrs: netlink.LinkAttrs{Name: t.Name, HardwareAddr: t.MAC, MTU: t.MTU},
			VxlanId:   t.VNI, SrcAddr: t.Local.AsSlice(), Port: t.Port, Learning: false,
		}
		if err := b.nl.LinkAdd(vx); err != nil {
			return 0, false, fmt.Errorf("creating (VNI %d, port %d, local %s): %w", t.VNI, t.Port, t.Local, err)
		}
		if l, err = b.nl.LinkByName(t.Name); err != nil {
			return 0, false, fmt.Errorf("looking up after creating: %w", err)
		}
		created = true
	}
	if t.MTU > 0 && l.Attrs().MTU != t.MTU {
		if err := b.nl.LinkSetMTU(l, t.MTU); err != nil {
			return 0, false, fmt.Errorf("setting MTU %d: %w", t.MTU, err)
		}
	}
	if l.Attrs().Flags&net.FlagUp == 0 {
		if err := b.nl.LinkSetUp(l); err != nil {
			return 0, false, fmt.Errorf("setting up: %w", err)
		}
	}
	return l.Attrs().Index, created, nil
}

// ensureTunnelAddr gives the device exactly t.Addr (as a host prefix), link-local
// addresses aside.
func (b *Backend) ensureTunnelAddr(t *desired.Tunnel, index int) error {
	link := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: index}}
	fam := netlink.FAMILY_V4
	if t.Family == v1alpha1.IPv6 {
		fam = netlink.FAMILY_V6
	}
	addrs, err := b.nl.AddrList(link, fam)
	if err != nil {
		return fmt.Errorf("listing addresses: %w", err)
	}
	have := false
	for _, a := range addrs {
		ip, _ := netip.AddrFromSlice(a.IP)
		ip = ip.Unmap()
		if ip.IsLinkLocalUnicast() {
			continue
		}
		if ip == t.Addr {
			have = true
			continue
		}
		if err := b.nl.AddrDel(link, &a); err != nil {
			return fmt.Errorf("deleting address %s: %w", ip, err)
		}
	}
	if have || !t.Addr.IsValid() {
		return nil
	}
	bits := t.Addr.BitLen()
	a := &netlink.Addr{IPNet: &net.IPNet{IP: t.Addr.AsSlice(), Mask: net.CIDRMask(bits, bits)}}
	if t.Family == v1alpha1.IPv6 {
		a.Flags = unix.IFA_F_NODAD
	}
	if err := b.nl.AddrAdd(link, a); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("adding address %s: %w", t.Addr, err)
	}
	return nil
}

// readTunnelEntries reads the permanent neighbour and forwarding entries of a device.
func (b *Backend) readTunnelEntries(f v1alpha1.IPFamily, index int) (map[netip.Addr]string, map[string]netip.Addr, error) {
	fam := familyNumber(f)
	neigh := map[netip.Addr]string{}
	fdb := map[string]netip.Addr{}
	var ns, fs []netlink.Neigh
	err := retryDump(func() (err error) {
		if ns, err = b.nl.NeighList(index, fam); err != nil {
			return err
		}
		fs, err = b.nl.NeighList(index, unix.AF_BRIDGE)
		return err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("listing entries: %w", err)
	}
	for _, n := range ns {
		a, ok := netip.AddrFromSlice(n.IP)
		if !ok || n.State&netlink.NUD_PERMANENT == 0 || a.IsLinkLocalUnicast() || a.IsMulticast() {
			continue
		}
		neigh[a.Unmap()] = n.HardwareAddr.String()
	}
	for _, n := range fs {
		a, ok := netip.AddrFromSlice(n.IP)
		if !ok || n.LinkIndex != index {
			continue
		}
		fdb[n.HardwareAddr.String()] = a.Unmap()
	}
	return neigh, fdb, nil
}

func fdbEntry(index int, mac net.HardwareAddr, remote netip.Addr) *netlink.Neigh {
	return &netlink.Neigh{
		LinkIndex: index, Family: unix.AF_BRIDGE, State: netlink.NUD_PERMANENT, Flags: netlink.NTF_SELF,
		IP: remote.AsSlice(), HardwareAddr: mac,
	}
}

func tunnelNeigh(family, index int, gw netip.Addr, mac net.HardwareAddr) *netlink.Neigh {
	return &netlink.Neigh{LinkIndex: index, Family: family, State: netlink.NUD_PERMANENT, IP: gw.AsSlice(), HardwareAddr: mac}
}

// teardownTunnels deletes the owned devices.
func (b *Backend) teardownTunnels() error {
	var errs []error
	var st datapath.Stats
	for _, name := range tunnelNames {
		if err := b.deleteTunnel(name, &st); err != nil {
			errs = append(errs, err)
		}
	}
	b.tunnels = nil
	return errors.Join(errs...)
}

// tunnelIndex returns the interface index of an owned device the last apply left in
// place.
func (b *Backend) tunnelIndex(name string) (int, bool) {
	s, ok := b.tunnels[name]
	if !ok {
		return 0, false
	}
	return s.index, true
}

// Underlay implements datapath.UnderlayReader: the prefixes of every address of the
// interfaces that hold nodeIPs (the uplinks), and the smallest of their MTUs.
func (b *Backend) Underlay(nodeIPs []netip.Addr) (desired.Underlay, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var u desired.Underlay
	addrs, err := b.nl.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return u, fmt.Errorf("listing addresses to find the uplink: %w", err)
	}
	uplinks := map[int]bool{}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if ok && slices.Contains(nodeIPs, ip.Unmap()) {
			uplinks[a.LinkIndex] = true
		}
	}
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || !uplinks[a.LinkIndex] || a.IPNet == nil || ip.IsLinkLocalUnicast() {
			continue
		}
		bits, _ := a.Mask.Size()
		u.Connected = append(u.Connected, netip.PrefixFrom(ip.Unmap(), bits).Masked())
	}
	for index := range uplinks {
		l, err := b.nl.LinkByIndex(index)
		if err != nil {
			return u, fmt.Errorf("reading the uplink %d: %w", index, err)
		}
		if m := l.Attrs().MTU; u.MTU == 0 || m < u.MTU {
			u.MTU = m
		}
	}
	slices.SortFunc(u.Connected, desired.ComparePrefix)
	u.Connected = slices.Compact(u.Connected)
	return u, nil
}

// OwnedTunnelEntries returns, per owned device present, its neighbour entries (gateway ->
// MAC) and forwarding entries (MAC -> node IP): what tests check for staleness.
func (b *Backend) OwnedTunnelEntries() (map[string]map[netip.Addr]string, map[string]map[string]netip.Addr, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	neighs := map[string]map[netip.Addr]string{}
	fdbs := map[string]map[string]netip.Addr{}
	for i, name := range tunnelNames {
		l, err := b.nl.LinkByName(name)
		if err != nil {
			continue
		}
		f := v1alpha1.IPv4
		if i == 1 {
			f = v1alpha1.IPv6
		}
		n, fdb, err := b.readTunnelEntries(f, l.Attrs().Index)
		if err != nil {
			return nil, nil, err
		}
		neighs[name], fdbs[name] = n, fdb
	}
	return neighs, fdbs, nil
}
