/* The half-precision conversions LLVM calls when it has no instruction for them, which
 * compiler-rt (not in the JIT) would provide: at -O2 and up LLVM folds the integer
 * arithmetic arith-expand makes of a float -> bf16 rounding back into an fptrunc, a call
 * of __truncsfbf2 (torch.stack of a bool and a bf16 tensor failed to link).
 *
 * x86-64 passes and returns f16 and bf16 values in the low 16 bits of an XMM register,
 * as _Float16. Rounding is to nearest even; NaN stays NaN (quiet). A double rounds
 * through float, as torch converts (c10::Half(float(x)), c10::BFloat16(float(x))).
 * No conversion here calls another compiler routine (a plain (_Float16)x would call
 * __truncsfhf2, this file's own). */
#include <stdint.h>

typedef _Float16 half;

/* The bits of a value as another type of the same size (a union: defined in C). */
#define PUN(to_type, from_type, value) \
  (((union { from_type from; to_type to; }){.from = (value)}).to)
#define from_bits(bits) PUN(half, uint16_t, bits)
#define to_bits(h) PUN(uint16_t, half, h)
#define float_bits(f) PUN(uint32_t, float, f)
#define bits_float(u) PUN(float, uint32_t, u)

static uint16_t bf16_of(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

/* F. Giesen's float_to_half_fast3_rtne. */
static uint16_t f16_of(float value) {
  const uint32_t f32_infinity = 255u << 23, f16_max = (127u + 16u) << 23;
  const uint32_t denormal_magic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
  uint32_t u = float_bits(value);
  uint32_t sign = u & 0x80000000u;
  uint16_t out;
  u ^= sign;
  if (u >= f16_max) {
    out = u > f32_infinity ? 0x7e00 : 0x7c00;
  } else if (u < (113u << 23)) {
    /* A subnormal half: the float addition rounds the mantissa into place. */
    u = float_bits(bits_float(u) + bits_float(denormal_magic));
    out = (uint16_t)(u - denormal_magic);
  } else {
    uint32_t odd = (u >> 13) & 1u;
    u += ((uint32_t)(15 - 127) << 23) + 0xfffu;
    u += odd;
    out = (uint16_t)(u >> 13);
  }
  return (uint16_t)(out | (sign >> 16));
}

static float float_of_f16(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0x1f) return bits_float(sign | 0x7f800000u | (mantissa << 13));
  if (exponent == 0) {  /* zero or subnormal: mantissa * 2^-24 */
    float f = (float)mantissa * bits_float(0x33800000u);
    return sign ? -f : f;
  }
  return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

half __truncsfbf2(float x) { return from_bits(bf16_of(x)); }
half __truncdfbf2(double x) { return from_bits(bf16_of((float)x)); }
half __truncsfhf2(float x) { return from_bits(f16_of(x)); }
half __truncdfhf2(double x) { return from_bits(f16_of((float)x)); }
float __extendhfsf2(half x) { return float_of_f16(to_bits(x)); }
float __extendbfsf2(half x) { return bits_float((uint32_t)to_bits(x) << 16); }
