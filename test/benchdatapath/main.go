// Command benchdatapath measures pod-to-pod TCP throughput and latency in network
// namespaces (`make bench-datapath`, B9): two pods on one node, pods on two nodes of one
// segment (direct routes), pods on two segments (VXLAN through a router), against the
// host-to-host path over the segment's bridge, the physical limit of this machine. Each
// figure is printed with its ratio to that baseline, because absolute figures on a shared
// machine vary from run to run.
//
// The datapath is the agent's own: desired.Compute and desired.Encapsulate decide it from
// NodeNetworkConfig statuses, the Linux backend programs it, pods start through the CNI
// plugins. Throughput comes from iperf3; latency from a one-byte TCP ping-pong.
//
// It needs root and iperf3 (`apt-get install iperf3`). With -profile it also reads the
// nftables counters of the pod-ingress guard and the VXLAN guard after the runs.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent"
	"github.com/overlaynet/overlaynet/internal/agent/datapath/linux"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
	"github.com/overlaynet/overlaynet/internal/netconf"
	"github.com/overlaynet/overlaynet/test/harness"
	"github.com/overlaynet/overlaynet/test/topology"
)

func main() {
	seconds := flag.Int("seconds", 3, "length of each iperf3 run")
	runs := flag.Int("runs", 3, "iperf3 runs per path, each paired with a baseline run; the medians are printed")
	pings := flag.Int("pings", 2000, "TCP ping-pongs per path for the latency")
	flag.BoolVar(&profile, "perf", false, "profile one more run of each pod path with perf and print the hottest kernel symbols")
	flag.Parse()
	if err := run(*seconds, *runs, *pings); err != nil {
		fmt.Fprintln(os.Stderr, "bench-datapath:", err)
		os.Exit(1)
	}
}

// profile is the -perf flag.
var profile bool

