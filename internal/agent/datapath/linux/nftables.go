package linux

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	mnl "github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent/datapath"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
)

// The agent's table, for a dual-stack node (IPv4 shown; IPv6 is the same with -v6):
//
//	table inet overlaynet {
//	  set node-ips-v4 { type ipv4_addr; elements = { <every node IP> } }
//	  chain postrouting { type nat hook postrouting priority srcnat; policy accept;
//	    ip saddr <own block> jump masquerade-v4
//	    ip saddr <each legacy source> jump legacy-v4
//	  }
//	  chain masquerade-v4 {
//	    ip daddr 169.254.0.0/16 masquerade
//	    ip daddr <each non-masquerade CIDR> return
//	    masquerade
//	  }
//	  chain legacy-v4 {
//	    ip daddr <own block> return
//	    ip daddr <each legacy source> return
//	    masquerade
//	  }
//	  chain forward { type filter hook forward priority filter; policy accept;
//	    ct state established,related accept
//	    ct status dnat accept
//	    ip daddr <each cluster pod CIDR> jump pod-ingress-v4
//	  }
//	  chain pod-ingress-v4 {
//	    ip saddr <each cluster pod CIDR> return
//	    ip saddr <each legacy source> return
//	    ip saddr @node-ips-v4 return
//	    counter drop
//	  }
//	}
//
// masquerade picks the address of the outgoing interface, the node IP on the node network
// (R15). The forward chain keeps anything outside the pod space and the nodes from
// opening a connection to a pod, even a host that routes the pod CIDR to a node by hand
// (R16); replies and Service traffic that kube-proxy DNATed pass. Prefixes are matched rule
// by rule (the lists are short); only the node IPs, which change with every peer, live in
// a set that is updated element by element.
//
// Legacy sources are addresses that running pods of this node kept from an earlier mode (a
// NodeSubnet to Overlay migration): no peer's guard knows them as pod sources, so their
// traffic is masqueraded to every destination but this node's own pods. The legacy chain
// and its jumps exist only while the family has legacy sources: a node without them has
// neither. A change of legacy sources rewrites the table.

// nftState is what the table holds after a successful apply.
type nftState struct {
	// shape is everything in the table but the node-IP sets; when it changes the table is
	// written whole.
	shape string
	// nodeIPs are the node-IP set elements, sorted, by set name.
	nodeIPs map[string][]netip.Addr
	// rules is the number of rules in the table.
	rules int
}

// syncNFT brings the table to fams: the node-IP sets element by element when nothing else
// changed, else the whole table in one atomic transaction (delete and recreate, so a
// packet never meets a half-written table). A full apply always rewrites, which repairs
// any drift.
func (b *Backend) syncNFT(fams []desired.FamilyRules, full bool, st *datapath.Stats) error {
	shape := fmt.Sprintf("%s %v", b.table, shapeOf(fams))
	if !full && b.nft != nil && b.nft.shape == shape {
		n, err := b.updateNodeIPs(fams)
		if err != nil {
			b.nft = nil
			return err
		}
		st.NodeIPsChanged = n
		st.Rules = b.nft.rules
		return nil
	}
	rules, err := b.writeTable(fams)
	if err != nil {
		b.nft = nil
		return err
	}
	b.nft = &nftState{shape: shape, nodeIPs: map[string][]netip.Addr{}, rules: rules}
	for _, f := range fams {
		b.nft.nodeIPs[setName(f.Family)] = slices.Clone(sortedAddrs(f.NodeIPs))
	}
	st.TableWritten = true
	st.Rules = rules
	return nil
}

// shapeOf is fams without the node IPs.
func shapeOf(fams []desired.FamilyRules) []desired.FamilyRules {
	out := slices.Clone(fams)
	for i := range out {
		out[i].NodeIPs = nil
	}
	return out
}

func (b *Backend) conn() (*nftables.Conn, error) {
	opts := []nftables.ConnOption{nftables.WithSockOptions(largeSendBuffer)}
	if !b.local {
		opts = append(opts, nftables.WithNetNSFd(int(b.ns)))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("opening an nftables connection: %w", err)
	}
	return c, nil
}

func (b *Backend) tableRef() *nftables.Table {
	return &nftables.Table{Name: b.table, Family: nftables.TableFamilyINet}
}

