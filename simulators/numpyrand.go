package simulators

import "math"

// mt19937 is the Mersenne Twister MT19937 of Matsumoto and Nishimura (1998),
// seeded as numpy's legacy numpy.random.RandomState(seed) seeds it (the
// reference init_genrand). It exists only to regenerate constants that sbibm
// drew from RandomState, not as a random source for simulations.
type mt19937 struct {
	mt       [624]uint32
	i        int
	hasGauss bool
	gauss    float64
}

func newMT19937(seed uint32) *mt19937 {
	m := &mt19937{i: 624}
	m.mt[0] = seed
	for i := 1; i < 624; i++ {
		m.mt[i] = 1812433253*(m.mt[i-1]^(m.mt[i-1]>>30)) + uint32(i)
	}
	return m
}

func (m *mt19937) uint32() uint32 {
	const upper, lower, matrixA = 0x80000000, 0x7fffffff, 0x9908b0df
	if m.i >= 624 {
		for k := range 624 {
			y := m.mt[k]&upper | m.mt[(k+1)%624]&lower
			m.mt[k] = m.mt[(k+397)%624] ^ y>>1
			if y&1 != 0 {
				m.mt[k] ^= matrixA
			}
		}
		m.i = 0
	}
	y := m.mt[m.i]
	m.i++
	y ^= y >> 11
	y ^= y << 7 & 0x9d2c5680
	y ^= y << 15 & 0xefc60000
	y ^= y >> 18
	return y
}

// float64 is numpy's legacy random_double: 53 random bits from two outputs.
func (m *mt19937) float64() float64 {
	a, b := m.uint32()>>5, m.uint32()>>6
	return (float64(a)*67108864 + float64(b)) / 9007199254740992
}

// normFloat64 is numpy's legacy_gauss, the polar Box–Muller method that
// RandomState.randn uses: each accepted pair gives two normals, the second
// cached for the next call.
func (m *mt19937) normFloat64() float64 {
	if m.hasGauss {
		m.hasGauss = false
		return m.gauss
	}
	var x1, x2, r2 float64
	for {
		x1 = 2*m.float64() - 1
		x2 = 2*m.float64() - 1
		r2 = x1*x1 + x2*x2
		if r2 < 1 && r2 != 0 {
			break
		}
	}
	f := math.Sqrt(-2 * math.Log(r2) / r2)
	m.gauss, m.hasGauss = f*x1, true
	return f * x2
}
