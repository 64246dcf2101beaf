package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BlockClaimSpec records which Node incarnation holds a block.
type BlockClaimSpec struct {
	// block is the claimed address block (a node's pod CIDR, or a reserved node-subnet
	// range in NodeSubnet mode).
	// +kubebuilder:validation:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="block is immutable"
	// +required
	Block string `json:"block"`
	// family is the block's IP family.
	// +required
	Family IPFamily `json:"family"`
	// nodeName is the Node that holds the block.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="nodeName is immutable"
	// +required
	NodeName string `json:"nodeName"`
	// nodeUID is the UID of the Node that holds the block.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="nodeUID is immutable"
	// +required
	NodeUID string `json:"nodeUID"`
}

// BlockClaim is the API server's proof that one block belongs to one Node. Its name is
// derived from the block alone, so the API server's name uniqueness is what guarantees that
// no block is ever handed to two nodes (B4), whatever the number of controllers running.
// It is owned by its Node, so the garbage collector releases it when that Node is gone.
// Users never write these.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=blk
// +kubebuilder:printcolumn:name="Block",type=string,JSONPath=`.spec.block`
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.nodeName`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type BlockClaim struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec names the block and its holder.
	// +required
	Spec BlockClaimSpec `json:"spec"`
}

// BlockClaimList is a list of BlockClaims.
//
// +kubebuilder:object:root=true
type BlockClaimList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BlockClaim `json:"items"`
}

func init() {
	SchemeBuilder.Register(&BlockClaim{}, &BlockClaimList{})
}
