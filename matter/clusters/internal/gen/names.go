package main

import (
	"strings"
	"unicode"
)

// The model's names are the spec's, camel-cased by matter.js: field and
// element names lose initialisms ("WebRtcSessionId"), datatype names keep
// them ("WebRTCSessionStruct"). Go names restore the common initialisms so
// both spellings meet ("WebRTCSessionID"); the table is deliberately short
// and only holds initialisms that occur in the exported clusters.
var initialisms = map[string]string{
	"acl":  "ACL",
	"arl":  "ARL",
	"av":   "AV",
	"case": "CASE",
	"csr":  "CSR",
	"dst":  "DST",
	"ice":  "ICE",
	"icac": "ICAC",
	"id":   "ID",
	"ids":  "IDs",
	"ip":   "IP",
	"ipk":  "IPK",
	"ipv4": "IPv4",
	"ipv6": "IPv6",
	"noc":  "NOC",
	"nocs": "NOCs",
	"ntp":  "NTP",
	"ok":   "OK",
	"osd":  "OSD",
	"ota":  "OTA",
	"pase": "PASE",
	"rtc":  "RTC",
	"sdp":  "SDP",
	"ssid": "SSID",
	"tls":  "TLS",
	"url":  "URL",
	"utc":  "UTC",
	"vid":  "VID",
}

// wholeNames replaces names the word splitter cannot repair, because
// matter.js's camel-casing split an initialism in the wrong place.
var wholeNames = map[string]string{
	"UrLs":          "URLs",
	"SdpmLineIndex": "SDPMLineIndex",
	"Caid":          "CAID",
	"Ccdid":         "CCDID",
	"semtag":        "SemanticTagStruct", // the spec's name for the global "semtag" type
	"namespace":     "NamespaceEnum",
}

// words splits a camel-case name: "WebRTCSessionStruct" → Web RTC Session
// Struct, "Wpa2Personal" → Wpa2 Personal. Digits stay with the word before.
func words(name string) []string {
	rs := []rune(name)
	var out []string
	start := 0
	for i := 1; i < len(rs); i++ {
		prev, cur := rs[i-1], rs[i]
		var next rune
		if i+1 < len(rs) {
			next = rs[i+1]
		}
		boundary := false
		switch {
		case !unicode.IsLetter(cur) && !unicode.IsDigit(cur):
			boundary = true
		case !unicode.IsLetter(prev) && !unicode.IsDigit(prev):
			boundary = true
		case unicode.IsUpper(cur) && (unicode.IsLower(prev) || unicode.IsDigit(prev)):
			boundary = true // fooBar, foo2Bar
		case unicode.IsUpper(cur) && unicode.IsUpper(prev) && unicode.IsLower(next):
			boundary = true // RTCSession: the S starts a word
		}
		if boundary {
			out = append(out, string(rs[start:i]))
			start = i
		}
	}
	out = append(out, string(rs[start:]))
	// Separators (spaces, dashes, underscores) are not words.
	kept := out[:0]
	for _, w := range out {
		if strings.IndexFunc(w, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) >= 0 {
			kept = append(kept, strings.TrimFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }))
		}
	}
	return kept
}

// goName turns a model name into an exported Go identifier.
func goName(name string) string {
	if w, ok := wholeNames[name]; ok {
		name = w
	}
	var b strings.Builder
	for _, w := range words(name) {
		if up, ok := initialisms[strings.ToLower(w)]; ok {
			b.WriteString(up)
			continue
		}
		r := []rune(w)
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	s := b.String()
	if s == "" || !unicode.IsLetter([]rune(s)[0]) {
		s = "X" + s
	}
	return s
}

// typeName is the Go name of a datatype: the model's name without its
// Enum/Bitmap/Struct suffix, which the Go type's kind already says
// (RegulatoryLocationTypeEnum → RegulatoryLocationType).
func typeName(name string) string {
	n := goName(name)
	for _, suffix := range []string{"Enum", "Bitmap", "Struct"} {
		if strings.HasSuffix(n, suffix) && len(n) > len(suffix) {
			return strings.TrimSuffix(n, suffix)
		}
	}
	return n
}

// packageName is the Go package of a cluster or scope: its name in lower
// case (BasicInformation → basicinformation).
func packageName(scope string) string {
	return strings.ToLower(scope)
}
