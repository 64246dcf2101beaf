package controller

import (
	"context"
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// TestWriteConflictIsAQuietRequeue: a status write that lost the compare-and-swap race
// (issue 13: at manager start-up, an error-level "Reconciler error ... the object has been
// modified" with a stack trace) comes back soon without an error; other errors stay errors.
func TestWriteConflictIsAQuietRequeue(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Group: "network.overlaynet.io", Resource: "nodenetworkconfigs"}, "node-1",
		errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	other := errors.New("connection refused")
	for _, tt := range []struct {
		name    string
		err     error
		wantErr error
		wantRes reconcile.Result
	}{
		{"a wrapped conflict requeues quietly", fmt.Errorf("writing NodeNetworkConfig node-1 status: %w", conflict), nil, reconcile.Result{RequeueAfter: ConflictRetryDelay}},
		{"a lost create of a NodeNetworkConfig requeues quietly (B4: another manager published first)",
			fmt.Errorf("creating NodeNetworkConfig node-1: %w", apierrors.NewAlreadyExists(schema.GroupResource{Group: "network.overlaynet.io", Resource: "nodenetworkconfigs"}, "node-1")),
			nil, reconcile.Result{RequeueAfter: ConflictRetryDelay}},
		{"another error stays an error", other, other, reconcile.Result{}},
		{"success passes through", nil, nil, reconcile.Result{RequeueAfter: 42}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inner := reconcile.Func(func(context.Context, reconcile.Request) (reconcile.Result, error) {
				if tt.err == nil {
					return reconcile.Result{RequeueAfter: 42}, nil
				}
				return reconcile.Result{}, tt.err
			})
			res, err := quietConflicts(inner).Reconcile(context.Background(), reconcile.Request{})
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) || res != tt.wantRes {
				t.Errorf("Reconcile = %+v, %v; want %+v, %v", res, err, tt.wantRes, tt.wantErr)
			}
		})
	}
}
