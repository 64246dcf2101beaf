package topology

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// HostState is what the end-to-end test and the demo promise to leave as they found it in
// the host's own network namespace.
type HostState struct {
	// NamedNetNS is `ip netns list`: the entries of /run/netns.
	NamedNetNS []string
	// Links are the host's interfaces.
	Links []string
	// Routes are the host's routes of every table, both families (`ip route`,
	// `ip -6 route`, and the local tables).
	Routes []string
	// Nftables is the host's nftables ruleset: tables, chains, sets and rules.
	Nftables []string
	// NftCLI is `nft list ruleset` when the nft command is installed.
	NftCLI string
}

// SnapshotHost reads the host's state. It must be called from a goroutine in the host's
// namespace, which is every goroutine that does not lock its thread into another one.
func SnapshotHost() (*HostState, error) {
	s := &HostState{}
	entries, err := os.ReadDir("/run/netns")
	if err != nil && !os.IsNotExist(err) {
		return nil, fmt.Errorf("listing /run/netns: %w", err)
	}
	for _, e := range entries {
		s.NamedNetNS = append(s.NamedNetNS, e.Name())
	}

	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("listing links: %w", err)
	}
	names := map[int]string{}
	for _, l := range links {
		a := l.Attrs()
		names[a.Index] = a.Name
		s.Links = append(s.Links, fmt.Sprintf("%d %s %s master=%d", a.Index, a.Name, l.Type(), a.MasterIndex))
	}

	err = netlink.RouteListFilteredIter(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE,
		func(r netlink.Route) bool {
			s.Routes = append(s.Routes, fmt.Sprintf("table %d type %d %s via %s dev %s proto %d scope %d metric %d src %s",
				r.Table, r.Type, r.Dst, r.Gw, names[r.LinkIndex], r.Protocol, r.Scope, r.Priority, r.Src))
			return true
		})
	if err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	slices.Sort(s.Routes)

	if s.Nftables, err = nftRuleset(); err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("nft"); err == nil {
		out, err := exec.Command("nft", "list", "ruleset").CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("nft list ruleset: %w: %s", err, out)
		}
		s.NftCLI = string(out)
	}
	return s, nil
}

func nftRuleset() ([]string, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("opening nftables: %w", err)
	}
	tables, err := c.ListTables()
	if err != nil {
		return nil, fmt.Errorf("listing nftables tables: %w", err)
	}
	var out []string
	for _, t := range tables {
		out = append(out, fmt.Sprintf("table %d %s", t.Family, t.Name))
		sets, err := c.GetSets(t)
		if err != nil {
			return nil, fmt.Errorf("listing sets of %s: %w", t.Name, err)
		}
		for _, set := range sets {
			elems, err := c.GetSetElements(set)
			if err != nil {
				return nil, fmt.Errorf("listing elements of %s: %w", set.Name, err)
			}
			out = append(out, fmt.Sprintf("table %s set %s %d elements %v", t.Name, set.Name, len(elems), elems))
		}
	}
	chains, err := c.ListChains()
	if err != nil {
		return nil, fmt.Errorf("listing nftables chains: %w", err)
	}
	for _, ch := range chains {
		out = append(out, fmt.Sprintf("table %d %s chain %s", ch.Table.Family, ch.Table.Name, ch.Name))
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			return nil, fmt.Errorf("listing rules of %s: %w", ch.Name, err)
		}
		for _, r := range rules {
			exprs, _ := json.Marshal(r.Exprs)
			out = append(out, fmt.Sprintf("table %s chain %s rule %d %s", ch.Table.Name, ch.Name, r.Handle, exprs))
		}
	}
	slices.Sort(out)
	return out, nil
}

// String renders the state for a diff.
func (s *HostState) String() string {
	var b strings.Builder
	for _, sec := range []struct {
		name  string
		lines []string
	}{{"netns", s.NamedNetNS}, {"links", s.Links}, {"routes", s.Routes}, {"nftables", s.Nftables}} {
		fmt.Fprintf(&b, "%s:\n", sec.name)
		for _, l := range sec.lines {
			fmt.Fprintf(&b, "  %s\n", l)
		}
	}
	fmt.Fprintf(&b, "nft list ruleset:\n%s", s.NftCLI)
	return b.String()
}
