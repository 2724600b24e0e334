package dnssd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/miekg/dns"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// The integration tests run against independent peers on a real link:
//
//	device netns (this test process, re-executed under unshare)
//	  lo, dev0 192.0.2.1/24 fd00::1/64 fe80::…  ── veth ──  lan0 192.0.2.2/24 fd00::2/64
//	                                                          peer netns: avahi-daemon,
//	                                                          miekg/dns queriers
//	dbus-daemon: a private bus on a unix socket both sides reach by path.
//
// TestNetns (in the host namespace) starts the re-execution; the tests
// named TestInNetns* only run inside it.

const netnsEnv = "MATTERCAM_DNSSD_NETNS"

var requiredTools = []struct{ bin, pkg string }{
	{"unshare", "util-linux"},
	{"nsenter", "util-linux"},
	{"ip", "iproute2"},
	{"dbus-daemon", "dbus"},
	{"avahi-daemon", "avahi-daemon"},
	{"avahi-browse", "avahi-utils"},
	{"avahi-resolve", "avahi-utils"},
	{"avahi-publish", "avahi-utils"},
}

var childTests = []string{
	"TestInNetnsResponderWire",
	"TestInNetnsResponderAvahiPeer",
	"TestInNetnsResponderConflictWithAvahi",
	"TestInNetnsAvahiBackend",
	"TestInNetnsNew",
}