// writeTable replaces the table with one rendering fams and returns its rule count.
func (b *Backend) writeTable(fams []desired.FamilyRules) (int, error) {
	c, err := b.conn()
	if err != nil {
		return 0, err
	}
	t := b.tableRef()
	// Adding first makes the delete succeed whether or not the table exists.
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)

	rules := 0
	rule := func(ch *nftables.Chain, exprs ...[]expr.Any) {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: slices.Concat(exprs...)})
		rules++
	}
	accept := nftables.ChainPolicyAccept
	post := c.AddChain(&nftables.Chain{
		Name: "postrouting", Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &accept,
	})
	fwd := c.AddChain(&nftables.Chain{
		Name: "forward", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept,
	})
	rule(fwd, ctBits(expr.CtKeySTATE, expr.CtStateBitESTABLISHED|expr.CtStateBitRELATED), verdict(expr.VerdictAccept, ""))
	rule(fwd, ctBits(expr.CtKeySTATUS, ipsDstNAT), verdict(expr.VerdictAccept, ""))

	var input *nftables.Chain // only when a family has a VXLAN device
	for _, f := range fams {
		sfx := suffix(f.Family)
		set := nodeIPSet(t, f.Family)
		if err := c.AddSet(set, nil); err != nil {
			return 0, fmt.Errorf("adding set %s: %w", set.Name, err)
		}
		if err := addElements(c, set, f.NodeIPs); err != nil {
			return 0, err
		}
		masq := c.AddChain(&nftables.Chain{Name: "masquerade-" + sfx, Table: t})
		ingress := c.AddChain(&nftables.Chain{Name: "pod-ingress-" + sfx, Table: t})
		proto := nfproto(f.Family)

		for _, p := range f.PodCIDRs {
			rule(post, proto, match(f.Family, src, p), verdict(expr.VerdictJump, masq.Name))
		}
		if len(f.LegacySources) > 0 {
			// Pods that kept an address from an earlier mode: masqueraded to everything
			// but this node's own pods, since no peer's guard knows their sources.
			legacy := c.AddChain(&nftables.Chain{Name: "legacy-" + sfx, Table: t})
			for _, p := range f.LegacySources {
				rule(post, proto, match(f.Family, src, p), verdict(expr.VerdictJump, legacy.Name))
			}
			for _, p := range slices.Concat(f.PodCIDRs, f.LegacySources) {
				rule(legacy, proto, match(f.Family, dst, p), verdict(expr.VerdictReturn, ""))
			}
			rule(legacy, proto, []expr.Any{&expr.Masq{}})
		}
		rule(masq, proto, match(f.Family, dst, f.LinkLocal), []expr.Any{&expr.Masq{}})
		for _, p := range f.NonMasquerade {
			rule(masq, proto, match(f.Family, dst, p), verdict(expr.VerdictReturn, ""))
		}
		rule(masq, proto, []expr.Any{&expr.Masq{}})

		for _, p := range f.ClusterPodCIDRs {
			rule(fwd, proto, match(f.Family, dst, p), verdict(expr.VerdictJump, ingress.Name))
		}
		// This node's legacy pods are pods too: they may open connections to the node's
		// block (their traffic to other nodes arrives masqueraded).
		for _, p := range slices.Concat(f.ClusterPodCIDRs, f.LegacySources) {
			rule(ingress, proto, match(f.Family, src, p), verdict(expr.VerdictReturn, ""))
		}
		rule(ingress, proto, load(f.Family, src), []expr.Any{
			&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
		}, verdict(expr.VerdictReturn, ""))
		rule(ingress, []expr.Any{&expr.Counter{}}, verdict(expr.VerdictDrop, ""))
		if f.VXLANPort != 0 {
			if input == nil {
				input = inputChain(c, t)
			}
			rule(input, vxlanGuard(f, set))
		}
	}
	if err := c.Flush(); err != nil {
		return 0, fmt.Errorf("writing table inet %s: %w", b.table, err)
	}
	return rules, nil
}

// updateNodeIPs adds and removes node-IP set elements in one transaction and returns how
// many changed.
func (b *Backend) updateNodeIPs(fams []desired.FamilyRules) (int, error) {
	var c *nftables.Conn
	changed := 0
	next := map[string][]netip.Addr{}
	for _, f := range fams {
		name := setName(f.Family)
		want := sortedAddrs(f.NodeIPs)
		add, del := diffAddrs(want, b.nft.nodeIPs[name])
		next[name] = b.nft.nodeIPs[name]
		if len(add)+len(del) == 0 {
			continue
		}
		if c == nil {
			var err error
			if c, err = b.conn(); err != nil {
				return 0, err
			}
		}
		set := nodeIPSet(b.tableRef(), f.Family)
		if err := addElements(c, set, add); err != nil {
			return 0, err
		}
		for chunk := range slices.Chunk(del, elementsPerMessage) {
			if err := c.SetDeleteElements(set, elements(chunk)); err != nil {
				return 0, fmt.Errorf("deleting from set %s: %w", name, err)
			}
		}
		changed += len(add) + len(del)
		next[name] = slices.Clone(want)
	}
	if c == nil {
		return 0, nil
	}
	if err := c.Flush(); err != nil {
		return 0, fmt.Errorf("updating the node-IP sets of table inet %s: %w", b.table, err)
	}
	b.nft.nodeIPs = next
	return changed, nil
}

// deleteTable removes the table if it exists.
func (b *Backend) deleteTable() error {
	c, err := b.conn()
	if err != nil {
		return err
	}
	t := b.tableRef()
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("deleting table inet %s: %w", b.table, err)
	}
	return nil
}

// sendBuffer fits a whole-table transaction at 5,000 nodes in both families (R13): the
// kernel refuses a netlink message larger than the socket's send buffer, and a transaction
// goes out as one message so that it stays atomic.
const sendBuffer = 16 << 20

