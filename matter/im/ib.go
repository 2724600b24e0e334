package im

import (
	"errors"

	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
)

// Status is a StatusIB (Core §10.6.17), a structure: Status 0, the IM
// status, and the optional ClusterStatus 1, a cluster-specific code
// (Core §8.10.2).
type Status struct {
	Status           dm.Status
	ClusterStatus    uint8
	HasClusterStatus bool
}

// Success is the StatusIB of a successful action.
var Success = Status{}

// Err returns nil for SUCCESS without a cluster status and a
// *dm.StatusError otherwise.
func (s Status) Err() error {
	if s.Status == dm.StatusSuccess && !s.HasClusterStatus {
		return nil
	}
	e := &dm.StatusError{Status: s.Status}
	if s.HasClusterStatus {
		cs := s.ClusterStatus
		e.ClusterStatus = &cs
	}
	return e
}

func (s Status) String() string {
	if err := s.Err(); err != nil {
		return err.Error()
	}
	return dm.StatusSuccess.String()
}

// StatusOf maps a handler's error to the status sent for it: nil is
// SUCCESS, a *dm.StatusError its status, anything else FAILURE.
func StatusOf(err error) Status {
	if err == nil {
		return Success
	}
	var se *dm.StatusError
	if errors.As(err, &se) {
		s := Status{Status: se.Status}
		if se.ClusterStatus != nil {
			s.ClusterStatus, s.HasClusterStatus = *se.ClusterStatus, true
		}
		return s
	}
	return Status{Status: dm.StatusFailure}
}

func (s *Status) encode(w *tlv.Writer, tag tlv.Tag) {
	w.StartStructure(tag)
	w.PutUint(ctx(0), uint64(s.Status))
	if s.HasClusterStatus {
		w.PutUint(ctx(1), uint64(s.ClusterStatus))
	}
	w.EndContainer()
}

func decodeStatus(r *tlv.Reader) (Status, error) {
	const what = "StatusIB"
	var s Status
	if err := enter(r, tlv.TypeStructure, what); err != nil {
		return s, err
	}
	var fs fieldSet
	for {
		tag, done, err := fs.next(r, what)
		if err != nil {
			return s, err
		}
		if done {
			break
		}
		switch tag {
		case 0:
			var v uint8
			v, err = readU8(r, what+": Status")
			s.Status = dm.Status(v)
		case 1:
			s.ClusterStatus, err = readU8(r, what+": ClusterStatus")
			s.HasClusterStatus = true
		}
		if err != nil {
			return s, err
		}
	}
	if err := require(&fs, what, 0); err != nil {
		return s, err
	}
	return s, exit(r, what)
}

// AttributeData is an AttributeDataIB (Core §10.6.4), a structure:
// DataVersion 0 uint32 (optional), Path 1 AttributePathIB, Data 2 any.
type AttributeData struct {
	DataVersion    uint32
	HasDataVersion bool
	Path           AttributePath
	// Data is the value as one complete TLV element; its own tag is
	// ignored (it is sent as context tag 2). Decoded values alias the
	// message.
	Data []byte
}

func (d *AttributeData) encode(w *tlv.Writer, tag tlv.Tag) {
	w.StartStructure(tag)
	if d.HasDataVersion {
		w.PutUint(ctx(0), uint64(d.DataVersion))
	}
	d.Path.encode(w, ctx(1))
	w.PutRaw(ctx(2), d.Data)
	w.EndContainer()
}

func decodeAttributeData(r *tlv.Reader) (AttributeData, error) {
	const what = "AttributeDataIB"
	var d AttributeData
	if err := enter(r, tlv.TypeStructure, what); err != nil {
		return d, err
	}
	var fs fieldSet
	for {
		tag, done, err := fs.next(r, what)
		if err != nil {
			return d, err
		}
		if done {
			break
		}
		switch tag {
		case 0:
			d.DataVersion, err = readU32(r, what+": DataVersion")
			d.HasDataVersion = true
		case 1:
			d.Path, err = decodeAttributePath(r)
		case 2:
			d.Data, err = readRaw(r, what+": Data")
		}
		if err != nil {
			return d, err
		}
	}
	if err := require(&fs, what, 1, 2); err != nil {
		return d, err
	}
	return d, exit(r, what)
}

