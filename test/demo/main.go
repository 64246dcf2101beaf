// Command demo runs overlaynet on an embedded local control plane (`make demo`): it installs
// the CRDs, runs the manager, applies a sample OverlayCluster, registers five simulated
// nodes and prints their allocations. As root it also builds the nodes' network in Linux
// network namespaces, runs a node agent per node, starts two pods per node through the
// reference CNI plugins, and shows who reaches whom and with which source address.
//
// Everything is cleaned up on exit, Ctrl-C included: the control plane stops and the
// namespaces, which are anonymous, disappear; the host's own network is never touched.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/cli"
	"github.com/overlaynet/overlaynet/internal/testenv"
	"github.com/overlaynet/overlaynet/test/harness"
	"github.com/overlaynet/overlaynet/test/topology"
)

// The node network: node-1 to node-4 share one subnet, node-5 sits in a second one behind a
// router that knows only the node subnets, so its pods are reached through VXLAN (B9). The
// external host is behind the router too.
var (
	subnet1 = topology.Segment{Nodes: []string{"node-1", "node-2", "node-3", "node-4"},
		Net4: netip.MustParsePrefix("10.224.0.0/24"), Net6: netip.MustParsePrefix("fd10:224::/64")}
	subnet2 = topology.Segment{Nodes: []string{"node-5"},
		Net4: netip.MustParsePrefix("10.225.0.0/24"), Net6: netip.MustParsePrefix("fd10:225::/64")}
	outside = topology.Segment{Net4: netip.MustParsePrefix("10.226.0.0/24"), Net6: netip.MustParsePrefix("fd10:226::/64")}
	nodes   = slices.Concat(subnet1.Nodes, subnet2.Nodes)
)

