package realnodes

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
)

// nodeScript runs as a node's first process: in the node's network namespace and a private
// mount namespace (unshare -m --propagation private), it overlays /etc, /opt, /var and /run
// with per-node upper directories (kubelet, containerd and libcni hard-code paths there; the
// host's own directories stay untouched), binds real directories for containerd's
// snapshots and kubelet's volumes (an overlay cannot be an overlay's upper directory),
// starts containerd, imports the images, then starts kubelet and kube-proxy.
const nodeScript = `set -euo pipefail
N=$1; shift
for d in etc opt var run; do
	mkdir -p "$N/ov/$d/upper" "$N/ov/$d/work"
	mount -t overlay overlay -o "lowerdir=/$d,upperdir=$N/ov/$d/upper,workdir=$N/ov/$d/work" "/$d"
done
mkdir -p /var/lib/containerd /var/lib/kubelet "$N/containerd" "$N/kubelet"
mount --bind "$N/containerd" /var/lib/containerd
mount --bind "$N/kubelet" /var/lib/kubelet
mkdir -p /etc/cni/net.d /opt/cni/bin /var/log/pods /var/log/containers /run/netns /var/lib/cni
echo $$ > "$N/pid"
containerd --config "$N/containerd.toml" > "$N/containerd.log" 2>&1 &
for i in $(seq 300); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.1; done
for img in "$@"; do ctr -n k8s.io images import "$img" > /dev/null; done
kubelet --config="$N/kubelet.yaml" --kubeconfig="$N/kubelet.kubeconfig" --node-ip="$NODE_IP" \
	--hostname-override="$NODE_NAME" --v=1 > "$N/kubelet.log" 2>&1 &
kube-proxy --config="$N/kube-proxy.yaml" --hostname-override="$NODE_NAME" --v=1 > "$N/kube-proxy.log" 2>&1 &
echo started > "$N/started"
wait
`

// NodeDir is node name's working directory (its logs: containerd.log, kubelet.log,
// kube-proxy.log).
func (c *Cluster) NodeDir(name string) string { return filepath.Join(c.opts.Dir, "nodes", name) }

func (c *Cluster) cgroupRoot(name string) string { return "/overlaynet-realnodes-" + name }

// StartNode starts the kubelet, containerd and kube-proxy of a node of Options.Nodes or
// Options.Spare.
func (c *Cluster) StartNode(name string) error {
	h := c.Topo.Node(name)
	if h == nil {
		return fmt.Errorf("no host %s in the topology", name)
	}
	dir := c.NodeDir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	ip := h.Addrs[0]
	if err := c.pki.issue("node-"+name, "system:node:"+name, []string{"system:nodes"}, []net.IP{net.IP(ip.AsSlice())}, []string{name}); err != nil {
		return err
	}
	kc, err := c.pki.kubeconfig("node-"+name, c.Server())
	if err != nil {
		return err
	}
	if err := os.Rename(kc, filepath.Join(dir, "kubelet.kubeconfig")); err != nil {
		return err
	}
	if err := c.makeCgroups(name); err != nil {
		return err
	}
	maxPods := 110
	if m, ok := c.opts.MaxPods[name]; ok {
		maxPods = m
	}
	files := map[string]string{
		"containerd.toml": fmt.Sprintf(`version = 3
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = %q
[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
`, PauseImage),
		"kubelet.yaml": fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %q}
authorization: {mode: Webhook}
address: %q
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
tlsCertFile: %q
tlsPrivateKeyFile: %q
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: %q
failCgroupV1: false
failSwapOn: false
enforceNodeAllocatable: []
evictionHard: {}
imageGCHighThresholdPercent: 100
resolvConf: ""
maxPods: %d
serializeImagePulls: false
nodeStatusUpdateFrequency: 4s
`, c.pki.path("ca.crt"), ip.String(), c.pki.path("node-"+name+".crt"), c.pki.path("node-"+name+".key"), c.cgroupRoot(name), maxPods),
		"kube-proxy.yaml": fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection: {kubeconfig: %q}
clusterCIDR: %s
detectLocalMode: %s
bindAddress: %s
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`, c.pki.path("kube-proxy.kubeconfig"), PodCIDR, map[bool]string{true: "NodeCIDR", false: "ClusterCIDR"}[c.opts.NodeCIDRLocal], ip),
	}
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644); err != nil {
			return err
		}
	}
	argv := append([]string{"unshare", "-m", "--propagation", "private", "bash", "-c", nodeScript, "node", dir}, c.opts.Images...)
	cmd := inNetNS(h, argv...)
	cmd.Env = append(os.Environ(), "PATH="+c.opts.Assets+":"+os.Getenv("PATH"), "NODE_NAME="+name, "NODE_IP="+ip.String())
	lf, err := os.Create(filepath.Join(dir, "node.log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting node %s: %w", name, err)
	}
	go func() { _ = cmd.Wait(); _ = lf.Close() }()
	c.nodes[name] = cmd
	for range 600 {
		if _, err := os.Stat(filepath.Join(dir, "started")); err == nil {
			return nil
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "node.log"))
	return fmt.Errorf("node %s did not start: %s", name, log)
}

