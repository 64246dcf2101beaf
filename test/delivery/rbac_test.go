package delivery

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// The subjects overlaynet runs as.
const (
	managerSA = "system:serviceaccount:" + Namespace + ":overlaynet-manager"
	agentSA   = "system:serviceaccount:" + Namespace + ":overlaynet-agent"
)

// allowed is everything each component may do, one grant a line:
// "<scope> <group>/<resource>[/<subresource>][#<resourceName>] <verb>", scope being
// "cluster" or a namespace, and "cluster url:<path> <verb>" for non-resource URLs.
//
// It is the reviewed statement of least privilege. A rule that grants anything more
// fails the test on purpose: widen this list in the same change, and say why.
var allowed = map[string][]string{
	managerSA: {
		// Nodes: the reconcile trigger and the node IPs (internal/controller markers).
		"cluster /nodes get", "cluster /nodes list", "cluster /nodes watch",
		// Events on transitions, events.k8s.io/v1 (the controller's recorder).
		"cluster events.k8s.io/events create", "cluster events.k8s.io/events patch",
		// Allocations: claims and NodeNetworkConfigs are the manager's own objects.
		"cluster network.overlaynet.io/blockclaims create", "cluster network.overlaynet.io/blockclaims delete",
		"cluster network.overlaynet.io/blockclaims get", "cluster network.overlaynet.io/blockclaims list",
		"cluster network.overlaynet.io/blockclaims watch",
		"cluster network.overlaynet.io/nodenetworkconfigs create", "cluster network.overlaynet.io/nodenetworkconfigs delete",
		"cluster network.overlaynet.io/nodenetworkconfigs get", "cluster network.overlaynet.io/nodenetworkconfigs list",
		"cluster network.overlaynet.io/nodenetworkconfigs watch",
		// The NNC's spec is the node's allocation, created with it and changed by a
		// compare-and-swap update (a migration, R51, R53; a wait that ends); NNCs are the
		// manager's own objects, never declared by users, so this is no GitOps drift. Its
		// status holds the Allocated condition.
		"cluster network.overlaynet.io/nodenetworkconfigs update",
		"cluster network.overlaynet.io/nodenetworkconfigs/status update",
		// The OverlayCluster: read its spec, write only its status (GitOps: no spec writes).
		"cluster network.overlaynet.io/overlayclusters get", "cluster network.overlaynet.io/overlayclusters list",
		"cluster network.overlaynet.io/overlayclusters watch",
		"cluster network.overlaynet.io/overlayclusters/status patch", "cluster network.overlaynet.io/overlayclusters/status update",
		// The authenticated metrics endpoint reviews its callers.
		"cluster authentication.k8s.io/tokenreviews create", "cluster authorization.k8s.io/subjectaccessreviews create",
		// Leader election: its one Lease, and the lock's core/v1 events, in its namespace.
		Namespace + " coordination.k8s.io/leases create",
		Namespace + " coordination.k8s.io/leases#overlaynet-manager.network.overlaynet.io get",
		Namespace + " coordination.k8s.io/leases#overlaynet-manager.network.overlaynet.io update",
		Namespace + " /events create", Namespace + " /events patch",
	},
	agentSA: {
		// Its own NodeNetworkConfig and its peers' (routes to their blocks).
		"cluster network.overlaynet.io/nodenetworkconfigs get", "cluster network.overlaynet.io/nodenetworkconfigs list",
		"cluster network.overlaynet.io/nodenetworkconfigs watch",
		// The Programmed condition, by server-side apply of the status; the admission
		// policy narrows this to its own node's Programmed condition (B7).
		"cluster network.overlaynet.io/nodenetworkconfigs/status patch",
		// The cluster-wide facts it checks peers against (pod CIDRs, block lengths, node
		// network), from the OverlayCluster's status.
		"cluster network.overlaynet.io/overlayclusters get", "cluster network.overlaynet.io/overlayclusters list",
		"cluster network.overlaynet.io/overlayclusters watch",
		// A Warning event on its own NodeNetworkConfig when it skips a peer (B7).
		"cluster events.k8s.io/events create", "cluster events.k8s.io/events patch",
	},
}

// unbound are the ClusterRoles installed for someone else to bind, with what they grant.
var unbound = map[string][]string{
	"overlaynet-metrics-reader": {"cluster url:/metrics get"},
}

// grants expands rules into grant lines in scope.
func grants(scope string, rules []rbacv1.PolicyRule) []string {
	var out []string
	for _, r := range rules {
		for _, verb := range r.Verbs {
			for _, url := range r.NonResourceURLs {
				out = append(out, fmt.Sprintf("%s url:%s %s", scope, url, verb))
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					if len(r.ResourceNames) == 0 {
						out = append(out, fmt.Sprintf("%s %s/%s %s", scope, g, res, verb))
					}
					for _, n := range r.ResourceNames {
						out = append(out, fmt.Sprintf("%s %s/%s#%s %s", scope, g, res, n, verb))
					}
				}
			}
		}
	}
	return out
}

