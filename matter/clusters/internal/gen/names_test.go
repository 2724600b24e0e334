package main

import (
	"reflect"
	"testing"
)

func TestWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"WebRTCSessionStruct", []string{"Web", "RTC", "Session", "Struct"}},
		{"WebRtcSessionId", []string{"Web", "Rtc", "Session", "Id"}},
		{"Wpa2Personal", []string{"Wpa2", "Personal"}},
		{"NOCStruct", []string{"NOC", "Struct"}},
		{"fabric-idx", []string{"fabric", "idx"}},
		{"X", []string{"X"}},
	}
	for _, tc := range tests {
		if got := words(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("words(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestGoName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"WebRtcSessionId", "WebRTCSessionID"},
		{"OriginatingEndpointId", "OriginatingEndpointID"},
		{"IceServers", "ICEServers"},
		{"UrLs", "URLs"},
		{"SdpmLineIndex", "SDPMLineIndex"},
		{"Ok", "OK"},
		{"Ipv6Addresses", "IPv6Addresses"},
		{"Identify", "Identify"}, // not an "Id" word
		{"NodeLabel", "NodeLabel"},
		{"semtag", "SemanticTagStruct"},
		{"1080p", "X1080p"},
	}
	for _, tc := range tests {
		if got := goName(tc.in); got != tc.want {
			t.Errorf("goName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTypeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"RegulatoryLocationTypeEnum", "RegulatoryLocationType"},
		{"WiFiSecurityBitmap", "WiFiSecurity"},
		{"WebRTCSessionStruct", "WebRTCSession"},
		{"BasicCommissioningInfo", "BasicCommissioningInfo"},
		{"semtag", "SemanticTag"},
		{"Struct", "Struct"}, // a suffix alone is kept
	}
	for _, tc := range tests {
		if got := typeName(tc.in); got != tc.want {
			t.Errorf("typeName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCommandName(t *testing.T) {
	tests := []struct {
		name, direction, want string
	}{
		{"ArmFailSafe", "request", "ArmFailSafeRequest"},
		{"ArmFailSafeResponse", "response", "ArmFailSafeResponse"},
		{"AttestationRequest", "request", "AttestationRequest"},
		{"NocResponse", "response", "NOCResponse"},
		{"Offer", "request", "OfferRequest"},
	}
	for _, tc := range tests {
		if got := commandName(&Command{Name: tc.name, Direction: tc.direction}); got != tc.want {
			t.Errorf("commandName(%s %s) = %q, want %q", tc.direction, tc.name, got, tc.want)
		}
	}
}
