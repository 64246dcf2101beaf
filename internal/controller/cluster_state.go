package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/netconf"
)

// problem is why the cluster configuration cannot be used for new allocations.
type problem struct {
	// reason is a CamelCase condition reason.
	reason string
	// message tells the user what to change, naming the rule.
	message string
}

// Validator checks a spec against the rulebook and returns one message per violation, each
// naming its rule. Admission (CEL) already refused what it can; this catches the rest.
type Validator func(ctx context.Context, ovc *v1.OverlayCluster) []string

// ClusterState is the resolved OverlayCluster shared by the reconcilers. It re-resolves only
// when the object's generation changes, and keeps the allocator's pools in step with it.
type ClusterState struct {
	// Reader reads the OverlayCluster and the claims (the manager's cache).
	Reader client.Reader
	// Alloc receives the pools of each new configuration.
	Alloc *Allocator
	// Validate is the rulebook; nil accepts every spec that resolves.
	Validate Validator

	mu sync.Mutex
	// key identifies the resolved object: UID and generation.
	key string
	// cfg is the last configuration that passed the rules; it keeps serving nodes that
	// are already allocated while a newer spec is invalid.
	cfg *netconf.Config
	// prob is why the current spec cannot be used, or nil.
	prob *problem
}

// Current returns the configuration to allocate with, and a problem when the newest spec is
// unusable (then cfg is the last good one, or nil). It loads the allocator from the cache
// the first time, so no block is handed out before every existing claim is known.
func (s *ClusterState) Current(ctx context.Context) (*netconf.Config, *problem, error) {
	if !s.Alloc.Ready() {
		claims := &v1.BlockClaimList{}
		if err := s.Reader.List(ctx, claims); err != nil {
			return nil, nil, fmt.Errorf("loading block claims: %w", err)
		}
		s.Alloc.Load(claims.Items)
	}
	ovc := &v1.OverlayCluster{}
	err := s.Reader.Get(ctx, client.ObjectKey{Name: v1.ClusterName}, ovc)
	s.mu.Lock()
	defer s.mu.Unlock()
	if apierrors.IsNotFound(err) {
		s.key, s.cfg = "", nil
		s.prob = &problem{v1.ReasonNoCluster, "no OverlayCluster named default: create one to allocate pod CIDRs"}
		return nil, s.prob, nil
	}
	if err != nil {
		return nil, nil, err
	}
	key := fmt.Sprintf("%s/%d", ovc.UID, ovc.Generation)
	if key != s.key {
		s.key = key
		s.resolve(ctx, ovc)
	}
	if s.cfg != nil {
		// Cheap when nothing changed; rebuilds the pools after a Load.
		if _, err := s.Alloc.Sync(PoolSpecs(s.cfg)); err != nil {
			return nil, nil, err
		}
	}
	return s.cfg, s.prob, nil
}

func (s *ClusterState) resolve(ctx context.Context, ovc *v1.OverlayCluster) {
	cfg, err := netconf.Resolve(&ovc.Spec)
	if err != nil {
		s.prob = &problem{v1.ReasonInvalidConfig, err.Error()}
		return
	}
	if s.Validate != nil {
		if msgs := s.Validate(ctx, ovc); len(msgs) > 0 {
			s.prob = &problem{v1.ReasonInvalidConfig, strings.Join(msgs, "; ")}
			return
		}
	}
	// The mode the nodes are in is the status's; a spec may only move it to Overlay.
	if from := ovc.Status.Mode; from != "" && from != cfg.Mode && cfg.Mode != v1.ModeOverlay {
		s.prob = &problem{v1.ReasonInvalidConfig, fmt.Sprintf(
			"spec.mode: %s → %s is refused: only Kubenet or NodeSubnet → Overlay is allowed, and leaving Overlay is irreversible (R52)", from, cfg.Mode)}
		return
	}
	s.cfg, s.prob = cfg, nil
}

// Stranded returns the blocks that a removed or narrowed pod CIDR still holds: what the
// allocator's last Sync of the configuration found.
func (s *ClusterState) Stranded() SyncResult {
	return s.Alloc.Synced()
}
