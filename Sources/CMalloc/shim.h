#pragma once
/* glibc's mallopt (malloc.h is not part of Swift's Glibc module): CPUBackend tunes when freed blocks go back to
   the kernel. Elsewhere (macOS) the module is empty and the tuning is compiled out. */
#if defined(__linux__)
#include <malloc.h>
#endif
