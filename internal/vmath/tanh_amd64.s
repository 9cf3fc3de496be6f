//go:build amd64 && !purego

#include "textflag.h"

// Vectorised tanh: the algorithm of tanhGo (tanh.go), the same operations
// in the same order, so that all implementations give the same bits.
// With a = min(|x|, 20):
//
//   kf = (a·2log2(e) - (1/2 - 2⁻⁵⁴)) + (1.5·2⁵² + 1023) rounds 2a/ln 2
//        down to an integer n >= 0 (up to ties), leaving n + 1023 in the
//        low mantissa bits;
//   s  = a - n·ln2hi/2 - n·ln2lo/2 (Cody–Waite; s in [-ε, ln(2)/2]);
//   h  = s + s²·Q(s) ≈ (e^(2s) - 1)/2, Q = E(s²) + s·O(s²) (its even and
//        odd parts by Horner in s², two short chains instead of one
//        long one);
//   S  = 2ⁿ (kf shifted left by 52 bits);
//   H  = S·h + (S - 1)/2 = (e^(2a) - 1)/2, D = H + 1, with
//        D + (H - (D - 1)) = H + 1 exactly;
//   y  = 1/D, q = H·y, r = H - q·D - q·(H - (D - 1)) and
//   tanh(a) = q + r·y, the quotient H/(H + 1) corrected by its residual
//        (H - (D - 1) is exact for H < 2⁵³, and so is the first residual
//        step; in 290,000 random tests with H < 2⁵³ the result was H/(H+1)
//        correctly rounded; above, where tanh is within 1 ulp of 1, it
//        can be 1 instead of 1 - 2⁻⁵³);
//
// then the sign of x is copied onto the result. Every step is monotone in
// the previous ones (s >= 0 and Q's coefficients are positive), so tanh is
// monotone between the 57 points where n changes (the tests check those
// too). NaN propagates (the min keeps a NaN a); ±Inf gives ±1; ±0
// gives ±0; subnormals give themselves.
//
// Both kernels divide (VDIVPD, correctly rounded, like Go's /), so they
// give the bits of tanhGo. (A reciprocal from VRCP14PD with two Newton
// steps gave the same bits on 145,000 inputs but was no faster.) The
// AVX-512 kernel computes two vectors per iteration, interleaved, which
// gives the processor independent work for the latency of the chain of
// about 35 dependent operations (5–8% faster than one vector at a time).
//
// The constants come from tanhTab (tanh_amd64.go), 64 bytes each, passed
// as the last argument and held in R8.

#define tABS 0
#define tSIGN 64
#define tCLAMP 128
#define tC 192
#define tHALFDN 256
#define tMAGIC 320
#define tLN2HI 384
#define tLN2LO 448
#define tONE 512
#define tHALF 576
#define tNHALF 640
#define tQ0 704
#define tQ1 768
#define tQ2 832
#define tQ3 896
#define tQ4 960
#define tQ5 1024
#define tQ6 1088
#define tQ7 1152
#define tQ8 1216
#define tQ9 1280
#define tQ10 1344

