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

package v1alpha1

// Every condition reason overlaynet writes is a constant of this package (the Allocated
// reasons are next to the NodeNetworkConfig type). docs/troubleshooting.md explains each
// one, and a test (internal/docgen) fails when a reason here is missing from it or when a
// reason constant is declared anywhere else.

// Reasons of the OverlayCluster conditions (ClusterReady, ClusterConfigValid,
// ClusterPodCIDRAvailable, ClusterMigrating). Ready also uses ReasonAllocated and
// ReasonInvalidConfig; PodCIDRAvailable uses ReasonPoolExhausted and ReasonRouteLimit.
const (
	// ReasonNotAllAllocated: Ready is False because some nodes hold no block yet or a
	// migration runs.
	ReasonNotAllAllocated = "NotAllAllocated"
	// ReasonValid: ConfigValid is True, the spec breaks no rule.
	ReasonValid = "Valid"
	// ReasonPodCIDRRemovalRefused: ConfigValid is False because the spec removes or narrows
	// a pod CIDR that still holds node blocks; nothing was released (B1).
	ReasonPodCIDRRemovalRefused = "PodCIDRRemovalRefused"
	// ReasonBlocksAvailable: PodCIDRAvailable is True, every family has free blocks.
	ReasonBlocksAvailable = "BlocksAvailable"
	// ReasonMigrating: Migrating is True while nodes move to Overlay (R50, R51).
	ReasonMigrating = "Migrating"
	// ReasonMigrationComplete: Migrating is False, every node runs in the spec's mode.
	ReasonMigrationComplete = "MigrationComplete"
	// ReasonExtraNonMasquerade: a warning event before a migration: custom no-SNAT ranges
	// may lose connectivity in Overlay mode (R54).
	ReasonExtraNonMasquerade = "ExtraNonMasqueradeRanges"
)

// Reasons of the NodeNetworkConfig Programmed condition, written by the node agent.
const (
	// ReasonProgrammed: routes, SNAT and the CNI configuration match the allocation.
	ReasonProgrammed = "Programmed"
	// ReasonWaitingForAllocation: the node holds no pod CIDR yet; no CNI configuration is
	// written, so the runtime keeps pods off the node.
	ReasonWaitingForAllocation = "WaitingForAllocation"
	// ReasonInvalidAllocation: the node's own status cannot be parsed or breaks the
	// cluster's rules (B7).
	ReasonInvalidAllocation = "InvalidAllocation"
	// ReasonWaitingForClusterStatus: the OverlayCluster status does not publish the facts
	// every NodeNetworkConfig is checked against yet; the datapath is left as it is (B7).
	ReasonWaitingForClusterStatus = "WaitingForClusterStatus"
	// ReasonInvalidClusterStatus: the OverlayCluster status breaks a rule; the datapath is
	// left as it is (B7).
	ReasonInvalidClusterStatus = "InvalidClusterStatus"
	// ReasonPeersSkipped: the datapath is programmed, without the entries of peers whose
	// status breaks the rules (B7); the message names them.
	ReasonPeersSkipped = "PeersSkipped"
	// ReasonForwardingFailed: IP forwarding could not be turned on.
	ReasonForwardingFailed = "ForwardingFailed"
	// ReasonRoutesFailed: a route to a peer block could not be programmed.
	ReasonRoutesFailed = "RouteProgrammingFailed"
	// ReasonSNATFailed: the nftables table could not be written.
	ReasonSNATFailed = "SNATProgrammingFailed"
	// ReasonProxyFailed: the node could not claim its node-subnet pod addresses on its
	// uplink.
	ReasonProxyFailed = "ProxyNeighborsFailed"
	// ReasonCNIPluginsMissing: a plugin the configuration names is not in the CNI bin dir.
	ReasonCNIPluginsMissing = "CNIPluginsMissing"
	// ReasonEncapsulationFailed: the node cannot reach peers off its link as the cluster's
	// crossSubnet setting asks (B9): its uplink is unknown or too small for VXLAN (X2).
	ReasonEncapsulationFailed = "EncapsulationFailed"
	// ReasonCNIConfigFailed: the CNI configuration could not be written.
	ReasonCNIConfigFailed = "CNIConfigFailed"
)
