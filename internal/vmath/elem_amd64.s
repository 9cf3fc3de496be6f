//go:build amd64 && !purego

#include "textflag.h"

// Vectorised exp, log1p, softplus and sigmoid, the tanh gradient and the
// Adam update, for AVX-512 (8 values per instruction) and AVX2 with FMA (4).
// The constants come from elemTab (elem_amd64.go), passed as the last
// argument and held in R8; each occupies 64 bytes, at the offsets below
// (the k... indices there, times 64).
//
// exp(x): xc = min(max(x, -746), 710) (NaN passes through: it is the
// second source of VMINPD/VMAXPD, which returns that operand when either
// is NaN); k = round(xc·log2 e); r = xc - k·ln2hi - k·ln2lo (Cody–Waite,
// exact product, |r| <= ln2/2); exp(r) = 1 + (r + r²·Q(r)) with
// Q(r) = Σ_{n=2..13} rⁿ⁻²/n! (Taylor: the first omitted term is below
// 4.2e-18 relative); then the result is scaled by 2^k: by VSCALEFPD with
// AVX-512, by (p·2^k1)·2^k2 with k1 = floor(k/2), k2 = k - k1 (each a
// normal power of two built in the exponent bits) with AVX2. Both round
// once, also into the subnormal range, so they give identical results.
//
// log1p(x): u = 1 + x = 2^e·m with m in (√2/2, √2], f = m - 1 (exact);
// when e = 0 (u in (√2/2, √2]) f = x exactly and c = 0; otherwise
// c = (x - (u-1))/u (or (1 - (u-x))/u for u >= 2) corrects the rounding
// of u (fdlibm's s_log1p.c). Then with s = f/(2+f), z = s², hfsq = f²/2,
// R = z·(Lg1 + z·(Lg2 + … + z·Lg7)):
// log1p(x) = e·ln2hi - ((hfsq - (s·(hfsq+R) + (e·ln2lo + c))) - f).
// Special values are blended in at the end: ±0 → ±0, -1 → -Inf,
// x < -1 → NaN, +Inf → +Inf, NaN → NaN.
//
// softplus(x) = max(x, 0) + log1p(t), t = exp(-|x|) in [0, 1]: u = 1 + t
// is in [1, 2], so e is 0 or 1 and f = u - 1 or u/2 - 1 (both exact),
// c = (t - (u-1))/u.
//
// sigmoid(x) = n/(1 + t), t = exp(-|x|), n = t for x < 0 and 1 otherwise.


#define cONE 0
#define cHALF 64
#define cTWO 128
#define cABSMASK 192
#define cSIGN 256
#define cEXPHI 320
#define cEXPLO 384
#define cLOG2E 448
#define cLN2HI 512
#define cLN2LO 576
#define cE13 640
#define cE12 704
#define cE11 768
#define cE10 832
#define cE9 896
#define cE8 960
#define cE7 1024
#define cE6 1088
#define cE5 1152
#define cE4 1216
#define cE3 1280
#define cE2 1344
#define cMAGIC 1408
#define cSQRT2 1472
#define cLG7 1536
#define cLG6 1600
#define cLG5 1664
#define cLG4 1728
#define cLG3 1792
#define cLG2 1856
#define cLG1 1920
#define cMANT 1984
#define cTWO52 2048
#define cTWO52P1023 2112
#define cNEGONE 2176
#define cINF 2240
#define cNEGINF 2304
#define cNAN 2368