// largeSendBuffer raises the socket's send buffer past net.core.wmem_max, which the agent
// may do with CAP_NET_ADMIN, and falls back to the ordinary ceiling without it.
func largeSendBuffer(c *mnl.Conn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return c.SetWriteBuffer(sendBuffer)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sendBuffer)
	}); err != nil || serr != nil {
		return c.SetWriteBuffer(sendBuffer)
	}
	return nil
}

// ipsDstNAT is IPS_DST_NAT of enum ip_conntrack_status: the connection was DNATed.
const ipsDstNAT = 1 << 5

type direction int

const (
	src direction = iota
	dst
)

func suffix(f v1alpha1.IPFamily) string {
	if f == v1alpha1.IPv6 {
		return "v6"
	}
	return "v4"
}

func setName(f v1alpha1.IPFamily) string { return "node-ips-" + suffix(f) }

// nodeIPSet is the node-IP set of family f in table t.
func nodeIPSet(t *nftables.Table, f v1alpha1.IPFamily) *nftables.Set {
	set := &nftables.Set{Table: t, Name: setName(f), KeyType: nftables.TypeIPAddr}
	if f == v1alpha1.IPv6 {
		set.KeyType = nftables.TypeIP6Addr
	}
	return set
}

// nfproto restricts a rule of the inet table to one family, as nft does implicitly for
// `ip` and `ip6` matches: without it an IPv6 header would be read at IPv4 offsets.
func nfproto(f v1alpha1.IPFamily) []expr.Any {
	p := byte(unix.NFPROTO_IPV4)
	if f == v1alpha1.IPv6 {
		p = unix.NFPROTO_IPV6
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{p}},
	}
}

// load loads the source or destination address into register 1.
func load(f v1alpha1.IPFamily, d direction) []expr.Any {
	off, n := uint32(12), uint32(4) // IPv4 saddr, daddr at 16
	if f == v1alpha1.IPv6 {
		off, n = 8, 16 // IPv6 saddr, daddr at 24
	}
	if d == dst {
		off += n
	}
	return []expr.Any{&expr.Payload{
		OperationType: expr.PayloadLoad, DestRegister: 1,
		Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n,
	}}
}

// match matches the source or destination address against a prefix.
func match(f v1alpha1.IPFamily, d direction, p netip.Prefix) []expr.Any {
	if p.Bits() == 0 {
		return nil
	}
	out := load(f, d)
	n := p.Addr().BitLen()
	if p.Bits() < n {
		mask := netipMask(p.Bits(), n)
		out = append(out, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: uint32(n / 8), Mask: mask, Xor: make([]byte, n/8)})
	}
	return append(out, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: p.Masked().Addr().AsSlice()})
}

func netipMask(ones, bits int) []byte {
	m := make([]byte, bits/8)
	for i := range m {
		switch {
		case ones >= 8:
			m[i] = 0xff
			ones -= 8
		case ones > 0:
			m[i] = byte(0xff << (8 - ones))
			ones = 0
		}
	}
	return m
}

// ctBits matches when any of bits is set in a conntrack key (state or status).
func ctBits(key expr.CtKey, bits uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: 1, Key: key},
		&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: make([]byte, 4)},
	}
}

func verdict(k expr.VerdictKind, chain string) []expr.Any {
	return []expr.Any{&expr.Verdict{Kind: k, Chain: chain}}
}

// elementsPerMessage bounds one netlink message, well below the socket buffer even for
// IPv6 at 5,000 nodes (R13); the messages still travel in one transaction.
const elementsPerMessage = 1024

func addElements(c *nftables.Conn, set *nftables.Set, as []netip.Addr) error {
	for chunk := range slices.Chunk(as, elementsPerMessage) {
		if err := c.SetAddElements(set, elements(chunk)); err != nil {
			return fmt.Errorf("adding to set %s: %w", set.Name, err)
		}
	}
	return nil
}

func elements(as []netip.Addr) []nftables.SetElement {
	out := make([]nftables.SetElement, len(as))
	for i, a := range as {
		out[i] = nftables.SetElement{Key: a.AsSlice()}
	}
	return out
}

// sortedAddrs returns as sorted without duplicates, copying only when it is not already.
func sortedAddrs(as []netip.Addr) []netip.Addr {
	ok := true
	for i := 1; i < len(as); i++ {
		if as[i-1].Compare(as[i]) >= 0 {
			ok = false
			break
		}
	}
	if ok {
		return slices.Clip(as)
	}
	out := slices.Clone(as)
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// diffAddrs returns what is in want and not in have, and the reverse; both sorted.
func diffAddrs(want, have []netip.Addr) (add, del []netip.Addr) {
	i, j := 0, 0
	for i < len(want) || j < len(have) {
		switch {
		case j == len(have) || (i < len(want) && want[i].Compare(have[j]) < 0):
			add = append(add, want[i])
			i++
		case i == len(want) || want[i].Compare(have[j]) > 0:
			del = append(del, have[j])
			j++
		default:
			i, j = i+1, j+1
		}
	}
	return add, del
}
