package security

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/allocation"
)

func jsonList(items []string) string {
	return `["` + strings.Join(items, `","`) + `"]`
}

func many(n int, f func(i int) string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

// The schemas refuse what no manager writes, whoever writes it (the manager's own token
// here, which the policy lets through): BlockClaims that could alias a block (B4), and
// NodeNetworkConfig specs that are unbounded or not canonical (B7, R12).
func TestSchemasRefuseBadAllocations(t *testing.T) {
	ctx := context.Background()
	w := setup(ctx, t)
	uid := string(w.nodeA.UID)

	claims := map[string]*v1.BlockClaim{
		"a non-canonical block":                              claim("v4-10.244.5.1-24", "10.244.5.1/24", "IPv4", "node-a", uid),
		"a name that is not the block's":                     claim("v4-10.244.5.0-24", "10.244.6.0/24", "IPv4", "node-a", uid),
		"a name with another prefix length":                  claim("v4-10.244.5.0-25", "10.244.5.0/24", "IPv4", "node-a", uid),
		"a free-form name":                                   claim("my-block", "10.244.5.0/24", "IPv4", "node-a", uid),
		"an IPv6 name in compressed form":                    claim("v6-fd12.3456.789a..100-120", "fd12:3456:789a::100/120", "IPv6", "node-a", uid),
		"an IPv6 block named as another":                     claim("v6-fd12.3456.789a.0000.0000.0000.0000.0200-120", "fd12:3456:789a::100/120", "IPv6", "node-a", uid),
		"a family that is not the block's":                   claim("v4-10.244.5.0-24", "10.244.5.0/24", "IPv6", "node-a", uid),
		"an empty nodeUID":                                   claim("v4-10.244.5.0-24", "10.244.5.0/24", "IPv4", "node-a", ""),
		"an empty nodeName":                                  claim("v4-10.244.5.0-24", "10.244.5.0/24", "IPv4", "", uid),
		"an IPv4-mapped IPv6 block":                          claim("v6-0000.0000.0000.0000.0000.ffff.0af4.0500-120", "::ffff:10.244.5.0/120", "IPv6", "node-a", uid),
		"a block that is not a CIDR":                         claim("v4-10.244.5.0-24", "10.244.5.0", "IPv4", "node-a", uid),
		"an upper-case IPv6 block (another text, one block)": claim("v6-fd12.3456.789a.0000.0000.0000.0000.0100-120", "FD12:3456:789A::100/120", "IPv6", "node-a", uid),
	}
	for name, c := range claims {
		t.Run("B4 the schema refuses a BlockClaim with "+name, func(t *testing.T) {
			if why := refusal(w.manager.Create(ctx, c), "schema", "B4"); why != "" {
				t.Error(why)
			}
		})
	}

	a := w.nncA
	statuses := []struct{ name, rule, patch string }{
		{"a non-canonical node block", "B7", `{"podCIDRs":["10.244.1.1/24"]}`},
		{"a /1 node block", "B7", `{"podCIDRs":["128.0.0.0/1"]}`},
		{"two IPv4 node blocks", "B7", `{"podCIDRs":["10.244.1.0/24","10.244.7.0/24"]}`},
		{"a node IP with a prefix", "B7", `{"nodeIPs":["10.224.0.4/32"]}`},
		{"an IPv4-mapped node IP", "B7", `{"nodeIPs":["::ffff:10.224.0.4"]}`},
		{"a zoned node IP", "B7", `{"nodeIPs":["fe80::1%eth0"]}`},
		{"an upper-case node IP", "B7", `{"nodeIPs":["FD00::1"]}`},
		{"a non-canonical node subnet", "B7", `{"nodeSubnet":"10.224.0.1/24"}`},
		{"a reserved range with a bad end", "B7", `{"reservedIPs":["10.224.0.10-10.224.0.x"]}`},
		{"a reserved range across families", "B7", `{"reservedIPs":["10.224.0.10-fd00::1"]}`},
		{"maxPods 5", "R12", `{"maxPods":5}`},
		{"maxPods 1000", "R12", `{"maxPods":1000}`},
	}
	for _, s := range statuses {
		t.Run(s.rule+" the schema refuses a NodeNetworkConfig spec with "+s.name, func(t *testing.T) {
			if why := refusal(specUpdate(ctx, w.manager, a.DeepCopy(), s.patch), "schema", s.rule); why != "" {
				t.Error(why)
			}
		})
	}

	// A list over its maxItems, or an item over its maxLength, is refused by the API
	// server's own bounds check, which names the field and the bound; it runs before the CEL
	// rules, whose cost those bounds cap (the server skips CEL on such an object).
	bounds := []struct{ name, want, patch string }{
		{"reservedIPs over 256 entries", "spec.reservedIPs: Too many: 257: must have at most 256 items",
			`{"reservedIPs":` + jsonList(many(257, func(i int) string { return fmt.Sprintf("10.224.%d.%d", i/200, i%200) })) + `}`},
		{"three nodeIPs", "spec.nodeIPs: Too many: 3: must have at most 2 items", `{"nodeIPs":["10.224.0.4","10.224.0.5","10.224.0.6"]}`},
		{"three podCIDRs", "spec.podCIDRs: Too many: 3: must have at most 2 items", `{"podCIDRs":["10.244.1.0/24","10.244.7.0/24","10.244.8.0/24"]}`},
		{"an item longer than a CIDR", "spec.podCIDRs[0]: Too long: may not be more than 43 bytes",
			`{"podCIDRs":["` + strings.Repeat("1", 50) + `"]}`},
		{"a node IP longer than an address", "spec.nodeIPs[0]: Too long: may not be more than 39 bytes",
			`{"nodeIPs":["` + strings.Repeat("a", 40) + `"]}`},
	}
	for _, b := range bounds {
		t.Run("B7 the schema bounds a NodeNetworkConfig spec: "+b.name, func(t *testing.T) {
			err := specUpdate(ctx, w.manager, a.DeepCopy(), b.patch)
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), b.want) {
				t.Errorf("got %v, want Invalid with %q", err, b.want)
			}
		})
	}

	t.Run("B7 the schema bounds a NodeNetworkConfig status: more than 8 conditions", func(t *testing.T) {
		nnc := a.DeepCopy()
		if err := w.manager.Get(ctx, client.ObjectKeyFromObject(a), nnc); err != nil {
			t.Fatal(err)
		}
		nnc.Status.Conditions = nil
		for i := range 9 {
			nnc.Status.Conditions = append(nnc.Status.Conditions, metav1.Condition{Type: fmt.Sprintf("Extra%d", i), Status: metav1.ConditionTrue,
				Reason: "Test", LastTransitionTime: metav1.Now()})
		}
		err := w.manager.Status().Update(ctx, nnc)
		if want := "status.conditions: Too many: 9: must have at most 8 items"; !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want Invalid with %q", err, want)
		}
	})
}

