package desired

import (
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/netconf"
	"github.com/overlaynet/overlaynet/internal/nodesubnet"
)

// PeerIndex is Compute and Encapsulate kept up to date one peer at a time (B8): an agent
// tells it which NodeNetworkConfigs changed (Set, Remove), and Compute re-parses and
// re-checks only those, updates the routes, node IPs and VXLAN entries they touch, and
// says what changed (Delta), so that a peer joining or leaving costs the same in a cluster
// of 50 nodes and of 65,536.
//
// Every rule of peers.go holds exactly as in Compute; the rules that relate peers are kept
// by indexes instead of scans:
//   - a node IP is held by this node, else by its oldest claimant among the peers whose
//     status parses (dedupNodeIPs): claimants are indexed by address, so a change re-checks
//     only the peers that share an address with the changed one;
//   - a block is routed to the highest-ranked claimant unless it overlaps one of this
//     node's own (peerRoutes): every peer block has its family's block length and lies in
//     the pod CIDRs (Cluster.checkBlock), so two peer blocks overlap exactly when they are
//     equal, and claimants are indexed by block;
//   - a VTEP MAC belongs to this node, else to the encapsulated route of the lowest
//     destination (Encapsulate): routes are indexed by MAC.
//
// What depends on the node itself, the cluster's facts or the crossSubnet setting is
// recomputed in full when it changes (rare): the index is rebuilt from the peers it holds,
// and Compute returns no Delta.
//
// The result equals Compute followed by Encapsulate (index_test.go proves it over random
// sequences of changes). It is not safe for concurrent use: the agent computes one state
// at a time.
type PeerIndex struct {
	// peers are the peers' latest objects and what was derived from them, by name.
	peers map[string]*peerEntry
	// pending are the peers changed since the last Compute, by name.
	pending map[string]*peerEntry

	// The context every derived state below depends on; a change rebuilds it.
	facts, selfKey, sourcesKey string
	cluster                    *Cluster
	self                       string
	own                        []netip.Addr // this node's checked node IPs
	sources                    []netip.Prefix
	enc                        Encapsulation
	local                      map[v1alpha1.IPFamily]netip.Addr // VXLAN sources
	ownMAC                     map[macKey]bool
	ownBlocks                  []netip.Prefix // the VXLAN devices' addresses
	built                      bool

	// addrs are the claimants of each node IP among the peers whose status parses.
	addrs map[netip.Addr][]*peerEntry
	// nodeIPs are the node IPs of the peers that are programmed, to their holder.
	nodeIPs map[netip.Addr]string
	// blocks are the claimants of each block among the programmed peers with a node IP of
	// its family.
	blocks map[netip.Prefix][]*peerEntry
	// routed is each block's route before encapsulation (peerRoutes' output).
	routed map[netip.Prefix]Route
	// macs are the destinations of the routed blocks that go through VXLAN, by MAC;
	// tunneled counts them per family (the device exists while one does).
	macs     map[macKey][]netip.Prefix
	tunneled map[v1alpha1.IPFamily]int
	// routes are the routes programmed, tunnel the VXLAN entries, by destination.
	routes map[netip.Prefix]Route
	tunnel map[netip.Prefix]TunnelPeer
	// blockWarnings and encapWarnings are the warnings about each block's claimants and
	// its VXLAN entry; noVia those about each peer's blocks without a node IP of their
	// family; skipped the problems of each skipped peer.
	blockWarnings map[netip.Prefix][]string
	encapWarnings map[netip.Prefix][]string
	noVia         map[string][]string
	skipped       map[string][]string
	// paths counts each peer's direct and encapsulated routes; direct and encapsulated
	// count the peers of each kind (Paths).
	paths                 map[string]*[2]int
	direct, encapsulated  int
	dirtyBlocks, dirtyMAC map[netip.Prefix]bool

	// What the changes since the last Delta touched, as it was then (nil: absent).
	wasRoute  map[netip.Prefix]*Route
	wasTunnel map[netip.Prefix]*TunnelPeer
	wasIP     map[netip.Addr]bool
	// lastOwn is the previous Compute's datapath without the per-peer parts.
	lastOwn *Datapath

	work Work
}

// Work counts what a PeerIndex did, for tests and benchmarks.
type Work struct {
	// Parsed counts peer statuses parsed; Checked counts peers whose verdict (B7) was
	// evaluated; Blocks counts blocks whose route was decided.
	Parsed, Checked, Blocks int
	// Rebuilds counts full rebuilds.
	Rebuilds int
}

