package main

import (
	"fmt"
	"math/big"
	"strconv"
)

// primitive describes a primitive kind of the model: its Go type and how
// the generated code reads and writes it.
type primitive struct {
	goType string
	class  string // "uint", "int", "bool", "float32", "float64", "string", "octstr"
	bits   uint   // integer width in the model (24 for uint24)
}

var primitives = map[string]primitive{
	"bool":   {"bool", "bool", 0},
	"uint8":  {"uint8", "uint", 8},
	"uint16": {"uint16", "uint", 16},
	"uint24": {"uint32", "uint", 24},
	"uint32": {"uint32", "uint", 32},
	"uint40": {"uint64", "uint", 40},
	"uint48": {"uint64", "uint", 48},
	"uint56": {"uint64", "uint", 56},
	"uint64": {"uint64", "uint", 64},
	"int8":   {"int8", "int", 8},
	"int16":  {"int16", "int", 16},
	"int24":  {"int32", "int", 24},
	"int32":  {"int32", "int", 32},
	"int40":  {"int64", "int", 40},
	"int48":  {"int64", "int", 48},
	"int56":  {"int64", "int", 56},
	"int64":  {"int64", "int", 64},
	"single": {"float32", "float32", 0},
	"double": {"float64", "float64", 0},
	"string": {"string", "string", 0},
	"octstr": {"[]byte", "octstr", 0},
}

// goBits is the width of the Go type that holds an integer of the model's
// width.
func goBits(bits uint) uint {
	for _, w := range []uint{8, 16, 32, 64} {
		if bits <= w {
			return w
		}
	}
	return 64
}

// limits returns the range of an integer of the given class and width.
func limits(class string, bits uint) (lo, hi *big.Int) {
	one := big.NewInt(1)
	if class == "uint" {
		hi = new(big.Int).Sub(new(big.Int).Lsh(one, bits), one)
		return big.NewInt(0), hi
	}
	hi = new(big.Int).Sub(new(big.Int).Lsh(one, bits-1), one)
	lo = new(big.Int).Neg(new(big.Int).Lsh(one, bits-1))
	return lo, hi
}

// numBounds is the value range a constraint allows for an integer type,
// clamped to the type's own range; check is false when the constraint
// allows everything the type holds (nothing to check).
func numBounds(class string, bits uint, b Bounds) (lo, hi *big.Int, check bool, err error) {
	lo, hi = limits(class, bits)
	tlo, thi := new(big.Int).Set(lo), new(big.Int).Set(hi)
	if b.Min != nil {
		v, ok := new(big.Int).SetString(b.Min.String(), 10)
		if !ok {
			return nil, nil, false, fmt.Errorf("bad minimum %q", b.Min.String())
		}
		if v.Cmp(lo) > 0 {
			lo = v
		}
	}
	if b.Max != nil {
		v, ok := new(big.Int).SetString(b.Max.String(), 10)
		if !ok {
			return nil, nil, false, fmt.Errorf("bad maximum %q", b.Max.String())
		}
		if v.Cmp(hi) < 0 {
			hi = v
		}
	}
	if lo.Cmp(hi) > 0 {
		return nil, nil, false, fmt.Errorf("empty range %v to %v", lo, hi)
	}
	return lo, hi, lo.Cmp(tlo) != 0 || hi.Cmp(thi) != 0, nil
}

// lenBounds is the length range of a string, octet string or list, with
// NoLimit (-1) for no maximum.
func lenBounds(b Bounds) (lo, hi int, err error) {
	hi = -1
	if b.Min != nil {
		v, err := strconv.Atoi(b.Min.String())
		if err != nil || v < 0 {
			return 0, 0, fmt.Errorf("bad minimum length %q", b.Min.String())
		}
		lo = v
	}
	if b.Max != nil {
		v, err := strconv.Atoi(b.Max.String())
		if err != nil || v < 0 {
			return 0, 0, fmt.Errorf("bad maximum length %q", b.Max.String())
		}
		hi = v
	}
	if hi >= 0 && lo > hi {
		return 0, 0, fmt.Errorf("empty length range %d to %d", lo, hi)
	}
	return lo, hi, nil
}

func limitLiteral(n int) string {
	if n < 0 {
		return "field.NoLimit"
	}
	return strconv.Itoa(n)
}
