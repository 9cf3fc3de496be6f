package gemm

// genericTile is the portable micro-kernel: it computes the h×w top-left
// part of a tile, c = alpha·A·B + beta·c, with B(p, j) at b[boff+p*sb+j] and
// A(i, p) at a[aoff+p*sa+i] (modeP) or a[aoff+i*sa+p] (modeR). Like the
// assembly kernels it accumulates each element in its own variable over p in
// increasing order, then finishes with c = beta·c + alpha·Σ (c not read when
// beta is zero). Full 4×4 tiles use sixteen scalar accumulators.
func genericTile(k, h, w int, a []float64, aoff, sa, mode int, b []float64, boff, sb int, c []float64, coff, ldc int, alpha, beta float64) {
	ars, acs := 1, sa // modeP
	if mode == modeR {
		ars, acs = sa, 1
	}
	if h == 4 && w == 4 {
		var s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33 float64
		ap, bp := aoff, boff
		for p := 0; p < k; p++ {
			bb := b[bp : bp+4 : bp+4]
			b0, b1, b2, b3 := bb[0], bb[1], bb[2], bb[3]
			a0 := a[ap]
			a1 := a[ap+ars]
			a2 := a[ap+2*ars]
			a3 := a[ap+3*ars]
			s00 += a0 * b0
			s01 += a0 * b1
			s02 += a0 * b2
			s03 += a0 * b3
			s10 += a1 * b0
			s11 += a1 * b1
			s12 += a1 * b2
			s13 += a1 * b3
			s20 += a2 * b0
			s21 += a2 * b1
			s22 += a2 * b2
			s23 += a2 * b3
			s30 += a3 * b0
			s31 += a3 * b1
			s32 += a3 * b2
			s33 += a3 * b3
			ap += acs
			bp += sb
		}
		finishRow(c[coff:coff+4], alpha, beta, s00, s01, s02, s03)
		finishRow(c[coff+ldc:coff+ldc+4], alpha, beta, s10, s11, s12, s13)
		finishRow(c[coff+2*ldc:coff+2*ldc+4], alpha, beta, s20, s21, s22, s23)
		finishRow(c[coff+3*ldc:coff+3*ldc+4], alpha, beta, s30, s31, s32, s33)
		return
	}
	var acc [4 * 4]float64
	ap, bp := aoff, boff
	for p := 0; p < k; p++ {
		for i := 0; i < h; i++ {
			ai := a[ap+i*ars]
			for j := 0; j < w; j++ {
				acc[i*4+j] += ai * b[bp+j]
			}
		}
		ap += acs
		bp += sb
	}
	for i := 0; i < h; i++ {
		row := c[coff+i*ldc : coff+i*ldc+w]
		for j := range row {
			row[j] = finish(alpha, beta, row[j], acc[i*4+j])
		}
	}
}

func finishRow(c []float64, alpha, beta, s0, s1, s2, s3 float64) {
	c = c[:4]
	c[0] = finish(alpha, beta, c[0], s0)
	c[1] = finish(alpha, beta, c[1], s1)
	c[2] = finish(alpha, beta, c[2], s2)
	c[3] = finish(alpha, beta, c[3], s3)
}

// finish returns beta·c + alpha·s, or alpha·s when beta is zero (c unread).
func finish(alpha, beta, c, s float64) float64 {
	t := float64(alpha * s)
	if beta == 0 {
		return t
	}
	return beta*c + t
}
