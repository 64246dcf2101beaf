package controller

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// ConflictRetryDelay is how soon a reconcile whose write lost an optimistic-concurrency race
// runs again: long enough for the cache to see the winner's write.
const ConflictRetryDelay = 200 * time.Millisecond

// quietConflicts makes a write conflict ("the object has been modified") a quiet requeue.
// It is expected, not an error: the object changed between the cache read and the
// compare-and-swap write (B4), typically at start-up while the caches fill or when another
// writer (an agent's condition) got there first, and the next reconcile reads the new
// version. The create of a NodeNetworkConfig that another manager (or our own earlier
// create, not yet in the cache) got to first is the same race and is treated the same: the
// retry reads the object, adopts its blocks and releases the spare claim. It is logged at
// debug level; every other error passes through unchanged.
func quietConflicts(r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		res, err := r.Reconcile(ctx, req)
		if err != nil && (apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) {
			ctrl.LoggerFrom(ctx).V(1).Info("Write conflict; retrying with the new version", "reason", err.Error())
			return reconcile.Result{RequeueAfter: ConflictRetryDelay}, nil
		}
		return res, err
	})
}