func main() {
	verbose := flag.Bool("v", false, "Show the manager's and the agents' logs.")
	hold := flag.Bool("hold", false, "Keep everything running after the tour until Ctrl-C, to explore with nsenter.")
	flag.Parse()
	logs := io.Discard
	if *verbose {
		logs = os.Stderr
	}
	ctrl.SetLogger(zap.New(zap.UseDevMode(true), zap.WriteTo(logs)))

	// Signals stay caught until the end, so a second Ctrl-C cannot cut the clean-up short.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d := &demo{}
	err := d.run(ctx, *hold)
	if cerr := d.cleanup(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	if errors.Is(err, context.Canceled) {
		fmt.Println("\nInterrupted; everything was cleaned up.")
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

type demo struct {
	cleanups []func() error
}

func (d *demo) onExit(f func() error) { d.cleanups = append(d.cleanups, f) }

func (d *demo) cleanup() error {
	var errs []error
	for _, f := range slices.Backward(d.cleanups) {
		errs = append(errs, f())
	}
	d.cleanups = nil
	return errors.Join(errs...)
}

func step(format string, args ...any) { fmt.Printf("\n==> "+format+"\n", args...) }

func (d *demo) run(ctx context.Context, hold bool) error {
	root := os.Geteuid() == 0
	var before *topology.HostState
	if root {
		var err error
		if before, err = topology.SnapshotHost(); err != nil {
			return err
		}
		d.onExit(func() error { return checkHost(before) })
	}

	step("Starting the local control plane (kube-apiserver and etcd built from Go modules) with the overlaynet CRDs")
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	d.onExit(func() error { fmt.Println("Stopping the control plane"); return env.Stop() })
	runner := &harness.Runner{}
	d.onExit(runner.Stop)

	step("Running the overlaynet manager")
	if err := runner.StartManager(ctx, env); err != nil {
		return err
	}

	ovc := sampleCluster()
	step("Applying the sample OverlayCluster %q: %v, pod CIDRs %s, VNet %s, pool %q (label pool=%s) at maxPods %d",
		ovc.Name, ovc.Spec.IPFamilies, "10.244.0.0/16 + fd12:3456:789a::/64 (defaults)", strings.Join(ovc.Spec.VNetCIDRs, " + "),
		ovc.Spec.NodePools[0].Name, ovc.Spec.NodePools[0].Name, *ovc.Spec.NodePools[0].MaxPods)
	if err := env.Client.Create(ctx, ovc); err != nil {
		return err
	}

	// The Nodes report the addresses their hosts take in the topology built below as root.
	topoCfg := topology.RoutedConfig{Segments: []topology.Segment{subnet1, subnet2}, Outside: outside}
	step("Registering five simulated nodes (node-5 is in the small pool, and in a second subnet)")
	for _, name := range nodes {
		labels := map[string]string{}
		if name == "node-5" {
			labels["pool"] = "small"
		}
		if err := harness.CreateNode(ctx, env.Client, name, labels, topoCfg.NodeAddrs(name)); err != nil {
			return err
		}
	}
	if _, err := waitFor(ctx, env, func(r harness.Allocation) bool { return r.Allocated == "True" }); err != nil {
		return err
	}
	if err := waitForClusterStatus(ctx, env); err != nil {
		return err
	}
	// The allocations, as the kubectl plugin shows them (NodeNetworkConfig and
	// OverlayCluster status written by the manager).
	kubeconfig, err := env.KubeconfigFile(mustTempDir(d))
	if err != nil {
		return err
	}
	plugin(kubeconfig, "status")
	plugin(kubeconfig, "nodes")

	if !root {
		step("Not root: skipping the datapath part (namespaces, agents, pods). Run `sudo make demo` to see it")
		return nil
	}

	step("Building the node network: two subnets (node-1..4 in %s, node-5 in %s) and the external host's, joined by a router that knows no pod CIDR",
		subnet1.Net4, subnet2.Net4)
	topoCfg.WorkDir = mustTempDir(d)
	topo, err := topology.NewRouted(topoCfg)
	if err != nil {
		return err
	}
	d.onExit(func() error { fmt.Println("Removing the network namespaces"); return topo.Close() })
	fmt.Printf("external host: %s\n", joinAddrs(topo.External.Addrs))

	step("Building the reference CNI plugins (ptp, host-local, portmap) from their pinned Go module")
	binDir, err := harness.CNIPluginsDir()
	if err != nil {
		return err
	}
	fmt.Println(binDir)

	step("Running one node agent per node")
	for _, h := range topo.Nodes {
		if _, err := runner.StartAgent(ctx, env, h, binDir); err != nil {
			return err
		}
	}
	if _, err = waitFor(ctx, env, func(r harness.Allocation) bool { return r.Programmed == "True" }); err != nil {
		return err
	}
	plugin(kubeconfig, "nodes")
	for _, name := range []string{"node-1", "node-5"} {
		if msg, err := programmedMessage(ctx, env, name); err == nil {
			direct, vxlan := harness.PeerPaths(name)
			fmt.Printf("%s: %s\n  overlaynet_agent_peers: %d direct, %d through VXLAN\n", name, msg, direct, vxlan)
		}
	}

	step("Starting two pods per node through CNI, as a container runtime does")
	type pod struct {
		*topology.Pod
		srv *topology.EchoServer
	}
	pods := map[string][]pod{}
	for _, h := range topo.Nodes {
		for i := range 2 {
			p, err := h.AddPod(ctx, binDir, fmt.Sprintf("%s/pod-%d", h.Name, i))
			if err != nil {
				return err
			}
			srv, err := topology.Serve(p.NS)
			if err != nil {
				_ = p.Delete(context.Background())
				return err
			}
			d.onExit(func() error { _ = srv.Close(); return p.Delete(context.Background()) })
			pods[h.Name] = append(pods[h.Name], pod{p, srv})
			fmt.Printf("%-14s %s\n", p.Name, joinAddrs(p.IPs))
		}
	}
	ext, err := topology.Serve(topo.External.NS)
	if err != nil {
		return err
	}
	d.onExit(ext.Close)

	step("Reachability, with the source address each receiver saw")
	for _, f := range topo.Families {
		for i, h := range topo.Nodes {
			from := pods[h.Name][0]
			to := pods[topo.Nodes[(i+1)%len(topo.Nodes)].Name][1]
			src, dst := from.IP(f), to.IP(f)
			seen, err := probe(ctx, from.Pod, dst)
			why := "pod IP kept, no NAT, no tunnel (R15)"
			if topo.SegmentOf[h.Name] != topo.SegmentOf[to.Node.Name] {
				why = "pod IP kept, no NAT, through VXLAN across subnets (B9)"
			}
			report(fmt.Sprintf("%s %s -> %s %s", from.Name, src, to.Name, dst), seen, err, src, why)
		}
		for _, h := range topo.Nodes {
			from := pods[h.Name][1]
			dst := topo.External.Addr(f)
			seen, err := probe(ctx, from.Pod, dst)
			report(fmt.Sprintf("%s %s -> external %s", from.Name, from.IP(f), dst), seen, err, h.Addr(f), "SNAT to the node IP (R15)")
		}
		to := pods[nodes[0]][0]
		dst := to.IP(f)
		_, err := topology.Probe(ctx, topo.External.NS, dst, 2*time.Second)
		verdict := "blocked: the node network routes no pod CIDR (R16)"
		if !topology.IsUnreachable(err) {
			verdict = fmt.Sprintf("UNEXPECTED: %v", err)
		}
		fmt.Printf("  %-72s %s\n", fmt.Sprintf("external -> %s %s", to.Name, dst), verdict)
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	if hold {
		step("Holding; explore with nsenter or the plugin (Ctrl-C cleans up)")
		fmt.Printf("  bin/kubectl-overlaynet --kubeconfig %s status   # make build first\n", kubeconfig)
		for _, h := range topo.Nodes {
			fmt.Printf("  nsenter --net=%s nft list table inet overlaynet   # %s\n", topology.NsPath(h.NS), h.Name)
		}
		<-ctx.Done()
		return ctx.Err()
	}
	step("Cleaning up")
	return nil
}

func sampleCluster() *v1alpha1.OverlayCluster {
	return &v1alpha1.OverlayCluster{
		ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.ClusterName},
		Spec: v1alpha1.OverlayClusterSpec{
			IPFamilies: []v1alpha1.IPFamily{v1alpha1.IPv4, v1alpha1.IPv6},
			VNetCIDRs:  []string{subnet1.Net4.String(), subnet2.Net4.String(), subnet1.Net6.String(), subnet2.Net6.String()},
			NodePools: []v1alpha1.NodePool{{
				Name:         "small",
				NodeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"pool": "small"}},
				MaxPods:      ptr.To[int32](30),
			}},
		},
	}
}

// plugin prints what `kubectl overlaynet ARGS` prints for the demo's control plane: the
// plugin's own code, run in process.
func plugin(kubeconfig string, args ...string) {
	step("kubectl overlaynet %s", strings.Join(args, " "))
	cli.RunPlugin(append([]string{"--kubeconfig", kubeconfig}, args...), cli.PluginOptions{
		Streams: genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr},
	})
}

