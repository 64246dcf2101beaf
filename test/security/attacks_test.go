package security

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	jsonpatch "github.com/evanphx/json-patch/v5"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent"
	"github.com/overlaynet/overlaynet/internal/allocation"
)

// The policy's name, which the API server puts in every refusal it makes.
const policyName = "ValidatingAdmissionPolicy 'overlaynet-writers'"

func claim(name, block, family, node, uid string) *v1.BlockClaim {
	return &v1.BlockClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1.BlockClaimSpec{Block: block, Family: v1.IPFamily(family), NodeName: node, NodeUID: uid},
	}
}

// claimOf is the claim the manager writes for block: named by allocation.ClaimName.
func claimOf(block, node, uid string) *v1.BlockClaim {
	p := netip.MustParsePrefix(block)
	fam := "IPv4"
	if p.Addr().Is6() {
		fam = "IPv6"
	}
	return claim(allocation.ClaimName(p), block, fam, node, uid)
}

func statusPatch(status string) client.Patch {
	return client.RawPatch(types.MergePatchType, []byte(`{"status":`+status+`}`))
}

func specPatch(spec string) client.Patch {
	return client.RawPatch(types.MergePatchType, []byte(`{"spec":`+spec+`}`))
}

// specUpdate merges spec into the spec of nnc as it is now and writes the result with an
// update carrying its resourceVersion, as the manager writes (it holds update, not patch).
func specUpdate(ctx context.Context, c client.Client, nnc *v1.NodeNetworkConfig, spec string) error {
	if err := c.Get(ctx, client.ObjectKeyFromObject(nnc), nnc); err != nil {
		return err
	}
	raw, err := json.Marshal(nnc)
	if err != nil {
		return err
	}
	merged, err := jsonpatch.MergePatch(raw, []byte(`{"spec":`+spec+`}`))
	if err != nil {
		return err
	}
	next := &v1.NodeNetworkConfig{}
	if err := json.Unmarshal(merged, next); err != nil {
		return err
	}
	return c.Update(ctx, next)
}

// applyCondition writes cond as NodeNetworkConfig name's one condition by server-side apply
// of the status subresource, field manager agent.FieldManager, UID as a precondition: the
// write internal/agent makes (status.go).
func applyCondition(ctx context.Context, c client.Client, name string, uid types.UID, cond metav1.Condition) error {
	cond.LastTransitionTime = metav1.Now()
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&cond)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1.GroupVersion.String(),
		"kind":       "NodeNetworkConfig",
		"metadata":   map[string]any{"name": name, "uid": string(uid)},
		"status":     map[string]any{"conditions": []any{m}},
	}}
	return c.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(agent.FieldManager), client.ForceOwnership)
}

func programmed(status metav1.ConditionStatus, msg string) metav1.Condition {
	return metav1.Condition{Type: v1.NodeProgrammed, Status: status, Reason: "Programmed", Message: msg, ObservedGeneration: 1}
}

// refusal says whether err is the refusal want describes: by the admission policy (403,
// naming the policy) or by the schema (422), with rule in the message.
func refusal(err error, by, rule string) string {
	switch {
	case err == nil:
		return "accepted"
	case !strings.Contains(err.Error(), rule):
		return fmt.Sprintf("refused without naming %s: %v", rule, err)
	case by == "policy" && !(apierrors.IsForbidden(err) && strings.Contains(err.Error(), policyName)):
		return fmt.Sprintf("refused, but not by the admission policy: %v", err)
	case by == "schema" && !apierrors.IsInvalid(err):
		return fmt.Sprintf("refused, but not by the schema: %v", err)
	}
	return ""
}

// world is the cluster the attacks run against: two nodes allocated by the manager, and
// clients holding real tokens.
type world struct {
	manager, agentA, agentNoClaim, intruder client.Client
	gc, admin                               client.Client
	nodeA, nodeB                            *corev1.Node
	nncA, nncB                              *v1.NodeNetworkConfig
}

var theWorld *world

