#pragma once
/* Swift cannot import C99 `float _Complex`. lapack.h defines its complex types before lapacke_config.h
   reads LAPACK_COMPLEX_STRUCTURE, so only LAPACK_COMPLEX_CUSTOM with plain structs works. */
#define LAPACK_COMPLEX_CUSTOM 1
typedef struct { float real, imag; } lapack_complex_float_t;
typedef struct { double real, imag; } lapack_complex_double_t;
#define lapack_complex_float lapack_complex_float_t
#define lapack_complex_double lapack_complex_double_t
#include <lapacke.h>
