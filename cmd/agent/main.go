// Command agent is the overlaynet node agent. It runs on every node (DaemonSet, host
// network), programs routes to the other nodes' pod blocks and SNAT from its node's
// NodeNetworkConfig and its peers', writes the node's CNI configuration, and reports the
// Programmed condition.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	networkv1alpha1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/agent"
	"github.com/overlaynet/overlaynet/internal/agent/datapath/linux"
	"github.com/overlaynet/overlaynet/internal/agent/desired"
	"github.com/overlaynet/overlaynet/internal/agent/leasegc"
)

func main() {
	var (
		nodeName     string
		cniConfDir   string
		cniBinDir    string
		probeAddr    string
		metricsAddr  string
		resyncPeriod time.Duration
		mtu          int
		ipamDataDir  string
		gcPeriod     time.Duration
		gcGrace      time.Duration
	)
	flag.StringVar(&nodeName, "node-name", os.Getenv("NODE_NAME"), "The node this agent runs on (default $NODE_NAME, from the downward API).")
	flag.StringVar(&cniConfDir, "cni-conf-dir", agent.DefaultCNIConfDir, "The container runtime's CNI configuration directory.")
	flag.StringVar(&cniBinDir, "cni-bin-dir", agent.DefaultCNIBinDir, "Where the runtime finds CNI plugins; the agent checks that ptp, host-local, portmap and loopback are executable there. Empty skips the check.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8082", "The address of the health and readiness probes; readiness passes once the datapath is programmed. 0 disables them.")
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0", "The address of the metrics endpoint (for example :8083); 0 disables it.")
	flag.DurationVar(&resyncPeriod, "resync-period", agent.DefaultResyncPeriod, "Interval of full resyncs that read the kernel back and repair drift.")
	flag.IntVar(&mtu, "mtu", 0, "MTU of pod interfaces; 0 keeps the plugin's default.")
	flag.StringVar(&ipamDataDir, "ipam-data-dir", "", "Where host-local keeps the pods' addresses; empty keeps its default, "+agent.DefaultIPAMDataDir+". The agent reads it to keep pods that outlive a migration working.")
	flag.DurationVar(&gcPeriod, "ipam-gc-period", leasegc.DefaultPeriod, "Interval at which the agent releases host-local reservations that no pod holds (a sandbox that failed half-way); 0 disables it.")
	flag.DurationVar(&gcGrace, "ipam-gc-grace", leasegc.DefaultGrace, "Minimum age of a reservation without a route to its pod before the agent releases it.")
	opts := zap.Options{}
	opts.BindFlags(flag.CommandLine)
	flag.Parse() // --kubeconfig is registered by controller-runtime
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))
	log := ctrl.Log.WithName("setup")

	if nodeName == "" {
		log.Error(nil, "No node name: set --node-name or NODE_NAME")
		os.Exit(2)
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(networkv1alpha1.AddToScheme(scheme))

	hostNS, err := netns.Get()
	if err != nil {
		log.Error(err, "Unable to open the host network namespace")
		os.Exit(1)
	}
	backend, err := linux.New(hostNS, linux.Options{})
	_ = hostNS.Close()
	if err != nil {
		log.Error(err, "Unable to set up the datapath")
		os.Exit(1)
	}
	defer backend.Close()

	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), agent.ManagerOptions(nodeName, scheme, metricsAddr, probeAddr))
	if err != nil {
		log.Error(err, "Unable to create manager")
		os.Exit(1)
	}
	a, err := agent.SetupWithManager(mgr, agent.Options{
		NodeName:     nodeName,
		Datapath:     backend,
		CNIConfDir:   cniConfDir,
		CNIBinDir:    cniBinDir,
		ResyncPeriod: resyncPeriod,
		CNI:          desired.CNIOptions{MTU: mtu, IPAMDataDir: ipamDataDir},
	})
	if err != nil {
		log.Error(err, "Unable to set up the agent")
		os.Exit(1)
	}
	if gcPeriod > 0 {
		if err := mgr.Add(leaseReclaimer(agent.LeaseDir(desired.CNIOptions{IPAMDataDir: ipamDataDir}), gcPeriod, gcGrace)); err != nil {
			log.Error(err, "Unable to set up the reclaimer of host-local reservations")
			os.Exit(1)
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		log.Error(err, "Unable to set up health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("programmed", a.Ready); err != nil {
		log.Error(err, "Unable to set up ready check")
		os.Exit(1)
	}

	log.Info("Starting node agent", "node", nodeName)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		log.Error(err, "Problem running the agent")
		os.Exit(1)
	}
}

// leaseReclaimer releases, every period, the host-local reservations of dir whose address
// has no route to a pod in the agent's (the host's) network namespace (package leasegc).
func leaseReclaimer(dir string, period, grace time.Duration) manager.RunnableFunc {
	return func(ctx context.Context) error {
		log := ctrl.Log.WithName("ipam-gc")
		h, err := netlink.NewHandle()
		if err != nil {
			return fmt.Errorf("opening netlink: %w", err)
		}
		defer h.Close()
		r := &leasegc.Reclaimer{Dir: dir, Grace: grace, Live: func() (map[netip.Addr]bool, error) { return leasegc.PodRoutes(h) }}
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			removed, err := r.Run()
			for _, l := range removed {
				log.Info("Released the address of a sandbox that is gone", "address", l.Addr, "container", l.ContainerID, "interface", l.IfName, "reservedAt", l.ModTime)
			}
			if err != nil {
				log.Error(err, "Releasing host-local reservations that no pod holds", "dir", dir)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}
}