// setup builds the world once for the package; a test that changes it puts it back.
func setup(ctx context.Context, t testing.TB) *world {
	t.Helper()
	if theWorld != nil {
		return theWorld
	}
	w := &world{admin: env.Client}
	var err error
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// The agent's token, bound to its pod on node-a, carries the node claim; a plain token
	// of the same ServiceAccount does not.
	tokA, err := podToken(ctx, Namespace, agentSA, "node-a")
	must(err)
	ui, err := whoAmI(ctx, tokA)
	must(err)
	if got := ui.Extra[nodeClaim]; !slices.Equal(got, []string{"node-a"}) {
		t.Fatalf("the agent's pod-bound token carries %s=%v, want [node-a] (userInfo %+v)", nodeClaim, got, ui)
	}
	tokPlain, err := plainToken(ctx, Namespace, agentSA)
	must(err)
	if ui, err := whoAmI(ctx, tokPlain); err != nil || len(ui.Extra[nodeClaim]) != 0 {
		t.Fatalf("a plain token carries a node claim: %+v, %v", ui, err)
	}
	tokMgr, err := plainToken(ctx, Namespace, managerSA)
	must(err)

	// A third party: some workload's ServiceAccount in another namespace.
	must(client.IgnoreAlreadyExists(env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant"}})))
	must(client.IgnoreAlreadyExists(env.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "intruder", Namespace: "tenant"}})))
	tokIntruder, err := podToken(ctx, "tenant", "intruder", "node-a")
	must(err)

	for _, x := range []struct {
		c   *client.Client
		tok string
	}{{&w.agentA, tokA}, {&w.agentNoClaim, tokPlain}, {&w.manager, tokMgr}, {&w.intruder, tokIntruder}} {
		*x.c, err = asToken(x.tok)
		must(err)
	}
	// kube-controller-manager's garbage collector, as its ServiceAccount (it holds the
	// bootstrap role system:controller:generic-garbage-collector).
	gcCfg := rest.CopyConfig(env.Config)
	gcCfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:kube-system:generic-garbage-collector",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"}}
	w.gc, err = client.New(gcCfg, client.Options{Scheme: env.Scheme})
	must(err)

	w.nodeA, err = ensureNode(ctx, "node-a")
	must(err)
	w.nodeB, err = ensureNode(ctx, "node-b")
	must(err)
	// The manager's writes, with its real token and the installed RBAC: the NNCs, the
	// claims, the statuses.
	w.nncA = allocate(ctx, t, w.manager, w.nodeA, "10.244.1.0/24", "10.224.0.4")
	w.nncB = allocate(ctx, t, w.manager, w.nodeB, "10.244.2.0/24", "10.224.0.5")
	theWorld = w
	return w
}

// allocate writes, as c (the manager), what the manager writes for a node: the claim of its
// block, then its NodeNetworkConfig naming the block in spec; and, as after a wait, an
// Allocated condition (the attacks on conditions need one).
func allocate(ctx context.Context, t testing.TB, c client.Client, node *corev1.Node, block, nodeIP string) *v1.NodeNetworkConfig {
	t.Helper()
	if err := c.Create(ctx, claimOf(block, node.Name, string(node.UID))); err != nil {
		t.Fatalf("the manager claims %s: %v", block, err)
	}
	nnc := &v1.NodeNetworkConfig{
		ObjectMeta: metav1.ObjectMeta{Name: node.Name, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}},
		Spec: v1.NodeNetworkConfigSpec{NodeUID: string(node.UID), Mode: v1.ModeOverlay,
			PodCIDRs: []string{block}, NodeIPs: []string{nodeIP}, MaxPods: 110},
	}
	if err := c.Create(ctx, nnc); err != nil {
		t.Fatalf("the manager creates NodeNetworkConfig %s: %v", node.Name, err)
	}
	nnc.Status = v1.NodeNetworkConfigStatus{
		Conditions: []metav1.Condition{{Type: v1.NodeAllocated, Status: metav1.ConditionTrue, Reason: v1.ReasonAllocated,
			Message: "holds " + block, LastTransitionTime: metav1.Now(), ObservedGeneration: 1}},
	}
	if err := c.Status().Update(ctx, nnc); err != nil {
		t.Fatalf("the manager writes the status of %s: %v", node.Name, err)
	}
	return nnc
}