// EXP512 computes RES = exp(X) with Z1–Z4 (X and RES distinct from them).
#define EXP512(X, RES) \
	VMOVUPD cEXPHI(R8), Z1; \
	VMINPD X, Z1, Z1; \
	VMOVUPD cEXPLO(R8), Z2; \
	VMAXPD Z1, Z2, Z1; \
	VMULPD cLOG2E(R8), Z1, Z2; \
	VRNDSCALEPD $0, Z2, Z2; \
	VFNMADD231PD cLN2HI(R8), Z2, Z1; \
	VFNMADD231PD cLN2LO(R8), Z2, Z1; \
	VMOVUPD cE13(R8), Z3; \
	VFMADD213PD cE12(R8), Z1, Z3; \
	VFMADD213PD cE11(R8), Z1, Z3; \
	VFMADD213PD cE10(R8), Z1, Z3; \
	VFMADD213PD cE9(R8), Z1, Z3; \
	VFMADD213PD cE8(R8), Z1, Z3; \
	VFMADD213PD cE7(R8), Z1, Z3; \
	VFMADD213PD cE6(R8), Z1, Z3; \
	VFMADD213PD cE5(R8), Z1, Z3; \
	VFMADD213PD cE4(R8), Z1, Z3; \
	VFMADD213PD cE3(R8), Z1, Z3; \
	VFMADD213PD cE2(R8), Z1, Z3; \
	VMULPD Z1, Z1, Z4; \
	VFMADD213PD Z1, Z4, Z3; \
	VADDPD cONE(R8), Z3, Z3; \
	VSCALEFPD Z2, Z3, RES

// LOGCORE512 computes RES = e·ln2hi - ((hfsq - (s·(hfsq+R) + (e·ln2lo + c))) - f)
// from F = f, E = e, C = c, with Z10–Z15.
#define LOGCORE512(F, E, C, RES) \
	VADDPD cTWO(R8), F, Z10; \
	VDIVPD Z10, F, Z10; \
	VMULPD Z10, Z10, Z11; \
	VMOVUPD cLG7(R8), Z12; \
	VFMADD213PD cLG6(R8), Z11, Z12; \
	VFMADD213PD cLG5(R8), Z11, Z12; \
	VFMADD213PD cLG4(R8), Z11, Z12; \
	VFMADD213PD cLG3(R8), Z11, Z12; \
	VFMADD213PD cLG2(R8), Z11, Z12; \
	VFMADD213PD cLG1(R8), Z11, Z12; \
	VMULPD Z11, Z12, Z12; \
	VMULPD F, F, Z13; \
	VMULPD cHALF(R8), Z13, Z13; \
	VADDPD Z13, Z12, Z12; \
	VMOVAPD C, Z14; \
	VFMADD231PD cLN2LO(R8), E, Z14; \
	VFMADD231PD Z12, Z10, Z14; \
	VSUBPD Z14, Z13, Z14; \
	VSUBPD F, Z14, Z14; \
	VMULPD cLN2HI(R8), E, Z15; \
	VSUBPD Z14, Z15, RES

// SIGMOID512 computes RES = sigmoid(X) with Z1–Z9 and K1; Z31 = 0.
#define SIGMOID512(X, RES) \
	VPORQ cSIGN(R8), X, Z6; \
	EXP512(Z6, Z7); \
	VADDPD cONE(R8), Z7, Z8; \
	VCMPPD $1, Z31, X, K1; \
	VMOVUPD cONE(R8), Z9; \
	VMOVAPD Z7, K1, Z9; \
	VDIVPD Z8, Z9, RES

// SOFTPLUS512 computes RES = softplus(X) with Z1–Z15 and K1; Z31 = 0.
#define SOFTPLUS512(X, RES) \
	VPORQ cSIGN(R8), X, Z6; \
	EXP512(Z6, Z7); \
	VADDPD cONE(R8), Z7, Z8; \
	VSUBPD cONE(R8), Z8, Z9; \
	VSUBPD Z9, Z7, Z6; \
	VDIVPD Z8, Z6, Z6; \
	VCMPPD $0x0e, cSQRT2(R8), Z8, K1; \
	VMOVUPD cNEGONE(R8), Z5; \
	VFMADD231PD cHALF(R8), Z8, Z5; \
	VMOVAPD Z5, K1, Z9; \
	VPXORQ Z5, Z5, Z5; \
	VMOVUPD cONE(R8), K1, Z5; \
	LOGCORE512(Z9, Z5, Z6, Z7); \
	VMAXPD X, Z31, Z8; \
	VADDPD Z7, Z8, RES

