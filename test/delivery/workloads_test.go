package delivery

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
)

// busyHostPorts are ports that other node components commonly hold on the host network,
// where both of overlaynet's workloads listen.
var busyHostPorts = map[int32]string{
	2379: "etcd", 2380: "etcd", 2381: "etcd metrics", 6443: "kube-apiserver", 8080: "controller-runtime metrics",
	8081: "controller-runtime probes", 8443: "controller-runtime metrics", 9090: "Prometheus", 9091: "Calico felix",
	9099: "Calico health", 9100: "node-exporter", 9234: "Cilium operator", 9443: "webhooks", 9879: "Cilium health",
	9890: "Cilium", 9962: "Cilium", 9963: "Cilium operator", 9964: "Cilium envoy", 9965: "Hubble",
	10248: "kubelet", 10249: "kube-proxy", 10250: "kubelet", 10255: "kubelet", 10256: "kube-proxy",
	10257: "kube-controller-manager", 10259: "kube-scheduler",
}

type workloads struct {
	manager *appsv1.Deployment
	pdb     *policyv1.PodDisruptionBudget
	agent   *appsv1.DaemonSet
}

func findWorkloads(t *testing.T, objs []*unstructured.Unstructured) workloads {
	t.Helper()
	var w workloads
	for _, o := range objs {
		switch {
		case o.GetKind() == "Deployment" && o.GetName() == "overlaynet-manager":
			w.manager = &appsv1.Deployment{}
			fromUnstructured(t, o, w.manager)
		case o.GetKind() == "PodDisruptionBudget" && o.GetName() == "overlaynet-manager":
			w.pdb = &policyv1.PodDisruptionBudget{}
			fromUnstructured(t, o, w.pdb)
		case o.GetKind() == "DaemonSet" && o.GetName() == "overlaynet-agent":
			w.agent = &appsv1.DaemonSet{}
			fromUnstructured(t, o, w.agent)
		}
	}
	if w.manager == nil || w.agent == nil || w.pdb == nil {
		t.Fatalf("want the manager Deployment, its PodDisruptionBudget and the agent DaemonSet, got %+v", w)
	}
	return w
}

func container(t *testing.T, spec *corev1.PodSpec, name string) *corev1.Container {
	t.Helper()
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i]
		}
	}
	t.Fatalf("no container %q", name)
	return nil
}

// flagValue returns the value of --name=value in args.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// checkHostPorts checks that every address flag listens on a declared container port, that
// probes use the health port, and that no port is one other node components hold. It
// returns the ports.
func checkHostPorts(t *testing.T, what string, c *corev1.Container) []int32 {
	t.Helper()
	declared := map[string]int32{}
	var ports []int32
	for _, p := range c.Ports {
		declared[p.Name] = p.ContainerPort
		ports = append(ports, p.ContainerPort)
		if owner, busy := busyHostPorts[p.ContainerPort]; busy {
			t.Errorf("%s listens on host port %d, which %s commonly holds", what, p.ContainerPort, owner)
		}
	}
	for flag, portName := range map[string]string{"health-probe-bind-address": "health", "metrics-bind-address": "metrics"} {
		v, ok := flagValue(c.Args, flag)
		if !ok {
			t.Errorf("%s does not set --%s: its default is not a port chosen for the host network", what, flag)
			continue
		}
		if v == "0" {
			continue
		}
		port, err := strconv.Atoi(strings.TrimPrefix(v, ":"))
		if err != nil {
			t.Errorf("%s --%s=%s is not :<port>", what, flag, v)
			continue
		}
		if declared[portName] != int32(port) {
			t.Errorf("%s listens on %d (--%s) but declares port %q as %d", what, port, flag, portName, declared[portName])
		}
	}
	for probe, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Port.String() != "health" {
			t.Errorf("%s has no %s probe on its health port", what, probe)
		}
	}
	return ports
}

func checkResources(t *testing.T, what string, c *corev1.Container) {
	t.Helper()
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := c.Resources.Requests[r], c.Resources.Limits[r]
		if req.IsZero() || lim.IsZero() {
			t.Errorf("%s has no %s request and limit", what, r)
		} else if req.Cmp(lim) > 0 {
			t.Errorf("%s requests more %s (%s) than its limit (%s)", what, r, req.String(), lim.String())
		}
	}
}

