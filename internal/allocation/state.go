// Package allocation is the manager's view of who holds which pod address space: the
// BlockClaims (indexed by node name and by node UID), the ipam pools built over them, the
// node-subnet reservation pools, the nodes waiting for space, and the facts that guard a
// configuration change (the block sizes and modes in use). It is pure: no Kubernetes
// client, no logging, no metrics; the controller feeds it what the API server says and
// asks it for decisions. The API server stays the judge of uniqueness (a claim is an object
// named after its block); State only suggests blocks and remembers what it saw.
//
// A node costs two API writes (B8): its claim, then the create of its NodeNetworkConfig
// with the block in spec. Why this design and not claims for runs of blocks shared by a
// burst of nodes, and how a crash or a second manager between the two writes is resolved,
// is written down at the top of internal/controller/node_controller.go, beside the code
// that makes the writes.
package allocation

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

// State is this process's view of the claims and the pools built over them. It is safe
// for concurrent use.
//
// Trust policy: a claim is the truth only when it is well formed (CheckClaim): a claim
// whose name, family or block disagree is ignored, never counted, because the API server
// enforces uniqueness on the name alone and a malformed claim proves nothing about the
// block it names. A well-formed claim occupies its whole range whatever its size, so
// blocks of a new size are never carved over blocks of an old one.
type State struct {
	mu sync.Mutex

	// ready is true once Load ran; before that no block is handed out.
	ready bool
	// claims is every well-formed claim by name.
	claims map[string]claimRecord
	// byUID and byName index claim names by the holder's UID and node name.
	byUID, byName map[string]map[string]struct{}
	// sizes counts the claims per family and prefix length.
	sizes map[Size]int
	// specs are the pool specs of the last Sync, kept to rebuild the pools when a claim
	// of another size appears.
	specs []PoolSpec
	// pools are the block pools per family, built for poolsKey.
	pools map[v1.IPFamily]*ipam.Pool
	// poolsKey identifies the specs the pools were built from.
	poolsKey string
	// synced is what the Sync that built the pools found.
	synced SyncResult
	// subnets are the NodeSubnet reservation pools (single addresses), built on first use.
	subnets map[netip.Prefix]*ipam.Pool
	// inflight are the blocks and addresses handed out by Reserve or ReserveAddr (or
	// marked taken) whose claim this process has not seen yet; a rebuild of the pools
	// keeps them taken.
	inflight map[netip.Prefix]struct{}
	// waiting are the names of nodes waiting for space or for a usable configuration;
	// they are reconciled again when a claim is released.
	waiting map[string]struct{}
	// modes is the mode of every allocated NodeNetworkConfig, by name, and modeCount
	// counts them per mode: the mode the nodes run in, whatever the OverlayCluster says.
	modes     map[string]v1.NetworkMode
	modeCount map[v1.NetworkMode]int
	// programmed is the set of allocated node configurations whose agent programmed
	// their current generation, and programmedCount counts them per mode: how far a
	// migration got, kept as events arrive rather than counted by listing.
	programmed      map[string]v1.NetworkMode
	programmedCount map[v1.NetworkMode]int
	// nodes is the set of live Node names.
	nodes map[string]struct{}
}

// claimRecord is what State keeps of a BlockClaim.
type claimRecord struct {
	// block is the claimed block (or single address, for a NodeSubnet reservation).
	block netip.Prefix
	// family is the block's family.
	family v1.IPFamily
	// nodeName and nodeUID identify the holder; either may be empty in a claim someone
	// else wrote, and then it matches no live Node and is released.
	nodeName, nodeUID string
}

// Size is a family and a prefix length.
type Size struct {
	Family v1.IPFamily
	Bits   int
}

// ErrNotReady is returned while State has not loaded the claims yet.
var ErrNotReady = errors.New("allocation state has not loaded the block claims yet")

// ErrLimit is returned by Reserve when the pool holds its limit of blocks.
var ErrLimit = errors.New("block limit reached")

// New returns an empty State; Load must be called before it hands out blocks.
func New() *State {
	a := &State{nodes: map[string]struct{}{}}
	a.reset()
	a.pools = map[v1.IPFamily]*ipam.Pool{}
	a.waiting = map[string]struct{}{}
	a.inflight = map[netip.Prefix]struct{}{}
	return a
}

