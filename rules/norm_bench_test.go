package rules

import "testing"

// BenchmarkNormalise is the cost of building the normalised key alone.
func BenchmarkNormalise(b *testing.B) {
	ins := benchInputs(b)
	e := mustDefault(b)
	b.SetBytes(reasonBytes(ins) / int64(len(ins)))
	b.ReportAllocs()
	cpu := cpuTime()
	var buf [keyBuf]byte
	i := 0
	for b.Loop() {
		var f facts
		e.key(buf[:0], &ins[i], &f)
		if i++; i == len(ins) {
			i = 0
		}
	}
	reportCPU(b, cpu)
}
