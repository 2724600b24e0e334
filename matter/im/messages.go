package im

import (
	"github.com/mattercam/mattercam/matter/dm"
	"github.com/mattercam/mattercam/matter/tlv"
)

// The Interaction Model messages (Core §10.7). Each is a TLV structure
// with an anonymous tag whose fields carry context tags; every message ends
// with InteractionModelRevision (tag 0xFF). AppendTo encodes (always
// sending the revision); Unmarshal decodes strictly: mandatory fields must
// be present, duplicates and wrong types are rejected, unknown context
// tags are skipped (Core §10.2.2), and arrays hold at most MaxDecodedItems
// entries. Decoded byte slices (Data, Fields) alias the input.

// StatusResponse is a StatusResponseMessage (Core §10.7.1): Status 0, the
// IM status that ends or acknowledges a step of a transaction (§8.2.3).
type StatusResponse struct {
	Status dm.Status
}

// AppendTo appends the encoded message to dst.
func (m *StatusResponse) AppendTo(dst []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(anon)
	w.PutUint(ctx(0), uint64(m.Status))
	endMessage(w)
	return w.Bytes()
}

// Unmarshal decodes b, which must hold exactly one message.
func (m *StatusResponse) Unmarshal(b []byte) error {
	*m = StatusResponse{}
	const what = "StatusResponseMessage"
	fs, err := decodeMessage(b, what, func(r *tlv.Reader, tag uint8) error {
		if tag == 0 {
			v, err := readU8(r, what+": Status")
			m.Status = dm.Status(v)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return require(&fs, what, 0)
}

// ReadRequest is a ReadRequestMessage (Core §10.7.2): AttributeRequests 0,
// EventRequests 1, EventFilters 2, FabricFiltered 3 (mandatory),
// DataVersionFilters 4.
type ReadRequest struct {
	AttributeRequests  []AttributePath
	EventRequests      []EventPath
	EventFilters       []EventFilter
	FabricFiltered     bool
	DataVersionFilters []DataVersionFilter
}

// AppendTo appends the encoded message to dst.
func (m *ReadRequest) AppendTo(dst []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(anon)
	appendPaths(w, 0, m.AttributeRequests, m.EventRequests, 1, m.EventFilters, 2)
	putBool(w, 3, m.FabricFiltered)
	appendDVFilters(w, 4, m.DataVersionFilters)
	endMessage(w)
	return w.Bytes()
}

// Unmarshal decodes b, which must hold exactly one message.
func (m *ReadRequest) Unmarshal(b []byte) error {
	*m = ReadRequest{}
	const what = "ReadRequestMessage"
	fs, err := decodeMessage(b, what, func(r *tlv.Reader, tag uint8) error {
		switch tag {
		case 0:
			return decodeAttrPaths(r, &m.AttributeRequests)
		case 1:
			return decodeEventPaths(r, &m.EventRequests)
		case 2:
			return decodeEventFilters(r, &m.EventFilters)
		case 3:
			v, err := readBool(r, what+": FabricFiltered")
			m.FabricFiltered = v
			return err
		case 4:
			return decodeDVFilters(r, &m.DataVersionFilters)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return require(&fs, what, 3)
}

// SubscribeRequest is a SubscribeRequestMessage (Core §10.7.3):
// KeepSubscriptions 0, MinIntervalFloor 1 (seconds), MaxIntervalCeiling 2
// (seconds), AttributeRequests 3, EventRequests 4, EventFilters 5,
// FabricFiltered 7, DataVersionFilters 8. Tag 6 is unused.
type SubscribeRequest struct {
	KeepSubscriptions  bool
	MinIntervalFloor   uint16
	MaxIntervalCeiling uint16
	AttributeRequests  []AttributePath
	EventRequests      []EventPath
	EventFilters       []EventFilter
	FabricFiltered     bool
	DataVersionFilters []DataVersionFilter
}

// AppendTo appends the encoded message to dst.
func (m *SubscribeRequest) AppendTo(dst []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(anon)
	putBool(w, 0, m.KeepSubscriptions)
	w.PutUint(ctx(1), uint64(m.MinIntervalFloor))
	w.PutUint(ctx(2), uint64(m.MaxIntervalCeiling))
	appendPaths(w, 3, m.AttributeRequests, m.EventRequests, 4, m.EventFilters, 5)
	putBool(w, 7, m.FabricFiltered)
	appendDVFilters(w, 8, m.DataVersionFilters)
	endMessage(w)
	return w.Bytes()
}

// Unmarshal decodes b, which must hold exactly one message.
func (m *SubscribeRequest) Unmarshal(b []byte) error {
	*m = SubscribeRequest{}
	const what = "SubscribeRequestMessage"
	fs, err := decodeMessage(b, what, func(r *tlv.Reader, tag uint8) error {
		var err error
		switch tag {
		case 0:
			m.KeepSubscriptions, err = readBool(r, what+": KeepSubscriptions")
		case 1:
			m.MinIntervalFloor, err = readU16(r, what+": MinIntervalFloor")
		case 2:
			m.MaxIntervalCeiling, err = readU16(r, what+": MaxIntervalCeiling")
		case 3:
			err = decodeAttrPaths(r, &m.AttributeRequests)
		case 4:
			err = decodeEventPaths(r, &m.EventRequests)
		case 5:
			err = decodeEventFilters(r, &m.EventFilters)
		case 7:
			m.FabricFiltered, err = readBool(r, what+": FabricFiltered")
		case 8:
			err = decodeDVFilters(r, &m.DataVersionFilters)
		}
		return err
	})
	if err != nil {
		return err
	}
	return require(&fs, what, 0, 1, 2, 7)
}

// SubscribeResponse is a SubscribeResponseMessage (Core §10.7.4):
// SubscriptionId 0, MaxInterval 2 (seconds). Tag 1 is unused.
type SubscribeResponse struct {
	SubscriptionID uint32
	MaxInterval    uint16
}

// AppendTo appends the encoded message to dst.
func (m *SubscribeResponse) AppendTo(dst []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(anon)
	w.PutUint(ctx(0), uint64(m.SubscriptionID))
	w.PutUint(ctx(2), uint64(m.MaxInterval))
	endMessage(w)
	return w.Bytes()
}

// Unmarshal decodes b, which must hold exactly one message.
func (m *SubscribeResponse) Unmarshal(b []byte) error {
	*m = SubscribeResponse{}
	const what = "SubscribeResponseMessage"
	fs, err := decodeMessage(b, what, func(r *tlv.Reader, tag uint8) error {
		var err error
		switch tag {
		case 0:
			m.SubscriptionID, err = readU32(r, what+": SubscriptionId")
		case 2:
			m.MaxInterval, err = readU16(r, what+": MaxInterval")
		}
		return err
	})
	if err != nil {
		return err
	}
	return require(&fs, what, 0, 2)
}

// ReportData is a ReportDataMessage (Core §10.7.5): SubscriptionId 0,
// AttributeReports 1, EventReports 2, MoreChunkedMessages 3,
// SuppressResponse 4; all optional.
type ReportData struct {
	SubscriptionID      uint32
	HasSubscriptionID   bool
	AttributeReports    []AttributeReport
	EventReports        []EventReport
	MoreChunkedMessages bool
	SuppressResponse    bool
}

// AppendTo appends the encoded message to dst.
func (m *ReportData) AppendTo(dst []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(anon)
	if m.HasSubscriptionID {
		w.PutUint(ctx(0), uint64(m.SubscriptionID))
	}
	if len(m.AttributeReports) > 0 {
		w.StartArray(ctx(1))
		for i := range m.AttributeReports {
			m.AttributeReports[i].encode(w, anon)
		}
		w.EndContainer()
	}
	if len(m.EventReports) > 0 {
		w.StartArray(ctx(2))
		for i := range m.EventReports {
			m.EventReports[i].encode(w, anon)
		}
		w.EndContainer()
	}
	if m.MoreChunkedMessages {
		putBool(w, 3, true)
	}
	if m.SuppressResponse {
		putBool(w, 4, true)
	}
	endMessage(w)
	return w.Bytes()
}

// Unmarshal decodes b, which must hold exactly one message.
func (m *ReportData) Unmarshal(b []byte) error {
	*m = ReportData{}
	const what = "ReportDataMessage"
	_, err := decodeMessage(b, what, func(r *tlv.Reader, tag uint8) error {
		var err error
		switch tag {
		case 0:
			m.SubscriptionID, err = readU32(r, what+": SubscriptionId")
			m.HasSubscriptionID = true
		case 1:
			err = decodeArray(r, what+": AttributeReports", func(r *tlv.Reader) error {
				a, err := decodeAttributeReport(r)
				m.AttributeReports = append(m.AttributeReports, a)
				return err
			})
		case 2:
			err = decodeArray(r, what+": EventReports", func(r *tlv.Reader) error {
				e, err := decodeEventReport(r)
				m.EventReports = append(m.EventReports, e)
				return err
			})
		case 3:
			m.MoreChunkedMessages, err = readBool(r, what+": MoreChunkedMessages")
		case 4:
			m.SuppressResponse, err = readBool(r, what+": SuppressResponse")
		}
		return err
	})
	return err
}

// WriteRequest is a WriteRequestMessage (Core §10.7.6): SuppressResponse
// 0, TimedRequest 1 (mandatory), WriteRequests 2 (mandatory),
// MoreChunkedMessages 3.
type WriteRequest struct {
	SuppressResponse    bool
	TimedRequest        bool
	WriteRequests       []AttributeData
	MoreChunkedMessages bool
}

// AppendTo appends the encoded message to dst.
func (m *WriteRequest) AppendTo(dst []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(anon)
	if m.SuppressResponse {
		putBool(w, 0, true)
	}
	putBool(w, 1, m.TimedRequest)
	w.StartArray(ctx(2))
	for i := range m.WriteRequests {
		m.WriteRequests[i].encode(w, anon)
	}
	w.EndContainer()
	if m.MoreChunkedMessages {
		putBool(w, 3, true)
	}
	endMessage(w)
	return w.Bytes()
}

// Unmarshal decodes b, which must hold exactly one message.
func (m *WriteRequest) Unmarshal(b []byte) error {
	*m = WriteRequest{}
	const what = "WriteRequestMessage"
	fs, err := decodeMessage(b, what, func(r *tlv.Reader, tag uint8) error {
		var err error
		switch tag {
		case 0:
			m.SuppressResponse, err = readBool(r, what+": SuppressResponse")
		case 1:
			m.TimedRequest, err = readBool(r, what+": TimedRequest")
		case 2:
			err = decodeArray(r, what+": WriteRequests", func(r *tlv.Reader) error {
				d, err := decodeAttributeData(r)
				m.WriteRequests = append(m.WriteRequests, d)
				return err
			})
		case 3:
			m.MoreChunkedMessages, err = readBool(r, what+": MoreChunkedMessages")
		}
		return err
	})
	if err != nil {
		return err
	}
	return require(&fs, what, 1, 2)
}

// WriteResponse is a WriteResponseMessage (Core §10.7.7): WriteResponses 0,
// one AttributeStatusIB per written path.
type WriteResponse struct {
	WriteResponses []AttributeStatus
}

// AppendTo appends the encoded message to dst.
func (m *WriteResponse) AppendTo(dst []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(anon)
	w.StartArray(ctx(0))
	for i := range m.WriteResponses {
		m.WriteResponses[i].encode(w, anon)
	}
	w.EndContainer()
	endMessage(w)
	return w.Bytes()
}

// Unmarshal decodes b, which must hold exactly one message.
func (m *WriteResponse) Unmarshal(b []byte) error {
	*m = WriteResponse{}
	const what = "WriteResponseMessage"
	fs, err := decodeMessage(b, what, func(r *tlv.Reader, tag uint8) error {
		if tag == 0 {
			return decodeArray(r, what+": WriteResponses", func(r *tlv.Reader) error {
				s, err := decodeAttributeStatus(r)
				m.WriteResponses = append(m.WriteResponses, s)
				return err
			})
		}
		return nil
	})
	if err != nil {
		return err
	}
	return require(&fs, what, 0)
}

// InvokeRequest is an InvokeRequestMessage (Core §10.7.9):
// SuppressResponse 0, TimedRequest 1, InvokeRequests 2, all mandatory.
type InvokeRequest struct {
	SuppressResponse bool
	TimedRequest     bool
	InvokeRequests   []CommandData
}

// AppendTo appends the encoded message to dst.
func (m *InvokeRequest) AppendTo(dst []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(anon)
	putBool(w, 0, m.SuppressResponse)
	putBool(w, 1, m.TimedRequest)
	w.StartArray(ctx(2))
	for i := range m.InvokeRequests {
		m.InvokeRequests[i].encode(w, anon)
	}
	w.EndContainer()
	endMessage(w)
	return w.Bytes()
}

// Unmarshal decodes b, which must hold exactly one message.
func (m *InvokeRequest) Unmarshal(b []byte) error {
	*m = InvokeRequest{}
	const what = "InvokeRequestMessage"
	fs, err := decodeMessage(b, what, func(r *tlv.Reader, tag uint8) error {
		var err error
		switch tag {
		case 0:
			m.SuppressResponse, err = readBool(r, what+": SuppressResponse")
		case 1:
			m.TimedRequest, err = readBool(r, what+": TimedRequest")
		case 2:
			err = decodeArray(r, what+": InvokeRequests", func(r *tlv.Reader) error {
				c, err := decodeCommandData(r)
				m.InvokeRequests = append(m.InvokeRequests, c)
				return err
			})
		}
		return err
	})
	if err != nil {
		return err
	}
	return require(&fs, what, 0, 1, 2)
}

// InvokeResponse is an InvokeResponseMessage (Core §10.7.10):
// SuppressResponse 0 (mandatory), InvokeResponses 1 (mandatory),
// MoreChunkedMessages 2.
type InvokeResponse struct {
	SuppressResponse    bool
	InvokeResponses     []InvokeResult
	MoreChunkedMessages bool
}

// AppendTo appends the encoded message to dst.
func (m *InvokeResponse) AppendTo(dst []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(anon)
	putBool(w, 0, m.SuppressResponse)
	w.StartArray(ctx(1))
	for i := range m.InvokeResponses {
		m.InvokeResponses[i].encode(w, anon)
	}
	w.EndContainer()
	if m.MoreChunkedMessages {
		putBool(w, 2, true)
	}
	endMessage(w)
	return w.Bytes()
}

// Unmarshal decodes b, which must hold exactly one message.
func (m *InvokeResponse) Unmarshal(b []byte) error {
	*m = InvokeResponse{}
	const what = "InvokeResponseMessage"
	fs, err := decodeMessage(b, what, func(r *tlv.Reader, tag uint8) error {
		var err error
		switch tag {
		case 0:
			m.SuppressResponse, err = readBool(r, what+": SuppressResponse")
		case 1:
			err = decodeArray(r, what+": InvokeResponses", func(r *tlv.Reader) error {
				c, err := decodeInvokeResult(r)
				m.InvokeResponses = append(m.InvokeResponses, c)
				return err
			})
		case 2:
			m.MoreChunkedMessages, err = readBool(r, what+": MoreChunkedMessages")
		}
		return err
	})
	if err != nil {
		return err
	}
	return require(&fs, what, 0, 1)
}

// TimedRequest is a TimedRequestMessage (Core §10.7.8): Timeout 0, in
// milliseconds.
type TimedRequest struct {
	Timeout uint16
}

// AppendTo appends the encoded message to dst.
func (m *TimedRequest) AppendTo(dst []byte) ([]byte, error) {
	w := tlv.NewWriter(dst)
	w.StartStructure(anon)
	w.PutUint(ctx(0), uint64(m.Timeout))
	endMessage(w)
	return w.Bytes()
}

// Unmarshal decodes b, which must hold exactly one message.
func (m *TimedRequest) Unmarshal(b []byte) error {
	*m = TimedRequest{}
	const what = "TimedRequestMessage"
	fs, err := decodeMessage(b, what, func(r *tlv.Reader, tag uint8) error {
		if tag == 0 {
			var err error
			m.Timeout, err = readU16(r, what+": Timeout")
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return require(&fs, what, 0)
}

// Shared encoders and decoders of the request arrays.

func appendPaths(w *tlv.Writer, attrTag uint8, attrs []AttributePath, events []EventPath, eventTag uint8, filters []EventFilter, filterTag uint8) {
	if len(attrs) > 0 {
		w.StartArray(ctx(attrTag))
		for i := range attrs {
			attrs[i].encode(w, anon)
		}
		w.EndContainer()
	}
	if len(events) > 0 {
		w.StartArray(ctx(eventTag))
		for i := range events {
			events[i].encode(w, anon)
		}
		w.EndContainer()
	}
	if len(filters) > 0 {
		w.StartArray(ctx(filterTag))
		for i := range filters {
			filters[i].encode(w, anon)
		}
		w.EndContainer()
	}
}

func appendDVFilters(w *tlv.Writer, tag uint8, fs []DataVersionFilter) {
	if len(fs) == 0 {
		return
	}
	w.StartArray(ctx(tag))
	for i := range fs {
		fs[i].encode(w, anon)
	}
	w.EndContainer()
}

func decodeAttrPaths(r *tlv.Reader, out *[]AttributePath) error {
	return decodeArray(r, "AttributeRequests", func(r *tlv.Reader) error {
		p, err := decodeAttributePath(r)
		*out = append(*out, p)
		return err
	})
}

func decodeEventPaths(r *tlv.Reader, out *[]EventPath) error {
	return decodeArray(r, "EventRequests", func(r *tlv.Reader) error {
		p, err := decodeEventPath(r)
		*out = append(*out, p)
		return err
	})
}

func decodeEventFilters(r *tlv.Reader, out *[]EventFilter) error {
	return decodeArray(r, "EventFilters", func(r *tlv.Reader) error {
		f, err := decodeEventFilter(r)
		*out = append(*out, f)
		return err
	})
}

func decodeDVFilters(r *tlv.Reader, out *[]DataVersionFilter) error {
	return decodeArray(r, "DataVersionFilters", func(r *tlv.Reader) error {
		f, err := decodeDataVersionFilter(r)
		*out = append(*out, f)
		return err
	})
}
