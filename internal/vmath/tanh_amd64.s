//go:build amd64 && !purego

#include "textflag.h"

// Vectorised tanh. With a = min(|x|, 20) (tanh rounds to 1 from a ≈ 19.06):
//
// a < T = 0.625: tanh(a) = a + a·z·P(z), z = a², P a degree-11 polynomial
//   fitted to (tanh(a)/a - 1)/z on [0, T²] by Chebyshev interpolation
//   (mpmath.chebyfit, 200-bit arithmetic); with its coefficients rounded to
//   float64 it is within 0.08 ulp of tanh, and the correction a·z·P is at
//   most 0.13·a, which damps its rounding errors.
// a >= T: tanh(a) = 1 - 2/(E+2), E = expm1(2a):
//   k = round(2a·log2 e), r = 2a - k·ln2hi - k·ln2lo (Cody–Waite; |r| <= ln2/2),
//   p = expm1(r) = r + r²·Σ_{n=2..13} rⁿ⁻²/n! (Taylor; truncation < 1e-17·|p|),
//   E = fma(2ᵏ, p, 2ᵏ-1); 2/(E+2) <= 0.46, so its error is not amplified.
// Both branches are computed and blended; the sign of x is copied onto the
// result. NaN propagates (the min keeps a NaN a; both branches give NaN);
// ±Inf gives ±1; ±0 gives ±0.
//
// The AVX-512 kernel takes 1/(E+2) from VRCP14PD refined by two Newton
// steps (error about 0.6 ulp); the AVX2 kernel divides. Measured errors are
// in the package documentation.
//
// tanhConst holds each constant 8 times (64 bytes), so that both kernels
// use full-width memory operands.