// Encapsulation is what decides which peers go through VXLAN (Encapsulate). With Known
// false, every peer is routed directly and no device exists.
type Encapsulation struct {
	// Known is false when the uplink is unknown or the cluster never encapsulates.
	Known bool
	// CrossSubnet is the cluster's effective setting, Underlay the node's uplink.
	CrossSubnet netconf.CrossSubnet
	Underlay    Underlay
}

type macKey struct {
	family v1alpha1.IPFamily
	mac    [6]byte
}

type peerEntry struct {
	name string
	// obj is what the index keeps of the latest object: what parsePeer reads and its
	// version, not the whole object, since an agent holds one per node; nil once the peer
	// is gone.
	obj *peerObject
	// parsed is obj's status parsed, valid while parsedValid; parseProblems say what broke
	// a rule of parsePeer.
	parsed        node
	parseProblems []string
	parsedValid   bool
	// claims are the node IPs entered in addrs, accepted those entered in nodeIPs, cands
	// the blocks entered in blocks with their gateway.
	claims   []netip.Addr
	accepted []netip.Addr
	cands    []Route
}

// peerObject is what a PeerIndex keeps of a peer's object.
type peerObject struct {
	uid               types.UID
	resourceVersion   string
	created           metav1.Time
	podCIDRs, nodeIPs []string
}

// object is the peer's object as parsePeer reads it.
func (e *peerEntry) object() *v1alpha1.NodeNetworkConfig {
	nnc := &v1alpha1.NodeNetworkConfig{ObjectMeta: metav1.ObjectMeta{Name: e.name, UID: e.obj.uid, CreationTimestamp: e.obj.created}}
	a := &nnc.Spec
	a.PodCIDRs, a.NodeIPs = e.obj.podCIDRs, e.obj.nodeIPs
	return nnc
}

// Delta is what changed in the datapath's per-peer parts since the previous Compute.
type Delta struct {
	// Routes are the routes added or changed, RemovedRoutes the routes gone (as they were),
	// each sorted by destination.
	Routes, RemovedRoutes []Route
	// AddedNodeIPs and RemovedNodeIPs change the node IPs of FamilyRules, sorted.
	AddedNodeIPs, RemovedNodeIPs []netip.Addr
	// TunnelPeers are the VXLAN entries added or changed, RemovedTunnelPeers those gone
	// (as they were), each sorted by gateway. An entry's family is its gateway's.
	TunnelPeers, RemovedTunnelPeers []TunnelPeer
}

// Empty reports whether d changes nothing.
func (d *Delta) Empty() bool {
	return len(d.Routes)+len(d.RemovedRoutes)+len(d.AddedNodeIPs)+len(d.RemovedNodeIPs)+len(d.TunnelPeers)+len(d.RemovedTunnelPeers) == 0
}

// ApplyTo applies d to dp, the datapath of the previous Compute, at O(size of dp) cost:
// for backends that keep no per-peer state, and for tests.
func (d *Delta) ApplyTo(dp *Datapath) {
	routes := map[netip.Prefix]Route{}
	for _, r := range dp.Routes {
		routes[r.Dst] = r
	}
	for _, r := range d.RemovedRoutes {
		delete(routes, r.Dst)
	}
	for _, r := range d.Routes {
		routes[r.Dst] = r
	}
	dp.Routes = sortedRoutesOf(routes)
	for i := range dp.Families {
		f := &dp.Families[i]
		ips := slices.DeleteFunc(slices.Clone(f.NodeIPs), func(a netip.Addr) bool { return slices.Contains(d.RemovedNodeIPs, a) })
		f.NodeIPs = sortedAddrs(append(ips, addrsOfFamily(d.AddedNodeIPs, f.Family)...))
	}
	for i := range dp.Tunnels {
		t := &dp.Tunnels[i]
		peers := slices.DeleteFunc(slices.Clone(t.Peers), func(p TunnelPeer) bool {
			return slices.ContainsFunc(d.RemovedTunnelPeers, func(o TunnelPeer) bool { return o.Gateway == p.Gateway }) ||
				slices.ContainsFunc(d.TunnelPeers, func(o TunnelPeer) bool { return o.Gateway == p.Gateway })
		})
		for _, p := range d.TunnelPeers {
			if familyOf(p.Gateway) == t.Family {
				peers = append(peers, p)
			}
		}
		slices.SortFunc(peers, func(a, b TunnelPeer) int { return a.Gateway.Compare(b.Gateway) })
		t.Peers = peers
	}
}

// Work returns what the index has done so far.
func (x *PeerIndex) Work() Work { return x.work }

