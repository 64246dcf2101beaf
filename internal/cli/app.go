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

// Package cli is overlayctl and kubectl-overlaynet: it validates an OverlayCluster offline with the same rulebook
// the API server and the controller enforce (internal/validation), and plans its capacity
// (internal/plan). Run is the whole program, so tests drive it with buffers.
package cli

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/plan"
	"github.com/overlaynet/overlaynet/internal/validation"
)

// Exit codes.
const (
	// ExitOK means the configuration is valid (validate) or was planned (plan).
	ExitOK = 0
	// ExitInvalid means the configuration breaks at least one rule.
	ExitInvalid = 1
	// ExitUnusable means the input or the command line could not be used: a missing file,
	// malformed YAML, another kind, unknown fields, a bad flag.
	ExitUnusable = 2
)

// exitError carries an exit code up through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func unusable(format string, args ...any) error {
	return &exitError{code: ExitUnusable, err: fmt.Errorf(format, args...)}
}

// errInvalid reports that the configuration breaks rules; the violations are printed.
var errInvalid = &exitError{code: ExitInvalid, err: errors.New("the configuration is invalid")}

// Run runs overlayctl with args (without the program name) and returns the exit code.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	cmd := NewCommand(stdin, stdout, stderr)
	cmd.SetArgs(args)
	return exitCode(cmd.Execute(), stderr, "overlayctl")
}

// NewCommand returns the overlayctl command tree.
func NewCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "overlayctl",
		Short: "Validate and plan overlaynet OverlayCluster configurations offline",
		Long: "overlayctl checks an OverlayCluster, written as for kubectl apply, against the rules the API\n" +
			"server and the overlaynet controller enforce, and answers capacity questions before anything\n" +
			"is deployed: how many nodes and pods it fits.",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newValidateCommand(stdin, stdout, stderr), newPlanCommand(stdin, stdout, stderr))
	return root
}

// load reads and decodes the OverlayCluster in path ("-" for standard input).
func load(path string, stdin io.Reader) (*v1alpha1.OverlayCluster, error) {
	if path == "" {
		return nil, unusable("-f is required: the file holding the OverlayCluster, or - for standard input")
	}
	data, err := readFile(path, stdin)
	if err != nil {
		return nil, unusable("reading %s: %v", path, err)
	}
	oc, err := decodeCluster(data)
	if err != nil {
		return nil, unusable("%s: %v", displayName(path), err)
	}
	return oc, nil
}

func displayName(path string) string {
	if path == "-" {
		return "standard input"
	}
	return path
}

func newValidateCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var (
		file, oldFile, kubeVersion, currentMode string
		dockerWindowsNodes                      []string
	)
	cmd := &cobra.Command{
		Use:   "validate -f FILE",
		Short: "Check an OverlayCluster against every rule and print each violation",
		Long: "validate prints every rule the OverlayCluster breaks, one per line, and exits 0 when it is valid,\n" +
			"1 when it is not and 2 when the input cannot be used.\n\n" +
			"Rules that need facts about the running cluster (R19, R50) are checked when the facts are given:\n" +
			"--kubernetes-version, --current-mode and --docker-windows-node. With --old, the file is checked\n" +
			"as an update of the old configuration (R50, R51, R52, B1), and a migration's warnings (R54) are\n" +
			"printed on standard error.",
		Example: "  overlayctl validate -f config/samples/network_v1alpha1_overlaycluster.yaml\n" +
			"  kubectl get ovc default -o yaml | overlayctl validate -f - --kubernetes-version v1.30.2",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			oc, err := load(file, stdin)
			if err != nil {
				return err
			}
			facts := validation.ClusterFacts{
				KubernetesVersion:  kubeVersion,
				DockerWindowsNodes: dockerWindowsNodes,
				CurrentMode:        v1alpha1.NetworkMode(currentMode),
			}
			if currentMode != "" && !slices.Contains([]v1alpha1.NetworkMode{v1alpha1.ModeOverlay, v1alpha1.ModeKubenet, v1alpha1.ModeNodeSubnet}, facts.CurrentMode) {
				return unusable("--current-mode %q is not one of Overlay, Kubenet, NodeSubnet", currentMode)
			}

			vs := validation.ValidateObject(oc)
			var warnings []string
			if oldFile != "" {
				old, err := load(oldFile, stdin)
				if err != nil {
					return err
				}
				if facts.CurrentMode == "" {
					facts.CurrentMode = old.Spec.Mode
					if facts.CurrentMode == "" {
						facts.CurrentMode = v1alpha1.ModeOverlay
					}
				}
				vs = append(vs, validation.ValidateTransition(&old.Spec, &oc.Spec)...)
				warnings = validation.MigrationWarnings(&old.Spec, &oc.Spec)
			} else if facts.CurrentMode != "" {
				warnings = validation.MigrationWarnings(&v1alpha1.OverlayClusterSpec{Mode: facts.CurrentMode}, &oc.Spec)
			}
			vs = append(vs, validation.ValidateCluster(&oc.Spec, facts)...)
			// The update and the cluster's state may both break a migration rule (R50's
			// network policy, seen from the old spec and from the nodes' mode): say it once.
			seen := map[validation.Violation]bool{}
			vs = slices.DeleteFunc(vs, func(v validation.Violation) bool {
				dup := seen[v]
				seen[v] = true
				return dup
			})

			for _, w := range warnings {
				fmt.Fprintf(stderr, "warning: %s\n", w)
			}
			if len(vs) > 0 {
				for _, v := range vs {
					fmt.Fprintln(stdout, v.Error())
				}
				fmt.Fprintf(stderr, "overlaycluster/%s is invalid: %d %s (%s)\n", oc.Name, len(vs), plural(len(vs), "violation", "violations"), strings.Join(vs.Rules(), ", "))
				return errInvalid
			}
			fmt.Fprintf(stdout, "overlaycluster/%s is valid\n", oc.Name)
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "file holding the OverlayCluster, or - for standard input")
	cmd.Flags().StringVar(&oldFile, "old", "", "the configuration the file replaces: check the update too")
	cmd.Flags().StringVar(&kubeVersion, "kubernetes-version", "", "the cluster's Kubernetes version, such as v1.30.2 (R19, R50)")
	cmd.Flags().StringVar(&currentMode, "current-mode", "", "the mode the cluster's nodes run in now, for a migration's checks (R50, R54)")
	cmd.Flags().StringSliceVar(&dockerWindowsNodes, "docker-windows-node", nil, "a Windows node on the docker container runtime (R50); repeatable")
	return cmd
}

func newPlanCommand(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	var (
		file, output string
		nodes        int64
	)
	cmd := &cobra.Command{
		Use:   "plan -f FILE",
		Short: "Print how many nodes and pods an OverlayCluster fits",
		Long: "plan prints the capacity of a valid OverlayCluster: node blocks per family, node subnets, how\n" +
			"many nodes fit and what bounds them, how many pods they run, and the room left for upgrades.\n" +
			"An invalid configuration is not planned: its violations are printed and plan exits 1.",
		Example: "  overlayctl plan -f config/samples/network_v1alpha1_overlaycluster_kubenet.yaml\n" +
			"  overlayctl plan -f cluster.yaml --nodes 5000 -o json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return unusable("-o %q is not table or json", output)
			}
			if nodes < 0 {
				return unusable("--nodes %d is negative", nodes)
			}
			oc, err := load(file, stdin)
			if err != nil {
				return err
			}
			vs := validation.ValidateObject(oc)
			vs = append(vs, validation.ValidateCluster(&oc.Spec, validation.ClusterFacts{})...)
			if len(vs) > 0 {
				for _, v := range vs {
					fmt.Fprintln(stderr, v.Error())
				}
				fmt.Fprintf(stderr, "overlaycluster/%s is invalid, not planned: run overlayctl validate for details\n", oc.Name)
				return errInvalid
			}
			p, err := plan.New(&oc.Spec, plan.Facts{Nodes: nodes})
			if err != nil {
				return unusable("planning overlaycluster/%s: %v", oc.Name, err)
			}
			if output == "json" {
				return writeJSON(stdout, p)
			}
			return writeTable(stdout, p)
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "file holding the OverlayCluster, or - for standard input")
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table or json")
	cmd.Flags().Int64Var(&nodes, "nodes", 0, "the number of nodes the cluster has or will have, for the headroom")
	return cmd
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