// TANH512 computes Z12 = tanh(Z0) with Z1–Z14; Z15 = 20.
#define TANH512 \
	VPANDQ tABS(R8), Z0, Z1; \
	VMINPD Z1, Z15, Z1; \
	VMOVUPD tHALFDN(R8), Z2; \
	VFMADD231PD tC(R8), Z1, Z2; \
	VADDPD tMAGIC(R8), Z2, Z2; \
	VSUBPD tMAGIC(R8), Z2, Z3; \
	VMOVAPD Z1, Z4; \
	VFNMADD231PD tLN2HI(R8), Z3, Z4; \
	VFNMADD231PD tLN2LO(R8), Z3, Z4; \
	VMULPD Z4, Z4, Z5; \
	VMOVUPD tQ0(R8), Z6; \
	VMOVUPD tQ1(R8), Z7; \
	VFMADD213PD tQ2(R8), Z5, Z6; \
	VFMADD213PD tQ3(R8), Z5, Z7; \
	VFMADD213PD tQ4(R8), Z5, Z6; \
	VFMADD213PD tQ5(R8), Z5, Z7; \
	VFMADD213PD tQ6(R8), Z5, Z6; \
	VFMADD213PD tQ7(R8), Z5, Z7; \
	VFMADD213PD tQ8(R8), Z5, Z6; \
	VFMADD213PD tQ9(R8), Z5, Z7; \
	VFMADD213PD tQ10(R8), Z5, Z6; \
	VFMADD213PD Z6, Z4, Z7; \
	VFMADD213PD Z4, Z5, Z7; \
	VPSLLQ $52, Z2, Z8; \
	VMOVUPD tHALF(R8), Z3; \
	VFMADD213PD tNHALF(R8), Z8, Z3; \
	VFMADD213PD Z3, Z8, Z7; \
	VADDPD tONE(R8), Z7, Z9; \
	VSUBPD tONE(R8), Z9, Z10; \
	VSUBPD Z10, Z7, Z10; \
	VMOVUPD tONE(R8), Z11; \
	VDIVPD Z9, Z11, Z11; \
	VMULPD Z11, Z7, Z12; \
	VMOVAPD Z7, Z13; \
	VFNMADD231PD Z12, Z9, Z13; \
	VFNMADD231PD Z12, Z10, Z13; \
	VFMADD231PD Z13, Z11, Z12; \
	VPTERNLOGQ $0xf8, tSIGN(R8), Z0, Z12

// TANH512X2 computes Z12 = tanh(Z0) and Z28 = tanh(Z16), interleaved,
// with Z1–Z14 and Z17–Z31; Z15 = 20.
#define TANH512X2 \
	VPANDQ tABS(R8), Z0, Z1; \
	VPANDQ tABS(R8), Z16, Z17; \
	VMINPD Z1, Z15, Z1; \
	VMINPD Z17, Z15, Z17; \
	VMOVUPD tHALFDN(R8), Z2; \
	VMOVUPD tHALFDN(R8), Z18; \
	VFMADD231PD tC(R8), Z1, Z2; \
	VFMADD231PD tC(R8), Z17, Z18; \
	VADDPD tMAGIC(R8), Z2, Z2; \
	VADDPD tMAGIC(R8), Z18, Z18; \
	VSUBPD tMAGIC(R8), Z2, Z3; \
	VSUBPD tMAGIC(R8), Z18, Z19; \
	VMOVAPD Z1, Z4; \
	VMOVAPD Z17, Z20; \
	VFNMADD231PD tLN2HI(R8), Z3, Z4; \
	VFNMADD231PD tLN2HI(R8), Z19, Z20; \
	VFNMADD231PD tLN2LO(R8), Z3, Z4; \
	VFNMADD231PD tLN2LO(R8), Z19, Z20; \
	VMULPD Z4, Z4, Z5; \
	VMULPD Z20, Z20, Z21; \
	VMOVUPD tQ0(R8), Z6; \
	VMOVUPD tQ0(R8), Z22; \
	VMOVUPD tQ1(R8), Z7; \
	VMOVUPD tQ1(R8), Z23; \
	VFMADD213PD tQ2(R8), Z5, Z6; \
	VFMADD213PD tQ2(R8), Z21, Z22; \
	VFMADD213PD tQ3(R8), Z5, Z7; \
	VFMADD213PD tQ3(R8), Z21, Z23; \
	VFMADD213PD tQ4(R8), Z5, Z6; \
	VFMADD213PD tQ4(R8), Z21, Z22; \
	VFMADD213PD tQ5(R8), Z5, Z7; \
	VFMADD213PD tQ5(R8), Z21, Z23; \
	VFMADD213PD tQ6(R8), Z5, Z6; \
	VFMADD213PD tQ6(R8), Z21, Z22; \
	VFMADD213PD tQ7(R8), Z5, Z7; \
	VFMADD213PD tQ7(R8), Z21, Z23; \
	VFMADD213PD tQ8(R8), Z5, Z6; \
	VFMADD213PD tQ8(R8), Z21, Z22; \
	VFMADD213PD tQ9(R8), Z5, Z7; \
	VFMADD213PD tQ9(R8), Z21, Z23; \
	VFMADD213PD tQ10(R8), Z5, Z6; \
	VFMADD213PD tQ10(R8), Z21, Z22; \
	VFMADD213PD Z6, Z4, Z7; \
	VFMADD213PD Z22, Z20, Z23; \
	VFMADD213PD Z4, Z5, Z7; \
	VFMADD213PD Z20, Z21, Z23; \
	VPSLLQ $52, Z2, Z8; \
	VPSLLQ $52, Z18, Z24; \
	VMOVUPD tHALF(R8), Z3; \
	VMOVUPD tHALF(R8), Z19; \
	VFMADD213PD tNHALF(R8), Z8, Z3; \
	VFMADD213PD tNHALF(R8), Z24, Z19; \
	VFMADD213PD Z3, Z8, Z7; \
	VFMADD213PD Z19, Z24, Z23; \
	VADDPD tONE(R8), Z7, Z9; \
	VADDPD tONE(R8), Z23, Z25; \
	VSUBPD tONE(R8), Z9, Z10; \
	VSUBPD tONE(R8), Z25, Z26; \
	VSUBPD Z10, Z7, Z10; \
	VSUBPD Z26, Z23, Z26; \
	VMOVUPD tONE(R8), Z11; \
	VMOVUPD tONE(R8), Z27; \
	VDIVPD Z9, Z11, Z11; \
	VDIVPD Z25, Z27, Z27; \
	VMULPD Z11, Z7, Z12; \
	VMULPD Z27, Z23, Z28; \
	VMOVAPD Z7, Z13; \
	VMOVAPD Z23, Z29; \
	VFNMADD231PD Z12, Z9, Z13; \
	VFNMADD231PD Z28, Z25, Z29; \
	VFNMADD231PD Z12, Z10, Z13; \
	VFNMADD231PD Z28, Z26, Z29; \
	VFMADD231PD Z13, Z11, Z12; \
	VFMADD231PD Z29, Z27, Z28; \
	VPTERNLOGQ $0xf8, tSIGN(R8), Z0, Z12; \
	VPTERNLOGQ $0xf8, tSIGN(R8), Z16, Z28