// Set records nnc, a peer's latest object (the agent's own may be among them: it is left
// out). An object being deleted is a peer gone. A version already recorded (same UID and
// resourceVersion) costs nothing.
func (x *PeerIndex) Set(nnc *v1alpha1.NodeNetworkConfig) {
	if !nnc.DeletionTimestamp.IsZero() {
		x.Remove(nnc.Name)
		return
	}
	if x.peers == nil {
		x.peers, x.pending = map[string]*peerEntry{}, map[string]*peerEntry{}
	}
	e := x.peers[nnc.Name]
	if e == nil {
		e = &peerEntry{name: nnc.Name}
		x.peers[nnc.Name] = e
	} else if e.obj != nil && e.obj.uid == nnc.UID && e.obj.resourceVersion == nnc.ResourceVersion && nnc.ResourceVersion != "" {
		return
	}
	a := &nnc.Spec // the lists are shared, never written
	e.obj = &peerObject{uid: nnc.UID, resourceVersion: nnc.ResourceVersion, created: nnc.CreationTimestamp, podCIDRs: a.PodCIDRs, nodeIPs: a.NodeIPs}
	e.parsedValid = false
	x.pending[nnc.Name] = e
}

// Remove records that the peer name is gone.
func (x *PeerIndex) Remove(name string) {
	if e := x.peers[name]; e != nil && e.obj != nil {
		e.obj, e.parsedValid = nil, false
		x.pending[name] = e
	}
}

// Replace records all as the complete set of objects: Set for each, Remove for every
// peer not among them. It costs one look-up per object, and parses only the changed.
func (x *PeerIndex) Replace(all []v1alpha1.NodeNetworkConfig) {
	seen := make(map[string]bool, len(all))
	for i := range all {
		if all[i].DeletionTimestamp.IsZero() {
			seen[all[i].Name] = true
		}
		x.Set(&all[i])
	}
	for name, e := range x.peers {
		if e.obj != nil && !seen[name] {
			x.Remove(name)
		}
	}
}

// Compute returns what Compute and then Encapsulate (with enc) return for self and the
// peers recorded, and the Delta of the per-peer parts since the previous Compute; a nil
// Delta means the whole datapath must be applied. The Result's Datapath holds the node's
// own parts only (FamilyRules without NodeIPs, the proxy entries, Tunnels without Peers);
// Datapath returns it whole.
func (x *PeerIndex) Compute(self *v1alpha1.NodeNetworkConfig, cluster *Cluster, leases []netip.Addr, opts CNIOptions, enc Encapsulation) (*Result, *Delta, error) {
	if cluster == nil {
		return nil, nil, ErrNoClusterFacts
	}
	if x.peers == nil {
		x.peers, x.pending = map[string]*peerEntry{}, map[string]*peerEntry{}
	}
	var ownWarnings []string
	warn := func(format string, args ...any) { ownWarnings = append(ownWarnings, fmt.Sprintf(format, args...)) }
	me, err := cluster.parseSelf(self, warn)
	if err != nil {
		return nil, nil, err
	}
	st := &self.Spec
	maxPods := clampMaxPods(st.MaxPods, st.Mode, warn)
	selfWarnings := ownWarnings

	// The peers were parsed and checked against the cluster's facts, and their routes
	// decided against this node's addresses and uplink: when those change, start over.
	rebuilt := false
	if facts := fmt.Sprint(*cluster); facts != x.facts {
		x.facts = facts
		for _, e := range x.peers {
			e.parsedValid = false
		}
		rebuilt = true
	}
	x.cluster = cluster
	mine := ownAddresses(self)
	if key := fmt.Sprint(self.Name, me.nodeIPs, mine.podCIDRs, mine.nodeIPs, enc); key != x.selfKey || !x.built {
		x.selfKey, x.self, x.own, x.enc, x.ownBlocks = key, self.Name, me.nodeIPs, enc, mine.podCIDRs
		x.local, x.ownMAC = map[v1alpha1.IPFamily]netip.Addr{}, map[macKey]bool{}
		for _, f := range []v1alpha1.IPFamily{v1alpha1.IPv4, v1alpha1.IPv6} {
			if a, ok := firstOfFamily(mine.nodeIPs, f); ok {
				x.local[f] = a
				x.ownMAC[macOf(f, a)] = true
			}
		}
		rebuilt = true
	}
	if rebuilt {
		x.reset()
	}

	var own *ownState
	for {
		x.applyPeers()
		ownWarnings = slices.Clone(selfWarnings)
		own, err = x.ownPart(self, &me, maxPods, leases, opts, warn)
		if err != nil {
			return nil, nil, err
		}
		// In NodeSubnet mode the node's addresses are its reservation less the peers'
		// node IPs, and route conflicts are decided against them: rebuild when they move.
		if key := fmt.Sprint(own.sources); key != x.sourcesKey {
			x.sourcesKey, x.sources = key, own.sources
			if x.built {
				x.reset()
				rebuilt = true
				continue
			}
		}
		break
	}
	x.built = true
	x.decideBlocks()

	res := &Result{CNI: own.cni}
	res.Datapath = own.dp
	for f, n := range x.tunneled {
		if n > 0 {
			res.Datapath.Tunnels = append(res.Datapath.Tunnels, x.tunnelOf(f))
		}
	}
	slices.SortFunc(res.Datapath.Tunnels, func(a, b Tunnel) int { return strings.Compare(string(a.Family), string(b.Family)) })
	for i := range res.Datapath.Families {
		if x.tunneled[res.Datapath.Families[i].Family] > 0 {
			res.Datapath.Families[i].VXLANPort = enc.CrossSubnet.Port
		}
	}
	res.Skipped = make([]Skipped, 0, len(x.skipped))
	for name, why := range x.skipped {
		res.Skipped = append(res.Skipped, Skipped{Node: name, Problems: why})
	}
	slices.SortFunc(res.Skipped, func(a, b Skipped) int { return strings.Compare(a.Node, b.Node) })
	for _, s := range res.Skipped {
		res.Warnings = append(res.Warnings, fmt.Sprintf("peer %s is skipped: %s (B7)", s.Node, strings.Join(s.Problems, "; ")))
	}
	for _, w := range x.noVia {
		res.Warnings = append(res.Warnings, w...)
	}
	for _, w := range x.blockWarnings {
		res.Warnings = append(res.Warnings, w...)
	}
	for _, w := range x.encapWarnings {
		res.Warnings = append(res.Warnings, w...)
	}
	res.Warnings = append(res.Warnings, ownWarnings...)
	res.Warnings = append(res.Warnings, own.cniWarnings...)
	res.Paths = Paths{Direct: x.direct, Encapsulated: x.encapsulated}
	slices.Sort(res.Warnings) // map order otherwise

	var delta *Delta
	if !rebuilt && x.lastOwn != nil && reflect.DeepEqual(*x.lastOwn, res.Datapath) {
		delta = x.delta(own.families)
	}
	x.lastOwn = &res.Datapath
	x.wasRoute, x.wasTunnel, x.wasIP = map[netip.Prefix]*Route{}, map[netip.Prefix]*TunnelPeer{}, map[netip.Addr]bool{}
	return res, delta, nil
}

