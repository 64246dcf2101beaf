package realnodes

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/testenv"
)

// Logf reports progress.
type Logf func(format string, args ...any)

// run runs a command and returns its output, or an error quoting it.
func run(dir string, env []string, argv ...string) (string, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, out)
	}
	return strings.TrimSpace(string(out)), nil
}

// Prepare builds (or finds) every binary, the three images and dist/install.yaml, and
// returns the cluster options for nodes.
func Prepare(logf Logf, nodes, spare []string) (Options, string, error) {
	root := testenv.RepoRoot()
	start := time.Now()
	assets, err := run(root, nil, "hack/realnodes-assets.sh")
	if err != nil {
		return Options{}, "", err
	}
	logf("binaries in %s (%.1fs)", assets, time.Since(start).Seconds())
	cache := filepath.Join(filepath.Dir(filepath.Dir(assets)), "realnodes-images")
	bin := filepath.Join(cache, "bin")
	if _, err := run(root, nil, "make", "--no-print-directory", "build-static", "LOCALBIN="+bin); err != nil {
		return Options{}, "", err
	}
	for _, c := range []string{"echo", "pause"} {
		if _, err := run(filepath.Join(root, "test", "realnodes"), []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(bin, "test", c), "./cmd/"+c); err != nil {
			return Options{}, "", err
		}
	}
	images := []string{filepath.Join(cache, "overlaynet.tar"), filepath.Join(cache, "pause.tar"), filepath.Join(cache, "echo.tar")}
	if err := WriteImage(images[0], ProductImage, bin, ProductFiles, ProductConfig); err != nil {
		return Options{}, "", err
	}
	if err := WriteImage(images[1], PauseImage, bin, []ImageFile{{"/pause", "test/pause"}}, v1Config("/pause", "65535:65535")); err != nil {
		return Options{}, "", err
	}
	if err := WriteImage(images[2], EchoImage, bin, []ImageFile{{"/echo", "test/echo"}}, v1Config("/echo", "65532:65532")); err != nil {
		return Options{}, "", err
	}
	if _, err := run(root, nil, "make", "--no-print-directory", "build-installer", "IMG="+ProductImage); err != nil {
		return Options{}, "", err
	}
	logf("images and dist/install.yaml ready (%.1fs)", time.Since(start).Seconds())
	return Options{Assets: assets, Nodes: nodes, Spare: spare, Images: images, NodeCIDRLocal: true}, filepath.Join(root, "dist", "install.yaml"), nil
}

// Clients returns a Kubernetes clientset and a controller-runtime client with overlaynet's
// types.
func (c *Cluster) Clients() (*kubernetes.Clientset, client.Client, error) {
	cs, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return nil, nil, err
	}
	ctrllog.SetLogger(logr.Discard())
	cl, err := client.New(c.Config, client.Options{Scheme: testenv.Scheme()})
	return cs, cl, err
}

// OverlayCluster is the cluster's OverlayCluster: Overlay mode on the VNet, the API
// server's service range.
const OverlayCluster = `apiVersion: network.overlaynet.io/v1alpha1
kind: OverlayCluster
metadata:
  name: default
spec:
  mode: Overlay
  ipFamilies: [IPv4]
  podCIDRs: [10.244.0.0/16]
  serviceCIDRs: [10.96.0.0/16]
  dnsServiceIP: 10.96.0.10
  vnetCIDRs: [10.224.0.0/24]
`