// cgroupHierarchies are the mounted cgroup hierarchies (v1 controllers and the v2 mount).
func cgroupHierarchies() []string {
	ms, _ := filepath.Glob("/sys/fs/cgroup/*")
	var out []string
	for _, m := range ms {
		if fi, err := os.Stat(m); err == nil && fi.IsDir() {
			out = append(out, m)
		}
	}
	return out
}

// makeCgroups creates the node's cgroup root in every hierarchy (kubelet expects it),
// with the parent's cpuset.
func (c *Cluster) makeCgroups(name string) error {
	for _, h := range cgroupHierarchies() {
		d := h + c.cgroupRoot(name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if b, err := os.ReadFile(filepath.Join(h, f)); err == nil {
				_ = os.WriteFile(filepath.Join(d, f), b, 0o644)
			}
		}
	}
	return nil
}

// StopNode kills a node as a power cut would: every process in its mount namespace
// (containerd, its shims, kubelet, kube-proxy) and every container in its cgroups; then it
// removes the cgroups. The node's network namespace stays (the topology owns it).
func (c *Cluster) StopNode(name string) error {
	cmd, ok := c.nodes[name]
	if !ok {
		return nil
	}
	delete(c.nodes, name)
	mntNS := ""
	if b, err := os.ReadFile(filepath.Join(c.NodeDir(name), "pid")); err == nil {
		mntNS, _ = os.Readlink("/proc/" + strings.TrimSpace(string(b)) + "/ns/mnt")
	}
	for range 20 {
		var pids []int
		if mntNS != "" {
			ps, _ := filepath.Glob("/proc/[0-9]*/ns/mnt")
			for _, p := range ps {
				if l, _ := os.Readlink(p); l == mntNS {
					pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
					pids = append(pids, pid)
				}
			}
		}
		for _, h := range cgroupHierarchies() {
			_ = filepath.WalkDir(h+c.cgroupRoot(name), func(path string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() && d.Name() == "cgroup.procs" {
					f, err := os.Open(path)
					if err != nil {
						return nil
					}
					sc := bufio.NewScanner(f)
					for sc.Scan() {
						if pid, err := strconv.Atoi(sc.Text()); err == nil {
							pids = append(pids, pid)
						}
					}
					_ = f.Close()
				}
				return nil
			})
		}
		if cmd.Process != nil && cmd.ProcessState == nil {
			pids = append(pids, cmd.Process.Pid)
		}
		slices.Sort(pids)
		pids = slices.Compact(pids)
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var errs []error
	for _, h := range cgroupHierarchies() {
		errs = append(errs, removeCgroup(h+c.cgroupRoot(name)))
	}
	return errors.Join(errs...)
}

// removeCgroup removes a cgroup directory tree, deepest first.
func removeCgroup(root string) error {
	var dirs []string
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	var err error
	for i := len(dirs) - 1; i >= 0; i-- {
		for try := 0; try < 50; try++ {
			if err = syscall.Rmdir(dirs[i]); err == nil || errors.Is(err, syscall.ENOENT) {
				err = nil
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("removing cgroup %s: %w", dirs[i], err)
		}
	}
	return nil
}

// HostMounts returns the mount points of this process's mount namespace (the host's), in
// order: the nodes mount only in their private namespaces.
func HostMounts() []string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 {
			out = append(out, f[4])
		}
	}
	return out
}

// LeftoverCgroups returns the nodes' cgroup roots that still exist.
func LeftoverCgroups() []string {
	var out []string
	for _, h := range cgroupHierarchies() {
		ms, _ := filepath.Glob(h + "/overlaynet-realnodes-*")
		out = append(out, ms...)
	}
	return out
}

// NodePath is where the host sees path of node name's /etc, /opt, /var or /run (the upper
// directory of the node's overlay).
func (c *Cluster) NodePath(name, path string) string {
	top, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return filepath.Join(c.NodeDir(name), "ov", top, "upper", rest)
}

// HasRoute reports whether node name's namespace routes dst.
func (c *Cluster) HasRoute(name string, dst netip.Prefix) bool {
	h, err := netlink.NewHandleAt(c.Topo.Node(name).NS)
	if err != nil {
		return false
	}
	defer h.Close()
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil {
		return false
	}
	for _, r := range routes {
		if r.Dst != nil && r.Dst.String() == dst.String() {
			return true
		}
	}
	return false
}