// Datapath returns the datapath of the last Compute whole: res's own parts with the
// routes, node IPs and VXLAN entries of the peers. It costs O(peers).
func (x *PeerIndex) Datapath(res *Result) *Datapath {
	dp := res.Datapath
	dp.Routes = sortedRoutesOf(x.routes)
	dp.Families = slices.Clone(dp.Families)
	for i := range dp.Families {
		f := &dp.Families[i]
		ips := addrsOfFamily(x.own, f.Family)
		for a := range x.nodeIPs {
			if familyOf(a) == f.Family {
				ips = append(ips, a)
			}
		}
		f.NodeIPs = sortedAddrs(ips)
	}
	dp.Tunnels = slices.Clone(dp.Tunnels)
	for i := range dp.Tunnels {
		t := &dp.Tunnels[i]
		t.Peers = nil
		for dst, p := range x.tunnel {
			if familyOf(dst.Addr()) == t.Family {
				t.Peers = append(t.Peers, p)
			}
		}
		slices.SortFunc(t.Peers, func(a, b TunnelPeer) int { return a.Gateway.Compare(b.Gateway) })
	}
	return &dp
}

// reset forgets everything derived from the peers; every peer is processed again.
func (x *PeerIndex) reset() {
	x.work.Rebuilds++
	x.addrs, x.nodeIPs = map[netip.Addr][]*peerEntry{}, map[netip.Addr]string{}
	x.blocks, x.routed = map[netip.Prefix][]*peerEntry{}, map[netip.Prefix]Route{}
	x.macs, x.tunneled = map[macKey][]netip.Prefix{}, map[v1alpha1.IPFamily]int{}
	x.routes, x.tunnel = map[netip.Prefix]Route{}, map[netip.Prefix]TunnelPeer{}
	x.blockWarnings, x.encapWarnings, x.skipped = map[netip.Prefix][]string{}, map[netip.Prefix][]string{}, map[string][]string{}
	x.noVia = map[string][]string{}
	x.paths, x.direct, x.encapsulated = map[string]*[2]int{}, 0, 0
	x.dirtyBlocks, x.dirtyMAC = map[netip.Prefix]bool{}, map[netip.Prefix]bool{}
	x.wasRoute, x.wasTunnel, x.wasIP = map[netip.Prefix]*Route{}, map[netip.Prefix]*TunnelPeer{}, map[netip.Addr]bool{}
	x.lastOwn = nil
	for name, e := range x.peers {
		e.claims, e.accepted, e.cands = nil, nil, nil
		if e.obj == nil {
			delete(x.peers, name)
			delete(x.pending, name)
			continue
		}
		x.pending[name] = e
	}
}