// LOG1P512 computes RES = log1p(X) with Z5–Z15 and K1–K3; Z31 = 0.
#define LOG1P512(X, RES) \
	VADDPD cONE(R8), X, Z6; \
	VGETEXPPD Z6, Z5; \
	VGETMANTPD $0, Z6, Z9; \
	VCMPPD $0x0e, cSQRT2(R8), Z9, K1; \
	VMULPD cHALF(R8), Z9, K1, Z9; \
	VADDPD cONE(R8), Z5, K1, Z5; \
	VSUBPD cONE(R8), Z9, Z9; \
	VSUBPD X, Z6, Z7; \
	VMOVUPD cONE(R8), Z8; \
	VSUBPD Z7, Z8, Z8; \
	VSUBPD cONE(R8), Z6, Z7; \
	VSUBPD Z7, X, Z7; \
	VCMPPD $0x0d, cTWO(R8), Z6, K2; \
	VMOVAPD Z8, K2, Z7; \
	VDIVPD Z6, Z7, Z7; \
	VCMPPD $0, Z31, Z5, K3; \
	VMOVAPD X, K3, Z9; \
	VMOVAPD Z31, K3, Z7; \
	LOGCORE512(Z9, Z5, Z7, RES); \
	VCMPPD $0, cNEGONE(R8), X, K1; \
	VMOVUPD cNEGINF(R8), K1, RES; \
	VCMPPD $1, cNEGONE(R8), X, K1; \
	VMOVUPD cNAN(R8), K1, RES; \
	VCMPPD $0, cINF(R8), X, K1; \
	VMOVUPD cINF(R8), K1, RES; \
	VCMPPD $0, Z31, X, K1; \
	VMOVAPD X, K1, RES; \
	VCMPPD $3, X, X, K1; \
	VMOVAPD X, K1, RES

// EXP256 computes RES = exp(X) with Y1–Y6 (X and RES distinct from them).
#define EXP256(X, RES) \
	VMOVUPD cEXPHI(R8), Y1; \
	VMINPD X, Y1, Y1; \
	VMOVUPD cEXPLO(R8), Y2; \
	VMAXPD Y1, Y2, Y1; \
	VMULPD cLOG2E(R8), Y1, Y2; \
	VROUNDPD $0, Y2, Y2; \
	VFNMADD231PD cLN2HI(R8), Y2, Y1; \
	VFNMADD231PD cLN2LO(R8), Y2, Y1; \
	VMOVUPD cE13(R8), Y3; \
	VFMADD213PD cE12(R8), Y1, Y3; \
	VFMADD213PD cE11(R8), Y1, Y3; \
	VFMADD213PD cE10(R8), Y1, Y3; \
	VFMADD213PD cE9(R8), Y1, Y3; \
	VFMADD213PD cE8(R8), Y1, Y3; \
	VFMADD213PD cE7(R8), Y1, Y3; \
	VFMADD213PD cE6(R8), Y1, Y3; \
	VFMADD213PD cE5(R8), Y1, Y3; \
	VFMADD213PD cE4(R8), Y1, Y3; \
	VFMADD213PD cE3(R8), Y1, Y3; \
	VFMADD213PD cE2(R8), Y1, Y3; \
	VMULPD Y1, Y1, Y4; \
	VFMADD213PD Y1, Y4, Y3; \
	VADDPD cONE(R8), Y3, Y3; \
	VMULPD cHALF(R8), Y2, Y5; \
	VROUNDPD $1, Y5, Y5; \
	VSUBPD Y5, Y2, Y6; \
	VADDPD cMAGIC(R8), Y5, Y5; \
	VPSLLQ $52, Y5, Y5; \
	VADDPD cMAGIC(R8), Y6, Y6; \
	VPSLLQ $52, Y6, Y6; \
	VMULPD Y5, Y3, Y3; \
	VMULPD Y6, Y3, RES