// tolerates says whether a toleration of tols matches taint, by the scheduler's rules: an
// empty effect matches every effect, an empty key with Exists matches every taint.
func tolerates(tols []corev1.Toleration, taint corev1.Taint) bool {
	return slices.ContainsFunc(tols, func(tol corev1.Toleration) bool {
		if tol.Effect != "" && tol.Effect != taint.Effect {
			return false
		}
		if tol.Key == "" {
			return tol.Operator == corev1.TolerationOpExists
		}
		if tol.Key != taint.Key {
			return false
		}
		return tol.Operator == corev1.TolerationOpExists || tol.Value == taint.Value
	})
}

func TestManagerDeployment(t *testing.T) {
	for name, objs := range renders(t) {
		t.Run(name, func(t *testing.T) {
			w := findWorkloads(t, objs)
			d, pod := w.manager, &w.manager.Spec.Template.Spec
			c := container(t, pod, "manager")

			if got := ptr.Deref(d.Spec.Replicas, 1); got != 2 {
				t.Errorf("replicas = %d, want 2", got)
			}
			if !slices.Contains(c.Args, "--leader-elect") && !slices.Contains(c.Args, "--leader-elect=true") {
				t.Errorf("two replicas without --leader-elect: args %v", c.Args)
			}
			if !pod.HostNetwork || pod.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
				t.Errorf("hostNetwork %v, dnsPolicy %q: want host networking with ClusterFirstWithHostNet", pod.HostNetwork, pod.DNSPolicy)
			}
			for _, taint := range []corev1.Taint{
				{Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoSchedule},
				{Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoExecute},
				{Key: "node.kubernetes.io/network-unavailable", Effect: corev1.TaintEffectNoSchedule},
				{Key: "node.cloudprovider.kubernetes.io/uninitialized", Value: "true", Effect: corev1.TaintEffectNoSchedule},
				{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule},
			} {
				if !tolerates(pod.Tolerations, taint) {
					t.Errorf("the manager does not tolerate %s:%s", taint.Key, taint.Effect)
				}
			}
			if tolerates(pod.Tolerations, corev1.Taint{Key: "node.kubernetes.io/unreachable", Effect: corev1.TaintEffectNoExecute}) {
				t.Error("the manager tolerates unreachable nodes forever: a replica on a dead node would never be replaced")
			}
			if pod.PriorityClassName != "system-cluster-critical" {
				t.Errorf("priorityClassName %q, want system-cluster-critical", pod.PriorityClassName)
			}
			if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
				t.Error("the manager pod is not runAsNonRoot")
			}
			if pod.SecurityContext == nil || pod.SecurityContext.SeccompProfile == nil ||
				pod.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Error("the manager pod has no RuntimeDefault seccomp profile")
			}
			sc := c.SecurityContext
			if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
				sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
				sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0 ||
				(sc.Privileged != nil && *sc.Privileged) {
				t.Errorf("manager securityContext %+v: want a read-only root, no escalation, every capability dropped", sc)
			}
			checkResources(t, "the manager", c)
			checkHostPorts(t, "the manager", c)
			if pod.ServiceAccountName != "overlaynet-manager" {
				t.Errorf("serviceAccountName %q", pod.ServiceAccountName)
			}

			sel, err := metav1.LabelSelectorAsSelector(w.pdb.Spec.Selector)
			if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("the PodDisruptionBudget's selector %v does not select the manager's pods", w.pdb.Spec.Selector)
			}
			if mu := w.pdb.Spec.MaxUnavailable; mu == nil || mu.IntValue() != 1 {
				t.Errorf("PodDisruptionBudget maxUnavailable %v, want 1 (of 2)", mu)
			}
		})
	}
}

