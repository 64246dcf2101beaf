/*
Copyright 2026 The overlaynet Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package validation

// Enforcer names the part of overlaynet that enforces a rule.
type Enforcer string

// The enforcers. CEL is absent on purpose: which rules the API server enforces with CEL is
// read from the CRDs' x-kubernetes-validations messages when docs/rulebook.md is generated,
// so the table cannot claim a CEL rule that does not exist.
const (
	// BySchema is the CRD's OpenAPI schema (types, enums, bounds, defaults).
	BySchema Enforcer = "schema"
	// ByGo is a pure Go rulebook function, run by the controller and by overlayctl.
	ByGo Enforcer = "Go"
	// ByController is the manager's reconcilers (allocation, status, migration).
	ByController Enforcer = "controller"
	// ByAgent is the node agent (desired datapath, Linux backend, CNI configuration).
	ByAgent Enforcer = "agent"
	// ByPlanner is the capacity planner (internal/plan, `overlayctl plan`).
	ByPlanner Enforcer = "planner"
	// ByAdmissionPolicy is a ValidatingAdmissionPolicy shipped with the install.
	ByAdmissionPolicy Enforcer = "admission policy"
)

// Enforcement is one place a rule is enforced.
type Enforcement struct {
	// By is the enforcer.
	By Enforcer
	// Where is the package and function or type that does it, such as
	// "internal/validation.ValidateSpec". The rulebook test requires the package to
	// declare the name and, except for the schema and the agent (whose code names the
	// datapath rather than the rule), its non-test sources to cite the rule id, so a moved
	// check cannot leave a stale entry.
	Where string
}

// Rule is one rule of the rulebook.
type Rule struct {
	// ID is the rule id: S1–S6 for schema rules, R1–R54 for the networking model, B1–B10
	// for what overlaynet adds beyond it, X1–X3 for the cross-subnet setting (B9).
	ID string
	// Statement is the rule, in one or two sentences a user can read on its own.
	Statement string
	// Enforced lists where the rule is enforced besides CEL (which is read from the CRDs).
	// Empty for a rule that is a statement about the product proven only by its tests.
	Enforced []Enforcement
}

// Short names for the table below.
func goRule(where string) Enforcement       { return Enforcement{ByGo, where} }
func controllerAt(where string) Enforcement { return Enforcement{ByController, where} }
func agentAt(where string) Enforcement      { return Enforcement{ByAgent, where} }
func plannerAt(where string) Enforcement    { return Enforcement{ByPlanner, where} }
func schemaAt(where string) Enforcement     { return Enforcement{BySchema, where} }

const (
	validateSpec       = "internal/validation.ValidateSpec"
	validateTransition = "internal/validation.ValidateTransition"
	validateCluster    = "internal/validation.ValidateCluster"
	planNew            = "internal/plan.New"
)

// Rules is the rulebook: every rule id the code, the CRDs and the tests cite, in order.
// Adding a rule is adding one entry here; docs/rulebook.md is generated from this table
// (`make docs`), and a test fails, naming the rule, when a rule id is cited anywhere in
// the repository without an entry.
var Rules = []Rule{
	{ID: "S1", Statement: "A CIDR field holds a CIDR: an IPv4 or IPv6 prefix, never IPv4-mapped IPv6.",
		Enforced: []Enforcement{goRule(validateSpec)}},
	{ID: "S2", Statement: "CIDRs are canonical: masked, and written as net/netip prints them.",
		Enforced: []Enforcement{goRule(validateSpec)}},
	{ID: "S3", Statement: "dnsServiceIP is a canonical IP address.",
		Enforced: []Enforcement{goRule(validateSpec)}},
	{ID: "S4", Statement: "Enumerations (mode, networkPolicy, outboundType, osType) take only their listed values.",
		Enforced: []Enforcement{schemaAt("api/v1alpha1.OverlayClusterSpec"), goRule(validateSpec)}},
	{ID: "S5", Statement: "Required fields are present, lists stay within their sizes, and node pool names are unique.",
		Enforced: []Enforcement{schemaAt("api/v1alpha1.OverlayClusterSpec"), goRule(validateSpec)}},
	{ID: "S6", Statement: "The OverlayCluster is named default: there is one per cluster.",
		Enforced: []Enforcement{goRule("internal/validation.ValidateObject")}},

	{ID: "R1", Statement: "Pod, service and VNet ranges must not overlap 169.254.0.0/16, 172.30.0.0/16, 172.31.0.0/16 or 192.0.2.0/24.",
		Enforced: []Enforcement{goRule(validateSpec)}},
	{ID: "R2", Statement: "Pod CIDRs must not overlap the VNet or node subnets, the service CIDRs, or any connected network (peering, ExpressRoute, VPN).",
		Enforced: []Enforcement{goRule(validateSpec)}},
	{ID: "R3", Statement: "Service CIDRs must not lie inside the VNet and must not overlap connected or on-premises ranges or the pod CIDRs.",
		Enforced: []Enforcement{goRule(validateSpec)}},
	{ID: "R4", Statement: "An IPv4 service CIDR holds at most 2^20 addresses (/12 or longer); an IPv6 service CIDR is /108 or longer.",
		Enforced: []Enforcement{goRule(validateSpec)}},
	{ID: "R5", Statement: "The DNS service IP lies inside the service CIDR of its family and is neither its network address nor its first host (kubernetes.default).",
		Enforced: []Enforcement{goRule(validateSpec)}},
	{ID: "R6", Statement: "Defaults: Overlay mode, [IPv4], pod CIDR 10.244.0.0/16 (+ fd12:3456:789a::/64), service CIDR 10.0.0.0/16 (+ fd12:3456:789a:1::/108), DNS 10.0.0.10, max pods 250/110/30 by mode.",
		Enforced: []Enforcement{schemaAt("api/v1alpha1.OverlayClusterSpec"), goRule("internal/netconf.Resolve")}},
	{ID: "R7", Statement: "ipFamilies is [IPv4] or [IPv4, IPv6] (IPv6-only is rejected), and the pod and service CIDR lists match it in count and order.",
		Enforced: []Enforcement{goRule(validateSpec)}},
	{ID: "R8", Statement: "Several Overlay clusters may reuse one pod CIDR on one VNet; several Kubenet clusters cannot share one subnet (a fact about several clusters, which one cluster's manager cannot check).",
		Enforced: nil},
	{ID: "R9", Statement: "Names used as node labels (pool names) are at most 63 characters of label syntax, and node selectors use label syntax.",
		Enforced: []Enforcement{goRule(validateSpec), goRule(validateCluster)}},

	{ID: "R10", Statement: "Every Overlay node gets a /24 (the pool's IPv4 block size) from the IPv4 pod CIDR; nodes added later get new blocks automatically.",
		Enforced: []Enforcement{goRule(validateSpec), controllerAt("internal/controller.NodeReconciler"), plannerAt(planNew)}},
	{ID: "R11", Statement: "With IPv6, every node also gets a /120 (the IPv6 block size) from the IPv6 pod CIDR.",
		Enforced: []Enforcement{goRule(validateSpec), controllerAt("internal/controller.NodeReconciler")}},
	{ID: "R12", Statement: "Overlay max pods per node: default 250, minimum 10, maximum 250, per node pool.",
		Enforced: []Enforcement{goRule(validateSpec), agentAt("internal/agent/desired.Compute")}},
	{ID: "R13", Statement: "Scale: 5,000 nodes at 250 pods each.",
		Enforced: []Enforcement{plannerAt(planNew)}},
	{ID: "R14", Statement: "A /24 node subnet holds at most 251 nodes (the cloud keeps five addresses); pool subnets lie inside the VNet and are shared or disjoint.",
		Enforced: []Enforcement{goRule(validateSpec), plannerAt(planNew)}},
	{ID: "R15", Statement: "Pod traffic to any destination outside the pod CIDRs is SNATed to the node's IP of its family; pod-to-pod traffic keeps its addresses and is not encapsulated.",
		Enforced: []Enforcement{agentAt("internal/agent/desired.Compute"), agentAt("internal/agent/datapath/linux")}},
	{ID: "R16", Statement: "Nothing outside the cluster's nodes can reach a pod IP directly.",
		Enforced: []Enforcement{agentAt("internal/agent/datapath/linux")}},
	{ID: "R17", Statement: "The node network must allow node-to-node, node-to-pod and pod-to-pod traffic on every port and protocol; the controller publishes these rules in status.networkRules.",
		Enforced: []Enforcement{controllerAt("internal/controller.NetworkRules")}},
	{ID: "R18", Statement: "Overlay rejects virtual nodes.",
		Enforced: []Enforcement{goRule(validateSpec)}},
	{ID: "R19", Statement: "Dual-stack needs Kubernetes 1.26.3 or later and is rejected together with the Azure or Calico network policy, the NAT gateway outbound type, or virtual nodes.",
		Enforced: []Enforcement{goRule(validateSpec), goRule(validateCluster)}},

	{ID: "R30", Statement: "Kubenet pods get addresses from a space separate from the node subnet; traffic leaving it is NATed to the node IP.",
		Enforced: []Enforcement{agentAt("internal/agent/desired.Compute")}},
	{ID: "R31", Statement: "Kubenet routes with one route per node in a route table of at most 400 routes, so a Kubenet cluster has at most 400 nodes.",
		Enforced: []Enforcement{controllerAt("internal/controller.NodeReconciler"), plannerAt(planNew)}},
	{ID: "R32", Statement: "Kubenet max pods: default 110, minimum 10, maximum 250.",
		Enforced: []Enforcement{goRule(validateSpec)}},
	{ID: "R33", Statement: "Kubenet capacity: a /24 node subnet holds 251 nodes and 27,610 pods at 110 each; a /27 holds 20 to 25 nodes with room for upgrades.",
		Enforced: []Enforcement{plannerAt(planNew)}},
	{ID: "R34", Statement: "A Kubenet node's IPv6 block is 16 bits longer than the IPv6 pod CIDR.",
		Enforced: []Enforcement{goRule("internal/netconf.Resolve")}},
	{ID: "R35", Statement: "Kubenet rejects Windows node pools, the Azure network policy and virtual nodes.",
		Enforced: []Enforcement{goRule(validateSpec)}},

	{ID: "R40", Statement: "NodeSubnet pods take addresses from the node subnet; each node reserves max-pods addresses up front, besides its own.",
		Enforced: []Enforcement{controllerAt("internal/nodesubnet"), agentAt("internal/agent/desired.Compute")}},
	{ID: "R41", Statement: "NodeSubnet max pods: default 30, minimum 10, maximum 250; a /24 holds 8 nodes and 240 pods.",
		Enforced: []Enforcement{goRule(validateSpec), plannerAt(planNew)}},
	{ID: "R42", Statement: "NodeSubnet pod traffic inside the VNet keeps the pod IP; traffic leaving the VNet is SNATed to the node IP.",
		Enforced: []Enforcement{agentAt("internal/agent/desired.Compute")}},

	{ID: "R43", Statement: "NodeSubnet pool subnets are IPv4 and /16 or longer (at most 65,536 addresses), so reserving max-pods addresses per node costs work in proportion to the addresses needed.",
		Enforced: []Enforcement{goRule(validateSpec)}},

	{ID: "R50", Statement: "NodeSubnet → Overlay needs Kubernetes 1.22 or later, a pod CIDR that overlaps neither the VNet nor the service CIDRs, no network policy, and no Windows node on the docker runtime.",
		Enforced: []Enforcement{goRule(validateTransition), goRule(validateCluster), controllerAt("internal/controller.ClusterReconciler")}},
	{ID: "R51", Statement: "Kubenet → Overlay keeps the pod CIDR and the nodes' existing blocks, and retires the route table.",
		Enforced: []Enforcement{goRule(validateTransition), controllerAt("internal/controller.NodeReconciler")}},
	{ID: "R52", Statement: "Leaving Overlay is rejected: a migration is irreversible, and the mode changes only from Kubenet or NodeSubnet to Overlay.",
		Enforced: []Enforcement{goRule(validateTransition), controllerAt("internal/controller.ClusterReconciler")}},
	{ID: "R53", Statement: "All pools migrate together: the mode is cluster-wide.",
		Enforced: []Enforcement{controllerAt("internal/controller.NodeReconciler")}},
	{ID: "R54", Statement: "Extra non-masquerade ranges in a custom masquerade configuration are reported as a warning before a migration, since they can cut connectivity.",
		Enforced: []Enforcement{goRule("internal/validation.MigrationWarnings"), controllerAt("internal/controller.ClusterReconciler")}},

	{ID: "B1", Statement: "Pod CIDRs grow at runtime (append to additionalPodCIDRs, or widen a podCIDRs entry to a superset) without touching any node's block; pod CIDRs never overlap each other, and removing one that holds blocks is refused.",
		Enforced: []Enforcement{goRule(validateSpec), goRule(validateTransition), controllerAt("internal/controller.ClusterReconciler")}},
	{ID: "B2", Statement: "The per-node block size is configurable (IPv4 /8–/30, IPv6 /48–/124), with /24 and /120 as defaults.",
		Enforced: []Enforcement{goRule(validateSpec), goRule("internal/ipam.NewPool")}},
	{ID: "B3", Statement: "Capacity and exhaustion are visible before they bite: status, Prometheus metrics, events and the planner report free blocks and remaining nodes.",
		Enforced: []Enforcement{controllerAt("internal/controller.ClusterReconciler"), plannerAt(planNew)}},
	{ID: "B4", Statement: "No block is ever given to two nodes: not across restarts, leader changes, two managers at once, API errors, or a Node recreated under the same name (BlockClaims named after their block; NNCs bound to the Node's UID).",
		Enforced: []Enforcement{controllerAt("internal/controller.NodeReconciler"), goRule("internal/ipam.Pool")}},
	{ID: "B5", Statement: "The node agent programs the datapath (routes to peer blocks, SNAT), removes what is stale, and reports Programmed.",
		Enforced: []Enforcement{agentAt("internal/agent.Agent")}},
	{ID: "B6", Statement: "The planner reproduces every capacity example of the rulebook (R13, R14, R33, R41).",
		Enforced: []Enforcement{plannerAt(planNew)}},
	{ID: "B7", Statement: "Trust boundaries: a node's agent may change only its own node's Programmed condition; only the manager writes allocations; every consumer checks what it reads against the rules.",
		Enforced: []Enforcement{agentAt("internal/agent/desired.Compute")}},
	{ID: "B8", Statement: "Scale to 65,536 nodes: O(1) manager work per event, agent work proportional to the change, at most 2 API writes per node.",
		Enforced: nil},
	{ID: "B9", Statement: "Nodes that do not share a link still carry pod traffic (direct routes where possible, encapsulation only where needed).",
		Enforced: []Enforcement{agentAt("internal/agent/desired.Encapsulate")}},

	{ID: "X1", Statement: "The VXLAN UDP port (crossSubnet.vxlanPort) stays clear of the NodePort range and of the Kubernetes components' ports (6443, 2379, 2380, 10250, 10256, 10257, 10259).",
		Enforced: []Enforcement{goRule(validateSpec)}},
	{ID: "X2", Statement: "The pods' MTU is at least 1280 (IPv6's minimum): crossSubnet.podMTU, and the uplink MTU less the VXLAN overhead on every node that encapsulates.",
		Enforced: []Enforcement{goRule(validateSpec), agentAt("internal/agent/desired.PodMTU")}},
	{ID: "X3", Statement: "NodeSubnet mode routes pod addresses on the node network, so its crossSubnet.mode is Direct.",
		Enforced: []Enforcement{goRule(validateSpec)}},
	{ID: "B10", Statement: "Proven on real nodes: kubelet, containerd, runc and kube-proxy run the product from its own install manifest.",
		Enforced: nil},
}

// LookupRule returns the rule with the given id.
func LookupRule(id string) (Rule, bool) {
	for _, r := range Rules {
		if r.ID == id {
			return r, true
		}
	}
	return Rule{}, false
}
