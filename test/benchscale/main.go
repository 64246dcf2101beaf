// Command benchscale measures the allocation controller at scale (B8): for each contender it starts a fresh local control plane, runs the controller
// against it, creates N Nodes with their InternalIP in the create (as kubelets register)
// and prints the time until every node is allocated, the API writes per node (from the API
// server's apiserver_request_total), the controller's CPU per node and its peak memory.
//
// The contenders are the overlaynet manager and, with -nodeipam (the default when the
// binary can be built), kube-controller-manager's nodeipam controller built from the same
// pinned k8s.io/kubernetes as the envtest API server (hack/envtest/go.mod), with
// --kube-api-qps=1000. The ratio line divides the manager's figures by nodeipam's.
//
//	go run ./test/benchscale -nodes 5000
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
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
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/testenv"
)

func main() {
	nodes := flag.Int("nodes", 5000, "Nodes to create")
	writers := flag.Int("writers", 32, "Concurrent Node writers (the simulated kubelets)")
	timeout := flag.Duration("timeout", 20*time.Minute, "Give up after this long, per contender")
	profile := flag.String("cpuprofile", "", "Write a CPU profile of the manager's first 20 s to this file")
	managerBin := flag.String("manager", "", "Run this manager binary instead of building ./cmd/manager (to compare builds)")
	nodeipam := flag.Bool("nodeipam", true, "Also run kube-controller-manager's nodeipam on the same load and print the ratio")
	podCIDR := flag.String("pod-cidr", "", "Pod CIDR (default 100.64.0.0/10, or 10.0.0.0/8 above 16,000 nodes)")
	apiProfile := flag.String("apiserver-cpuprofile", "", "Write a CPU profile of the API server's first 20 s of Node load to this file, per contender (suffixed .nodeipam or .manager)")
	mode := flag.String("mode", "Overlay", "Network mode of the OverlayCluster: Overlay, or NodeSubnet (max pods 30, the manager alone)")
	flag.Parse()
	if *mode == string(v1.ModeNodeSubnet) {
		*nodeipam = false // nodeipam has no NodeSubnet counterpart
	}
	cidr := *podCIDR
	if cidr == "" {
		cidr = "100.64.0.0/10" // 16,384 /24s: room for R13's 5,000 nodes
		if *nodes > 16000 {
			cidr = "10.0.0.0/8"
		}
	}
	b := &bench{n: *nodes, writers: *writers, timeout: *timeout, podCIDR: netip.MustParsePrefix(cidr), mode: v1.NetworkMode(*mode), apiProfile: *apiProfile}
	var results []result
	if *nodeipam {
		r, err := b.runNodeIPAM()
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchscale: nodeipam:", err)
			os.Exit(1)
		}
		results = append(results, r)
	}
	r, err := b.runManager(*managerBin, *profile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchscale:", err)
		os.Exit(1)
	}
	results = append(results, r)
	report(b.n, results)
}

// bench is one load: n Nodes created by writers, allocated from podCIDR.
type bench struct {
	n, writers int
	timeout    time.Duration
	podCIDR    netip.Prefix
	mode       v1.NetworkMode
	apiProfile string
}

// result is what one contender did.
type result struct {
	name    string
	elapsed time.Duration
	cpu     time.Duration
	// controlPlaneCPU is what kube-apiserver and etcd used meanwhile.
	controlPlaneCPU time.Duration
	peakKiB         int64
	writes          map[string]float64 // by resource, subresource, verb and code
	total           float64
	duplicate       string // a block given twice, if any
	objects         int    // BlockClaims and NodeNetworkConfigs at the end
}

// contender is a controller under test.
type contender struct {
	name string
	// start runs it against the control plane of kubeconfig.
	start func(kubeconfig string) (*exec.Cmd, error)
	// allocated counts the nodes it allocated and reports a duplicate block, reading
	// from a watch-fed cache of watched.
	allocated func(ctx context.Context, c client.Reader) (int, string, error)
	watched   client.Object
	// counts says which writes are the contender's.
	counts func(key string) bool
}

