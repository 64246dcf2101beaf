package realnodes

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netns"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/overlaynet/overlaynet/internal/agent/datapath/linux"
	"github.com/overlaynet/overlaynet/test/topology"
)

// Addresses of the cluster.
const (
	ServiceCIDR  = "10.96.0.0/16"
	PodCIDR      = "10.244.0.0/16"
	PauseImage   = "localhost/overlaynet-pause:realnodes"
	EchoImage    = "localhost/overlaynet-echo:realnodes"
	ProductImage = "localhost/overlaynet:realnodes"
)

// VNet is the node network.
var VNet = netip.MustParsePrefix("10.224.0.0/24")

// Options describe a cluster.
type Options struct {
	// Assets holds every binary (hack/realnodes-assets.sh).
	Assets string
	// Dir is the working directory: certificates, per-node state, logs. Not under /etc,
	// /opt, /var or /run, which the nodes overlay.
	Dir string
	// Nodes are started at once; Spare nodes get a namespace and can join later.
	Nodes, Spare []string
	// MaxPods per node name; the kubelet's default (110) otherwise.
	MaxPods map[string]int
	// Images are docker-archive tarballs every node imports before its kubelet starts.
	Images []string
	// NodeCIDRLocal runs kube-proxy with --detect-local-mode=NodeCIDR (the manager must
	// project Node.spec.podCIDRs).
	NodeCIDRLocal bool
}

// Cluster is a running local cluster.
type Cluster struct {
	opts Options
	Topo *topology.Topology
	// CP is the control plane's host.
	CP    *topology.Host
	pki   *pki
	Admin string // the administrator's kubeconfig
	// Config reaches the API server from this process (dialing inside CP's namespace).
	Config  *rest.Config
	procs   []*exec.Cmd
	nodes   map[string]*exec.Cmd
	sysctls map[string]string
}

// host-wide sysctls that kubelet and kube-proxy may write: restored by Close.
var globalSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/netfilter/nf_conntrack_max",
}

// Start builds the topology, the control plane and the nodes of opts.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	c := &Cluster{opts: opts, nodes: map[string]*exec.Cmd{}, sysctls: map[string]string{}}
	for _, k := range globalSysctls {
		if b, err := os.ReadFile("/proc/sys/" + k); err == nil {
			c.sysctls[k] = strings.TrimSpace(string(b))
		}
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, c.Close())
		}
	}()
	names := append([]string{"cp"}, append(append([]string{}, opts.Nodes...), opts.Spare...)...)
	if c.Topo, err = topology.New(topology.Config{Nodes: names, VNet4: VNet, WorkDir: filepath.Join(opts.Dir, "hosts")}); err != nil {
		return nil, err
	}
	c.CP = c.Topo.Node("cp")
	for _, h := range c.Topo.Nodes {
		if err := linux.InNetNS(h.NS, func() error {
			return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
		}); err != nil {
			return nil, err
		}
		// The VNet has no uplink, so hosts have no default route; a real node's default
		// route is what lets a connection to a ClusterIP start (kube-proxy rewrites it
		// after the route lookup). Route the service range on the link instead.
		if err := h.RouteOnLink(netip.MustParsePrefix(ServiceCIDR)); err != nil {
			return nil, err
		}
	}
	if err := c.startControlPlane(ctx); err != nil {
		return nil, err
	}
	for _, n := range opts.Nodes {
		if err := c.StartNode(n); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *Cluster) cpAddr() string { return c.CP.Addrs[0].String() }

// Server is the API server's URL.
func (c *Cluster) Server() string { return "https://" + c.cpAddr() + ":6443" }

func (c *Cluster) bin(name string) string { return filepath.Join(c.opts.Assets, name) }