// TestNetns re-runs this test binary inside fresh network and mount
// namespaces and requires every TestInNetns* test to pass there. It fails,
// rather than skips, when the machine cannot run it: CI runs as root with
// the Debian packages from scripts/deps.
func TestNetns(t *testing.T) {
	if os.Getenv(netnsEnv) != "" {
		t.Skip("already inside the namespace")
	}
	if os.Geteuid() != 0 {
		t.Fatal("the mDNS/Avahi integration tests need root to create network namespaces (CI runs as root); " +
			"run `sudo go test ./matter/dnssd/`")
	}
	var missing []string
	for _, tool := range requiredTools {
		if _, err := exec.LookPath(tool.bin); err != nil {
			missing = append(missing, tool.bin+" (Debian package "+tool.pkg+")")
		}
	}
	if len(missing) > 0 {
		t.Fatalf("missing tools for the mDNS/Avahi integration tests: %s; `make deps` installs them", strings.Join(missing, ", "))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	args := []string{"--net", "--mount", "--propagation", "private", "--",
		os.Args[0], "-test.run", "^(" + strings.Join(childTests, "|") + ")$", "-test.v", "-test.count=1", "-test.timeout=200s"}
	cmd := exec.CommandContext(ctx, "unshare", args...)
	cmd.Env = append(os.Environ(), netnsEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("tests inside the namespace failed: %v\n%s", err, out)
	}
	for _, name := range childTests {
		if !bytes.Contains(out, []byte("--- PASS: "+name+" ")) {
			t.Fatalf("%s did not pass inside the namespace:\n%s", name, out)
		}
	}
	if testing.Verbose() {
		t.Logf("inside the namespace:\n%s", out)
	}
}

// lab is the two-namespace setup, built once per child process.
type lab struct {
	dir     string
	bus     string // D-Bus address of the private bus
	peerPid int    // holds the peer netns
	procs   []*proc
	avahi   *proc
	devMAC  net.HardwareAddr
	devLL   netip.Addr // dev0's IPv6 link-local address
}

var (
	labOnce sync.Once
	theLab  *lab
	labErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if theLab != nil {
		theLab.close()
	}
	os.Exit(code)
}

// needLab returns the lab, skipping the test outside the namespace (where
// TestNetns runs it instead).
func needLab(t *testing.T) *lab {
	t.Helper()
	if os.Getenv(netnsEnv) == "" {
		t.Skip("runs inside the namespace that TestNetns creates")
	}
	labOnce.Do(func() { theLab, labErr = newLab() })
	if labErr != nil {
		t.Fatalf("setting up the namespaces: %v", labErr)
	}
	return theLab
}

func sh(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func newLab() (*lab, error) {
	l := &lab{}
	ok := false
	defer func() {
		if !ok {
			l.close()
		}
	}()
	var err error
	if l.dir, err = os.MkdirTemp("", "dnssd-lab-"); err != nil {
		return nil, err
	}
	// Our own /run, so avahi-daemon's pid file and socket cannot meet the
	// host's.
	if err := unix.Mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"); err != nil {
		return nil, fmt.Errorf("mount /run: %w", err)
	}
	if err := os.MkdirAll("/run/avahi-daemon", 0o755); err != nil {
		return nil, err
	}
	// No duplicate address detection, so link-local addresses work at once.
	for _, f := range []string{"default", "all"} {
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+f+"/accept_dad", []byte("0"), 0o644); err != nil {
			return nil, err
		}
	}
	if err := sh("ip", "link", "set", "lo", "up"); err != nil {
		return nil, err
	}

	hold, err := startProc(exec.Command("unshare", "--net", "--", "sleep", "3600"))
	if err != nil {
		return nil, err
	}
	l.procs = append(l.procs, hold)
	l.peerPid = hold.cmd.Process.Pid
	self, _ := os.Readlink("/proc/self/ns/net")
	for i := 0; ; i++ {
		peer, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", l.peerPid))
		if peer != "" && peer != self {
			break
		}
		if i > 100 {
			return nil, errors.New("peer namespace did not appear")
		}
		time.Sleep(20 * time.Millisecond)
	}
	pid := strconv.Itoa(l.peerPid)
	inPeer := func(args ...string) error { return sh(append([]string{"nsenter", "-t", pid, "-n", "--"}, args...)...) }
	for _, step := range [][]string{
		{"sh", "-c", "echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad; echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad"},
		{"ip", "link", "set", "lo", "up"},
	} {
		if err := inPeer(step...); err != nil {
			return nil, err
		}
	}
	for _, step := range [][]string{
		{"ip", "link", "add", "dev0", "type", "veth", "peer", "name", "lan0", "netns", pid},
		{"ip", "addr", "add", "192.0.2.1/24", "dev", "dev0"},
		{"ip", "addr", "add", "fd00::1/64", "dev", "dev0", "nodad"},
		{"ip", "link", "set", "dev0", "up"},
	} {
		if err := sh(step...); err != nil {
			return nil, err
		}
	}
	for _, step := range [][]string{
		{"ip", "addr", "add", "192.0.2.2/24", "dev", "lan0"},
		{"ip", "addr", "add", "fd00::2/64", "dev", "lan0", "nodad"},
		{"ip", "link", "set", "lan0", "up"},
	} {
		if err := inPeer(step...); err != nil {
			return nil, err
		}
	}
	dev, err := net.InterfaceByName("dev0")
	if err != nil {
		return nil, err
	}
	l.devMAC = dev.HardwareAddr
	for i := 0; !l.devLL.IsValid(); i++ {
		addrs, _ := dev.Addrs()
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().IsLinkLocalUnicast() {
				l.devLL = p.Addr()
			}
		}
		if i > 100 {
			return nil, errors.New("dev0 has no IPv6 link-local address")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The private bus.
	sock := filepath.Join(l.dir, "bus")
	l.bus = "unix:path=" + sock
	conf := filepath.Join(l.dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(busConfig(sock)), 0o644); err != nil {
		return nil, err
	}
	busCmd := exec.Command("dbus-daemon", "--config-file="+conf, "--nofork", "--nopidfile")
	busCmd.Stderr = &prefixWriter{prefix: "dbus-daemon: "}
	bus, err := startProc(busCmd)
	if err != nil {
		return nil, err
	}
	l.procs = append(l.procs, bus)
	if err := waitBus(l.bus); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(l.dir, "avahi.conf"), []byte(avahiConfig), 0o644); err != nil {
		return nil, err
	}
	if err := l.startAvahi(); err != nil {
		return nil, err
	}
	ok = true
	return l, nil
}