// 0: |x| mask
DATA ·tanhConst+0(SB)/8, $0x7fffffffffffffff
DATA ·tanhConst+8(SB)/8, $0x7fffffffffffffff
DATA ·tanhConst+16(SB)/8, $0x7fffffffffffffff
DATA ·tanhConst+24(SB)/8, $0x7fffffffffffffff
DATA ·tanhConst+32(SB)/8, $0x7fffffffffffffff
DATA ·tanhConst+40(SB)/8, $0x7fffffffffffffff
DATA ·tanhConst+48(SB)/8, $0x7fffffffffffffff
DATA ·tanhConst+56(SB)/8, $0x7fffffffffffffff
// 64: sign mask
DATA ·tanhConst+64(SB)/8, $0x8000000000000000
DATA ·tanhConst+72(SB)/8, $0x8000000000000000
DATA ·tanhConst+80(SB)/8, $0x8000000000000000
DATA ·tanhConst+88(SB)/8, $0x8000000000000000
DATA ·tanhConst+96(SB)/8, $0x8000000000000000
DATA ·tanhConst+104(SB)/8, $0x8000000000000000
DATA ·tanhConst+112(SB)/8, $0x8000000000000000
DATA ·tanhConst+120(SB)/8, $0x8000000000000000
// 128: 20 (clamp)
DATA ·tanhConst+128(SB)/8, $0x4034000000000000
DATA ·tanhConst+136(SB)/8, $0x4034000000000000
DATA ·tanhConst+144(SB)/8, $0x4034000000000000
DATA ·tanhConst+152(SB)/8, $0x4034000000000000
DATA ·tanhConst+160(SB)/8, $0x4034000000000000
DATA ·tanhConst+168(SB)/8, $0x4034000000000000
DATA ·tanhConst+176(SB)/8, $0x4034000000000000
DATA ·tanhConst+184(SB)/8, $0x4034000000000000
// 192: log2 e
DATA ·tanhConst+192(SB)/8, $0x3ff71547652b82fe
DATA ·tanhConst+200(SB)/8, $0x3ff71547652b82fe
DATA ·tanhConst+208(SB)/8, $0x3ff71547652b82fe
DATA ·tanhConst+216(SB)/8, $0x3ff71547652b82fe
DATA ·tanhConst+224(SB)/8, $0x3ff71547652b82fe
DATA ·tanhConst+232(SB)/8, $0x3ff71547652b82fe
DATA ·tanhConst+240(SB)/8, $0x3ff71547652b82fe
DATA ·tanhConst+248(SB)/8, $0x3ff71547652b82fe
// 256: ln2hi (fdlibm split, 21 trailing zero bits)
DATA ·tanhConst+256(SB)/8, $0x3fe62e42fee00000
DATA ·tanhConst+264(SB)/8, $0x3fe62e42fee00000
DATA ·tanhConst+272(SB)/8, $0x3fe62e42fee00000
DATA ·tanhConst+280(SB)/8, $0x3fe62e42fee00000
DATA ·tanhConst+288(SB)/8, $0x3fe62e42fee00000
DATA ·tanhConst+296(SB)/8, $0x3fe62e42fee00000
DATA ·tanhConst+304(SB)/8, $0x3fe62e42fee00000
DATA ·tanhConst+312(SB)/8, $0x3fe62e42fee00000
// 320: ln2lo = ln2 - ln2hi
DATA ·tanhConst+320(SB)/8, $0x3dea39ef35793c76
DATA ·tanhConst+328(SB)/8, $0x3dea39ef35793c76
DATA ·tanhConst+336(SB)/8, $0x3dea39ef35793c76
DATA ·tanhConst+344(SB)/8, $0x3dea39ef35793c76
DATA ·tanhConst+352(SB)/8, $0x3dea39ef35793c76
DATA ·tanhConst+360(SB)/8, $0x3dea39ef35793c76
DATA ·tanhConst+368(SB)/8, $0x3dea39ef35793c76
DATA ·tanhConst+376(SB)/8, $0x3dea39ef35793c76
// 384: 1
DATA ·tanhConst+384(SB)/8, $0x3ff0000000000000
DATA ·tanhConst+392(SB)/8, $0x3ff0000000000000
DATA ·tanhConst+400(SB)/8, $0x3ff0000000000000
DATA ·tanhConst+408(SB)/8, $0x3ff0000000000000
DATA ·tanhConst+416(SB)/8, $0x3ff0000000000000
DATA ·tanhConst+424(SB)/8, $0x3ff0000000000000
DATA ·tanhConst+432(SB)/8, $0x3ff0000000000000
DATA ·tanhConst+440(SB)/8, $0x3ff0000000000000
// 448: 2
DATA ·tanhConst+448(SB)/8, $0x4000000000000000
DATA ·tanhConst+456(SB)/8, $0x4000000000000000
DATA ·tanhConst+464(SB)/8, $0x4000000000000000
DATA ·tanhConst+472(SB)/8, $0x4000000000000000
DATA ·tanhConst+480(SB)/8, $0x4000000000000000
DATA ·tanhConst+488(SB)/8, $0x4000000000000000
DATA ·tanhConst+496(SB)/8, $0x4000000000000000
DATA ·tanhConst+504(SB)/8, $0x4000000000000000
// 512: T = 0.625
DATA ·tanhConst+512(SB)/8, $0x3fe4000000000000
DATA ·tanhConst+520(SB)/8, $0x3fe4000000000000
DATA ·tanhConst+528(SB)/8, $0x3fe4000000000000
DATA ·tanhConst+536(SB)/8, $0x3fe4000000000000
DATA ·tanhConst+544(SB)/8, $0x3fe4000000000000
DATA ·tanhConst+552(SB)/8, $0x3fe4000000000000
DATA ·tanhConst+560(SB)/8, $0x3fe4000000000000
DATA ·tanhConst+568(SB)/8, $0x3fe4000000000000
// 576: 1.5·2^52 (AVX2 rounding magic)
DATA ·tanhConst+576(SB)/8, $0x4338000000000000
DATA ·tanhConst+584(SB)/8, $0x4338000000000000
DATA ·tanhConst+592(SB)/8, $0x4338000000000000
DATA ·tanhConst+600(SB)/8, $0x4338000000000000
DATA ·tanhConst+608(SB)/8, $0x4338000000000000
DATA ·tanhConst+616(SB)/8, $0x4338000000000000
DATA ·tanhConst+624(SB)/8, $0x4338000000000000
DATA ·tanhConst+632(SB)/8, $0x4338000000000000
// 640: int64 1023 (AVX2 exponent bias)
DATA ·tanhConst+640(SB)/8, $0x3ff
DATA ·tanhConst+648(SB)/8, $0x3ff
DATA ·tanhConst+656(SB)/8, $0x3ff
DATA ·tanhConst+664(SB)/8, $0x3ff
DATA ·tanhConst+672(SB)/8, $0x3ff
DATA ·tanhConst+680(SB)/8, $0x3ff
DATA ·tanhConst+688(SB)/8, $0x3ff
DATA ·tanhConst+696(SB)/8, $0x3ff
// 704: 1/13! (expm1 Taylor)
DATA ·tanhConst+704(SB)/8, $0x3de6124613a86d09
DATA ·tanhConst+712(SB)/8, $0x3de6124613a86d09
DATA ·tanhConst+720(SB)/8, $0x3de6124613a86d09
DATA ·tanhConst+728(SB)/8, $0x3de6124613a86d09
DATA ·tanhConst+736(SB)/8, $0x3de6124613a86d09
DATA ·tanhConst+744(SB)/8, $0x3de6124613a86d09
DATA ·tanhConst+752(SB)/8, $0x3de6124613a86d09
DATA ·tanhConst+760(SB)/8, $0x3de6124613a86d09
// 768: 1/12! (expm1 Taylor)
DATA ·tanhConst+768(SB)/8, $0x3e21eed8eff8d898
DATA ·tanhConst+776(SB)/8, $0x3e21eed8eff8d898
DATA ·tanhConst+784(SB)/8, $0x3e21eed8eff8d898
DATA ·tanhConst+792(SB)/8, $0x3e21eed8eff8d898
DATA ·tanhConst+800(SB)/8, $0x3e21eed8eff8d898
DATA ·tanhConst+808(SB)/8, $0x3e21eed8eff8d898
DATA ·tanhConst+816(SB)/8, $0x3e21eed8eff8d898
DATA ·tanhConst+824(SB)/8, $0x3e21eed8eff8d898
// 832: 1/11! (expm1 Taylor)
DATA ·tanhConst+832(SB)/8, $0x3e5ae64567f544e4
DATA ·tanhConst+840(SB)/8, $0x3e5ae64567f544e4
DATA ·tanhConst+848(SB)/8, $0x3e5ae64567f544e4
DATA ·tanhConst+856(SB)/8, $0x3e5ae64567f544e4
DATA ·tanhConst+864(SB)/8, $0x3e5ae64567f544e4
DATA ·tanhConst+872(SB)/8, $0x3e5ae64567f544e4
DATA ·tanhConst+880(SB)/8, $0x3e5ae64567f544e4
DATA ·tanhConst+888(SB)/8, $0x3e5ae64567f544e4
// 896: 1/10! (expm1 Taylor)
DATA ·tanhConst+896(SB)/8, $0x3e927e4fb7789f5c
DATA ·tanhConst+904(SB)/8, $0x3e927e4fb7789f5c
DATA ·tanhConst+912(SB)/8, $0x3e927e4fb7789f5c
DATA ·tanhConst+920(SB)/8, $0x3e927e4fb7789f5c
DATA ·tanhConst+928(SB)/8, $0x3e927e4fb7789f5c
DATA ·tanhConst+936(SB)/8, $0x3e927e4fb7789f5c
DATA ·tanhConst+944(SB)/8, $0x3e927e4fb7789f5c
DATA ·tanhConst+952(SB)/8, $0x3e927e4fb7789f5c
// 960: 1/9! (expm1 Taylor)
DATA ·tanhConst+960(SB)/8, $0x3ec71de3a556c734
DATA ·tanhConst+968(SB)/8, $0x3ec71de3a556c734
DATA ·tanhConst+976(SB)/8, $0x3ec71de3a556c734
DATA ·tanhConst+984(SB)/8, $0x3ec71de3a556c734
DATA ·tanhConst+992(SB)/8, $0x3ec71de3a556c734
DATA ·tanhConst+1000(SB)/8, $0x3ec71de3a556c734
DATA ·tanhConst+1008(SB)/8, $0x3ec71de3a556c734
DATA ·tanhConst+1016(SB)/8, $0x3ec71de3a556c734
// 1024: 1/8! (expm1 Taylor)
DATA ·tanhConst+1024(SB)/8, $0x3efa01a01a01a01a
DATA ·tanhConst+1032(SB)/8, $0x3efa01a01a01a01a
DATA ·tanhConst+1040(SB)/8, $0x3efa01a01a01a01a
DATA ·tanhConst+1048(SB)/8, $0x3efa01a01a01a01a
DATA ·tanhConst+1056(SB)/8, $0x3efa01a01a01a01a
DATA ·tanhConst+1064(SB)/8, $0x3efa01a01a01a01a
DATA ·tanhConst+1072(SB)/8, $0x3efa01a01a01a01a
DATA ·tanhConst+1080(SB)/8, $0x3efa01a01a01a01a
// 1088: 1/7! (expm1 Taylor)
DATA ·tanhConst+1088(SB)/8, $0x3f2a01a01a01a01a
DATA ·tanhConst+1096(SB)/8, $0x3f2a01a01a01a01a
DATA ·tanhConst+1104(SB)/8, $0x3f2a01a01a01a01a
DATA ·tanhConst+1112(SB)/8, $0x3f2a01a01a01a01a
DATA ·tanhConst+1120(SB)/8, $0x3f2a01a01a01a01a
DATA ·tanhConst+1128(SB)/8, $0x3f2a01a01a01a01a
DATA ·tanhConst+1136(SB)/8, $0x3f2a01a01a01a01a
DATA ·tanhConst+1144(SB)/8, $0x3f2a01a01a01a01a
// 1152: 1/6! (expm1 Taylor)
DATA ·tanhConst+1152(SB)/8, $0x3f56c16c16c16c17
DATA ·tanhConst+1160(SB)/8, $0x3f56c16c16c16c17
DATA ·tanhConst+1168(SB)/8, $0x3f56c16c16c16c17
DATA ·tanhConst+1176(SB)/8, $0x3f56c16c16c16c17
DATA ·tanhConst+1184(SB)/8, $0x3f56c16c16c16c17
DATA ·tanhConst+1192(SB)/8, $0x3f56c16c16c16c17
DATA ·tanhConst+1200(SB)/8, $0x3f56c16c16c16c17
DATA ·tanhConst+1208(SB)/8, $0x3f56c16c16c16c17
// 1216: 1/5! (expm1 Taylor)
DATA ·tanhConst+1216(SB)/8, $0x3f81111111111111
DATA ·tanhConst+1224(SB)/8, $0x3f81111111111111
DATA ·tanhConst+1232(SB)/8, $0x3f81111111111111
DATA ·tanhConst+1240(SB)/8, $0x3f81111111111111
DATA ·tanhConst+1248(SB)/8, $0x3f81111111111111
DATA ·tanhConst+1256(SB)/8, $0x3f81111111111111
DATA ·tanhConst+1264(SB)/8, $0x3f81111111111111
DATA ·tanhConst+1272(SB)/8, $0x3f81111111111111
// 1280: 1/4! (expm1 Taylor)
DATA ·tanhConst+1280(SB)/8, $0x3fa5555555555555
DATA ·tanhConst+1288(SB)/8, $0x3fa5555555555555
DATA ·tanhConst+1296(SB)/8, $0x3fa5555555555555
DATA ·tanhConst+1304(SB)/8, $0x3fa5555555555555
DATA ·tanhConst+1312(SB)/8, $0x3fa5555555555555
DATA ·tanhConst+1320(SB)/8, $0x3fa5555555555555
DATA ·tanhConst+1328(SB)/8, $0x3fa5555555555555
DATA ·tanhConst+1336(SB)/8, $0x3fa5555555555555
// 1344: 1/3! (expm1 Taylor)
DATA ·tanhConst+1344(SB)/8, $0x3fc5555555555555
DATA ·tanhConst+1352(SB)/8, $0x3fc5555555555555
DATA ·tanhConst+1360(SB)/8, $0x3fc5555555555555
DATA ·tanhConst+1368(SB)/8, $0x3fc5555555555555
DATA ·tanhConst+1376(SB)/8, $0x3fc5555555555555
DATA ·tanhConst+1384(SB)/8, $0x3fc5555555555555
DATA ·tanhConst+1392(SB)/8, $0x3fc5555555555555
DATA ·tanhConst+1400(SB)/8, $0x3fc5555555555555
// 1408: 1/2! (expm1 Taylor)
DATA ·tanhConst+1408(SB)/8, $0x3fe0000000000000
DATA ·tanhConst+1416(SB)/8, $0x3fe0000000000000
DATA ·tanhConst+1424(SB)/8, $0x3fe0000000000000
DATA ·tanhConst+1432(SB)/8, $0x3fe0000000000000
DATA ·tanhConst+1440(SB)/8, $0x3fe0000000000000
DATA ·tanhConst+1448(SB)/8, $0x3fe0000000000000
DATA ·tanhConst+1456(SB)/8, $0x3fe0000000000000
DATA ·tanhConst+1464(SB)/8, $0x3fe0000000000000
// 1472: P z^11 = 6.485163482793113e-06
DATA ·tanhConst+1472(SB)/8, $0x3edb33642a122cdd
DATA ·tanhConst+1480(SB)/8, $0x3edb33642a122cdd
DATA ·tanhConst+1488(SB)/8, $0x3edb33642a122cdd
DATA ·tanhConst+1496(SB)/8, $0x3edb33642a122cdd
DATA ·tanhConst+1504(SB)/8, $0x3edb33642a122cdd
DATA ·tanhConst+1512(SB)/8, $0x3edb33642a122cdd
DATA ·tanhConst+1520(SB)/8, $0x3edb33642a122cdd
DATA ·tanhConst+1528(SB)/8, $0x3edb33642a122cdd
// 1536: P z^10 = -3.12011014257974e-05
DATA ·tanhConst+1536(SB)/8, $0xbf005bbdae896297
DATA ·tanhConst+1544(SB)/8, $0xbf005bbdae896297
DATA ·tanhConst+1552(SB)/8, $0xbf005bbdae896297
DATA ·tanhConst+1560(SB)/8, $0xbf005bbdae896297
DATA ·tanhConst+1568(SB)/8, $0xbf005bbdae896297
DATA ·tanhConst+1576(SB)/8, $0xbf005bbdae896297
DATA ·tanhConst+1584(SB)/8, $0xbf005bbdae896297
DATA ·tanhConst+1592(SB)/8, $0xbf005bbdae896297
// 1600: P z^9 = 9.257116129556769e-05
DATA ·tanhConst+1600(SB)/8, $0x3f18445870f6fe41
DATA ·tanhConst+1608(SB)/8, $0x3f18445870f6fe41
DATA ·tanhConst+1616(SB)/8, $0x3f18445870f6fe41
DATA ·tanhConst+1624(SB)/8, $0x3f18445870f6fe41
DATA ·tanhConst+1632(SB)/8, $0x3f18445870f6fe41
DATA ·tanhConst+1640(SB)/8, $0x3f18445870f6fe41
DATA ·tanhConst+1648(SB)/8, $0x3f18445870f6fe41
DATA ·tanhConst+1656(SB)/8, $0x3f18445870f6fe41
// 1664: P z^8 = -0.0002375906496055562
DATA ·tanhConst+1664(SB)/8, $0xbf2f243823c8c981
DATA ·tanhConst+1672(SB)/8, $0xbf2f243823c8c981
DATA ·tanhConst+1680(SB)/8, $0xbf2f243823c8c981
DATA ·tanhConst+1688(SB)/8, $0xbf2f243823c8c981
DATA ·tanhConst+1696(SB)/8, $0xbf2f243823c8c981
DATA ·tanhConst+1704(SB)/8, $0xbf2f243823c8c981
DATA ·tanhConst+1712(SB)/8, $0xbf2f243823c8c981
DATA ·tanhConst+1720(SB)/8, $0xbf2f243823c8c981
// 1728: P z^7 = 0.0005896606577757043
DATA ·tanhConst+1728(SB)/8, $0x3f43526e9ed54da1
DATA ·tanhConst+1736(SB)/8, $0x3f43526e9ed54da1
DATA ·tanhConst+1744(SB)/8, $0x3f43526e9ed54da1
DATA ·tanhConst+1752(SB)/8, $0x3f43526e9ed54da1
DATA ·tanhConst+1760(SB)/8, $0x3f43526e9ed54da1
DATA ·tanhConst+1768(SB)/8, $0x3f43526e9ed54da1
DATA ·tanhConst+1776(SB)/8, $0x3f43526e9ed54da1
DATA ·tanhConst+1784(SB)/8, $0x3f43526e9ed54da1
// 1792: P z^6 = -0.0014557754120478055
DATA ·tanhConst+1792(SB)/8, $0xbf57d9f6f23e8682
DATA ·tanhConst+1800(SB)/8, $0xbf57d9f6f23e8682
DATA ·tanhConst+1808(SB)/8, $0xbf57d9f6f23e8682
DATA ·tanhConst+1816(SB)/8, $0xbf57d9f6f23e8682
DATA ·tanhConst+1824(SB)/8, $0xbf57d9f6f23e8682
DATA ·tanhConst+1832(SB)/8, $0xbf57d9f6f23e8682
DATA ·tanhConst+1840(SB)/8, $0xbf57d9f6f23e8682
DATA ·tanhConst+1848(SB)/8, $0xbf57d9f6f23e8682
// 1856: P z^5 = 0.0035921217511549622
DATA ·tanhConst+1856(SB)/8, $0x3f6d6d39ae3905e2
DATA ·tanhConst+1864(SB)/8, $0x3f6d6d39ae3905e2
DATA ·tanhConst+1872(SB)/8, $0x3f6d6d39ae3905e2
DATA ·tanhConst+1880(SB)/8, $0x3f6d6d39ae3905e2
DATA ·tanhConst+1888(SB)/8, $0x3f6d6d39ae3905e2
DATA ·tanhConst+1896(SB)/8, $0x3f6d6d39ae3905e2
DATA ·tanhConst+1904(SB)/8, $0x3f6d6d39ae3905e2
DATA ·tanhConst+1912(SB)/8, $0x3f6d6d39ae3905e2
// 1920: P z^4 = -0.008863235103240878
DATA ·tanhConst+1920(SB)/8, $0xbf8226e3473dce5c
DATA ·tanhConst+1928(SB)/8, $0xbf8226e3473dce5c
DATA ·tanhConst+1936(SB)/8, $0xbf8226e3473dce5c
DATA ·tanhConst+1944(SB)/8, $0xbf8226e3473dce5c
DATA ·tanhConst+1952(SB)/8, $0xbf8226e3473dce5c
DATA ·tanhConst+1960(SB)/8, $0xbf8226e3473dce5c
DATA ·tanhConst+1968(SB)/8, $0xbf8226e3473dce5c
DATA ·tanhConst+1976(SB)/8, $0xbf8226e3473dce5c
// 1984: P z^3 = 0.021869488519008305
DATA ·tanhConst+1984(SB)/8, $0x3f9664f487e0a749
DATA ·tanhConst+1992(SB)/8, $0x3f9664f487e0a749
DATA ·tanhConst+2000(SB)/8, $0x3f9664f487e0a749
DATA ·tanhConst+2008(SB)/8, $0x3f9664f487e0a749
DATA ·tanhConst+2016(SB)/8, $0x3f9664f487e0a749
DATA ·tanhConst+2024(SB)/8, $0x3f9664f487e0a749
DATA ·tanhConst+2032(SB)/8, $0x3f9664f487e0a749
DATA ·tanhConst+2040(SB)/8, $0x3f9664f487e0a749
// 2048: P z^2 = -0.05396825396789699
DATA ·tanhConst+2048(SB)/8, $0xbfaba1ba1ba0f126
DATA ·tanhConst+2056(SB)/8, $0xbfaba1ba1ba0f126
DATA ·tanhConst+2064(SB)/8, $0xbfaba1ba1ba0f126
DATA ·tanhConst+2072(SB)/8, $0xbfaba1ba1ba0f126
DATA ·tanhConst+2080(SB)/8, $0xbfaba1ba1ba0f126
DATA ·tanhConst+2088(SB)/8, $0xbfaba1ba1ba0f126
DATA ·tanhConst+2096(SB)/8, $0xbfaba1ba1ba0f126
DATA ·tanhConst+2104(SB)/8, $0xbfaba1ba1ba0f126
// 2112: P z^1 = 0.13333333333333042
DATA ·tanhConst+2112(SB)/8, $0x3fc11111111110a8
DATA ·tanhConst+2120(SB)/8, $0x3fc11111111110a8
DATA ·tanhConst+2128(SB)/8, $0x3fc11111111110a8
DATA ·tanhConst+2136(SB)/8, $0x3fc11111111110a8
DATA ·tanhConst+2144(SB)/8, $0x3fc11111111110a8
DATA ·tanhConst+2152(SB)/8, $0x3fc11111111110a8
DATA ·tanhConst+2160(SB)/8, $0x3fc11111111110a8
DATA ·tanhConst+2168(SB)/8, $0x3fc11111111110a8
// 2176: P z^0 = -0.3333333333333333
DATA ·tanhConst+2176(SB)/8, $0xbfd5555555555555
DATA ·tanhConst+2184(SB)/8, $0xbfd5555555555555
DATA ·tanhConst+2192(SB)/8, $0xbfd5555555555555
DATA ·tanhConst+2200(SB)/8, $0xbfd5555555555555
DATA ·tanhConst+2208(SB)/8, $0xbfd5555555555555
DATA ·tanhConst+2216(SB)/8, $0xbfd5555555555555
DATA ·tanhConst+2224(SB)/8, $0xbfd5555555555555
DATA ·tanhConst+2232(SB)/8, $0xbfd5555555555555
GLOBL ·tanhConst(SB), RODATA|NOPTR, $2240