// Install applies dist/install.yaml server-side, then the OverlayCluster, as a user does,
// turning the Node pod CIDR projection on (kube-proxy's NodeCIDR mode needs it).
func (c *Cluster) Install(installYAML string) error {
	if _, err := c.Kubectl("apply", "--server-side", "--field-manager=realnodes", "-f", installYAML); err != nil {
		return err
	}
	// The projection, as docs/real-cluster.md offers it: the flag and the nodes patch right.
	role := filepath.Join(testenv.RepoRoot(), "config", "components", "node-podcidrs", "role.yaml")
	if _, err := c.Kubectl("apply", "--server-side", "--field-manager=realnodes", "-f", role); err != nil {
		return err
	}
	// kube-proxy in NodeCIDR mode programs no Service until its Node has pod CIDRs, which
	// the manager sets: the manager must reach the API server directly, not through the
	// kubernetes Service (docs/real-cluster.md).
	patch := fmt.Sprintf(`-p=[{"op":"add","path":"/spec/template/spec/containers/0/args/-","value":"--project-node-pod-cidrs"},`+
		`{"op":"add","path":"/spec/template/spec/containers/0/env/-","value":{"name":"KUBERNETES_SERVICE_HOST","value":"%s"}},`+
		`{"op":"add","path":"/spec/template/spec/containers/0/env/-","value":{"name":"KUBERNETES_SERVICE_PORT","value":"6443"}}]`, c.cpAddr())
	if _, err := c.Kubectl("-n", "overlaynet-system", "patch", "deployment", "overlaynet-manager", "--type=json", patch); err != nil {
		return err
	}
	f := filepath.Join(c.opts.Dir, "overlaycluster.yaml")
	if err := os.WriteFile(f, []byte(OverlayCluster), 0o644); err != nil {
		return err
	}
	_, err := c.Kubectl("apply", "--server-side", "--field-manager=realnodes", "-f", f)
	return err
}

func v1Config(entry, user string) v1ImageConfig {
	return v1ImageConfig{User: user, Entrypoint: []string{entry}}
}

// NodeReady reports whether a Node is Ready, and the Ready condition's message.
func NodeReady(n *corev1.Node) (bool, string) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue, c.Message
		}
	}
	return false, "no Ready condition"
}

// WaitFor polls cond every 250 ms until it returns true or an error, or timeout passes.
func WaitFor(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s (last error: %v)", timeout, what, last)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// PodNetNS returns the network namespace of the running echo container whose pod has ip:
// the test process enters it to probe from the pod.
func PodNetNS(ip netip.Addr) (netns.NsHandle, error) {
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, comm := range comms {
		b, err := os.ReadFile(comm)
		if err != nil || strings.TrimSpace(string(b)) != "echo" {
			continue
		}
		ns, err := netns.GetFromPath(filepath.Join(filepath.Dir(comm), "ns", "net"))
		if err != nil {
			continue
		}
		h, err := netlink.NewHandleAt(ns)
		if err != nil {
			_ = ns.Close()
			continue
		}
		addrs, _ := h.AddrList(nil, netlink.FAMILY_V4)
		h.Close()
		for _, a := range addrs {
			if got, ok := netip.AddrFromSlice(a.IP); ok && got.Unmap() == ip {
				return ns, nil
			}
		}
		_ = ns.Close()
	}
	return netns.None(), fmt.Errorf("no echo container with address %s", ip)
}

// NNCs returns the NodeNetworkConfigs by node name.
func NNCs(ctx context.Context, cl client.Client) (map[string]*v1.NodeNetworkConfig, error) {
	var list v1.NodeNetworkConfigList
	if err := cl.List(ctx, &list); err != nil {
		return nil, err
	}
	out := map[string]*v1.NodeNetworkConfig{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out, nil
}

// EchoDeployment is the workload: replicas of the echo image spread over the nodes.
func EchoDeployment(replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: echo, namespace: default}
spec:
  replicas: %d
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      terminationGracePeriodSeconds: 5
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: echo}}}
      containers:
      - name: echo
        image: %s
        imagePullPolicy: Never
        ports: [{containerPort: 7777}, {containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: default}
spec:
  selector: {app: echo}
  ports: [{name: echo, port: 7777, targetPort: 7777}]
`, replicas, EchoImage)
}

// Apply applies manifest server-side.
func (c *Cluster) Apply(name, manifest string) error {
	f := filepath.Join(c.opts.Dir, name+".yaml")
	if err := os.WriteFile(f, []byte(manifest), 0o644); err != nil {
		return err
	}
	_, err := c.Kubectl("apply", "--server-side", "--field-manager=realnodes", "-f", f)
	return err
}

// LeaseFile is where node keeps host-local's reservation of ip (under the node's /var
// overlay).
func (c *Cluster) LeaseFile(node string, ip netip.Addr) string {
	return filepath.Join(c.NodeDir(node), "ov", "var", "upper", "lib", "cni", "networks", "overlaynet", ip.String())
}