// LOGCORE256 is LOGCORE512 with Y1–Y4, Y6 and Y13 (F, E, C distinct
// from them).
#define LOGCORE256(F, E, C, RES) \
	VADDPD cTWO(R8), F, Y1; \
	VDIVPD Y1, F, Y1; \
	VMULPD Y1, Y1, Y2; \
	VMOVUPD cLG7(R8), Y3; \
	VFMADD213PD cLG6(R8), Y2, Y3; \
	VFMADD213PD cLG5(R8), Y2, Y3; \
	VFMADD213PD cLG4(R8), Y2, Y3; \
	VFMADD213PD cLG3(R8), Y2, Y3; \
	VFMADD213PD cLG2(R8), Y2, Y3; \
	VFMADD213PD cLG1(R8), Y2, Y3; \
	VMULPD Y2, Y3, Y3; \
	VMULPD F, F, Y4; \
	VMULPD cHALF(R8), Y4, Y4; \
	VADDPD Y4, Y3, Y3; \
	VMOVAPD C, Y6; \
	VFMADD231PD cLN2LO(R8), E, Y6; \
	VFMADD231PD Y3, Y1, Y6; \
	VSUBPD Y6, Y4, Y6; \
	VSUBPD F, Y6, Y6; \
	VMULPD cLN2HI(R8), E, Y13; \
	VSUBPD Y6, Y13, RES

// SIGMOID256 computes RES = sigmoid(X) with Y1–Y10; Y15 = 0.
#define SIGMOID256(X, RES) \
	VORPD cSIGN(R8), X, Y7; \
	EXP256(Y7, Y8); \
	VADDPD cONE(R8), Y8, Y9; \
	VCMPPD $1, Y15, X, Y7; \
	VMOVUPD cONE(R8), Y10; \
	VBLENDVPD Y7, Y8, Y10, Y10; \
	VDIVPD Y9, Y10, RES

// SOFTPLUS256 computes RES = softplus(X) with Y1–Y11 and Y13; Y15 = 0.
#define SOFTPLUS256(X, RES) \
	VORPD cSIGN(R8), X, Y7; \
	EXP256(Y7, Y8); \
	VADDPD cONE(R8), Y8, Y9; \
	VSUBPD cONE(R8), Y9, Y10; \
	VSUBPD Y10, Y8, Y7; \
	VDIVPD Y9, Y7, Y7; \
	VCMPPD $0x0e, cSQRT2(R8), Y9, Y11; \
	VMOVUPD cNEGONE(R8), Y5; \
	VFMADD231PD cHALF(R8), Y9, Y5; \
	VBLENDVPD Y11, Y5, Y10, Y10; \
	VANDPD cONE(R8), Y11, Y5; \
	LOGCORE256(Y10, Y5, Y7, Y8); \
	VMAXPD X, Y15, Y9; \
	VADDPD Y8, Y9, RES

// LOG1P256 computes RES = log1p(X) with Y1–Y11 and Y13; Y15 = 0.
#define LOG1P256(X, RES) \
	VADDPD cONE(R8), X, Y9; \
	VPSRLQ $52, Y9, Y5; \
	VORPD cTWO52(R8), Y5, Y5; \
	VSUBPD cTWO52P1023(R8), Y5, Y5; \
	VANDPD cMANT(R8), Y9, Y10; \
	VORPD cONE(R8), Y10, Y10; \
	VCMPPD $0x0e, cSQRT2(R8), Y10, Y11; \
	VMULPD cHALF(R8), Y10, Y7; \
	VBLENDVPD Y11, Y7, Y10, Y10; \
	VANDPD cONE(R8), Y11, Y7; \
	VADDPD Y7, Y5, Y5; \
	VSUBPD cONE(R8), Y10, Y10; \
	VSUBPD X, Y9, Y7; \
	VMOVUPD cONE(R8), Y8; \
	VSUBPD Y7, Y8, Y8; \
	VSUBPD cONE(R8), Y9, Y7; \
	VSUBPD Y7, X, Y7; \
	VCMPPD $0x0d, cTWO(R8), Y9, Y11; \
	VBLENDVPD Y11, Y8, Y7, Y7; \
	VDIVPD Y9, Y7, Y7; \
	VCMPPD $0, Y15, Y5, Y11; \
	VBLENDVPD Y11, X, Y10, Y10; \
	VANDNPD Y7, Y11, Y7; \
	LOGCORE256(Y10, Y5, Y7, RES); \
	VCMPPD $0, cNEGONE(R8), X, Y11; \
	VBLENDVPD Y11, cNEGINF(R8), RES, RES; \
	VCMPPD $1, cNEGONE(R8), X, Y11; \
	VBLENDVPD Y11, cNAN(R8), RES, RES; \
	VCMPPD $0, cINF(R8), X, Y11; \
	VBLENDVPD Y11, cINF(R8), RES, RES; \
	VCMPPD $0, Y15, X, Y11; \
	VBLENDVPD Y11, X, RES, RES; \
	VCMPPD $3, X, X, Y11; \
	VBLENDVPD Y11, X, RES, RES

