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

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/overlaynet/overlaynet/api/v1alpha1"
)

// PluginOptions are kubectl-overlaynet's settings beyond its flags.
type PluginOptions struct {
	// Streams are standard input, output and error.
	Streams genericiooptions.IOStreams
	// Now is the clock for the growth rate; time.Now when nil.
	Now func() time.Time
}

// RunPlugin runs kubectl-overlaynet with args (without the program name) and returns the
// exit code: ExitOK, ExitInvalid (validate, plan; explain of a node that is not Allocated
// and Programmed) or ExitUnusable.
func RunPlugin(args []string, opts PluginOptions) int {
	cmd := NewPluginCommand(opts)
	cmd.SetArgs(args)
	return exitCode(cmd.Execute(), opts.Streams.ErrOut, "kubectl overlaynet")
}

// NewPluginCommand returns the kubectl-overlaynet command tree: the cluster commands
// (status, nodes, explain), which read the cluster through the standard kubeconfig flags,
// and overlayctl's offline validate and plan.
func NewPluginCommand(opts PluginOptions) *cobra.Command {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := opts.Streams
	root := &cobra.Command{
		Use:   "kubectl-overlaynet",
		Short: "See and check an overlaynet cluster: address space, nodes, and why a node is not ready",
		Long: "kubectl overlaynet shows the pod address space of an overlaynet cluster and the state of its\n" +
			"nodes, explains why a node is not Allocated or not Programmed, and validates and plans\n" +
			"OverlayCluster files offline.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl overlaynet"},
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.ErrOut)
	flags := genericclioptions.NewConfigFlags(true)
	flags.AddFlags(root.PersistentFlags())
	reader := &clusterReader{flags: flags}

	var window time.Duration
	status := &cobra.Command{
		Use:   "status",
		Short: "The address space per family, the Allocated and Programmed node counts and a migration's progress",
		Long: "status draws each family's pod address space: blocks used and free, the nodes waiting for\n" +
			"space, and the time to exhaustion at the recent growth rate. The growth rate is the number\n" +
			"of NodeNetworkConfigs created within --growth-window (one per node that joined and is still\n" +
			"there, each taking one block per family), divided by the window.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			snap, err := reader.read(cmd.Context())
			if err != nil {
				return err
			}
			WriteStatus(s.Out, snap, opts.Now(), window)
			return nil
		},
	}
	status.Flags().DurationVar(&window, "growth-window", 24*time.Hour, "how far back the growth rate looks")

	nodes := &cobra.Command{
		Use:   "nodes",
		Short: "One line per node: mode, blocks, node IPs, max pods, Allocated and Programmed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			snap, err := reader.read(cmd.Context())
			if err != nil {
				return err
			}
			WriteNodes(s.Out, snap)
			return nil
		},
	}

	explain := &cobra.Command{
		Use:   "explain NODE",
		Short: "Why a node is not Allocated or not Programmed, in words, with the rule ids",
		Long:  "explain prints what the node's NodeNetworkConfig says and what to do. It exits 0 when the node\nis Allocated and Programmed and 1 when it is not.",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			snap, err := reader.read(cmd.Context())
			if err != nil {
				return err
			}
			e, err := Explain(snap, args[0])
			if err != nil {
				return unusable("%v", err)
			}
			WriteExplanation(s.Out, args[0], e)
			if !e.OK {
				return errNotReady
			}
			return nil
		},
	}
	root.AddCommand(status, nodes, explain, newValidateCommand(s.In, s.Out, s.ErrOut), newPlanCommand(s.In, s.Out, s.ErrOut))
	return root
}

// errNotReady is explain's verdict for a node that is not Allocated and Programmed.
var errNotReady = &exitError{code: ExitInvalid, err: errors.New("the node is not ready")}

// exitCode turns a command's error into an exit code, printing it unless it is a verdict.
func exitCode(err error, stderr io.Writer, program string) int {
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.code == ExitUnusable {
			fmt.Fprintf(stderr, "error: %v\n", ee.err)
		}
		return ee.code
	}
	// Cobra's own errors: unknown commands and flags, missing arguments.
	fmt.Fprintf(stderr, "error: %v\nRun '%s --help' for usage.\n", err, program)
	return ExitUnusable
}

// clusterReader reads a Snapshot through the kubeconfig flags.
type clusterReader struct {
	flags *genericclioptions.ConfigFlags
}

// scheme knows Nodes and the overlaynet types.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1.AddToScheme(s))
	return s
}()

func (r *clusterReader) read(ctx context.Context) (*Snapshot, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	cfg, err := r.flags.ToRESTConfig()
	if err != nil {
		return nil, unusable("%v", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, unusable("%v", err)
	}
	snap := &Snapshot{Cluster: &v1.OverlayCluster{}, NNCs: map[string]*v1.NodeNetworkConfig{}}
	if err := c.Get(ctx, client.ObjectKey{Name: v1.ClusterName}, snap.Cluster); err != nil {
		if !apierrors.IsNotFound(err) {
			return nil, unusable("reading overlaycluster/%s: %v", v1.ClusterName, err)
		}
		snap.Cluster = nil
	}
	nodes := &corev1.NodeList{}
	if err := c.List(ctx, nodes); err != nil {
		return nil, unusable("listing nodes: %v", err)
	}
	snap.Nodes = nodes.Items
	slices.SortFunc(snap.Nodes, func(a, b corev1.Node) int { return strings.Compare(a.Name, b.Name) })
	nncs := &v1.NodeNetworkConfigList{}
	if err := c.List(ctx, nncs); err != nil {
		return nil, unusable("listing nodenetworkconfigs: %v", err)
	}
	for i := range nncs.Items {
		snap.NNCs[nncs.Items[i].Name] = &nncs.Items[i]
	}
	return snap, nil
}
