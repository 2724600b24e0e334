package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"

	"github.com/mattercam/mattercam/matter/attestation"
	"github.com/mattercam/mattercam/matter/device"
	"github.com/mattercam/mattercam/matter/storage"
)

// startMatter starts the Matter node and, while it is commissionable,
// prints how to pair it.
func startMatter(o options, log *slog.Logger, stdout io.Writer, camera *device.CameraConfig) (*device.Device, error) {
	fd, err := attestation.Load(o.factoryPath)
	if errors.Is(err, fs.ErrNotExist) {
		log.Warn("no factory data: using development credentials (passcode 20202021, discriminator 3840)", "path", o.factoryPath)
		fd, err = attestation.Development()
	}
	if err != nil {
		return nil, fmt.Errorf("factory data: %w", err)
	}
	if err := os.MkdirAll(o.stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	synced, err := hostClock(o.hostClock)
	if err != nil {
		return nil, err
	}
	d, err := device.New(device.Config{
		StateDir: o.stateDir, Port: o.matterPort, Factory: fd, Interface: o.netIface, DisableMDNS: !o.mdns,
		SoftwareVersionString: version, FailSafeExpiry: o.failSafe,
		MaxCumulativeFailsafe: o.failSafeMax, HostTimeSynced: synced, Camera: camera, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	if !d.Commissioned() && fd.Passcode != 0 {
		p := d.Onboarding()
		if banner, err := p.Banner(); err == nil {
			fmt.Fprintln(stdout, banner)
		}
		qr, _ := p.QR()
		manual, _ := p.ManualCode()
		log.Info("commissionable", "qr", qr, "manual_code", manual, "port", d.Port())
	}
	return d, nil
}

// factoryCommand writes a factory data file ("mattercam factory -o FILE").
func factoryCommand(args []string, stderr io.Writer) error {
	var fo attestation.Options
	set := flag.NewFlagSet("mattercam factory", flag.ContinueOnError)
	set.SetOutput(stderr)
	out := set.String("o", "factory.json", "write the factory data to `file`")
	fo.Flags(set)
	if err := set.Parse(args); err != nil {
		return err
	}
	fd, err := attestation.Generate(fo)
	if err != nil {
		return err
	}
	return fd.WriteFile(*out)
}

// resetCommand is the factory reset: it wipes the state directory, so
// the next start is a factory-new, commissionable device.
func resetCommand(args []string, stdout, stderr io.Writer) error {
	set := flag.NewFlagSet("mattercam reset", flag.ContinueOnError)
	set.SetOutput(stderr)
	dir := set.String("state-dir", defaultStateDir(), "the state `dir` to wipe")
	if err := set.Parse(args); err != nil {
		return err
	}
	s, err := storage.Open(*dir)
	if err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	defer s.Close()
	if err := s.Wipe(); err != nil {
		return fmt.Errorf("reset: %w", err)
	}
	fmt.Fprintln(stdout, "factory reset: state wiped from", *dir)
	return nil
}
