#pragma once
#include <stddef.h>
#include <stdint.h>

/// FIPS 180-4 SHA-256 compression of `count` consecutive 64-byte blocks into `state` (eight words).
/// In C so that it runs at full speed in debug builds too: the CLI tests hash every model they load.
void bayeval_sha256_blocks(uint32_t state[8], const uint8_t *blocks, size_t count);