// applyPeers processes the pending peers: their claims on node IPs, then the verdict of
// every peer that shares a node IP with one of them, and the blocks those claim.
func (x *PeerIndex) applyPeers() {
	if len(x.pending) == 0 {
		return
	}
	check := map[*peerEntry]bool{}
	pending := x.pending
	// A fresh map: iterating a map costs its capacity, which the first build made large.
	x.pending = map[string]*peerEntry{}
	for name, e := range pending {
		for _, a := range e.claims {
			x.addrs[a] = slices.DeleteFunc(x.addrs[a], func(o *peerEntry) bool { return o == e })
			if len(x.addrs[a]) == 0 {
				delete(x.addrs, a)
			}
			for _, o := range x.addrs[a] {
				check[o] = true
			}
		}
		e.claims = nil
		check[e] = true
		if e.obj == nil || name == x.self {
			continue
		}
		if !e.parsedValid {
			x.work.Parsed++
			e.parsed, e.parseProblems = x.cluster.parsePeer(e.object())
			e.parseProblems, e.parsedValid = slices.Clip(e.parseProblems), true
		}
		if len(e.parseProblems) > 0 {
			continue
		}
		e.claims = e.parsed.nodeIPs
		for _, a := range e.claims {
			for _, o := range x.addrs[a] {
				check[o] = true
			}
			x.addrs[a] = append(x.addrs[a], e)
		}
	}
	for e := range check {
		x.recheck(e)
		if e.obj == nil && x.peers[e.name] == e {
			delete(x.peers, e.name)
		}
	}
}

// recheck decides whether e is programmed (B7) and enters what it contributes.
func (x *PeerIndex) recheck(e *peerEntry) {
	x.work.Checked++
	var (
		problems []string
		name     string
		live     = e.obj != nil && e.name != x.self
	)
	if live {
		name = e.name
		problems = slices.Clone(e.parseProblems)
		if len(problems) == 0 {
			for _, a := range e.parsed.nodeIPs {
				switch h := x.holder(a); {
				case h == nil:
					problems = append(problems, fmt.Sprintf("node IP %q is this node's own address", a))
				case h != e:
					problems = append(problems, fmt.Sprintf("node IP %q is already the address of %s", a, h.name))
				}
			}
		}
		if len(problems) > 0 {
			x.skipped[name] = problems
		} else {
			delete(x.skipped, name)
		}
	}
	var accepted []netip.Addr
	var cands []Route
	var noVia []string
	if live && len(problems) == 0 {
		accepted = e.parsed.nodeIPs
		for _, dst := range e.parsed.podCIDRs {
			via, ok := firstOfFamily(e.parsed.nodeIPs, familyOf(dst.Addr()))
			if !ok {
				noVia = append(noVia, fmt.Sprintf("peer %s has no %s node IP; no route to its block %s", name, familyOf(dst.Addr()), dst))
				continue
			}
			cands = append(cands, Route{Dst: dst, Via: via, Node: name})
		}
	}
	if !live {
		delete(x.skipped, e.name)
	}
	if len(noVia) > 0 {
		x.noVia[e.name] = noVia
	} else {
		delete(x.noVia, e.name)
	}
	if slices.Equal(accepted, e.accepted) && slices.Equal(cands, e.cands) {
		return
	}
	for _, a := range e.accepted {
		// Another peer rechecked before this one may hold the address already.
		if x.nodeIPs[a] == e.name {
			x.touchIP(a)
			delete(x.nodeIPs, a)
		}
	}
	for _, a := range accepted {
		x.touchIP(a)
		x.nodeIPs[a] = name
	}
	for _, c := range e.cands {
		x.blocks[c.Dst] = slices.DeleteFunc(x.blocks[c.Dst], func(o *peerEntry) bool { return o == e })
		if len(x.blocks[c.Dst]) == 0 {
			delete(x.blocks, c.Dst)
		}
		x.dirtyBlocks[c.Dst] = true
	}
	for _, c := range cands {
		x.blocks[c.Dst] = append(x.blocks[c.Dst], e)
		x.dirtyBlocks[c.Dst] = true
	}
	e.accepted, e.cands = accepted, cands
}

// holder returns the holder of node IP a among the peers: nil for this node's own, else
// its oldest claimant (dedupNodeIPs).
func (x *PeerIndex) holder(a netip.Addr) *peerEntry {
	if slices.Contains(x.own, a) {
		return nil
	}
	var h *peerEntry
	for _, e := range x.addrs[a] {
		if h == nil || older(&e.parsed, &h.parsed) {
			h = e
		}
	}
	return h
}

