package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// Reasons of the Programmed condition. (They belong next to the condition type in
// api/v1alpha1 once that file's owners take them.)
const (
	// ReasonProgrammed: routes, SNAT and the CNI configuration match the allocation.
	ReasonProgrammed = "Programmed"
	// ReasonWaitingForAllocation: the node holds no pod CIDR yet; no CNI configuration is
	// written, so the runtime keeps pods off the node.
	ReasonWaitingForAllocation = "WaitingForAllocation"
	// ReasonInvalidAllocation: the node's own status cannot be parsed.
	ReasonInvalidAllocation = "InvalidAllocation"
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
	// ReasonCNIConfigFailed: the CNI configuration could not be written.
	ReasonCNIConfigFailed = "CNIConfigFailed"
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

func programmed(self *v1alpha1.NodeNetworkConfig, want *desired.Result, st datapath.Stats) metav1.Condition {
	return metav1.Condition{
		Type:               v1alpha1.NodeProgrammed,
		Status:             metav1.ConditionTrue,
		ObservedGeneration: self.Generation,
		Reason:             ReasonProgrammed,
		Message: fmt.Sprintf("Programmed %d routes to peer blocks%s, %d nftables rules and %d proxy neighbours; CNI configuration hands out up to %d pod addresses per family from %s",
			st.Routes, pathsMessage(want.Paths), st.Rules, st.ProxyNeighbors, want.CNI.Capacity, want.CNI.Source),
	}
}

func notProgrammed(self *v1alpha1.NodeNetworkConfig, reason, msg string) metav1.Condition {
	if len(msg) > maxMessage {
		msg = msg[:maxMessage-3] + "..."
	}
	return metav1.Condition{
		Type:               v1alpha1.NodeProgrammed,
		Status:             metav1.ConditionFalse,
		ObservedGeneration: self.Generation,
		Reason:             reason,
		Message:            msg,
	}
}

// report writes cond as the node's Programmed condition, unless the object already says
// so. A change that only updates the counts in the message waits for StatusMinInterval;
// the returned result brings the reconcile back when it is due.
//
// The write is a server-side apply of that one condition by FieldManager: conditions are a
// map keyed by type, so the controller's Allocated condition is never touched. The object's
// UID is a precondition, so a condition computed for a previous incarnation of the Node
// never lands on its successor.
func (a *Agent) report(ctx context.Context, self *v1alpha1.NodeNetworkConfig, cond metav1.Condition, ok bool) (ctrl.Result, error) {
	now := time.Now()
	cond.LastTransitionTime = metav1.NewTime(now)
	if cur := meta.FindStatusCondition(self.Status.Conditions, v1alpha1.NodeProgrammed); cur != nil {
		if cur.Status == cond.Status {
			cond.LastTransitionTime = cur.LastTransitionTime
		}
		same := cur.Status == cond.Status && cur.Reason == cond.Reason && cur.ObservedGeneration == cond.ObservedGeneration
		if same && cur.Message == cond.Message {
			return ctrl.Result{}, nil
		}
		a.mu.Lock()
		wait := a.opts.StatusMinInterval - now.Sub(a.lastStatus)
		a.mu.Unlock()
		if same && ok && wait > 0 {
			return ctrl.Result{RequeueAfter: wait}, nil
		}
	}

	c, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&cond)
	if err != nil {
		return ctrl.Result{}, err
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": v1alpha1.GroupVersion.String(),
		"kind":       "NodeNetworkConfig",
		"metadata":   map[string]any{"name": self.Name, "uid": string(self.UID)},
		"status":     map[string]any{"conditions": []any{c}},
	}}
	if err := a.client.Status().Apply(ctx, client.ApplyConfigurationFromUnstructured(u),
		client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return ctrl.Result{}, fmt.Errorf("reporting condition %s=%s on NodeNetworkConfig %q: %w", cond.Type, cond.Status, self.Name, err)
	}
	a.mu.Lock()
	a.lastStatus = now
	a.mu.Unlock()
	ctrl.LoggerFrom(ctx).V(1).Info("Reported condition", "type", cond.Type, "status", cond.Status, "reason", cond.Reason)
	return ctrl.Result{}, nil
}