func TestAgentDaemonSet(t *testing.T) {
	for name, objs := range renders(t) {
		t.Run(name, func(t *testing.T) {
			w := findWorkloads(t, objs)
			ds, pod := w.agent, &w.agent.Spec.Template.Spec
			c := container(t, pod, "agent")

			for _, taint := range []corev1.Taint{
				{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule},
				{Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoExecute},
				{Key: "node.kubernetes.io/unreachable", Effect: corev1.TaintEffectNoExecute},
				{Key: "example.com/anything", Value: "x", Effect: corev1.TaintEffectNoSchedule},
			} {
				if !tolerates(pod.Tolerations, taint) {
					t.Errorf("the agent does not tolerate %s:%s: it must run on every node", taint.Key, taint.Effect)
				}
			}
			if !pod.HostNetwork || pod.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
				t.Errorf("hostNetwork %v, dnsPolicy %q", pod.HostNetwork, pod.DNSPolicy)
			}
			if pod.PriorityClassName != "system-node-critical" {
				t.Errorf("priorityClassName %q, want system-node-critical", pod.PriorityClassName)
			}
			if ds.Spec.UpdateStrategy.Type != appsv1.RollingUpdateDaemonSetStrategyType ||
				ds.Spec.UpdateStrategy.RollingUpdate == nil || ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable == nil {
				t.Errorf("updateStrategy %+v: want RollingUpdate with maxUnavailable", ds.Spec.UpdateStrategy)
			}
			if pod.ServiceAccountName != "overlaynet-agent" {
				t.Errorf("serviceAccountName %q", pod.ServiceAccountName)
			}
			if pod.HostPID || pod.HostIPC {
				t.Error("the agent shares the host's PID or IPC namespace")
			}
			for _, ctr := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
				sc := ctr.SecurityContext
				what := "container " + ctr.Name
				if sc == nil || (sc.Privileged != nil && *sc.Privileged) {
					t.Errorf("%s is privileged or has no securityContext", what)
					continue
				}
				if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
					t.Errorf("%s allows privilege escalation", what)
				}
				if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
					t.Errorf("%s has a writable root filesystem", what)
				}
				if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
					t.Errorf("%s does not drop every capability", what)
				}
				for _, add := range sc.Capabilities.Add {
					if add != "NET_ADMIN" && add != "NET_RAW" {
						t.Errorf("%s adds capability %s; only NET_ADMIN (and NET_RAW if needed) are allowed", what, add)
					}
				}
				checkResources(t, what, &ctr)
			}
			if sc := c.SecurityContext; sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Add, "NET_ADMIN") {
				t.Error("the agent lacks NET_ADMIN")
			}
			if pod.SecurityContext == nil || pod.SecurityContext.SeccompProfile == nil ||
				pod.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Error("the agent pod has no RuntimeDefault seccomp profile")
			}
			if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
				return e.Name == "NODE_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName"
			}) {
				t.Error("the agent does not get NODE_NAME from spec.nodeName")
			}

			// The CNI directories are the host's, mounted where the agent's flags say.
			hostPaths := map[string]string{}
			for _, v := range pod.Volumes {
				if v.HostPath != nil {
					hostPaths[v.Name] = v.HostPath.Path
				}
			}
			mounts := map[string]corev1.VolumeMount{}
			for _, m := range c.VolumeMounts {
				mounts[m.MountPath] = m
			}
			for flag, host := range map[string]string{"cni-conf-dir": "/etc/cni/net.d", "cni-bin-dir": "/opt/cni/bin"} {
				dir, ok := flagValue(c.Args, flag)
				if !ok {
					t.Errorf("the agent does not set --%s", flag)
					continue
				}
				m, ok := mounts[dir]
				if !ok || hostPaths[m.Name] != host {
					t.Errorf("--%s=%s is not the host's %s (mounts %v, host paths %v)", flag, dir, host, mounts, hostPaths)
				}
			}
			if m := mounts["/opt/cni/bin"]; !m.ReadOnly {
				t.Error("the agent mounts the host's CNI bin dir writable; only the init container installs plugins")
			}
			// host-local's leases, writable: pods that kept a node-subnet address across a
			// migration stay reachable (R50), and the agent releases the reservations of
			// sandboxes that failed half-way (internal/agent/leasegc).
			if m, ok := mounts["/var/lib/cni/networks"]; !ok || m.ReadOnly || hostPaths[m.Name] != "/var/lib/cni/networks" {
				t.Errorf("the agent does not mount the host's /var/lib/cni/networks writable (mounts %v, host paths %v)", mounts, hostPaths)
			}
			if len(hostPaths) != 3 {
				t.Errorf("the agent mounts host paths %v; want only the CNI conf and bin dirs and host-local's leases", hostPaths)
			}
			if !slices.ContainsFunc(pod.InitContainers, func(ic corev1.Container) bool {
				return ic.Name == "install-cni-plugins" && slices.ContainsFunc(ic.VolumeMounts, func(m corev1.VolumeMount) bool {
					return hostPaths[m.Name] == "/opt/cni/bin" && !m.ReadOnly
				})
			}) {
				t.Error("no init container installs the CNI plugins into the host's /opt/cni/bin")
			}
			checkResources(t, "the agent", c)

			// Both workloads listen on the host network of the same nodes.
			mports := checkHostPorts(t, "the manager", container(t, &w.manager.Spec.Template.Spec, "manager"))
			for _, p := range checkHostPorts(t, "the agent", c) {
				if slices.Contains(mports, p) {
					t.Errorf("the agent and the manager both listen on host port %d", p)
				}
			}
			img := container(t, &w.manager.Spec.Template.Spec, "manager").Image
			for _, ctr := range append(slices.Clone(pod.InitContainers), pod.Containers...) {
				if ctr.Image != img {
					t.Errorf("container %s runs %s, the manager %s: one image holds every binary", ctr.Name, ctr.Image, img)
				}
			}
		})
	}
}