// func expAVX512(dst, x *float64, n int, tab *float64)
TEXT ·expAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ tab+24(FP), R8
	VPXORQ Z31, Z31, Z31
	CMPQ CX, $8
	JL tail
loop:
	VMOVUPD (SI), Z0
	EXP512(Z0, Z16)
	VMOVUPD Z16, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $8, CX
	CMPQ CX, $8
	JGE loop
tail:
	TESTQ CX, CX
	JLE done
	// The last n < 8 values: masked load (lanes past n read as 0, no
	// fault) and masked store.
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K7
	VMOVUPD.Z (SI), K7, Z0
	EXP512(Z0, Z16)
	VMOVUPD Z16, K7, (DI)
done:
	VZEROUPPER
	RET

// func expAVX2(dst, x *float64, n int, tab *float64)
// n must be a multiple of 4.
TEXT ·expAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ tab+24(FP), R8
	VXORPD Y15, Y15, Y15
	SHRQ $2, CX
	JZ done
loop:
	VMOVUPD (SI), Y0
	EXP256(Y0, Y12)
	VMOVUPD Y12, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// func log1pAVX512(dst, x *float64, n int, tab *float64)
TEXT ·log1pAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ tab+24(FP), R8
	VPXORQ Z31, Z31, Z31
	CMPQ CX, $8
	JL tail
loop:
	VMOVUPD (SI), Z0
	LOG1P512(Z0, Z16)
	VMOVUPD Z16, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $8, CX
	CMPQ CX, $8
	JGE loop
tail:
	TESTQ CX, CX
	JLE done
	// The last n < 8 values: masked load (lanes past n read as 0, no
	// fault) and masked store.
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K7
	VMOVUPD.Z (SI), K7, Z0
	LOG1P512(Z0, Z16)
	VMOVUPD Z16, K7, (DI)
done:
	VZEROUPPER
	RET

// func log1pAVX2(dst, x *float64, n int, tab *float64)
// n must be a multiple of 4.
TEXT ·log1pAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ tab+24(FP), R8
	VXORPD Y15, Y15, Y15
	SHRQ $2, CX
	JZ done
loop:
	VMOVUPD (SI), Y0
	LOG1P256(Y0, Y12)
	VMOVUPD Y12, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// func softplusAVX512(dst, x *float64, n int, tab *float64)
TEXT ·softplusAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ tab+24(FP), R8
	VPXORQ Z31, Z31, Z31
	CMPQ CX, $8
	JL tail
loop:
	VMOVUPD (SI), Z0
	SOFTPLUS512(Z0, Z16)
	VMOVUPD Z16, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $8, CX
	CMPQ CX, $8
	JGE loop
tail:
	TESTQ CX, CX
	JLE done
	// The last n < 8 values: masked load (lanes past n read as 0, no
	// fault) and masked store.
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K7
	VMOVUPD.Z (SI), K7, Z0
	SOFTPLUS512(Z0, Z16)
	VMOVUPD Z16, K7, (DI)
done:
	VZEROUPPER
	RET