// AttributeStatus is an AttributeStatusIB (Core §10.6.15), a structure:
// Path 0 AttributePathIB, Status 1 StatusIB.
type AttributeStatus struct {
	Path   AttributePath
	Status Status
}

func (s *AttributeStatus) encode(w *tlv.Writer, tag tlv.Tag) {
	w.StartStructure(tag)
	s.Path.encode(w, ctx(0))
	s.Status.encode(w, ctx(1))
	w.EndContainer()
}

func decodeAttributeStatus(r *tlv.Reader) (AttributeStatus, error) {
	const what = "AttributeStatusIB"
	var s AttributeStatus
	if err := enter(r, tlv.TypeStructure, what); err != nil {
		return s, err
	}
	var fs fieldSet
	for {
		tag, done, err := fs.next(r, what)
		if err != nil {
			return s, err
		}
		if done {
			break
		}
		switch tag {
		case 0:
			s.Path, err = decodeAttributePath(r)
		case 1:
			s.Status, err = decodeStatus(r)
		}
		if err != nil {
			return s, err
		}
	}
	if err := require(&fs, what, 0, 1); err != nil {
		return s, err
	}
	return s, exit(r, what)
}

// AttributeReport is an AttributeReportIB (Core §10.6.5), a structure
// holding exactly one of AttributeStatus 0 (an AttributeStatusIB) and
// AttributeData 1 (an AttributeDataIB).
type AttributeReport struct {
	// IsStatus selects Status; otherwise Data applies.
	IsStatus bool
	Status   AttributeStatus
	Data     AttributeData
}

// Path returns the path of the report, whichever kind it is.
func (a *AttributeReport) Path() AttributePath {
	if a.IsStatus {
		return a.Status.Path
	}
	return a.Data.Path
}

func (a *AttributeReport) encode(w *tlv.Writer, tag tlv.Tag) {
	w.StartStructure(tag)
	if a.IsStatus {
		a.Status.encode(w, ctx(0))
	} else {
		a.Data.encode(w, ctx(1))
	}
	w.EndContainer()
}

func decodeAttributeReport(r *tlv.Reader) (AttributeReport, error) {
	const what = "AttributeReportIB"
	var a AttributeReport
	if err := enter(r, tlv.TypeStructure, what); err != nil {
		return a, err
	}
	var fs fieldSet
	for {
		tag, done, err := fs.next(r, what)
		if err != nil {
			return a, err
		}
		if done {
			break
		}
		switch tag {
		case 0:
			a.Status, err = decodeAttributeStatus(r)
			a.IsStatus = true
		case 1:
			a.Data, err = decodeAttributeData(r)
		}
		if err != nil {
			return a, err
		}
	}
	if fs.has(0) == fs.has(1) {
		return a, malformed("%s: needs exactly one of AttributeStatus and AttributeData", what)
	}
	return a, exit(r, what)
}

// Timestamp kinds of an EventDataIB (Core §10.6.9): which one of the four
// timestamp fields an event carries.
type TimestampKind uint8

const (
	NoTimestamp    TimestampKind = 0
	EpochTimestamp TimestampKind = 3 // POSIX milliseconds
	SystemTime     TimestampKind = 4 // milliseconds since boot
	DeltaEpoch     TimestampKind = 5 // milliseconds since the previous event's epoch timestamp
	DeltaSystem    TimestampKind = 6 // milliseconds since the previous event's system timestamp
)

// EventReport is an EventReportIB (Core §10.6.10), a structure holding
// exactly one of EventStatus 0 (an EventStatusIB: Path 0, Status 1) and
// EventData 1 (an EventDataIB: Path 0, EventNumber 1, Priority 2, one of
// the timestamps 3-6, Data 7).
type EventReport struct {
	Path     EventPath
	IsStatus bool
	Status   Status

	Number        uint64
	Priority      dm.Priority
	TimestampKind TimestampKind
	Timestamp     uint64
	// Data is the event's fields as one TLV element, nil if absent.
	Data []byte
}