// waitBus waits until a bus accepts connections: its socket file appears
// before it listens.
func waitBus(addr string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := dbus.Connect(addr)
		if err == nil {
			return conn.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("dbus-daemon at %s: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func busConfig(sock string) string {
	return `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=` + sock + `</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_type="method_return"/>
    <allow send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="signal"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
  </policy>
</busconfig>
`
}

const avahiConfig = `[server]
host-name=peerhost
use-ipv4=yes
use-ipv6=yes
allow-interfaces=lan0
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
[reflector]
enable-reflector=no
`

// startAvahi runs avahi-daemon in the peer namespace on the private bus and
// waits until it is RUNNING.
func (l *lab) startAvahi() error {
	cmd := exec.Command("nsenter", "-t", strconv.Itoa(l.peerPid), "-n", "--",
		"avahi-daemon", "-f", filepath.Join(l.dir, "avahi.conf"), "--no-drop-root", "--no-chroot", "--no-rlimits")
	cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+l.bus)
	cmd.Stderr = &prefixWriter{prefix: "avahi-daemon: "}
	p, err := startProc(cmd)
	if err != nil {
		return err
	}
	l.avahi = p
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if l.avahiState() == serverRunning {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("avahi-daemon exited: %v", p.cmd.ProcessState)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("avahi-daemon did not reach RUNNING")
}

func (l *lab) avahiState() int32 {
	conn, err := dbus.Connect(l.bus)
	if err != nil {
		return -1
	}
	defer conn.Close()
	var st int32
	if err := conn.Object(avahiName, "/").Call(avahiServer+".GetState", 0).Store(&st); err != nil {
		return -1
	}
	return st
}

func (l *lab) stopAvahi() {
	if l.avahi == nil {
		return
	}
	l.avahi.stop()
	l.avahi = nil
}

// proc is a process the tests started; done closes when it exits.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startProc starts cmd tied to this test process (see tied) and reaps it.
func startProc(cmd *exec.Cmd) (*proc, error) {
	if err := tied(cmd).Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// stop ends the process by its PID: SIGTERM, then SIGKILL.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (l *lab) close() {
	l.stopAvahi()
	for i := len(l.procs) - 1; i >= 0; i-- {
		l.procs[i].stop()
	}
	if l.dir != "" {
		os.RemoveAll(l.dir)
	}
}

// avahiTool prepares an avahi client tool for the lab's avahi-daemon. It
// runs in the peer namespace: the tools turn Avahi's interface indexes into
// names in their own namespace.
func (l *lab) avahiTool(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "nsenter", append([]string{"-t", strconv.Itoa(l.peerPid), "-n", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "DBUS_SYSTEM_BUS_ADDRESS="+l.bus)
	return tied(cmd)
}

// tied makes cmd die with this test process, so a test killed on timeout
// leaves no daemon behind (nsenter and unshare exec their target, which
// keeps the setting).
func tied(cmd *exec.Cmd) *exec.Cmd {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// avahiCmd runs an avahi client tool and returns its output.
func (l *lab) avahiCmd(ctx context.Context, args ...string) (string, error) {
	out, err := l.avahiTool(ctx, args...).CombinedOutput()
	return string(out), err
}

// browsed is one resolved line of `avahi-browse -p`.
type browsed struct {
	iface, proto, instance, typ, host, addr string
	port                                    int
	txt                                     []string
}

var avahiEscape = regexp.MustCompile(`\\[0-9]{3}`)

func unescapeAvahi(s string) string {
	return avahiEscape.ReplaceAllStringFunc(s, func(m string) string {
		v, _ := strconv.Atoi(m[1:])
		return string(rune(v))
	})
}

// browse runs `avahi-browse -rpt typ` and returns the resolved entries.
func (l *lab) browse(t *testing.T, typ string) []browsed {
	t.Helper()
	// -t ends after "all for now", but waits for resolvers, which never
	// finish for an entry that vanishes meanwhile: bound it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := l.avahiCmd(ctx, "avahi-browse", "-rpt", typ)
	if err != nil {
		t.Logf("avahi-browse -rpt %s: %v: %s", typ, err, out)
	}
	var res []browsed
	for _, line := range strings.Split(out, "\n") {
		f := strings.SplitN(line, ";", 10)
		if len(f) < 9 || f[0] != "=" {
			continue
		}
		port, _ := strconv.Atoi(f[8])
		b := browsed{iface: f[1], proto: f[2], instance: unescapeAvahi(f[3]), typ: f[4], host: f[6], addr: f[7], port: port}
		if len(f) == 10 {
			for _, q := range regexp.MustCompile(`"((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(f[9], -1) {
				b.txt = append(b.txt, q[1])
			}
		}
		res = append(res, b)
	}
	return res
}

// eventually retries f until it returns nil or the time runs out.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// inPeer runs f on an OS thread switched into the peer namespace, so the
// sockets f opens live there. The thread is discarded if it cannot switch
// back.
func (l *lab) inPeer(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		peer, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", l.peerPid))
		if err != nil {
			errc <- err
			return
		}
		defer peer.Close()
		if err := unix.Setns(int(peer.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		err = f()
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// mdnsPeer is an mDNS client assembled from miekg/dns messages and plain
// sockets: independent of the code under test except for the shared port
// option helper.
type mdnsPeer struct {
	ifi   *net.Interface
	v6    bool
	conn  net.PacketConn
	p4    *ipv4.PacketConn
	p6    *ipv6.PacketConn
	group netip.AddrPort
}

// newPeer opens a querier on ifname. With port 5353 it joins the group
// (a full mDNS querier, sharing the port); with port 0 it is a legacy
// unicast resolver (RFC 6762 §6.7).
func newPeer(ifname string, v6 bool, port int) (*mdnsPeer, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, err
	}
	p := &mdnsPeer{ifi: ifi, v6: v6}
	lc := net.ListenConfig{}
	if port == mdnsPort {
		lc.Control = reuseControl
	}
	network, host, grp := "udp4", "0.0.0.0", mdnsGroup4
	if v6 {
		network, host, grp = "udp6", "::", mdnsGroup6
	}
	p.group = netip.AddrPortFrom(grp, mdnsPort)
	if p.conn, err = lc.ListenPacket(context.Background(), network, net.JoinHostPort(host, strconv.Itoa(port))); err != nil {
		return nil, err
	}
	g := &net.UDPAddr{IP: grp.AsSlice()}
	if v6 {
		p.p6 = ipv6.NewPacketConn(p.conn)
		err = errors.Join(p.p6.SetMulticastInterface(ifi), p.p6.SetMulticastHopLimit(255), p.p6.SetControlMessage(ipv6.FlagInterface, true))
		if err == nil && port == mdnsPort {
			err = p.p6.JoinGroup(ifi, g)
		}
	} else {
		p.p4 = ipv4.NewPacketConn(p.conn)
		err = errors.Join(p.p4.SetMulticastInterface(ifi), p.p4.SetMulticastTTL(255), p.p4.SetControlMessage(ipv4.FlagInterface, true))
		if err == nil && port == mdnsPort {
			err = p.p4.JoinGroup(ifi, g)
		}
	}
	if err != nil {
		p.conn.Close()
		return nil, err
	}
	return p, nil
}

func (p *mdnsPeer) Close() { p.conn.Close() }

func (p *mdnsPeer) send(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	dst := net.UDPAddrFromAddrPort(p.group)
	if p.v6 {
		dst.Zone = p.ifi.Name
	}
	_, err = p.conn.WriteTo(b, dst)
	return err
}

type received struct {
	msg *dns.Msg
	src netip.AddrPort
}

// recv returns the first message that arrives on p's interface within d
// and satisfies keep, or nothing.
func (p *mdnsPeer) recv(d time.Duration, keep func(*dns.Msg) bool) []received {
	var out []received
	deadline := time.Now().Add(d)
	buf := make([]byte, 9000)
	for {
		_ = p.conn.SetReadDeadline(deadline)
		var n, ifindex int
		var src net.Addr
		var err error
		if p.v6 {
			var cm *ipv6.ControlMessage
			n, cm, src, err = p.p6.ReadFrom(buf)
			if cm != nil {
				ifindex = cm.IfIndex
			}
		} else {
			var cm *ipv4.ControlMessage
			n, cm, src, err = p.p4.ReadFrom(buf)
			if cm != nil {
				ifindex = cm.IfIndex
			}
		}
		if err != nil {
			return out
		}
		if ifindex != p.ifi.Index {
			continue
		}
		m := new(dns.Msg)
		if m.Unpack(buf[:n]) != nil || !keep(m) {
			continue
		}
		ua, _ := src.(*net.UDPAddr)
		return append(out, received{msg: m, src: ua.AddrPort()})
	}
}

// exchange sends m and returns the first response keep accepts, retrying
// every 400 ms until d runs out.
func (p *mdnsPeer) exchange(m *dns.Msg, d time.Duration, keep func(*dns.Msg) bool) (received, error) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if err := p.send(m); err != nil {
			return received{}, err
		}
		if r := p.recv(400*time.Millisecond, func(r *dns.Msg) bool { return r.Response && keep(r) }); len(r) > 0 {
			return r[0], nil
		}
	}
	return received{}, fmt.Errorf("no answer to %v within %v", m.Question, d)
}

// prefixWriter forwards a daemon's stderr to ours, line-prefixed, so the
// parent test prints it when something fails.
type prefixWriter struct {
	mu     sync.Mutex
	prefix string
}

func (w *prefixWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line != "" {
			fmt.Fprint(os.Stderr, w.prefix+line)
		}
	}
	return len(b), nil
}
