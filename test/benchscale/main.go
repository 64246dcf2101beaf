// Command benchscale measures the allocation controller at scale (issue 5): it starts
// the local control plane, runs the real manager binary against it, creates N Nodes with
// InternalIPs the way kubelets do, and prints the time until every NodeNetworkConfig is
// allocated, the API writes per node (from the API server's apiserver_request_total) and the
// manager's peak memory.
//
//	go run ./test/benchscale -nodes 5000
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/testenv"
	"github.com/overlaynet/overlaynet/test/harness"
)

func main() {
	nodes := flag.Int("nodes", 5000, "Nodes to create")
	writers := flag.Int("writers", 32, "Concurrent Node writers (the simulated kubelets)")
	timeout := flag.Duration("timeout", 20*time.Minute, "Give up after this long")
	flag.Parse()
	if err := run(*nodes, *writers, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "benchscale:", err)
		os.Exit(1)
	}
}

func run(n, writers int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tmp, err := os.MkdirTemp("", "overlaynet-benchscale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	fmt.Println("Building the manager")
	bin := filepath.Join(tmp, "manager")
	build := exec.Command("go", "build", "-o", bin, "./cmd/manager")
	build.Dir, build.Stdout, build.Stderr = testenv.RepoRoot(), os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building the manager: %w", err)
	}

	fmt.Println("Starting the local control plane")
	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer env.Stop()
	kubeconfig, err := env.KubeconfigFile(tmp)
	if err != nil {
		return err
	}
	c := env.Client

	ovc := &v1.OverlayCluster{
		ObjectMeta: metav1.ObjectMeta{Name: v1.ClusterName},
		// A /10 holds 16,384 /24s: room for R13's 5,000 nodes.
		Spec: v1.OverlayClusterSpec{VNetCIDRs: []string{"10.1.0.0/16"}, PodCIDRs: []string{"100.64.0.0/10"}},
	}
	if err := c.Create(ctx, ovc); err != nil {
		return err
	}

	logf, err := os.Create(filepath.Join(tmp, "manager.log"))
	if err != nil {
		return err
	}
	mgr := exec.Command(bin, "--kubeconfig", kubeconfig, "--metrics-bind-address", "0", "--health-probe-bind-address", "0")
	mgr.Stdout, mgr.Stderr = logf, logf
	if err := mgr.Start(); err != nil {
		return err
	}
	defer func() { _ = mgr.Process.Kill(); _ = mgr.Wait() }()
	var peak atomic.Int64
	go func() {
		for ctx.Err() == nil {
			if kb := vmHWM(mgr.Process.Pid); kb > peak.Load() {
				peak.Store(kb)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()

	before, err := writesByResource(ctx, env)
	if err != nil {
		return err
	}
	fmt.Printf("Creating %d Nodes with %d writers\n", n, writers)
	start := time.Now()
	if err := createNodes(ctx, c, n, writers); err != nil {
		return err
	}
	created := time.Since(start)

	for {
		allocated, err := countAllocated(ctx, c)
		if err != nil {
			return err
		}
		if allocated == n {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("only %d of %d nodes allocated after %s", allocated, n, time.Since(start))
		}
		time.Sleep(250 * time.Millisecond)
	}
	elapsed := time.Since(start)
	// Let trailing status writes land before counting.
	time.Sleep(3 * time.Second)
	after, err := writesByResource(ctx, env)
	if err != nil {
		return err
	}

	fmt.Printf("\nnodes                         %d\n", n)
	fmt.Printf("nodes created in              %s\n", created.Round(time.Millisecond))
	fmt.Printf("all NNCs allocated after      %s (%.0f nodes/s)\n", elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds())
	fmt.Printf("manager peak RSS (VmHWM)      %.1f MiB\n", float64(peak.Load())/1024)
	fmt.Println("API writes by the manager (apiserver_request_total, POST/PUT/PATCH/DELETE):")
	var keys []string
	total := 0.0
	for k := range after {
		if strings.HasPrefix(k, "nodes") {
			continue // the simulated kubelets' own writes
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		d := after[k] - before[k]
		if d == 0 {
			continue
		}
		total += d
		fmt.Printf("  %-44s %7.0f  %.3f/node\n", k, d, d/float64(n))
	}
	fmt.Printf("  %-44s %7.0f  %.3f/node\n", "total", total, total/float64(n))
	return nil
}

func createNodes(ctx context.Context, c client.Client, n, writers int) error {
	work := make(chan int)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				ip := netip.AddrFrom4([4]byte{10, 1, byte(i / 250), byte(i%250 + 4)})
				if err := harness.CreateNode(ctx, c, fmt.Sprintf("node-%05d", i), nil, []netip.Addr{ip}); err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return fmt.Errorf("creating nodes: %w", err)
	}
	return nil
}

func countAllocated(ctx context.Context, c client.Client) (int, error) {
	list := &v1.NodeNetworkConfigList{}
	if err := c.List(ctx, list); err != nil {
		return 0, err
	}
	k := 0
	for i := range list.Items {
		if meta.IsStatusConditionTrue(list.Items[i].Status.Conditions, v1.NodeAllocated) {
			k++
		}
	}
	return k, nil
}

// writesByResource sums the API server's write requests by resource[/subresource].
func writesByResource(ctx context.Context, env *testenv.Env) (map[string]float64, error) {
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return nil, err
	}
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the API server's metrics: %w", err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	fam, ok := families["apiserver_request_total"]
	if !ok {
		return out, nil
	}
	for _, m := range fam.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		switch labels["verb"] {
		case "POST", "PUT", "PATCH", "DELETE", "APPLY", "CREATE", "UPDATE":
		default:
			continue
		}
		key := labels["resource"]
		if s := labels["subresource"]; s != "" {
			key += "/" + s
		}
		key += " " + labels["verb"] + " " + labels["code"]
		out[key] += m.GetCounter().GetValue()
	}
	return out, nil
}

// vmHWM returns a process's peak resident set size in KiB.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(line, "VmHWM:")), "%d", &kb)
			return kb
		}
	}
	return 0
}
