package rules

import "testing"

// BenchmarkNormalise is the cost of building the normalised key alone.
func BenchmarkNormalise(b *testing.B) {
	ins := benchInputs(b)
	benchKeys(b, mustDefault(b), ins)
}
