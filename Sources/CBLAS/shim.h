#pragma once
/* Debian's cblas.h is an alternatives link to openblas-pthread/cblas.h; it also declares
   openblas_set_num_threads. Its bf16 routines are declared but not exported: do not call them. */
#include <cblas.h>