// inNetNS returns a command that runs argv in host h's network namespace.
func inNetNS(h *topology.Host, argv ...string) *exec.Cmd {
	cmd := exec.Command("nsenter", append([]string{"--net=" + topology.NsPath(h.NS), "--"}, argv...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

func (c *Cluster) startProc(h *topology.Host, logName string, argv ...string) (*exec.Cmd, error) {
	cmd := inNetNS(h, argv...)
	lf, err := os.Create(filepath.Join(c.opts.Dir, logName+".log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", logName, err)
	}
	go func() { _ = cmd.Wait(); _ = lf.Close() }()
	return cmd, nil
}

func (c *Cluster) startControlPlane(ctx context.Context) error {
	var err error
	if c.pki, err = newPKI(filepath.Join(c.opts.Dir, "pki")); err != nil {
		return err
	}
	p := c.pki
	ip := net.ParseIP(c.cpAddr())
	if err := p.issue("apiserver", "kube-apiserver", nil, []net.IP{ip, net.ParseIP("10.96.0.1"), net.ParseIP("127.0.0.1")},
		[]string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"}); err != nil {
		return err
	}
	for name, id := range map[string][2]string{
		"admin":                   {"admin", "system:masters"},
		"apiserver-kubelet":       {"kube-apiserver-kubelet-client", "system:masters"},
		"kube-controller-manager": {"system:kube-controller-manager", ""},
		"kube-scheduler":          {"system:kube-scheduler", ""},
		"kube-proxy":              {"system:kube-proxy", ""},
	} {
		var orgs []string
		if id[1] != "" {
			orgs = []string{id[1]}
		}
		if err := p.issue(name, id[0], orgs, nil, nil); err != nil {
			return err
		}
		if _, err := p.kubeconfig(name, c.Server()); err != nil {
			return err
		}
	}
	c.Admin = p.path("admin.kubeconfig")

	etcd, err := c.startProc(c.CP, "etcd", c.bin("etcd"), "--data-dir="+filepath.Join(c.opts.Dir, "etcd"),
		"--listen-client-urls=http://127.0.0.1:2379", "--advertise-client-urls=http://127.0.0.1:2379",
		"--listen-peer-urls=http://127.0.0.1:2380", "--unsafe-no-fsync", "--log-level=warn")
	if err != nil {
		return err
	}
	c.procs = append(c.procs, etcd)
	api, err := c.startProc(c.CP, "kube-apiserver", c.bin("kube-apiserver"),
		"--etcd-servers=http://127.0.0.1:2379", "--advertise-address="+c.cpAddr(), "--secure-port=6443",
		"--service-cluster-ip-range="+ServiceCIDR, "--allow-privileged=true",
		"--tls-cert-file="+p.path("apiserver.crt"), "--tls-private-key-file="+p.path("apiserver.key"),
		"--client-ca-file="+p.path("ca.crt"),
		"--kubelet-client-certificate="+p.path("apiserver-kubelet.crt"), "--kubelet-client-key="+p.path("apiserver-kubelet.key"),
		"--kubelet-certificate-authority="+p.path("ca.crt"), "--kubelet-preferred-address-types=InternalIP",
		"--service-account-issuer=https://kubernetes.default.svc", "--service-account-key-file="+p.path("sa.pub"),
		"--service-account-signing-key-file="+p.path("sa.key"),
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
		"--anonymous-auth=false", "--profiling=false")
	if err != nil {
		return err
	}
	c.procs = append(c.procs, api)

	cfg, err := clientcmd.BuildConfigFromFlags("", c.Admin)
	if err != nil {
		return err
	}
	cfg.Dial = c.DialContext
	cfg.QPS, cfg.Burst = 50, 100
	c.Config = cfg
	if err := c.waitForAPI(ctx); err != nil {
		return err
	}
	kcm, err := c.startProc(c.CP, "kube-controller-manager", c.bin("kube-controller-manager"),
		"--kubeconfig="+p.path("kube-controller-manager.kubeconfig"),
		"--authentication-kubeconfig="+p.path("kube-controller-manager.kubeconfig"),
		"--authorization-kubeconfig="+p.path("kube-controller-manager.kubeconfig"),
		"--service-account-private-key-file="+p.path("sa.key"), "--root-ca-file="+p.path("ca.crt"),
		"--use-service-account-credentials=true", "--allocate-node-cidrs=false", "--leader-elect=false",
		"--service-cluster-ip-range="+ServiceCIDR, "--bind-address=127.0.0.1",
		"--node-monitor-grace-period=20s")
	if err != nil {
		return err
	}
	sched, err := c.startProc(c.CP, "kube-scheduler", c.bin("kube-scheduler"),
		"--kubeconfig="+p.path("kube-scheduler.kubeconfig"),
		"--authentication-kubeconfig="+p.path("kube-scheduler.kubeconfig"),
		"--authorization-kubeconfig="+p.path("kube-scheduler.kubeconfig"),
		"--leader-elect=false", "--bind-address=127.0.0.1")
	if err != nil {
		return err
	}
	c.procs = append(c.procs, kcm, sched)
	return nil
}

// DialContext dials addr from inside the control plane's network namespace: this process
// stays in the host's, where no cluster address is routed.
func (c *Cluster) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		defer orig.Close()
		if err := netns.Set(c.CP.NS); err != nil {
			runtime.UnlockOSThread()
			ch <- result{err: err}
			return
		}
		conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err := netns.Set(orig); err != nil {
			// The thread stays locked and exits with the goroutine.
			ch <- result{conn, err}
			return
		}
		runtime.UnlockOSThread()
		ch <- result{conn, err}
	}()
	r := <-ch
	return r.conn, r.err
}

func (c *Cluster) waitForAPI(ctx context.Context) error {
	rc, err := rest.HTTPClientFor(c.Config)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := rc.Get(c.Server() + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the API server did not become ready: %v (log %s)", err, filepath.Join(c.opts.Dir, "kube-apiserver.log"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Kubectl runs kubectl as the administrator inside the control plane's namespace.
func (c *Cluster) Kubectl(args ...string) (string, error) {
	cmd := inNetNS(c.CP, append([]string{c.bin("kubectl"), "--kubeconfig=" + c.Admin}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Close stops every node and the control plane and removes every trace from the host: the
// node processes and the containers, their cgroups, the namespaces, the sysctls.
func (c *Cluster) Close() error {
	var errs []error
	for name := range c.nodes {
		errs = append(errs, c.StopNode(name))
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		if p := c.procs[i].Process; p != nil {
			_ = syscall.Kill(-p.Pid, syscall.SIGKILL)
		}
	}
	c.procs = nil
	time.Sleep(100 * time.Millisecond)
	if c.Topo != nil {
		errs = append(errs, c.Topo.Close())
	}
	for k, v := range c.sysctls {
		if b, err := os.ReadFile("/proc/sys/" + k); err == nil && strings.TrimSpace(string(b)) != v {
			errs = append(errs, os.WriteFile("/proc/sys/"+k, []byte(v), 0o644))
		}
	}
	return errors.Join(errs...)
}

func itoa(i int) string { return strconv.Itoa(i) }