// TANH512 computes RES = tanh(X); it uses Z1–Z15 and K3 and expects the
// constants at offsets 0–512 in Z16–Z24 and the table address in R8.
#define TANH512(X, RES) \
	VPANDQ Z16, X, Z1; \
	VMINPD Z1, Z18, Z1; \
	VMULPD Z1, Z1, Z14; \
	VMOVUPD 1472(R8), Z15; \
	VFMADD213PD 1536(R8), Z14, Z15; \
	VFMADD213PD 1600(R8), Z14, Z15; \
	VFMADD213PD 1664(R8), Z14, Z15; \
	VFMADD213PD 1728(R8), Z14, Z15; \
	VFMADD213PD 1792(R8), Z14, Z15; \
	VFMADD213PD 1856(R8), Z14, Z15; \
	VFMADD213PD 1920(R8), Z14, Z15; \
	VFMADD213PD 1984(R8), Z14, Z15; \
	VFMADD213PD 2048(R8), Z14, Z15; \
	VFMADD213PD 2112(R8), Z14, Z15; \
	VFMADD213PD 2176(R8), Z14, Z15; \
	VMULPD Z14, Z1, Z14; \
	VFMADD213PD Z1, Z14, Z15; \
	VADDPD Z1, Z1, Z2; \
	VMULPD Z19, Z2, Z3; \
	VRNDSCALEPD $0, Z3, Z3; \
	VMOVAPD Z2, Z4; \
	VFNMADD231PD Z20, Z3, Z4; \
	VFNMADD231PD Z21, Z3, Z4; \
	VMOVUPD 704(R8), Z5; \
	VFMADD213PD 768(R8), Z4, Z5; \
	VFMADD213PD 832(R8), Z4, Z5; \
	VFMADD213PD 896(R8), Z4, Z5; \
	VFMADD213PD 960(R8), Z4, Z5; \
	VFMADD213PD 1024(R8), Z4, Z5; \
	VFMADD213PD 1088(R8), Z4, Z5; \
	VFMADD213PD 1152(R8), Z4, Z5; \
	VFMADD213PD 1216(R8), Z4, Z5; \
	VFMADD213PD 1280(R8), Z4, Z5; \
	VFMADD213PD 1344(R8), Z4, Z5; \
	VFMADD213PD 1408(R8), Z4, Z5; \
	VMULPD Z4, Z4, Z6; \
	VFMADD213PD Z4, Z6, Z5; \
	VSCALEFPD Z3, Z22, Z7; \
	VSUBPD Z22, Z7, Z8; \
	VFMADD213PD Z8, Z7, Z5; \
	VADDPD Z23, Z5, Z9; \
	VRCP14PD Z9, Z10; \
	VMOVAPD Z22, Z11; \
	VFNMADD231PD Z10, Z9, Z11; \
	VFMADD231PD Z11, Z10, Z10; \
	VMOVAPD Z22, Z11; \
	VFNMADD231PD Z10, Z9, Z11; \
	VFMADD231PD Z11, Z10, Z10; \
	VMOVAPD Z22, RES; \
	VFNMADD231PD Z23, Z10, RES; \
	VCMPPD $1, Z24, Z1, K3; \
	VMOVAPD Z15, K3, RES; \
	VPANDQ Z17, X, Z13; \
	VPORQ Z13, RES, RES

