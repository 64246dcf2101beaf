// Command benchfleet measures what a fleet of node agents costs the control plane as nodes
// join and leave (B8): K real agents (internal/agent, wired as cmd/agent wires them) run in
// one process against a local API server, each with a recording datapath backend instead of
// the kernel, next to N NodeNetworkConfigs written as the manager writes them. Nodes then
// join and leave, and it prints:
//
//   - status writes by the running agents per node join and per node leave: B8 wants 0;
//   - status writes by a joining node's own agent: B8 wants at most 1;
//   - agent CPU per peer change: the process's CPU time while the agents absorb the joins
//     and leaves, over joins × agents (every agent sees every change); the API server and
//     etcd run in other processes and are not counted;
//   - datapath applies per peer change and agent, to show that changes are not lost or
//     multiplied.
//
// Usage: make bench-fleet (AGENTS=10 NODES=1000 JOINS=50), or
// go run ./test/benchfleet -agents 10 -nodes 1000 -joins 50 [-cpuprofile f].
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"go.uber.org/zap/zapcore"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent"
	"github.com/overlaynet/overlaynet/internal/agent/datapath"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
	"github.com/overlaynet/overlaynet/internal/testenv"
)

// The fleet's address plan: /24 blocks of 10.0.0.0/8 (65,536 nodes) on the node network
// 100.64.0.0/10.
var (
	podCIDR  = netip.MustParsePrefix("10.0.0.0/8")
	nodeNet  = netip.MustParsePrefix("100.64.0.0/10")
	joinBase = 1 << 15 // joining nodes take indexes from here, far from the fleet's
)

func main() {
	agents := flag.Int("agents", 10, "Node agents running in the process (K)")
	nodes := flag.Int("nodes", 1000, "NodeNetworkConfigs present before the joins (N, the agents' nodes included)")
	joins := flag.Int("joins", 50, "Nodes that join, then leave")
	cpuprofile := flag.String("cpuprofile", "", "Write a CPU profile of the join and leave phases to this file")
	timeout := flag.Duration("timeout", 10*time.Minute, "Give up after this long")
	flag.DurationVar(&settleTime, "settle", 2*time.Second, "How long to keep counting writes after each phase; longer than an agent's status batching interval (30 s in agents that counted routes in their condition) to catch deferred writes")
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.Level(zapcore.ErrorLevel)))
	if *agents < 1 || *nodes < *agents || *joins < 1 || *nodes+*joins > joinBase {
		fmt.Fprintln(os.Stderr, "need 1 <= agents <= nodes, joins >= 1, nodes+joins <", joinBase)
		os.Exit(2)
	}
	// An interrupt cancels the run, so that the local API server is stopped.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if err := run(ctx, *agents, *nodes, *joins, *cpuprofile); err != nil {
		fmt.Fprintln(os.Stderr, "benchfleet:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, k, n, joins int, cpuprofile string) error {
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer func() { _ = env.Stop() }()
	// The bench writes as fast as the API server takes it.
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = 5000, 10000
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		return err
	}
	if err := createCluster(ctx, c); err != nil {
		return err
	}
	start := time.Now()
	if err := parallel(n, func(i int) error { return createNNC(ctx, c, i) }); err != nil {
		return err
	}
	fmt.Printf("fleet: %d NodeNetworkConfigs written in %v\n", n, time.Since(start).Round(time.Millisecond))

	writes := &writeCounter{}
	stopWatch, err := writes.watch(ctx, c)
	if err != nil {
		return err
	}
	defer stopWatch()

	fleet := make([]*recorder, k)
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	start = time.Now()
	for i := range k {
		fleet[i] = &recorder{}
		stop, err := startAgent(ctx, env, name(i), fleet[i])
		if err != nil {
			return err
		}
		stops = append(stops, stop)
	}
	if err := waitFor(ctx, func() bool { return allRouted(fleet, n-1) && writes.programmed(k) }); err != nil {
		return fmt.Errorf("waiting for %d agents to program %d peers: %w", k, n-1, err)
	}
	fmt.Printf("fleet: %d agents programmed %d peers each in %v, %d status writes (one per agent)\n",
		k, n-1, time.Since(start).Round(time.Millisecond), writes.total())

	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	// Nodes join, one at a time as kubelets register, without agents of their own.
	writes.reset()
	applies := totalApplies(fleet)
	cpu := cpuTime()
	start = time.Now()
	for j := range joins {
		if err := createNNC(ctx, c, joinBase+j); err != nil {
			return err
		}
	}
	if err := waitFor(ctx, func() bool { return allRouted(fleet, n-1+joins) }); err != nil {
		return fmt.Errorf("waiting for the agents to route the joined nodes: %w", err)
	}
	settle(ctx)
	joinCPU, joinWrites, joinApplies := cpuTime()-cpu, writes.total(), totalApplies(fleet)-applies
	joinTime := time.Since(start) - settleTime

	// They leave.
	writes.reset()
	applies = totalApplies(fleet)
	cpu = cpuTime()
	start = time.Now()
	for j := range joins {
		nnc := &v1alpha1.NodeNetworkConfig{ObjectMeta: metav1.ObjectMeta{Name: name(joinBase + j)}}
		if err := c.Delete(ctx, nnc); err != nil {
			return err
		}
	}
	if err := waitFor(ctx, func() bool { return allRouted(fleet, n-1) }); err != nil {
		return fmt.Errorf("waiting for the agents to forget the nodes that left: %w", err)
	}
	settle(ctx)
	leaveCPU, leaveWrites, leaveApplies := cpuTime()-cpu, writes.total(), totalApplies(fleet)-applies
	leaveTime := time.Since(start) - settleTime
	if cpuprofile != "" {
		pprof.StopCPUProfile()
	}

	// One node joins with its own agent: its writes are the joining agent's.
	writes.reset()
	self := &recorder{}
	joiner := name(joinBase + joins)
	if err := createNNC(ctx, c, joinBase+joins); err != nil {
		return err
	}
	stop, err := startAgent(ctx, env, joiner, self)
	if err != nil {
		return err
	}
	stops = append(stops, stop)
	if err := waitFor(ctx, func() bool { return allRouted([]*recorder{self}, n) && allRouted(fleet, n) }); err != nil {
		return fmt.Errorf("waiting for the joining agent: %w", err)
	}
	settle(ctx)
	byJoiner, byOthers := writes.of(joiner), writes.total()-writes.of(joiner)

	peerChanges := float64(2 * joins * k)
	fmt.Printf("fleet: K=%d agents, N=%d nodes, %d joins then %d leaves\n", k, n, joins, joins)
	fmt.Printf("  status writes by running agents per node join:  %.2f (%d in all; target 0)\n", float64(joinWrites)/float64(joins), joinWrites)
	fmt.Printf("  status writes by running agents per node leave: %.2f (%d in all; target 0)\n", float64(leaveWrites)/float64(joins), leaveWrites)
	fmt.Printf("  status writes by a joining node's own agent:    %d (target <= 1); by the other agents meanwhile: %d\n", byJoiner, byOthers)
	fmt.Printf("  agent CPU per peer change (per agent):          %v (join %v, leave %v over %d peer changes)\n",
		time.Duration(float64(joinCPU+leaveCPU)/peerChanges).Round(time.Microsecond), joinCPU.Round(time.Millisecond), leaveCPU.Round(time.Millisecond), int(peerChanges))
	fmt.Printf("  datapath applies per peer change (per agent):   %.2f (the workqueue folds bursts)\n", float64(joinApplies+leaveApplies)/peerChanges)
	fmt.Printf("  wall time: joins absorbed in %v, leaves in %v\n", joinTime.Round(time.Millisecond), leaveTime.Round(time.Millisecond))
	return nil
}