// func tanhAVX512(dst, x *float64, n int, tab *float64)
TEXT ·tanhAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ tab+24(FP), R8
	VMOVUPD tCLAMP(R8), Z15
	CMPQ CX, $16
	JL one
loop2:
	VMOVUPD (SI), Z0
	VMOVUPD 64(SI), Z16
	TANH512X2
	VMOVUPD Z12, (DI)
	VMOVUPD Z28, 64(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $16, CX
	CMPQ CX, $16
	JGE loop2
one:
	CMPQ CX, $8
	JL tail
	VMOVUPD (SI), Z0
	TANH512
	VMOVUPD Z12, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $8, CX
tail:
	TESTQ CX, CX
	JLE done
	// The last n < 8 values: masked load (lanes past n read as 0, no
	// fault) and masked store.
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K2
	VMOVUPD.Z (SI), K2, Z0
	TANH512
	VMOVUPD Z12, K2, (DI)
done:
	VZEROUPPER
	RET

// TANH256 computes Y12 = tanh(Y0) with Y1–Y14; Y15 = 20.
#define TANH256 \
	VANDPD tABS(R8), Y0, Y1; \
	VMINPD Y1, Y15, Y1; \
	VMOVUPD tHALFDN(R8), Y2; \
	VFMADD231PD tC(R8), Y1, Y2; \
	VADDPD tMAGIC(R8), Y2, Y2; \
	VSUBPD tMAGIC(R8), Y2, Y3; \
	VMOVAPD Y1, Y4; \
	VFNMADD231PD tLN2HI(R8), Y3, Y4; \
	VFNMADD231PD tLN2LO(R8), Y3, Y4; \
	VMULPD Y4, Y4, Y5; \
	VMOVUPD tQ0(R8), Y6; \
	VMOVUPD tQ1(R8), Y7; \
	VFMADD213PD tQ2(R8), Y5, Y6; \
	VFMADD213PD tQ3(R8), Y5, Y7; \
	VFMADD213PD tQ4(R8), Y5, Y6; \
	VFMADD213PD tQ5(R8), Y5, Y7; \
	VFMADD213PD tQ6(R8), Y5, Y6; \
	VFMADD213PD tQ7(R8), Y5, Y7; \
	VFMADD213PD tQ8(R8), Y5, Y6; \
	VFMADD213PD tQ9(R8), Y5, Y7; \
	VFMADD213PD tQ10(R8), Y5, Y6; \
	VFMADD213PD Y6, Y4, Y7; \
	VFMADD213PD Y4, Y5, Y7; \
	VPSLLQ $52, Y2, Y8; \
	VMOVUPD tHALF(R8), Y3; \
	VFMADD213PD tNHALF(R8), Y8, Y3; \
	VFMADD213PD Y3, Y8, Y7; \
	VADDPD tONE(R8), Y7, Y9; \
	VSUBPD tONE(R8), Y9, Y10; \
	VSUBPD Y10, Y7, Y10; \
	VMOVUPD tONE(R8), Y11; \
	VDIVPD Y9, Y11, Y11; \
	VMULPD Y11, Y7, Y12; \
	VMOVAPD Y7, Y13; \
	VFNMADD231PD Y12, Y9, Y13; \
	VFNMADD231PD Y12, Y10, Y13; \
	VFMADD231PD Y13, Y11, Y12; \
	VANDPD tSIGN(R8), Y0, Y14; \
	VORPD Y14, Y12, Y12

// func tanhAVX2(dst, x *float64, n int, tab *float64)
// n must be a multiple of 4.
TEXT ·tanhAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ tab+24(FP), R8
	VMOVUPD tCLAMP(R8), Y15
	SHRQ $2, CX
	JZ done
loop:
	VMOVUPD (SI), Y0
	TANH256
	VMOVUPD Y12, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// func addTanhGradAVX512(dst, grad, y *float64, n int, tab *float64)
// dst[i] = fma(g[i], 1 - y[i]², dst[i]), with 1 - y² = fnmadd(y, y, 1).
TEXT ·addTanhGradAVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ y+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ tab+32(FP), R8
	VMOVUPD tONE(R8), Z16
	CMPQ CX, $8
	JL gtail512
gloop512:
	VMOVUPD (DX), Z0
	VMOVAPD Z16, Z1
	VFNMADD231PD Z0, Z0, Z1
	VMOVUPD (DI), Z2
	VFMADD231PD (SI), Z1, Z2
	VMOVUPD Z2, (DI)
	ADDQ $64, DI
	ADDQ $64, SI
	ADDQ $64, DX
	SUBQ $8, CX
	CMPQ CX, $8
	JGE gloop512
gtail512:
	TESTQ CX, CX
	JLE gdone512
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K2
	VMOVUPD.Z (DX), K2, Z0
	VMOVAPD Z16, Z1
	VFNMADD231PD Z0, Z0, Z1
	VMOVUPD.Z (DI), K2, Z2
	VMOVUPD.Z (SI), K2, Z3
	VFMADD231PD Z3, Z1, Z2
	VMOVUPD Z2, K2, (DI)
gdone512:
	VZEROUPPER
	RET

// func addTanhGradAVX2(dst, grad, y *float64, n int, tab *float64)
// n must be a multiple of 4.
TEXT ·addTanhGradAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ y+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ tab+32(FP), R8
	VMOVUPD tONE(R8), Y8
	SHRQ $2, CX
	JZ gdone256
gloop256:
	VMOVUPD (DX), Y0
	VMOVAPD Y8, Y1
	VFNMADD231PD Y0, Y0, Y1
	VMOVUPD (DI), Y2
	VFMADD231PD (SI), Y1, Y2
	VMOVUPD Y2, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	DECQ CX
	JNZ gloop256
gdone256:
	VZEROUPPER
	RET
