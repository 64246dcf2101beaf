// Command demo (`make demo-cluster`, as root) brings up a local cluster of three real nodes,
// installs overlaynet from dist/install.yaml, runs a Deployment across the nodes and a
// Service, prints the allocation table, the nodes, the pods with their nodes and addresses
// and who reaches whom with the source address seen, then tears everything down and checks
// the host is as it was.
package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/test/realnodes"
	"github.com/overlaynet/overlaynet/test/topology"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo-cluster:", err)
		os.Exit(1)
	}
}

func step(start time.Time, format string, args ...any) {
	fmt.Printf("[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
}

func run() (err error) {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root (network and mount namespaces, cgroups)")
	}
	ctx := context.Background()
	start := time.Now()
	before, err := topology.SnapshotHost()
	if err != nil {
		return err
	}
	nodes := []string{"node-1", "node-2", "node-3"}
	opts, installYAML, err := realnodes.Prepare(func(f string, a ...any) { step(start, f, a...) }, nodes, nil)
	if err != nil {
		return err
	}
	if opts.Dir, err = os.MkdirTemp("", "overlaynet-demo-cluster-"); err != nil {
		return err
	}
	defer os.RemoveAll(opts.Dir)
	c, err := realnodes.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := c.Close(); cerr != nil && err == nil {
			err = cerr
		}
		after, serr := topology.SnapshotHost()
		if serr == nil && before.String() == after.String() {
			step(start, "torn down; the host's namespaces, links, routes and nftables are as they were")
		} else if err == nil {
			err = fmt.Errorf("the host changed: %v", serr)
		}
	}()
	cs, cl, err := c.Clients()
	if err != nil {
		return err
	}
	step(start, "control plane and %d nodes started (kubelet, containerd, runc, kube-proxy in nftables mode)", len(nodes))
	if err := realnodes.WaitFor(ctx, 90*time.Second, "nodes registered", func() (bool, error) {
		l, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		return err == nil && len(l.Items) == len(nodes), err
	}); err != nil {
		return err
	}
	printNodes(ctx, c, "nodes before overlaynet")
	if err := c.Install(installYAML); err != nil {
		return err
	}
	step(start, "applied dist/install.yaml (server-side) and the OverlayCluster")
	if err := realnodes.WaitFor(ctx, 3*time.Minute, "nodes Ready", func() (bool, error) {
		l, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for i := range l.Items {
			if ok, _ := realnodes.NodeReady(&l.Items[i]); !ok {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return err
	}
	step(start, "every node Ready")
	printNodes(ctx, c, "nodes")
	nncs, err := realnodes.NNCs(ctx, cl)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', 0)
	fmt.Println("\nallocation table (NodeNetworkConfigs)")
	fmt.Fprintln(tw, "NODE\tBLOCK\tMAX PODS\tPROGRAMMED")
	var names []string
	for n := range nncs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := meta.FindStatusCondition(nncs[n].Status.Conditions, v1.NodeProgrammed)
		st := "-"
		if p != nil {
			st = string(p.Status) + " (" + p.Reason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", n, strings.Join(nncs[n].Spec.PodCIDRs, ","), nncs[n].Spec.MaxPods, st)
	}
	_ = tw.Flush()

	if err := c.Apply("echo", realnodes.EchoDeployment(6)); err != nil {
		return err
	}
	var pods []corev1.Pod
	if err := realnodes.WaitFor(ctx, 2*time.Minute, "6 running pods", func() (bool, error) {
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
	}); err != nil {
		return err
	}
	step(start, "Deployment echo: 6 pods running")
	sort.Slice(pods, func(i, j int) bool { return pods[i].Spec.NodeName+pods[i].Name < pods[j].Spec.NodeName+pods[j].Name })
	fmt.Println("\npods")
	fmt.Fprintln(tw, "POD\tNODE\tIP")
	for _, p := range pods {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", p.Name, p.Spec.NodeName, p.Status.PodIP)
	}
	_ = tw.Flush()

	svc, err := cs.CoreV1().Services("default").Get(ctx, "echo", metav1.GetOptions{})
	if err != nil {
		return err
	}
	ext, err := topology.Serve(c.Topo.External.NS)
	if err != nil {
		return err
	}
	defer ext.Close()
	fmt.Println("\nreachability (TCP :7777; the server reports the source address it sees)")
	fmt.Fprintln(tw, "FROM\tTO\tSEEN AS")
	seenFrom := map[string]bool{}
	for _, p := range pods {
		if seenFrom[p.Spec.NodeName] {
			continue
		}
		seenFrom[p.Spec.NodeName] = true
		src := netip.MustParseAddr(p.Status.PodIP)
		ns, err := realnodes.PodNetNS(src)
		if err != nil {
			return err
		}
		targets := []struct{ name, addr string }{}
		for _, q := range pods {
			if q.Spec.NodeName != p.Spec.NodeName {
				targets = append(targets, struct{ name, addr string }{"pod " + q.Status.PodIP + " (" + q.Spec.NodeName + ")", q.Status.PodIP})
				break
			}
		}
		targets = append(targets,
			struct{ name, addr string }{"Service echo " + svc.Spec.ClusterIP, svc.Spec.ClusterIP},
			struct{ name, addr string }{"outside host " + c.Topo.External.Addrs[0].String(), c.Topo.External.Addrs[0].String()})
		for _, tgt := range targets {
			seen, err := topology.Probe(ctx, ns, netip.MustParseAddr(tgt.addr), 5*time.Second)
			res := seen.String()
			if err != nil {
				res = "FAILED: " + err.Error()
			}
			fmt.Fprintf(tw, "pod %s (%s)\t%s\t%s\n", src, p.Spec.NodeName, tgt.name, res)
		}
		_ = ns.Close()
	}
	_ = tw.Flush()
	fmt.Println()
	return nil
}

func printNodes(ctx context.Context, c *realnodes.Cluster, title string) {
	out, err := c.Kubectl("get", "nodes", "-o", "custom-columns=NODE:.metadata.name,READY:.status.conditions[?(@.type=='Ready')].status,REASON:.status.conditions[?(@.type=='Ready')].message,POD CIDRS:.spec.podCIDRs,INTERNAL IP:.status.addresses[0].address")
	if err != nil {
		out = err.Error()
	}
	fmt.Printf("\n%s\n%s\n", title, out)
	_ = ctx
}