// func tanhAVX512(dst, x *float64, n int)
TEXT ·tanhAVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	LEAQ ·tanhConst(SB), R8
	VMOVUPD 0(R8), Z16
	VMOVUPD 64(R8), Z17
	VMOVUPD 128(R8), Z18
	VMOVUPD 192(R8), Z19
	VMOVUPD 256(R8), Z20
	VMOVUPD 320(R8), Z21
	VMOVUPD 384(R8), Z22
	VMOVUPD 448(R8), Z23
	VMOVUPD 512(R8), Z24
	CMPQ CX, $8
	JL tail512
loop512:
	VMOVUPD (SI), Z0
	TANH512(Z0, Z12)
	VMOVUPD Z12, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $8, CX
	CMPQ CX, $8
	JGE loop512
tail512:
	TESTQ CX, CX
	JLE done512
	// The last n < 8 values: masked load (lanes past n read as 0, no
	// fault) and masked store.
	MOVL $1, AX
	SHLL CX, AX
	DECL AX
	KMOVW AX, K2
	VMOVUPD.Z (SI), K2, Z0
	TANH512(Z0, Z12)
	VMOVUPD Z12, K2, (DI)
done512:
	VZEROUPPER
	RET

// TANH256 computes RES = tanh(X) with Y1–Y15 (X and RES among Y0, Y12),
// the table address in R8.
#define TANH256(X, RES) \
	VANDPD 0(R8), X, Y1; \
	VMOVUPD 128(R8), Y2; \
	VMINPD Y1, Y2, Y1; \
	VMULPD Y1, Y1, Y14; \
	VMOVUPD 1472(R8), Y15; \
	VFMADD213PD 1536(R8), Y14, Y15; \
	VFMADD213PD 1600(R8), Y14, Y15; \
	VFMADD213PD 1664(R8), Y14, Y15; \
	VFMADD213PD 1728(R8), Y14, Y15; \
	VFMADD213PD 1792(R8), Y14, Y15; \
	VFMADD213PD 1856(R8), Y14, Y15; \
	VFMADD213PD 1920(R8), Y14, Y15; \
	VFMADD213PD 1984(R8), Y14, Y15; \
	VFMADD213PD 2048(R8), Y14, Y15; \
	VFMADD213PD 2112(R8), Y14, Y15; \
	VFMADD213PD 2176(R8), Y14, Y15; \
	VMULPD Y14, Y1, Y14; \
	VFMADD213PD Y1, Y14, Y15; \
	VADDPD Y1, Y1, Y2; \
	VMULPD 192(R8), Y2, Y3; \
	VROUNDPD $0, Y3, Y3; \
	VMOVAPD Y2, Y4; \
	VFNMADD231PD 256(R8), Y3, Y4; \
	VFNMADD231PD 320(R8), Y3, Y4; \
	VMOVUPD 704(R8), Y5; \
	VFMADD213PD 768(R8), Y4, Y5; \
	VFMADD213PD 832(R8), Y4, Y5; \
	VFMADD213PD 896(R8), Y4, Y5; \
	VFMADD213PD 960(R8), Y4, Y5; \
	VFMADD213PD 1024(R8), Y4, Y5; \
	VFMADD213PD 1088(R8), Y4, Y5; \
	VFMADD213PD 1152(R8), Y4, Y5; \
	VFMADD213PD 1216(R8), Y4, Y5; \
	VFMADD213PD 1280(R8), Y4, Y5; \
	VFMADD213PD 1344(R8), Y4, Y5; \
	VFMADD213PD 1408(R8), Y4, Y5; \
	VMULPD Y4, Y4, Y6; \
	VFMADD213PD Y4, Y6, Y5; \
	VADDPD 576(R8), Y3, Y7; \
	VPADDQ 640(R8), Y7, Y7; \
	VPSLLQ $52, Y7, Y7; \
	VSUBPD 384(R8), Y7, Y8; \
	VFMADD213PD Y8, Y7, Y5; \
	VADDPD 448(R8), Y5, Y9; \
	VMOVUPD 384(R8), Y10; \
	VDIVPD Y9, Y10, Y10; \
	VMOVUPD 384(R8), RES; \
	VFNMADD231PD 448(R8), Y10, RES; \
	VCMPPD $1, 512(R8), Y1, Y13; \
	VBLENDVPD Y13, Y15, RES, RES; \
	VANDPD 64(R8), X, Y11; \
	VORPD Y11, RES, RES

// func tanhAVX2(dst, x *float64, n int)
// n must be a multiple of 4.
TEXT ·tanhAVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	LEAQ ·tanhConst(SB), R8
	SHRQ $2, CX
	JZ done256
loop256:
	VMOVUPD (SI), Y0
	TANH256(Y0, Y12)
	VMOVUPD Y12, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ loop256
done256:
	VZEROUPPER
	RET

// func addTanhGradAVX512(dst, grad, y *float64, n int)
// dst[i] = fma(g[i], 1 - y[i]², dst[i]), with 1 - y² = fnmadd(y, y, 1).
TEXT ·addTanhGradAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ y+16(FP), DX
	MOVQ n+24(FP), CX
	LEAQ ·tanhConst(SB), R8
	VMOVUPD 384(R8), Z16
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

// func addTanhGradAVX2(dst, grad, y *float64, n int)
// n must be a multiple of 4.
TEXT ·addTanhGradAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ y+16(FP), DX
	MOVQ n+24(FP), CX
	LEAQ ·tanhConst(SB), R8
	VMOVUPD 384(R8), Y8
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