// B4 for any block: the claim named by allocation.ClaimName is accepted, and the same claim
// under the name of any other block is refused. Blocks are drawn at random (fixed seed) over
// both families and every prefix length the allocator hands out.
func TestB4ClaimNamesAgreeWithTheController(t *testing.T) {
	ctx := context.Background()
	w := setup(ctx, t)
	uid := string(w.nodeA.UID)
	rnd := rand.New(rand.NewPCG(12, 7))
	for i := range 150 {
		var p netip.Prefix
		if i%2 == 0 {
			var a [4]byte
			binary.BigEndian.PutUint32(a[:], rnd.Uint32())
			p = netip.PrefixFrom(netip.AddrFrom4(a), 8+rnd.IntN(23)).Masked()
		} else {
			var a [16]byte
			binary.BigEndian.PutUint64(a[:8], rnd.Uint64()&^(0xffff<<48)) // leading zero groups too
			binary.BigEndian.PutUint64(a[8:], rnd.Uint64()>>(rnd.IntN(4)*16))
			p = netip.PrefixFrom(netip.AddrFrom16(a), 48+rnd.IntN(81)).Masked()
		}
		c := claimOf(p.String(), "node-a", uid)
		if err := w.manager.Create(ctx, c, client.DryRunAll); err != nil {
			t.Errorf("the claim %s of %s was refused: %v", c.Name, p, err)
		}
		// The parent block (another length) and the sibling block (another address).
		b := p.Addr().AsSlice()
		b[(p.Bits()-1)/8] ^= 0x80 >> ((p.Bits() - 1) % 8)
		sibling, _ := netip.AddrFromSlice(b)
		for _, other := range []netip.Prefix{netip.PrefixFrom(p.Addr(), p.Bits()-1).Masked(), netip.PrefixFrom(sibling, p.Bits())} {
			c.Name = allocation.ClaimName(other)
			if why := refusal(w.manager.Create(ctx, c, client.DryRunAll), "schema", "B4"); why != "" {
				t.Errorf("block %s named %s: %s", p, c.Name, why)
			}
		}
	}
}
