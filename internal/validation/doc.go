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

// Package validation is the rulebook of SPEC §3 as pure functions over an
// OverlayClusterSpec. The controller and overlayctl call it; the CRD's CEL rules
// (api/v1alpha1/overlaycluster_types.go) are its admission twin, and a test
// (admission_test.go) runs one shared table of specs through both and requires the same
// verdict and the rule id in the API server's message. The cross-field CEL rules are
// generated from celmarkers_test.go, and celcost_test.go prices them with the API
// server's own CRD validation.
//
// # Where each rule is enforced
//
//	rule  what                                                  admission  Go
//	S1    a CIDR field holds a CIDR (no IPv4-mapped IPv6)       CEL        ValidateSpec
//	S2    CIDRs are canonical (masked, as net/netip prints)     CEL        ValidateSpec
//	S3    dnsServiceIP is a canonical IP address                CEL        ValidateSpec
//	S4    enumerations (mode, networkPolicy, outboundType, os)  schema     ValidateSpec
//	S5    required fields, list sizes, unique pool names        schema     ValidateSpec
//	S6    the OverlayCluster is named "default"                 CEL        ValidateObject
//	R1    no pod, service or VNet range touches a reserved one  CEL        ValidateSpec
//	R2    pod CIDRs overlap no VNet, subnet, service, connected CEL        ValidateSpec
//	R3    service CIDRs overlap no VNet, connected or pod range CEL        ValidateSpec
//	R4    service CIDR IPv4 /12 or longer, IPv6 /108 or longer  CEL        ValidateSpec
//	R5    DNS IP in its family's service CIDR, not .0 nor .1    CEL        ValidateSpec
//	R6    defaults, including the implied IPv6 ones             schema     every function
//	R7    [IPv4] or [IPv4, IPv6]; per-family lists match        CEL        ValidateSpec
//	R9    pool names are label values                           CEL        ValidateSpec
//	R9    node selectors use label syntax                       -          ValidateCluster
//	R10   an IPv4 pod CIDR holds at least one node block        CEL        ValidateSpec
//	R11   an IPv6 pod CIDR holds at least one node block        CEL        ValidateSpec
//	R12   max pods 10–250 (Overlay), cluster and pools          CEL        ValidateSpec
//	R14   pool subnets inside the VNet, shared or disjoint      CEL        ValidateSpec
//	R18   Overlay has no virtual nodes                          CEL        ValidateSpec
//	R19   dual-stack: no Azure/Calico policy, NAT gateway, VN   CEL        ValidateSpec
//	R19   dual-stack needs Kubernetes 1.26.3                    -          ValidateCluster
//	R32   max pods 10–250 (Kubenet)                             CEL        ValidateSpec
//	R35   Kubenet: no Windows pools, Azure policy, VN           CEL        ValidateSpec
//	R41   max pods 10–250 (NodeSubnet)                          CEL        ValidateSpec
//	R43   NodeSubnet pool subnets are IPv4, /16 or longer        CEL        ValidateSpec
//	R50   NodeSubnet→Overlay: no network policy                 CEL        ValidateTransition, ValidateCluster
//	R50   NodeSubnet→Overlay: Kubernetes 1.22, no docker Windows -         ValidateCluster
//	R51   Kubenet→Overlay keeps podCIDRs                        CEL        ValidateTransition
//	R52   mode changes only from Kubenet/NodeSubnet to Overlay  CEL        ValidateTransition
//	R53   all pools migrate together                            implicit: the mode is cluster-wide
//	R54   extra non-masquerade ranges before a migration        -          MigrationWarnings (a warning)
//	B1    pod CIDRs disjoint from each other                    CEL        ValidateSpec
//	B1    podCIDRs widen only, additionalPodCIDRs append only,  CEL        ValidateTransition
//	      ipFamilies, serviceCIDRs and block sizes immutable
//	B2    block prefix lengths IPv4 /8–/30, IPv6 /48–/124       CEL        ValidateSpec
//
// The S rules are the schema's own checks, which SPEC.md does not number. Where the
// OpenAPI schema rather than CEL rejects a value (S4, S5, too-long strings), the API
// server's message is its own and does not carry the rule id; a string longer than the
// schema allows is never a canonical CIDR or IP, so Go reports it as S1, S2 or S3.
//
// Capacity rules (R8, R13, R14's 251 nodes, R31, R33, R41's 8 nodes) are the planner's
// (internal/plan); R8's "several Kubenet clusters cannot share one subnet" concerns
// several clusters and is checked by nothing here.
package validation
