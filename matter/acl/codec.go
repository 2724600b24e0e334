package acl

import (
	"errors"
	"fmt"
	"io"

	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
)

// The stored form of one fabric's list, in Matter TLV:
//
//	{
//	  0 = format version (1),
//	  1 = [ entries ],
//	}
//
// with each entry laid out as an AccessControlEntryStruct (§9.10.5.7) without
// its fabric index, which the record's key carries:
//
//	{ 1 = privilege, 2 = auth mode, 3 = [subjects] (absent if none),
//	  4 = [ { 0 = cluster, 1 = endpoint, 2 = device type } ] (absent if none) }
//
// Target fields that are absent are left out.

const formatVersion = 1

// errFormat reports a stored list that does not decode.
var errFormat = errors.New("acl: malformed stored list")

// encodeList returns the stored form of a fabric's entries.
func encodeList(entries []Entry) ([]byte, error) {
	w := tlv.NewWriter(nil)
	w.StartStructure(tlv.AnonymousTag())
	w.PutUint(tlv.ContextTag(0), formatVersion)
	w.StartArray(tlv.ContextTag(1))
	for _, e := range entries {
		w.StartStructure(tlv.AnonymousTag())
		w.PutUint(tlv.ContextTag(1), uint64(e.Privilege))
		w.PutUint(tlv.ContextTag(2), uint64(e.AuthMode))
		if len(e.Subjects) > 0 {
			w.StartArray(tlv.ContextTag(3))
			for _, s := range e.Subjects {
				w.PutUint(tlv.AnonymousTag(), s)
			}
			w.EndContainer()
		}
		if len(e.Targets) > 0 {
			w.StartArray(tlv.ContextTag(4))
			for _, t := range e.Targets {
				w.StartStructure(tlv.AnonymousTag())
				if t.HasCluster {
					w.PutUint(tlv.ContextTag(0), uint64(t.Cluster))
				}
				if t.HasEndpoint {
					w.PutUint(tlv.ContextTag(1), uint64(t.Endpoint))
				}
				if t.HasDeviceType {
					w.PutUint(tlv.ContextTag(2), uint64(t.DeviceType))
				}
				w.EndContainer()
			}
			w.EndContainer()
		}
		w.EndContainer()
	}
	w.EndContainer()
	w.EndContainer()
	return w.Bytes()
}

// decodeList parses a stored list of fabric fabricIndex. Lists, subjects and
// targets longer than hardLimit are rejected, so hostile or damaged input
// costs little; entries are not validated here.
func decodeList(b []byte, fabricIndex uint8) ([]Entry, error) {
	r := tlv.NewReader(b)
	if err := r.Next(); err != nil {
		return nil, fmt.Errorf("%w: %w", errFormat, err)
	}
	if r.Type() != tlv.TypeStructure {
		return nil, fmt.Errorf("%w: not a structure", errFormat)
	}
	if err := r.Enter(); err != nil {
		return nil, fmt.Errorf("%w: %w", errFormat, err)
	}
	var (
		entries    []Entry
		version    uint64
		seenList   bool
		seenFormat bool
	)
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errFormat, err)
		}
		switch r.Tag() {
		case tlv.ContextTag(0):
			if version, err = r.Uint(); err != nil {
				return nil, fmt.Errorf("%w: version: %w", errFormat, err)
			}
			seenFormat = true
		case tlv.ContextTag(1):
			if seenList {
				return nil, fmt.Errorf("%w: duplicate list", errFormat)
			}
			seenList = true
			if entries, err = decodeEntries(r, fabricIndex); err != nil {
				return nil, err
			}
		}
	}
	if err := r.Exit(); err != nil {
		return nil, fmt.Errorf("%w: %w", errFormat, err)
	}
	if err := r.Next(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data", errFormat)
	}
	if !seenFormat || version != formatVersion || !seenList {
		return nil, fmt.Errorf("%w: version %d", errFormat, version)
	}
	return entries, nil
}

func decodeEntries(r *tlv.Reader, fabricIndex uint8) ([]Entry, error) {
	if r.Type() != tlv.TypeArray {
		return nil, fmt.Errorf("%w: entries not an array", errFormat)
	}
	if err := r.Enter(); err != nil {
		return nil, fmt.Errorf("%w: %w", errFormat, err)
	}
	var entries []Entry
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errFormat, err)
		}
		if len(entries) == hardLimit {
			return nil, fmt.Errorf("%w: more than %d entries", errFormat, hardLimit)
		}
		e, err := decodeEntry(r)
		if err != nil {
			return nil, err
		}
		e.FabricIndex = fabricIndex
		entries = append(entries, e)
	}
	if err := r.Exit(); err != nil {
		return nil, fmt.Errorf("%w: %w", errFormat, err)
	}
	return entries, nil
}

