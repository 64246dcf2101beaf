package desired

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"strings"

	"github.com/overlaynet/overlaynet/api/v1alpha1"
	"github.com/overlaynet/overlaynet/internal/nodesubnet"
)

// CNI defaults.
const (
	// DefaultNetworkName is the CNI network name, which host-local also uses as the
	// directory of its reservations.
	DefaultNetworkName = "overlaynet"
	// CNIVersion is the CNI specification version of the configuration.
	CNIVersion = "1.0.0"
)

// CNIOptions tune the CNI configuration beyond what the NodeNetworkConfig says.
type CNIOptions struct {
	// NetworkName is the CNI network name; DefaultNetworkName when empty.
	NetworkName string
	// MTU is the pod interface MTU; 0 leaves the plugin's default (the host's).
	MTU int
	// IPAMDataDir is where host-local keeps its reservations; empty leaves the plugin's
	// default (/var/lib/cni/networks). Tests running several nodes on one host set it.
	IPAMDataDir string
}

// CNI is a node's CNI configuration.
type CNI struct {
	// Conflist is the configuration list, ready to write into the CNI configuration
	// directory.
	Conflist []byte
	// Ranges are the host-local ranges: one per family for blocks, one per contiguous run
	// of a NodeSubnet reservation.
	Ranges []Range
	// Capacity is the number of pods the node can host: for blocks the smallest range,
	// since a pod takes one address of every family; for a reservation its size.
	Capacity int
	// Source says where pod addresses come from, for messages: the blocks, or the
	// reservation and its subnet.
	Source string
}

// Range is the part of a block, or a run of a reservation, that host-local hands out.
type Range struct {
	// Subnet is the node's block, or the node subnet of a reservation.
	Subnet netip.Prefix
	// Gateway is the block's first host, or for a reservation the node's own address.
	// ptp puts it on the host side of every pod's veth, so it is never a pod address.
	Gateway netip.Addr
	// Start and End bound the pod addresses, both included.
	Start, End netip.Addr
	// Size is the number of addresses from Start to End.
	Size int
}

// BuildCNI returns the CNI configuration of a node with these blocks (one per family) and
// this pod limit: the reference ptp plugin with host-local IPAM, one range set per family,
// and portmap.
//
// R12: each range holds exactly maxPods addresses, from the block's second host on, so that
// host-local can never hand out more than maxPods addresses on the node, whatever happens
// to its reservations; a block too small for maxPods is used whole and named in a warning.
// ptp gets ipMasq false because the agent's nftables rules do the SNAT (R15).
func BuildCNI(blocks []netip.Prefix, maxPods int, opts CNIOptions) (CNI, []string, error) {
	if maxPods <= 0 {
		return CNI{}, nil, fmt.Errorf("maxPods %d is not positive (R12)", maxPods)
	}
	var (
		out      CNI
		warnings []string
		ranges   [][]hostLocalRange
		routes   []cniRoute
	)
	for _, f := range familiesOf(blocks) {
		block := ofFamily(blocks, f)[0]
		r, err := podRange(block, maxPods)
		if err != nil {
			return CNI{}, nil, err
		}
		if r.Size < maxPods {
			warnings = append(warnings, fmt.Sprintf("block %s holds only %d pod addresses, fewer than maxPods %d (R12)", block, r.Size, maxPods))
		}
		if out.Capacity == 0 || r.Size < out.Capacity {
			out.Capacity = r.Size
		}
		out.Ranges = append(out.Ranges, r)
		ranges = append(ranges, []hostLocalRange{{
			Subnet:     r.Subnet.String(),
			RangeStart: r.Start.String(),
			RangeEnd:   r.End.String(),
			Gateway:    r.Gateway.String(),
		}})
		def := "0.0.0.0/0"
		if f == v1alpha1.IPv6 {
			def = "::/0"
		}
		routes = append(routes, cniRoute{Dst: def})
	}
	blockNames := make([]string, len(out.Ranges))
	for i, r := range out.Ranges {
		blockNames[i] = r.Subnet.String()
	}
	out.Source = strings.Join(blockNames, ", ")
	var err error
	if out.Conflist, err = encodeConflist(ranges, routes, opts); err != nil {
		return CNI{}, nil, err
	}
	return out, warnings, nil
}