// func softplusAVX2(dst, x *float64, n int, tab *float64)
// n must be a multiple of 4.
TEXT ·softplusAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ tab+24(FP), R8
	VXORPD Y15, Y15, Y15
	SHRQ $2, CX
	JZ done
loop:
	VMOVUPD (SI), Y0
	SOFTPLUS256(Y0, Y12)
	VMOVUPD Y12, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// func sigmoidAVX512(dst, x *float64, n int, tab *float64)
TEXT ·sigmoidAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ tab+24(FP), R8
	VPXORQ Z31, Z31, Z31
	CMPQ CX, $8
	JL tail
loop:
	VMOVUPD (SI), Z0
	SIGMOID512(Z0, Z16)
	VMOVUPD Z16, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $8, CX
	CMPQ CX, $8
	JGE loop
tail:
	TESTQ CX, CX
	JLE done
	// The last n < 8 values: masked load (lanes past n read as 0, no
	// fault) and masked store.
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K7
	VMOVUPD.Z (SI), K7, Z0
	SIGMOID512(Z0, Z16)
	VMOVUPD Z16, K7, (DI)
done:
	VZEROUPPER
	RET

// func sigmoidAVX2(dst, x *float64, n int, tab *float64)
// n must be a multiple of 4.
TEXT ·sigmoidAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	MOVQ tab+24(FP), R8
	VXORPD Y15, Y15, Y15
	SHRQ $2, CX
	JZ done
loop:
	VMOVUPD (SI), Y0
	SIGMOID256(Y0, Y12)
	VMOVUPD Y12, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// func tanhGradAVX512(dst, grad, y *float64, n int, tab *float64)
// dst = grad·(1 - y²), with 1 - y² rounded once (FNMADD).
TEXT ·tanhGradAVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ y+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ tab+32(FP), R8
	VMOVUPD cONE(R8), Z16
	CMPQ CX, $8
	JL tail
loop:
	VMOVUPD (DX), Z0
	VMOVAPD Z16, Z1
	VFNMADD231PD Z0, Z0, Z1
	VMULPD (SI), Z1, Z2
	VMOVUPD Z2, (DI)
	ADDQ $64, DI
	ADDQ $64, SI
	ADDQ $64, DX
	SUBQ $8, CX
	CMPQ CX, $8
	JGE loop
tail:
	TESTQ CX, CX
	JLE done
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K7
	VMOVUPD.Z (DX), K7, Z0
	VMOVAPD Z16, Z1
	VFNMADD231PD Z0, Z0, Z1
	VMOVUPD.Z (SI), K7, Z3
	VMULPD Z3, Z1, Z2
	VMOVUPD Z2, K7, (DI)
done:
	VZEROUPPER
	RET

