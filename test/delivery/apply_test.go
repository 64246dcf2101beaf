package delivery

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent"
	"github.com/overlaynet/overlaynet/internal/agent/datapath"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
	"github.com/overlaynet/overlaynet/internal/controller"
	"github.com/overlaynet/overlaynet/internal/testenv"
)

// leaseName is the manager's LeaderElectionID (cmd/manager), which the leader-election
// Role names.
const leaseName = "overlaynet-manager.network.overlaynet.io"

var (
	envOnce sync.Once
	env     *testenv.Env
	envErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if env != nil {
		if err := env.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "stopping the local control plane: %v\n", err)
		}
	}
	os.Exit(code)
}

// startEnv starts the local control plane (with the CRDs of config/crd/bases) once for
// the package.
func startEnv(t *testing.T) *testenv.Env {
	t.Helper()
	envOnce.Do(func() { env, envErr = testenv.Start() })
	if envErr != nil {
		t.Fatalf("starting the local control plane: %v", envErr)
	}
	return env
}

// apply server-side-applies u as fieldManager, as `kubectl apply --server-side
// --force-conflicts` and GitOps tools do, and returns the object the server answers with.
func apply(ctx context.Context, c client.Client, u *unstructured.Unstructured, fieldManager string, dryRun bool) (*unstructured.Unstructured, error) {
	obj := u.DeepCopy()
	opts := []client.ApplyOption{client.FieldOwner(fieldManager), client.ForceOwnership}
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), opts...); err != nil {
		return nil, fmt.Errorf("applying %s (dry run %v): %w", key(u), dryRun, err)
	}
	return obj, nil
}

// managedBy returns the managed-fields entry of manager for the main resource.
func managedBy(u *unstructured.Unstructured, manager string) *metav1.ManagedFieldsEntry {
	for _, mf := range u.GetManagedFields() {
		if mf.Manager == manager && mf.Subresource == "" && mf.Operation == metav1.ManagedFieldsOperationApply {
			return &mf
		}
	}
	return nil
}

// checkNoDrift applies u again and fails unless the server changed nothing: the same
// generation, the same fields owned by the applier with the same timestamp, and, for
// objects no controller writes, the same resourceVersion.
func checkNoDrift(ctx context.Context, t *testing.T, c client.Client, u *unstructured.Unstructured, fieldManager string, statusWriters bool) {
	t.Helper()
	before := &unstructured.Unstructured{}
	before.SetGroupVersionKind(u.GroupVersionKind())
	if err := c.Get(ctx, client.ObjectKeyFromObject(u), before); err != nil {
		t.Errorf("%s: %v", key(u), err)
		return
	}
	after, err := apply(ctx, c, u, fieldManager, false)
	if err != nil {
		t.Error(err)
		return
	}
	if before.GetGeneration() != after.GetGeneration() {
		t.Errorf("%s: re-applying the same manifest moved generation %d → %d", key(u), before.GetGeneration(), after.GetGeneration())
	}
	if diff := cmp.Diff(managedBy(before, fieldManager), managedBy(after, fieldManager)); diff != "" {
		t.Errorf("%s: re-applying the same manifest changed the applier's fields (-before +after):\n%s", key(u), diff)
	}
	if !statusWriters && before.GetResourceVersion() != after.GetResourceVersion() {
		t.Errorf("%s: re-applying the same manifest wrote the object (resourceVersion %s → %s)", key(u), before.GetResourceVersion(), after.GetResourceVersion())
	}
}

// foreignSpecOwners lists the field managers other than the applier that own any field of
// the object's spec: a GitOps tool would see them as drift, or fight them.
func foreignSpecOwners(u *unstructured.Unstructured, applier string) []string {
	var out []string
	for _, mf := range u.GetManagedFields() {
		if mf.Manager == applier || mf.Subresource == "status" || mf.FieldsV1 == nil {
			continue
		}
		if strings.Contains(string(mf.FieldsV1.Raw), `"f:spec"`) {
			out = append(out, fmt.Sprintf("%s (%s)", mf.Manager, mf.Operation))
		}
	}
	return out
}

