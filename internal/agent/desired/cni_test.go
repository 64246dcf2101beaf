package desired

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func rng(subnet, gw, start, end string, size int) Range {
	return Range{
		Subnet: pfx(subnet)[0], Gateway: addrs(gw)[0],
		Start: addrs(start)[0], End: addrs(end)[0], Size: size,
	}
}

func TestBuildCNIRanges(t *testing.T) {
	tests := []struct {
		name         string
		blocks       []string
		maxPods      int
		wantRanges   []Range
		wantCapacity int
		wantWarnings []string
	}{
		{
			name: "R12 maxPods 10 on a /24 hands out exactly 10 addresses after the gateway", blocks: []string{"10.244.1.0/24"}, maxPods: 10,
			wantRanges: []Range{rng("10.244.1.0/24", "10.244.1.1", "10.244.1.2", "10.244.1.11", 10)}, wantCapacity: 10,
		},
		{
			name: "R12 the default 250 fits a /24 with the gateway and broadcast kept out", blocks: []string{"10.244.1.0/24"}, maxPods: 250,
			wantRanges: []Range{rng("10.244.1.0/24", "10.244.1.1", "10.244.1.2", "10.244.1.251", 250)}, wantCapacity: 250,
		},
		{
			name: "R11 R12 dual-stack gets one range per family, each limited to maxPods", blocks: []string{"10.244.1.0/24", "fd12:3456:789a::100/120"}, maxPods: 250,
			wantRanges: []Range{
				rng("10.244.1.0/24", "10.244.1.1", "10.244.1.2", "10.244.1.251", 250),
				rng("fd12:3456:789a::100/120", "fd12:3456:789a::101", "fd12:3456:789a::102", "fd12:3456:789a::1fb", 250),
			},
			wantCapacity: 250,
		},
		{
			name: "a /64 IPv6 block is limited to maxPods too", blocks: []string{"10.244.1.0/24", "fd12:3456:789a:1::/64"}, maxPods: 30,
			wantRanges: []Range{
				rng("10.244.1.0/24", "10.244.1.1", "10.244.1.2", "10.244.1.31", 30),
				rng("fd12:3456:789a:1::/64", "fd12:3456:789a:1::1", "fd12:3456:789a:1::2", "fd12:3456:789a:1::1f", 30),
			},
			wantCapacity: 30,
		},
		{
			name: "B2 a block smaller than maxPods is used whole and named in a warning", blocks: []string{"10.244.1.16/28", "fd12:3456:789a::100/120"}, maxPods: 20,
			wantRanges: []Range{
				rng("10.244.1.16/28", "10.244.1.17", "10.244.1.18", "10.244.1.30", 13),
				rng("fd12:3456:789a::100/120", "fd12:3456:789a::101", "fd12:3456:789a::102", "fd12:3456:789a::115", 20),
			},
			wantCapacity: 13,
			wantWarnings: []string{"block 10.244.1.16/28 holds only 13 pod addresses, fewer than maxPods 20 (R12)"},
		},
		{
			name: "blocks given IPv6 first still yield IPv4 first", blocks: []string{"fd12:3456:789a::100/120", "10.244.1.0/24"}, maxPods: 10,
			wantRanges: []Range{
				rng("10.244.1.0/24", "10.244.1.1", "10.244.1.2", "10.244.1.11", 10),
				rng("fd12:3456:789a::100/120", "fd12:3456:789a::101", "fd12:3456:789a::102", "fd12:3456:789a::10b", 10),
			},
			wantCapacity: 10,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, warnings, err := BuildCNI(pfx(tt.blocks...), tt.maxPods, CNIOptions{})
			if err != nil {
				t.Fatalf("BuildCNI: %v", err)
			}
			if diff := cmp.Diff(tt.wantRanges, got.Ranges, equateNetip); diff != "" {
				t.Errorf("ranges (-want +got):\n%s", diff)
			}
			if got.Capacity != tt.wantCapacity {
				t.Errorf("capacity = %d, want %d", got.Capacity, tt.wantCapacity)
			}
			if diff := cmp.Diff(tt.wantWarnings, warnings, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBuildCNIErrors(t *testing.T) {
	tests := []struct {
		name    string
		blocks  []string
		maxPods int
		wantMsg string
	}{
		{name: "R12 maxPods 0 is refused", blocks: []string{"10.244.1.0/24"}, maxPods: 0, wantMsg: "maxPods 0 is not positive (R12)"},
		{name: "a /31 leaves no pod address", blocks: []string{"10.244.1.0/31"}, maxPods: 10, wantMsg: "block 10.244.1.0/31 is too small to hold a pod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := BuildCNI(pfx(tt.blocks...), tt.maxPods, CNIOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("BuildCNI error = %v, want one containing %q", err, tt.wantMsg)
			}
		})
	}
}

func TestBuildCNIConflist(t *testing.T) {
	got, _, err := BuildCNI(pfx("10.244.1.0/24", "fd12:3456:789a::100/120"), 10, CNIOptions{MTU: 1400, IPAMDataDir: "/run/test/ipam"})
	if err != nil {
		t.Fatalf("BuildCNI: %v", err)
	}
	want := `{
  "cniVersion": "1.0.0",
  "name": "overlaynet",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": false,
      "mtu": 1400,
      "ipam": {
        "type": "host-local",
        "ranges": [
          [
            {
              "subnet": "10.244.1.0/24",
              "rangeStart": "10.244.1.2",
              "rangeEnd": "10.244.1.11",
              "gateway": "10.244.1.1"
            }
          ],
          [
            {
              "subnet": "fd12:3456:789a::100/120",
              "rangeStart": "fd12:3456:789a::102",
              "rangeEnd": "fd12:3456:789a::10b",
              "gateway": "fd12:3456:789a::101"
            }
          ]
        ],
        "routes": [
          {
            "dst": "0.0.0.0/0"
          },
          {
            "dst": "::/0"
          }
        ],
        "dataDir": "/run/test/ipam"
      }
    },
    {
      "type": "portmap",
      "capabilities": {
        "portMappings": true
      }
    }
  ]
}
`
	if diff := cmp.Diff(want, string(got.Conflist)); diff != "" {
		t.Errorf("conflist (-want +got):\n%s", diff)
	}
}