func (a *State) reset() {
	a.claims = map[string]claimRecord{}
	a.byUID = map[string]map[string]struct{}{}
	a.byName = map[string]map[string]struct{}{}
	a.sizes = map[Size]int{}
	a.subnets = map[netip.Prefix]*ipam.Pool{}
	a.modes = map[string]v1.NetworkMode{}
	a.modeCount = map[v1.NetworkMode]int{}
	a.programmed = map[string]v1.NetworkMode{}
	a.programmedCount = map[v1.NetworkMode]int{}
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

// CheckClaim returns the claim's block, or why the claim is not trusted: its block is not
// a canonical CIDR of a plain address, its name is not ClaimName of the block, or its
// family is not the block's.
func CheckClaim(c *v1.BlockClaim) (netip.Prefix, error) {
	block, err := netip.ParsePrefix(c.Spec.Block)
	if err != nil || block != block.Masked() || block.Addr().Is4In6() {
		return netip.Prefix{}, fmt.Errorf("block claim %s: block %q is not a canonical CIDR", c.Name, c.Spec.Block)
	}
	if want := ClaimName(block); c.Name != want {
		return netip.Prefix{}, fmt.Errorf("block claim %s: the claim of block %s must be named %s", c.Name, block, want)
	}
	if f := netconf.FamilyOf(block.Addr()); c.Spec.Family != f {
		return netip.Prefix{}, fmt.Errorf("block claim %s: family %q does not match block %s (%s)", c.Name, c.Spec.Family, block, f)
	}
	return block, nil
}

// NodeConfig is what State keeps of a NodeNetworkConfig: its name, its mode, whether it
// holds an allocation and whether its agent programmed its current generation.
type NodeConfig struct {
	Name       string
	Mode       v1.NetworkMode
	Allocated  bool
	Programmed bool
}

// Load replaces the claims and node configurations with the given ones (the synced cache's
// content) and marks the state ready. Malformed claims are skipped and returned. Pools are
// rebuilt on the next Sync.
func (a *State) Load(claims []v1.BlockClaim, nodes []NodeConfig) (ignored []error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reset()
	for i := range claims {
		if err := a.addLocked(&claims[i]); err != nil {
			ignored = append(ignored, err)
		}
	}
	for _, n := range nodes {
		a.observeNodeLocked(n)
	}
	a.poolsKey = ""
	a.pools = map[v1.IPFamily]*ipam.Pool{}
	a.ready = true
	return ignored
}

// Ready reports whether Load ran.
func (a *State) Ready() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ready
}

// ObserveClaim records a claim seen in the cache or written by this process. It returns
// an error, and records nothing, for a claim CheckClaim refuses.
func (a *State) ObserveClaim(c *v1.BlockClaim) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addLocked(c)
}

func (a *State) addLocked(c *v1.BlockClaim) error {
	block, err := CheckClaim(c)
	if err != nil {
		return err
	}
	if old, ok := a.claims[c.Name]; ok {
		if old.nodeUID == c.Spec.NodeUID && old.nodeName == c.Spec.NodeName {
			return nil
		}
		a.forgetLocked(c.Name)
	}
	rec := claimRecord{block: block, family: c.Spec.Family, nodeName: c.Spec.NodeName, nodeUID: c.Spec.NodeUID}
	a.claims[c.Name] = rec
	delete(a.inflight, block)
	index(a.byUID, rec.nodeUID, c.Name)
	index(a.byName, rec.nodeName, c.Name)
	a.sizes[Size{rec.family, block.Bits()}]++
	if p := a.pools[rec.family]; p != nil {
		switch {
		case p.Contains(block):
			_ = p.Occupy(block) // ErrInUse when this process allocated it first: already counted
		case overlapsAny(p.CIDRs(), block):
			// A claim of another size inside the pool: it must occupy its whole range.
			a.rebuildLocked()
		}
	}
	if single(block) {
		for s, p := range a.subnets {
			if s.Contains(block.Addr()) {
				_ = p.Occupy(block)
			}
		}
	}
	return nil
}

func index(m map[string]map[string]struct{}, key, name string) {
	if m[key] == nil {
		m[key] = map[string]struct{}{}
	}
	m[key][name] = struct{}{}
}

