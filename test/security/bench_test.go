package security

import (
	"context"
	"fmt"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// BenchmarkB7AgentStatusWrite prices the admission policy on the one write an agent makes:
// its Programmed condition by server-side apply, with the policy bound and, in the same
// run, with the binding removed (then restored). Compare the two ns/op figures; absolute
// times on a shared machine vary from run to run.
//
//	cd test/security && go test -run '^$' -bench . -benchtime 300x
func BenchmarkB7AgentStatusWrite(b *testing.B) {
	ctx := context.Background()
	w := setup(ctx, b)
	a := w.nncA
	write := func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			// A new message every time, so that every apply writes.
			if err := applyCondition(ctx, w.agentA, a.Name, a.UID, programmed(metav1.ConditionTrue, fmt.Sprintf("Programmed %d routes", i))); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("policy bound", write)

	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "overlaynet-writers"}, binding); err != nil {
		b.Fatal(err)
	}
	if err := env.Client.Delete(ctx, binding); err != nil {
		b.Fatal(err)
	}
	defer func() {
		binding.ResourceVersion, binding.UID, binding.CreationTimestamp, binding.ManagedFields = "", "", metav1.Time{}, nil
		if err := env.Client.Create(ctx, binding); err != nil {
			b.Fatal(err)
		}
	}()
	b.Run("no policy", write)
}