func name(i int) string { return fmt.Sprintf("node-%05d", i) }

func nodeIP(i int) netip.Addr {
	b := nodeNet.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) + uint32(i) + 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// createCluster writes the OverlayCluster and the status the manager publishes.
func createCluster(ctx context.Context, c client.Client) error {
	ovc := &v1alpha1.OverlayCluster{
		ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.ClusterName},
		Spec: v1alpha1.OverlayClusterSpec{
			VNetCIDRs: []string{nodeNet.String()}, PodCIDRs: []string{podCIDR.String()},
			ServiceCIDRs: []string{"192.168.0.0/16"}, DNSServiceIP: "192.168.0.10",
		},
	}
	if err := c.Create(ctx, ovc); err != nil {
		return err
	}
	ovc.Status = v1alpha1.OverlayClusterStatus{
		Mode: v1alpha1.ModeOverlay,
		Pools: []v1alpha1.PoolStatus{{
			Family: v1alpha1.IPv4, CIDRs: []string{podCIDR.String()}, BlockPrefixLength: 24,
			TotalBlocks: "65536", FreeBlocks: "65536",
		}},
		NodeNetworkCIDRs:   []string{nodeNet.String()},
		NonMasqueradeCIDRs: []string{podCIDR.String()},
	}
	return c.Status().Update(ctx, ovc)
}

// createNNC writes node i's NodeNetworkConfig as the manager does: created, then its
// status with block 10.x.y.0/24 and node IP the (i+1)th address of the node network (two
// writes).
func createNNC(ctx context.Context, c client.Client, i int) error {
	nnc := &v1alpha1.NodeNetworkConfig{
		ObjectMeta: metav1.ObjectMeta{Name: name(i)},
		Spec: v1alpha1.NodeNetworkConfigSpec{
			NodeUID:  "uid-" + name(i),
			Mode:     v1alpha1.ModeOverlay,
			PodCIDRs: []string{fmt.Sprintf("10.%d.%d.0/24", i>>8, i&0xff)},
			NodeIPs:  []string{nodeIP(i).String()},
			MaxPods:  250,
		},
	}
	return c.Create(ctx, nnc) // as the manager writes it: one create, the allocation in spec
}