func (e *EventReport) encode(w *tlv.Writer, tag tlv.Tag) {
	w.StartStructure(tag)
	if e.IsStatus {
		w.StartStructure(ctx(0))
		e.Path.encode(w, ctx(0))
		e.Status.encode(w, ctx(1))
		w.EndContainer()
	} else {
		w.StartStructure(ctx(1))
		e.Path.encode(w, ctx(0))
		w.PutUint(ctx(1), e.Number)
		w.PutUint(ctx(2), uint64(e.Priority))
		if e.TimestampKind != NoTimestamp {
			w.PutUint(ctx(uint8(e.TimestampKind)), e.Timestamp)
		}
		if e.Data != nil {
			w.PutRaw(ctx(7), e.Data)
		}
		w.EndContainer()
	}
	w.EndContainer()
}

func decodeEventReport(r *tlv.Reader) (EventReport, error) {
	const what = "EventReportIB"
	var e EventReport
	if err := enter(r, tlv.TypeStructure, what); err != nil {
		return e, err
	}
	var fs fieldSet
	for {
		tag, done, err := fs.next(r, what)
		if err != nil {
			return e, err
		}
		if done {
			break
		}
		switch tag {
		case 0:
			err = decodeEventStatus(r, &e)
			e.IsStatus = true
		case 1:
			err = decodeEventData(r, &e)
		}
		if err != nil {
			return e, err
		}
	}
	if fs.has(0) == fs.has(1) {
		return e, malformed("%s: needs exactly one of EventStatus and EventData", what)
	}
	return e, exit(r, what)
}

func decodeEventStatus(r *tlv.Reader, e *EventReport) error {
	const what = "EventStatusIB"
	if err := enter(r, tlv.TypeStructure, what); err != nil {
		return err
	}
	var fs fieldSet
	for {
		tag, done, err := fs.next(r, what)
		if err != nil {
			return err
		}
		if done {
			break
		}
		switch tag {
		case 0:
			e.Path, err = decodeEventPath(r)
		case 1:
			e.Status, err = decodeStatus(r)
		}
		if err != nil {
			return err
		}
	}
	if err := require(&fs, what, 0, 1); err != nil {
		return err
	}
	return exit(r, what)
}

func decodeEventData(r *tlv.Reader, e *EventReport) error {
	const what = "EventDataIB"
	if err := enter(r, tlv.TypeStructure, what); err != nil {
		return err
	}
	var fs fieldSet
	for {
		tag, done, err := fs.next(r, what)
		if err != nil {
			return err
		}
		if done {
			break
		}
		switch tag {
		case 0:
			e.Path, err = decodeEventPath(r)
		case 1:
			e.Number, err = readU64(r, what+": EventNumber")
		case 2:
			var p uint8
			p, err = readU8(r, what+": Priority")
			if err == nil && p > uint8(dm.PriorityCritical) {
				err = malformed("%s: priority %d", what, p)
			}
			e.Priority = dm.Priority(p)
		case 3, 4, 5, 6:
			if e.TimestampKind != NoTimestamp {
				return malformed("%s: more than one timestamp", what)
			}
			e.TimestampKind = TimestampKind(tag)
			e.Timestamp, err = readU64(r, what+": timestamp")
		case 7:
			e.Data, err = readRaw(r, what+": Data")
		}
		if err != nil {
			return err
		}
	}
	if err := require(&fs, what, 0, 1, 2); err != nil {
		return err
	}
	return exit(r, what)
}

// CommandData is a CommandDataIB (Core §10.6.12), a structure: Path 0
// CommandPathIB, Fields 1 (the command's fields structure, optional) and
// Ref 2 uint16 (CommandRef, mandatory in batched invokes, Core §8.8.2).
type CommandData struct {
	Path CommandPath
	// Fields is the command's fields as one TLV element, nil if absent.
	Fields []byte
	Ref    uint16
	HasRef bool
}

