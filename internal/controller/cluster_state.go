package controller

import (
	"context"
	"fmt"
	"strings"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/allocation"
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
// currentMode is the mode the allocated nodes run in ("" when none is allocated).
type Validator func(ctx context.Context, ovc *v1.OverlayCluster, currentMode v1.NetworkMode) []string

// ClusterState is the resolved OverlayCluster shared by the reconcilers. It re-resolves when
// the object's generation changes or when what is allocated changes (block sizes, modes),
// and keeps the allocation state's pools in step with it.
type ClusterState struct {
	// Reader reads the OverlayCluster, the claims and the NodeNetworkConfigs (the
	// manager's cache).
	Reader client.Reader
	// Alloc receives the pools of each new configuration.
	Alloc *allocation.State
	// Validate is the rulebook; nil accepts every spec that resolves.
	Validate Validator
	// OnIgnoredClaim reports a malformed claim found while loading; may be nil.
	OnIgnoredClaim func(error)

	mu sync.Mutex
	// key identifies the resolved object and facts: UID, generation, allocation facts.
	key string
	// cfg is the last configuration that passed the rules; it keeps serving nodes that
	// are already allocated while a newer spec is invalid.
	cfg *netconf.Config
	// prob is why the current spec cannot be used, or nil.
	prob *problem
}

// Current returns the configuration to allocate with, and a problem when the newest spec is
// unusable (then cfg is the last good one, or nil). It loads the allocation state from the
// cache the first time, so no block is handed out before every existing claim and node
// configuration is known.
func (s *ClusterState) Current(ctx context.Context) (*netconf.Config, *problem, error) {
	if !s.Alloc.Ready() {
		if err := s.load(ctx); err != nil {
			return nil, nil, err
		}
	}
	ovc := &v1.OverlayCluster{}
	err := s.Reader.Get(ctx, client.ObjectKey{Name: v1.ClusterName}, ovc)
	s.mu.Lock()
	defer s.mu.Unlock()
	if apierrors.IsNotFound(err) {
		s.key, s.cfg = "", nil
		s.prob = &problem{v1.ReasonNoCluster, "no OverlayCluster named default: create one to allocate pod CIDRs; nodes that hold blocks keep them"}
		return nil, s.prob, nil
	}
	if err != nil {
		return nil, nil, err
	}
	facts := s.Alloc.Facts()
	key := fmt.Sprintf("%s/%d/%s", ovc.UID, ovc.Generation, facts.Key())
	if key != s.key {
		s.key = key
		s.resolve(ctx, ovc, facts)
	}
	if s.cfg != nil {
		// Cheap when nothing changed; rebuilds the pools after a Load.
		if _, err := s.Alloc.Sync(allocation.PoolSpecs(s.cfg)); err != nil {
			return nil, nil, err
		}
	}
	return s.cfg, s.prob, nil
}

func (s *ClusterState) load(ctx context.Context) error {
	claims := &v1.BlockClaimList{}
	if err := s.Reader.List(ctx, claims); err != nil {
		return fmt.Errorf("loading block claims: %w", err)
	}
	nncs := &v1.NodeNetworkConfigList{}
	if err := s.Reader.List(ctx, nncs, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("loading node network configs: %w", err)
	}
	nodes := make([]allocation.NodeConfig, 0, len(nncs.Items))
	for i := range nncs.Items {
		nodes = append(nodes, nodeConfigOf(&nncs.Items[i]))
	}
	for _, err := range s.Alloc.Load(claims.Items, nodes) {
		if s.OnIgnoredClaim != nil {
			s.OnIgnoredClaim(err)
		}
	}
	return nil
}

// nodeConfigOf is what the allocation state keeps of an NNC.
func nodeConfigOf(nnc *v1.NodeNetworkConfig) allocation.NodeConfig {
	return allocation.NodeConfig{Name: nnc.Name, Mode: nnc.Spec.Mode,
		Allocated: nnc.IsAllocated(), Programmed: nodeProgrammed(nnc)}
}

// resolve checks a spec against the rulebook and against what is allocated. The mode the
// nodes run in and the block sizes they hold come from the allocation (claims and node
// configurations), never from the OverlayCluster's status: an OverlayCluster deleted and
// created again is held to the same rules (R52, B1) as one that is edited.
func (s *ClusterState) resolve(ctx context.Context, ovc *v1.OverlayCluster, facts allocation.Facts) {
	cfg, err := netconf.Resolve(&ovc.Spec)
	if err != nil {
		s.prob = &problem{v1.ReasonInvalidConfig, err.Error()}
		return
	}
	var msgs []string
	if s.Validate != nil {
		msgs = s.Validate(ctx, ovc, facts.Legacy())
	}
	msgs = append(msgs, facts.Check(cfg)...)
	if len(msgs) > 0 {
		s.prob = &problem{v1.ReasonInvalidConfig, strings.Join(msgs, "; ")}
		return
	}
	s.cfg, s.prob = cfg, nil
}

// Stranded returns the blocks that a removed or narrowed pod CIDR still holds: what the
// allocation state's last Sync of the configuration found.
func (s *ClusterState) Stranded() allocation.SyncResult {
	return s.Alloc.Synced()
}
