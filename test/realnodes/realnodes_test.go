package realnodes

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent"
	"github.com/overlaynet/overlaynet/test/topology"
)

// TestRealNodes installs overlaynet from dist/install.yaml on three real nodes (kubelet,
// containerd, runc, kube-proxy in nftables mode with --detect-local-mode=NodeCIDR) and
// checks what a user sees (B10, issue 13).
func TestRealNodes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("real nodes need root (network and mount namespaces, cgroups); run `make test` as root")
	}
	if testing.Short() {
		t.Skip("real nodes take minutes; -short skips them")
	}
	ctx := context.Background()
	before, err := topology.SnapshotHost()
	if err != nil {
		t.Fatal(err)
	}
	mountsBefore := HostMounts()
	nodes := []string{"node-1", "node-2", "node-3"}
	opts, installYAML, err := Prepare(t.Logf, nodes, []string{"node-4"})
	if err != nil {
		t.Fatal(err)
	}
	opts.MaxPods = map[string]int{"node-4": 10}
	opts.Dir = t.TempDir()
	start := time.Now()
	c, err := Start(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	closeCluster := func() {
		if !closed {
			closed = true
			if err := c.Close(); err != nil {
				t.Errorf("tearing the cluster down: %v", err)
			}
		}
	}
	defer closeCluster()
	defer func() {
		if t.Failed() {
			for _, n := range nodes {
				for _, f := range []string{"kubelet.log", "containerd.log"} {
					b, _ := os.ReadFile(c.NodeDir(n) + "/" + f)
					lines := strings.Split(string(b), "\n")
					t.Logf("%s %s (tail):\n%s", n, f, strings.Join(lines[max(0, len(lines)-15):], "\n"))
				}
			}
			out, _ := c.Kubectl("get", "pods", "-A", "-o", "wide")
			t.Logf("pods:\n%s", out)
			out, _ = c.Kubectl("get", "events", "-A")
			t.Logf("events:\n%s", out)
		}
	}()
	cs, cl, err := c.Clients()
	if err != nil {
		t.Fatal(err)
	}

	// Nodes register NotReady: no CNI configuration.
	err = WaitFor(ctx, 90*time.Second, "three registered nodes", func() (bool, error) {
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		return err == nil && len(list.Items) == len(nodes), err
	})
	if err != nil {
		t.Fatal(err)
	}
	list, _ := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	for i := range list.Items {
		if ready, msg := NodeReady(&list.Items[i]); ready {
			t.Errorf("node %s is Ready before overlaynet is installed (%s)", list.Items[i].Name, msg)
		}
	}
	t.Logf("cluster up, nodes NotReady (%.1fs)", time.Since(start).Seconds())

	// No node has a CNI plugin or configuration before overlaynet: the nodes' /opt and /etc
	// start as the host's, which has neither.
	for _, n := range nodes {
		for _, d := range []string{"/opt/cni/bin", "/etc/cni/net.d"} {
			if entries, _ := os.ReadDir(c.NodePath(n, d)); len(entries) > 0 {
				t.Errorf("node %s has %s before overlaynet is installed: %v", n, d, entries)
			}
		}
	}

	if err := c.Install(installYAML); err != nil {
		t.Fatal(err)
	}
	err = WaitFor(ctx, 3*time.Minute, "every node Ready through overlaynet", func() (bool, error) {
		list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for i := range list.Items {
			if ok, _ := NodeReady(&list.Items[i]); !ok {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("overlaynet installed, nodes Ready (%.1fs)", time.Since(start).Seconds())
	nncs, err := NNCs(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]netip.Prefix{}
	for _, n := range nodes {
		nnc := nncs[n]
		if nnc == nil || len(nnc.Spec.PodCIDRs) != 1 {
			t.Fatalf("node %s: NodeNetworkConfig %+v, want one block", n, nnc)
		}
		blocks[n] = netip.MustParsePrefix(nnc.Spec.PodCIDRs[0])
		if c := meta.FindStatusCondition(nnc.Status.Conditions, v1.NodeProgrammed); c == nil || c.Status != metav1.ConditionTrue {
			t.Errorf("node %s: Programmed = %+v, want True", n, c)
		}
		node, err := cs.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(node.Spec.PodCIDRs) != 1 || node.Spec.PodCIDRs[0] != blocks[n].String() {
			t.Errorf("node %s spec.podCIDRs = %v, want its block %s (projection on)", n, node.Spec.PodCIDRs, blocks[n])
		}
	}

	// The admission policy of dist/install.yaml holds against the real agent pods' own
	// identity (B7): the Programmed conditions above went through it, and a token bound to
	// node-1's agent pod may change neither node-2's status nor its own allocation.
	t.Run("B7 the real agents' tokens may write only their own Programmed condition", func(t *testing.T) {
		for _, n := range nodes {
			if !programmedByAgent(nncs[n]) {
				t.Errorf("node %s: the Programmed condition was not written by the agent's field manager (managed fields %v)", n, nncs[n].ManagedFields)
			}
		}
		pod, err := AgentPodOn(ctx, cs, "node-1")
		if err != nil {
			t.Fatal(err)
		}
		agentCS, err := c.AgentClient(ctx, cs, pod)
		if err != nil {
			t.Fatal(err)
		}
		for _, attack := range []struct{ name, nnc, patch string }{
			{"another node's Programmed condition", "node-2", `{"status":{"conditions":[{"type":"Programmed","status":"True","reason":"Forged","message":"forged","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`},
			{"its own Allocated condition", "node-1", `{"status":{"conditions":[{"type":"Allocated","status":"False","reason":"Forged","message":"forged","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}`},
		} {
			if err := PatchNNCStatus(ctx, agentCS, attack.nnc, attack.patch); !refusedByPolicy(err) {
				t.Errorf("the agent of node-1 changing %s (%s): err = %v, want the B7 refusal", attack.name, attack.nnc, err)
			}
		}
		after, err := NNCs(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if !slices.Equal(after[n].Spec.PodCIDRs, nncs[n].Spec.PodCIDRs) || !slices.Equal(after[n].Spec.NodeIPs, nncs[n].Spec.NodeIPs) ||
				after[n].Generation != nncs[n].Generation || !after[n].IsAllocated() {
				t.Errorf("node %s: changed after refused attacks: %+v %+v, was %+v %+v", n, after[n].Spec, after[n].Status, nncs[n].Spec, nncs[n].Status)
			}
		}
	})

	// A Deployment across the nodes, every pod on a node that had no CNI plugin before.
	if err := c.Apply("echo", EchoDeployment(6)); err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	err = WaitFor(ctx, 2*time.Minute, "6 running echo pods", func() (bool, error) {
		pl, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=echo"})
		if err != nil {
			return false, err
		}
		pods = pods[:0]
		for _, p := range pl.Items {
			if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
				pods = append(pods, p)
			}
		}
		return len(pods) == 6, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("6 pods running (%.1fs)", time.Since(start).Seconds())
	perNode := map[string][]netip.Addr{}
	for _, p := range pods {
		ip := netip.MustParseAddr(p.Status.PodIP)
		if !blocks[p.Spec.NodeName].Contains(ip) {
			t.Errorf("pod %s on %s has %s, outside its node's block %s", p.Name, p.Spec.NodeName, ip, blocks[p.Spec.NodeName])
		}
		perNode[p.Spec.NodeName] = append(perNode[p.Spec.NodeName], ip)
	}
	if len(perNode) != 3 {
		t.Fatalf("pods on %d nodes, want all 3: %v", len(perNode), perNode)
	}

	// Pod to pod across nodes keeps the pod IP; pod to the Service; pod to outside is SNATed.
	ext, err := topology.Serve(c.Topo.External.NS)
	if err != nil {
		t.Fatal(err)
	}
	defer ext.Close()
	svc, err := cs.CoreV1().Services("default").Get(ctx, "echo", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	clusterIP := netip.MustParseAddr(svc.Spec.ClusterIP)
	for i, from := range nodes {
		to := nodes[(i+1)%len(nodes)]
		src := perNode[from][0]
		ns, err := PodNetNS(src)
		if err != nil {
			t.Fatal(err)
		}
		seen, err := topology.Probe(ctx, ns, perNode[to][0], 5*time.Second)
		if err != nil || seen != src {
			t.Errorf("pod %s on %s to pod %s on %s: seen %v (err %v), want the pod IP", src, from, perNode[to][0], to, seen, err)
		}
		// Six connections to the Service: the backends sit on every node. A connection
		// that kube-proxy sends back to the client pod itself (hairpin) is masqueraded to
		// the node's side of the pod's link, the block's first address; every other one
		// keeps the pod IP.
		// kube-proxy programs the Service once its endpoints are ready: wait for that.
		if err := WaitFor(ctx, time.Minute, "the Service programmed on "+from, func() (bool, error) {
			_, err := topology.Probe(ctx, ns, clusterIP, 2*time.Second)
			return err == nil, nil
		}); err != nil {
			t.Error(err)
		}
		hairpin := blocks[from].Masked().Addr().Next()
		kept := 0
		for range 6 {
			seen, err = topology.Probe(ctx, ns, clusterIP, 5*time.Second)
			switch {
			case err != nil || (seen != src && seen != hairpin):
				t.Errorf("pod %s on %s to Service %s: seen %v (err %v), want the pod IP", src, from, clusterIP, seen, err)
			case seen == src:
				kept++
			}
		}
		if kept == 0 {
			t.Errorf("pod %s on %s to Service %s: every connection went back to the pod itself", src, from, clusterIP)
		}
		nodeIP := c.Topo.Node(from).Addrs[0]
		seen, err = topology.Probe(ctx, ns, c.Topo.External.Addrs[0], 5*time.Second)
		if err != nil || seen != nodeIP {
			t.Errorf("pod %s on %s to the outside host: seen %v (err %v), want the node IP %s", src, from, seen, err, nodeIP)
		}
		_ = ns.Close()
	}

	// Rolling the agent DaemonSet: a probe loop between running pods on different nodes
	// never loses connectivity for more than a few seconds.
	{
		src, dst := perNode["node-1"][0], perNode["node-2"][0]
		ns, err := PodNetNS(src)
		if err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		done := make(chan time.Duration)
		go func() {
			var worst time.Duration
			var downSince time.Time
			for {
				select {
				case <-stop:
					done <- worst
					return
				case <-time.After(200 * time.Millisecond):
				}
				if _, err := topology.Probe(ctx, ns, dst, time.Second); err != nil {
					if downSince.IsZero() {
						downSince = time.Now()
					}
					worst = max(worst, time.Since(downSince))
				} else {
					downSince = time.Time{}
				}
			}
		}()
		if _, err := c.Kubectl("-n", "overlaynet-system", "rollout", "restart", "daemonset/overlaynet-agent"); err != nil {
			t.Error(err)
		}
		if _, err := c.Kubectl("-n", "overlaynet-system", "rollout", "status", "daemonset/overlaynet-agent", "--timeout=3m"); err != nil {
			t.Error(err)
		}
		close(stop)
		if worst := <-done; worst > 3*time.Second {
			t.Errorf("pod %s to pod %s was down for %v while the agents rolled", src, dst, worst)
		} else {
			t.Logf("agents rolled; the longest outage of pod %s to pod %s was %v", src, dst, worst)
		}
		_ = ns.Close()
	}

	// Deleting a pod releases its address.
	victim := pods[0]
	ip := netip.MustParseAddr(victim.Status.PodIP)
	if _, err := os.Stat(c.LeaseFile(victim.Spec.NodeName, ip)); err != nil {
		t.Errorf("no host-local lease for running pod %s: %v", ip, err)
	}
	if err := cs.CoreV1().Pods("default").Delete(ctx, victim.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = WaitFor(ctx, time.Minute, "the deleted pod's address released", func() (bool, error) {
		_, err := os.Stat(c.LeaseFile(victim.Spec.NodeName, ip))
		return os.IsNotExist(err), nil
	})
	if err != nil {
		t.Error(err)
	}

	for _, n := range nodes {
		for _, p := range []string{"ptp", "host-local", "portmap", "loopback"} {
			if _, err := os.Stat(c.NodePath(n, "/opt/cni/bin/"+p)); err != nil {
				t.Errorf("node %s: the agent's init container did not install %s: %v", n, p, err)
			}
		}
	}

	// Killing the manager's leader: the other replica takes over, and a node that joins
	// meanwhile is allocated, programmed and runs pods.
	leader := ""
	err = WaitFor(ctx, 2*time.Minute, "one of the two manager replicas leading", func() (bool, error) {
		mgrs, err := cs.CoreV1().Pods("overlaynet-system").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=manager"})
		if err != nil || len(mgrs.Items) != 2 {
			return false, err
		}
		for _, p := range mgrs.Items {
			if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
				return false, nil
			}
			// Controllers start only in the leader (both replicas share the node's host
			// name, and with it the lease's holder identity prefix).
			if out, _ := c.Kubectl("-n", "overlaynet-system", "logs", p.Name); strings.Contains(out, "Starting workers") {
				leader = p.Name
			}
		}
		return leader != "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	zero := int64(0)
	if err := cs.CoreV1().Pods("overlaynet-system").Delete(ctx, leader, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	if err := c.StartNode("node-4"); err != nil {
		t.Fatal(err)
	}
	var block4 netip.Prefix
	err = WaitFor(ctx, 2*time.Minute, "node-4 allocated, programmed and Ready", func() (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "node-4", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		all, err := NNCs(ctx, cl)
		if err != nil || all["node-4"] == nil || len(all["node-4"].Spec.PodCIDRs) == 0 {
			return false, err
		}
		block4 = netip.MustParsePrefix(all["node-4"].Spec.PodCIDRs[0])
		ok, _ := NodeReady(n)
		return ok, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("leader %s killed; node-4 joined, allocated %s and Ready %.1fs later", leader, block4, time.Since(killed).Seconds())
	if err := c.Apply("pinned", strings.Replace(pinnedPod, "NODE", "node-4", 1)); err != nil {
		t.Fatal(err)
	}
	err = WaitFor(ctx, time.Minute, "a pod running on node-4", func() (bool, error) {
		p, err := cs.CoreV1().Pods("default").Get(ctx, "pinned", metav1.GetOptions{})
		if err != nil || p.Status.Phase != corev1.PodRunning || p.Status.PodIP == "" {
			return false, nil
		}
		if ip := netip.MustParseAddr(p.Status.PodIP); !block4.Contains(ip) {
			return false, fmt.Errorf("pod on node-4 has %s, outside %s", ip, block4)
		}
		return true, nil
	})
	if err != nil {
		t.Error(err)
	}

	// node-4 runs at most 10 pods: the 11th fails with a clear event and leaks nothing.
	if err := c.Apply("fill", fillDeployment); err != nil {
		t.Fatal(err)
	}
	err = WaitFor(ctx, 2*time.Minute, "node-4 full and a fill pod refused for too many pods", func() (bool, error) {
		pl, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=node-4"})
		if err != nil {
			return false, err
		}
		running, podNet := 0, 0
		for _, p := range pl.Items {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				running++
				if !p.Spec.HostNetwork {
					podNet++
				}
			}
		}
		if running != 10 {
			return false, nil
		}
		ev, err := cs.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "reason=FailedScheduling"})
		if err != nil {
			return false, err
		}
		clear := false
		for _, e := range ev.Items {
			clear = clear || (strings.HasPrefix(e.InvolvedObject.Name, "fill-") && strings.Contains(e.Message, "Too many pods"))
		}
		leases, _ := os.ReadDir(c.NodePath("node-4", "/var/lib/cni/networks/overlaynet"))
		addrs := 0
		for _, l := range leases {
			if _, err := netip.ParseAddr(l.Name()); err == nil {
				addrs++
			}
		}
		if clear && addrs != podNet {
			return false, fmt.Errorf("node-4 holds %d addresses for %d running pods", addrs, podNet)
		}
		return clear, nil
	})
	if err != nil {
		t.Error(err)
	}

	// Deleting a node releases its block and its routes on the others.
	gone := blocks["node-3"]
	if err := c.StopNode("node-3"); err != nil {
		t.Error(err)
	}
	if err := cs.CoreV1().Nodes().Delete(ctx, "node-3", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	err = WaitFor(ctx, time.Minute, "node-3's block released and unrouted", func() (bool, error) {
		all, err := NNCs(ctx, cl)
		if err != nil || all["node-3"] != nil {
			return false, err
		}
		var claims v1.BlockClaimList
		if err := cl.List(ctx, &claims); err != nil {
			return false, err
		}
		for _, bc := range claims.Items {
			if bc.Spec.Block == gone.String() {
				return false, nil
			}
		}
		return !c.HasRoute("node-1", gone) && !c.HasRoute("node-4", gone), nil
	})
	if err != nil {
		t.Error(err)
	}

	closeCluster()
	after, err := topology.SnapshotHost()
	if err != nil {
		t.Fatal(err)
	}
	if before.String() != after.String() {
		t.Errorf("the host changed:\nbefore\n%s\nafter\n%s", before, after)
	}
	if after := HostMounts(); !slices.Equal(mountsBefore, after) {
		t.Errorf("the host's mounts changed:\nbefore %v\nafter  %v", mountsBefore, after)
	}
	if left := LeftoverCgroups(); len(left) > 0 {
		t.Errorf("cgroups left behind: %v", left)
	}
	t.Logf("done in %.1fs", time.Since(start).Seconds())
}

const pinnedPod = `apiVersion: v1
kind: Pod
metadata: {name: pinned, namespace: default}
spec:
  nodeName: NODE
  terminationGracePeriodSeconds: 5
  containers:
  - {name: echo, image: ` + EchoImage + `, imagePullPolicy: Never}
`

// fillDeployment asks node-4 for more pods than its kubelet's maxPods.
const fillDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: fill, namespace: default}
spec:
  replicas: 11
  selector: {matchLabels: {app: fill}}
  template:
    metadata: {labels: {app: fill}}
    spec:
      nodeSelector: {kubernetes.io/hostname: node-4}
      terminationGracePeriodSeconds: 5
      containers:
      - {name: echo, image: ` + EchoImage + `, imagePullPolicy: Never}
`

// programmedByAgent says whether the agent's field manager owns the Programmed condition of
// nnc's status: its server-side apply passed the admission policy.
func programmedByAgent(nnc *v1.NodeNetworkConfig) bool {
	for _, mf := range nnc.ManagedFields {
		if mf.Manager == agent.FieldManager && mf.Subresource == "status" && mf.FieldsV1 != nil &&
			strings.Contains(string(mf.FieldsV1.Raw), `k:{\"type\":\"Programmed\"}`) {
			return true
		}
	}
	return false
}