func unindex(m map[string]map[string]struct{}, key, name string) {
	if set := m[key]; set != nil {
		delete(set, name)
		if len(set) == 0 {
			delete(m, key)
		}
	}
}

// single reports whether a claim is of one address: a NodeSubnet reservation.
func single(p netip.Prefix) bool { return p.Bits() == p.Addr().BitLen() }

// ForgetClaim records that a claim is gone. nodeUID guards against a late delete event of
// an older claim of the same block: only the record of that holder is dropped. It reports
// whether space was freed.
func (a *State) ForgetClaim(name, nodeUID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if rec, ok := a.claims[name]; ok && rec.nodeUID == nodeUID {
		a.forgetLocked(name)
		return true
	}
	return false
}

func (a *State) forgetLocked(name string) {
	rec := a.claims[name]
	delete(a.claims, name)
	unindex(a.byUID, rec.nodeUID, name)
	unindex(a.byName, rec.nodeName, name)
	k := Size{rec.family, rec.block.Bits()}
	if a.sizes[k]--; a.sizes[k] <= 0 {
		delete(a.sizes, k)
	}
	if p := a.pools[rec.family]; p != nil {
		switch {
		case p.IsAllocated(rec.block):
			_ = p.Release(rec.block)
		case !p.Contains(rec.block) && overlapsAny(p.CIDRs(), rec.block):
			a.rebuildLocked() // the range a claim of another size held is free again
		}
	}
	if single(rec.block) {
		for s, p := range a.subnets {
			if s.Contains(rec.block.Addr()) && p.IsAllocated(rec.block) {
				_ = p.Release(rec.block)
			}
		}
	}
}

// ClaimsOf returns the blocks claimed for a Node incarnation (both its name and its UID
// must match), by family, lowest first.
func (a *State) ClaimsOf(nodeName, nodeUID string) map[v1.IPFamily][]netip.Prefix {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[v1.IPFamily][]netip.Prefix{}
	for name := range a.byUID[nodeUID] {
		if rec := a.claims[name]; rec.nodeName == nodeName {
			out[rec.family] = append(out[rec.family], rec.block)
		}
	}
	for f := range out {
		slices.SortFunc(out[f], func(x, y netip.Prefix) int { return x.Addr().Compare(y.Addr()) })
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

// StaleClaims returns the claims held under a node name that the live Node of that name
// does not hold: every claim of the name when liveUID is empty (no such Node), else those
// of any other UID, an empty one included. A claim whose holder matches no live Node is
// released, because no Node can ever publish it.
func (a *State) StaleClaims(nodeName, liveUID string) []ClaimRef {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []ClaimRef
	for name := range a.byName[nodeName] {
		if rec := a.claims[name]; liveUID == "" || rec.nodeUID != liveUID {
			out = append(out, ClaimRef{Name: name, NodeUID: rec.nodeUID})
		}
	}
	return out
}

// Holder returns the holder of a claim.
func (a *State) Holder(name string) (ClaimRef, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	rec, ok := a.claims[name]
	return ClaimRef{Name: name, NodeUID: rec.nodeUID}, ok
}

// ObserveNode records a NodeNetworkConfig's mode and whether it is allocated.
func (a *State) ObserveNode(n NodeConfig) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.observeNodeLocked(n)
}

func (a *State) observeNodeLocked(n NodeConfig) {
	a.forgetNodeLocked(n.Name)
	if n.Allocated && n.Mode != "" {
		a.modes[n.Name] = n.Mode
		a.modeCount[n.Mode]++
		if n.Programmed {
			a.programmed[n.Name] = n.Mode
			a.programmedCount[n.Mode]++
		}
	}
}

// ForgetNode records that a NodeNetworkConfig is gone.
func (a *State) ForgetNode(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.forgetNodeLocked(name)
}

func (a *State) forgetNodeLocked(name string) {
	if m, ok := a.modes[name]; ok {
		delete(a.modes, name)
		if a.modeCount[m]--; a.modeCount[m] <= 0 {
			delete(a.modeCount, m)
		}
	}
	if m, ok := a.programmed[name]; ok {
		delete(a.programmed, name)
		if a.programmedCount[m]--; a.programmedCount[m] <= 0 {
			delete(a.programmedCount, m)
		}
	}
}

// ObserveLiveNode and ForgetLiveNode keep the set of live Node names.
func (a *State) ObserveLiveNode(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.nodes[name] = struct{}{}
}

// ForgetLiveNode records that a Node is gone.
func (a *State) ForgetLiveNode(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.nodes, name)
}

