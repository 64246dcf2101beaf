package controller

import (
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"slices"
	"strings"
	"sync"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/ipam"
	"github.com/overlaynet/overlaynet/internal/netconf"
)

// Why claims, and why this order of writes.
//
// No block may ever be held by two nodes (B4): not across restarts, leader changes, two
// managers running at once, API errors, or a Node recreated under the same name. An
// in-memory allocator alone cannot promise that, because two processes each have one. So
// the API server is made to enforce it: every block is claimed by creating a BlockClaim
// whose name is derived from the block alone (ClaimName). Names are unique, so of two
// concurrent claims for one block exactly one Create succeeds, whoever sent it — the same
// design Kubernetes uses for Service IPs (IPAddress objects).
//
// The per-node write order is: NodeNetworkConfig (bound to the Node's UID), then the claim,
// then the NNC status naming the block. A crash between any two writes leaves a state the
// next reconcile resolves without loss or duplicate:
//   - a claim without status: the claim carries the Node's UID, so it is adopted;
//   - a status without claim cannot be written, since status follows the claim;
//   - claims of a Node that is gone (other UID, or no Node): released by the reconcile of
//     that name, and by the garbage collector through the claim's ownerReference.
//
// Two managers may claim different blocks for one node at once. The NNC status update is a
// compare-and-swap on its resourceVersion, so only one of the two choices is ever
// published; the loser gets a Conflict, re-reads, adopts the published block and deletes
// its own extra claim. A claim is deleted only after the status that names another block
// is written, so a published block always has its claim.
//
// The Allocator below is this process's view of the claims (built from the cache once it
// has synced, then kept current by claim events and by this process's own writes) and the
// ipam pools built over it. It only ever suggests a free block; the API server decides.
type Allocator struct {
	mu sync.Mutex

	// ready is true once the claims were loaded from the synced cache; before that no
	// block is handed out (allocator state is rebuilt before the first allocation).
	ready bool
	// claims is every known claim by name.
	claims map[string]claimRecord
	// byNode indexes claim names by the holding Node's UID.
	byNode map[string]map[string]struct{}
	// pools are the ipam pools per family, built for poolsKey.
	pools map[v1.IPFamily]*ipam.Pool
	// poolsKey identifies the configuration the pools were built from.
	poolsKey string
	// synced is what Sync found when it built the pools for poolsKey.
	synced SyncResult
	// waiting are the names of nodes that could not get a block; they are reconciled
	// again as soon as space appears.
	waiting map[string]struct{}
}

// claimRecord is what the allocator keeps of a BlockClaim.
type claimRecord struct {
	// block is the claimed block.
	block netip.Prefix
	// family is the block's family.
	family v1.IPFamily
	// nodeName and nodeUID identify the holder.
	nodeName, nodeUID string
}

// ErrNotReady is returned while the allocator has not loaded the claims yet.
var ErrNotReady = errors.New("allocator has not loaded the block claims yet")

// NewAllocator returns an empty allocator; Load must be called before it hands out blocks.
func NewAllocator() *Allocator {
	return &Allocator{
		claims:  map[string]claimRecord{},
		byNode:  map[string]map[string]struct{}{},
		pools:   map[v1.IPFamily]*ipam.Pool{},
		waiting: map[string]struct{}{},
	}
}

// ClaimName returns the BlockClaim name of a block. It depends on the block alone, which is
// what lets the API server refuse a second claim. IPv6 blocks use the expanded address with
// dots for colons, since names may not contain colons.
func ClaimName(block netip.Prefix) string {
	if block.Addr().Is4() {
		return fmt.Sprintf("v4-%s-%d", block.Addr(), block.Bits())
	}
	return fmt.Sprintf("v6-%s-%d", strings.ReplaceAll(block.Addr().StringExpanded(), ":", "."), block.Bits())
}

// Load replaces the allocator's claims with the given ones (the synced cache's content) and
// marks it ready. Pools are rebuilt on the next Sync.
func (a *Allocator) Load(claims []v1.BlockClaim) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.claims = map[string]claimRecord{}
	a.byNode = map[string]map[string]struct{}{}
	for i := range claims {
		a.addLocked(&claims[i])
	}
	a.poolsKey = ""
	a.ready = true
}

// Ready reports whether Load ran.
func (a *Allocator) Ready() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ready
}

// ObserveClaim records a claim seen in the cache or written by this process.
func (a *Allocator) ObserveClaim(c *v1.BlockClaim) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.addLocked(c)
}

func (a *Allocator) addLocked(c *v1.BlockClaim) {
	block, err := netip.ParsePrefix(c.Spec.Block)
	if err != nil || ClaimName(block) != c.Name {
		return // not a claim this controller wrote; ignore rather than trust it
	}
	if old, ok := a.claims[c.Name]; ok {
		if old.nodeUID == c.Spec.NodeUID {
			return
		}
		a.forgetLocked(c.Name)
	}
	rec := claimRecord{block: block, family: c.Spec.Family, nodeName: c.Spec.NodeName, nodeUID: c.Spec.NodeUID}
	a.claims[c.Name] = rec
	if a.byNode[rec.nodeUID] == nil {
		a.byNode[rec.nodeUID] = map[string]struct{}{}
	}
	a.byNode[rec.nodeUID][c.Name] = struct{}{}
	if p := a.pools[rec.family]; p != nil && p.Contains(block) {
		_ = p.Occupy(block) // ErrInUse when this process allocated it first: already counted
	}
}