// TestTokens proves the tokens are what the attacks need: minted by the TokenRequest API,
// the agent's bound to its pod on a node and carrying the node-name claim.
func TestTokens(t *testing.T) {
	ctx := context.Background()
	tok, err := podToken(ctx, Namespace, agentSA, "node-t")
	if err != nil {
		t.Fatal(err)
	}
	ui, err := whoAmI(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	if want := "system:serviceaccount:" + Namespace + ":" + agentSA; ui.Username != want {
		t.Errorf("username %q, want %q", ui.Username, want)
	}
	if got := ui.Extra[nodeClaim]; len(got) != 1 || got[0] != "node-t" {
		t.Errorf("%s = %v, want [node-t]", nodeClaim, got)
	}
	if len(ui.Extra["authentication.kubernetes.io/pod-name"]) != 1 {
		t.Errorf("the token is not bound to a pod: extra %v", ui.Extra)
	}
}

// TestB7AttacksAreRefused runs every attack against the install of config/default. First
// with the installed RBAC alone, then with RBAC widened by mistake (every verb on every
// overlaynet resource granted to the agent and to a third party): the admission policy and
// the schemas must refuse each attack on their own, naming the rule.
func TestB7AttacksAreRefused(t *testing.T) {
	ctx := context.Background()
	w := setup(ctx, t)
	a, b := w.nncA, w.nncB
	peerBlock := "10.244.2.0/24"

	t.Run("the installed RBAC already refuses the agent and third parties", func(t *testing.T) {
		for name, err := range map[string]error{
			"the agent creates a BlockClaim":                 w.agentA.Create(ctx, claimOf("10.244.9.0/24", "node-a", string(w.nodeA.UID))),
			"the agent deletes node-b's BlockClaim":          w.agentA.Delete(ctx, claimOf(peerBlock, "node-b", string(w.nodeB.UID))),
			"the agent creates a NodeNetworkConfig":          w.agentA.Create(ctx, &v1.NodeNetworkConfig{ObjectMeta: metav1.ObjectMeta{Name: "node-z"}, Spec: v1.NodeNetworkConfigSpec{NodeUID: "z"}}),
			"the agent deletes node-b's NodeNetworkConfig":   w.agentA.Delete(ctx, b.DeepCopy()),
			"the agent takes node-b's block in its own spec": w.agentA.Patch(ctx, a.DeepCopy(), specPatch(`{"podCIDRs":["`+peerBlock+`"]}`)),
			"a third party creates a BlockClaim":             w.intruder.Create(ctx, claimOf("10.244.9.0/24", "node-a", string(w.nodeA.UID))),
		} {
			if !apierrors.IsForbidden(err) || strings.Contains(fmt.Sprint(err), policyName) {
				t.Errorf("%s: got %v, want RBAC's Forbidden", name, err)
			}
		}
	})

	type attack struct {
		name string
		// by is "policy" (the admission policy, 403) or "schema" (the CRD, 422).
		by, rule string
		do       func() error
	}
	statusAttacks := []attack{
		{"the agent of node-a sets node-b's Programmed condition by server-side apply", "policy", "B7", func() error {
			return applyCondition(ctx, w.agentA, b.Name, b.UID, programmed(metav1.ConditionTrue, "forged"))
		}},
		{"the agent of node-a sets its own Allocated condition", "policy", "B7", func() error {
			c := a.Status.Conditions[0]
			c.Status, c.Reason, c.Message = metav1.ConditionFalse, "PodCIDRExhausted", "forged"
			return applyCondition(ctx, w.agentA, a.Name, a.UID, c)
		}},
		{"the agent of node-a removes its own Allocated condition", "policy", "B7", func() error {
			return w.agentA.Status().Patch(ctx, a.DeepCopy(), client.RawPatch(types.JSONPatchType, []byte(`[{"op":"remove","path":"/status/conditions/0"}]`)))
		}},
		{"the agent with a token without node claim sets Programmed on node-a", "policy", "B7", func() error {
			return applyCondition(ctx, w.agentNoClaim, a.Name, a.UID, programmed(metav1.ConditionTrue, "no claim"))
		}},
		{"the agent with a token without node claim sets node-b's Allocated condition", "policy", "B7", func() error {
			c := b.Status.Conditions[0]
			c.Message = "forged"
			return applyCondition(ctx, w.agentNoClaim, b.Name, b.UID, c)
		}},
	}
	t.Run("with the installed RBAC, the agent's status attacks", func(t *testing.T) {
		for _, at := range statusAttacks {
			t.Run(at.name, func(t *testing.T) {
				if why := refusal(at.do(), at.by, at.rule); why != "" {
					t.Error(why)
				}
			})
		}
	})

	widen(ctx, t)
	sampleOVC(ctx, t)
	attacks := append(statusAttacks,
		// The allocation is the spec: with RBAC widened, the agent could reach it.
		attack{"the agent of node-a patches node-b's nodeIPs", "policy", "B7", func() error {
			return w.agentA.Patch(ctx, b.DeepCopy(), specPatch(`{"nodeIPs":["10.224.0.4"]}`))
		}},
		attack{"the agent of node-a rewrites its own podCIDRs to 128.0.0.0/1", "schema", "B7", func() error {
			return w.agentA.Patch(ctx, a.DeepCopy(), specPatch(`{"podCIDRs":["128.0.0.0/1"]}`))
		}},
		attack{"the agent of node-a takes node-b's block as its own podCIDRs", "policy", "B7", func() error {
			return w.agentA.Patch(ctx, a.DeepCopy(), specPatch(`{"podCIDRs":["`+peerBlock+`"]}`))
		}},
		attack{"the agent of node-a raises its own maxPods", "policy", "B7", func() error {
			return w.agentA.Patch(ctx, a.DeepCopy(), specPatch(`{"maxPods":250}`))
		}},
		attack{"the agent of node-a adds reservedIPs to its own spec", "policy", "B7", func() error {
			return w.agentA.Patch(ctx, a.DeepCopy(), specPatch(`{"reservedIPs":["10.224.0.9"]}`))
		}},
		attack{"the agent with a token without node claim patches node-b's nodeIPs", "policy", "B7", func() error {
			return w.agentNoClaim.Patch(ctx, b.DeepCopy(), specPatch(`{"nodeIPs":["10.224.0.4"]}`))
		}},
		attack{"the agent creates a BlockClaim", "policy", "B7", func() error {
			return w.agentA.Create(ctx, claimOf("10.244.9.0/24", "node-a", string(w.nodeA.UID)))
		}},
		attack{"the agent deletes node-b's BlockClaim", "policy", "B7", func() error {
			return w.agentA.Delete(ctx, claimOf(peerBlock, "node-b", string(w.nodeB.UID)))
		}},
		attack{"the agent creates a NodeNetworkConfig", "policy", "B7", func() error {
			return w.agentA.Create(ctx, &v1.NodeNetworkConfig{ObjectMeta: metav1.ObjectMeta{Name: "node-z"}, Spec: v1.NodeNetworkConfigSpec{NodeUID: "z"}})
		}},
		attack{"the agent deletes node-b's NodeNetworkConfig", "policy", "B7", func() error { return w.agentA.Delete(ctx, b.DeepCopy()) }},
		attack{"the agent deletes its own NodeNetworkConfig", "policy", "B7", func() error { return w.agentA.Delete(ctx, a.DeepCopy()) }},
		attack{"the agent relabels its own NodeNetworkConfig", "policy", "B7", func() error {
			return w.agentA.Patch(ctx, a.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"labels":{"x":"y"}}}`)))
		}},
		attack{"the agent writes the OverlayCluster's status", "policy", "B7", func() error {
			ovc := &v1.OverlayCluster{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
			return w.agentA.Status().Patch(ctx, ovc, statusPatch(`{"nodeNetworkCIDRs":["0.0.0.0/0"]}`))
		}},
		attack{"a third party creates a BlockClaim", "policy", "B7", func() error {
			return w.intruder.Create(ctx, claimOf("10.244.9.0/24", "node-a", string(w.nodeA.UID)))
		}},
		attack{"a third party bound to node-a sets node-a's Programmed condition", "policy", "B7", func() error {
			return applyCondition(ctx, w.intruder, a.Name, a.UID, programmed(metav1.ConditionTrue, "forged"))
		}},
		attack{"a third party deletes a NodeNetworkConfig", "policy", "B7", func() error { return w.intruder.Delete(ctx, b.DeepCopy()) }},
		attack{"a cluster administrator hand-writes a BlockClaim", "policy", "B7", func() error {
			return w.admin.Create(ctx, claimOf("10.244.9.0/24", "node-a", string(w.nodeA.UID)))
		}},
		attack{"the garbage collector changes a NodeNetworkConfig's spec", "policy", "B7", func() error {
			return w.gc.Patch(ctx, a.DeepCopy(), client.RawPatch(types.MergePatchType, []byte(`{"spec":{"mode":"Kubenet"}}`)))
		}},
		attack{"the garbage collector creates a BlockClaim", "policy", "B7", func() error {
			return w.gc.Create(ctx, claimOf("10.244.9.0/24", "node-a", string(w.nodeA.UID)))
		}},
	)
	t.Run("with RBAC widened by mistake", func(t *testing.T) {
		for _, at := range attacks {
			t.Run(at.name, func(t *testing.T) {
				if why := refusal(at.do(), at.by, at.rule); why != "" {
					t.Error(why)
				}
			})
		}
	})

	// Nothing an attack tried is in the cluster.
	t.Run("the allocations are as the manager wrote them", func(t *testing.T) {
		for _, want := range []*v1.NodeNetworkConfig{a, b} {
			got := &v1.NodeNetworkConfig{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(want), got); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Spec.PodCIDRs, want.Spec.PodCIDRs) || !slices.Equal(got.Spec.NodeIPs, want.Spec.NodeIPs) ||
				!slices.Equal(got.Spec.ReservedIPs, want.Spec.ReservedIPs) || got.Spec.MaxPods != want.Spec.MaxPods ||
				!got.IsAllocated() || len(got.Labels) != 0 {
				t.Errorf("NodeNetworkConfig %s changed: %+v %+v", want.Name, got.Spec, got.Status)
			}
			if c := meta.FindStatusCondition(got.Status.Conditions, v1.NodeProgrammed); c != nil {
				t.Errorf("NodeNetworkConfig %s has a forged Programmed condition: %+v", want.Name, c)
			}
		}
		var claims v1.BlockClaimList
		if err := env.Client.List(ctx, &claims); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, c := range claims.Items {
			names = append(names, c.Name)
		}
		if want := []string{"v4-10.244.1.0-24", "v4-10.244.2.0-24"}; !slices.Equal(names, want) {
			t.Errorf("claims %v, want %v", names, want)
		}
	})
}

// widen grants every verb on every overlaynet resource to the agent, to the third party and
// to the garbage collector: RBAC misconfigured, so that only the admission policy stands in
// the way.
func widen(ctx context.Context, t *testing.T) {
	t.Helper()
	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "security-test-widened"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{v1.GroupVersion.Group}, Resources: []string{"*", "*/status"}, Verbs: []string{"*"}}},
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "security-test-widened"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{
			{Kind: "ServiceAccount", Namespace: Namespace, Name: agentSA},
			{Kind: "ServiceAccount", Namespace: "tenant", Name: "intruder"},
			{Kind: "ServiceAccount", Namespace: "kube-system", Name: "generic-garbage-collector"},
		},
	}
	for _, o := range []client.Object{role, binding} {
		if err := client.IgnoreAlreadyExists(env.Client.Create(ctx, o)); err != nil {
			t.Fatal(err)
		}
	}
}

// sampleOVC creates the sample OverlayCluster as an administrator (users write its spec).
func sampleOVC(ctx context.Context, t *testing.T) {
	t.Helper()
	ovc := &v1.OverlayCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "default"},
		Spec:       v1.OverlayClusterSpec{VNetCIDRs: []string{"10.224.0.0/12"}},
	}
	if err := client.IgnoreAlreadyExists(env.Client.Create(ctx, ovc)); err != nil {
		t.Fatal(err)
	}
}
