package topology

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/containernetworking/cni/libcni"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"github.com/vishvananda/netns"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
)

// Pod is a pod sandbox: a network namespace wired by the node's CNI configuration.
type Pod struct {
	// Name is the pod's name.
	Name string
	// Node is the node the pod runs on.
	Node *Host
	// NS is the pod's network namespace.
	NS netns.NsHandle
	// IPs are the addresses CNI gave the pod, IPv4 first.
	IPs []netip.Addr

	containerID string
	binDir      string
}

// IP returns the pod's address of a family.
func (p *Pod) IP(f v1alpha1.IPFamily) netip.Addr { return addrOf(p.IPs, f) }

// AddPod starts a pod on the node the way a container runtime does: it creates the
// sandbox's network namespace, loads the first configuration of the node's CNI
// configuration directory, and runs the plugins' ADD from the node's namespace with the
// Kubernetes CNI_ARGS. A failed ADD is followed by a DEL, as the runtime does, and its
// error is returned as the plugins reported it.
func (h *Host) AddPod(ctx context.Context, binDir, name string) (*Pod, error) {
	list, err := loadConf(h.CNIConfDir())
	if err != nil {
		return nil, err
	}
	ns, err := NewNetNS()
	if err != nil {
		return nil, err
	}
	p := &Pod{Name: name, Node: h, NS: ns, containerID: randomID(), binDir: binDir}
	cni := libcni.NewCNIConfigWithCacheDir([]string{binDir}, h.CNICacheDir(), nil)
	rt := p.runtimeConf()
	var res *types100.Result
	err = h.InNetNS(func() error {
		r, err := cni.AddNetworkList(ctx, list, rt)
		if err != nil {
			return err
		}
		res, err = types100.NewResultFromResult(r)
		return err
	})
	if err != nil {
		derr := h.InNetNS(func() error { return cni.DelNetworkList(context.WithoutCancel(ctx), list, rt) })
		_ = ns.Close()
		return nil, errors.Join(fmt.Errorf("CNI ADD of pod %s on %s: %w", name, h.Name, err), derr)
	}
	for _, ipc := range res.IPs {
		a, _ := netip.AddrFromSlice(ipc.Address.IP)
		p.IPs = append(p.IPs, a.Unmap())
	}
	slices.SortFunc(p.IPs, netip.Addr.Compare)
	return p, nil
}

// Delete runs the plugins' DEL, as the runtime does when the pod goes, and destroys the
// pod's namespace.
func (p *Pod) Delete(ctx context.Context) error {
	if !p.NS.IsOpen() {
		return nil
	}
	list, err := loadConf(p.Node.CNIConfDir())
	if err == nil {
		cni := libcni.NewCNIConfigWithCacheDir([]string{p.binDir}, p.Node.CNICacheDir(), nil)
		err = p.Node.InNetNS(func() error { return cni.DelNetworkList(ctx, list, p.runtimeConf()) })
	}
	if err != nil {
		err = fmt.Errorf("CNI DEL of pod %s on %s: %w", p.Name, p.Node.Name, err)
	}
	cerr := p.NS.Close()
	p.NS = netns.None()
	return errors.Join(err, cerr)
}

func (p *Pod) runtimeConf() *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID: p.containerID,
		NetNS:       NsPath(p.NS),
		IfName:      "eth0",
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", "default"},
			{"K8S_POD_NAME", p.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", p.containerID},
		},
	}
}

// loadConf picks the node's network like a runtime: the first configuration file of the
// directory in lexical order.
func loadConf(dir string) (*libcni.NetworkConfigList, error) {
	files, err := libcni.ConfFiles(dir, []string{".conf", ".conflist", ".json"})
	if err != nil {
		return nil, fmt.Errorf("reading CNI configuration directory %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no CNI configuration in %s: the node's network is not ready", dir)
	}
	slices.Sort(files)
	list, err := libcni.NetworkConfFromFile(files[0])
	if err != nil {
		return nil, fmt.Errorf("loading CNI configuration %s: %w", files[0], err)
	}
	return list, nil
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
