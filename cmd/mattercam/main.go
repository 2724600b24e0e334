// Command mattercam is the camera firmware: it captures (or plays the
// built-in test clip), streams over WebRTC and, when asked, serves a local
// WHEP preview. This file only wires the parts together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mattercam/mattercam/capture"
	"github.com/mattercam/mattercam/capture/testsrc"
	"github.com/mattercam/mattercam/webrtc"
	"github.com/mattercam/mattercam/webrtc/whep"
)

// version is stamped by the Makefile (-ldflags -X main.version=…).
var version = "dev"

type options struct {
	stateDir    string
	factoryPath string
	matterPort  int
	netIface    string
	mdns        bool
	whepListen  string
	whepToken   string
	maxSessions int
	mtu         int
	logLevel    string
	logFormat   string
	showVersion bool
	failSafe    time.Duration
	failSafeMax time.Duration
	hostClock   string
}

func newFlagSet(o *options, out io.Writer) *flag.FlagSet {
	set := flag.NewFlagSet("mattercam", flag.ContinueOnError)
	set.SetOutput(out)
	set.String("config", defaultConfigPath, "configuration `file` of name = value lines (flag names)")
	set.StringVar(&o.stateDir, "state-dir", defaultStateDir(), "keep all persistent state under `dir`")
	set.StringVar(&o.factoryPath, "factory", "/etc/mattercam/factory.json", "factory data `file` (development data when absent)")
	set.IntVar(&o.matterPort, "matter-port", 5540, "Matter UDP and TCP `port`")
	set.BoolVar(&o.mdns, "mdns", true, "advertise over DNS-SD (avahi-daemon when reachable, else the embedded mDNS responder)")
	set.StringVar(&o.netIface, "interface", "", "network `interface` described to controllers (default: first one up)")
	set.StringVar(&o.whepListen, "whep-listen", "", "serve the WHEP preview on `addr` (e.g. 127.0.0.1:8080); off when empty")
	set.StringVar(&o.whepToken, "whep-token", "", "bearer `token` required by the WHEP endpoint")
	set.IntVar(&o.maxSessions, "max-sessions", 5, "concurrent WebRTC sessions")
	set.IntVar(&o.mtu, "mtu", 1200, "largest RTP packet in `bytes`")
	set.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	set.StringVar(&o.logFormat, "log-format", "text", "text or json")
	set.BoolVar(&o.showVersion, "version", false, "print the version and exit")
	set.DurationVar(&o.failSafe, "failsafe-expiry", 60*time.Second, "fail-safe `duration` a commissioner arms first (BasicCommissioningInfo)")
	set.StringVar(&o.hostClock, "host-clock", "auto", "whether the host clock is the node's UTC time: auto (kernel NTP state), trusted or untrusted")
	set.DurationVar(&o.failSafeMax, "failsafe-max-cumulative", 900*time.Second, "longest `duration` a fail-safe may stay armed (BasicCommissioningInfo)")
	return set
}

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "mattercam:", err)
		}
		os.Exit(2)
	}
}

// defaultStateDir is systemd's StateDirectory= when set.
func defaultStateDir() string {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		return d
	}
	return "/var/lib/mattercam"
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "factory":
			return factoryCommand(args[1:], stderr)
		case "reset":
			return resetCommand(args[1:], stdout, stderr)
		}
	}
	var o options
	set := newFlagSet(&o, stderr)
	path, explicit := configPath(args)
	if err := loadConfig(set, path, explicit); err != nil {
		return err
	}
	if err := set.Parse(args); err != nil {
		return err
	}
	if o.showVersion {
		fmt.Fprintln(stdout, "mattercam", version)
		return nil
	}
	log, err := newLogger(stderr, o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, o, log, stdout)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("-log-level: %w", err)
	}
	hopts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, hopts)), nil
	}
	return nil, fmt.Errorf("-log-format: %q is neither text nor json", format)
}

// serve runs the firmware until ctx ends (SIGINT, SIGTERM).
func serve(ctx context.Context, o options, log *slog.Logger, stdout io.Writer) error {
	log.Info("starting", "version", version)
	video, audio, err := openSources(log)
	if err != nil {
		return err
	}
	defer video.Close()
	defer audio.Close()
	vf := video.Format()
	log.Info("video source", "codec", vf.Codec, "width", vf.Width, "height", vf.Height, "fps", vf.FrameRate, "profile_level_id", vf.ProfileLevelID)

	srv, err := webrtc.NewServer(webrtc.Config{MaxSessions: o.maxSessions, MTU: o.mtu, Logger: log}, video, audio)
	if err != nil {
		return err
	}
	defer srv.Close()

	cam, err := startCameraMedia(o, log, video, audio)
	if err != nil {
		return err
	}
	defer cam.close()
	node, err := startMatter(o, log, stdout, cam.config)
	if err != nil {
		return err
	}
	defer node.Close()

	if o.whepListen != "" {
		ln, err := net.Listen("tcp", o.whepListen)
		if err != nil {
			return fmt.Errorf("whep: %w", err)
		}
		hs := &http.Server{
			Handler:           whep.New(srv, whep.Config{Token: o.whepToken, Logger: log}),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			IdleTimeout:       60 * time.Second,
			MaxHeaderBytes:    16 << 10,
		}
		errc := make(chan error, 1)
		go func() { errc <- hs.Serve(ln) }()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = hs.Shutdown(sctx) // best effort: we are exiting either way
			<-errc
		}()
		url := "http://" + displayAddr(ln.Addr()) + "/"
		log.Info("WHEP preview listening", "url", url, "endpoint", url+"whep")
		fmt.Fprintf(stdout, "watch the camera at %s\n", url)
	}
	<-ctx.Done()
	log.Info("shutting down")
	return nil
}

// openSources opens the capture sources. With no camera configured the
// built-in test clip plays, so the firmware runs on any machine.
func openSources(log *slog.Logger) (capture.VideoSource, capture.AudioSource, error) {
	video, err := testsrc.NewVideo()
	if err != nil {
		return nil, nil, fmt.Errorf("test source: %w", err)
	}
	audio, err := testsrc.NewAudio()
	if err != nil {
		video.Close()
		return nil, nil, fmt.Errorf("test source: %w", err)
	}
	log.Info("no camera configured: playing the built-in test clip")
	return video, audio, nil
}

// displayAddr turns a wildcard listen address into one a browser can open.
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
