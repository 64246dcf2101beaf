package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BlockClaimSpec records which Node incarnation holds a block. The schema refuses a claim
// that could not have come from the manager (B4): a block that is not a canonical CIDR, a
// family that is not the block's, an empty holder.
//
// +kubebuilder:validation:XValidation:rule="!isCIDR(self.block) || self.family == (cidr(self.block).ip().family() == 4 ? 'IPv4' : 'IPv6')",messageExpression="'B4: family %s does not match block %s'.format([self.family, self.block])",fieldPath=".family"
type BlockClaimSpec struct {
	// block is the claimed address block (a node's pod CIDR, or a reserved node-subnet
	// range in NodeSubnet mode).
	// +kubebuilder:validation:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && string(cidr(self).masked()) == self",messageExpression="'B4: block %s is not a canonical CIDR (network address, shortest lowercase form, no zone or IPv4-mapped address)'.format([self])"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="block is immutable"
	// +required
	Block string `json:"block"`
	// family is the block's IP family.
	// +required
	Family IPFamily `json:"family"`
	// nodeName is the Node that holds the block.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="size(self) > 0",message="B4: nodeName must name the Node that holds the block"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="nodeName is immutable"
	// +required
	NodeName string `json:"nodeName"`
	// nodeUID is the UID of the Node that holds the block.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:XValidation:rule="size(self) > 0",message="B4: nodeUID must be the UID of the Node that holds the block"
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="nodeUID is immutable"
	// +required
	NodeUID string `json:"nodeUID"`
}

// BlockClaim is the API server's proof that one block belongs to one Node. Its name is
// derived from the block alone, so the API server's name uniqueness is what guarantees that
// no block is ever handed to two nodes (B4), whatever the number of controllers running.
// It is owned by its Node, so the garbage collector releases it when that Node is gone.
// Users never write these: the install's admission policy lets only the manager create,
// change or delete them (B7), and the schema ties the name to the block (ClaimName in
// internal/allocation: v4-<address>-<bits>, or v6-<the fully expanded address with dots for
// colons>-<bits>), so that one block has exactly one possible claim name.
//
// +kubebuilder:validation:XValidation:rule="!isCIDR(self.spec.block) || (cidr(self.spec.block).ip().family() == 4 ? (self.metadata.name.startsWith('v4-') && self.metadata.name.lastIndexOf('-') > 3 && self.metadata.name.substring(self.metadata.name.lastIndexOf('-') + 1) == string(cidr(self.spec.block).prefixLength()) && isIP(self.metadata.name.substring(3, self.metadata.name.lastIndexOf('-'))) && ip.isCanonical(self.metadata.name.substring(3, self.metadata.name.lastIndexOf('-'))) && ip(self.metadata.name.substring(3, self.metadata.name.lastIndexOf('-'))) == cidr(self.spec.block).ip()) : (self.metadata.name.startsWith('v6-') && size(self.metadata.name) == 43 + size(string(cidr(self.spec.block).prefixLength())) && self.metadata.name.substring(42, 43) == '-' && self.metadata.name.substring(43) == string(cidr(self.spec.block).prefixLength()) && isIP(self.metadata.name.substring(3, 42).replace('.', ':')) && ip(self.metadata.name.substring(3, 42).replace('.', ':')) == cidr(self.spec.block).ip()))",messageExpression="'B4: BlockClaim name %s does not match its block %s (the name is derived from the block: v4-<address>-<bits> or v6-<expanded address, dots for colons>-<bits>)'.format([self.metadata.name, self.spec.block])"
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=blk
// +kubebuilder:selectablefield:JSONPath=`.spec.nodeName`
// +kubebuilder:selectablefield:JSONPath=`.spec.nodeUID`
// +kubebuilder:selectablefield:JSONPath=`.spec.family`
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
