// memberlist_node runs one HashiCorp memberlist node for the interop tests
// (tests/interop_test.ts). Built with GO111MODULE=off against Debian's
// golang-github-hashicorp-memberlist-dev.
//
// It prints one JSON line to stdout whenever its view of the cluster changes,
// and at least once a second:
//
//	{"self":{"name","addr","port"},"members":[{"name","addr","port","meta","state"}]}
//
// Members() gives alive and suspect nodes; nodes reported by NotifyLeave are kept
// as "dead" or "left" (see nodeState for how the state is read). SIGTERM/SIGINT leave gracefully; SIGKILL is the crash case.
package main

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"log"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/hashicorp/memberlist"
)

type member struct {
	Name  string `json:"name"`
	Addr  string `json:"addr"`
	Port  uint16 `json:"port"`
	Meta  string `json:"meta"`
	State string `json:"state"`
}

type self struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
	Port uint16 `json:"port"`
}

type snapshot struct {
	Self    self     `json:"self"`
	Members []member `json:"members"`
}

func stateName(s memberlist.NodeStateType) string {
	switch s {
	case memberlist.StateAlive:
		return "alive"
	case memberlist.StateSuspect:
		return "suspect"
	case memberlist.StateDead:
		return "dead"
	case memberlist.StateLeft:
		return "left"
	}
	return fmt.Sprintf("unknown-%d", s)
}

// nodeState mirrors memberlist's unexported nodeState, whose first field is the *Node that
// Members() and the EventDelegate hand out. memberlist 0.2.2 never fills Node.State (the
// embedding struct's own State field shadows it), so the real state is read through this
// mirror, the only way to tell "left" from "dead" and "suspect" from "alive" here.
type nodeState struct {
	memberlist.Node
	Incarnation uint32
	State       memberlist.NodeStateType
	StateChange time.Time
}

func stateOf(n *memberlist.Node) memberlist.NodeStateType {
	if n.State != memberlist.StateAlive {
		return n.State // a memberlist version that fills it
	}
	return (*nodeState)(unsafe.Pointer(n)).State
}

func toMember(n *memberlist.Node, state string) member {
	return member{Name: n.Name, Addr: n.Addr.String(), Port: n.Port, Meta: string(n.Meta), State: state}
}

// delegate publishes our metadata; it carries no user messages or state.
type delegate struct{ meta []byte }

func (d *delegate) NodeMeta(limit int) []byte                  { return d.meta }
func (d *delegate) NotifyMsg([]byte)                           {}
func (d *delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }
func (d *delegate) LocalState(join bool) []byte                { return nil }
func (d *delegate) MergeRemoteState(buf []byte, join bool)     {}

// events remembers nodes that left or died (Members() no longer lists them).
type events struct {
	mu      sync.Mutex
	gone    map[string]member
	changed chan struct{}
}

func (e *events) poke() {
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

func (e *events) NotifyJoin(n *memberlist.Node) {
	e.mu.Lock()
	delete(e.gone, n.Name)
	e.mu.Unlock()
	e.poke()
}

func (e *events) NotifyLeave(n *memberlist.Node) {
	state := stateName(stateOf(n))
	if state != "left" {
		state = "dead"
	}
	e.mu.Lock()
	e.gone[n.Name] = toMember(n, state)
	e.mu.Unlock()
	e.poke()
}

func (e *events) NotifyUpdate(n *memberlist.Node) { e.poke() }

func main() {
	name := flag.String("name", "", "node name (required)")
	bind := flag.String("bind", "127.0.0.1", "bind and advertise address")
	port := flag.Int("port", 0, "gossip port (0 picks one)")
	meta := flag.String("meta", "", "node metadata string")
	join := flag.String("join", "", "comma-separated host:port seeds")
	key := flag.String("key", "", "gossip key, base64 of 16/24/32 bytes")
	fast := flag.Bool("fast", false, "fast timings for tests")
	suspicionMult := flag.Int("suspicion-mult", 0, "override SuspicionMult (after -fast)")
	protocol := flag.Int("protocol", -1, "memberlist ProtocolVersion (default: memberlist's)")
	verbose := flag.Bool("verbose", false, "memberlist logs on stderr")
	flag.Parse()
	if *name == "" {
		log.Fatal("-name is required")
	}

	conf := memberlist.DefaultLocalConfig()
	conf.Name = *name
	conf.BindAddr = *bind
	conf.BindPort = *port
	conf.AdvertiseAddr = *bind
	conf.AdvertisePort = *port
	if *fast {
		conf.ProbeInterval = 200 * time.Millisecond
		conf.ProbeTimeout = 100 * time.Millisecond
		conf.SuspicionMult = 2
		conf.GossipInterval = 50 * time.Millisecond
		conf.PushPullInterval = time.Second
		conf.GossipToTheDeadTime = 2 * time.Second
		conf.TCPTimeout = time.Second
	}
	if *protocol >= 0 {
		conf.ProtocolVersion = uint8(*protocol)
	}
	if *suspicionMult > 0 {
		conf.SuspicionMult = *suspicionMult
	}
	if *key != "" {
		k, err := base64.StdEncoding.DecodeString(*key)
		if err != nil {
			log.Fatalf("bad -key: %v", err)
		}
		conf.SecretKey = k
	}
	if *verbose {
		conf.LogOutput = os.Stderr
	} else {
		conf.LogOutput = ioutil.Discard
	}
	ev := &events{gone: map[string]member{}, changed: make(chan struct{}, 1)}
	conf.Delegate = &delegate{meta: []byte(*meta)}
	conf.Events = ev

	list, err := memberlist.Create(conf)
	if err != nil {
		log.Fatalf("create: %v", err)
	}
	local := list.LocalNode()
	me := self{Name: local.Name, Addr: local.Addr.String(), Port: local.Port}

	if *join != "" {
		// Seeds may not be up yet; keep trying in the background.
		go func() {
			for {
				if _, err := list.Join(strings.Split(*join, ",")); err == nil {
					return
				} else if *verbose {
					log.Printf("join: %v", err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}()
	}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)

	out := json.NewEncoder(os.Stdout)
	last := ""
	lastAt := time.Time{}
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	for {
		select {
		case <-signals:
			_ = list.Leave(time.Second)
			_ = list.Shutdown()
			return
		case <-ticker.C:
		case <-ev.changed:
		}
		snap := snapshot{Self: me, Members: []member{}}
		seen := map[string]bool{}
		for _, n := range list.Members() {
			snap.Members = append(snap.Members, toMember(n, stateName(stateOf(n))))
			seen[n.Name] = true
		}
		ev.mu.Lock()
		for n, m := range ev.gone {
			if !seen[n] {
				snap.Members = append(snap.Members, m)
			}
		}
		ev.mu.Unlock()
		sort.Slice(snap.Members, func(i, j int) bool { return snap.Members[i].Name < snap.Members[j].Name })
		line, _ := json.Marshal(snap)
		if string(line) != last || time.Since(lastAt) >= time.Second {
			last, lastAt = string(line), time.Now()
			if err := out.Encode(snap); err != nil {
				return // stdout closed: the test is gone
			}
		}
	}
}