// ForgetClaim records that a claim is gone. nodeUID guards against a late delete event of
// an older claim of the same block: only the record of that holder is dropped. It reports
// whether space was freed.
func (a *Allocator) ForgetClaim(name, nodeUID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if rec, ok := a.claims[name]; ok && rec.nodeUID == nodeUID {
		a.forgetLocked(name)
		return true
	}
	return false
}

func (a *Allocator) forgetLocked(name string) {
	rec := a.claims[name]
	delete(a.claims, name)
	if set := a.byNode[rec.nodeUID]; set != nil {
		delete(set, name)
		if len(set) == 0 {
			delete(a.byNode, rec.nodeUID)
		}
	}
	if p := a.pools[rec.family]; p != nil && p.IsAllocated(rec.block) {
		_ = p.Release(rec.block)
	}
}

// ClaimsOf returns the blocks claimed for a Node incarnation, by family, lowest first.
func (a *Allocator) ClaimsOf(nodeUID string) map[v1.IPFamily][]netip.Prefix {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[v1.IPFamily][]netip.Prefix{}
	for name := range a.byNode[nodeUID] {
		rec := a.claims[name]
		out[rec.family] = append(out[rec.family], rec.block)
	}
	for f := range out {
		slices.SortFunc(out[f], func(x, y netip.Prefix) int { return x.Addr().Compare(y.Addr()) })
	}
	return out
}

// ClaimsOfName returns the claims held under a node name by any UID other than keepUID,
// for releasing what a deleted or recreated Node left behind.
func (a *Allocator) ClaimsOfName(nodeName, keepUID string) []ClaimRef {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []ClaimRef
	for name, rec := range a.claims {
		if rec.nodeName == nodeName && rec.nodeUID != keepUID {
			out = append(out, ClaimRef{Name: name, NodeUID: rec.nodeUID})
		}
	}
	return out
}

// ClaimRef names a claim and its holder.
type ClaimRef struct {
	// Name is the claim's object name.
	Name string
	// NodeUID is the holder's UID.
	NodeUID string
}

// PoolSpec is what a family's pool is built from.
type PoolSpec struct {
	// Family is the pool's family.
	Family v1.IPFamily
	// CIDRs are the pod CIDRs, in allocation order.
	CIDRs []netip.Prefix
	// BlockBits is the block prefix length.
	BlockBits int
	// Exclusions are never handed out.
	Exclusions []netip.Prefix
}

// PoolSpecs derives the pools of a configuration: one per family, the pod CIDRs of that
// family, minus the service, VNet and connected ranges (which a valid configuration keeps
// apart anyway; excluding them makes an invalid one harmless).
func PoolSpecs(c *netconf.Config) []PoolSpec {
	var out []PoolSpec
	for _, f := range c.Families {
		ps := PoolSpec{Family: f, CIDRs: c.PoolCIDRs(f), BlockBits: c.BlockBits[f]}
		for _, l := range [][]netip.Prefix{c.ServiceCIDRs, c.VNetCIDRs, c.ConnectedCIDRs} {
			for _, p := range l {
				if netconf.FamilyOf(p.Addr()) == f {
					ps.Exclusions = append(ps.Exclusions, p)
				}
			}
		}
		out = append(out, ps)
	}
	return out
}

func (ps PoolSpec) key() string {
	return fmt.Sprintf("%s/%d/%v/%v", ps.Family, ps.BlockBits, ps.CIDRs, ps.Exclusions)
}

// SyncResult tells what Sync found.
type SyncResult struct {
	// Stranded lists, per family, claimed blocks that lie outside the configured CIDRs:
	// a CIDR holding blocks was removed or narrowed. The pool keeps those CIDRs, so nothing
	// is released, and the change is reported as refused.
	Stranded map[v1.IPFamily][]netip.Prefix
}

