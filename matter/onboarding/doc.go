// Package onboarding implements the Matter onboarding payload (Matter Core
// Specification §5.1): the information a commissioner needs before it can
// find a device and open a PASE session with it, in the two forms printed
// on a device or shown at start-up.
//
//   - The QR code payload (§5.1.3): "MT:" followed by the base-38 encoding
//     of 88 packed bits (version, Vendor ID, Product ID, commissioning flow,
//     discovery capabilities, discriminator, passcode) and optional TLV
//     data. See [Payload.QR] and [ParseQR].
//   - The manual pairing code (§5.1.4): 11 decimal digits, or 21 with the
//     Vendor and Product IDs, ending in a Verhoeff check digit. It carries
//     only the upper 4 bits of the discriminator. See [Payload.ManualCode]
//     and [ParseManualCode].
//
// [Payload.Banner] renders both, with the QR code drawn for a terminal by
// the sibling package qrcode.
//
// The payload the Matter SDK's example apps print, and its test scripts
// commission with, is Vendor ID 0xFFF1, Product ID 0x8001, discriminator
// 3840, passcode 20202021, discoverable on the IP network:
//
//	MT:-24J0AFN00KA0648G00    (QR code payload)
//	34970112332               (manual pairing code, shown as 3497-011-2332)
//
// This firmware's development identity differs only in its Product ID,
// 0x8000, which changes the QR code payload to MT:Y.K90AFN00KA0648G00; the
// manual code, which does not carry the Product ID, stays 34970112332.
//
// Section numbers follow the Matter Core Specification 1.3.
package onboarding