// Counts are the figures of the OverlayCluster status, kept as events arrive.
type Counts struct {
	// Nodes is the number of live Nodes.
	Nodes int
	// Allocated is the number of allocated node configurations.
	Allocated int
	// Programmed counts, per mode, the allocated node configurations whose agent
	// programmed their current generation.
	Programmed map[v1.NetworkMode]int
	// Waiting is the number of nodes waiting; FirstWaiting the lowest few names.
	Waiting      int
	FirstWaiting []string
}

// Counts returns the current counts in O(1) (plus the few waiting names).
func (a *State) Counts() Counts {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := Counts{Nodes: len(a.nodes), Allocated: len(a.modes), Programmed: map[v1.NetworkMode]int{}, Waiting: len(a.waiting)}
	for m, n := range a.programmedCount {
		c.Programmed[m] = n
	}
	for n := range a.waiting {
		if len(c.FirstWaiting) < 5 || n < c.FirstWaiting[4] {
			c.FirstWaiting = append(c.FirstWaiting, n)
			slices.Sort(c.FirstWaiting)
			if len(c.FirstWaiting) > 5 {
				c.FirstWaiting = c.FirstWaiting[:5]
			}
		}
	}
	return c
}

// Facts are what is allocated, which a new configuration must agree with: it comes from
// the claims and the node configurations, never from the OverlayCluster's status, so a
// deleted and re-created OverlayCluster is held to the same rules as an edited one.
type Facts struct {
	// BlockBits lists, per family, the prefix lengths of the claimed blocks (single
	// addresses, which are NodeSubnet reservations, aside), shortest first.
	BlockBits map[v1.IPFamily][]int
	// Modes lists the modes allocated nodes run in, sorted.
	Modes []v1.NetworkMode
}

// Facts returns what is allocated now.
func (a *State) Facts() Facts {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := Facts{BlockBits: map[v1.IPFamily][]int{}}
	for s := range a.sizes {
		if s.Bits != map[v1.IPFamily]int{v1.IPv4: 32, v1.IPv6: 128}[s.Family] {
			f.BlockBits[s.Family] = append(f.BlockBits[s.Family], s.Bits)
		}
	}
	for fam := range f.BlockBits {
		slices.Sort(f.BlockBits[fam])
	}
	for m := range a.modeCount {
		f.Modes = append(f.Modes, m)
	}
	slices.Sort(f.Modes)
	return f
}

// Key identifies the facts: equal keys, equal facts.
func (f Facts) Key() string {
	return fmt.Sprintf("%v/%v/%v", f.BlockBits[v1.IPv4], f.BlockBits[v1.IPv6], f.Modes)
}

// Legacy returns the mode other than Overlay that allocated nodes run in, else Overlay
// when nodes are allocated, else "" (nothing is allocated).
func (f Facts) Legacy() v1.NetworkMode {
	for _, m := range f.Modes {
		if m != v1.ModeOverlay {
			return m
		}
	}
	if len(f.Modes) > 0 {
		return v1.ModeOverlay
	}
	return ""
}

