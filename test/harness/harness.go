// Package harness runs overlaynet end to end on the local control plane for the
// end-to-end test and the demo: the manager, one in-process node agent per simulated node,
// and the Node objects a kubelet would register (benchscale registers its Nodes with it
// too). Together with test/topology it is a cluster in one process.
package harness

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent"
	"github.com/overlaynet/overlaynet/internal/agent/datapath/linux"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
	"github.com/overlaynet/overlaynet/internal/controller"
	"github.com/overlaynet/overlaynet/internal/testenv"
	"github.com/overlaynet/overlaynet/test/topology"
)

// Runner runs managers in goroutines and stops them all.
type Runner struct {
	mu    sync.Mutex
	stops []func() error
}

// start runs mgr until ctx ends or Stop is called, and waits for its cache to sync.
func (r *Runner) start(ctx context.Context, mgr ctrl.Manager, what string) error {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stop := func() error {
		cancel()
		if err := <-done; err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	r.mu.Lock()
	r.stops = append(r.stops, stop)
	r.mu.Unlock()
	syncCtx, cancelSync := context.WithTimeout(ctx, time.Minute)
	defer cancelSync()
	if !mgr.GetCache().WaitForCacheSync(syncCtx) {
		return fmt.Errorf("%s: cache did not sync", what)
	}
	return nil
}

// Stop stops every manager, the last started first.
func (r *Runner) Stop() error {
	r.mu.Lock()
	stops := r.stops
	r.stops = nil
	r.mu.Unlock()
	var errs []error
	for _, stop := range slices.Backward(stops) {
		errs = append(errs, stop())
	}
	return errors.Join(errs...)
}

// StartManager runs the overlaynet manager, exactly as cmd/manager wires it, against env.
func (r *Runner) StartManager(ctx context.Context, env *testenv.Env) error {
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 env.Scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Controller:             config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := controller.SetupWithManager(mgr, controller.Options{}); err != nil {
		return fmt.Errorf("setting up the controllers: %w", err)
	}
	return r.start(ctx, mgr, "manager")
}

// Agent is a running node agent.
type Agent struct {
	// Host is the node the agent programs.
	Host *topology.Host
	// Backend is the agent's datapath, for inspection.
	Backend *linux.Backend
}

// StartAgent runs a node agent for host, as cmd/agent wires it, with the host's namespace
// as its datapath and the host's CNI directories. cniBinDir holds the plugins.
func (r *Runner) StartAgent(ctx context.Context, env *testenv.Env, host *topology.Host, cniBinDir string) (*Agent, error) {
	backend, err := linux.New(host.NS, linux.Options{})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.stops = append(r.stops, backend.Close)
	r.mu.Unlock()
	mgr, err := ctrl.NewManager(env.Config, agent.ManagerOptions(host.Name, env.Scheme, "0", "0"))
	if err != nil {
		return nil, fmt.Errorf("creating the agent manager of %s: %w", host.Name, err)
	}
	_, err = agent.SetupWithManager(mgr, agent.Options{
		NodeName:   host.Name,
		Datapath:   backend,
		CNIConfDir: host.CNIConfDir(),
		CNIBinDir:  cniBinDir,
		CNI:        desired.CNIOptions{IPAMDataDir: host.IPAMDataDir()},
	})
	if err != nil {
		return nil, err
	}
	if err := r.start(ctx, mgr, "agent "+host.Name); err != nil {
		return nil, err
	}
	return &Agent{Host: host, Backend: backend}, nil
}

// CreateNode registers a Node as its kubelet would: labels, and InternalIP addresses in
// status.
func CreateNode(ctx context.Context, c client.Client, name string, labels map[string]string, ips []netip.Addr) error {
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := c.Create(ctx, node); err != nil {
		return fmt.Errorf("creating Node %s: %w", name, err)
	}
	for _, ip := range ips {
		node.Status.Addresses = append(node.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip.String()})
	}
	if err := c.Status().Update(ctx, node); err != nil {
		return fmt.Errorf("setting the addresses of Node %s: %w", name, err)
	}
	return nil
}

// DeleteNode deletes a Node. The local control plane runs no garbage collector, so the
// NodeNetworkConfig it owns goes because the controller deletes it (it does not wait for
// ownerReferences); a caller that depends on that waits for it.
func DeleteNode(ctx context.Context, c client.Client, name string) error {
	err := c.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}})
	return client.IgnoreNotFound(err)
}

// Allocation is one row of the allocation table.
type Allocation struct {
	Node       string
	PodCIDRs   []string
	NodeIPs    []string
	MaxPods    int32
	Allocated  string
	Programmed string
}

// Allocations lists the NodeNetworkConfigs as rows, by node name.
func Allocations(ctx context.Context, c client.Client) ([]Allocation, error) {
	var list v1alpha1.NodeNetworkConfigList
	if err := c.List(ctx, &list); err != nil {
		return nil, err
	}
	var out []Allocation
	for _, n := range list.Items {
		row := Allocation{Node: n.Name, PodCIDRs: n.Spec.PodCIDRs, NodeIPs: n.Spec.NodeIPs, MaxPods: n.Spec.MaxPods, Allocated: "-", Programmed: "-"}
		if c := meta.FindStatusCondition(n.Status.Conditions, v1alpha1.NodeAllocated); c != nil {
			row.Allocated = string(c.Status)
		}
		if c := meta.FindStatusCondition(n.Status.Conditions, v1alpha1.NodeProgrammed); c != nil {
			row.Programmed = string(c.Status)
		}
		out = append(out, row)
	}
	slices.SortFunc(out, func(a, b Allocation) int { return strings.Compare(a.Node, b.Node) })
	return out, nil
}

// FormatAllocations renders rows as a table.
func FormatAllocations(rows []Allocation) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-10s %-42s %-28s %8s %9s %10s\n", "NODE", "POD CIDRS", "NODE IPS", "MAX PODS", "ALLOCATED", "PROGRAMMED")
	for _, r := range rows {
		fmt.Fprintf(&b, "%-10s %-42s %-28s %8d %9s %10s\n", r.Node, strings.Join(r.PodCIDRs, ","), strings.Join(r.NodeIPs, ","), r.MaxPods, r.Allocated, r.Programmed)
	}
	return b.String()
}

// CNIPluginsDir returns the directory holding the reference CNI plugins, building them
// from the Go module pinned in hack/cni when needed (hack/cni-plugins.sh).
func CNIPluginsDir() (string, error) {
	out, err := exec.Command(filepath.Join(testenv.RepoRoot(), "hack", "cni-plugins.sh")).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("building the CNI plugins with hack/cni-plugins.sh: %w: %s", err, ee.Stderr)
		}
		return "", fmt.Errorf("building the CNI plugins with hack/cni-plugins.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// PeerPaths reads an in-process agent's overlaynet_agent_peers gauge: how many peers the
// node reaches directly and how many through VXLAN (B9). The Programmed message says which
// path a peer takes but not how many do, so that it stays the same when a peer joins (B8).
func PeerPaths(node string) (direct, vxlan int) {
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return 0, 0
	}
	for _, mf := range families {
		if mf.GetName() != "overlaynet_agent_peers" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["node"] != node {
				continue
			}
			switch labels["path"] {
			case "direct":
				direct = int(m.GetGauge().GetValue())
			case "vxlan":
				vxlan = int(m.GetGauge().GetValue())
			}
		}
	}
	return direct, vxlan
}