func (b *bench) run(ct contender) (result, error) {
	res := result{name: ct.name}
	ctx, cancel := context.WithTimeout(context.Background(), b.timeout)
	defer cancel()
	tmp, err := os.MkdirTemp("", "overlaynet-benchscale-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp)

	fmt.Printf("[%s] starting the local control plane\n", ct.name)
	env, err := testenv.Start()
	if err != nil {
		return res, err
	}
	defer func() { _ = env.Stop() }()
	kubeconfig, err := env.KubeconfigFile(tmp)
	if err != nil {
		return res, err
	}
	c := env.Client
	ovc := &v1.OverlayCluster{
		ObjectMeta: metav1.ObjectMeta{Name: v1.ClusterName},
		Spec:       v1.OverlayClusterSpec{VNetCIDRs: []string{"10.1.0.0/16"}, PodCIDRs: []string{b.podCIDR.String()}},
	}
	if b.podCIDR.Overlaps(netip.MustParsePrefix("10.0.0.0/16")) {
		// The default service CIDR and VNet lie in 10/8; move them out of a 10/8 pod CIDR.
		ovc.Spec.VNetCIDRs = []string{"172.16.0.0/14"}
		ovc.Spec.ServiceCIDRs = []string{"192.168.0.0/16"}
		ovc.Spec.DNSServiceIP = "192.168.0.10"
	}
	if b.mode == v1.ModeNodeSubnet {
		// Each node reserves 30 addresses of the /16 VNet besides its own (R40, R41).
		ovc.Spec.Mode, ovc.Spec.MaxPodsPerNode = b.mode, ptrTo(int32(30))
	}
	if err := c.Create(ctx, ovc); err != nil {
		return res, err
	}

	cmd, err := ct.start(kubeconfig)
	if err != nil {
		return res, err
	}
	logf, err := os.Create(filepath.Join(tmp, "controller.log"))
	if err != nil {
		return res, err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return res, err
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var peak atomic.Int64
	go func() {
		for ctx.Err() == nil {
			if kb := vmHWM(cmd.Process.Pid); kb > peak.Load() {
				peak.Store(kb)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()

	before, err := writesByResource(ctx, env)
	if err != nil {
		return res, err
	}
	cpuBefore := cpuTime(cmd.Process.Pid)
	cpPids := controlPlanePids()
	cpBefore := sumCPU(cpPids)
	apiProfiled := make(chan error, 1)
	if b.apiProfile != "" {
		suffix := ".manager"
		if strings.Contains(ct.name, "nodeipam") {
			suffix = ".nodeipam"
		}
		go func() { apiProfiled <- captureAPIServerProfile(ctx, env, b.apiProfile+suffix, 20) }()
	}
	watch, err := startWatch(ctx, env, ct.watched)
	if err != nil {
		return res, err
	}
	fmt.Printf("[%s] creating %d Nodes with %d writers\n", ct.name, b.n, b.writers)
	start := time.Now()
	if err := b.createNodes(ctx, c, ovc.Spec.VNetCIDRs[0]); err != nil {
		return res, err
	}
	for {
		allocated, dup, err := ct.allocated(ctx, watch)
		if err != nil {
			return res, err
		}
		if dup != "" {
			res.duplicate = dup
		}
		if allocated == b.n {
			break
		}
		if ctx.Err() != nil {
			return res, fmt.Errorf("%s: only %d of %d nodes allocated after %s; log in %s", ct.name, allocated, b.n, time.Since(start), logf.Name())
		}
		time.Sleep(250 * time.Millisecond)
	}
	res.elapsed = time.Since(start)
	res.cpu = cpuTime(cmd.Process.Pid) - cpuBefore
	res.controlPlaneCPU = sumCPU(cpPids) - cpBefore
	if b.apiProfile != "" {
		if err := <-apiProfiled; err != nil {
			fmt.Fprintln(os.Stderr, "benchscale: API server profile:", err)
		}
	}
	// Let trailing status writes land before counting.
	time.Sleep(3 * time.Second)
	res.peakKiB = peak.Load()
	claims, nncs := &v1.BlockClaimList{}, &v1.NodeNetworkConfigList{}
	if c.List(ctx, claims, client.UnsafeDisableDeepCopy) == nil && c.List(ctx, nncs, client.UnsafeDisableDeepCopy) == nil {
		res.objects = len(claims.Items) + len(nncs.Items)
	}
	after, err := writesByResource(ctx, env)
	if err != nil {
		return res, err
	}
	res.writes = map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d > 0 && ct.counts(k) {
			res.writes[k] = d
			res.total += d
		}
	}
	return res, nil
}

// runManager measures the overlaynet manager.
func (b *bench) runManager(bin, profile string) (result, error) {
	if bin == "" {
		tmp, err := os.MkdirTemp("", "overlaynet-manager-")
		if err != nil {
			return result{}, err
		}
		defer os.RemoveAll(tmp)
		fmt.Println("[manager] building ./cmd/manager")
		bin = filepath.Join(tmp, "manager")
		build := exec.Command("go", "build", "-o", bin, "./cmd/manager")
		build.Dir, build.Stdout, build.Stderr = testenv.RepoRoot(), os.Stdout, os.Stderr
		if err := build.Run(); err != nil {
			return result{}, fmt.Errorf("building the manager: %w", err)
		}
	}
	const pprofAddr = "127.0.0.1:18089"
	profiled := make(chan error, 1)
	return b.run(contender{
		name: "overlaynet manager",
		start: func(kubeconfig string) (*exec.Cmd, error) {
			args := []string{"--kubeconfig", kubeconfig, "--metrics-bind-address", "0", "--health-probe-bind-address", "0"}
			if profile != "" {
				args = append(args, "--pprof-bind-address", pprofAddr)
				go func() { profiled <- captureProfile(pprofAddr, profile, 20) }()
			}
			return exec.Command(bin, args...), nil
		},
		allocated: countAllocatedNNCs,
		watched:   &v1.NodeNetworkConfig{},
		counts:    func(k string) bool { return !strings.HasPrefix(k, "nodes ") }, // the kubelets' own writes
	})
}

// runNodeIPAM measures kube-controller-manager running only its nodeipam controller.
func (b *bench) runNodeIPAM() (result, error) {
	bin, err := buildKCM()
	if err != nil {
		return result{}, err
	}
	return b.run(contender{
		name: "kube-controller-manager nodeipam",
		start: func(kubeconfig string) (*exec.Cmd, error) {
			return exec.Command(bin,
				"--kubeconfig", kubeconfig, "--controllers", "nodeipam", "--allocate-node-cidrs",
				"--cluster-cidr", b.podCIDR.String(), "--node-cidr-mask-size", "24",
				"--kube-api-qps", "1000", "--kube-api-burst", "1000", "--leader-elect=false",
				"--secure-port", "0", "--use-service-account-credentials=false"), nil
		},
		allocated: countPodCIDRs,
		watched:   &corev1.Node{},
		counts:    func(k string) bool { return strings.HasPrefix(k, "nodes PATCH") || strings.HasPrefix(k, "events") },
	})
}

// buildKCM builds kube-controller-manager from hack/envtest's pinned k8s.io/kubernetes into
// the envtest cache, next to the API server it is compared on.
func buildKCM() (string, error) {
	assets, err := testenv.Assets()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(assets, "kube-controller-manager")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	fmt.Println("[nodeipam] building kube-controller-manager from hack/envtest/go.mod (a cold build takes minutes)")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin+".tmp", "k8s.io/kubernetes/cmd/kube-controller-manager")
	build.Dir, build.Stdout, build.Stderr = filepath.Join(testenv.RepoRoot(), "hack", "envtest"), os.Stdout, os.Stderr
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=readonly -buildvcs=false")
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("building kube-controller-manager: %w", err)
	}
	return bin, os.Rename(bin+".tmp", bin)
}

func (b *bench) createNodes(ctx context.Context, c client.Client, vnet string) error {
	base := netip.MustParsePrefix(vnet).Addr().As4()
	work := make(chan int)
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for w := 0; w < b.writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				// 250 addresses per /24 from .4, across the /14 or /16 VNet.
				ip := netip.AddrFrom4([4]byte{base[0], base[1] + byte(i/250/256), byte(i / 250 % 256), byte(i%250 + 4)})
				node := &corev1.Node{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("node-%05d", i)},
					Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip.String()}}},
				}
				if err := c.Create(ctx, node); err != nil {
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	for i := 0; i < b.n; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return fmt.Errorf("creating nodes: %w", err)
	}
	return nil
}