// BuildNodeSubnetCNI returns the CNI configuration of a NodeSubnet node: host-local hands
// out exactly the reserved addresses (R40), one range per run, each with the node
// subnet's prefix length. The reservation holds maxPods addresses, so it is the pod limit
// too (R41).
//
// The pods' gateway is the node's own address, gw. ptp installs the default route before
// the route to the gateway, so the gateway must lie inside the pod's subnet, and every
// other address of a node subnet belongs to a node, a pod or the cloud (R40). ptp puts it
// on the host side of each pod's veth as a /32, next to the node's interface, which the
// kernel allows.
func BuildNodeSubnetCNI(subnet netip.Prefix, gw netip.Addr, reserved []nodesubnet.Run, opts CNIOptions) (CNI, error) {
	if len(reserved) == 0 {
		return CNI{}, errors.New("no reserved addresses to hand out (R40)")
	}
	if !gw.Is4() || !subnet.Contains(gw) {
		return CNI{}, fmt.Errorf("the node address %v, the pods' gateway, is not an IPv4 address of node subnet %s (R40)", gw, subnet)
	}
	var (
		out    CNI
		ranges []hostLocalRange
	)
	for _, r := range reserved {
		if !r.First.Is4() || !subnet.Contains(r.First) || !subnet.Contains(r.Last) {
			return CNI{}, fmt.Errorf("reserved addresses %s-%s are not IPv4 addresses of node subnet %s (R40)", r.First, r.Last, subnet)
		}
		if r.Contains(gw) {
			return CNI{}, fmt.Errorf("reserved addresses %s-%s hold the node's own address %s (R40)", r.First, r.Last, gw)
		}
		n := r.Len()
		out.Ranges = append(out.Ranges, Range{Subnet: subnet, Gateway: gw, Start: r.First, End: r.Last, Size: n})
		out.Capacity += n
		ranges = append(ranges, hostLocalRange{
			Subnet:     subnet.String(),
			RangeStart: r.First.String(),
			RangeEnd:   r.Last.String(),
			Gateway:    gw.String(),
		})
	}
	out.Source = fmt.Sprintf("the %d reserved addresses of node subnet %s", out.Capacity, subnet)
	var err error
	out.Conflist, err = encodeConflist([][]hostLocalRange{ranges}, []cniRoute{{Dst: "0.0.0.0/0"}}, opts)
	if err != nil {
		return CNI{}, err
	}
	return out, nil
}

// encodeConflist renders the ptp + host-local + portmap configuration list of the network
// opts names (DefaultNetworkName when it names none).
func encodeConflist(ranges [][]hostLocalRange, routes []cniRoute, opts CNIOptions) ([]byte, error) {
	conf := conflist{
		CNIVersion: CNIVersion,
		Name:       cmp.Or(opts.NetworkName, DefaultNetworkName),
		Plugins: []any{
			ptpConf{
				Type:   "ptp",
				IPMasq: false,
				MTU:    opts.MTU,
				IPAM: hostLocalConf{
					Type:    "host-local",
					Ranges:  ranges,
					Routes:  routes,
					DataDir: opts.IPAMDataDir,
				},
			},
			portmapConf{Type: "portmap", Capabilities: map[string]bool{"portMappings": true}},
		},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the CNI configuration: %w", err)
	}
	return append(b, '\n'), nil
}

// podRange returns the range of a block that holds at most maxPods addresses: the network
// address (and for IPv4 the broadcast address) and the gateway are never handed out.
func podRange(block netip.Prefix, maxPods int) (Range, error) {
	block = block.Masked()
	hostBits := block.Addr().BitLen() - block.Bits()
	reserved := 3 // network, gateway, broadcast
	if block.Addr().Is6() {
		reserved = 2 // subnet-router anycast, gateway
	}
	usable := maxPods
	if hostBits < 31 {
		usable = min(maxPods, 1<<hostBits-reserved)
	}
	if usable < 1 {
		return Range{}, fmt.Errorf("block %s is too small to hold a pod", block)
	}
	gw := block.Addr().Next()
	start := gw.Next()
	return Range{
		Subnet:  block,
		Gateway: gw,
		Start:   start,
		End:     addN(start, uint64(usable-1)),
		Size:    usable,
	}, nil
}

// addN returns a+n, wrapping within the address family.
func addN(a netip.Addr, n uint64) netip.Addr {
	b := a.As16()
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	lo, carry := bits.Add64(lo, n, 0)
	hi += carry
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	out := netip.AddrFrom16(b)
	if a.Is4() {
		return out.Unmap()
	}
	return out
}

// The configuration's JSON shape, as the reference plugins read it.
type (
	conflist struct {
		CNIVersion string `json:"cniVersion"`
		Name       string `json:"name"`
		Plugins    []any  `json:"plugins"`
	}
	ptpConf struct {
		Type   string        `json:"type"`
		IPMasq bool          `json:"ipMasq"`
		MTU    int           `json:"mtu,omitempty"`
		IPAM   hostLocalConf `json:"ipam"`
	}
	hostLocalConf struct {
		Type    string             `json:"type"`
		Ranges  [][]hostLocalRange `json:"ranges"`
		Routes  []cniRoute         `json:"routes"`
		DataDir string             `json:"dataDir,omitempty"`
	}
	hostLocalRange struct {
		Subnet     string `json:"subnet"`
		RangeStart string `json:"rangeStart"`
		RangeEnd   string `json:"rangeEnd"`
		Gateway    string `json:"gateway"`
	}
	cniRoute struct {
		Dst string `json:"dst"`
	}
	portmapConf struct {
		Type         string          `json:"type"`
		Capabilities map[string]bool `json:"capabilities"`
	}
)