// kstatusCurrent says whether u is "Current" as kstatus (Argo CD, Flux, cli-utils) reads a
// custom resource: its status has observed the latest generation and its Ready condition is
// True, with neither Reconciling nor Stalled True.
func kstatusCurrent(u *unstructured.Unstructured) (bool, string) {
	observed, _, _ := unstructured.NestedInt64(u.Object, "status", "observedGeneration")
	if observed != u.GetGeneration() {
		return false, fmt.Sprintf("status.observedGeneration %d, generation %d", observed, u.GetGeneration())
	}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	ready := false
	for _, c := range conds {
		m, _ := c.(map[string]any)
		switch {
		case m["type"] == "Ready" && m["status"] == "True":
			ready = true
		case (m["type"] == "Reconciling" || m["type"] == "Stalled") && m["status"] == "True":
			return false, fmt.Sprintf("%s is True: %v", m["type"], m["message"])
		}
	}
	if !ready {
		return false, fmt.Sprintf("Ready is not True: conditions %v", conds)
	}
	return true, ""
}

// impersonating returns a config that acts as the ServiceAccount user, with its groups, so
// that a component runs with exactly the RBAC the install granted it. node, when set, is
// the authentication.kubernetes.io/node-name claim of a token bound to a pod on that node,
// without which the admission policy lets an agent write nothing (B7; test/security mints
// real tokens).
func impersonating(cfg *rest.Config, user, node string) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Impersonate = rest.ImpersonationConfig{
		UserName: user,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + Namespace, "system:authenticated"},
	}
	if node != "" {
		c.Impersonate.Extra = map[string][]string{"authentication.kubernetes.io/node-name": {node}}
	}
	return c
}

// noopDatapath stands in for the Linux backend: the agent's API traffic is what is tested.
type noopDatapath struct{}

func (noopDatapath) Apply(context.Context, *desired.Datapath, bool) (datapath.Stats, error) {
	return datapath.Stats{}, nil
}

func poll(ctx context.Context, t *testing.T, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		ok, why := cond(ctx)
		last = why
		return ok, nil
	})
	if err != nil {
		t.Fatalf("waiting for %s: %v; last: %s", what, err, last)
	}
}

func readSamples(t *testing.T) map[string]*unstructured.Unstructured {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples in config/samples (%v)", err)
	}
	out := map[string]*unstructured.Unstructured{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := decodeYAML(b)
		if err != nil || len(objs) != 1 {
			t.Fatalf("%s: want one object, got %d (%v)", f, len(objs), err)
		}
		out[filepath.Base(f)] = objs[0]
	}
	return out
}

