package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent/datapath"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
)

// Reasons of the Programmed condition, defined in api/v1alpha1 with every other reason.
const (
	ReasonProgrammed           = v1alpha1.ReasonProgrammed
	ReasonWaitingForAllocation = v1alpha1.ReasonWaitingForAllocation
	ReasonInvalidAllocation    = v1alpha1.ReasonInvalidAllocation
	ReasonWaitingForCluster    = v1alpha1.ReasonWaitingForClusterStatus
	ReasonInvalidClusterStatus = v1alpha1.ReasonInvalidClusterStatus
	ReasonPeersSkipped         = v1alpha1.ReasonPeersSkipped
	ReasonForwardingFailed     = v1alpha1.ReasonForwardingFailed
	ReasonRoutesFailed         = v1alpha1.ReasonRoutesFailed
	ReasonSNATFailed           = v1alpha1.ReasonSNATFailed
	ReasonProxyFailed          = v1alpha1.ReasonProxyFailed
	ReasonCNIPluginsMissing    = v1alpha1.ReasonCNIPluginsMissing
	ReasonCNIConfigFailed      = v1alpha1.ReasonCNIConfigFailed
)

// maxMessage keeps condition messages readable (the API allows 32768 bytes).
const maxMessage = 1024

func reasonFor(err error) string {
	if part, ok := datapath.FailedPart(err); ok {
		switch part {
		case datapath.PartForwarding:
			return ReasonForwardingFailed
		case datapath.PartRoutes:
			return ReasonRoutesFailed
		case datapath.PartSNAT:
			return ReasonSNATFailed
		case datapath.PartProxy:
			return ReasonProxyFailed
		case datapath.PartTunnels:
			return ReasonEncapsulationFailed
		}
	}
	var ce *cniError
	if errors.As(err, &ce) {
		return ce.reason
	}
	return ReasonCNIConfigFailed
}

// programmed is the condition of a programmed node. It says only what depends on the node
// itself: a peer joining or leaving changes no agent's condition, so it costs no status
// write anywhere but on the node that joined (B8). The counts of routes, rules and proxy
// neighbours are metrics (metrics.go). Peers whose status breaks the rules are the one
// exception: they are named here, since someone must act on them, and the manager never
// writes such a status.
func programmed(self *v1alpha1.NodeNetworkConfig, want *desired.Result) metav1.Condition {
	c := metav1.Condition{
		Type:               v1alpha1.NodeProgrammed,
		Status:             metav1.ConditionTrue,
		ObservedGeneration: self.Generation,
		Reason:             ReasonProgrammed,
		Message: fmt.Sprintf("Routes to peer blocks (%s), SNAT and the pod-ingress guard are programmed; the CNI configuration hands out up to %d pod addresses per family from %s",
			want.PathPolicy, want.CNI.Capacity, want.CNI.Source),
	}
	if len(want.Skipped) > 0 {
		c.Reason = ReasonPeersSkipped
		c.Message = truncate(skippedMessage(want.Skipped) + "; " + c.Message)
	}
	return c
}

// skippedMessage names the peers whose entries were skipped, and why, in name order.
func skippedMessage(skipped []desired.Skipped) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Skipped entries of %d peer(s) whose NodeNetworkConfig breaks the rules (B7):", len(skipped))
	for i, s := range skipped {
		if i > 0 {
			b.WriteString(";")
		}
		fmt.Fprintf(&b, " %s: %s", s.Node, strings.Join(s.Problems, ", "))
		if b.Len() > maxMessage {
			break
		}
	}
	return b.String()
}

func truncate(msg string) string {
	if len(msg) > maxMessage {
		msg = msg[:maxMessage-3] + "..."
	}
	return msg
}

func notProgrammed(self *v1alpha1.NodeNetworkConfig, reason, msg string) metav1.Condition {
	msg = truncate(msg)
	return metav1.Condition{
		Type:               v1alpha1.NodeProgrammed,
		Status:             metav1.ConditionFalse,
		ObservedGeneration: self.Generation,
		Reason:             reason,
		Message:            msg,
	}
}

// report writes cond as the node's Programmed condition, unless the object already says
// so.
//
// The write is a server-side apply of that one condition by FieldManager: conditions are a
// map keyed by type, so the controller's Allocated condition is never touched. The object's
// UID is a precondition, so a condition computed for a previous incarnation of the Node
// never lands on its successor.
func (a *Agent) report(ctx context.Context, self *v1alpha1.NodeNetworkConfig, cond metav1.Condition) error {
	cond.LastTransitionTime = metav1.Now()
	if cur := meta.FindStatusCondition(self.Status.Conditions, v1alpha1.NodeProgrammed); cur != nil {
		if cur.Status == cond.Status {
			cond.LastTransitionTime = cur.LastTransitionTime
		}
		if cur.Status == cond.Status && cur.Reason == cond.Reason && cur.ObservedGeneration == cond.ObservedGeneration && cur.Message == cond.Message {
			return nil
		}
	}

	c, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&cond)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(),
		"kind":       "NodeNetworkConfig",
		"metadata":   map[string]any{"name": self.Name, "uid": string(self.UID)},
		"status":     map[string]any{"conditions": []any{c}},
	}}
	if err := a.client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return fmt.Errorf("reporting condition %s=%s on NodeNetworkConfig %q: %w", cond.Type, cond.Status, self.Name, err)
	}
	statusWrites.WithLabelValues(a.opts.NodeName).Inc()
	ctrl.LoggerFrom(ctx).V(1).Info("Reported condition", "type", cond.Type, "status", cond.Status, "reason", cond.Reason)
	return nil
}