// Check returns one message per rule the configuration breaks against what is allocated:
// a mode change other than to Overlay (R52), a family that holds blocks dropped or a block
// size changed while blocks are allocated (B1).
func (f Facts) Check(c *netconf.Config) []string {
	var msgs []string
	for _, m := range f.Modes {
		if m != c.Mode && c.Mode != v1.ModeOverlay {
			msgs = append(msgs, fmt.Sprintf("spec.mode: nodes run in %s mode and %s → %s is refused: only Kubenet or NodeSubnet → Overlay is allowed, and leaving Overlay is irreversible (R52)", m, m, c.Mode))
		}
	}
	for _, fam := range []v1.IPFamily{v1.IPv4, v1.IPv6} {
		bits := f.BlockBits[fam]
		if len(bits) == 0 {
			continue
		}
		if c.FamilyIndex(fam) < 0 {
			msgs = append(msgs, fmt.Sprintf("spec.ipFamilies: %v drops %s, but nodes hold /%v %s blocks (B1)", c.Families, fam, bits, fam))
			continue
		}
		if want := c.BlockBits[fam]; len(bits) > 1 || bits[0] != want {
			msgs = append(msgs, fmt.Sprintf("the %s block prefix length /%d differs from the %v blocks nodes hold: block sizes cannot change while blocks are allocated (B1)", fam, want, bits))
		}
	}
	return msgs
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
// pods; Sync reports it instead. Claims of another block size occupy their whole range.
func (a *State) Sync(specs []PoolSpec) (SyncResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.ready {
		return SyncResult{}, ErrNotReady
	}
	var keys []string
	for _, ps := range specs {
		keys = append(keys, ps.key())
	}
	if key := strings.Join(keys, ";"); key != a.poolsKey {
		if err := a.buildLocked(specs); err != nil {
			return SyncResult{}, err
		}
		a.poolsKey = key
	}
	return a.synced, nil
}

// rebuildLocked rebuilds the pools from the last specs, keeping the key.
func (a *State) rebuildLocked() {
	if err := a.buildLocked(a.specs); err != nil {
		a.poolsKey = "" // the next Sync tries again and reports the error
	}
}

func (a *State) buildLocked(specs []PoolSpec) error {
	res := SyncResult{Stranded: map[v1.IPFamily][]netip.Prefix{}}
	old := a.pools
	pools := map[v1.IPFamily]*ipam.Pool{}
	for _, ps := range specs {
		cidrs := slices.Clone(ps.CIDRs)
		exclusions := slices.Clone(ps.Exclusions)
		for _, rec := range a.claims {
			if rec.family != ps.Family {
				continue
			}
			if rec.block.Bits() != ps.BlockBits {
				if overlapsAny(cidrs, rec.block) {
					exclusions = append(exclusions, rec.block) // occupies its whole range
				}
				continue
			}
			if covered(cidrs, rec.block) {
				continue
			}
			// Keep every old CIDR that holds a claimed block and that the new CIDRs do
			// not cover: the refused part of a removal or narrowing.
			if op := old[ps.Family]; op != nil {
				for _, oc := range op.CIDRs() {
					if oc.Contains(rec.block.Addr()) && !slices.Contains(cidrs, oc) && !overlapsAny(cidrs, oc) {
						cidrs = append(cidrs, oc)
					}
				}
			}
			res.Stranded[ps.Family] = append(res.Stranded[ps.Family], rec.block)
		}
		pool, err := ipam.NewPool(string(ps.Family), cidrs, ps.BlockBits, exclusions)
		if err != nil {
			return fmt.Errorf("building the %s pool from %v: %w", ps.Family, cidrs, err)
		}
		for _, rec := range a.claims {
			if rec.family == ps.Family && pool.Contains(rec.block) {
				_ = pool.Occupy(rec.block) // a block under an exclusion stays unused: ErrExcluded
			}
		}
		for b := range a.inflight {
			if pool.Contains(b) {
				_ = pool.Occupy(b)
			}
		}
		pools[ps.Family] = pool
	}
	a.pools, a.synced, a.specs = pools, res, specs
	return nil
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
func (a *State) Synced() SyncResult {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.synced
}

// Usage returns each family's pool usage.
func (a *State) Usage() map[v1.IPFamily]ipam.Usage {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[v1.IPFamily]ipam.Usage{}
	for f, p := range a.pools {
		out[f] = p.Usage()
	}
	return out
}

// Valid reports whether block is a block of the family's current pool.
func (a *State) Valid(f v1.IPFamily, block netip.Prefix) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pools[f]
	return p != nil && p.Contains(block)
}

// Reserve takes the lowest free block of a family for a claim about to be created. The
// block stays taken until Unreserve or a claim delete event releases it. A positive limit
// caps the number of blocks taken (the Kubenet route table, R31); the check and the
// reservation are one step, so concurrent reconciles cannot overshoot it.
func (a *State) Reserve(f v1.IPFamily, limit int) (netip.Prefix, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.pools[f]
	if p == nil {
		return netip.Prefix{}, fmt.Errorf("no %s pool: %w", f, ErrNotReady)
	}
	if limit > 0 && p.Usage().Allocated.Cmp(big.NewInt(int64(limit))) >= 0 {
		return netip.Prefix{}, fmt.Errorf("%s pool: %d blocks: %w", f, limit, ErrLimit)
	}
	b, err := p.AllocateNext()
	if err == nil {
		a.inflight[b] = struct{}{}
	}
	return b, err
}

// MarkTaken records that a block or address is held by someone else (the API server
// refused our claim), so it is not suggested again.
func (a *State) MarkTaken(block netip.Prefix) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, claimed := a.claims[ClaimName(block)]; !claimed {
		a.inflight[block] = struct{}{}
	}
	if p := a.pools[netconf.FamilyOf(block.Addr())]; p != nil && p.Contains(block) {
		_ = p.Occupy(block)
	}
	for s, p := range a.subnets {
		if single(block) && s.Contains(block.Addr()) {
			_ = p.Occupy(block)
		}
	}
}