func countAllocatedNNCs(ctx context.Context, c client.Reader) (int, string, error) {
	list := &v1.NodeNetworkConfigList{}
	if err := c.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return 0, "", err
	}
	k, seen, dup := 0, map[string]string{}, ""
	for i := range list.Items {
		if list.Items[i].IsAllocated() {
			k++
			for _, b := range list.Items[i].Spec.PodCIDRs {
				if other, ok := seen[b]; ok {
					dup = fmt.Sprintf("%s on %s and %s", b, other, list.Items[i].Name)
				}
				seen[b] = list.Items[i].Name
			}
		}
	}
	return k, dup, nil
}

func countPodCIDRs(ctx context.Context, c client.Reader) (int, string, error) {
	list := &corev1.NodeList{}
	if err := c.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return 0, "", err
	}
	k, seen, dup := 0, map[string]string{}, ""
	for i := range list.Items {
		if b := list.Items[i].Spec.PodCIDR; b != "" {
			k++
			if other, ok := seen[b]; ok {
				dup = fmt.Sprintf("%s on %s and %s", b, other, list.Items[i].Name)
			}
			seen[b] = list.Items[i].Name
		}
	}
	return k, dup, nil
}

func report(n int, results []result) {
	for _, r := range results {
		fmt.Printf("\n== %s, %d nodes\n", r.name, n)
		if r.objects > 0 {
			fmt.Printf("objects written               %d (%.1f/node)\n", r.objects, float64(r.objects)/float64(n))
		}
		fmt.Printf("all allocated after           %s (%.0f nodes/s)\n", r.elapsed.Round(time.Millisecond), float64(n)/r.elapsed.Seconds())
		fmt.Printf("CPU until allocated           %s (%.2f ms/node)\n", r.cpu.Round(time.Millisecond), float64(r.cpu.Microseconds())/1000/float64(n))
		fmt.Printf("API server + etcd CPU         %s (%.2f ms/node)\n", r.controlPlaneCPU.Round(time.Millisecond), float64(r.controlPlaneCPU.Microseconds())/1000/float64(n))
		fmt.Printf("peak RSS (VmHWM)              %.1f MiB\n", float64(r.peakKiB)/1024)
		if r.duplicate != "" {
			fmt.Printf("DUPLICATE BLOCK               %s\n", r.duplicate)
		} else {
			fmt.Printf("duplicate blocks              none\n")
		}
		fmt.Println("API writes (apiserver_request_total, POST/PUT/PATCH/DELETE):")
		var keys []string
		for k := range r.writes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Printf("  %-44s %7.0f  %.3f/node\n", k, r.writes[k], r.writes[k]/float64(n))
		}
		fmt.Printf("  %-44s %7.0f  %.3f/node\n", "total", r.total, r.total/float64(n))
	}
	if len(results) == 2 {
		a, m := results[0], results[1]
		fmt.Printf("\n== ratio manager / nodeipam\n")
		fmt.Printf("time %.2fx, writes/node %.2fx, CPU/node %.2fx, API server + etcd CPU %.2fx, peak RSS %.2fx\n",
			m.elapsed.Seconds()/a.elapsed.Seconds(), m.total/a.total, m.cpu.Seconds()/a.cpu.Seconds(),
			m.controlPlaneCPU.Seconds()/a.controlPlaneCPU.Seconds(), float64(m.peakKiB)/float64(a.peakKiB))
	}
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