// waitForClusterStatus waits until the OverlayCluster's status counts every node's blocks
// (the manager batches count-only status writes).
func waitForClusterStatus(ctx context.Context, env *testenv.Env) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		ovc := &v1alpha1.OverlayCluster{}
		err := env.Client.Get(ctx, client.ObjectKey{Name: v1alpha1.ClusterName}, ovc)
		if err == nil && len(ovc.Status.Pools) == len(ovc.Spec.IPFamilies) && !slices.ContainsFunc(ovc.Status.Pools, func(p v1alpha1.PoolStatus) bool {
			return p.AllocatedBlocks != int64(len(nodes))
		}) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for the OverlayCluster status to count %d nodes: %w", len(nodes), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// programmedMessage returns the message of a node's Programmed condition, which says which
// peers it reaches directly and which through VXLAN.
func programmedMessage(ctx context.Context, env *testenv.Env, name string) (string, error) {
	nnc := &v1alpha1.NodeNetworkConfig{}
	if err := env.Client.Get(ctx, types.NamespacedName{Name: name}, nnc); err != nil {
		return "", err
	}
	c := meta.FindStatusCondition(nnc.Status.Conditions, v1alpha1.NodeProgrammed)
	if c == nil {
		return "", errors.New("not programmed")
	}
	return c.Message, nil
}

// waitFor polls the allocations until every node's row satisfies ok.
func waitFor(ctx context.Context, env *testenv.Env, ok func(harness.Allocation) bool) ([]harness.Allocation, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		rows, err := harness.Allocations(ctx, env.Client)
		if err == nil && len(rows) == len(nodes) && !slices.ContainsFunc(rows, func(r harness.Allocation) bool { return !ok(r) }) {
			return rows, nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = fmt.Errorf("waiting for the nodes: %w (last seen:\n%s)", ctx.Err(), harness.FormatAllocations(rows))
			}
			return nil, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// probe retries briefly: a fresh pod's neighbours may still be resolving.
func probe(ctx context.Context, from *topology.Pod, to netip.Addr) (netip.Addr, error) {
	var err error
	for range 5 {
		var seen netip.Addr
		if seen, err = topology.Probe(ctx, from.NS, to, 2*time.Second); err == nil || ctx.Err() != nil {
			return seen, err
		}
	}
	return netip.Addr{}, err
}

func report(what string, seen netip.Addr, err error, want netip.Addr, why string) {
	switch {
	case err != nil:
		fmt.Printf("  %-72s FAILED: %v\n", what, err)
	case seen != want:
		fmt.Printf("  %-72s UNEXPECTED: seen as %s, want %s\n", what, seen, want)
	default:
		fmt.Printf("  %-72s ok, seen as %-14s %s\n", what, seen, why)
	}
}

func checkHost(before *topology.HostState) error {
	after, err := topology.SnapshotHost()
	if err != nil {
		return err
	}
	if after.String() != before.String() {
		return fmt.Errorf("the host's network changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	fmt.Println("The host's named namespaces, links, routes and nftables ruleset are as before")
	return nil
}

func mustTempDir(d *demo) string {
	dir, err := os.MkdirTemp("", "overlaynet-demo-")
	if err != nil {
		panic(err)
	}
	d.onExit(func() error { return os.RemoveAll(dir) })
	return dir
}

func joinAddrs(as []netip.Addr) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