// Sync makes the pools match the specs. Growth (an appended CIDR, or a CIDR widened to a
// superset, B1) is applied in place and moves no block. A CIDR that disappears from the
// spec while it holds blocks is kept, because releasing those blocks would renumber live
// pods; Sync reports it instead.
func (a *Allocator) Sync(specs []PoolSpec) (SyncResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	res := SyncResult{Stranded: map[v1.IPFamily][]netip.Prefix{}}
	if !a.ready {
		return res, ErrNotReady
	}
	var keys []string
	for _, ps := range specs {
		keys = append(keys, ps.key())
	}
	key := strings.Join(keys, ";")
	if key == a.poolsKey {
		return a.synced, nil
	}
	old := a.pools
	a.pools = map[v1.IPFamily]*ipam.Pool{}
	for _, ps := range specs {
		cidrs := slices.Clone(ps.CIDRs)
		// Keep every old CIDR that holds a claimed block and that the new CIDRs do not
		// cover: the refused part of a removal or narrowing.
		for _, rec := range a.claims {
			if rec.family != ps.Family || rec.block.Bits() != ps.BlockBits || covered(cidrs, rec.block) {
				continue
			}
			if op := old[ps.Family]; op != nil {
				for _, oc := range op.CIDRs() {
					if oc.Contains(rec.block.Addr()) && !slices.Contains(cidrs, oc) && !overlapsAny(cidrs, oc) {
						cidrs = append(cidrs, oc)
					}
				}
			}
			res.Stranded[ps.Family] = append(res.Stranded[ps.Family], rec.block)
		}
		pool, err := ipam.NewPool(string(ps.Family), cidrs, ps.BlockBits, ps.Exclusions)
		if err != nil {
			a.pools = old
			return res, fmt.Errorf("building the %s pool from %v: %w", ps.Family, cidrs, err)
		}
		for _, rec := range a.claims {
			if rec.family == ps.Family && pool.Contains(rec.block) {
				_ = pool.Occupy(rec.block) // a block under an exclusion stays unused: ErrExcluded
			}
		}
		a.pools[ps.Family] = pool
	}
	a.poolsKey, a.synced = key, res
	return res, nil
}

func covered(cidrs []netip.Prefix, block netip.Prefix) bool {
	for _, c := range cidrs {
		if c.Bits() <= block.Bits() && c.Contains(block.Addr()) {
			return true
		}
	}
	return false
}

func overlapsAny(cidrs []netip.Prefix, p netip.Prefix) bool {
	for _, c := range cidrs {
		if c.Overlaps(p) {
			return true
		}
	}
	return false
}

// Synced returns what the last Sync that built the pools found.
func (a *Allocator) Synced() SyncResult {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.synced
}

// Usage returns each family's pool usage.
func (a *Allocator) Usage() map[v1.IPFamily]ipam.Usage {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[v1.IPFamily]ipam.Usage{}
	for f, p := range a.pools {
		out[f] = p.Usage()
	}
	return out
}

// Valid reports whether block is a block of the family's current pool.
func (a *Allocator) Valid(f v1.IPFamily, block netip.Prefix) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pools[f]
	return p != nil && p.Contains(block)
}

// ErrLimit is returned by Reserve when the pool holds its limit of blocks.
var ErrLimit = errors.New("block limit reached")

// Reserve takes the lowest free block of a family for a claim about to be created. The
// block stays taken until Unreserve or a claim delete event releases it. A positive limit
// caps the number of blocks taken (the Kubenet route table, R31); the check and the
// reservation are one step, so concurrent reconciles cannot overshoot it.
func (a *Allocator) Reserve(f v1.IPFamily, limit int) (netip.Prefix, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pools[f]
	if p == nil {
		return netip.Prefix{}, fmt.Errorf("no %s pool: %w", f, ErrNotReady)
	}
	if limit > 0 && p.Usage().Allocated.Cmp(big.NewInt(int64(limit))) >= 0 {
		return netip.Prefix{}, fmt.Errorf("%s pool: %d blocks: %w", f, limit, ErrLimit)
	}
	return p.AllocateNext()
}

// MarkTaken records that a block is held by someone else (the API server refused our
// claim), so it is not suggested again.
func (a *Allocator) MarkTaken(f v1.IPFamily, block netip.Prefix) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if p := a.pools[f]; p != nil && p.Contains(block) {
		_ = p.Occupy(block)
	}
}

// Unreserve gives back a block whose claim was not created.
func (a *Allocator) Unreserve(f v1.IPFamily, block netip.Prefix) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, claimed := a.claims[ClaimName(block)]; claimed {
		return
	}
	if p := a.pools[f]; p != nil && p.IsAllocated(block) {
		_ = p.Release(block)
	}
}

// Wait records that a node waits for space; Waiting returns and clears the set.
func (a *Allocator) Wait(node string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.waiting[node] = struct{}{}
}

// Unwait removes a node from the waiting set.
func (a *Allocator) Unwait(node string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.waiting, node)
}

// Waiting returns the nodes waiting for space.
func (a *Allocator) Waiting() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.waiting))
	for n := range a.waiting {
		out = append(out, n)
	}
	return out
}

// ClaimedAddrs returns the single addresses (/32 claims) claimed inside subnet: NodeSubnet
// reservations.
func (a *Allocator) ClaimedAddrs(subnet netip.Prefix) map[netip.Addr]bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[netip.Addr]bool{}
	for _, rec := range a.claims {
		if rec.block.Bits() == rec.block.Addr().BitLen() && subnet.Contains(rec.block.Addr()) {
			out[rec.block.Addr()] = true
		}
	}
	return out
}

// Holder returns the UID of the Node holding a claim, or "".
func (a *Allocator) Holder(name string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.claims[name].nodeUID
}