// func tanhGradAVX2(dst, grad, y *float64, n int, tab *float64)
// n must be a multiple of 4.
TEXT ·tanhGradAVX2(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ y+16(FP), DX
	MOVQ n+24(FP), CX
	MOVQ tab+32(FP), R8
	VMOVUPD cONE(R8), Y8
	SHRQ $2, CX
	JZ done
loop:
	VMOVUPD (DX), Y0
	VMOVAPD Y8, Y1
	VFNMADD231PD Y0, Y0, Y1
	VMULPD (SI), Y1, Y2
	VMOVUPD Y2, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET

// The Adam kernels update x at DI, m at DX and v at BX from the gradient at
// SI, with the constants of AdamConsts broadcast (b1, 1-b1, b2, 1-b2, step,
// 1/sqrt(bc2), eps), by the operations of the Go loop in its order and
// without fused multiply-adds.

// func adamAVX512(x, grad, m, v *float64, n int, c *AdamConsts)
TEXT ·adamAVX512(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ m+16(FP), DX
	MOVQ v+24(FP), BX
	MOVQ n+32(FP), CX
	MOVQ c+40(FP), R8
	VBROADCASTSD 0(R8), Z20
	VBROADCASTSD 8(R8), Z21
	VBROADCASTSD 16(R8), Z22
	VBROADCASTSD 24(R8), Z23
	VBROADCASTSD 32(R8), Z24
	VBROADCASTSD 40(R8), Z25
	VBROADCASTSD 48(R8), Z26
	CMPQ CX, $8
	JL tail
loop:
	VMOVUPD (SI), Z0
	VMULPD (DX), Z20, Z1
	VMULPD Z0, Z21, Z2
	VADDPD Z2, Z1, Z1
	VMOVUPD Z1, (DX)
	VMULPD Z0, Z23, Z3
	VMULPD Z0, Z3, Z3
	VMULPD (BX), Z22, Z4
	VADDPD Z3, Z4, Z4
	VMOVUPD Z4, (BX)
	VSQRTPD Z4, Z4
	VMULPD Z25, Z4, Z4
	VADDPD Z26, Z4, Z4
	VMULPD Z24, Z1, Z5
	VDIVPD Z4, Z5, Z5
	VMOVUPD (DI), Z6
	VSUBPD Z5, Z6, Z6
	VMOVUPD Z6, (DI)
	ADDQ $64, DI
	ADDQ $64, SI
	ADDQ $64, DX
	ADDQ $64, BX
	SUBQ $8, CX
	CMPQ CX, $8
	JGE loop
tail:
	TESTQ CX, CX
	JLE done
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K7
	VMOVUPD.Z (SI), K7, Z0
	VMOVUPD.Z (DX), K7, Z7
	VMULPD Z7, Z20, Z1
	VMULPD Z0, Z21, Z2
	VADDPD Z2, Z1, Z1
	VMOVUPD Z1, K7, (DX)
	VMULPD Z0, Z23, Z3
	VMULPD Z0, Z3, Z3
	VMOVUPD.Z (BX), K7, Z7
	VMULPD Z7, Z22, Z4
	VADDPD Z3, Z4, Z4
	VMOVUPD Z4, K7, (BX)
	VSQRTPD Z4, Z4
	VMULPD Z25, Z4, Z4
	VADDPD Z26, Z4, Z4
	VMULPD Z24, Z1, Z5
	VDIVPD Z4, Z5, Z5
	VMOVUPD.Z (DI), K7, Z6
	VSUBPD Z5, Z6, Z6
	VMOVUPD Z6, K7, (DI)
done:
	VZEROUPPER
	RET

// func adamAVX2(x, grad, m, v *float64, n int, c *AdamConsts)
// n must be a multiple of 4.
TEXT ·adamAVX2(SB), NOSPLIT, $0-48
	MOVQ x+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ m+16(FP), DX
	MOVQ v+24(FP), BX
	MOVQ n+32(FP), CX
	MOVQ c+40(FP), R8
	VBROADCASTSD 0(R8), Y8
	VBROADCASTSD 8(R8), Y9
	VBROADCASTSD 16(R8), Y10
	VBROADCASTSD 24(R8), Y11
	VBROADCASTSD 32(R8), Y12
	VBROADCASTSD 40(R8), Y13
	VBROADCASTSD 48(R8), Y14
	SHRQ $2, CX
	JZ done
loop:
	VMOVUPD (SI), Y0
	VMULPD (DX), Y8, Y1
	VMULPD Y0, Y9, Y2
	VADDPD Y2, Y1, Y1
	VMOVUPD Y1, (DX)
	VMULPD Y0, Y11, Y3
	VMULPD Y0, Y3, Y3
	VMULPD (BX), Y10, Y4
	VADDPD Y3, Y4, Y4
	VMOVUPD Y4, (BX)
	VSQRTPD Y4, Y4
	VMULPD Y13, Y4, Y4
	VADDPD Y14, Y4, Y4
	VMULPD Y12, Y1, Y5
	VDIVPD Y4, Y5, Y5
	VMOVUPD (DI), Y6
	VSUBPD Y5, Y6, Y6
	VMOVUPD Y6, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, DX
	ADDQ $32, BX
	DECQ CX
	JNZ loop
done:
	VZEROUPPER
	RET