func (x *PeerIndex) touchIP(a netip.Addr) {
	if _, ok := x.wasIP[a]; !ok {
		_, had := x.nodeIPs[a]
		x.wasIP[a] = had
	}
}

// nodeAddr names the node that holds a: this node or a programmed peer.
func (x *PeerIndex) nodeAddr(a netip.Addr) (string, bool) {
	if slices.Contains(x.own, a) {
		return x.self, true
	}
	h, ok := x.nodeIPs[a]
	return h, ok
}

// decideBlocks decides the route of every block whose claimants changed, then the VXLAN
// entry of every route whose MAC's holder may have changed.
func (x *PeerIndex) decideBlocks() {
	dirty := x.dirtyBlocks
	// Fresh maps: iterating a map costs its capacity, which the first build made large.
	x.dirtyBlocks = map[netip.Prefix]bool{}
	for dst := range dirty {
		x.work.Blocks++
		var warnings []string
		var winner *peerEntry
		ownClash := slices.ContainsFunc(x.sources, func(p netip.Prefix) bool { return p.Overlaps(dst) })
		if !ownClash {
			for _, e := range x.blocks[dst] {
				if winner == nil || winner.parsed.rank.less(e.parsed.rank) {
					winner = e
				}
			}
		}
		for _, e := range x.blocks[dst] {
			if e == winner {
				continue
			}
			holder := x.self
			if winner != nil {
				holder = winner.name
			}
			warnings = append(warnings, fmt.Sprintf("peer %s claims %s, which overlaps a block of %s; no route to it", e.name, dst, holder))
		}
		if len(warnings) > 0 {
			x.blockWarnings[dst] = warnings
		} else {
			delete(x.blockWarnings, dst)
		}
		old, had := x.routed[dst]
		var r Route
		if winner != nil {
			i := slices.IndexFunc(winner.cands, func(c Route) bool { return c.Dst == dst })
			r = winner.cands[i]
		}
		if had == (winner != nil) && old == r {
			continue
		}
		if had {
			delete(x.routed, dst)
			x.unclaimMAC(old)
		}
		if winner != nil {
			x.routed[dst] = r
			x.claimMAC(r)
		}
		x.dirtyMAC[dst] = true
	}
	dirty = x.dirtyMAC
	x.dirtyMAC = map[netip.Prefix]bool{}
	for dst := range dirty {
		x.finalize(dst)
	}
}

// encapsulates reports whether r goes through a VXLAN device (mustEncapsulate) that can
// exist: the node has a node IP of its family.
func (x *PeerIndex) encapsulates(r Route) (v1alpha1.IPFamily, bool) {
	f := familyOf(r.Dst.Addr())
	if !x.enc.Known || !mustEncapsulate(x.enc.CrossSubnet, x.enc.Underlay, r.Via) {
		return f, false
	}
	_, ok := x.local[f]
	return f, ok
}

func macOf(f v1alpha1.IPFamily, a netip.Addr) macKey {
	k := macKey{family: f}
	copy(k.mac[:], tunnelMAC(a))
	return k
}

func (x *PeerIndex) claimMAC(r Route) {
	f, ok := x.encapsulates(r)
	if !ok {
		return
	}
	x.tunneled[f]++
	k := macOf(f, r.Via)
	x.macs[k] = append(x.macs[k], r.Dst)
	for _, d := range x.macs[k] {
		x.dirtyMAC[d] = true
	}
}

func (x *PeerIndex) unclaimMAC(r Route) {
	f, ok := x.encapsulates(r)
	if !ok {
		return
	}
	if x.tunneled[f]--; x.tunneled[f] == 0 {
		delete(x.tunneled, f)
	}
	k := macOf(f, r.Via)
	x.macs[k] = slices.DeleteFunc(x.macs[k], func(d netip.Prefix) bool { return d == r.Dst })
	if len(x.macs[k]) == 0 {
		delete(x.macs, k)
	}
	for _, d := range x.macs[k] {
		x.dirtyMAC[d] = true
	}
}