// TestInstallOnLocalAPIServer installs overlaynet the way users do, on the local API
// server, in order: every rendered object of config/default and of the chart passes a
// server-side dry run; config/default is applied for real, then again without any change;
// the chart's OverlayCluster is applied, takes its defaults from the CRD schema, and the
// manager and the node agent, running as their ServiceAccounts with exactly the installed
// RBAC, allocate a Node and report Ready without ever writing the spec, so that re-applying
// it (what a GitOps tool does every few minutes) changes nothing.
func TestInstallOnLocalAPIServer(t *testing.T) {
	e := startEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := e.Client

	kust, err := renderKustomize("config/default")
	if err != nil {
		t.Fatal(err)
	}
	chart, err := renderHelm(nil)
	if err != nil {
		t.Fatal(err)
	}
	samples := readSamples(t)

	// The namespace must exist before a namespaced object can be dry-run.
	for _, o := range kust {
		if o.GetKind() == "Namespace" {
			if _, err := apply(ctx, c, o, "overlaynet-installer", false); err != nil {
				t.Fatal(err)
			}
		}
	}

	t.Run("every object of config/default passes a server-side dry run", func(t *testing.T) {
		for _, o := range kust {
			if _, err := apply(ctx, c, o, "overlaynet-installer", true); err != nil {
				t.Error(err)
			}
		}
	})
	t.Run("every object of the chart passes a server-side dry run", func(t *testing.T) {
		for _, o := range chart.All() {
			if _, err := apply(ctx, c, o, "helm", true); err != nil {
				t.Error(err)
			}
		}
	})
	t.Run("every sample OverlayCluster passes a server-side dry run", func(t *testing.T) {
		for name, o := range samples {
			if _, err := apply(ctx, c, o, "kubectl", true); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	})

	t.Run("config/default applies, and applies again without a change", func(t *testing.T) {
		for _, o := range kust {
			if _, err := apply(ctx, c, o, "overlaynet-installer", false); err != nil {
				t.Fatal(err)
			}
		}
		for _, o := range kust {
			// The API server's own controllers write CRDs' status.
			checkNoDrift(ctx, t, c, o, "overlaynet-installer", o.GetKind() == "CustomResourceDefinition")
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	var ovc *unstructured.Unstructured
	for _, o := range chart.Objects {
		if o.GetKind() == "OverlayCluster" {
			ovc = o
		}
	}
	if ovc == nil {
		t.Fatal("the chart renders no OverlayCluster with its default values")
	}
	t.Run("the chart's OverlayCluster takes its defaults from the CRD schema", func(t *testing.T) {
		got, err := apply(ctx, c, ovc, "helm", false)
		if err != nil {
			t.Fatal(err)
		}
		spec, _, _ := unstructured.NestedMap(got.Object, "spec")
		for field, want := range map[string]any{
			"mode": "Overlay", "ipFamilies": []any{"IPv4"}, "podCIDRs": []any{"10.244.0.0/16"},
			"serviceCIDRs": []any{"10.0.0.0/16"}, "dnsServiceIP": "10.0.0.10", "networkPolicy": "None",
		} {
			if diff := cmp.Diff(want, spec[field]); diff != "" {
				t.Errorf("spec.%s after apply (-want +got):\n%s", field, diff)
			}
		}
		mf := managedBy(got, "helm")
		if mf == nil || strings.Contains(string(mf.FieldsV1.Raw), `"f:mode"`) {
			t.Errorf("the applier owns defaulted fields, which a later values change could not drop: %v", mf)
		}
	})

	// The manager and one node's agent, as their ServiceAccounts.
	mgr, err := ctrl.NewManager(impersonating(e.Config, managerSA, ""), ctrl.Options{
		Scheme:                        e.Scheme,
		Metrics:                       metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress:        "0",
		LeaderElection:                true,
		LeaderElectionID:              leaseName,
		LeaderElectionNamespace:       Namespace,
		LeaderElectionReleaseOnCancel: true,
		Controller:                    config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := controller.SetupWithManager(mgr, controller.Options{}); err != nil {
		t.Fatal(err)
	}
	const nodeName = "node-a"
	agentMgr, err := ctrl.NewManager(impersonating(e.Config, agentSA, nodeName), agent.ManagerOptions(nodeName, e.Scheme, "0", "0"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agent.SetupWithManager(agentMgr, agent.Options{NodeName: nodeName, Datapath: noopDatapath{}, CNIConfDir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for name, m := range map[string]ctrl.Manager{"manager": mgr, "agent": agentMgr} {
		wg.Go(func() {
			if err := m.Start(ctx); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	defer wg.Wait()
	defer cancel()

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName, Labels: map[string]string{"kubernetes.io/hostname": nodeName}}}
	if err := c.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.224.0.4"}}
	if err := c.Status().Update(ctx, node); err != nil {
		t.Fatal(err)
	}

	t.Run("the manager allocates and the agent reports Programmed, each with only its own RBAC", func(t *testing.T) {
		poll(ctx, t, "the node's allocation and Programmed condition", func(ctx context.Context) (bool, string) {
			nnc := &v1.NodeNetworkConfig{}
			if err := c.Get(ctx, client.ObjectKey{Name: nodeName}, nnc); err != nil {
				return false, err.Error()
			}
			if len(nnc.Spec.PodCIDRs) == 0 {
				return false, fmt.Sprintf("no pod CIDRs yet: %+v", nnc.Status)
			}
			return meta.IsStatusConditionTrue(nnc.Status.Conditions, v1.NodeProgrammed), fmt.Sprintf("conditions %+v", nnc.Status.Conditions)
		})
		lease := &unstructured.Unstructured{}
		lease.SetAPIVersion("coordination.k8s.io/v1")
		lease.SetKind("Lease")
		if err := c.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: leaseName}, lease); err != nil {
			t.Errorf("the manager holds no Lease %s/%s: %v", Namespace, leaseName, err)
		}
		// The lock records its transitions as core/v1 Events in the namespace.
		poll(ctx, t, "the leader-election event", func(ctx context.Context) (bool, string) {
			var events corev1.EventList
			if err := c.List(ctx, &events, client.InNamespace(Namespace)); err != nil {
				return false, err.Error()
			}
			for _, ev := range events.Items {
				if ev.Reason == "LeaderElection" && ev.InvolvedObject.Name == leaseName {
					return true, ""
				}
			}
			return false, fmt.Sprintf("%d events, none about the lease", len(events.Items))
		})
	})

	t.Run("the installed RBAC refuses what the components must not do", func(t *testing.T) {
		asAgent, err := client.New(impersonating(e.Config, agentSA, nodeName), client.Options{Scheme: e.Scheme})
		if err != nil {
			t.Fatal(err)
		}
		asManager, err := client.New(impersonating(e.Config, managerSA, ""), client.Options{Scheme: e.Scheme})
		if err != nil {
			t.Fatal(err)
		}
		nnc := &v1.NodeNetworkConfig{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}
		ovc := &v1.OverlayCluster{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
		for what, err := range map[string]error{
			"the agent deletes a NodeNetworkConfig": asAgent.Delete(ctx, nnc, client.DryRunAll),
			"the agent reads a Node":                asAgent.Get(ctx, client.ObjectKey{Name: nodeName}, &corev1.Node{}),
			"the agent lists Secrets":               asAgent.List(ctx, &corev1.SecretList{}),
			"the manager writes an OverlayCluster's spec": asManager.Patch(ctx, ovc,
				client.RawPatch(types.MergePatchType, []byte(`{"spec":{"maxPodsPerNode":30}}`)), client.DryRunAll),
			"the manager deletes a Node": asManager.Delete(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}, client.DryRunAll),
			"the manager reads Secrets":  asManager.List(ctx, &corev1.SecretList{}),
		} {
			if !apierrors.IsForbidden(err) {
				t.Errorf("%s: got %v, want Forbidden", what, err)
			}
		}
	})

	current := func(name string) func(ctx context.Context) (bool, string) {
		return func(ctx context.Context) (bool, string) {
			u := &unstructured.Unstructured{}
			u.SetGroupVersionKind(testenv.GVK("OverlayCluster"))
			if err := c.Get(ctx, client.ObjectKey{Name: name}, u); err != nil {
				return false, err.Error()
			}
			return kstatusCurrent(u)
		}
	}
	t.Run("the OverlayCluster becomes Current as kstatus reads it, and re-applying it changes nothing", func(t *testing.T) {
		poll(ctx, t, "OverlayCluster default to be Ready at its generation", current("default"))
		checkNoDrift(ctx, t, c, ovc, "helm", true)
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(testenv.GVK("OverlayCluster"))
		if err := c.Get(ctx, client.ObjectKey{Name: "default"}, got); err != nil {
			t.Fatal(err)
		}
		if owners := foreignSpecOwners(got, "helm"); len(owners) > 0 {
			t.Errorf("managers other than the applier own spec fields of the OverlayCluster: %v", owners)
		}
	})

	t.Run("a kubectl apply of the sample takes over and converges the same way", func(t *testing.T) {
		sample := samples["network_v1alpha1_overlaycluster.yaml"]
		if sample == nil {
			t.Skip("config/samples/network_v1alpha1_overlaycluster.yaml is gone")
		}
		if _, err := apply(ctx, c, sample, "kubectl", false); err != nil {
			t.Fatal(err)
		}
		poll(ctx, t, "the sample to be Ready at its generation", current(sample.GetName()))
		checkNoDrift(ctx, t, c, sample, "kubectl", true)
	})
}

// The leader-election Role names the manager's Lease: it must be the ID cmd/manager uses.
func TestLeaderElectionRoleNamesTheManagersLease(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "cmd", "manager", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), `"`+leaseName+`"`) {
		t.Errorf("cmd/manager/main.go no longer uses the lease %q that config/rbac/leader_election_role.yaml grants", leaseName)
	}
}