func decodeEntry(r *tlv.Reader) (Entry, error) {
	var e Entry
	if r.Type() != tlv.TypeStructure {
		return e, fmt.Errorf("%w: entry not a structure", errFormat)
	}
	if err := r.Enter(); err != nil {
		return e, fmt.Errorf("%w: %w", errFormat, err)
	}
	var havePriv, haveMode bool
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return e, fmt.Errorf("%w: %w", errFormat, err)
		}
		switch r.Tag() {
		case tlv.ContextTag(1):
			v, err := r.Uint8()
			if err != nil {
				return e, fmt.Errorf("%w: privilege: %w", errFormat, err)
			}
			e.Privilege, havePriv = dm.Privilege(v), true
		case tlv.ContextTag(2):
			v, err := r.Uint8()
			if err != nil {
				return e, fmt.Errorf("%w: auth mode: %w", errFormat, err)
			}
			e.AuthMode, haveMode = dm.AuthMode(v), true
		case tlv.ContextTag(3):
			if e.Subjects, err = decodeSubjects(r); err != nil {
				return e, err
			}
		case tlv.ContextTag(4):
			if e.Targets, err = decodeTargets(r); err != nil {
				return e, err
			}
		}
	}
	if err := r.Exit(); err != nil {
		return e, fmt.Errorf("%w: %w", errFormat, err)
	}
	if !havePriv || !haveMode {
		return e, fmt.Errorf("%w: entry without privilege or auth mode", errFormat)
	}
	return e, nil
}

func decodeSubjects(r *tlv.Reader) ([]uint64, error) {
	if r.Type() != tlv.TypeArray {
		return nil, fmt.Errorf("%w: subjects not an array", errFormat)
	}
	if err := r.Enter(); err != nil {
		return nil, fmt.Errorf("%w: %w", errFormat, err)
	}
	var out []uint64
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errFormat, err)
		}
		if len(out) == hardLimit {
			return nil, fmt.Errorf("%w: more than %d subjects", errFormat, hardLimit)
		}
		v, err := r.Uint()
		if err != nil {
			return nil, fmt.Errorf("%w: subject: %w", errFormat, err)
		}
		out = append(out, v)
	}
	if err := r.Exit(); err != nil {
		return nil, fmt.Errorf("%w: %w", errFormat, err)
	}
	return out, nil
}

func decodeTargets(r *tlv.Reader) ([]Target, error) {
	if r.Type() != tlv.TypeArray {
		return nil, fmt.Errorf("%w: targets not an array", errFormat)
	}
	if err := r.Enter(); err != nil {
		return nil, fmt.Errorf("%w: %w", errFormat, err)
	}
	var out []Target
	for {
		err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errFormat, err)
		}
		if len(out) == hardLimit {
			return nil, fmt.Errorf("%w: more than %d targets", errFormat, hardLimit)
		}
		if r.Type() != tlv.TypeStructure {
			return nil, fmt.Errorf("%w: target not a structure", errFormat)
		}
		if err := r.Enter(); err != nil {
			return nil, fmt.Errorf("%w: %w", errFormat, err)
		}
		var t Target
		for {
			err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("%w: %w", errFormat, err)
			}
			switch r.Tag() {
			case tlv.ContextTag(0):
				t.Cluster, err = r.Uint32()
				t.HasCluster = true
			case tlv.ContextTag(1):
				t.Endpoint, err = r.Uint16()
				t.HasEndpoint = true
			case tlv.ContextTag(2):
				t.DeviceType, err = r.Uint32()
				t.HasDeviceType = true
			}
			if err != nil {
				return nil, fmt.Errorf("%w: target: %w", errFormat, err)
			}
		}
		if err := r.Exit(); err != nil {
			return nil, fmt.Errorf("%w: %w", errFormat, err)
		}
		out = append(out, t)
	}
	if err := r.Exit(); err != nil {
		return nil, fmt.Errorf("%w: %w", errFormat, err)
	}
	return out, nil
}