// finalize decides the programmed route and VXLAN entry of dst from its routed route, as
// Encapsulate does.
func (x *PeerIndex) finalize(dst netip.Prefix) {
	var (
		final    *Route
		tp       *TunnelPeer
		warnings []string
	)
	if r, ok := x.routed[dst]; ok {
		f := familyOf(dst.Addr())
		switch {
		case !x.enc.Known || !mustEncapsulate(x.enc.CrossSubnet, x.enc.Underlay, r.Via):
			final = &r
		case !x.hasLocal(f):
			warnings = append(warnings, fmt.Sprintf("the node has no %s node IP to encapsulate from; no route to %s of peer %s (B9)", f, r.Dst, r.Node))
		default:
			k := macOf(f, r.Via)
			holder := ""
			if x.ownMAC[k] {
				holder = x.self
			} else if first := slices.MinFunc(x.macs[k], ComparePrefix); first != dst {
				holder = x.routed[first].Node
			}
			if holder != "" && holder != r.Node {
				warnings = append(warnings, fmt.Sprintf("peer %s's VTEP MAC %s, derived from node IP %s, is also %s's; no route to its block %s (B9)", r.Node, tunnelMAC(r.Via), r.Via, holder, r.Dst))
				break
			}
			gw := dst.Masked().Addr()
			tp = &TunnelPeer{Gateway: gw, MAC: tunnelMAC(r.Via), Remote: r.Via, Node: r.Node}
			final = &Route{Dst: dst, Via: gw, Node: r.Node, Dev: TunnelName(f)}
		}
	}
	if len(warnings) > 0 {
		x.encapWarnings[dst] = warnings
	} else {
		delete(x.encapWarnings, dst)
	}

	oldRoute, hadRoute := x.routes[dst]
	oldTunnel, hadTunnel := x.tunnel[dst]
	if _, ok := x.wasRoute[dst]; !ok {
		if hadRoute {
			x.wasRoute[dst] = &oldRoute
		} else {
			x.wasRoute[dst] = nil
		}
		if hadTunnel {
			x.wasTunnel[dst] = &oldTunnel
		} else {
			x.wasTunnel[dst] = nil
		}
	}
	if hadRoute {
		x.countPath(oldRoute.Node, oldRoute.Dev != "", -1)
		delete(x.routes, dst)
	}
	delete(x.tunnel, dst)
	if final != nil {
		x.routes[dst] = *final
		x.countPath(final.Node, final.Dev != "", +1)
	}
	if tp != nil {
		x.tunnel[dst] = *tp
	}
}

func (x *PeerIndex) hasLocal(f v1alpha1.IPFamily) bool { _, ok := x.local[f]; return ok }

// countPath moves node's count of direct or encapsulated routes by d, and the counts of
// peers of each kind with it (Paths).
func (x *PeerIndex) countPath(node string, encap bool, d int) {
	c := x.paths[node]
	if c == nil {
		c = &[2]int{}
		x.paths[node] = c
	}
	kind := func() (direct, encapsulated int) {
		switch {
		case c[1] > 0:
			return 0, 1
		case c[0] > 0:
			return 1, 0
		}
		return 0, 0
	}
	d0, e0 := kind()
	if encap {
		c[1] += d
	} else {
		c[0] += d
	}
	d1, e1 := kind()
	x.direct += d1 - d0
	x.encapsulated += e1 - e0
	if c[0] == 0 && c[1] == 0 {
		delete(x.paths, node)
	}
}

// tunnelOf is the VXLAN device of family f, without its peers (Encapsulate).
func (x *PeerIndex) tunnelOf(f v1alpha1.IPFamily) Tunnel {
	local := x.local[f]
	cs, u := x.enc.CrossSubnet, x.enc.Underlay
	t := Tunnel{Family: f, Name: TunnelName(f), VNI: cs.VNI, Port: cs.Port, Local: local, MAC: tunnelMAC(local)}
	if own := ofFamily(x.ownBlocks, f); len(own) > 0 {
		t.Addr = own[0].Masked().Addr()
	}
	if u.MTU > 0 {
		t.MTU = u.MTU - TunnelOverhead(f)
	}
	return t
}

// delta returns what changed since the previous Compute, of the families the node has.
func (x *PeerIndex) delta(families []v1alpha1.IPFamily) *Delta {
	d := &Delta{}
	for dst, was := range x.wasRoute {
		now, ok := x.routes[dst]
		switch {
		case ok && (was == nil || *was != now):
			d.Routes = append(d.Routes, now)
		case !ok && was != nil:
			d.RemovedRoutes = append(d.RemovedRoutes, *was)
		}
		wasT := x.wasTunnel[dst]
		nowT, okT := x.tunnel[dst]
		switch {
		case okT && (wasT == nil || !sameTunnelPeer(*wasT, nowT)):
			d.TunnelPeers = append(d.TunnelPeers, nowT)
		case !okT && wasT != nil:
			d.RemovedTunnelPeers = append(d.RemovedTunnelPeers, *wasT)
		}
	}
	for a, had := range x.wasIP {
		if !slices.Contains(families, familyOf(a)) {
			continue
		}
		_, has := x.nodeIPs[a]
		switch {
		case has && !had:
			d.AddedNodeIPs = append(d.AddedNodeIPs, a)
		case had && !has:
			d.RemovedNodeIPs = append(d.RemovedNodeIPs, a)
		}
	}
	byDst := func(a, b Route) int { return ComparePrefix(a.Dst, b.Dst) }
	byGateway := func(a, b TunnelPeer) int { return a.Gateway.Compare(b.Gateway) }
	slices.SortFunc(d.Routes, byDst)
	slices.SortFunc(d.RemovedRoutes, byDst)
	slices.SortFunc(d.TunnelPeers, byGateway)
	slices.SortFunc(d.RemovedTunnelPeers, byGateway)
	slices.SortFunc(d.AddedNodeIPs, netip.Addr.Compare)
	slices.SortFunc(d.RemovedNodeIPs, netip.Addr.Compare)
	return d
}