func run(seconds, runs, pings int) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("needs root: it creates network namespaces")
	}
	if _, err := exec.LookPath("iperf3"); err != nil {
		return errors.New("iperf3 is not installed: apt-get install iperf3")
	}
	binDir, err := harness.CNIPluginsDir()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bench-datapath-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	segA := topology.Segment{Nodes: []string{"node-a1", "node-a2"}, Net4: netip.MustParsePrefix("10.1.0.0/24")}
	segB := topology.Segment{Nodes: []string{"node-b1"}, Net4: netip.MustParsePrefix("10.2.0.0/24")}
	out := topology.Segment{Net4: netip.MustParsePrefix("10.3.0.0/24")}
	topo, err := topology.NewRouted(topology.RoutedConfig{Segments: []topology.Segment{segA, segB}, Outside: out, WorkDir: work})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, topo.Close()) }()

	// Every node's NodeNetworkConfig, as the manager would write it.
	var nncs []v1alpha1.NodeNetworkConfig
	for i, h := range topo.Nodes {
		nncs = append(nncs, v1alpha1.NodeNetworkConfig{
			ObjectMeta: metav1.ObjectMeta{Name: h.Name},
			Spec: v1alpha1.NodeNetworkConfigSpec{
				PodCIDRs: []string{fmt.Sprintf("10.244.%d.0/24", i+1)}, NodeIPs: []string{h.Addr(v1alpha1.IPv4).String()},
				MaxPods: 30,
			},
		})
	}
	// The cluster-wide facts every agent checks peers against, as the manager publishes
	// them in the OverlayCluster status.
	cluster, err := desired.ClusterFromStatus(&v1alpha1.OverlayClusterStatus{
		Mode:               v1alpha1.ModeOverlay,
		Pools:              []v1alpha1.PoolStatus{{Family: v1alpha1.IPv4, CIDRs: []string{"10.244.0.0/16"}, BlockPrefixLength: 24}},
		NodeNetworkCIDRs:   []string{segA.Net4.String(), segB.Net4.String()},
		NonMasqueradeCIDRs: []string{"10.244.0.0/16"},
	})
	if err != nil {
		return err
	}
	cs := netconf.ResolveCrossSubnet(v1alpha1.ModeOverlay, nil)
	var backends []*linux.Backend
	defer func() {
		for _, b := range backends {
			_ = b.Close()
		}
	}()
	for i, h := range topo.Nodes {
		b, err := linux.New(h.NS, linux.Options{})
		if err != nil {
			return err
		}
		backends = append(backends, b)
		u, err := b.Underlay([]netip.Addr{h.Addr(v1alpha1.IPv4)})
		if err != nil {
			return err
		}
		opts := desired.CNIOptions{IPAMDataDir: h.IPAMDataDir()}
		if opts.MTU, err = desired.PodMTU(cs, u, []v1alpha1.IPFamily{v1alpha1.IPv4}); err != nil {
			return err
		}
		want, err := desired.Compute(&nncs[i], nncs, cluster, nil, opts)
		if err != nil {
			return err
		}
		desired.Encapsulate(&want.Datapath, &nncs[i], cs, u)
		if _, err := b.Apply(context.Background(), &want.Datapath, true); err != nil {
			return fmt.Errorf("programming %s: %w", h.Name, err)
		}
		if _, err := agent.WriteFileAtomic(h.CNIConfDir(), agent.DefaultCNIConfName, want.CNI.Conflist); err != nil {
			return err
		}
	}

	a1, a2, b1 := topo.Nodes[0], topo.Nodes[1], topo.Nodes[2]
	pod := func(h *topology.Host, name string) (*topology.Pod, error) {
		return h.AddPod(context.Background(), binDir, name)
	}
	var pods []*topology.Pod
	defer func() {
		for _, p := range pods {
			_ = p.Delete(context.Background())
		}
	}()
	for _, spec := range []struct {
		h    *topology.Host
		name string
	}{{a1, "a1-pod0"}, {a1, "a1-pod1"}, {a2, "a2-pod0"}, {b1, "b1-pod0"}} {
		p, err := pod(spec.h, spec.name)
		if err != nil {
			return err
		}
		pods = append(pods, p)
	}
	node := func(h *topology.Host) *target {
		return &target{name: h.Name, nsPath: topology.NsPath(h.NS), ns: h, addr: h.Addr(v1alpha1.IPv4)}
	}
	podT := func(p *topology.Pod) *target {
		return &target{name: p.Name, nsPath: topology.NsPath(p.NS), podNS: p, addr: p.IP(v1alpha1.IPv4)}
	}
	paths := []struct {
		name     string
		from, to *target
	}{
		{"baseline: node to node over the segment's bridge", node(a1), node(a2)},
		{"pod to pod on one node", podT(pods[0]), podT(pods[1])},
		{"pod to pod across nodes, direct", podT(pods[0]), podT(pods[2])},
		{"node to node across the router (reference)", node(a1), node(b1)},
		{"pod to pod across subnets, VXLAN", podT(pods[0]), podT(pods[3])},
	}
	fmt.Printf("bench-datapath: iperf3 -t %d, median of %d runs; latency: %d TCP ping-pongs of 1 byte; pod MTU %d, VXLAN device MTU %d\n",
		seconds, runs, pings, linkMTU(pods[0]), 1500-desired.TunnelOverhead(v1alpha1.IPv4))
	// The machine is shared: each run of a path is paired with a run of the baseline just
	// before it, and the ratio is the median of the pairs' ratios, so that load that
	// changes during the benchmark cancels out.
	fmt.Printf("%-50s %10s %8s %12s %12s %8s\n", "path", "Gbit/s", "ratio", "RTT p50 µs", "RTT p99 µs", "ratio")
	base := paths[0]
	for i, p := range paths {
		var rates, ratios []float64
		for range runs {
			b, err := throughput(base.from, base.to, seconds)
			if err != nil {
				return fmt.Errorf("%s: %w", base.name, err)
			}
			r := b
			if i > 0 {
				if r, err = throughput(p.from, p.to, seconds); err != nil {
					return fmt.Errorf("%s: %w", p.name, err)
				}
			}
			rates, ratios = append(rates, r), append(ratios, r/b)
		}
		baseP50, _, err := latency(base.from, base.to, pings)
		if err != nil {
			return fmt.Errorf("%s: %w", base.name, err)
		}
		p50, p99, err := latency(p.from, p.to, pings)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		fmt.Printf("%-50s %10.2f %7.0f%% %12.1f %12.1f %7.0f%%   (ratios %s)\n", p.name, median(rates), 100*median(ratios), p50, p99, 100*p50/baseP50, percents(ratios))
	}
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average during the runs (this machine has %d CPUs): %s", runtime.NumCPU(), load)
	}
	fmt.Println("throughput ratio: median of path/baseline over runs each paired with a baseline run (higher is better); latency ratio: of the baseline's p50 RTT measured just before (lower is better)")
	if profile {
		for _, p := range paths[1:] {
			if err := perfProfile(p.name, p.from, p.to, seconds); err != nil {
				return err
			}
		}
	}
	fmt.Println("pod-ingress guard and VXLAN guard counters (packets that reached the drop rules) after the runs:")
	for _, h := range topo.Nodes {
		fmt.Printf("  %s: %s\n", h.Name, guardCounters(h))
	}
	return nil
}

// target is one end of a path: a node's or a pod's namespace and its address.
type target struct {
	name   string
	nsPath string
	ns     *topology.Host
	podNS  *topology.Pod
	addr   netip.Addr
}

func (t *target) inNS(fn func() error) error {
	if t.podNS != nil {
		return linux.InNetNS(t.podNS.NS, fn)
	}
	return t.ns.InNetNS(fn)
}