func (c *CommandData) encode(w *tlv.Writer, tag tlv.Tag) {
	w.StartStructure(tag)
	c.Path.encode(w, ctx(0))
	if c.Fields != nil {
		w.PutRaw(ctx(1), c.Fields)
	}
	if c.HasRef {
		w.PutUint(ctx(2), uint64(c.Ref))
	}
	w.EndContainer()
}

func decodeCommandData(r *tlv.Reader) (CommandData, error) {
	const what = "CommandDataIB"
	var c CommandData
	if err := enter(r, tlv.TypeStructure, what); err != nil {
		return c, err
	}
	var fs fieldSet
	for {
		tag, done, err := fs.next(r, what)
		if err != nil {
			return c, err
		}
		if done {
			break
		}
		switch tag {
		case 0:
			c.Path, err = decodeCommandPath(r)
		case 1:
			c.Fields, err = readRaw(r, what+": CommandFields")
		case 2:
			c.Ref, err = readU16(r, what+": CommandRef")
			c.HasRef = true
		}
		if err != nil {
			return c, err
		}
	}
	if err := require(&fs, what, 0); err != nil {
		return c, err
	}
	return c, exit(r, what)
}

// InvokeResult is an InvokeResponseIB (Core §10.6.13), a structure holding
// exactly one of Command 0 (a CommandDataIB: a response command) and
// Status 1 (a CommandStatusIB: Path 0, Status 1, Ref 2).
type InvokeResult struct {
	IsStatus bool
	// Path is the path of the status, or of the response command: the
	// request's endpoint and cluster with the response's command ID.
	Path   CommandPath
	Status Status
	// Fields is the response command's fields, nil if absent.
	Fields []byte
	Ref    uint16
	HasRef bool
}

func (c *InvokeResult) encode(w *tlv.Writer, tag tlv.Tag) {
	w.StartStructure(tag)
	if c.IsStatus {
		w.StartStructure(ctx(1))
		c.Path.encode(w, ctx(0))
		c.Status.encode(w, ctx(1))
		if c.HasRef {
			w.PutUint(ctx(2), uint64(c.Ref))
		}
		w.EndContainer()
	} else {
		cd := CommandData{Path: c.Path, Fields: c.Fields, Ref: c.Ref, HasRef: c.HasRef}
		cd.encode(w, ctx(0))
	}
	w.EndContainer()
}

func decodeInvokeResult(r *tlv.Reader) (InvokeResult, error) {
	const what = "InvokeResponseIB"
	var c InvokeResult
	if err := enter(r, tlv.TypeStructure, what); err != nil {
		return c, err
	}
	var fs fieldSet
	for {
		tag, done, err := fs.next(r, what)
		if err != nil {
			return c, err
		}
		if done {
			break
		}
		switch tag {
		case 0:
			var cd CommandData
			cd, err = decodeCommandData(r)
			c.Path, c.Fields, c.Ref, c.HasRef = cd.Path, cd.Fields, cd.Ref, cd.HasRef
		case 1:
			c.IsStatus = true
			err = decodeCommandStatus(r, &c)
		}
		if err != nil {
			return c, err
		}
	}
	if fs.has(0) == fs.has(1) {
		return c, malformed("%s: needs exactly one of Command and Status", what)
	}
	return c, exit(r, what)
}

func decodeCommandStatus(r *tlv.Reader, c *InvokeResult) error {
	const what = "CommandStatusIB"
	if err := enter(r, tlv.TypeStructure, what); err != nil {
		return err
	}
	var fs fieldSet
	for {
		tag, done, err := fs.next(r, what)
		if err != nil {
			return err
		}
		if done {
			break
		}
		switch tag {
		case 0:
			c.Path, err = decodeCommandPath(r)
		case 1:
			c.Status, err = decodeStatus(r)
		case 2:
			c.Ref, err = readU16(r, what+": CommandRef")
			c.HasRef = true
		}
		if err != nil {
			return err
		}
	}
	if err := require(&fs, what, 0, 1); err != nil {
		return err
	}
	return exit(r, what)
}
