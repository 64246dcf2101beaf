// Command manager runs the overlaynet controllers: it allocates every Node a block of the
// pod address space and reports the state of that space on the OverlayCluster.
package main

import (
	"crypto/tls"
	"flag"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	networkv1alpha1 "github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/controller"
)

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(networkv1alpha1.AddToScheme(scheme))
}

func main() {
	var (
		metricsAddr          string
		probeAddr            string
		enableLeaderElection bool
		secureMetrics        bool
		enableHTTP2          bool
		qps                  float64
		burst                int
		workers              int
		projectPodCIDRs      bool
	)
	flag.StringVar(&metricsAddr, "metrics-bind-address", "0", "The address the metrics endpoint binds to. "+
		"Use :8443 for HTTPS or :8080 for HTTP, or leave as 0 to disable the metrics service.")
	flag.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "The address the probe endpoint binds to; 0 disables it.")
	flag.BoolVar(&enableLeaderElection, "leader-elect", false,
		"Enable leader election, so that only one manager allocates at a time. "+
			"Correctness does not depend on it: block claims make the API server refuse duplicates.")
	flag.BoolVar(&secureMetrics, "metrics-secure", true, "Serve metrics over HTTPS with authentication and authorization.")
	flag.BoolVar(&enableHTTP2, "enable-http2", false, "Enable HTTP/2 for the metrics server (off by default: CVE-2023-44487).")
	flag.Float64Var(&qps, "kube-api-qps", -1, "Client-side rate limit on API requests per second; "+
		"negative disables it and leaves flow control to the API server's priority and fairness.")
	flag.IntVar(&burst, "kube-api-burst", 0, "Client-side burst, used only when --kube-api-qps is positive.")
	flag.IntVar(&workers, "workers", controller.DefaultWorkers, "Concurrent node reconciles.")
	var pprofAddr string
	flag.StringVar(&pprofAddr, "pprof-bind-address", "0", "The address the pprof endpoint binds to; 0 disables it.")
	flag.BoolVar(&projectPodCIDRs, "project-node-pod-cidrs", false,
		"Set each Node's spec.podCIDRs from its blocks (once; blocks never move), for kube-proxy's --detect-local-mode=NodeCIDR and "+
			"other readers of a node's pod range. Needs patch on nodes (config/components/node-podcidrs, Helm manager.projectNodePodCIDRs).")
	opts := zap.Options{Development: false}
	opts.BindFlags(flag.CommandLine)
	flag.Parse()

	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&opts)))

	var tlsOpts []func(*tls.Config)
	if !enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{
		BindAddress:   metricsAddr,
		SecureServing: secureMetrics,
		TLSOpts:       tlsOpts,
	}
	if secureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}

	cfg := ctrl.GetConfigOrDie()
	cfg.QPS = float32(qps)
	if qps > 0 {
		cfg.Burst = burst
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsOpts,
		WebhookServer:          webhook.NewServer(webhook.Options{TLSOpts: tlsOpts}),
		HealthProbeBindAddress: probeAddr,
		LeaderElection:         enableLeaderElection,
		LeaderElectionID:       "overlaynet-manager.network.overlaynet.io",
		// The manager only writes status and its own objects, so stepping down quickly
		// is safe and shortens fail-over.
		LeaderElectionReleaseOnCancel: true,
		PprofBindAddress:              pprofAddr,
		// Cache only what the controllers read (B8: memory).
		Cache: controller.CacheOptions(),
	})
	if err != nil {
		setupLog.Error(err, "Unable to create manager")
		os.Exit(1)
	}

	if err := controller.SetupWithManager(mgr, controller.Options{Workers: workers}); err != nil {
		setupLog.Error(err, "Unable to set up controllers")
		os.Exit(1)
	}

	if projectPodCIDRs {
		if err := controller.SetupPodCIDRProjection(mgr); err != nil {
			setupLog.Error(err, "Unable to set up the Node pod CIDR projection")
			os.Exit(1)
		}
	}

	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		setupLog.Error(err, "Unable to set up health check")
		os.Exit(1)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		setupLog.Error(err, "Unable to set up ready check")
		os.Exit(1)
	}

	setupLog.Info("Starting manager")
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		setupLog.Error(err, "Problem running manager")
		os.Exit(1)
	}
}