// throughput runs iperf3 from one namespace to a server in the other and returns the
// received rate in Gbit/s.
func throughput(from, to *target, seconds int) (float64, error) {
	srv := exec.Command("nsenter", "--net="+to.nsPath, "iperf3", "-s", "-1", "-B", to.addr.String())
	srv.Stdout, srv.Stderr = io.Discard, io.Discard
	if err := srv.Start(); err != nil {
		return 0, err
	}
	var outb []byte
	var err error
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond) // the server is listening once a client connects
		// --connect-timeout and the context bound a client that meets a stuck server.
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(seconds+10)*time.Second)
		outb, err = exec.CommandContext(ctx, "nsenter", "--net="+from.nsPath, "iperf3", "-c", to.addr.String(),
			"-t", fmt.Sprint(seconds), "-J", "--connect-timeout", "3000").Output()
		cancel()
		if err == nil {
			break
		}
	}
	if err != nil {
		_ = srv.Process.Kill()
		_ = srv.Wait()
		return 0, fmt.Errorf("iperf3 %s -> %s: %w: %s", from.name, to.addr, err, outb)
	}
	_ = srv.Wait()
	var res struct {
		End struct {
			SumReceived struct {
				BitsPerSecond float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
	}
	if err := json.Unmarshal(outb, &res); err != nil {
		return 0, fmt.Errorf("reading iperf3's report: %w", err)
	}
	return res.End.SumReceived.BitsPerSecond / 1e9, nil
}

// perfProfile runs perf record system-wide during one iperf3 run and prints the hottest
// symbols of the iperf3 processes, which is where the kernel does the forwarding work of
// veth and VXLAN (their softirqs run in the sender's context).
func perfProfile(name string, from, to *target, seconds int) error {
	out := filepath.Join(os.TempDir(), fmt.Sprintf("bench-datapath-%d.perf", os.Getpid()))
	defer os.Remove(out)
	rec := exec.Command("perf", "record", "-a", "-g", "-o", out, "--", "sleep", fmt.Sprint(seconds))
	rec.Stdout, rec.Stderr = io.Discard, io.Discard
	if err := rec.Start(); err != nil {
		return fmt.Errorf("perf: %w", err)
	}
	if _, err := throughput(from, to, seconds); err != nil {
		return err
	}
	if err := rec.Wait(); err != nil {
		return fmt.Errorf("perf record: %w", err)
	}
	rep, err := exec.Command("perf", "report", "-i", out, "--comms", "iperf3", "--no-children", "--sort", "sym", "--stdio", "-g", "none", "--percent-limit", "0.2").Output()
	if err != nil {
		return fmt.Errorf("perf report: %w", err)
	}
	// The five hottest symbols, then those of the guard (nftables, conntrack) and of the
	// tunnel (vxlan, udp), which say whether the guard or the encapsulation costs.
	fmt.Printf("\nperf, %s (share of all samples, in iperf3 processes):\n", name)
	shown := 0
	for _, l := range strings.Split(string(rep), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if shown < 5 || strings.Contains(l, "nft_") || strings.Contains(l, "nf_conntrack") || strings.Contains(l, "nf_nat") ||
			strings.Contains(l, "vxlan") || strings.Contains(l, "udp_tunnel") {
			fmt.Println("  " + l)
			shown++
		}
	}
	return nil
}

func percents(xs []float64) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = fmt.Sprintf("%.0f%%", 100*x)
	}
	return strings.Join(out, " ")
}

func median(xs []float64) float64 {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// latency runs n one-byte TCP ping-pongs from one namespace to a server in the other and
// returns the p50 and p99 round trip in microseconds.
func latency(from, to *target, n int) (float64, float64, error) {
	var ln net.Listener
	addr := netip.AddrPortFrom(to.addr, 5300)
	if err := to.inNS(func() (err error) { ln, err = net.Listen("tcp", addr.String()); return err }); err != nil {
		return 0, 0, err
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(c, c)
	}()
	var c net.Conn
	if err := from.inNS(func() (err error) { c, err = net.DialTimeout("tcp", addr.String(), 5*time.Second); return err }); err != nil {
		return 0, 0, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	buf := []byte{1}
	rtts := make([]float64, 0, n)
	for range n {
		start := time.Now()
		if _, err := c.Write(buf); err != nil {
			return 0, 0, err
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return 0, 0, err
		}
		rtts = append(rtts, float64(time.Since(start).Nanoseconds())/1e3)
	}
	slices.Sort(rtts)
	return rtts[len(rtts)/2], rtts[len(rtts)*99/100], nil
}

func linkMTU(p *topology.Pod) int {
	mtu := 0
	_ = linux.InNetNS(p.NS, func() error {
		i, err := net.InterfaceByName("eth0")
		if err == nil {
			mtu = i.MTU
		}
		return err
	})
	return mtu
}

// guardCounters reads the node's nftables drop counters: the pod-ingress guard (R16) and
// the VXLAN guard.
func guardCounters(h *topology.Host) string {
	conn, err := nftables.New(nftables.WithNetNSFd(int(h.NS)))
	if err != nil {
		return err.Error()
	}
	table := &nftables.Table{Name: linux.TableName, Family: nftables.TableFamilyINet}
	var found []string
	for _, chain := range []string{"pod-ingress-v4", "input"} {
		rules, err := conn.GetRules(table, &nftables.Chain{Name: chain, Table: table})
		if err != nil {
			continue
		}
		for _, r := range rules {
			for _, e := range r.Exprs {
				if c, ok := e.(*expr.Counter); ok {
					found = append(found, fmt.Sprintf("%s drops %d packets", chain, c.Packets))
				}
			}
		}
	}
	return strings.Join(found, ", ")
}