// Unreserve gives back a block or address whose claim was not created.
func (a *State) Unreserve(block netip.Prefix) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, claimed := a.claims[ClaimName(block)]; claimed {
		return
	}
	delete(a.inflight, block)
	if p := a.pools[netconf.FamilyOf(block.Addr())]; p != nil && p.IsAllocated(block) {
		_ = p.Release(block)
	}
	for s, p := range a.subnets {
		if single(block) && s.Contains(block.Addr()) && p.IsAllocated(block) {
			_ = p.Release(block)
		}
	}
}

// ReserveAddr takes the lowest free address of a node subnet for a reservation claim about
// to be created (R40). Addresses the cloud keeps (the network address, the first three
// hosts, the IPv4 broadcast address), claimed addresses and addresses for which isNodeIP
// says true are skipped; the work is proportional to the addresses taken, not to the size
// of the subnet (a /8 or a /64 costs what a /24 does). It fails with ipam.ErrExhausted.
func (a *State) ReserveAddr(subnet netip.Prefix, isNodeIP func(netip.Addr) bool) (netip.Addr, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.ready {
		return netip.Addr{}, ErrNotReady
	}
	p, err := a.subnetLocked(subnet)
	if err != nil {
		return netip.Addr{}, err
	}
	for {
		b, err := p.AllocateNext()
		if err != nil {
			return netip.Addr{}, err
		}
		if isNodeIP == nil || !isNodeIP(b.Addr()) {
			a.inflight[b] = struct{}{}
			return b.Addr(), nil
		}
		// A node's own address is never a pod's (R40); it stays taken in this pool.
	}
}

// FreeAddrs returns the number of addresses of a node subnet that ReserveAddr can still
// hand out (node addresses not yet met included).
func (a *State) FreeAddrs(subnet netip.Prefix) *big.Int {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, err := a.subnetLocked(subnet)
	if err != nil {
		return new(big.Int)
	}
	return p.Usage().Free
}

func (a *State) subnetLocked(subnet netip.Prefix) (*ipam.Pool, error) {
	if p := a.subnets[subnet]; p != nil {
		return p, nil
	}
	bits := subnet.Addr().BitLen()
	first := subnet.Masked().Addr()
	// The cloud keeps the network address and the first three hosts, and in IPv4 the
	// broadcast address (R14, R40).
	excl := []netip.Prefix{netip.PrefixFrom(first, max(subnet.Bits(), bits-2)).Masked()}
	if subnet.Addr().Is4() {
		excl = append(excl, netip.PrefixFrom(lastOf(subnet), 32))
	}
	p, err := ipam.NewPool("node subnet "+subnet.String(), []netip.Prefix{subnet.Masked()}, bits, excl)
	if err != nil {
		return nil, err
	}
	for _, rec := range a.claims {
		if single(rec.block) && subnet.Contains(rec.block.Addr()) {
			_ = p.Occupy(rec.block)
		}
	}
	for b := range a.inflight {
		if single(b) && subnet.Contains(b.Addr()) {
			_ = p.Occupy(b)
		}
	}
	a.subnets[subnet] = p
	return p, nil
}

// lastOf returns the last address of p.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Wait records that a node waits for space or for a usable configuration.
func (a *State) Wait(node string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.waiting[node] = struct{}{}
}

// Unwait removes a node from the waiting set.
func (a *State) Unwait(node string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.waiting, node)
}

// Waiting returns the nodes waiting, in no order.
func (a *State) Waiting() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.waiting))
	for n := range a.waiting {
		out = append(out, n)
	}
	return out
}