// The chart's knobs reach the workloads.
func TestHelmValuesReachTheWorkloads(t *testing.T) {
	r, err := renderHelm(map[string]any{
		"image":   map[string]any{"repository": "registry.example/overlaynet", "digest": "sha256:" + strings.Repeat("a", 64)},
		"manager": map[string]any{"replicas": 3, "healthPort": 19720, "metricsPort": 0, "nodeSelector": map[string]any{"role": "infra"}},
		"agent": map[string]any{"healthPort": 19722, "capabilities": []any{"NET_ADMIN", "NET_RAW"},
			"resources": map[string]any{"requests": map[string]any{"cpu": "10m", "memory": "32Mi"}, "limits": map[string]any{"cpu": "1", "memory": "1Gi"}}},
		"cni": map[string]any{"confDir": "/var/lib/rancher/k3s/agent/etc/cni/net.d", "binDir": "/var/lib/rancher/k3s/data/cni", "installPlugins": false},
	})
	if err != nil {
		t.Fatal(err)
	}
	w := findWorkloads(t, r.Objects)
	m := container(t, &w.manager.Spec.Template.Spec, "manager")
	a := container(t, &w.agent.Spec.Template.Spec, "agent")
	checks := []struct {
		what      string
		got, want any
	}{
		{"manager image", m.Image, "registry.example/overlaynet@sha256:" + strings.Repeat("a", 64)},
		{"replicas", *w.manager.Spec.Replicas, int32(3)},
		{"manager health flag", fmt.Sprint(flagValueOr(m.Args, "health-probe-bind-address")), ":19720"},
		{"metrics off", fmt.Sprint(flagValueOr(m.Args, "metrics-bind-address")), "0"},
		{"manager nodeSelector", w.manager.Spec.Template.Spec.NodeSelector["role"], "infra"},
		{"agent health flag", fmt.Sprint(flagValueOr(a.Args, "health-probe-bind-address")), ":19722"},
		{"agent capabilities", fmt.Sprint(a.SecurityContext.Capabilities.Add), "[NET_ADMIN NET_RAW]"},
		{"agent memory limit", a.Resources.Limits[corev1.ResourceMemory], resource.MustParse("1Gi")},
		{"init containers", len(w.agent.Spec.Template.Spec.InitContainers), 0},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
	for _, v := range w.agent.Spec.Template.Spec.Volumes {
		if v.Name == "cni-bin" && v.HostPath.Path != "/var/lib/rancher/k3s/data/cni" {
			t.Errorf("cni-bin host path %s", v.HostPath.Path)
		}
	}
	for _, o := range r.Objects {
		if o.GetKind() == "Service" || o.GetName() == "overlaynet-metrics-auth" {
			t.Errorf("%s is rendered although the metrics endpoint is off", key(o))
		}
	}
}

func flagValueOr(args []string, name string) string {
	v, _ := flagValue(args, name)
	return v
}
