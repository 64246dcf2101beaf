package linux

import (
	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/overlaynet/overlaynet/internal/agent/desired"
)

// The VXLAN guard (B9, R16). A decapsulated packet carries whatever pod source its sender
// wrote, and the pod-ingress guard admits pod sources: so only the nodes may send to the
// tunnel's port. For each family with a VXLAN device:
//
//	chain input { type filter hook input priority filter; policy accept;
//	  meta l4proto udp udp dport <port> ip saddr != @node-ips-v4 counter drop
//	}

// inputChain adds the table's input chain.
func inputChain(c *nftables.Conn, t *nftables.Table) *nftables.Chain {
	accept := nftables.ChainPolicyAccept
	return c.AddChain(&nftables.Chain{
		Name: "input", Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookInput, Priority: nftables.ChainPriorityFilter, Policy: &accept,
	})
}

// vxlanGuard is the rule that drops datagrams to f's VXLAN port from anything but a node
// IP of set.
func vxlanGuard(f desired.FamilyRules, set *nftables.Set) []expr.Any {
	out := nfproto(f.Family)
	out = append(out,
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_UDP}},
		&expr.Payload{OperationType: expr.PayloadLoad, DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(f.VXLANPort))},
	)
	out = append(out, load(f.Family, src)...)
	return append(out,
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID, Invert: true},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	)
}