func sameTunnelPeer(a, b TunnelPeer) bool {
	return a.Gateway == b.Gateway && a.Remote == b.Remote && a.Node == b.Node && string(a.MAC) == string(b.MAC)
}

func sortedRoutesOf(m map[netip.Prefix]Route) []Route {
	out := make([]Route, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b Route) int { return ComparePrefix(a.Dst, b.Dst) })
	return out
}

// ownState is what the node's own status decides (Compute's own part).
type ownState struct {
	sources     []netip.Prefix
	families    []v1alpha1.IPFamily
	dp          Datapath
	cni         CNI
	cniWarnings []string
}

// ownPart computes what Compute decides from the node's own status: its pods' addresses,
// the policy of each family without the node IPs, the proxy entries and the CNI
// configuration. It looks up node addresses in the index, so its cost follows the node's
// own addresses, not the cluster. Every block a peer is routed lies inside the cluster's
// pod CIDRs (Cluster.checkBlock), so the pod space does not depend on the peers.
func (x *PeerIndex) ownPart(self *v1alpha1.NodeNetworkConfig, me *node, maxPods int32, leases []netip.Addr, opts CNIOptions, warn func(string, ...any)) (*ownState, error) {
	st := &self.Spec
	own := &ownState{}
	var (
		reserved  []nodesubnet.Run
		subnet    netip.Prefix
		err       error
		podCIDRs  = me.podCIDRs
		cluster   = x.cluster
		nodeAddrs = x.nodeAddr
	)
	if st.Mode == v1alpha1.ModeNodeSubnet {
		if reserved, subnet, err = parseReservation(self, int(maxPods), cluster.NodeNetwork); err != nil {
			return nil, err
		}
		reserved = withoutNodeAddrs(reserved, nodeAddrs, warn)
		for _, r := range reserved {
			own.sources = append(own.sources, r.Prefixes()...)
		}
		podCIDRs = nil
	} else {
		own.sources = me.podCIDRs
	}
	if len(own.sources) == 0 {
		return nil, ErrNotAllocated
	}
	podSpace := cluster.PodCIDRs()
	nonMasq := cluster.NonMasquerade // one list for every node: a node's object cannot turn off its SNAT (R15, B7)
	legacy := legacyLeases(leases, own.sources)
	own.families = familiesOf(own.sources)
	for _, f := range own.families {
		fr := FamilyRules{Family: f, LinkLocal: LinkLocalIPv4}
		if f == v1alpha1.IPv6 {
			fr.LinkLocal = LinkLocalIPv6
		}
		fr.PodCIDRs = Merge(ofFamily(own.sources, f))
		fr.ClusterPodCIDRs = Merge(slices.Concat(ofFamily(podSpace, f), ofFamily(podCIDRs, f)))
		fr.LegacySources = Merge(ofFamily(legacy, f))
		fr.NonMasquerade = Merge(slices.Concat(ofFamily(nonMasq, f), fr.ClusterPodCIDRs, fr.PodCIDRs, fr.LegacySources))
		own.dp.Families = append(own.dp.Families, fr)
	}
	for _, p := range legacy {
		if !slices.Contains(own.families, familyOf(p.Addr())) {
			warn("a pod holds %s, of a family this node no longer has; it is not masqueraded", p.Addr())
		}
	}
	nodeIPv4, _ := firstOfFamily(me.nodeIPs, v1alpha1.IPv4)
	own.dp.Proxy = proxyNeighbors(reserved, legacy, nodeIPv4, nodeAddrs, warn)
	if st.Mode == v1alpha1.ModeNodeSubnet {
		own.cni, err = BuildNodeSubnetCNI(subnet, nodeIPv4, reserved, opts)
	} else {
		own.cni, own.cniWarnings, err = BuildCNI(podCIDRs, int(maxPods), opts)
	}
	if err != nil {
		return nil, fmt.Errorf("NodeNetworkConfig %q: %w", self.Name, err)
	}
	return own, nil
}
