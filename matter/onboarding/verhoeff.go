package onboarding

// The Verhoeff check digit (J. Verhoeff, "Error Detecting Decimal Codes",
// Mathematical Centre Tract 29, Amsterdam, 1969), which §5.1.4.1 prescribes
// for the manual pairing code. It detects every single-digit error and
// every transposition of adjacent digits.

// verhoeffD is the multiplication table of the dihedral group D5, with the
// rotations as 0-4 and the reflections as 5-9.
var verhoeffD = [10][10]uint8{
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
	{1, 2, 3, 4, 0, 6, 7, 8, 9, 5},
	{2, 3, 4, 0, 1, 7, 8, 9, 5, 6},
	{3, 4, 0, 1, 2, 8, 9, 5, 6, 7},
	{4, 0, 1, 2, 3, 9, 5, 6, 7, 8},
	{5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
	{6, 5, 9, 8, 7, 1, 0, 4, 3, 2},
	{7, 6, 5, 9, 8, 2, 1, 0, 4, 3},
	{8, 7, 6, 5, 9, 3, 2, 1, 0, 4},
	{9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
}

// verhoeffP holds the powers of Verhoeff's position permutation
// (1 5 7 6 2 8 3 0 9 4): row i is the permutation applied to a digit i
// places from the right, counting the check digit as place 0. It repeats
// with period 8.
var verhoeffP = [8][10]uint8{
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
	{1, 5, 7, 6, 2, 8, 3, 0, 9, 4},
	{5, 8, 0, 3, 7, 9, 6, 1, 4, 2},
	{8, 9, 1, 6, 0, 4, 3, 5, 2, 7},
	{9, 4, 5, 3, 1, 2, 6, 8, 7, 0},
	{4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
	{2, 7, 9, 3, 8, 0, 6, 4, 1, 5},
	{7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
}

// verhoeffInv gives the inverse of each element of D5.
var verhoeffInv = [10]uint8{0, 4, 3, 2, 1, 5, 6, 7, 8, 9}

// verhoeffCheck returns the check digit, as an ASCII digit, to append to
// digits, a string of ASCII digits.
func verhoeffCheck(digits string) byte {
	var c uint8
	for i := 0; i < len(digits); i++ {
		d := digits[len(digits)-1-i] - '0'
		c = verhoeffD[c][verhoeffP[(i+1)%8][d]]
	}
	return '0' + verhoeffInv[c]
}

// verhoeffValid reports whether digits, ASCII digits ending in their check
// digit, are consistent.
func verhoeffValid(digits string) bool {
	var c uint8
	for i := 0; i < len(digits); i++ {
		d := digits[len(digits)-1-i] - '0'
		c = verhoeffD[c][verhoeffP[i%8][d]]
	}
	return c == 0
}