// permissions computes what every subject bound in objs may do, and the grants of the
// ClusterRoles nothing binds.
func permissions(t *testing.T, objs []*unstructured.Unstructured) (bySubject, unboundRoles map[string][]string) {
	t.Helper()
	roles := map[string][]rbacv1.PolicyRule{} // "ClusterRole name" or "Role ns/name"
	bound := map[string]bool{}
	type binding struct {
		scope    string
		roleKey  string
		subjects []rbacv1.Subject
	}
	var bindings []binding
	for _, o := range objs {
		switch o.GetKind() {
		case "ClusterRole":
			var r rbacv1.ClusterRole
			fromUnstructured(t, o, &r)
			if r.AggregationRule != nil {
				t.Errorf("ClusterRole %s aggregates other roles: its permissions cannot be reviewed here", r.Name)
			}
			roles["ClusterRole "+r.Name] = r.Rules
		case "Role":
			var r rbacv1.Role
			fromUnstructured(t, o, &r)
			roles["Role "+r.Namespace+"/"+r.Name] = r.Rules
		case "ClusterRoleBinding":
			var b rbacv1.ClusterRoleBinding
			fromUnstructured(t, o, &b)
			bindings = append(bindings, binding{"cluster", b.RoleRef.Kind + " " + b.RoleRef.Name, b.Subjects})
		case "RoleBinding":
			var b rbacv1.RoleBinding
			fromUnstructured(t, o, &b)
			k := b.RoleRef.Kind + " " + b.RoleRef.Name
			if b.RoleRef.Kind == "Role" {
				k = "Role " + b.Namespace + "/" + b.RoleRef.Name
			}
			bindings = append(bindings, binding{b.Namespace, k, b.Subjects})
		}
	}
	bySubject = map[string][]string{}
	for _, b := range bindings {
		rules, ok := roles[b.roleKey]
		if !ok {
			t.Errorf("a binding refers to %s, which is not installed", b.roleKey)
			continue
		}
		bound[b.roleKey] = true
		for _, s := range b.subjects {
			name := s.Kind + ":" + s.Name
			if s.Kind == rbacv1.ServiceAccountKind {
				name = "system:serviceaccount:" + s.Namespace + ":" + s.Name
			}
			bySubject[name] = append(bySubject[name], grants(b.scope, rules)...)
		}
	}
	unboundRoles = map[string][]string{}
	for k, rules := range roles {
		if !bound[k] {
			unboundRoles[strings.TrimPrefix(k, "ClusterRole ")] = grants("cluster", rules)
		}
	}
	for _, m := range []map[string][]string{bySubject, unboundRoles} {
		for k := range m {
			slices.Sort(m[k])
			m[k] = slices.Compact(m[k])
		}
	}
	return bySubject, unboundRoles
}

func fromUnstructured(t *testing.T, u *unstructured.Unstructured, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, into, true); err != nil {
		t.Fatalf("decoding %s: %v", key(u), err)
	}
}

func sortedCopy(m map[string][]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range m {
		out[k] = slices.Sorted(slices.Values(v))
	}
	return out
}

func TestRBACGrantsExactlyTheAllowList(t *testing.T) {
	for name, objs := range renders(t) {
		t.Run(name, func(t *testing.T) {
			got, gotUnbound := permissions(t, objs)
			if diff := cmp.Diff(sortedCopy(allowed), got); diff != "" {
				t.Errorf("the rendered RBAC differs from the allow-list (-allowed +rendered):\n%s", diff)
			}
			if diff := cmp.Diff(sortedCopy(unbound), gotUnbound); diff != "" {
				t.Errorf("the unbound ClusterRoles differ (-want +rendered):\n%s", diff)
			}
		})
	}
}

func TestRBACHasNoWildcardsOrEscalation(t *testing.T) {
	for name, objs := range renders(t) {
		t.Run(name, func(t *testing.T) {
			got, gotUnbound := permissions(t, objs)
			for subject, lines := range got {
				for _, l := range append(lines, gotUnbound[subject]...) {
					if strings.Contains(l, "*") {
						t.Errorf("%s is granted a wildcard: %s", subject, l)
					}
					for _, risky := range []string{" escalate", " bind", " impersonate", "/secrets ", "/pods/exec "} {
						if strings.Contains(l, risky) {
							t.Errorf("%s is granted %s", subject, l)
						}
					}
				}
			}
		})
	}
}

// The allow-list test above must be able to fail: one extra verb is caught.
func TestRBACAllowListCatchesAnExtraVerb(t *testing.T) {
	objs, err := renderKustomize("config/default")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "ClusterRole" && o.GetName() == "overlaynet-agent" {
			rules, _, _ := unstructured.NestedSlice(o.Object, "rules")
			rules = append(rules, map[string]any{
				"apiGroups": []any{"network.overlaynet.io"}, "resources": []any{"nodenetworkconfigs"}, "verbs": []any{"delete"},
			})
			if err := unstructured.SetNestedSlice(o.Object, rules, "rules"); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, _ := permissions(t, objs)
	if cmp.Equal(sortedCopy(allowed), got) {
		t.Fatal("an agent allowed to delete NodeNetworkConfigs passed the allow-list")
	}
}