// startAgent runs node's agent as cmd/agent wires it, with rec as its datapath.
func startAgent(ctx context.Context, env *testenv.Env, node string, rec *recorder) (func(), error) {
	mgr, err := ctrl.NewManager(env.Config, agent.ManagerOptions(node, env.Scheme, "0", "0"))
	if err != nil {
		return nil, err
	}
	if _, err := agent.SetupWithManager(mgr, agent.Options{
		NodeName: node, Datapath: rec, CNIConfDir: os.TempDir(), CNIConfName: "benchfleet-" + node + ".conflist",
	}); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			fmt.Fprintf(os.Stderr, "agent %s: %v\n", node, err)
		}
	}()
	return func() {
		cancel()
		<-done
		_ = os.Remove(os.TempDir() + "/benchfleet-" + node + ".conflist")
	}, nil
}

// recorder is a datapath backend that records what it is asked to program: the whole
// datapath (Apply) or a change of peers (ApplyDelta), as the linux backend takes them.
type recorder struct {
	mu      sync.Mutex
	dsts    map[netip.Prefix]bool
	routes  atomic.Int64
	applies atomic.Int64
	deltas  atomic.Int64
}

var _ datapath.DeltaApplier = (*recorder)(nil)

func (r *recorder) Apply(_ context.Context, dp *desired.Datapath, full bool) (datapath.Stats, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dsts = make(map[netip.Prefix]bool, len(dp.Routes))
	for _, rt := range dp.Routes {
		r.dsts[rt.Dst] = true
	}
	r.routes.Store(int64(len(r.dsts)))
	r.applies.Add(1)
	return datapath.Stats{Routes: len(dp.Routes), Full: full}, nil
}

func (r *recorder) ApplyDelta(_ context.Context, d *desired.Delta) (datapath.Stats, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dsts == nil {
		return datapath.Stats{}, datapath.ErrFullApplyNeeded
	}
	for _, rt := range d.RemovedRoutes {
		delete(r.dsts, rt.Dst)
	}
	for _, rt := range d.Routes {
		r.dsts[rt.Dst] = true
	}
	r.routes.Store(int64(len(r.dsts)))
	r.applies.Add(1)
	r.deltas.Add(1)
	return datapath.Stats{Routes: len(r.dsts), RoutesAdded: len(d.Routes), RoutesRemoved: len(d.RemovedRoutes)}, nil
}

func allRouted(rs []*recorder, want int) bool {
	for _, r := range rs {
		if r.routes.Load() != int64(want) {
			return false
		}
	}
	return true
}

func totalApplies(rs []*recorder) int64 {
	var n int64
	for _, r := range rs {
		n += r.applies.Load()
	}
	return n
}

// writeCounter counts, through a watch, the changes of each NodeNetworkConfig's Programmed
// condition: the agents' only writes.
type writeCounter struct {
	mu sync.Mutex
	// last is each object's last Programmed condition, by name.
	last map[string]metav1.Condition
	// writes counts changes since the last reset, by name.
	writes map[string]int
	// programmed are the objects whose Programmed condition is True.
	programmedSet map[string]bool
}

func (w *writeCounter) watch(ctx context.Context, c client.WithWatch) (func(), error) {
	w.last, w.writes, w.programmedSet = map[string]metav1.Condition{}, map[string]int{}, map[string]bool{}
	watcher, err := c.Watch(ctx, &v1alpha1.NodeNetworkConfigList{})
	if err != nil {
		return nil, err
	}
	go func() {
		for ev := range watcher.ResultChan() {
			nnc, ok := ev.Object.(*v1alpha1.NodeNetworkConfig)
			if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) {
				continue
			}
			p := meta.FindStatusCondition(nnc.Status.Conditions, v1alpha1.NodeProgrammed)
			if p == nil {
				continue
			}
			w.mu.Lock()
			if prev, seen := w.last[nnc.Name]; !seen || prev.Status != p.Status || prev.Reason != p.Reason || prev.Message != p.Message || prev.ObservedGeneration != p.ObservedGeneration {
				w.writes[nnc.Name]++
			}
			w.last[nnc.Name] = *p
			w.programmedSet[nnc.Name] = p.Status == metav1.ConditionTrue
			w.mu.Unlock()
		}
	}()
	return watcher.Stop, nil
}

func (w *writeCounter) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	clear(w.writes)
}

func (w *writeCounter) total() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.writes {
		n += c
	}
	return n
}

func (w *writeCounter) of(name string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.writes[name]
}

func (w *writeCounter) programmed(k int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, ok := range w.programmedSet {
		if ok {
			n++
		}
	}
	return n >= k
}

// settleTime is how long settle waits.
var settleTime time.Duration

// settle gives late writes time to show up in the counts.
func settle(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(settleTime):
	}
}

func waitFor(ctx context.Context, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// parallel runs f(0..n-1) on 32 workers and returns the first error.
func parallel(n int, f func(int) error) error {
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		errs = make([]error, 32)
	)
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := f(i); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// cpuTime is the process's user and system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