func ptrTo[T any](v T) *T { return &v }

// cpuTime returns the user and system CPU time a process used so far.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	var utime, stime int64
	fmt.Sscanf(f[11], "%d", &utime)
	fmt.Sscanf(f[12], "%d", &stime)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks
}

// startWatch starts a cache fed by a watch of obj's kind. The bench watches what it counts,
// as any client would, instead of listing every object several times a second: the lists
// would cost the API server more than the allocations it measures.
func startWatch(ctx context.Context, env *testenv.Env, obj client.Object) (cache.Cache, error) {
	watch, err := cache.New(env.Config, cache.Options{Scheme: env.Client.Scheme()})
	if err != nil {
		return nil, err
	}
	if _, err := watch.GetInformer(ctx, obj); err != nil {
		return nil, err
	}
	go func() { _ = watch.Start(ctx) }()
	if !watch.WaitForCacheSync(ctx) {
		return nil, errors.New("the bench's watch did not sync")
	}
	return watch, nil
}

// controlPlanePids finds the running kube-apiserver and etcd processes (each contender
// runs against a control plane of its own; the previous one is stopped by then).
func controlPlanePids() []int {
	var pids []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		var pid int
		if _, err := fmt.Sscanf(d.Name(), "%d", &pid); err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil {
			continue
		}
		switch strings.TrimSpace(string(comm)) {
		case "kube-apiserver", "etcd":
			pids = append(pids, pid)
		}
	}
	return pids
}

func sumCPU(pids []int) time.Duration {
	var t time.Duration
	for _, p := range pids {
		t += cpuTime(p)
	}
	return t
}

// captureAPIServerProfile fetches a CPU profile of the API server (its /debug/pprof is on
// by default and open to the envtest admin).
func captureAPIServerProfile(ctx context.Context, env *testenv.Env, path string, seconds int) error {
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return err
	}
	raw, err := cs.RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", fmt.Sprint(seconds)).Timeout(time.Duration(seconds+30) * time.Second).DoRaw(ctx)
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o644)
}

// captureProfile fetches a CPU profile of the given length from a pprof endpoint.
func captureProfile(addr, path string, seconds int) error {
	var resp *http.Response
	err := errors.New("no attempt")
	for range 100 { // the endpoint starts with the manager
		if resp, err = http.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds)); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
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
